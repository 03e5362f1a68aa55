"""ISO base media files: MP4, MOV, M4A and 3GP (including fragmented MP4).

HEIF images (HEIC, AVIF) share the box structure but are a rejected format: the sniffer names them and
pymediainfo reads the rest (see ``prep.inspect``). The box walking is in :mod:`.boxes`, the sample
entries (codecs, channels, encryption) in :mod:`.sample_entries`."""

from __future__ import annotations

import math
import operator
import struct

from prep.model import MediaFacts

from ._base import _Corrupt, _facts, _fourcc, _Source, _tidy_fps, _u16be, _u32be, _u64be
from .boxes import Index, _boxes, _child, _find, _forget, _get, _index
from .sample_entries import (
    _audio_entry,
    _dolby_vision,
    _entry_children,
    _protection,
    _video_codec,
)

# The largest box of each kind read whole into memory. A moov indexes every sample: a 2-hour 60 fps
# film with AAC audio needs a few MB (4-byte sizes, offsets and timing for ~770k samples), so 64 MiB
# is ten times any real index; a file claiming more is not read. (A 'moof' indexes one fragment:
# _MOOF_MAX below.)
_MOOV_MAX = 64 << 20


def _top_level_boxes(src: _Source) -> tuple[list[tuple[bytes, int, int, int]], str | None]:
    """``(type, offset, header_size, size)`` of each top-level box, and why the last is cut or None.

    Raises when a box overruns the file, except a last ``mdat``: it is kept, clipped to the file,
    with the reason, for the caller to judge by its samples.
    """
    boxes: list[tuple[bytes, int, int, int]] = []
    off = 0
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
    try:
        return _isobmff_facts(src, fmt)
    finally:
        _forget()  # no file's box index outlives its reading


def _isobmff_facts(src: _Source, fmt: str) -> MediaFacts:
    boxes, cut = _top_level_boxes(src)
    by_type: dict[bytes, tuple[int, int, int]] = {}
    for typ, off, hsize, size in boxes:
        by_type.setdefault(typ, (off, hsize, size))
    if cut and b"moov" not in by_type:
        raise _Corrupt(cut)
    if b"moov" not in by_type:
        raise _Corrupt("no 'moov' box: the file has no index (truncated or still being written)")
    off, hsize, size = by_type[b"moov"]
    moov = _read_box(src, off, hsize, size, b"moov", _MOOV_MAX)
    fragments = [(o, h, n) for typ, o, h, n in boxes if typ == b"moof"] if b"moof" in by_type else []
    # A cut 'mdat' is readable when only the last sample in the file lacks bytes (decoders drop it).
    if cut and (fragments or _samples_past(moov, src.size) > 1):
        raise _Corrupt(cut)
    facts = _moov(src, fmt, moov, fragments, media_end=None if cut else src.size)
    if cut and not facts.problem:  # readable, but say the file looks cut short (a warning)
        facts = facts._replace(unjudged=f"the file looks cut short: its last sample lacks bytes ({cut})")
    return facts


def _read_box(src: _Source, off: int, hsize: int, size: int, typ: bytes, limit: int) -> bytes:
    """The payload of the box at ``off``, read only when no larger than ``limit`` bytes."""
    if size - hsize > limit:
        raise _Corrupt(f"'{_fourcc(typ)}' box at byte {off} claims {size:,} bytes, more than any real one "
                       f"holds ({limit >> 20} MiB): not read")
    return src.exact(off + hsize, size - hsize, f"'{_fourcc(typ)}' box")


def _sample_tables(moov: bytes):
    """The ``stbl`` box (sample table) of each track, as ``(start, end)``."""
    for typ, tp, te in _boxes(moov, 0, len(moov)):
        if typ == b"trak" and (stbl := _child(moov, tp, te, b"mdia", b"minf", b"stbl")) is not None:
            yield stbl


