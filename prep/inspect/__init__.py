"""File, bytes or ``data:`` URL → :class:`~prep.model.MediaFacts`, judged by content, never by name.

The formats the API accepts are read by small header parsers that touch only the bytes they need (a
few kilobytes, plus the ``moov`` box of an MP4 wherever it sits), so a 50 MB clip costs what a 50 kB
one does. Two kinds read more, in bounded steps: an MP3 without a frame count (its frame headers)
and a fragmented MP4 (each ``moof`` box, never the media between them). No read is larger than a
sane bound for what it reads, and none imports Pillow.

The formats the API rejects (AVI, FLAC, Ogg, Matroska/WebM, PPM, ICO, HEIC/AVIF, AIFF, AAC...) need
only their kind and format, which the sniffer gives; libmediainfo (pymediainfo) adds the rest, and
reads what nothing else recognises, in a worker process bounded in time and memory
(:mod:`.worker`). When it is not installed, times out or dies, the file gets the sniffed facts and
``unjudged`` says why; the run goes on.

Bad media never raises: an empty, truncated, corrupt or unrecognised file comes back as facts with
``problem`` set to a one-line reason. Only a path that cannot be opened raises (``FileNotFoundError``,
``PermissionError``, ``IsADirectoryError``).

Facts are what the file says, in these units: ``width``/``height`` in stored pixels (before any
rotation), ``rotation`` in clockwise degrees that turn the stored picture upright (EXIF orientation
or the MP4 track matrix; mirroring is ignored), ``duration_s`` in seconds, ``fps`` in
frames per second (the exact nominal rate when frames are evenly spaced, else the average). Both are
finite and never negative: a header that says otherwise is a ``problem``.

One module per container family: ``sniff`` (kind and format from the first bytes), ``images``
(JPEG, PNG, GIF, WebP, BMP), ``tiff``, ``isobmff`` (MP4/MOV/M4A/3GP, fragmented MP4) with ``boxes``
(the box walk) and ``sample_entries`` (codecs, channels, encryption), ``mp3`` (MPEG audio, AC-3 behind
ID3), ``riff`` (WAV), ``mediainfo`` (the fallback's facts) and ``worker`` (the process that bounds it),
and ``_base`` (the shared source reader and byte helpers).
"""

from __future__ import annotations

import binascii
import math
import os
import re
import stat
import struct
import tempfile
from collections.abc import Callable
from urllib.parse import unquote, unquote_to_bytes

from prep.model import MediaFacts, PrepError

from ._base import (
    _DATA_URL_SLICE_CHARS,
    _DATA_URL_SPOOL_CHARS,
    AUDIO_FORMATS,
    IMAGE_FORMATS,
    VIDEO_FORMATS,
    Read,
    _Corrupt,
    _one_line,
    _Source,
    _Undecided,
)
from .headers import header_size
from .images import _bmp, _gif, _jpeg, _png, _webp
from .isobmff import _isobmff
from .mediainfo import _general
from .mp3 import _mp3
from .riff import _wav
from .sniff import sniff
from .tiff import _tiff

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
# Dispatch


def _inspect(src: _Source) -> MediaFacts:
    if src.size == 0:
        return MediaFacts(None, None, 0, problem="file is empty", source=src.name)
    kind, fmt = sniff(src.head)
    parser = _PARSERS.get(fmt) if fmt else None
    try:
        if parser is None or kind is None or fmt is None:  # a rejected format (the sniff decides
            return _finite(header_size(src, kind, fmt) or _general(src, kind, fmt))  # `check`), or unknown
        try:
            return _finite(parser(src, kind, fmt))
        except _Undecided:  # the sniff was a guess its parser could not confirm
            return _finite(_general(src, kind, fmt, guessed=True))
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


def _finite(facts: MediaFacts) -> MediaFacts:
    """A duration or rate that is not a finite, non-negative number comes from a broken header: it
    becomes a problem, never a fact (``inspect --format json`` writes strict JSON)."""
    for field, name in (("duration_s", "duration"), ("fps", "frame rate")):
        value = getattr(facts, field)
        if value is not None and not 0 <= value < math.inf:  # NaN fails every comparison
            facts = facts._replace(**{field: None}, problem=facts.problem or f"its header gives a {name} of {value}")
    return facts


# The hand-written fast path: the formats the API accepts (and M4A/3GP, read by the MP4 parser).
# Everything else (AVI, FLAC, Ogg, Matroska/WebM, PPM, ICO, HEIC/AVIF, AIFF, AAC...) is rejected by
# format; the sniff gives its kind and format and the fallback (mediainfo.py) the rest.
_PARSERS: dict[str, Callable[[_Source, str, str], MediaFacts]] = {
    "jpeg": _jpeg, "png": _png, "gif": _gif, "webp": _webp, "bmp": _bmp, "tiff": _tiff,
    "mp4": _isobmff, "mov": _isobmff, "m4a": _isobmff, "3gp": _isobmff, "wav": _wav, "mp3": _mp3,
}
