"""The box structure of ISO base media files (MP4, MOV, M4A, 3GP): walking a parent's boxes, finding
a child by its path, bounded against hostile nesting."""

from __future__ import annotations

import struct
from _thread import _local

from ._base import _Corrupt, _fourcc

# Boxes in one parent: a moov holds a few tracks, a track a dozen boxes, a tag list a few hundred. A
# parent packed with more (a hostile 64 MiB moov of 8-byte boxes holds 8 million) is not walked.
_CHILDREN_MAX = 65536


_HEADER = struct.Struct(">I4s")
_LARGE = struct.Struct(">Q")


def _boxes(buf: bytes, start: int, end: int):
    """Yield ``(type, payload_start, box_end)`` for the boxes in ``buf[start:end]``."""
    i, seen = start, 0
    while i + 8 <= end:
        seen += 1
        if seen > _CHILDREN_MAX:
            raise _too_many()
        size, typ = _HEADER.unpack_from(buf, i)
        hdr = 8
        if size == 1:
            size, hdr = _LARGE.unpack_from(buf, i + 8)[0], 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            raise _overrun(typ)
        yield typ, i + hdr, i + size
        i += size


def _too_many() -> _Corrupt:
    return _Corrupt(f"more than {_CHILDREN_MAX:,} boxes in one box (corrupt or hostile)")


def _overrun(typ: bytes) -> _Corrupt:
    return _Corrupt(f"'{_fourcc(typ)}' box overruns its parent (corrupt or truncated)")


def _child(buf: bytes, start: int, end: int, *path: bytes) -> tuple[int, int] | None:
    """The first box of each type in ``path``, each inside the one before (as found by walking)."""
    for name in path:
        index, error = _index(buf, start, end)
        found = index.get(name)
        if found is None:
            if error is not None:  # a broken box came before any box of this type
                raise error
            return None
        start, end = found
    return start, end


def _find(buf: bytes, start: int, end: int, *path: bytes) -> tuple[int, int] | None:
    """:func:`_child` without the index: for buffers read once each (every 'moof' of a fragmented
    file), which the index's cache must not keep alive."""
    for name in path:
        for typ, p, e in _boxes(buf, start, end):
            if typ == name:
                start, end = p, e
                break
        else:
            return None
    return start, end


Index = tuple[dict[bytes, tuple[int, int]], "_Corrupt | None"]  # what _index gives: the boxes, and an error


def _get(index: Index, name: bytes) -> tuple[int, int] | None:
    """The first box of type ``name`` in an :func:`_index` (as :func:`_child` finds it: a broken box
    before any box of that type is the parent's error)."""
    found = index[0].get(name)
    if found is None and index[1] is not None:
        raise index[1]
    return found


class _Indexes(_local):
    """This thread's box indexes of the buffer it reads now (one file's ``moov``)."""

    def __init__(self) -> None:
        self.buf: bytes | None = None
        self.spans: dict[tuple[int, int], Index] = {}


_indexes = _Indexes()


def _index(buf: bytes, start: int, end: int) -> Index:
    """The first box of each type in ``buf[start:end]``, and the error that stopped the walk, if one
    did. Each parent is walked once per file however many children are looked up in it: the indexes
    of the buffer last asked about are kept (per thread, by identity: hashing a large ``moov`` would
    cost more than walking it) until another buffer is asked about or :func:`_forget` is called."""
    cache = _indexes
    if buf is not cache.buf:
        cache.buf, cache.spans = buf, {}
    found = cache.spans.get((start, end))
    if found is None:
        found = cache.spans[(start, end)] = _walk(buf, start, end)
    return found


def _walk(buf: bytes, start: int, end: int) -> Index:
    """:func:`_index` without the cache."""
    index: dict[bytes, tuple[int, int]] = {}
    i, seen = start, 0
    unpack = _HEADER.unpack_from
    while i + 8 <= end:  # _boxes, inlined: this walk is most of an MP4's cost
        seen += 1
        if seen > _CHILDREN_MAX:
            return index, _too_many()
        size, typ = unpack(buf, i)
        hdr = 8
        if size == 1:
            size, hdr = _LARGE.unpack_from(buf, i + 8)[0], 16
        elif size == 0:
            size = end - i
        if size < hdr or i + size > end:
            return index, _overrun(typ)
        if typ not in index:
            index[typ] = (i + hdr, i + size)
        i += size
    return index, None


def _forget() -> None:
    """Drop this thread's cached indexes (after each file: see :func:`_index`)."""
    _indexes.buf, _indexes.spans = None, {}
