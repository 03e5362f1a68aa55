"""Output files written so that no half-written file is ever left: a temporary file beside the target,
renamed over it only when complete (Ctrl-C, a killed encoder or a full disk leave nothing behind)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder (with ``path``'s suffix, for tools that choose the
    format by name); when the block ends without an exception it is renamed to ``path``, else removed."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=f".part{suffix}", dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; an output gets a normal file's mode
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


_UMASK: list[int] = []


def _umask() -> int:
    """The process's umask, read once (reading it means setting it, so not on every file)."""
    if not _UMASK:
        mask = os.umask(0o022)
        os.umask(mask)
        _UMASK.append(mask)
    return _UMASK[0]


def size_text(n: int) -> str:
    """A byte count as people read it: "30 MB", "2.5 kB", "512 bytes" (MB = 1024² bytes, as the rules)."""
    if n >= 1 << 20:
        return f"{n / (1 << 20):.4g} MB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.4g} kB"
    return f"{n} bytes"
