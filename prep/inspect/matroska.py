"""Matroska and WebM (EBML): rejected containers, read for kind, size and duration."""

from __future__ import annotations

import struct

from prep.model import MediaFacts

from ._base import _Corrupt, _facts, _Source, _tidy_fps, _Undecided

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
        fields.update(sample_rate=int(rate) if rate else 8000, channels=audio.get("channels", 1),
                      audio_codec=_matroska_codec(audio.get("codec_id", "")))
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
