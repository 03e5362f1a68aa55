"""File, bytes or ``data:`` URL → :class:`~prep.model.MediaFacts`, judged by content, never by name.

The common formats are read by small header parsers that touch only the bytes they need (a few
kilobytes, plus the ``moov`` box of an MP4 wherever it sits), so a 50 MB clip costs what a 50 kB one
does. Two kinds read more, in bounded steps: an MP3 without a frame count (its frame headers) and a
fragmented MP4 (each ``moof`` box, never the media between them). Anything those parsers cannot
decide goes to pymediainfo. Pillow reads TIFF headers. Both are imported only when needed.

Bad media never raises: an empty, truncated, corrupt or unrecognised file comes back as facts with
``problem`` set to a one-line reason. Only a path that cannot be opened raises (``FileNotFoundError``,
``PermissionError``, ``IsADirectoryError``), and a missing dependency raises :class:`PrepError`.

Facts are what the file says, in these units: ``width``/``height`` in stored pixels (before any
rotation), ``rotation`` in clockwise degrees that turn the stored picture upright (EXIF orientation,
the MP4 track matrix or HEIF ``irot``; mirroring is ignored), ``duration_s`` in seconds, ``fps`` in
frames per second (the exact nominal rate when frames are evenly spaced, else the average).
"""

from __future__ import annotations

import binascii
import io
import math
import os
import re
import stat
import struct
import tempfile
from collections.abc import Callable
from urllib.parse import unquote, unquote_to_bytes

from prep.model import MediaFacts, PrepError

__all__ = [
    "inspect_path",
    "inspect_bytes",
    "inspect_data_url",
    "inspect_reader",
    "parse_data_url",
    "sniff",
    "IMAGE_FORMATS",
    "VIDEO_FORMATS",
    "AUDIO_FORMATS",
]

IMAGE_FORMATS = ("jpeg", "png", "webp", "bmp", "tiff", "gif", "heic", "avif", "ppm", "ico")
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm", "avi", "3gp")
AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a", "aac", "aiff")

