"""Where seedance-prep keeps its own files, and how it writes any file (atomically)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path | None:
    """``$SEEDANCE_PREP_HOME`` when set: one folder for cache and state (tests and CI point it anywhere)."""
    value = os.environ.get("SEEDANCE_PREP_HOME")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The cache folder: ``$SEEDANCE_PREP_HOME/cache``, else ``$XDG_CACHE_HOME/seedance-prep``, else ``~/.cache/seedance-prep``."""
    root = home()
    if root is not None:
        return root / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "seedance-prep"


def state_dir() -> Path:
    """The state folder (task journal): ``$SEEDANCE_PREP_HOME/state``, else ``$XDG_STATE_HOME/seedance-prep``."""
    root = home()
    if root is not None:
        return root / "state"
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "seedance-prep"


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename: readers see
    the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
