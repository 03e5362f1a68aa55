"""The built body as a stream: JSON text with local media base64-encoded as it is read.

The body is held as parts: the JSON text between inlined URLs (small), and one :class:`Inlined` per
local file. Its exact length is known before a byte is read (a data: URL of ``n`` bytes is its prefix
plus ``4 * ceil(n / 3)`` characters), so a client can send ``Content-Length`` and stream. Files are read
in chunks of a multiple of 3 bytes, so each chunk encodes alone with no padding in the middle: memory
stays at a few chunks whatever the media weigh (bench/README.md, "build").
"""

from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from ..model import PrepError
from ..paths import atomic_writer

# Bytes of input per encoded chunk: a multiple of 3 (no padding inside the body). 768 KiB in, 1 MiB out:
# a 356 MB body streams as fast as with 3 or 12 MiB chunks, at the lowest peak memory (bench/README.md).
CHUNK = 768 * 1024


@dataclass(frozen=True)
class Inlined:
    """One local image or audio file that the body carries as a ``data:`` URL.

    ``label`` names the item as the source request wrote it (``content[1] product.jpg``); ``pointer`` is
    where its URL sits in the built document; ``size`` the file's bytes when built; ``url_length`` the
    characters its data: URL takes in the body."""

    label: str
    pointer: str
    path: str
    media_type: str
    size: int

    @property
    def prefix(self) -> bytes:
        return f"data:{self.media_type};base64,".encode("ascii")

    @property
    def url_length(self) -> int:
        return len(self.prefix) + encoded_length(self.size)


def encoded_length(size: int) -> int:
    """Characters of the base64 encoding of ``size`` bytes (padded)."""
    return 4 * ((size + 2) // 3)


def body_length(parts: list[bytes | Inlined]) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.url_length for p in parts)


def iter_parts(parts: list[bytes | Inlined], chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The body's bytes in order. Each file is checked to still have the size it had when built (the
    length was promised); a changed or vanished file is a PrepError."""
    if chunk_size <= 0 or chunk_size % 3:
        raise ValueError(f"chunk_size must be a positive multiple of 3, not {chunk_size}")
    for part in parts:
        if isinstance(part, bytes):
            yield part
            continue
        yield part.prefix
        yield from encode_file(part, chunk_size)


def encode_file(item: Inlined, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Base64 of one file, chunk by chunk (``binascii.b2a_base64``: the fastest stdlib encoder measured;
    ``base64.b64encode`` is a wrapper around it)."""
    try:
        fh = open(item.path, "rb", buffering=0)  # noqa: SIM115 - closed below, also when the consumer stops
    except OSError as exc:
        from ..paths import describe_os_error

        raise PrepError(f"{item.label}: cannot read it any more ({describe_os_error(exc)}); build again") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size != item.size:
            raise _changed(item, size)
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        done = 0
        while True:
            filled = 0
            while filled < chunk_size:  # a short read before the end would put padding mid-stream
                n = fh.readinto(view[filled:])
                if not n:
                    break
                filled += n
            if not filled:
                break
            done += filled
            if done > item.size:
                raise _changed(item, done)
            yield binascii.b2a_base64(view[:filled], newline=False)
            if filled < chunk_size:
                break
        if done != item.size:
            raise _changed(item, done)


def _changed(item: Inlined, size: int) -> PrepError:
    return PrepError(f"{item.label} changed since the request was built ({item.size} bytes then, {size} now); "
                     "build again")


class Hasher:
    """SHA-256 of a stream that may be abandoned half-way: ``digest`` is set only when it ran to the end."""

    def __init__(self) -> None:
        self.digest: str | None = None

    def wrap(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        sha = hashlib.sha256()
        for chunk in chunks:
            sha.update(chunk)
            yield chunk
        self.digest = sha.hexdigest()


def write_stream(path: str | os.PathLike, chunks: Iterator[bytes]) -> None:
    """Write ``chunks`` to ``path`` through a temp file in the same folder and a rename; on any error
    (a file changed, the disk is full, Ctrl-C) the temp file is removed and ``path`` is untouched."""
    with atomic_writer(path) as fh:
        fh.writelines(chunks)
