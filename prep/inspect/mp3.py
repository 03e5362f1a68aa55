"""MPEG audio (MP3, including VBR, gapless and MPEG-2/2.5; layers I and II as ffmpeg's mp3 reader
takes them), and what hides behind an ID3 tag (AC-3, FLAC, TTA, APE, WavPack, …: never called mp3).

Durations are what ffmpeg's decode plays (the providers validate with ffmpeg-based tools): LAME's
gapless delay and padding applied, Xing/VBRI counts read where ffmpeg reads them, frames counted
where there is no count or the file cannot hold it. tests/oracle/test_oracle_audio.py checks it."""

from __future__ import annotations

import re

from prep.model import MediaFacts

from ._base import _audio_start, _Corrupt, _facts, _Source, _u32be, _u32le, _Undecided
from .mediainfo import _general

# --------------------------------------------------------------------------------------------------
# MPEG audio frames


# kb/s by bit-rate index, for (MPEG-1?, layer); MPEG-2 and 2.5 share a table
_MP3_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MPA_CODECS = {1: "mp1", 2: "mp2", 3: "mp3"}  # ffmpeg's names; its 'mp3' demuxer reads all three


def _mpa_length(mpeg1: bool, layer: int, bitrate: int, rate: int, padding: int) -> int:
    """Bytes in one MPEG audio frame (layer I counts 4-byte slots)."""
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    return (144 if mpeg1 or layer == 2 else 72) * bitrate // rate + padding


def _mp3_frame(buf: bytes, i: int) -> tuple[int, int, int, int, int, int] | None:
    """``(frame_length, sample_rate, channels, bitrate, samples_per_frame, layer)`` of an MPEG audio
    frame header (layer I, II or III; MPEG-1, 2 or 2.5), or None when ``buf[i:]`` holds none."""
    if i + 4 > len(buf) or buf[i] != 0xFF or (buf[i + 1] & 0xE0) != 0xE0:
        return None
    version, layer = (buf[i + 1] >> 3) & 3, 4 - ((buf[i + 1] >> 1) & 3)
    br_index, sr_index = buf[i + 2] >> 4, (buf[i + 2] >> 2) & 3
    if version == 1 or layer == 4 or br_index in (0, 15) or sr_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[mpeg1, layer][br_index] * 1000
    rate = _MP3_RATES[version][sr_index]
    length = _mpa_length(mpeg1, layer, bitrate, rate, (buf[i + 2] >> 1) & 1)
    spf = 384 if layer == 1 else 1152 if mpeg1 or layer == 2 else 576
    return length, rate, (1 if buf[i + 3] >> 6 == 3 else 2), bitrate, spf, layer


# A frame walk (MP3s without a Xing/VBRI frame count) reads at most this many bytes of frames and
# extrapolates the rest by size: 16 MiB is 17 minutes at 128 kb/s, far past any clip a request takes,
# and it bounds the time and (for remote files) the download a hostile or huge file can cost.
_MP3_WALK_BYTES = 16 << 20
_MP3_WALK_FRAMES = 100_000  # 43 minutes at 44.1 kHz; with the resync block, bounds hostile junk too
_MP3_WALK_CHUNK = 256 << 10
_MP3_RESYNC_BLOCK = 4096
_MP3_RESYNC_TRIES = 10_000  # header-like junk a walk searches through before it gives up
# LAME's gapless numbers count the encoder delay only; decoders add this many samples of their own.
_MP3_DECODER_DELAY = 529


