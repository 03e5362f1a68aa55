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
    bytes are enough; 4 KiB is plenty, except for Matroska/WebM, whose track types are looked for in
    the first 64 KiB (an audio-only file is audio).
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
    if len(h) >= 18 and h[:2] == b"BM" and 12 <= _u32le(h, 14) <= 1024:  # the BMP parser judges odd header sizes
        return "image", "bmp"
    if len(h) >= 3 and h[0:1] == b"P" and h[1:2] in b"1234567fF" and h[2:3] in b" \t\r\n#":
        return "image", "ppm"  # PBM, PGM, PPM, PAM (P7) and PFM (Pf, PF): Pillow's PPM family
    if len(h) >= 22 and h[:4] == b"\x00\x00\x01\x00" and _u16le(h, 4) > 0 and h[9] == 0:
        return "image", "ico"
    if h[:4] == b"\x1aE\xdf\xa3":  # before the QuickTime box test, which 4 bytes of size could fool
        return _sniff_matroska(head)
    if len(h) >= 12 and h[4:8] == b"ftyp":
        return _sniff_ftyp(h)
    if len(h) >= 8 and h[4:8] in _QT_FIRST_BOXES and _u32be(h, 0) >= 8:
        return "video", "mov"
    if h[:4] == b"OggS":
        return ("video" if b"\x80theora" in h[:512] else "audio"), "ogg"
    if h[:4] == b"fLaC":
        return "audio", "flac"
    if len(h) >= 12 and h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"):
        return "audio", "aiff"
    if h[:3] == b"ID3" and len(h) >= 10:
        after = 0
        while h[after : after + 3] == b"ID3" and after + 10 <= len(h):  # tags in a row: each >= 10 bytes
            after += _id3_end(h[after : after + 10])
        if after < len(h):
            kind, fmt = sniff(h[after:])
            if kind == "audio":
                return kind, fmt
        return "audio", "mp3"
    if _mp3_frame(h, 0) is not None:
        return "audio", "mp3"
    if len(h) >= 7 and h[0] == 0xFF and (h[1] & 0xF6) == 0xF0 and ((h[2] >> 2) & 0xF) < 13:
        return "audio", "aac"
    return _sniff_rejected(h)


