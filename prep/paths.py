"""Where seedance-prep keeps its own files, and how it writes any file (atomically).

Plain ``os.path`` strings: these run on every start-up, and importing pathlib costs more than a check.
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False  # typing is not imported at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO


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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder (with ``path``'s suffix, for tools that choose the
    format by name); when the block ends without an exception it is renamed to ``path``, else removed
    (also on Ctrl-C): readers see the old file or the new one, never half of one. The file gets the
    mode a new file normally gets (``mkstemp`` alone would make it private)."""
    import tempfile

    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".part{suffix}", dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """An open binary file whose bytes become ``path`` only when the block ends without an exception
    (flushed and fsynced first), through :func:`atomic_output`."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(data)


_UMASK: list[int] = []


def _umask() -> int:
    """The process's umask, read once (reading it means setting it, so not on every file)."""
    if not _UMASK:
        mask = os.umask(0o022)
        os.umask(mask)
        _UMASK.append(mask)
    return _UMASK[0]


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