def _mp3(src: _Source, kind: str, fmt: str) -> MediaFacts:
    start = _audio_start(src)
    if start >= src.size:
        raise _Corrupt("MP3 has tags but no audio (truncated)")
    if start:
        other = _behind_id3(src, start)
        if other is not None:
            return other
    window = src.at(start, 65536)
    frame, i = None, 0
    for i in range(len(window) - 4):
        if window[i] != 0xFF:
            continue
        frame = _mp3_frame(window, i)
        if frame is None:
            continue
        # At the tag's end one more header will do (or a Xing/VBRI frame, whatever follows it: ffmpeg
        # reads it there unchecked); past junk, ffmpeg's probe wants a run of frames.
        if (i == 0 and _vbr_frame(window, frame)) or _chained(
                src, start + i, frame[0], window[i : i + 4], 1 if i == 0 else 3):
            start += i
            break
        frame = None
    if frame is None:
        if start:  # an ID3 tag in front of something that is not MPEG audio
            return _facts(src, "audio", None, has_audio=True, problem=(
                "the audio after the ID3 tag is neither MP3 nor a format the inspector recognises"))
        raise _Undecided
    length, rate, channels, _bitrate, spf, layer = frame
    end = _mp3_audio_end(src, start)
    first = src.exact(start, min(length, 200), "MP3 frame")
    side = _side_info(frame)
    tag = first[4 + side : 8 + side] if layer == 3 else b""
    vbri = layer == 3 and first[36:40] == b"VBRI"
    header_frame = _vbr_frame(first, frame)  # not played
    if i:  # ffmpeg reads its numbers only right after the tags (mp3dec.c, mp3_read_header)
        tag, vbri = b"", False
    frames = claimed = None
    skip = trim = 0  # samples a decoder drops at the start and at the end (LAME gapless numbers)
    if tag in (b"Xing", b"Info") and len(first) >= 12 + side:
        flags = _u32be(first, 8 + side)
        p = 12 + side
        if flags & 1:
            frames, p = _u32be(first, p), p + 4
        if flags & 2:
            claimed, p = _u32be(first, p), p + 4
        p += (100 if flags & 4 else 0) + (4 if flags & 8 else 0)
        # ffmpeg trusts the delay/padding only from these encoders (mp3dec.c, mp3_parse_info_tag).
        if first[p : p + 4] in (b"LAME", b"Lavf", b"Lavc") and p + 24 <= len(first):
            delays = int.from_bytes(first[p + 21 : p + 24], "big")
            # ffmpeg drops the padding at sample positions from frames*spf - padding + 529 on: a
            # padding under 529 reaches past the end and drops nothing (mp3dec.c, first_discard_sample).
            skip = (delays >> 12) + _MP3_DECODER_DELAY
            trim = max(0, (delays & 0xFFF) - _MP3_DECODER_DELAY)
        # ffmpeg takes a file over 1/16 longer than the header says (tags included) for MP3s joined
        # end to end, and plays every frame it finds, padding and all (mp3dec.c); so do we.
        rest = src.size - start - 4
        if claimed and rest > claimed and rest - claimed > claimed >> 4:
            frames = trim = 0
    elif vbri:
        claimed, frames = _u32be(first, 46), _u32be(first, 50)
    # The fewest bytes the counted frames can take (all at the lowest bit rate): more than the file
    # holds means a cut file or a wrong count.
    mpeg1 = (first[1] >> 3) & 3 == 3
    least = (frames or 0) * _mpa_length(mpeg1, layer, _MP3_BITRATES[mpeg1, layer][1] * 1000, rate, 0)
    if frames and not (claimed is not None and claimed > end - start) and least <= end - start:
        samples = max(0, frames * spf - skip - trim)
    else:
        # No frame count, or the file holds fewer bytes than the header says (cut short: the frames
        # that are there still play, as a decoder would play them): count the frames.
        begin = start + (length if header_frame else 0)
        counted = _mp3_walk(src, begin, end, src.at(start, 4), spf)
        if frames:  # a decoder that reaches the last frame the header counts trims its padding
            counted = min(counted, frames * spf - trim)
        samples = max(0, counted - skip)
    return _facts(src, kind, fmt, codec=_MPA_CODECS[layer], sample_rate=rate, channels=channels,
                  duration_s=samples / rate, has_audio=True)


# What an ID3v2 tag may stand in front of besides MPEG audio: taggers write ID3 to any file, and
# ffmpeg probes past the tag, so the payload's own magic names the format.
_BEHIND_ID3 = {b"TTA1": "tta", b"MAC ": "ape", b"wvpk": "wv", b"MPCK": "mpc", b"MP+": "mpc",
               b"tBaK": "tak", b"DSD ": "dsf", b"FRM8": "dff", b"OFR ": "ofr", b"OFS ": "ofs",
               b"RIFF": "wav", b"RF64": "wav", b"fLaC": "flac", b"\x0b\x77": "ac3"}


