"""TIFF headers: the first directory's few tags the facts need, read by hand (no Pillow: it reads every
tag, however large), and the directory chain for the page count. What "readable" means is as in
:mod:`.images`."""

from __future__ import annotations

import struct

from prep.model import MediaFacts

from ._base import _Corrupt, _Source
from .images import _EXIF_ROTATION, _image

# TIFF compressions that Pillow (its own decoders and libtiff) or ffmpeg decode. Others — WebP
# (50001; Pillow's libtiff is built without it, ffmpeg lacks it), JPEG XL (50002, 52546), LERC
# (34887), JPEG 2000 (34712, 33003, 33005), JBIG (9, 10, 34661) and camera-raw codecs — none does.
_TIFF_CODECS = {1: "none", 2: "CCITT RLE", 3: "CCITT G3", 4: "CCITT G4", 5: "LZW", 6: "old-style JPEG",
                7: "JPEG", 8: "Deflate", 32771: "NeXT raw", 32773: "PackBits", 32809: "ThunderScan",
                32946: "Deflate", 34676: "SGILog", 34677: "SGILog24", 34892: "lossy JPEG (DNG)",
                34925: "LZMA", 50000: "Zstandard"}
_TIFF_UNREAD = {9: "JBIG", 10: "JBIG", 33003: "JPEG 2000", 33005: "JPEG 2000", 34661: "JBIG",
                34712: "JPEG 2000", 34887: "LERC", 50001: "WebP", 50002: "JPEG XL", 52546: "JPEG XL"}
# The tags the facts need: size, bits and samples, compression, photometric interpretation, strips and
# tiles, orientation, planar configuration, extra samples. Only these are read; a directory's other tags (a Photoshop layer block, an
# ICC profile, XMP) are skipped however large they are.
_TIFF_TAGS = {256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 284, 322, 323, 324, 325, 338}
_TIFF_INTEGER = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}
_TIFF_ENTRIES = 4096  # entries in one directory (real files have a few dozen)
_TIFF_ARRAYS = (273, 279, 324, 325)  # strip and tile offsets and byte counts
_TIFF_VALUES = 1 << 20  # of those, at most (a million strips); of the other tags, the first 64 are read
_TIFF_FRAMES = 4096  # directories counted, at most
_TIFF_MAX_SAMPLES = 6  # Pillow reads at most 6 samples per pixel, ffmpeg fewer


def _tiff(src: _Source, kind: str, fmt: str) -> MediaFacts:
    e, big, first = _tiff_header(src)
    tags, _ = _tiff_directory(src, e, big, first)
    if 256 not in tags or 257 not in tags:
        raise _Corrupt("TIFF has no image width or length")
    width, height = tags[256][0], tags[257][0]
    compression = tags.get(259, (1,))[0]
    if compression not in _TIFF_CODECS:
        name = _TIFF_UNREAD.get(compression, "unknown")
        raise _Corrupt(f"TIFF compression {compression} ({name}): neither Pillow (libtiff) nor ffmpeg decodes it")
    samples, bits = tags.get(277, (1,))[0], tags.get(258, (1,))
    if not 1 <= samples <= _TIFF_MAX_SAMPLES or not all(1 <= b <= 64 for b in bits):
        raise _Corrupt(f"TIFF pixels of {samples} samples of {'/'.join(map(str, bits))} bits: "
                       "neither Pillow nor ffmpeg decodes them")
    if width > 0 and height > 0:
        end = _tiff_data_end(tags, width, height, compression)
        if end > src.size:
            raise _Corrupt(f"TIFF image data runs past the end of the file ({end} > {src.size} bytes; "
                           "truncated)")
    rotation = _EXIF_ROTATION.get(tags.get(274, (1,))[0], 0)
    frames = _tiff_frames(src, e, big, first)
    return _image(src, kind, fmt, width, height, rotation=rotation, frames=frames if frames > 1 else None,
                  color_mode=_tiff_color_mode(tags.get(262, (-1,))[0], samples, tags.get(338, ())))


# Photometric interpretations: 0/1 grey (white or black is zero), 2 RGB, 3 palette, 5 separated (CMYK),
# 6 YCbCr (decoded to RGB), 8/9/10 CIE, ICC and ITU L*a*b*.
_TIFF_PHOTOMETRIC = {0: "gray", 1: "gray", 2: "rgb", 3: "palette", 5: "cmyk", 6: "rgb", 8: "lab", 9: "lab", 10: "lab"}
_TIFF_COLOUR_SAMPLES = {"gray": 1, "rgb": 3, "palette": 1, "cmyk": 4, "lab": 3}


def _tiff_color_mode(photometric: int, samples: int, extra: tuple[int, ...]) -> str | None:
    """The colour mode of the first page: an extra sample is alpha unless ExtraSamples says 0 (unspecified
    data), as Pillow reads it; None for interpretations it has no mode for (masks, LogLuv…)."""
    mode = _TIFF_PHOTOMETRIC.get(photometric)
    if mode is None:
        return None
    if photometric == 6:  # subsampled YCbCr: 3 samples decoded to RGB
        return "rgb" if samples == 3 else None
    if samples > _TIFF_COLOUR_SAMPLES[mode] and mode in ("gray", "rgb") and extra[:1] != (0,):
        return mode + "a"
    return mode


