"""Content sniffing: the kind and format of a file from its first bytes, never its name."""

from __future__ import annotations

from ._base import _id3_end, _u16le, _u32be, _u32le
from .mp3 import _mp3_frame

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