def _side_info(frame: tuple) -> int:
    """Bytes of layer III side information after the header (where a Xing/Info tag starts)."""
    _, _, channels, _, spf, _ = frame
    return (32 if channels == 2 else 17) if spf == 1152 else (17 if channels == 2 else 9)


def _vbr_frame(buf: bytes, frame: tuple) -> bool:
    """Whether the layer III frame at the start of ``buf`` is a Xing/Info or VBRI header frame."""
    side = _side_info(frame)
    return frame[5] == 3 and (buf[4 + side : 8 + side] in (b"Xing", b"Info") or buf[36:40] == b"VBRI")


def _chained(src: _Source, pos: int, length: int, header: bytes, n: int) -> bool:
    """Whether ``n`` more frames of the same version, layer and rate follow the frame at ``pos``
    (or the file ends before they could)."""
    for _ in range(n):
        pos += length
        nxt = src.at(pos, 4)
        if len(nxt) < 4:
            return True
        frame = _mp3_frame(nxt, 0)
        if frame is None or nxt[1] & 0xFE != header[1] & 0xFE or nxt[2] & 0x0C != header[2] & 0x0C:
            return False
        length = frame[0]
    return True


def _behind_id3(src: _Source, start: int) -> MediaFacts | None:
    """Facts for a non-MPEG payload behind an ID3v2 tag (AC-3, FLAC, TTA, APE, …) under its own
    format name, never mp3; or None when it may be MPEG audio."""
    payload = src.at(start, 4096)
    fmt = next((name for magic, name in _BEHIND_ID3.items() if payload.startswith(magic)), None)
    if fmt is None:
        if _mp3_frame(payload, 0) is not None:
            return None
        from .sniff import sniff

        kind, fmt = sniff(payload)
        if fmt is None or fmt == "mp3":
            return None
        return _named(src, kind or "audio", fmt, lambda: _general(src, kind, fmt))
    if fmt == "flac":
        return _named(src, "audio", fmt, lambda: _general(src, "audio", "flac"))
    if fmt == "ac3":
        return _named(src, "audio", fmt, lambda: _ac3(src, start))
    if fmt == "wav":  # ffmpeg's wav reader wants its RIFF header at byte 0
        return _facts(src, "audio", fmt, has_audio=True, problem=(
            "an ID3 tag before the WAV header: decoders do not find the audio"))
    return _named(src, "audio", fmt, lambda: _general(src, "audio", fmt))


def _named(src: _Source, kind: str, fmt: str, read) -> MediaFacts:
    """``read()``, or facts with its one-line problem, under ``fmt`` (not the sniffer's mp3)."""
    try:
        return read()
    except _Corrupt as exc:
        return _facts(src, kind, fmt, has_audio=True, problem=" ".join(str(exc).split())[:300])


def _mp3_audio_end(src: _Source, start: int) -> int:
    """End of the MPEG audio: the file end less any ID3v1 and APEv2 tags (in either order)."""
    end = src.size
    for _ in range(4):
        if end - 128 >= start and src.at(end - 128, 3) == b"TAG":
            end -= 128
            continue
        footer = src.at(end - 32, 32)
        if len(footer) == 32 and footer[:8] == b"APETAGEX":
            size, flags = _u32le(footer, 12), _u32le(footer, 20)
            total = size + (32 if flags & 0x80000000 else 0)  # the footer's size excludes a header
            if 32 <= size and end - total >= start:
                end -= total
                continue
        break
    return end