def _tiff_header(src: _Source) -> tuple[str, bool, int]:
    """Byte order (a struct prefix), BigTIFF or not, and the offset of the first directory."""
    head = src.exact(0, 16 if src.head[2:4] in (b"+\x00", b"\x00+") else 8, "TIFF header")
    e = "<" if head[:2] == b"II" else ">"
    big = struct.unpack_from(e + "H", head, 2)[0] == 43
    if big and struct.unpack_from(e + "HH", head, 4) != (8, 0):
        raise _Corrupt("BigTIFF header gives an offset size other than 8")
    return e, big, struct.unpack_from(e + ("Q" if big else "I"), head, 8 if big else 4)[0]


def _tiff_directory(src: _Source, e: str, big: bool, at: int) -> tuple[dict[int, tuple[int, ...]], int]:
    """The integer values of the tags in :data:`_TIFF_TAGS` of the directory at ``at``, and the
    offset of the next directory (0 at the end of the chain)."""
    count_size, entry, value_at, offset_format = (8, 20, 12, "Q") if big else (2, 12, 8, "I")
    count = struct.unpack(e + ("Q" if big else "H"), src.exact(at, count_size, "TIFF directory"))[0]
    if not 0 < count <= _TIFF_ENTRIES:
        raise _Corrupt(f"TIFF directory at byte {at} has {count} entries")
    table = src.exact(at + count_size, count * entry, "TIFF directory")
    tags: dict[int, tuple[int, ...]] = {}
    for p in range(0, len(table), entry):
        tag, typ = struct.unpack_from(e + "HH", table, p)
        if tag not in _TIFF_TAGS or typ not in _TIFF_INTEGER or tag in tags:
            continue
        n = struct.unpack_from(e + offset_format, table, p + 4)[0]
        if not 0 < n <= _TIFF_VALUES:
            raise _Corrupt(f"TIFF tag {tag} has {n} values")
        unit = struct.calcsize(_TIFF_INTEGER[typ])
        if n * unit <= (8 if big else 4):  # the values fit the entry's value field
            data = table[p + value_at : p + value_at + n * unit]
        else:
            n = n if tag in _TIFF_ARRAYS else min(n, 64)
            data = src.exact(struct.unpack_from(e + offset_format, table, p + value_at)[0], n * unit, f"TIFF tag {tag}")
        tags[tag] = struct.unpack(f"{e}{n}{_TIFF_INTEGER[typ]}", data)
    link = src.at(at + count_size + count * entry, struct.calcsize(offset_format))
    following = struct.unpack(e + offset_format, link)[0] if len(link) == struct.calcsize(offset_format) else 0
    return tags, following


def _tiff_frames(src: _Source, e: str, big: bool, first: int) -> int:
    """The number of directories (pages) in the chain, counting at most ``_TIFF_FRAMES``; the walk
    reads each directory's entry count and link, never its entries."""
    count_size, entry, offset_format = (8, 20, "Q") if big else (2, 12, "I")
    ifd, seen = first, set[int]()
    while ifd and ifd not in seen and len(seen) < _TIFF_FRAMES:
        seen.add(ifd)
        count_bytes = src.at(ifd, count_size)
        if len(count_bytes) < count_size:
            break
        count = struct.unpack(e + ("Q" if big else "H"), count_bytes)[0]
        link = src.at(ifd + count_size + count * entry, struct.calcsize(offset_format))
        if len(link) < struct.calcsize(offset_format):
            break
        ifd = struct.unpack(e + offset_format, link)[0]
    return len(seen)


def _tiff_data_end(tags: dict[int, tuple[int, ...]], width: int, height: int, compression: int) -> int:
    """Where the first image's data ends. Uncompressed strips are judged by the bytes their rows need,
    as Pillow and libtiff read them (libtiff replaces a byte count larger than the file); compressed
    strips and tiles by their byte counts."""
    tiled = 324 in tags
    offsets = tags.get(324 if tiled else 273, ())
    counts = tags.get(325 if tiled else 279, ())
    if compression != 1 or tiled or not offsets:
        return max((o + c for o, c in zip(offsets, counts, strict=False)), default=0)
    samples = tags.get(277, (1,))[0]
    planar = tags.get(284, (1,))[0] == 2
    row = (width * tags.get(258, (1,))[0] * (1 if planar else samples) + 7) // 8
    per_strip = max(1, min(tags.get(278, (height,))[0], height))
    strips = -(-height // per_strip) * (samples if planar else 1)
    if len(offsets) < strips:
        raise _Corrupt(f"TIFF has {len(offsets)} strip offsets for {strips} strips")
    per_plane = -(-height // per_strip)
    return max(offsets[i] + min(per_strip, height - (i % per_plane) * per_strip) * row for i in range(strips))