def _last_chunk(buf: bytes, stbl: Index) -> int:
    """Where a track's last chunk starts (chunks are written in order: the last one is the furthest),
    or -1 without a chunk table. ``stbl`` is the sample table's index."""
    for name, width in ((b"stco", 4), (b"co64", 8)):
        found = _get(stbl, name)
        if found is None or found[1] - found[0] < 8 + width:
            continue
        n = min(_u32be(buf, found[0] + 4), (found[1] - found[0] - 8) // width)
        if n:
            last = found[0] + 8 + (n - 1) * width
            return _u64be(buf, last) if width == 8 else _u32be(buf, last)
    return -1


def _samples_past(moov: bytes, size: int) -> int:
    """How many samples (chunks, for samples of one fixed size) the tracks' indexes place (partly)
    beyond byte ``size``."""
    past = 0
    for stbl in _sample_tables(moov):
        stsz, stsc = _child(moov, *stbl, b"stsz"), _child(moov, *stbl, b"stsc")
        stco, co64 = _child(moov, *stbl, b"stco"), _child(moov, *stbl, b"co64")
        table = stco or co64
        if stsz is None or stsc is None or table is None:
            return 1 << 30  # no index we can follow (e.g. 'stz2'): cannot show the rest is whole
        p = table[0]
        n = _u32be(moov, p + 4)
        offsets = struct.unpack_from((">%dI" if stco else ">%dQ") % n, moov, p + 8)
        uniform, count = _u32be(moov, stsz[0] + 4), _u32be(moov, stsz[0] + 8)
        sizes = () if uniform else struct.unpack_from(f">{count}I", moov, stsz[0] + 12)
        runs = struct.unpack_from(f">{3 * _u32be(moov, stsc[0] + 4)}I", moov, stsc[0] + 8)
        sample = 0
        for r in range(0, len(runs), 3):
            first, per = runs[r], runs[r + 1]
            last = runs[r + 3] - 1 if r + 3 < len(runs) else n
            for chunk in range(first - 1, min(last, n)):
                pos, here = offsets[chunk], min(per, count - sample)
                if here <= 0:
                    break
                if uniform:  # PCM: ffmpeg reads a chunk as one packet, so a cut chunk counts once
                    past += (size - pos) // uniform < here
                else:
                    for s in sizes[sample : sample + here]:
                        pos += s
                        past += pos > size
                sample += here
    return past


def _moov(src: _Source, fmt: str, moov: bytes, fragments: list[tuple[int, int, int]],
          media_end: int | None = None) -> MediaFacts:
    """Facts from the ``moov`` box (and the fragments after it). With ``media_end``, a track whose index
    places a chunk at or past that byte makes the file a problem (its media is not in the file)."""
    mvhd = _child(moov, 0, len(moov), b"mvhd")
    if mvhd is None:
        raise _Corrupt("'moov' box has no 'mvhd' header")
    p = mvhd[0]
    if moov[p] == 1:
        timescale, duration = _u32be(moov, p + 20), _u64be(moov, p + 24)
    else:
        timescale, duration = _u32be(moov, p + 12), _u32be(moov, p + 16)
    movie_s = _seconds(duration, timescale)

    video = audio = None
    track_s = []
    tracks = []
    for typ, tp, te in _boxes(moov, 0, len(moov)):
        if typ != b"trak":
            continue
        track = _trak(moov, tp, te, timescale, media_end)
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
    locked = next((t["encrypted"] for t, _, _ in tracks if t.get("encrypted")), None)
    if locked:
        problem = f"encrypted (DRM, {locked}): no decoder can read it without the key"
    if fmt == "m4a" and video is not None:
        fmt = "mp4"
    kind = "video"
    if video is None and audio is not None:  # sound only: audio, whatever the brand (ffmpeg agrees)
        kind = "audio"
        if fmt in ("mp4", "m4a", "3gp"):
            fmt = "m4a"
    fields: dict = {"has_video": video is not None, "has_audio": audio is not None,
                    "duration_s": duration_s}
    if problem:
        fields["problem"] = problem
    if video is not None:
        fields.update(codec=video["codec"], width=video["width"], height=video["height"],
                      fps=video.get("fps"), variable_fps=video.get("variable_fps", False),
                      frames=video.get("frames"), rotation=video["rotation"])
    if audio is not None:
        fields.update(sample_rate=audio.get("sample_rate"), channels=audio.get("channels"),
                      audio_codec=audio["codec"])
        if video is None:
            fields["codec"] = audio["codec"]
    return _facts(src, kind, fmt, **fields)


_HANDLERS = {b"vide": "video", b"soun": "audio"}


def _trak(buf: bytes, start: int, end: int, movie_timescale: int, media_end: int | None = None) -> dict | None:
    trak = _index(buf, start, end)
    mdia = _get(trak, b"mdia")
    if mdia is None:
        return None
    media = _index(buf, *mdia)
    minf = _get(media, b"minf")
    found = _get(_index(buf, *minf), b"stbl") if minf is not None else None
    stbl = _index(buf, *found) if found is not None else None
    if media_end is not None and stbl is not None and _last_chunk(buf, stbl) >= media_end:
        raise _Corrupt("the index places media beyond the end of the file (truncated, or its media removed)")
    hdlr, mdhd = _get(media, b"hdlr"), _get(media, b"mdhd")
    if hdlr is None or mdhd is None:
        return None
    handler = buf[hdlr[0] + 8 : hdlr[0] + 12]
    kind = _HANDLERS.get(handler)
    if kind is None:
        return None
    p = mdhd[0]
    if buf[p] == 1:
        timescale, duration = _u32be(buf, p + 20), _u64be(buf, p + 24)
    else:
        timescale, duration = _u32be(buf, p + 12), _u32be(buf, p + 16)
    track: dict = {"type": kind, "codec": None}
    if (seconds := _seconds(duration, timescale)) is not None:
        track["duration_s"] = seconds
    entry = None
    if stbl is not None:
        stsd = _get(stbl, b"stsd")
        if stsd is not None and _u32be(buf, stsd[0] + 4) > 0 and stsd[0] + 16 <= stsd[1]:
            e = stsd[0] + 8
            entry = (e, min(e + _u32be(buf, e), stsd[1]))
    if kind == "video":
        tkhd = _get(trak, b"tkhd")
        track["rotation"] = _tkhd_rotation(buf, tkhd[0]) if tkhd else 0
        width = height = 0
        if entry is not None and entry[0] + 36 <= entry[1]:
            fourcc = buf[entry[0] + 4 : entry[0] + 8]
            children = _entry_children(buf, entry[0] + 86, entry[1])
            fourcc = _protection(track, buf, children, fourcc)
            track["codec"] = _dolby_vision(buf, children) or _video_codec(buf, children, fourcc)
            width, height = _u16be(buf, entry[0] + 32), _u16be(buf, entry[0] + 34)
        if (not width or not height) and tkhd is not None:
            off = tkhd[0] + (88 if buf[tkhd[0]] == 1 else 76)
            width, height = _u32be(buf, off) >> 16, _u32be(buf, off + 4) >> 16
        track["width"], track["height"] = width or None, height or None
        stts = _get(stbl, b"stts") if stbl else None
        if stts is not None:  # frames count without a clock; the rate needs one (else None)
            count = _u32be(buf, stts[0] + 4)
            data = buf[stts[0] + 8 : min(stts[1], stts[0] + 8 + 8 * count)]
            entries = [(n, d) for n, d in struct.iter_unpack(">II", data[: len(data) // 8 * 8]) if n]
            track.update(_frame_timing(entries, timescale))
            edts = _get(trak, b"edts")
            elst = _get(_index(buf, *edts), b"elst") if edts is not None else None
            window = _edit_window(buf, elst, movie_timescale, timescale) if elst is not None else None
            if window is not None and entries:
                ctts = _get(stbl, b"ctts") if stbl else None
                shift = _first_shown(buf, ctts, entries) if ctts else 0
                track["frames"] = _frames_within(entries, shift, *window)
    else:
        if entry is not None:
            track.update(_audio_entry(track, buf, entry[0], entry[1]))
    return track


def _edit_window(buf: bytes, elst: tuple[int, int], movie_timescale: int, timescale: int,
                 ) -> tuple[int, float] | None:
    """The span of media time ``[from, to)`` (track ticks) that a track's edit list plays, when it plays
    one span (a cut made by stream copy starts it after the first frames); None without an edit list,
    or with one we do not follow (several spans)."""
    if elst[1] - elst[0] < 8:
        return None
    p, version = elst[0] + 8, buf[elst[0]]
    width = 20 if version == 1 else 12
    spans = []
    for _ in range(min(_u32be(buf, elst[0] + 4), (elst[1] - p) // width)):
        span, media_time = struct.unpack_from(">Qq" if version == 1 else ">Ii", buf, p)
        p += width
        if media_time != -1:  # -1: an empty edit (a pause before the media starts)
            spans.append((span, media_time))
    if len(spans) != 1 or not movie_timescale or not timescale:
        return None
    span, media_time = spans[0]
    return media_time, media_time + span * timescale / movie_timescale if span else math.inf


_SHOWN_SPAN = 32  # samples searched for the first one shown: a decoder holds back at most 16


def _first_shown(buf: bytes, ctts: tuple[int, int], entries: list[tuple[int, int]]) -> int:
    """The earliest presentation time (decode time plus composition offset) of a track with reordered
    frames. A decoder holds at most 16 frames back, so it is among the first few dozen samples."""
    times: list[int] = []
    t = 0
    for n, d in entries:
        k = min(n, _SHOWN_SPAN - len(times))
        times.extend(range(t, t + k * d, d) if d else [t] * k)
        t += k * d
        if len(times) >= _SHOWN_SPAN:
            break
    # Each entry covers at least one sample, so the first len(times) entries are enough. Offsets are
    # signed, as ffmpeg reads version-0 ones too.
    k = min(len(times), (ctts[1] - ctts[0] - 8) // 8)
    if k <= 0:
        return 0
    flat = struct.unpack_from(">" + "Ii" * k, buf, ctts[0] + 8)
    counts, offsets = flat[0::2], flat[1::2]
    if counts.count(1) == k:  # one sample per entry, as with B-frames: no expansion needed
        return min(map(operator.add, times, offsets))
    shown: list[int] = []
    for n, offset in zip(counts, offsets):
        i = len(shown)
        shown.extend(time + offset for time in times[i : i + n])
        if len(shown) >= len(times):
            break
    return min(shown) if shown else 0


def _frames_within(entries: list[tuple[int, int]], shift: int, start: float, stop: float) -> int:
    """How many samples of the time-to-sample runs ``entries`` are shown within ``[start, stop)``: the
    frames a player shows, as ffmpeg counts them. Their presentation times are their decode times moved
    by ``shift`` (reordering permutes frames on that grid, it does not change the set)."""
    frames, t = 0, 0
    for n, d in entries:
        first = t + shift
        if d == 0:
            frames += n if start <= first < stop else 0
        else:
            lo = max(0, math.ceil((start - first) / d))
            hi = min(n, math.ceil((stop - first) / d)) if stop != math.inf else n
            frames += max(0, hi - lo)
        t += n * d
    return frames


def _seconds(duration: int, timescale: int) -> float | None:
    """``duration`` ticks of ``timescale`` in seconds; None for "unknown" (0 or all ones) or no clock."""
    if not timescale or duration in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None
    return duration / timescale


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
        t["timescale"] = _u32be(moov, mdhd[0] + (20 if moov[mdhd[0]] == 1 else 12)) if mdhd else 0
        stts = _child(moov, start, end, b"mdia", b"minf", b"stbl", b"stts")
        t["runs"] = _stts_entries(moov, *stts) if stts else []
        t["cursor"] = t["end"] = sum(n * d for n, d in t["runs"])
    for off, hsize, size in fragments:
        moof = _read_box(src, off, hsize, size, b"moof", _MOOF_MAX)
        for typ, p, e in _boxes(moof, 0, len(moof)):
            if typ != b"traf":
                continue
            tfhd = _find(moof, p, e, b"tfhd")
            track = by_id.get(_u32be(moof, tfhd[0] + 4)) if tfhd else None
            if track is None or tfhd is None:
                continue
            q, flags = tfhd[0] + 8, int.from_bytes(moof[tfhd[0] + 1 : tfhd[0] + 4], "big")
            q += (8 if flags & 1 else 0) + (4 if flags & 2 else 0)
            default = _u32be(moof, q) if flags & 8 else defaults.get(_u32be(moof, tfhd[0] + 4), 0)
            tfdt = _find(moof, p, e, b"tfdt")
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
    return _seconds(fragment_duration, movie_timescale) if fragment_duration else None


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