# Read once per file and shared by the sniffer and the header parsers; most headers fit in it.
_HEAD = 64 * 1024
# data: URLs with more base64 than this are decoded in slices into a temporary file.
_DATA_URL_SPOOL_CHARS = 8 * 1024 * 1024
_DATA_URL_SLICE_CHARS = 4 * 1024 * 1024  # a multiple of 4, so each slice decodes on its own

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

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._src.at(self._pos, len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


# --------------------------------------------------------------------------------------------------
# Public API


def inspect_path(path: str | os.PathLike) -> MediaFacts:
    """Facts about the file at ``path``, judged by its content.

    Never raises for bad media (see the module docstring); raises ``FileNotFoundError``,
    ``PermissionError`` or ``IsADirectoryError`` when the path cannot be opened as a file.
    """
    name = os.fspath(path)
    # O_NONBLOCK so that a FIFO cannot hang the open; regular files ignore it.
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", name)
        if not stat.S_ISREG(st.st_mode):
            return MediaFacts(None, None, 0, problem="not a regular file", source=name)
        src = _Source(lambda off, n: os.pread(fd, n, off), st.st_size, name, path=name)
        return _inspect(src)
    finally:
        os.close(fd)


def inspect_bytes(data: bytes, name: str = "<bytes>") -> MediaFacts:
    """Facts about in-memory content; ``name`` only labels the result (``source``)."""
    view = memoryview(data)
    return _inspect(_Source(lambda off, n: bytes(view[off : off + n]), len(view), name))


def inspect_reader(read: Read, size: int, name: str) -> MediaFacts:
    """Facts about content of ``size`` bytes reachable through ``read(offset, n) -> bytes``.

    The parsers call ``read`` only for the byte ranges they need, so ``read`` may fetch lazily (e.g.
    HTTP range requests). Exceptions ``read`` raises that are :class:`PrepError` pass through.
    """
    return _inspect(_Source(read, size, name))


def parse_data_url(url: str) -> tuple[str, bytes]:
    """Split a ``data:`` URL into its declared media type (lower case) and its decoded bytes.

    Raises ``ValueError`` with a one-line reason when the URL is malformed or its base64 is invalid
    (strict: correct padding, no whitespace or foreign characters).
    """
    media_type, is_b64, payload = _split_data_url(url)
    if not is_b64:
        return media_type, unquote_to_bytes(payload)
    return media_type, _b64decode(payload)


def inspect_data_url(url: str) -> MediaFacts:
    """Facts about the content of a ``data:`` URL (``source`` is ``data:<declared type>``).

    Raises ``ValueError`` like :func:`parse_data_url`; bad media inside a well-formed URL gives facts
    with ``problem`` set. Large payloads are decoded in slices into a temporary file, so memory
    holds the URL plus one slice rather than the URL plus the whole decoded content.
    """
    media_type, is_b64, payload = _split_data_url(url)
    label = f"data:{media_type}"
    if not is_b64:
        return inspect_bytes(unquote_to_bytes(payload), label)
    if len(payload) <= _DATA_URL_SPOOL_CHARS:
        return inspect_bytes(_b64decode(payload), label)
    with tempfile.TemporaryFile() as tmp:
        for start in range(0, len(payload), _DATA_URL_SLICE_CHARS):
            tmp.write(_b64decode(payload[start : start + _DATA_URL_SLICE_CHARS]))
        tmp.flush()
        fd = tmp.fileno()
        size = os.fstat(fd).st_size
        return _inspect(_Source(lambda off, n: os.pread(fd, n, off), size, label))


_MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")


def _split_data_url(url: str) -> tuple[str, bool, str]:
    if not isinstance(url, str) or url[:5].lower() != "data:":
        raise ValueError("not a data: URL")
    comma = url.find(",")
    if comma < 0:
        raise ValueError("data: URL has no ',' before its data")
    params = [p.strip() for p in url[5:comma].split(";")]
    is_b64 = len(params) > 1 and params[-1].lower() == "base64"
    if is_b64:
        params.pop()
    media_type = params[0].lower() or "text/plain"
    if not _MEDIA_TYPE.match(media_type):
        raise ValueError(f"data: URL media type {params[0]!r} is not of the form type/subtype")
    for p in params[1:]:
        if "=" not in p:
            raise ValueError(f"data: URL parameter {p!r} is not name=value (is ';base64' misplaced?)")
    payload = url[comma + 1 :]
    if is_b64 and "%" in payload:
        payload = unquote(payload)
    return media_type, is_b64, payload


def _b64decode(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except UnicodeEncodeError:
        raise ValueError("data: URL base64 contains non-ASCII characters") from None
    except binascii.Error as exc:
        raise ValueError(f"data: URL has invalid base64 ({exc})") from None


# --------------------------------------------------------------------------------------------------
# Sniffing


_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_QT_FIRST_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> tuple[str | None, str | None]:
    """``(kind, format)`` from the first bytes of a file (magic numbers only), or ``(None, None)``.

    ``kind`` is ``image``, ``video`` or ``audio``; an MP4 is assumed to be video unless its brand
    says audio (``m4a``); the inspector corrects the kind once it has seen the tracks. A few hundred
    bytes are enough; 4 KiB is plenty.
    """
    h = bytes(head[:4096])
    if h[:3] == b"\xff\xd8\xff":
        return "image", "jpeg"
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return "image", "png"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "gif"
    if len(h) >= 12 and h[:4] in (b"RIFF", b"RF64", b"BW64"):
        form = h[8:12]
        if form == b"WEBP" and h[:4] == b"RIFF":
            return "image", "webp"
        if form == b"WAVE":
            return "audio", "wav"
        if form in (b"AVI ", b"AVIX"):
            return "video", "avi"
        return None, None
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image", "tiff"
    if len(h) >= 18 and h[:2] == b"BM" and _u32le(h, 14) in (12, 16, 40, 52, 56, 64, 108, 124):
        return "image", "bmp"
    if len(h) >= 3 and h[0:1] == b"P" and h[1:2] in b"123456" and h[2:3] in b" \t\r\n#":
        return "image", "ppm"
    if len(h) >= 22 and h[:4] == b"\x00\x00\x01\x00" and _u16le(h, 4) > 0 and h[9] == 0:
        return "image", "ico"
    if len(h) >= 12 and h[4:8] == b"ftyp":
        return _sniff_ftyp(h)
    if len(h) >= 8 and h[4:8] in _QT_FIRST_BOXES and _u32be(h, 0) >= 8:
        return "video", "mov"
    if h[:4] == b"\x1aE\xdf\xa3":
        return "video", ("webm" if b"webm" in h[4:64] else "mkv")
    if h[:4] == b"OggS":
        return ("video" if b"\x80theora" in h[:512] else "audio"), "ogg"
    if h[:4] == b"fLaC":
        return "audio", "flac"
    if len(h) >= 12 and h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return "audio", "aiff"
    if h[:3] == b"ID3" and len(h) >= 10:
        after = _id3_end(h)
        if after < len(h):
            kind, fmt = sniff(h[after:])
            if kind == "audio":
                return kind, fmt
        return "audio", "mp3"
    if _mp3_frame(h, 0) is not None:
        return "audio", "mp3"
    if len(h) >= 7 and h[0] == 0xFF and (h[1] & 0xF6) == 0xF0 and ((h[2] >> 2) & 0xF) < 13:
        return "audio", "aac"
    return None, None


def _sniff_ftyp(h: bytes) -> tuple[str, str]:
    size = max(16, min(_u32be(h, 0), len(h)))
    brands = {h[8:12]} | {h[i : i + 4] for i in range(16, size - 3, 4)}
    if brands & {b"avif", b"avis"}:
        return "image", "avif"
    if brands & _HEIF_BRANDS:
        return "image", "heic"
    major = h[8:12]
    if major == b"qt  ":
        return "video", "mov"
    if major in (b"M4A ", b"M4B ", b"M4P "):
        return "audio", "m4a"
    if major[:3] in (b"3gp", b"3g2", b"3ge", b"3gs"):
        return "video", "3gp"
    return "video", "mp4"


# --------------------------------------------------------------------------------------------------
# Dispatch


def _inspect(src: _Source) -> MediaFacts:
    if src.size == 0:
        return MediaFacts(None, None, 0, problem="file is empty", source=src.name)
    kind, fmt = sniff(src.head)
    parser = _PARSERS.get(fmt) if fmt else None
    try:
        if parser is None:
            return _general(src, None, None)
        try:
            return parser(src, kind, fmt)
        except _Undecided:
            return _general(src, kind, fmt)
    except PrepError:
        raise
    except _Corrupt as exc:
        return MediaFacts(kind, fmt, src.size, problem=_one_line(str(exc)), source=src.name)
    except (struct.error, IndexError, ValueError, KeyError, OverflowError, ZeroDivisionError,
            EOFError, SyntaxError, OSError, MemoryError) as exc:
        # Parsers index and unpack freely; on damaged input these are how "corrupt" shows up.
        what = fmt or "media"
        return MediaFacts(kind, fmt, src.size, problem=_one_line(f"cannot read the {what} header: {exc}"),
                          source=src.name)
    except Exception as exc:  # noqa: BLE001  (a bug must not become a traceback for the user)
        return MediaFacts(kind, fmt, src.size, source=src.name, problem=_one_line(
            f"cannot read the {fmt or 'media'} header (internal error {type(exc).__name__}: {exc})"))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _facts(src: _Source, kind: str | None, fmt: str | None, **fields) -> MediaFacts:
    return MediaFacts(kind, fmt, src.size, source=src.name, **fields)


# --------------------------------------------------------------------------------------------------
# Images


_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(src: _Source, kind: str, fmt: str) -> MediaFacts:
    off, width, height, rotation, scan = 2, None, None, 0, None
    while off < src.size:
        marker = src.exact(off, 4, "JPEG marker")
        if marker[0] != 0xFF:
            # Stray bytes between segments are common and harmless (decoders skip them).
            skip = src.at(off, 256).find(b"\xff")
            if skip < 0:
                raise _Corrupt(f"JPEG marker expected at byte {off}")
            off += skip
            continue
        code = marker[1]
        if code == 0xFF:  # fill byte
            off += 1
            continue
        if code in (0x01,) or 0xD0 <= code <= 0xD7:
            off += 2
            continue
        if code == 0xD9:
            break
        length = _u16be(marker, 2)
        if code == 0xE1 and rotation == 0:
            seg = src.exact(off + 4, length - 2, "JPEG EXIF segment")
            if seg[:6] == b"Exif\x00\x00":
                rotation = _EXIF_ROTATION.get(_exif_orientation(seg[6:]), 0)
        elif code in _SOF:
            sof = src.exact(off + 4, 5, "JPEG frame header")
            height, width = _u16be(sof, 1), _u16be(sof, 3)
        elif code == 0xDA:
            scan = off
            break
        off += 2 + length
    if width is None or scan is None:
        raise _Corrupt("JPEG has no frame header or no image data (truncated?)")
    if not _jpeg_ends(src, scan):
        raise _Corrupt("JPEG has no end-of-image marker (truncated)")
    return _facts(src, kind, fmt, width=width, height=height, rotation=rotation)


def _jpeg_ends(src: _Source, scan: int) -> bool:
    tail = src.at(max(scan, src.size - 4096), 4096).rstrip(b"\x00\xff\r\n\t ")
    if tail.endswith(b"\xff\xd9"):
        return True
    # Data appended after the image (motion photos, vendor trailers): look for the end marker
    # anywhere after the first scan; entropy-coded data never contains FF D9.
    pos, chunk = scan, 1 << 20
    while pos < src.size:
        block = src.at(pos, chunk + 1)
        if b"\xff\xd9" in block:
            return True
        pos += chunk
    return False


def _exif_orientation(tiff: bytes) -> int:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    e = "<" if tiff[:2] == b"II" else ">"
    ifd = struct.unpack_from(e + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return 1
    count = struct.unpack_from(e + "H", tiff, ifd)[0]
    for i in range(min(count, 512)):
        p = ifd + 2 + 12 * i
        if p + 12 > len(tiff):
            break
        tag, typ = struct.unpack_from(e + "HH", tiff, p)
        if tag == 0x0112:
            return struct.unpack_from(e + "H", tiff, p + 8)[0] if typ == 3 else 1
    return 1


def _png(src: _Source, kind: str, fmt: str) -> MediaFacts:
    ihdr = src.exact(8, 25, "PNG header")
    if ihdr[4:8] != b"IHDR":
        raise _Corrupt("PNG does not start with an IHDR chunk")
    width, height = _u32be(ihdr, 8), _u32be(ihdr, 12)
    rotation, frames = 0, None
    off = 8
    for _ in range(256):  # chunks before the image data: acTL (animation), eXIf
        hdr = src.at(off, 8)
        if len(hdr) < 8:
            break
        length, ctype = _u32be(hdr, 0), hdr[4:8]
        if ctype in (b"IDAT", b"IEND"):
            break
        if ctype == b"acTL":
            frames = _u32be(src.exact(off + 8, 4, "PNG acTL chunk"), 0)
        elif ctype == b"eXIf":
            rotation = _EXIF_ROTATION.get(_exif_orientation(src.exact(off + 8, length, "PNG eXIf")), 0)
        off += 12 + length
    if b"IEND" not in src.at(max(0, src.size - 4096), 4096) and not _png_has_iend(src, off):
        raise _Corrupt("PNG has no IEND chunk (truncated)")
    return _facts(src, kind, fmt, width=width, height=height, rotation=rotation, frames=frames)


def _png_has_iend(src: _Source, off: int) -> bool:
    # Bytes appended after IEND are ignored by decoders: walk the chunk headers to find it.
    while off + 8 <= src.size:
        hdr = src.at(off, 8)
        if hdr[4:8] == b"IEND":
            return True
        off += 12 + _u32be(hdr, 0)
    return False


def _gif(src: _Source, kind: str, fmt: str) -> MediaFacts:
    lsd = src.exact(6, 7, "GIF screen descriptor")
    if src.at(src.size - 1, 1) != b";" and not _gif_blocks_complete(src, lsd[4]):
        raise _Corrupt("GIF ends inside a block, before its trailer byte (truncated)")
    return _facts(src, kind, fmt, width=_u16le(lsd, 0), height=_u16le(lsd, 2))


def _gif_blocks_complete(src: _Source, flags: int) -> bool:
    """True when the blocks reach the trailer, or the file ends between blocks after an image.

    Decoders ignore bytes after the trailer and, like Pillow, read a file that stops after a
    whole image without one; only a file that ends inside a block is cut short.
    """
    off = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    images = 0
    while off < src.size:
        intro = src.at(off, 1)
        if intro == b";":
            return True
        if intro == b"!":
            off += 2
        elif intro == b",":
            desc = src.exact(off, 10, "GIF image descriptor")
            off += 10 + ((3 << ((desc[9] & 7) + 1)) if desc[9] & 0x80 else 0) + 1  # + LZW code size
            images += 1
        else:
            return images > 0  # stray bytes after the images: decoders stop at the last image
        while True:  # data sub-blocks, each a length byte then that many bytes, up to a zero length
            length = src.at(off, 1)
            if not length:
                return False
            off += 1 + length[0]
            if not length[0]:
                break
        if off > src.size:
            return False
    return images > 0


def _webp(src: _Source, kind: str, fmt: str) -> MediaFacts:
    _check_riff_size(src)
    chunk = src.exact(12, 30, "WebP header")
    ctype = chunk[:4]
    if ctype == b"VP8 ":
        if chunk[11:14] != b"\x9d\x01\x2a":
            raise _Corrupt("WebP VP8 frame has no start code")
        width, height = _u16le(chunk, 14) & 0x3FFF, _u16le(chunk, 16) & 0x3FFF
    elif ctype == b"VP8L":
        if chunk[8] != 0x2F:
            raise _Corrupt("WebP lossless stream has no signature")
        bits = _u32le(chunk, 9)
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif ctype == b"VP8X":
        width = 1 + int.from_bytes(chunk[12:15], "little")
        height = 1 + int.from_bytes(chunk[15:18], "little")
    else:
        raise _Corrupt(f"WebP has an unknown first chunk {ctype!r}")
    return _facts(src, kind, fmt, width=width, height=height)


def _bmp(src: _Source, kind: str, fmt: str) -> MediaFacts:
    h = src.exact(0, 26, "BMP header")
    if _u32le(h, 14) == 12:
        width, height = _u16le(h, 18), _u16le(h, 20)
        bits, compression, image_size = _u16le(h, 24), 0, 0
    else:
        width, height = struct.unpack_from("<ii", h, 18)
        bits, compression, image_size = struct.unpack_from("<HII", src.exact(28, 10, "BMP header"))
    # Decoders ignore the file-size field and read the pixels from their offset: judge those bytes.
    if compression in (0, 3, 6):  # uncompressed (plain or with bit masks): rows padded to 4 bytes
        needed = _u32le(h, 10) + (abs(width) * bits + 31) // 32 * 4 * abs(height)
    else:
        needed = _u32le(h, 10) + image_size if image_size else _u32le(h, 2)
    if needed > src.size:
        raise _Corrupt(f"BMP header claims {needed} bytes of header and pixels but the file has "
                       f"{src.size} (truncated)")
    return _facts(src, kind, fmt, width=abs(width), height=abs(height))


def _ppm(src: _Source, kind: str, fmt: str) -> MediaFacts:
    head = src.head[:4096]
    tokens: list[bytes] = []
    pos, need = 2, (2 if head[1:2] in b"14" else 3)
    while len(tokens) < need:
        while pos < len(head) and head[pos : pos + 1] in b" \t\r\n#":
            if head[pos : pos + 1] == b"#":
                end = head.find(b"\n", pos)
                pos = len(head) if end < 0 else end
            pos += 1
        start = pos
        while pos < len(head) and head[pos : pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise _Corrupt("PPM header is incomplete")
        tokens.append(head[start:pos])
    width, height = int(tokens[0]), int(tokens[1])
    raster = pos + 1  # exactly one whitespace byte ends the header of a binary PNM
    variant = head[1:2]
    if variant in b"456":
        if variant == b"4":
            expected = (width + 7) // 8 * height
        else:
            depth = 2 if int(tokens[2]) > 255 else 1
            expected = width * height * depth * (3 if variant == b"6" else 1)
        if src.size < raster + expected:
            raise _Corrupt(f"PPM pixel data is {src.size - raster} bytes, header needs {expected} "
                           "(truncated)")
    return _facts(src, kind, fmt, width=width, height=height)


def _ico(src: _Source, kind: str, fmt: str) -> MediaFacts:
    count = _u16le(src.head, 4)
    table = src.exact(6, 16 * count, "ICO directory")
    best = None
    for i in range(count):
        e = 16 * i
        w, h = table[e] or 256, table[e + 1] or 256
        size, offset = _u32le(table, e + 8), _u32le(table, e + 12)
        if offset + size > src.size:
            raise _Corrupt(f"ICO image {i + 1} runs past the end of the file (truncated)")
        sig = src.at(offset, 24)
        if sig[:8] == b"\x89PNG\r\n\x1a\n":
            w, h = _u32be(sig, 16), _u32be(sig, 20)
        if best is None or w * h > best[0] * best[1]:
            best = (w, h)
    if best is None:
        raise _Corrupt("ICO has no images")
    return _facts(src, kind, fmt, width=best[0], height=best[1])


def _tiff(src: _Source, kind: str, fmt: str) -> MediaFacts:
    TiffImagePlugin = _pillow_plugin("TiffImagePlugin")
    # The plugin class reads only the first IFD; calling it directly (not Image.open) skips the
    # decompression-bomb check, which is about decoding, and we never decode.
    import warnings

    # Pillow warns (on stderr) about damaged tags; the damage is ours to report, once, as `problem`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = TiffImagePlugin.TiffImageFile(src.file())
        except (SyntaxError, OSError, ValueError, struct.error) as exc:
            raise _Corrupt(f"cannot read the TIFF header: {exc}") from None
        tags = im.tag_v2
        offsets = tags.get(273) or tags.get(324) or ()
        counts = tags.get(279) or tags.get(325) or ()
        if isinstance(offsets, int):
            offsets, counts = (offsets,), (counts,)
        ends = [o + c for o, c in zip(offsets, counts, strict=False)]
        if ends and max(ends) > src.size:
            raise _Corrupt(f"TIFF image data runs past the end of the file ({max(ends)} > {src.size} bytes; "
                           "truncated)")
        rotation = _EXIF_ROTATION.get(int(tags.get(274, 1) or 1), 0)
        frames = getattr(im, "n_frames", 1)  # walks the directory chain only, not the pixels
    return _facts(src, kind, fmt, width=im.size[0], height=im.size[1], rotation=rotation,
                  frames=frames if frames and frames > 1 else None)


def _pillow_plugin(name: str):
    try:
        import importlib

        return importlib.import_module(f"PIL.{name}")
    except ImportError:
        raise PrepError("Pillow is not installed: pip install pillow") from None


# --------------------------------------------------------------------------------------------------
# ISO base media files: mp4, mov, m4a, 3gp, and HEIF images (heic, avif)

_VIDEO_CODECS = {
    b"avc1": "h264", b"avc2": "h264", b"avc3": "h264", b"avc4": "h264",
    b"hvc1": "hevc", b"hev1": "hevc", b"dvh1": "hevc", b"dvhe": "hevc",
    b"av01": "av1", b"vp08": "vp8", b"vp09": "vp9", b"mp4v": "mpeg4",
    b"apch": "prores", b"apcn": "prores", b"apcs": "prores", b"apco": "prores",
    b"ap4h": "prores", b"ap4x": "prores", b"jpeg": "mjpeg", b"mjpa": "mjpeg", b"mjpb": "mjpeg",
    b"s263": "h263", b"h263": "h263", b"png ": "png", b"mp2v": "mpeg2video", b"xvid": "mpeg4",
}
_AUDIO_CODECS = {
    b".mp3": "mp3", b"ac-3": "ac3", b"ec-3": "eac3", b"Opus": "opus", b"fLaC": "flac",
    b"alac": "alac", b"samr": "amr_nb", b"sawb": "amr_wb", b"ulaw": "pcm_mulaw", b"alaw": "pcm_alaw",
    b"lpcm": "pcm", b"sowt": "pcm", b"twos": "pcm", b"in24": "pcm", b"in32": "pcm", b"fl32": "pcm",
    b"fl64": "pcm", b"raw ": "pcm", b"NONE": "pcm", b"ipcm": "pcm", b"fpcm": "pcm",
}
# MPEG-4 objectTypeIndication → codec, for 'mp4a' sample entries.
_OTI = {0x40: "aac", 0x66: "aac", 0x67: "aac", 0x68: "aac", 0x69: "mp3", 0x6B: "mp3", 0xA5: "ac3",
        0xA6: "eac3", 0xA9: "dts", 0xAD: "opus"}


def _boxes(buf: bytes, start: int, end: int):
    """Yield ``(type, payload_start, box_end)`` for the boxes in ``buf[start:end]``."""
    i = start
    while i + 8 <= end:
        size, typ = struct.unpack_from(">I4s", buf, i)
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack_from(">Q", buf, i + 8)[0], 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            raise _Corrupt(f"'{_fourcc(typ)}' box overruns its parent (corrupt or truncated)")
        yield typ, i + hdr, i + size
        i += size


def _child(buf: bytes, start: int, end: int, *path: bytes) -> tuple[int, int] | None:
    for name in path:
        for typ, p, e in _boxes(buf, start, end):
            if typ == name:
                start, end = p, e
                break
        else:
            return None
    return start, end


def _top_level_boxes(src: _Source) -> tuple[list[tuple[bytes, int, int, int]], str | None]:
    """``(type, offset, header_size, size)`` of each top-level box, and why the last is cut or None.

    Raises when a box overruns the file, except a last ``mdat``: it is kept, clipped to the file,
    with the reason, for the caller to judge by its samples.
    """
    boxes, off = [], 0
    while off < src.size:
        hdr = src.at(off, 16)
        if len(hdr) < 8:
            if hdr.strip(b"\x00"):
                raise _Corrupt(f"file ends inside a box header at byte {off} (truncated)")
            break
        size, typ = struct.unpack_from(">I4s", hdr)
        hsize = 8
        if size == 1:
            if len(hdr) < 16:
                raise _Corrupt(f"file ends inside a box header at byte {off} (truncated)")
            size, hsize = _u64be(hdr, 8), 16
        elif size == 0:
            size = src.size - off
        if size < hsize:
            if not boxes:
                raise _Corrupt("not an ISO media file: first box has an impossible size")
            if not hdr.strip(b"\x00"):
                break  # zero padding at the end
            raise _Corrupt(f"box at byte {off} has an impossible size {size}")
        if off + size > src.size:
            cut = (f"'{_fourcc(typ)}' box at byte {off} claims {size} bytes but the file ends "
                   f"after {src.size - off} (truncated)")
            if typ != b"mdat":
                raise _Corrupt(cut)
            boxes.append((typ, off, hsize, src.size - off))
            return boxes, cut
        boxes.append((typ, off, hsize, size))
        off += size
        if len(boxes) > 100_000:
            raise _Corrupt("too many top-level boxes")
    return boxes, None


def _isobmff(src: _Source, kind: str, fmt: str) -> MediaFacts:
    boxes, cut = _top_level_boxes(src)
    by_type = {}
    for typ, off, hsize, size in boxes:
        by_type.setdefault(typ, (off, hsize, size))
    if kind == "image":
        if cut:
            raise _Corrupt(cut)
        if b"meta" not in by_type:
            raise _Corrupt(f"{fmt.upper()} has no 'meta' box")
        off, hsize, size = by_type[b"meta"]
        return _heif(src, kind, fmt, src.exact(off + hsize, size - hsize, "'meta' box"))
    if cut and b"moov" not in by_type:
        raise _Corrupt(cut)
    if b"moov" not in by_type:
        raise _Corrupt("no 'moov' box: the file has no index (truncated or still being written)")
    off, hsize, size = by_type[b"moov"]
    moov = src.exact(off + hsize, size - hsize, "'moov' box")
    fragments = [(o, h, n) for typ, o, h, n in boxes if typ == b"moof"] if b"moof" in by_type else []
    # A cut 'mdat' is readable when only the last sample in the file lacks bytes (decoders drop it).
    if cut and (fragments or _samples_past(moov, src.size) > 1):
        raise _Corrupt(cut)
    return _moov(src, fmt, moov, fragments)


def _samples_past(moov: bytes, size: int) -> int:
    """How many samples the tracks' indexes place (partly) beyond byte ``size``."""
    past = 0
    for typ, tp, te in _boxes(moov, 0, len(moov)):
        if typ != b"trak":
            continue
        stbl = _child(moov, tp, te, b"mdia", b"minf", b"stbl")
        if stbl is None:
            continue
        stsz, stsc = _child(moov, *stbl, b"stsz"), _child(moov, *stbl, b"stsc")
        stco, co64 = _child(moov, *stbl, b"stco"), _child(moov, *stbl, b"co64")
        if stsz is None or stsc is None or (stco or co64) is None:
            return 1 << 30  # no index we can follow (e.g. 'stz2'): cannot show the rest is whole
        p = (stco or co64)[0]
        n = _u32be(moov, p + 4)
        offsets = struct.unpack_from((">%dI" if stco else ">%dQ") % n, moov, p + 8)
        uniform, count = _u32be(moov, stsz[0] + 4), _u32be(moov, stsz[0] + 8)
        if uniform and count > len(moov) * 256:  # an implausible count: do not build a list of it
            return 1 << 30
        sizes = [uniform] * count if uniform else struct.unpack_from(">%dI" % count, moov, stsz[0] + 12)
        runs = struct.unpack_from(">%dI" % (3 * _u32be(moov, stsc[0] + 4)), moov, stsc[0] + 8)
        sample = 0
        for r in range(0, len(runs), 3):
            first, per = runs[r], runs[r + 1]
            last = runs[r + 3] - 1 if r + 3 < len(runs) else n
            for chunk in range(first - 1, min(last, n)):
                pos = offsets[chunk]
                for s in sizes[sample : sample + per]:
                    pos += s
                    past += pos > size
                sample += per
    return past


def _moov(src: _Source, fmt: str, moov: bytes, fragments: list[tuple[int, int, int]]) -> MediaFacts:
    mvhd = _child(moov, 0, len(moov), b"mvhd")
    if mvhd is None:
        raise _Corrupt("'moov' box has no 'mvhd' header")
    p = mvhd[0]
    if moov[p] == 1:
        timescale, duration = _u32be(moov, p + 20), _u64be(moov, p + 24)
    else:
        timescale, duration = _u32be(moov, p + 12), _u32be(moov, p + 16)
    movie_s = duration / timescale if timescale and duration not in (0, 0xFFFFFFFF) else None

    video = audio = None
    track_s = []
    tracks = []
    for typ, tp, te in _boxes(moov, 0, len(moov)):
        if typ != b"trak":
            continue
        track = _trak(moov, tp, te)
        if track is None:
            continue
        tracks.append((track, tp, te))
        if track.get("duration_s"):
            track_s.append(track["duration_s"])
        if track["type"] == "video" and video is None:
            video = track
        elif track["type"] == "audio" and audio is None:
            audio = track
    duration_s = movie_s or (max(track_s) if track_s else None)
    problem = None
    if fragments:
        mvex = _child(moov, 0, len(moov), b"mvex")
        duration_s = _add_fragments(src, moov, mvex, timescale, tracks, fragments) or duration_s
    elif not duration_s and tracks and _child(moov, 0, len(moov), b"mvex") is not None \
            and not any(_sample_count(moov, tp, te) for _, tp, te in tracks):
        problem = "no samples: an init segment without media"
    if fmt == "m4a" and video is not None:
        fmt = "mp4"
    kind = "video"
    if video is None and audio is not None and fmt in ("mp4", "m4a", "3gp"):
        kind, fmt = "audio", "m4a"
    fields: dict = {"has_video": video is not None, "has_audio": audio is not None,
                    "duration_s": duration_s}
    if problem:
        fields["problem"] = problem
    if video is not None:
        fields.update(codec=video["codec"], width=video["width"], height=video["height"],
                      fps=video.get("fps"), variable_fps=video.get("variable_fps", False),
                      frames=video.get("frames"), rotation=video["rotation"])
    if audio is not None:
        fields.update(sample_rate=audio.get("sample_rate"), channels=audio.get("channels"))
        if video is None:
            fields["codec"] = audio["codec"]
    return _facts(src, kind, fmt, **fields)


def _trak(buf: bytes, start: int, end: int) -> dict | None:
    hdlr = _child(buf, start, end, b"mdia", b"hdlr")
    mdhd = _child(buf, start, end, b"mdia", b"mdhd")
    if hdlr is None or mdhd is None:
        return None
    handler = buf[hdlr[0] + 8 : hdlr[0] + 12]
    kind = {b"vide": "video", b"soun": "audio"}.get(handler)
    if kind is None:
        return None
    p = mdhd[0]
    if buf[p] == 1:
        timescale, duration = _u32be(buf, p + 20), _u64be(buf, p + 24)
    else:
        timescale, duration = _u32be(buf, p + 12), _u32be(buf, p + 16)
    track: dict = {"type": kind, "codec": None}
    if timescale and duration not in (0, 0xFFFFFFFF):
        track["duration_s"] = duration / timescale
    stbl = _child(buf, start, end, b"mdia", b"minf", b"stbl")
    entry = None
    if stbl is not None:
        stsd = _child(buf, stbl[0], stbl[1], b"stsd")
        if stsd is not None and _u32be(buf, stsd[0] + 4) > 0 and stsd[0] + 16 <= stsd[1]:
            e = stsd[0] + 8
            entry = (e, min(e + _u32be(buf, e), stsd[1]))
    if kind == "video":
        tkhd = _child(buf, start, end, b"tkhd")
        track["rotation"] = _tkhd_rotation(buf, tkhd[0]) if tkhd else 0
        width = height = 0
        if entry is not None and entry[0] + 36 <= entry[1]:
            fourcc = buf[entry[0] + 4 : entry[0] + 8]
            track["codec"] = _VIDEO_CODECS.get(fourcc, _fourcc(fourcc).strip().lower())
            width, height = _u16be(buf, entry[0] + 32), _u16be(buf, entry[0] + 34)
        if (not width or not height) and tkhd is not None:
            off = tkhd[0] + (88 if buf[tkhd[0]] == 1 else 76)
            width, height = _u32be(buf, off) >> 16, _u32be(buf, off + 4) >> 16
        track["width"], track["height"] = width or None, height or None
        stts = _child(buf, stbl[0], stbl[1], b"stts") if stbl else None
        if stts is not None and timescale:
            count = _u32be(buf, stts[0] + 4)
            data = buf[stts[0] + 8 : min(stts[1], stts[0] + 8 + 8 * count)]
            entries = [(n, d) for n, d in struct.iter_unpack(">II", data[: len(data) // 8 * 8]) if n]
            track.update(_frame_timing(entries, timescale))
    else:
        if entry is not None:
            track.update(_audio_entry(buf, entry[0], entry[1]))
    return track


def _tkhd_rotation(buf: bytes, p: int) -> int:
    m = p + (52 if buf[p] == 1 else 40)
    a, b = struct.unpack_from(">ii", buf, m)
    if a == 0 and b == 0:
        return 0
    return round(math.degrees(math.atan2(b, a)) / 90) * 90 % 360


def _stts_entries(buf: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """``(sample_count, sample_delta)`` runs of a time-to-sample box, empty runs dropped."""
    count = _u32be(buf, start + 4)
    data = buf[start + 8 : min(end, start + 8 + 8 * count)]
    return [(n, d) for n, d in struct.iter_unpack(">II", data[: len(data) // 8 * 8]) if n]


def _frame_timing(entries: list[tuple[int, int]], timescale: int) -> dict:
    if not entries:
        return {}
    frames = sum(n for n, _ in entries)
    total = sum(n * d for n, d in entries)
    # Muxers often give the last frame its own duration; that alone does not make the rate variable.
    steady = entries[:-1] if len(entries) > 1 and entries[-1][0] == 1 else entries
    deltas = {d for _, d in steady}
    if len(deltas) == 1 and (d := deltas.pop()):
        return {"frames": frames, "fps": _tidy_fps(timescale / d), "variable_fps": False}
    return {"frames": frames, "fps": _tidy_fps(frames * timescale / total) if total else None,
            "variable_fps": True}


# A 'moof' box indexes one fragment, a few kilobytes; one larger than this is not read into memory.
_MOOF_MAX = 16 << 20
# Sample-duration runs kept per track to judge the frame rate; past this many the rate is variable.
_RUNS_MAX = 4096


def _sample_count(moov: bytes, start: int, end: int) -> int:
    stts = _child(moov, start, end, b"mdia", b"minf", b"stbl", b"stts")
    return sum(n for n, _ in _stts_entries(moov, *stts)) if stts else 0


def _add_fragments(src: _Source, moov: bytes, mvex: tuple[int, int] | None, movie_timescale: int,
                   tracks: list[tuple[dict, int, int]],
                   fragments: list[tuple[int, int, int]]) -> float | None:
    """Add the samples of the ``moof`` fragments to ``tracks`` (each ``(track, trak start, trak end)``
    in ``moov``); return the movie's duration.

    The duration is the end of the longest track, as ffmpeg reports it (it ignores ``mvex/mehd``,
    which is used only when no sample has a duration). Each ``moof`` is read on its own (the
    ``mdat`` between them never is); video tracks get frames and a rate.
    """
    defaults, fragment_duration = {}, None
    if mvex is not None:
        for typ, p, _e in _boxes(moov, *mvex):
            if typ == b"trex":
                defaults[_u32be(moov, p + 4)] = _u32be(moov, p + 12)
            elif typ == b"mehd":
                fragment_duration = _u64be(moov, p + 4) if moov[p] == 1 else _u32be(moov, p + 4)
    by_id = {}
    for t, start, end in tracks:
        tkhd = _child(moov, start, end, b"tkhd")
        if tkhd is not None:
            by_id[_u32be(moov, tkhd[0] + (20 if moov[tkhd[0]] == 1 else 12))] = t
        mdhd = _child(moov, start, end, b"mdia", b"mdhd")
        t["timescale"] = _u32be(moov, mdhd[0] + (20 if moov[mdhd[0]] == 1 else 12))  # _trak found it
        stts = _child(moov, start, end, b"mdia", b"minf", b"stbl", b"stts")
        t["runs"] = _stts_entries(moov, *stts) if stts else []
        t["cursor"] = t["end"] = sum(n * d for n, d in t["runs"])
    for off, hsize, size in fragments:
        if size - hsize > _MOOF_MAX:
            raise _Corrupt(f"'moof' box at byte {off} claims {size} bytes, more than a fragment index "
                           "holds")
        moof = src.exact(off + hsize, size - hsize, "'moof' box")
        for typ, p, e in _boxes(moof, 0, len(moof)):
            if typ != b"traf":
                continue
            tfhd = _child(moof, p, e, b"tfhd")
            track = by_id.get(_u32be(moof, tfhd[0] + 4)) if tfhd else None
            if track is None:
                continue
            q, flags = tfhd[0] + 8, int.from_bytes(moof[tfhd[0] + 1 : tfhd[0] + 4], "big")
            q += (8 if flags & 1 else 0) + (4 if flags & 2 else 0)
            default = _u32be(moof, q) if flags & 8 else defaults.get(_u32be(moof, tfhd[0] + 4), 0)
            tfdt = _child(moof, p, e, b"tfdt")
            if tfdt is not None:  # the fragment's start time; without it, fragments follow on
                t0 = tfdt[0]
                track["cursor"] = _u64be(moof, t0 + 4) if moof[t0] == 1 else _u32be(moof, t0 + 4)
            for rtyp, r, re_ in _boxes(moof, p, e):
                if rtyp == b"trun":
                    _add_trun(track, moof, r, re_, default)
            track["end"] = max(track["end"], track["cursor"])
    ends = []
    for t, _, _ in tracks:
        if t["timescale"] and t["end"]:
            t["duration_s"] = t["end"] / t["timescale"]
            ends.append(t["duration_s"])
        if t["type"] == "video" and t["timescale"]:
            t.update(_frame_timing(t["runs"], t["timescale"]))
            if t.get("variable_runs"):
                t["variable_fps"] = True
    if ends:
        return max(ends)
    return fragment_duration / movie_timescale if fragment_duration and movie_timescale else None


def _add_trun(track: dict, moof: bytes, p: int, end: int, default: int) -> None:
    flags, count = int.from_bytes(moof[p + 1 : p + 4], "big"), _u32be(moof, p + 4)
    p += 8 + (4 if flags & 1 else 0) + (4 if flags & 4 else 0)
    if not flags & 0x100:
        runs = [(count, default)] if count else []
    else:
        words = (flags & 0xF00).bit_count()  # duration, size, flags, composition offset: 4 bytes each
        if p + 4 * words * count > end:
            raise _Corrupt("'trun' box lists more samples than it holds (corrupt or truncated)")
        durations = struct.unpack_from(f">{words * count}I", moof, p)[::words]
        runs = []
        for d in durations:
            if runs and runs[-1][1] == d:
                runs[-1] = (runs[-1][0] + 1, d)
            else:
                runs.append((1, d))
    track["cursor"] += sum(n * d for n, d in runs)
    kept = track["runs"]
    for n, d in runs:
        if kept and kept[-1][1] == d:
            kept[-1] = (kept[-1][0] + n, d)
        else:
            kept.append((n, d))
    if len(kept) > _RUNS_MAX:  # keep the count and total; the rate is not steady anyway
        frames, total = sum(n for n, _ in kept), sum(n * d for n, d in kept)
        kept[:] = [(frames, total / frames)]
        track["variable_runs"] = True


def _audio_entry(buf: bytes, e: int, end: int) -> dict:
    fourcc = buf[e + 4 : e + 8]
    version = _u16be(buf, e + 16)
    if version == 2 and e + 52 <= end:
        rate = struct.unpack_from(">d", buf, e + 40)[0]
        channels = _u32be(buf, e + 48)
        children = e + 72
    else:
        channels, rate = _u16be(buf, e + 24), _u32be(buf, e + 32) >> 16
        children = e + 36 + (16 if version == 1 else 0)
    codec = _AUDIO_CODECS.get(fourcc)
    if fourcc == b"mp4a":
        codec = _esds_codec(buf, children, end) or "aac"
    elif codec is None:
        codec = _fourcc(fourcc).strip().lower()
    return {"codec": codec, "sample_rate": int(rate) or None, "channels": channels or None}


def _esds_codec(buf: bytes, start: int, end: int) -> str | None:
    try:
        found = _child(buf, start, end, b"esds") or _child(buf, start, end, b"wave", b"esds")
    except _Corrupt:
        return None
    if found is None:
        return None
    p, stop = found[0] + 4, found[1]
    while p < stop:
        tag = buf[p]
        p += 1
        size = 0
        for _ in range(4):
            b = buf[p]
            p += 1
            size = size << 7 | (b & 0x7F)
            if not b & 0x80:
                break
        if tag == 0x03:
            flags = buf[p + 2]
            p += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                p += 1 + buf[p]
        elif tag == 0x04:
            return _OTI.get(buf[p])
        else:
            p += size
    return None


def _heif(src: _Source, kind: str, fmt: str, meta: bytes) -> MediaFacts:
    start = 4  # 'meta' is a full box: version and flags come first
    primary = None
    pitm = _child(meta, start, len(meta), b"pitm")
    if pitm is not None:
        p = pitm[0]
        primary = _u16be(meta, p + 4) if meta[p] == 0 else _u32be(meta, p + 4)
    ipco = _child(meta, start, len(meta), b"iprp", b"ipco")
    if ipco is None:
        raise _Corrupt(f"{fmt.upper()} has no item properties")
    props = [(t, p, e) for t, p, e in _boxes(meta, ipco[0], ipco[1])]
    wanted: list[int] | None = None
    ipma = _child(meta, start, len(meta), b"iprp", b"ipma")
    if ipma is not None and primary is not None:
        p = ipma[0]
        version, flags = meta[p], int.from_bytes(meta[p + 1 : p + 4], "big")
        p += 4
        count, p = _u32be(meta, p), p + 4
        for _ in range(count):
            item = _u32be(meta, p) if version >= 1 else _u16be(meta, p)
            p += 4 if version >= 1 else 2
            n, p = meta[p], p + 1
            indices = []
            for _ in range(n):
                if flags & 1:
                    indices.append(_u16be(meta, p) & 0x7FFF)
                    p += 2
                else:
                    indices.append(meta[p] & 0x7F)
                    p += 1
            if item == primary:
                wanted = indices
                break
    chosen = [props[i - 1] for i in wanted if 0 < i <= len(props)] if wanted else props
    width = height = None
    rotation = 0
    for typ, p, _e in chosen:
        if typ == b"ispe":
            w, h = _u32be(meta, p + 4), _u32be(meta, p + 8)
            if wanted is not None or width is None or w * h > width * height:
                width, height = w, h
        elif typ == b"irot" and wanted is not None:
            rotation = (360 - 90 * (meta[p] & 3)) % 360  # irot turns anticlockwise
    if width is None:
        raise _Corrupt(f"{fmt.upper()} has no image size (ispe) property")
    return _facts(src, kind, fmt, width=width, height=height, rotation=rotation)


# --------------------------------------------------------------------------------------------------
# RIFF: wav and avi


def _check_riff_size(src: _Source) -> None:
    declared = _u32le(src.head, 4)
    if src.head[:4] == b"RIFF" and declared not in (0, 0xFFFFFFFF) and declared + 8 > src.size:
        raise _Corrupt(f"RIFF header claims {declared + 8} bytes but the file has {src.size} (truncated)")


def _riff_chunks(src: _Source, start: int, end: int, limit: int = 4096):
    off = start
    for _ in range(limit):
        if off + 8 > end:
            return
        hdr = src.at(off, 12)
        if len(hdr) < 8:
            return
        cid, size = hdr[:4], _u32le(hdr, 4)
        yield cid, off + 8, size, hdr[8:12]
        off += 8 + size + (size & 1)


_WAVE_CODECS = {1: "pcm", 3: "pcm", 6: "pcm_alaw", 7: "pcm_mulaw", 2: "adpcm_ms", 0x11: "adpcm_ima",
                0x55: "mp3", 0xFF: "aac", 0x2000: "ac3"}


def _wav(src: _Source, kind: str, fmt: str) -> MediaFacts:
    fmt_chunk = data = fact = None
    ds64_data = None
    for cid, off, size, _ in _riff_chunks(src, 12, src.size):
        if cid == b"ds64":
            ds64_data = _u64le(src.exact(off, 28, "RF64 ds64 chunk"), 8)
        elif cid == b"fmt ":
            fmt_chunk = src.exact(off, min(size, 40), "WAV fmt chunk")
        elif cid == b"fact":
            fact = _u32le(src.exact(off, 4, "WAV fact chunk"), 0)
        elif cid == b"data":
            if size == 0xFFFFFFFF and ds64_data is not None:
                size = ds64_data
            data = (off, size)
            break
    if fmt_chunk is None or len(fmt_chunk) < 16:
        raise _Corrupt("WAV has no format chunk before its data")
    if data is None:
        raise _Corrupt("WAV has no data chunk")
    tag, channels, rate, byte_rate = struct.unpack_from("<HHII", fmt_chunk)
    if tag == 0xFFFE and len(fmt_chunk) >= 26:
        tag = _u16le(fmt_chunk, 24)
    off, size = data
    available = src.size - off
    if size in (0, 0xFFFFFFFF):  # written by a streaming writer that never came back to fix it
        size = available
    elif size > available:
        raise _Corrupt(f"audio shorter than its header claims: data chunk claims {size} bytes, "
                       f"file has {available} (truncated)")
    if tag not in (1, 3) and fact and rate:
        duration = fact / rate
    else:
        duration = size / byte_rate if byte_rate else None
    return _facts(src, kind, fmt, codec=_WAVE_CODECS.get(tag, f"wave_0x{tag:04x}"),
                  sample_rate=rate or None, channels=channels or None, duration_s=duration,
                  has_audio=True)


_AVI_VIDEO = {"h264": "h264", "x264": "h264", "avc1": "h264", "hevc": "hevc", "hev1": "hevc",
              "h265": "hevc", "xvid": "mpeg4", "divx": "mpeg4", "dx50": "mpeg4", "fmp4": "mpeg4",
              "mp4v": "mpeg4", "mjpg": "mjpeg", "ffv1": "ffv1", "vp80": "vp8", "vp90": "vp9",
              "av01": "av1", "mpg2": "mpeg2video"}


def _avi(src: _Source, kind: str, fmt: str) -> MediaFacts:
    _check_riff_size(src)
    hdrl = None
    for cid, off, size, form in _riff_chunks(src, 12, src.size, limit=64):
        if cid == b"LIST" and form == b"hdrl":
            hdrl = src.exact(off, size, "AVI header list")
            break
    if hdrl is None:
        raise _Corrupt("AVI has no header list")
    video = audio = None
    total_frames = None
    stream_type = None
    i = 4
    while i + 8 <= len(hdrl):
        cid, size = hdrl[i : i + 4], _u32le(hdrl, i + 4)
        body = hdrl[i + 8 : i + 8 + size]
        if cid == b"LIST":
            i += 12  # descend into strl / odml
            continue
        if cid == b"strh":
            stream_type = body[:4]
            scale, rate, length = _u32le(body, 20), _u32le(body, 24), _u32le(body, 32)
            info = {"handler": body[4:8], "scale": scale, "rate": rate, "length": length}
            if stream_type == b"vids" and video is None:
                video = info
            elif stream_type == b"auds" and audio is None:
                audio = info
            else:
                stream_type = None
        elif cid == b"strf" and stream_type is not None:
            target = video if stream_type == b"vids" else audio
            if stream_type == b"vids" and len(body) >= 20:
                target.update(width=_u32le(body, 4), height=abs(struct.unpack_from("<i", body, 8)[0]),
                              compression=body[16:20])
            elif stream_type == b"auds" and len(body) >= 8:
                target.update(tag=_u16le(body, 0), channels=_u16le(body, 2), sample_rate=_u32le(body, 4))
            stream_type = None
        elif cid == b"dmlh":
            total_frames = _u32le(body, 0)
        i += 8 + size + (size & 1)
    fields: dict = {"has_video": video is not None, "has_audio": audio is not None}
    if video is not None and video["rate"] and video["scale"]:
        frames = total_frames or video["length"]
        fps = video["rate"] / video["scale"]
        fourcc = (video.get("compression") or video["handler"]).decode("latin-1").lower()
        fields.update(codec=_AVI_VIDEO.get(fourcc, fourcc.strip() or None), width=video.get("width"),
                      height=video.get("height"), fps=_tidy_fps(fps), frames=frames,
                      duration_s=frames / fps)
    elif audio is not None and audio["rate"]:
        fields["duration_s"] = audio["length"] * audio["scale"] / audio["rate"]
    if audio is not None:
        fields.update(sample_rate=audio.get("sample_rate"), channels=audio.get("channels"))
        if video is None:
            fields["codec"] = _WAVE_CODECS.get(audio.get("tag", 0))
    return _facts(src, kind, fmt, **fields)


# --------------------------------------------------------------------------------------------------
# Compressed audio: mp3, flac, ogg


_MP3_BITRATES = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame(buf: bytes, i: int) -> tuple[int, int, int, int, bool] | None:
    """``(frame_length, sample_rate, channels, bitrate, mpeg1)`` of an MPEG audio layer III header."""
    if i + 4 > len(buf) or buf[i] != 0xFF or (buf[i + 1] & 0xE0) != 0xE0:
        return None
    version, layer = (buf[i + 1] >> 3) & 3, (buf[i + 1] >> 1) & 3
    br_index, sr_index = buf[i + 2] >> 4, (buf[i + 2] >> 2) & 3
    if version == 1 or layer != 1 or br_index in (0, 15) or sr_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[mpeg1][br_index] * 1000
    rate = _MP3_RATES[version][sr_index]
    padding = (buf[i + 2] >> 1) & 1
    length = (144 if mpeg1 else 72) * bitrate // rate + padding
    return length, rate, (1 if buf[i + 3] >> 6 == 3 else 2), bitrate, mpeg1


def _id3_end(h: bytes) -> int:
    size = (h[6] & 0x7F) << 21 | (h[7] & 0x7F) << 14 | (h[8] & 0x7F) << 7 | (h[9] & 0x7F)
    return 10 + size + (10 if h[5] & 0x10 else 0)


def _audio_start(src: _Source) -> int:
    """Offset of the audio stream, after any ID3v2 tags."""
    off = 0
    while src.at(off, 3) == b"ID3":
        hdr = src.exact(off, 10, "ID3 tag")
        off += _id3_end(hdr)
    return off


# A frame walk (MP3s without a Xing/VBRI frame count) reads at most this many bytes of frames and
# extrapolates the rest by size: 16 MiB is 17 minutes at 128 kb/s, far past any clip a request takes,
# and it bounds the time and (for remote files) the download a hostile or huge file can cost.
_MP3_WALK_BYTES = 16 << 20
_MP3_WALK_FRAMES = 100_000  # 43 minutes at 44.1 kHz; with the resync block, bounds hostile junk too
_MP3_WALK_CHUNK = 256 << 10
_MP3_RESYNC_BLOCK = 4096
_MP3_RESYNC_TRIES = 10_000  # header-like junk a walk searches through before it gives up
# LAME's gapless numbers count the encoder delay only; decoders add this many samples of their own.
_MP3_DECODER_DELAY = 529


def _mp3(src: _Source, kind: str, fmt: str) -> MediaFacts:
    start = _audio_start(src)
    if start >= src.size:
        raise _Corrupt("MP3 has tags but no audio (truncated)")
    if start:
        other = _behind_id3(src, start)
        if other is not None:
            return other
    window = src.at(start, 65536)
    frame = None
    for i in range(len(window) - 4):
        if window[i] != 0xFF:
            continue
        frame = _mp3_frame(window, i)
        if frame is None:
            continue
        nxt = src.at(start + i + frame[0], 4)
        if len(nxt) < 4 or _mp3_frame(nxt, 0) is not None:
            start += i
            break
        frame = None
    if frame is None:
        if start:  # an ID3 tag in front of something that is not MPEG audio
            return _facts(src, "audio", None, has_audio=True, problem=(
                "the audio after the ID3 tag is neither MP3 nor a format the inspector recognises"))
        raise _Undecided
    length, rate, channels, _bitrate, mpeg1 = frame
    spf = 1152 if mpeg1 else 576
    end = _mp3_audio_end(src, start)
    first = src.exact(start, min(length, 200), "MP3 frame")
    side = (32 if channels == 2 else 17) if mpeg1 else (17 if channels == 2 else 9)
    tag = first[4 + side : 8 + side]
    frames = claimed = None
    skip = trim = 0  # samples a decoder drops at the start and at the end (LAME gapless numbers)
    if tag in (b"Xing", b"Info") and len(first) >= 12 + side:
        flags = _u32be(first, 8 + side)
        p = 12 + side
        if flags & 1:
            frames, p = _u32be(first, p), p + 4
        if flags & 2:
            claimed, p = _u32be(first, p), p + 4
        p += (100 if flags & 4 else 0) + (4 if flags & 8 else 0)
        # ffmpeg trusts the delay/padding only from these encoders (mp3dec.c, mp3_parse_info_tag).
        if first[p : p + 4] in (b"LAME", b"Lavf", b"Lavc") and p + 24 <= len(first):
            delays = int.from_bytes(first[p + 21 : p + 24], "big")
            skip, trim = (delays >> 12) + _MP3_DECODER_DELAY, (delays & 0xFFF) - _MP3_DECODER_DELAY
        # ffmpeg takes a file over 1/16 longer than the header says (tags included) for MP3s joined
        # end to end, and plays every frame it finds, padding and all (mp3dec.c); so do we.
        rest = src.size - start - 4
        if claimed and rest > claimed and rest - claimed > claimed >> 4:
            frames = trim = 0
    elif first[36:40] == b"VBRI":
        claimed, frames = _u32be(first, 46), _u32be(first, 50)
    if frames and not (claimed is not None and claimed > end - start):
        samples = max(0, frames * spf - skip - trim)
    else:
        # No frame count, or the file holds fewer bytes than the header says (cut short: the frames
        # that are there still play, as a decoder would play them): count the frames.
        begin = start + (length if tag in (b"Xing", b"Info") or first[36:40] == b"VBRI" else 0)
        counted = _mp3_walk(src, begin, end, src.at(start, 4), spf)
        if frames:  # a decoder that reaches the last frame the header counts trims its padding
            counted = min(counted, frames * spf - trim)
        samples = max(0, counted - skip)
    return _facts(src, kind, fmt, codec="mp3", sample_rate=rate, channels=channels,
                  duration_s=samples / rate, has_audio=True)


def _behind_id3(src: _Source, start: int) -> MediaFacts | None:
    """Facts for a non-MP3 payload behind an ID3v2 tag (FLAC, AC-3, …), or None when it may be MP3."""
    payload = src.at(start, 4096)
    if payload[:4] == b"fLaC":
        return _flac(src, "audio", "flac", start)
    if payload[:2] == b"\x0b\x77":
        return _ac3(src, start)
    if _mp3_frame(payload, 0) is not None:
        return None
    kind, fmt = sniff(payload)
    if fmt is not None and fmt != "mp3":  # as when the tag is small enough for sniff() to see past
        return _general(src, kind, fmt)
    return None


def _mp3_audio_end(src: _Source, start: int) -> int:
    """End of the MPEG audio: the file end less any ID3v1 and APEv2 tags (in either order)."""
    end = src.size
    for _ in range(4):
        if end - 128 >= start and src.at(end - 128, 3) == b"TAG":
            end -= 128
            continue
        footer = src.at(end - 32, 32)
        if len(footer) == 32 and footer[:8] == b"APETAGEX":
            size, flags = _u32le(footer, 12), _u32le(footer, 20)
            total = size + (32 if flags & 0x80000000 else 0)  # the footer's size excludes a header
            if 32 <= size and end - total >= start:
                end -= total
                continue
        break
    return end


def _mp3_walk(src: _Source, start: int, end: int, header: bytes, spf: int) -> int:
    """Samples in the MPEG audio frames from ``start`` to ``end``, counted frame by frame.

    Frames must share the first frame's version, layer and sample rate (ffmpeg's rule too); junk
    between frames is skipped by searching for the next header that another header follows. Past
    ``_MP3_WALK_BYTES`` or ``_MP3_WALK_FRAMES`` the rest is extrapolated from the average frame size.
    """
    same1, same2 = header[1] & 0xFE, header[2] & 0x0C
    version = (header[1] >> 3) & 3
    rate = _MP3_RATES[version][same2 >> 2]
    coef = 144 if version == 3 else 72
    bitrates = _MP3_BITRATES[version == 3]
    lengths = [0] * 256  # third header byte → frame length, 0 where the byte is not a valid header
    for b in range(256):
        if (b & 0x0C) == same2 and 0 < (b >> 4) < 15:
            lengths[b] = coef * bitrates[b >> 4] * 1000 // rate + ((b >> 1) & 1)
    valid = b"".join(re.escape(bytes([b])) for b in range(256) if lengths[b])
    second = re.escape(bytes([same1, same1 | 1]))  # the CRC-protection bit may differ
    pattern = re.compile(b"\\xff[" + second + b"][" + valid + b"]", re.DOTALL)
    tries = [_MP3_RESYNC_TRIES]
    limit = min(end, start + _MP3_WALK_BYTES)
    frames, pos, base, buf = 0, start, start, b""
    while pos < limit and frames < _MP3_WALK_FRAMES:
        i = pos - base
        if i + 4 > len(buf):
            base, buf, i = pos, src.at(pos, min(_MP3_WALK_CHUNK, limit + 4 - pos)), 0
            if len(buf) < 4:
                break
        n = lengths[buf[i + 2]] if buf[i] == 0xFF and (buf[i + 1] & 0xFE) == same1 else 0
        if n:
            if pos + n > end:  # a frame cut off by the file end: ffmpeg still decodes it
                frames += 1
                break
            frames += 1
            pos += n
            continue
        found = _mp3_resync(src, pos + 1, limit, pattern, tries)
        if found is None:
            break
        pos = found
    if pos < end and (pos >= limit or frames >= _MP3_WALK_FRAMES):
        return round(frames * spf * (end - start) / (pos - start))
    return frames * spf


def _mp3_resync(src: _Source, pos: int, end: int, header: re.Pattern, tries: list[int]) -> int | None:
    """Offset of the next frame header at or after ``pos`` that a second header follows, or None.

    ``header`` matches a whole valid header; ``tries[0]`` is how many candidates may still fail
    (shared by one walk, so a file of near-headers costs a bounded time).
    """
    while pos + 4 <= end:
        block = src.at(pos, _MP3_RESYNC_BLOCK)
        for m in header.finditer(block):
            at = pos + m.start()
            frame = _mp3_frame(block, m.start())
            if frame is None:  # the block ends inside this header; the next block starts before it
                continue
            n = frame[0]
            if at + n >= end or header.match(src.at(at + n, 4)):
                return at
            tries[0] -= 1
            if tries[0] <= 0:
                return None
        if len(block) < _MP3_RESYNC_BLOCK:
            return None
        pos += len(block) - 3
    return None


_AC3_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640)


def _ac3(src: _Source, start: int) -> MediaFacts:
    """AC-3 (Dolby Digital) at ``start``: a constant bit rate, so the size gives the duration."""
    h = src.exact(start, 8, "AC-3 frame header")
    fscod, frmsizecod, bsid = h[4] >> 6, h[4] & 0x3F, h[5] >> 3
    if bsid > 10:
        return _facts(src, "audio", "eac3", codec="eac3", has_audio=True)
    if fscod == 3 or frmsizecod >> 1 >= len(_AC3_KBPS):
        raise _Corrupt("AC-3 frame header is invalid")
    rate = (48000, 44100, 32000)[fscod]
    bits = int.from_bytes(h[6:8], "big")  # acmod (3 bits), then the mix levels it calls for, then lfeon
    acmod, shift = bits >> 13, 12
    shift -= 2 if acmod & 1 and acmod != 1 else 0
    shift -= 2 if acmod & 4 else 0
    shift -= 2 if acmod == 2 else 0
    channels = (2, 1, 2, 3, 3, 4, 4, 5)[acmod] + ((bits >> shift) & 1)
    bitrate = _AC3_KBPS[frmsizecod >> 1] * 1000
    end = _mp3_audio_end(src, start)
    return _facts(src, "audio", "ac3", codec="ac3", sample_rate=rate, channels=channels,
                  duration_s=(end - start) * 8 / bitrate, has_audio=True)


def _flac(src: _Source, kind: str, fmt: str, start: int = 0) -> MediaFacts:
    start = start or _audio_start(src)
    if src.at(start, 4) != b"fLaC":
        raise _Corrupt("FLAC stream marker missing")
    off, info = start + 4, None
    for _ in range(1024):
        hdr = src.exact(off, 4, "FLAC metadata")
        length = int.from_bytes(hdr[1:4], "big")
        if hdr[0] & 0x7F == 0 and info is None:
            info = src.exact(off + 4, 34, "FLAC stream info")
        off += 4 + length
        if off > src.size:
            raise _Corrupt("FLAC metadata runs past the end of the file (truncated)")
        if hdr[0] & 0x80:
            break
    if info is None:
        raise _Corrupt("FLAC has no stream info")
    bits = int.from_bytes(info[10:18], "big")
    rate, channels, total = bits >> 44, ((bits >> 41) & 7) + 1, bits & ((1 << 36) - 1)
    if off >= src.size and total:
        raise _Corrupt("FLAC has no audio frames (truncated)")
    return _facts(src, kind, fmt, codec="flac", sample_rate=rate or None, channels=channels,
                  duration_s=total / rate if total and rate else None, has_audio=True)


def _ogg(src: _Source, kind: str, fmt: str) -> MediaFacts:
    page = src.exact(0, 27, "Ogg page")
    nseg = page[26]
    serial = _u32le(page, 14)
    body = src.exact(27 + nseg, 64, "Ogg first packet")
    granule_rate = preskip = 0
    if body[:7] == b"\x01vorbis":
        codec, channels, rate = "vorbis", body[11], _u32le(body, 12)
        granule_rate = rate
    elif body[:8] == b"OpusHead":
        codec, channels, rate = "opus", body[9], _u32le(body, 12)
        preskip, granule_rate = _u16le(body, 10), 48000
    elif body[:5] == b"\x7fFLAC":
        bits = int.from_bytes(body[27:35], "big")
        codec, rate, channels = "flac", bits >> 44, ((bits >> 41) & 7) + 1
        granule_rate = rate
    elif body[:8] == b"Speex   ":
        codec, rate, channels = "speex", _u32le(body, 36), _u32le(body, 48)
        granule_rate = rate
    else:
        raise _Undecided  # theora video, or a codec we do not parse
    tail_start = max(0, src.size - 65536)
    tail = src.at(tail_start, 65536)
    granule = None
    pos = len(tail)
    while (pos := tail.rfind(b"OggS", 0, pos)) >= 0:
        if pos + 27 <= len(tail) and tail[pos + 4] == 0 and _u32le(tail, pos + 14) == serial:
            n = tail[pos + 26]
            seg = tail[pos + 27 : pos + 27 + n]
            if len(seg) < n or pos + 27 + n + sum(seg) > len(tail):
                raise _Corrupt("Ogg stream ends inside a page (truncated)")
            g = struct.unpack_from("<q", tail, pos + 6)[0]
            if g >= 0:
                granule = g
                break
    duration = max(0, granule - preskip) / granule_rate if granule is not None and granule_rate else None
    return _facts(src, kind, fmt, codec=codec, sample_rate=rate or None, channels=channels or None,
                  duration_s=duration, has_audio=True)


# --------------------------------------------------------------------------------------------------
# Matroska and WebM

_EBML_CODECS = {
    "V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_VP8": "vp8", "V_VP9": "vp9",
    "V_AV1": "av1", "V_MJPEG": "mjpeg", "V_THEORA": "theora", "V_PRORES": "prores", "V_FFV1": "ffv1",
    "V_MPEG4/ISO/ASP": "mpeg4", "V_MPEG4/ISO/SP": "mpeg4", "V_MPEG2": "mpeg2video",
    "A_OPUS": "opus", "A_VORBIS": "vorbis", "A_MPEG/L3": "mp3", "A_FLAC": "flac", "A_AC3": "ac3",
    "A_EAC3": "eac3", "A_DTS": "dts", "A_ALAC": "alac",
}
_SEGMENT, _INFO, _TRACKS, _SEEKHEAD, _CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x114D9B74, 0x1F43B675


def _ebml_id(buf: bytes, i: int) -> tuple[int, int]:
    first = buf[i]
    n = 9 - first.bit_length() if first else 0
    if not 1 <= n <= 4:
        raise _Corrupt("invalid Matroska element id")
    return int.from_bytes(buf[i : i + n], "big"), i + n


def _ebml_size(buf: bytes, i: int) -> tuple[int | None, int]:
    first = buf[i]
    n = 9 - first.bit_length() if first else 0
    if not 1 <= n <= 8:
        raise _Corrupt("invalid Matroska element size")
    value = int.from_bytes(buf[i : i + n], "big") & ((1 << (7 * n)) - 1)
    return (None if value == (1 << (7 * n)) - 1 else value), i + n


def _ebml_children(buf: bytes, start: int, end: int):
    i = start
    while i < end:
        eid, i = _ebml_id(buf, i)
        size, i = _ebml_size(buf, i)
        size = end - i if size is None else size
        yield eid, i, min(i + size, end)
        i += size


def _ebml_uint(buf: bytes, p: int, e: int) -> int:
    return int.from_bytes(buf[p:e], "big")


def _ebml_float(buf: bytes, p: int, e: int) -> float | None:
    return struct.unpack(">f" if e - p == 4 else ">d", buf[p:e])[0] if e - p in (4, 8) else None


def _matroska(src: _Source, kind: str, fmt: str) -> MediaFacts:
    head = src.exact(0, 64, "Matroska header")
    _, p = _ebml_id(head, 0)
    size, p = _ebml_size(head, p)
    off = p + (size or 0)
    seg = src.exact(off, 12, "Matroska segment")
    eid, p = _ebml_id(seg, 0)
    if eid != _SEGMENT:
        raise _Corrupt("Matroska file has no segment")
    seg_size, p = _ebml_size(seg, p)
    seg_start = off + p
    if seg_size is not None and seg_start + seg_size > src.size:
        raise _Corrupt(f"Matroska segment claims {seg_size} bytes but the file ends after "
                       f"{src.size - seg_start} (truncated)")
    seg_end = src.size if seg_size is None else seg_start + seg_size
    found: dict[int, bytes] = {}
    seeks: dict[int, int] = {}
    pos = seg_start
    for _ in range(64):
        if _INFO in found and _TRACKS in found:
            break
        hdr = src.at(pos, 12)
        if len(hdr) < 2:
            break
        eid, p = _ebml_id(hdr, 0)
        size, p = _ebml_size(hdr, p)
        if eid in (_INFO, _TRACKS, _SEEKHEAD) and size is not None:
            body = src.exact(pos + p, size, "Matroska header element")
            if eid == _SEEKHEAD:
                seeks.update(_seek_entries(body))
            else:
                found[eid] = body
        if eid == _CLUSTER or size is None:
            missing = [seeks[k] for k in (_INFO, _TRACKS) if k not in found and k in seeks]
            if not missing:
                break
            pos = seg_start + missing[0]
            continue
        pos += p + size
        if pos >= seg_end:
            break
    if _TRACKS not in found:
        raise _Undecided
    info = found.get(_INFO, b"")
    scale, duration = 1_000_000, None
    for eid, p, e in _ebml_children(info, 0, len(info)):
        if eid == 0x2AD7B1:
            scale = _ebml_uint(info, p, e)
        elif eid == 0x4489:
            duration = _ebml_float(info, p, e)
    video = audio = None
    tracks = found[_TRACKS]
    for eid, p, e in _ebml_children(tracks, 0, len(tracks)):
        if eid != 0xAE:
            continue
        t: dict = {}
        for cid, cp, ce in _ebml_children(tracks, p, e):
            if cid == 0x83:
                t["type"] = _ebml_uint(tracks, cp, ce)
            elif cid == 0x86:
                t["codec_id"] = tracks[cp:ce].rstrip(b"\x00").decode("ascii", "replace")
            elif cid == 0x23E383:
                t["default_duration"] = _ebml_uint(tracks, cp, ce)
            elif cid in (0xE0, 0xE1):
                for sid, sp, se in _ebml_children(tracks, cp, ce):
                    if sid == 0xB0:
                        t["width"] = _ebml_uint(tracks, sp, se)
                    elif sid == 0xBA:
                        t["height"] = _ebml_uint(tracks, sp, se)
                    elif sid == 0xB5:
                        t["sample_rate"] = _ebml_float(tracks, sp, se)
                    elif sid == 0x9F:
                        t["channels"] = _ebml_uint(tracks, sp, se)
        if t.get("type") == 1 and video is None:
            video = t
        elif t.get("type") == 2 and audio is None:
            audio = t
    fields: dict = {"has_video": video is not None, "has_audio": audio is not None,
                    "duration_s": duration * scale / 1e9 if duration else None}
    if video is not None:
        dd = video.get("default_duration")
        fields.update(codec=_matroska_codec(video.get("codec_id", "")), width=video.get("width"),
                      height=video.get("height"), fps=_tidy_fps(1e9 / dd) if dd else None)
    if audio is not None:
        rate = audio.get("sample_rate")
        fields.update(sample_rate=int(rate) if rate else 8000, channels=audio.get("channels", 1))
        if video is None:
            fields["codec"] = _matroska_codec(audio.get("codec_id", ""))
    return _facts(src, kind, fmt, **fields)


def _seek_entries(body: bytes) -> dict[int, int]:
    out = {}
    for eid, p, e in _ebml_children(body, 0, len(body)):
        if eid != 0x4DBB:
            continue
        target = position = None
        for cid, cp, ce in _ebml_children(body, p, e):
            if cid == 0x53AB:
                target = _ebml_uint(body, cp, ce)
            elif cid == 0x53AC:
                position = _ebml_uint(body, cp, ce)
        if target is not None and position is not None:
            out[target] = position
    return out


def _matroska_codec(codec_id: str) -> str | None:
    if not codec_id:
        return None
    if codec_id in _EBML_CODECS:
        return _EBML_CODECS[codec_id]
    if codec_id.startswith("A_AAC"):
        return "aac"
    if codec_id.startswith("A_PCM"):
        return "pcm"
    return codec_id.split("_", 1)[-1].lower()


# --------------------------------------------------------------------------------------------------
# Everything else: pymediainfo

_MEDIAINFO_FORMATS = {
    "mpeg-4": "mp4", "quicktime": "mov", "matroska": "mkv", "webm": "webm", "avi": "avi",
    "wave": "wav", "wave64": "wav", "rf64": "wav", "mpeg audio": "mp3", "flac": "flac", "ogg": "ogg",
    "adts": "aac", "aiff": "aiff", "mpeg-ts": "ts", "flash video": "flv", "windows media": "wmv",
    "mpeg-ps": "mpeg",
}
_MEDIAINFO_CODECS = {
    "avc": "h264", "hevc": "hevc", "av1": "av1", "vp8": "vp8", "vp9": "vp9",
    "mpeg-4 visual": "mpeg4", "jpeg": "mjpeg", "prores": "prores", "theora": "theora",
    "ffv1": "ffv1", "mpeg video": "mpeg2video", "aac": "aac", "mpeg audio": "mp3", "pcm": "pcm",
    "flac": "flac", "opus": "opus", "vorbis": "vorbis", "ac-3": "ac3", "e-ac-3": "eac3",
    "alac": "alac", "dts": "dts",
}


def _general(src: _Source, kind: str | None, fmt: str | None) -> MediaFacts:
    try:
        from pymediainfo import MediaInfo
    except ImportError:
        raise PrepError("pymediainfo is not installed: pip install pymediainfo") from None
    try:
        info = MediaInfo.parse(src.path if src.path else src.file())
    except (OSError, RuntimeError, ValueError) as exc:
        if "libmediainfo" in str(exc).lower():
            raise PrepError(f"pymediainfo cannot load libmediainfo: {exc}") from None
        raise _Corrupt(f"cannot read the media: {exc}") from None
    general = next((t for t in info.tracks if t.track_type == "General"), None)
    videos = [t for t in info.tracks if t.track_type == "Video"]
    audios = [t for t in info.tracks if t.track_type == "Audio"]
    if not videos and not audios:
        if fmt is None:
            raise _Corrupt("not a recognised image, video or audio file")
        raise _Corrupt(f"{fmt} file has no readable streams (corrupt or truncated)")
    container = (general.format or "").lower() if general else ""
    if container == "mpeg-4" and (getattr(general, "format_profile", "") or "").lower() == "quicktime":
        container = "quicktime"
    if fmt is None:
        fmt = _MEDIAINFO_FORMATS.get(container, container.replace(" ", "") or None)
    if kind is None or kind == "image":
        kind = "video" if videos or fmt in VIDEO_FORMATS else "audio"
    if fmt in ("mp4", "m4a") and not videos:
        kind, fmt = "audio", "m4a"
    fields: dict = {"has_video": bool(videos), "has_audio": bool(audios)}
    duration_ms = _number(general.duration) if general else None
    if duration_ms:
        fields["duration_s"] = duration_ms / 1000
    if videos:
        v = videos[0]
        fields.update(codec=_MEDIAINFO_CODECS.get((v.format or "").lower(), (v.format or "").lower() or None),
                      width=_int(v.width), height=_int(v.height), fps=_tidy_fps(_number(v.frame_rate)),
                      variable_fps=(v.frame_rate_mode or "").upper() == "VFR",
                      frames=_int(v.frame_count), rotation=int(_number(v.rotation) or 0) % 360)
    if audios:
        a = audios[0]
        fields.update(sample_rate=_int(a.sampling_rate), channels=_int(a.channel_s))
        if not videos:
            fields["codec"] = _MEDIAINFO_CODECS.get((a.format or "").lower(), (a.format or "").lower() or None)
    problem = None
    if general is not None and str(getattr(general, "istruncated", "") or "").lower() == "yes":
        problem = "file is truncated"
    return _facts(src, kind, fmt, problem=problem, **fields)


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value).split("/")[0].split()[0])
    except (ValueError, IndexError):
        return None


def _int(value) -> int | None:
    n = _number(value)
    return int(n) if n is not None else None


# --------------------------------------------------------------------------------------------------
# Small helpers


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


def _u16be(b: bytes, i: int) -> int:
    return struct.unpack_from(">H", b, i)[0]


def _u32be(b: bytes, i: int) -> int:
    return struct.unpack_from(">I", b, i)[0]


def _u64be(b: bytes, i: int) -> int:
    return struct.unpack_from(">Q", b, i)[0]


def _u16le(b: bytes, i: int) -> int:
    return struct.unpack_from("<H", b, i)[0]


def _u32le(b: bytes, i: int) -> int:
    return struct.unpack_from("<I", b, i)[0]


def _u64le(b: bytes, i: int) -> int:
    return struct.unpack_from("<Q", b, i)[0]


_PARSERS: dict[str, Callable[[_Source, str, str], MediaFacts]] = {
    "jpeg": _jpeg, "png": _png, "gif": _gif, "webp": _webp, "bmp": _bmp, "ppm": _ppm, "ico": _ico,
    "tiff": _tiff, "heic": _isobmff, "avif": _isobmff, "mp4": _isobmff, "mov": _isobmff,
    "m4a": _isobmff, "3gp": _isobmff, "wav": _wav, "avi": _avi, "mp3": _mp3, "flac": _flac,
    "ogg": _ogg, "mkv": _matroska, "webm": _matroska,
}