def _mp3_walk(src: _Source, start: int, end: int, header: bytes, spf: int) -> int:
    """Samples in the MPEG audio frames from ``start`` to ``end``, counted frame by frame.

    Frames must share the first frame's version, layer and sample rate (ffmpeg's rule too); junk
    between frames is skipped by searching for the next header that another header follows. Past
    ``_MP3_WALK_BYTES`` or ``_MP3_WALK_FRAMES`` the rest is extrapolated from the average frame size.
    """
    same1, same2 = header[1] & 0xFE, header[2] & 0x0C
    version, layer = (header[1] >> 3) & 3, 4 - ((header[1] >> 1) & 3)
    rate = _MP3_RATES[version][same2 >> 2]
    bitrates = _MP3_BITRATES[version == 3, layer]
    lengths = [0] * 256  # third header byte → frame length, 0 where the byte is not a valid header
    for b in range(256):
        if (b & 0x0C) == same2 and 0 < (b >> 4) < 15:
            lengths[b] = _mpa_length(version == 3, layer, bitrates[b >> 4] * 1000, rate, (b >> 1) & 1)
    valid = b"".join(re.escape(bytes([b])) for b in range(256) if lengths[b])
    second = re.escape(bytes([same1, same1 | 1]))  # the CRC-protection bit may differ
    pattern = re.compile(b"\\xff[" + second + b"][" + valid + b"]", re.DOTALL)
    tries = [_MP3_RESYNC_TRIES]
    limit = min(end, start + _MP3_WALK_BYTES)
    # ffmpeg starts at the first frame another header follows (mp3dec.c, mp3_read_header): a damaged
    # first frame does not swallow the frames its length spans.
    first = _mp3_resync(src, start, limit, pattern, tries)
    frames, pos, base, buf = 0, start if first is None else first, start, b""
    while pos < limit and frames < _MP3_WALK_FRAMES:
        i = pos - base
        if i + 4 > len(buf):
            base, buf, i = pos, src.at(pos, min(_MP3_WALK_CHUNK, limit + 4 - pos)), 0
            if len(buf) < 4:
                break
        n = lengths[buf[i + 2]] if buf[i] == 0xFF and (buf[i + 1] & 0xFE) == same1 else 0
        if n:
            if pos + n > end:  # a frame cut off by the file end: ffmpeg still decodes it
                frames += 1
                break
            frames += 1
            pos += n
            continue
        found = _mp3_resync(src, pos + 1, limit, pattern, tries)
        if found is None:
            break
        pos = found
    if pos < end and (pos >= limit or frames >= _MP3_WALK_FRAMES):
        return round(frames * spf * (end - start) / (pos - start))
    return frames * spf


def _mp3_resync(src: _Source, pos: int, end: int, header: re.Pattern, tries: list[int]) -> int | None:
    """Offset of the next frame header at or after ``pos`` that a second header follows, or None.

    ``header`` matches a whole valid header; ``tries[0]`` is how many candidates may still fail
    (shared by one walk, so a file of near-headers costs a bounded time).
    """
    while pos + 4 <= end:
        block = src.at(pos, _MP3_RESYNC_BLOCK)
        for m in header.finditer(block):
            at = pos + m.start()
            frame = _mp3_frame(block, m.start())
            if frame is None:  # the block ends inside this header; the next block starts before it
                continue
            n = frame[0]
            if at + n >= end or header.match(src.at(at + n, 4)):
                return at
            tries[0] -= 1
            if tries[0] <= 0:
                return None
        if len(block) < _MP3_RESYNC_BLOCK:
            return None
        pos += len(block) - 3
    return None


_AC3_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640)


def _ac3(src: _Source, start: int) -> MediaFacts:
    """AC-3 (Dolby Digital) at ``start``: a constant bit rate, so the size gives the duration."""
    h = src.exact(start, 8, "AC-3 frame header")
    fscod, frmsizecod, bsid = h[4] >> 6, h[4] & 0x3F, h[5] >> 3
    if bsid > 10:
        return _facts(src, "audio", "eac3", codec="eac3", has_audio=True)
    if fscod == 3 or frmsizecod >> 1 >= len(_AC3_KBPS):
        raise _Corrupt("AC-3 frame header is invalid")
    rate = (48000, 44100, 32000)[fscod]
    bits = int.from_bytes(h[6:8], "big")  # acmod (3 bits), then the mix levels it calls for, then lfeon
    acmod, shift = bits >> 13, 12
    shift -= 2 if acmod & 1 and acmod != 1 else 0
    shift -= 2 if acmod & 4 else 0
    shift -= 2 if acmod == 2 else 0
    channels = (2, 1, 2, 3, 3, 4, 4, 5)[acmod] + ((bits >> shift) & 1)
    bitrate = _AC3_KBPS[frmsizecod >> 1] * 1000
    end = _mp3_audio_end(src, start)
    return _facts(src, "audio", "ac3", codec="ac3", sample_rate=rate, channels=channels,
                  duration_s=(end - start) * 8 / bitrate, has_audio=True)
