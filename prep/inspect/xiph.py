"""FLAC and Ogg (Vorbis, Opus, FLAC): rejected formats, read for kind and duration."""

from __future__ import annotations

import struct

from prep.model import MediaFacts

from ._base import _audio_start, _Corrupt, _facts, _Source, _u16le, _u32le, _Undecided


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
