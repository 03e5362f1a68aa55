"""FLAC: a rejected format, judged by its sniffed kind and format; the fallback reads the rest.

Only :func:`_flac` is left, for ``mp3.py``: a FLAC stream behind an ID3 tag (the sniffer sees the
tag first) gets the same facts as a bare FLAC file.
"""

from __future__ import annotations

from prep.model import MediaFacts

from ._base import _Source
from .mediainfo import _general


def _flac(src: _Source, kind: str, fmt: str, start: int = 0) -> MediaFacts:
    return _general(src, kind, fmt)
