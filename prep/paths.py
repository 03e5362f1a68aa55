"""Where seedance-prep keeps its own files, and how it writes any file (atomically).

Plain ``os.path`` strings: these run on every start-up, and importing pathlib costs more than a check.
"""

from __future__ import annotations

import os


def home() -> str | None:
    """``$SEEDANCE_PREP_HOME`` when set: one folder for cache and state (tests and CI point it anywhere)."""
    value = os.environ.get("SEEDANCE_PREP_HOME")
    return os.path.expanduser(value) if value else None


def cache_dir() -> str:
    """The cache folder: ``$SEEDANCE_PREP_HOME/cache``, else ``$XDG_CACHE_HOME/seedance-prep``, else ``~/.cache/seedance-prep``."""
    root = home()
    if root is not None:
        return os.path.join(root, "cache")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "seedance-prep")


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename: readers see
    the old file or the new one, never half of one."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def describe_os_error(exc: OSError) -> str:
    """A short lower-case reason for an OS error, for one-line messages."""
    import errno

    return {
        errno.ENOENT: "no such file or directory",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
        errno.EISDIR: "is a directory",
        errno.ENAMETOOLONG: "file name too long",
    }.get(exc.errno or 0, exc.strerror or str(exc))