# Formats the API rejects, named by a magic number at byte 0 (so that `check` says "format psd"
# rather than "not recognised" even when libmediainfo is not there to name them).
_REJECTED_MAGIC = (
    (b"8BPS", "image", "psd"), (b"qoif", "image", "qoi"), (b"icns", "image", "icns"), (b"DDS ", "image", "dds"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image", "jpeg2000"), (b"\xffO\xffQ", "image", "jpeg2000"),
    (b"BLP1", "image", "blp"), (b"BLP2", "image", "blp"), (b"%!PS", "image", "eps"), (b"\xc5\xd0\xd3\xc6", "image", "eps"),
    (b"SIMPLE  =", "image", "fits"), (b"/* XPM */", "image", "xpm"), (b"\x59\xa6\x6a\x95", "image", "sun"),
    (b"MAC ", "audio", "ape"), (b"wvpk", "audio", "wv"), (b"TTA1", "audio", "tta"), (b"MPCK", "audio", "mpc"),
    (b"MP+", "audio", "mpc"), (b"tBaK", "audio", "tak"), (b"DSD ", "audio", "dsf"), (b"FRM8", "audio", "dff"),
    (b"caff", "audio", "caf"), (b"#!AMR", "audio", "amr"), (b".snd", "audio", "au"), (b"MThd", "audio", "midi"),
    (b"\x00\x00\x01\xba", "video", "mpeg"), (b".RMF", "video", "rm"),
)
_ASF = b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"
_ASF_VIDEO_STREAM = b"\xc0\xef\x19\xbc\x4d\x5b\xcf\x11\xa8\xfd\x00\x80\x5f\x5c\x44\x2b"


def _sniff_rejected(h: bytes) -> tuple[str | None, str | None]:
    for magic, kind, fmt in _REJECTED_MAGIC:
        if h.startswith(magic):
            return kind, fmt
    if h.startswith(_ASF):  # WMV or WMA: a video stream's type GUID in the header, else audio
        return ("video" if _ASF_VIDEO_STREAM in h else "audio"), "asf"
    if h[:4] == b"FLV\x01" and len(h) >= 5:  # flags: 1 video, 4 audio
        return ("video" if h[4] & 1 else "audio"), "flv"
    if len(h) >= 4 and h[:2] == b"\x01\xda" and h[2] in (0, 1) and h[3] in (1, 2):
        return "image", "sgi"
    if len(h) >= 4 and h[0] == 0x0A and h[1] in (0, 2, 3, 4, 5) and h[2] == 1 and h[3] in (1, 2, 4, 8):
        return "image", "pcx"
    if len(h) >= 6 and h[:4] == b"\x00\x00\x02\x00" and _u16le(h, 4) > 0:
        return "image", "cur"
    if h[:8] == b"#define " and b"_width " in h[:128]:
        return "image", "xbm"
    if len(h) > 376 and h[0] == h[188] == h[376] == 0x47:
        return "video", "ts"
    return None, None


def _sniff_ftyp(h: bytes) -> tuple[str, str]:
    size = max(16, min(_u32be(h, 0), len(h)))
    brands = {h[8:12]} | {h[i : i + 4] for i in range(16, size - 3, 4)}
    if brands & {b"avif", b"avis"}:
        return ("video" if h[8:12] == b"avis" else "image"), "avif"  # an AVIF sequence is a video to ffmpeg
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
# Matroska and WebM: the doc type, and whether the tracks hold any video, from the first 64 KiB only
# (no element is read beyond what is already there, whatever size it claims).

_MATROSKA_SNIFF = 64 * 1024
_EBML_DOCTYPE, _SEGMENT, _TRACKS, _TRACK_ENTRY, _TRACK_TYPE = 0x4282, 0x18538067, 0x1654AE6B, 0xAE, 0x83
_VIDEO_TRACK_TYPES = (1, 3)  # video, complex (video and audio in one track)
_AUDIO_TRACK = 2


def _sniff_matroska(head: bytes) -> tuple[str, str]:
    buf = bytes(head[:_MATROSKA_SNIFF])
    header = _ebml_element(buf, 0)
    if header is None or header[1] is None:
        return "video", "mkv"
    _, size, start = header[0], header[1], header[2]
    fmt = "mkv"
    for eid, p, e in _ebml_children(buf, start, start + size):
        if eid == _EBML_DOCTYPE:
            fmt = "webm" if buf[p:e].rstrip(b"\x00") == b"webm" else "mkv"
    segment = _ebml_element(buf, start + size)
    if segment is None or segment[0] != _SEGMENT:
        return "video", fmt
    pos = segment[2]
    for _ in range(64):  # the elements before Tracks: SeekHead, Void, Info, Tags, ...
        element = _ebml_element(buf, pos)
        if element is None or element[1] is None:
            break
        eid, size, p = element[0], element[1], element[2]
        if eid == _TRACKS:
            types = [t for entry, ep, ee in _ebml_children(buf, p, p + size) if entry == _TRACK_ENTRY
                     for t in _track_types(buf, ep, ee)]
            complete = p + size <= len(buf)
            if complete and _AUDIO_TRACK in types and not any(t in _VIDEO_TRACK_TYPES for t in types):
                return "audio", fmt
            break
        pos = p + size
    return "video", fmt


def _track_types(buf: bytes, start: int, end: int) -> list[int]:
    return [int.from_bytes(buf[p:e], "big") for eid, p, e in _ebml_children(buf, start, end) if eid == _TRACK_TYPE]


def _ebml_element(buf: bytes, i: int) -> tuple[int, int | None, int] | None:
    """``(id, size, data start)`` of the element at ``i`` (size None: unknown), or None when its
    header is invalid or does not fit in ``buf``."""
    if i >= len(buf):
        return None
    n = 9 - buf[i].bit_length()
    if not 1 <= n <= 4 or i + n >= len(buf):
        return None
    eid, i = int.from_bytes(buf[i : i + n], "big"), i + n
    m = 9 - buf[i].bit_length()
    if not 1 <= m <= 8 or i + m > len(buf):
        return None
    size = int.from_bytes(buf[i : i + m], "big") & ((1 << (7 * m)) - 1)
    return eid, (None if size == (1 << (7 * m)) - 1 else size), i + m


def _ebml_children(buf: bytes, start: int, end: int):
    """``(id, data start, data end)`` of the whole children in ``buf[start:end]`` (end capped at the
    buffer); stops at the first child that is invalid, of unknown size or cut by the buffer."""
    end = min(end, len(buf))
    while start < end:
        element = _ebml_element(buf, start)
        if element is None or element[1] is None or element[2] + element[1] > end:
            return
        eid, size, p = element[0], element[1], element[2]
        yield eid, p, p + size
        start = p + size
