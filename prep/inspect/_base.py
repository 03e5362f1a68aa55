"""What every parser of :mod:`prep.inspect` shares: random access to the content, the two
exceptions that steer the dispatcher, and byte-level helpers."""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable

from prep.model import MediaFacts

IMAGE_FORMATS = ("jpeg", "png", "webp", "bmp", "tiff", "gif", "heic", "avif", "ppm", "ico")
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm", "avi", "3gp")
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a", "aac", "aiff")

# Read once per file and shared by the sniffer and the header parsers; most headers fit in it.
_HEAD = 64 * 1024
# data: URLs with more base64 than this are decoded in slices into a temporary file.
_DATA_URL_SPOOL_CHARS = 8 * 1024 * 1024
_DATA_URL_SLICE_CHARS = 4 * 1024 * 1024  # a multiple of 4, so each slice decodes on its own
# No parser reads more than this at once, whatever size a box or element claims: the largest header
# a real file needs (the 'moov' index of a two-hour recording) is tens of MB. More is a finding.
_READ_CAP = 128 * 1024 * 1024
_ID3_TAGS = 64  # ID3v2 tags in a row before the audio (real files have one, rarely two)

Read = Callable[[int, int], bytes]


class _Corrupt(Exception):
    """The content is broken; the message becomes ``MediaFacts.problem``."""


class _Undecided(Exception):
    """A fast parser cannot decide this file; let pymediainfo read it."""


class _Source:
    """Random access to the content: ``at(offset, n)`` returns up to ``n`` bytes."""

    __slots__ = ("_read", "size", "name", "path", "head")

    def __init__(self, read: Read, size: int, name: str, path: str | None = None):
        self._read = read
        self.size = size
        self.name = name
        self.path = path
        self.head = read(0, min(size, _HEAD)) if size else b""

    def at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        if n > _READ_CAP and offset + _READ_CAP < self.size:
            raise _Corrupt(f"a header element at byte {offset} claims {n} bytes, more than any header needs "
                           f"(the inspector reads at most {_READ_CAP >> 20} MiB at once)")
        if offset + n <= len(self.head):
            return self.head[offset : offset + n]
        return self._read(offset, min(n, self.size - offset))

    def exact(self, offset: int, n: int, what: str) -> bytes:
        data = self.at(offset, n)
        if len(data) < n:
            raise _Corrupt(f"{what} is cut short at byte {self.size} (truncated)")
        return data

    def file(self) -> io.RawIOBase:
        return _SourceFile(self)


class _SourceFile(io.RawIOBase):
    """A read-only, seekable file object over a :class:`_Source` (for Pillow and pymediainfo)."""

    def __init__(self, src: _Source):
        self._src = src
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._src.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        data = self._src.at(self._pos, len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _facts(src: _Source, kind: str | None, fmt: str | None, **fields) -> MediaFacts:
    if kind == "audio" and "audio_codec" not in fields and fields.get("codec"):
        fields["audio_codec"] = fields["codec"]
    return MediaFacts(kind, fmt, src.size, source=src.name, **fields)


# --------------------------------------------------------------------------------------------------
# Small helpers


def _id3_end(h: bytes) -> int:
    size = (h[6] & 0x7F) << 21 | (h[7] & 0x7F) << 14 | (h[8] & 0x7F) << 7 | (h[9] & 0x7F)
    return 10 + size + (10 if h[5] & 0x10 else 0)


def _audio_start(src: _Source) -> int:
    """Offset of the audio stream, after any ID3v2 tags."""
    off = 0
    for _ in range(_ID3_TAGS):
        if src.at(off, 3) != b"ID3":
            return off
        off += _id3_end(src.exact(off, 10, "ID3 tag"))
    raise _Corrupt(f"more than {_ID3_TAGS} ID3 tags in a row before the audio")


def _tidy_fps(fps: float | None) -> float | None:
    """Snap a computed rate to the integer or NTSC (×1000/1001) rate it is within rounding of."""
    if not fps or not math.isfinite(fps):
        return None
    for base in (fps, fps * 1.001):
        nearest = round(base)
        if nearest and abs(base - nearest) < 1e-4 * nearest:
            return float(nearest) if base is fps else nearest / 1.001
    return round(fps, 6)


def _fourcc(b: bytes) -> str:
    return b.decode("latin-1")


def _u16be(b: bytes, i: int, _unpack=struct.Struct(">H").unpack_from) -> int:
    return _unpack(b, i)[0]


def _u32be(b: bytes, i: int, _unpack=struct.Struct(">I").unpack_from) -> int:
    return _unpack(b, i)[0]


def _u64be(b: bytes, i: int, _unpack=struct.Struct(">Q").unpack_from) -> int:
    return _unpack(b, i)[0]


def _u16le(b: bytes, i: int, _unpack=struct.Struct("<H").unpack_from) -> int:
    return _unpack(b, i)[0]


def _u32le(b: bytes, i: int, _unpack=struct.Struct("<I").unpack_from) -> int:
    return _unpack(b, i)[0]


def _u64le(b: bytes, i: int, _unpack=struct.Struct("<Q").unpack_from) -> int:
    return _unpack(b, i)[0]
