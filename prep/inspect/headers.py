"""Sizes of rejected image formats whose header is a few plain fields: the PPM family (PBM, PGM,
PPM, PAM, PFM), SGI, QOI and PCX.

The API refuses these formats, so no rule needs more than their kind and format; ``fix`` does: it
converts them, and plans the conversion (a resize into the side range, a pad into the ratio range)
from the size. libmediainfo, the fallback for rejected formats, reads none of their sizes (and PCX's
one pixel short), so they are read here, each as Pillow's plugin reads it (``PpmImagePlugin``,
``SgiImagePlugin``, ``QoiImagePlugin``, ``PcxImagePlugin``); tests/oracle compares them with Pillow on
its own test corpus. A header these readers cannot follow returns None and the fallback decides.
"""

from __future__ import annotations

from prep.model import MediaFacts

from ._base import _facts, _Source, _u16be, _u16le, _u32be

_PNM_WHITESPACE = b" \t\r\n\x0b\x0c"
_PNM_MODES = {b"P1": "gray", b"P4": "gray", b"P2": "gray", b"P5": "gray", b"P3": "rgb", b"P6": "rgb", b"PF": "rgb",
              b"Pf": "gray"}
_PAM_MODES = {b"BLACKANDWHITE": "gray", b"GRAYSCALE": "gray", b"RGB": "rgb", b"GRAYSCALE_ALPHA": "graya",
              b"RGB_ALPHA": "rgba"}
_CHANNEL_MODES = {1: "gray", 2: "graya", 3: "rgb", 4: "rgba"}
# (width, height, colour mode in the inspector's names, or None)
_Read = tuple[int, int, "str | None"]


def header_size(src: _Source, kind: str | None, fmt: str | None) -> MediaFacts | None:
    """The facts of a rejected image whose size the header gives, else None."""
    reader = _READERS.get(fmt or "")
    if reader is None or kind != "image":
        return None
    read = reader(src.head)
    if read is None or read[0] <= 0 or read[1] <= 0:
        return None
    return _facts(src, kind, fmt, width=read[0], height=read[1], color_mode=read[2])


def _pnm(head: bytes) -> _Read | None:
    """``P<n>`` then width, height (and maxval), separated by whitespace, with ``#`` comments to the
    end of a line; PAM (``P7``) writes ``WIDTH n`` / ``HEIGHT n`` lines up to ``ENDHDR``."""
    magic = head[:2]
    if magic == b"P7":
        return _pam(head)
    if magic not in _PNM_MODES:
        return None
    tokens: list[bytes] = []
    i, n = 2, len(head)
    while len(tokens) < 2 and i < n:
        c = head[i:i + 1]
        if c in _PNM_WHITESPACE:
            i += 1
        elif c == b"#":
            while i < n and head[i:i + 1] not in b"\r\n":
                i += 1
        else:
            start = i
            while i < n and head[i:i + 1] not in _PNM_WHITESPACE and head[i:i + 1] != b"#":
                i += 1
            tokens.append(head[start:i])
    if len(tokens) < 2 or not all(t.isdigit() and len(t) <= 9 for t in tokens):
        return None
    return int(tokens[0]), int(tokens[1]), _PNM_MODES[magic]


def _pam(head: bytes) -> _Read | None:
    fields: dict[bytes, bytes] = {}
    for line in head[2:].split(b"\n"):
        words = line.split()
        if words[:1] == [b"ENDHDR"]:
            break
        if len(words) == 2 and not words[0].startswith(b"#"):
            fields[words[0]] = words[1]
    width, height = fields.get(b"WIDTH", b""), fields.get(b"HEIGHT", b"")
    if not (width.isdigit() and height.isdigit() and len(width) <= 9 and len(height) <= 9):
        return None
    return int(width), int(height), _PAM_MODES.get(fields.get(b"TUPLTYPE", b""))


def _sgi(head: bytes) -> _Read | None:
    """Big-endian: magic 474, storage, bytes per channel, dimension, then xsize and ysize (taken as
    written, whatever the dimension field says, as Pillow and libsgi take them)."""
    if len(head) < 12:
        return None
    return _u16be(head, 6), _u16be(head, 8), _CHANNEL_MODES.get(_u16be(head, 10))


def _qoi(head: bytes) -> _Read | None:
    """``qoif``, width and height (big-endian), then the channel count (3 or 4)."""
    return (_u32be(head, 4), _u32be(head, 8), _CHANNEL_MODES.get(head[12])) if len(head) >= 14 else None


def _pcx(head: bytes) -> _Read | None:
    """The window xmin, ymin, xmax, ymax (little-endian, inclusive): width is xmax − xmin + 1."""
    if len(head) < 12:
        return None
    xmin, ymin, xmax, ymax = (_u16le(head, o) for o in (4, 6, 8, 10))
    return xmax - xmin + 1, ymax - ymin + 1, None


_READERS = {"ppm": _pnm, "sgi": _sgi, "qoi": _qoi, "pcx": _pcx}
