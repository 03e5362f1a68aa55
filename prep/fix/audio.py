"""The audio executor: one :class:`~prep.fix.model.AudioTarget` → one MP3 or WAV, in one ffmpeg run.

- MP3 kept as MP3 (``copy``): a trim is a stream copy cut on MP3 frame boundaries (``-c copy``,
  ``-frames:a``), tens of times faster than decoding and encoding again, and never longer than asked
  (at most one frame shorter). With nothing to cut, the file is copied byte for byte.
- WAV kept as WAV: a plain PCM WAV is cut (and padded with silence) in Python, to the sample, its
  samples copied as they are under a rebuilt header, with no ffmpeg process (pydub's own WAV path is
  Python too, so an ffmpeg run would be ten times slower than it). Other WAVs (RF64…) go through
  ffmpeg in the same PCM sample format (a PCM stream copy would cut on the demuxer's packets, tens of
  ms too long).
- Anything else (M4A, FLAC, OGG…, or a WAV over the size limit) becomes MP3 with libmp3lame at a
  constant bit rate: the highest of the usual rates (at most :data:`MP3_BPS`) that keeps the file under
  ``max_bytes``. A clip shorter than ``pad_to_s`` gets silence at its end (``apad``) up to that length.

pydub is not used: it finds a file's codec with ``ffprobe``, which imageio-ffmpeg does not ship, and its
decode-slice-encode path is what the stream copy above avoids; ffmpeg does every step in one run.
"""

from __future__ import annotations

import math
import os
import shutil
import struct

from ..model import MediaFacts, PrepError, Record, record
from . import ffmpeg
from .files import atomic_output
from .model import AudioTarget

MP3_BPS = 192_000  # transparent for reference audio; smaller than the source's usual 256–320 kb/s
SIZE_MARGIN = 0.95
TAG_BYTES = 8192  # room for the ID3 tag and the Xing/LAME frame ffmpeg writes
# libmp3lame's constant bit rates (kb/s): MPEG-1 (32–48 kHz) and MPEG-2/2.5 (8–24 kHz).
_MPEG1_KBPS = (320, 256, 224, 192, 160, 128, 112, 96, 80, 64, 56, 48, 40, 32)
_MPEG2_KBPS = (160, 144, 128, 112, 96, 80, 64, 56, 48, 40, 32, 24, 16, 8)
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# WAV format tag and bits per sample → ffmpeg's PCM encoder of the same sample format.
_PCM_INT = {8: "pcm_u8", 16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le"}
_PCM_FLOAT = {32: "pcm_f32le", 64: "pcm_f64le"}


def fix_audio(source: str, target: AudioTarget, out: str, *, progress: ffmpeg.Progress | None = None,
              timeout: float | None = None) -> None:
    """Write ``source`` conformed to ``target`` at ``out`` (atomically; ``source`` is only read)."""
    facts, what, names, limit = ffmpeg.prepare(source, timeout)
    length = output_duration(facts, target)
    if target.format not in ("mp3", "wav"):
        raise PrepError(f"{what}: audio is written as mp3 or wav, not {target.format}")
    copy = stream_copy(facts, target)
    if copy and not trims(facts, target):
        try:
            with atomic_output(out) as tmp:
                shutil.copyfile(source, tmp)
        except OSError as exc:  # a full disk, a folder that cannot be written
            raise PrepError(f"{what}: cannot write {os.path.basename(out)}: {exc.strerror or exc}") from None
        return
    if target.format == "wav" and facts.format == "wav" and (layout := wav_layout(source)) is not None:
        _write_wav(source, out, layout, target, what)
        return
    with atomic_output(out) as tmp:
        bps = None
        for _ in range(len(_MPEG1_KBPS)):
            run_names = {**names, tmp: os.path.basename(out)}
            if copy and target.format == "mp3":
                _copy_frames(source, facts, target, tmp, what, limit, progress, run_names)
            else:
                if target.format == "wav":
                    args = wav_args(source, facts, target,
                                    pcm_codec(source) if facts.format == "wav" else "pcm_s16le")
                else:
                    try:
                        bps = mp3_bitrate(target.max_bytes, length, mp3_rate(facts.sample_rate), below=bps)
                    except PrepError as exc:
                        raise PrepError(f"{what}: {exc}") from None
                    args = mp3_args(source, facts, target, bps)
                ffmpeg.run([*args, "-f", target.format, tmp], what=what, timeout=limit, progress=progress,
                           total_s=length, names=run_names)
            if not target.max_bytes or (size := os.path.getsize(tmp)) < target.max_bytes:
                return
            if bps is None:
                raise PrepError(f"{what}: the {target.format} output is {size} bytes, not under "
                                f"{target.max_bytes} (only an MP3 re-encode can make it smaller)")
        raise PrepError(f"{what}: no MP3 bit rate brings it under {target.max_bytes} bytes")


# -- the decisions (pure) ----------------------------------------------------------------------------


def stream_copy(facts: MediaFacts, target: AudioTarget) -> bool:
    """Whether the output is the source's own packets: asked for, the same format, nothing to add."""
    return target.copy and facts.format == target.format and not pads(facts, target)


def trims(facts: MediaFacts, target: AudioTarget) -> bool:
    if target.start_s > 0:
        return True
    return target.duration_s is not None and (facts.duration_s is None or target.duration_s < facts.duration_s)


def pads(facts: MediaFacts, target: AudioTarget) -> bool:
    if target.pad_to_s is None:
        return False
    length = output_duration(facts, target, padded=False)
    return length is None or length < target.pad_to_s


def output_duration(facts: MediaFacts, target: AudioTarget, padded: bool = True) -> float | None:
    """How long the output lasts (before stream-copy frame rounding): the trim, then the padding."""
    length = target.duration_s
    if facts.duration_s is not None:
        rest = max(0.0, facts.duration_s - target.start_s)
        length = rest if length is None else min(length, rest)
    if padded and target.pad_to_s is not None and (length is None or length < target.pad_to_s):
        return target.pad_to_s
    return length


def mp3_frame_s(sample_rate: int | None) -> float:
    """One MP3 frame's duration: 1152 samples (MPEG-1, 32–48 kHz) or 576 (MPEG-2/2.5, below)."""
    rate = sample_rate or 44100
    return (1152 if rate >= 32000 else 576) / rate


def mp3_rate(sample_rate: int | None) -> int:
    """The sample rate an MP3 is written at: the source's when LAME takes it, else the next one up (≤ 48 kHz)."""
    if not sample_rate:
        return 44100
    return next((rate for rate in _MP3_RATES if rate >= sample_rate), _MP3_RATES[-1])


def mp3_bitrate(max_bytes: int | None, duration_s: float | None, rate: int, below: int | None = None) -> int:
    """The highest constant bit rate (≤ MP3_BPS, and below ``below`` when a try came out too big) whose
    ``duration_s`` of audio fits in ``max_bytes`` with room for the tags."""
    rates = [kbps * 1000 for kbps in (_MPEG1_KBPS if rate >= 32000 else _MPEG2_KBPS) if kbps * 1000 <= MP3_BPS]
    if below is not None:
        rates = [bps for bps in rates if bps < below]
    if not rates:
        raise PrepError(f"no MP3 bit rate brings it under {max_bytes} bytes")
    if not max_bytes or not duration_s:  # an unknown duration: the size is checked after writing
        return rates[0]
    room = (max_bytes * SIZE_MARGIN - TAG_BYTES) * 8 / duration_s
    fits = [bps for bps in rates if bps <= room]
    if not fits:
        raise PrepError(f"{duration_s:g} s of MP3 cannot fit in {max_bytes} bytes")
    return fits[0]


def copy_args(source: str, facts: MediaFacts, target: AudioTarget, frames: int | None = None) -> list[str]:
    """A stream copy of whole MP3 frames: the start rounded to a frame boundary, as many frames as fit
    (or ``frames``)."""
    frame = mp3_frame_s(facts.sample_rate)
    args: list[str] = []
    if target.start_s > 0:
        args += ["-ss", ffmpeg.seconds(round(target.start_s / frame) * frame)]
    args += ["-i", source, "-map", "0:a:0", "-c:a", "copy", "-map_metadata", "0"]
    if target.duration_s is not None:
        args += ["-frames:a", str(frames if frames is not None else copy_frames(target.duration_s, frame))]
    return args


# What a player usually drops from a LAME-encoded MP3: the encoder's 576-sample delay and the decoder's 529
# (the numbers of LAME's own gapless header). The first cut is aimed with it; the cut is then measured.
_USUAL_DROP_SAMPLES = 576 + 529


def _copy_frames(source: str, facts: MediaFacts, target: AudioTarget, tmp: str, what: str, limit: float,
                 progress: ffmpeg.Progress | None, names: dict) -> None:
    """The stream-copy cut, with as many whole frames as last at most ``target.duration_s`` once played.

    A player drops the encoder's delay at the start and the padding the LAME header names at the end
    (gapless playback; the inspector, like ffmpeg, does too), and a copy keeps both numbers: frames
    counted by their raw length came out up to two frames and the delay short (at 8 kHz a frame is 72 ms
    and the delay 138 ms: a cut aimed 153 ms above a minimum played under it). So the cut is aimed at
    what a player usually drops and measured: one ffmpeg run when the aim was right (the usual case),
    a second with the frames that still fit, or, when it played too long, the raw count within the
    target — which can never play longer than it."""
    from ..inspect import inspect_path

    def cut(frames: int | None) -> float | None:
        ffmpeg.run([*copy_args(source, facts, target, frames=frames), "-f", "mp3", tmp], what=what, timeout=limit,
                   progress=progress, total_s=target.duration_s, names=names)
        return inspect_path(tmp).duration_s

    if target.duration_s is None:
        cut(None)
        return
    wanted = target.duration_s
    frame = mp3_frame_s(facts.sample_rate)
    frames = copy_frames(wanted + _USUAL_DROP_SAMPLES / (facts.sample_rate or 44100), frame)
    played = cut(frames)
    if played is None or played > wanted + 1e-6:
        cut(copy_frames(wanted, frame))  # the raw length within the target
        return
    more = frames + math.floor((wanted - played) / frame + 1e-9)
    if more > frames:  # the player drops more than usual: the frames that still fit
        after = cut(more)
        if after is None or after > wanted + 1e-6:  # never longer than asked
            cut(frames)


def copy_frames(duration_s: float, frame_s: float) -> int:
    """Whole frames of ``frame_s`` in ``duration_s`` (at least one)."""
    return max(1, math.floor(duration_s / frame_s + 1e-9))


def _cut(target: AudioTarget, facts: MediaFacts) -> tuple[list[str], list[str]]:
    """Input options (the start) and output options (silence padding and the length) of a re-encode."""
    before = ["-ss", ffmpeg.seconds(target.start_s)] if target.start_s > 0 else []
    after: list[str] = []
    if pads(facts, target):
        assert target.pad_to_s is not None
        if target.duration_s is not None:  # trim first, then pad what is left
            after += ["-af", f"atrim=duration={ffmpeg.seconds(target.duration_s)},apad"]
        else:
            after += ["-af", "apad"]
        after += ["-t", ffmpeg.seconds(target.pad_to_s)]
    elif target.duration_s is not None:
        after += ["-t", ffmpeg.seconds(target.duration_s)]
    return before, after


def wav_args(source: str, facts: MediaFacts, target: AudioTarget, codec: str) -> list[str]:
    before, after = _cut(target, facts)
    return [*before, "-i", source, "-map", "0:a:0", *after, "-c:a", codec, "-map_metadata", "0"]


def mp3_args(source: str, facts: MediaFacts, target: AudioTarget, bps: int) -> list[str]:
    before, after = _cut(target, facts)
    args = [*before, "-i", source, "-map", "0:a:0", *after, "-c:a", "libmp3lame", "-b:a", str(bps),
            "-ar", str(mp3_rate(facts.sample_rate))]
    if (facts.channels or 0) > 2:
        args += ["-ac", "2"]
    return [*args, "-map_metadata", "0"]


@record
class WavLayout(Record):
    """Where a plain PCM WAV keeps its samples, and what to copy around them."""

    fmt: bytes  # the 'fmt ' chunk's body, copied as it is
    extra: tuple[bytes, ...]  # whole LIST chunks (tags) before the data, copied as they are
    data_offset: int
    frames: int  # whole sample frames in the data (cut at the file's end)
    block_align: int
    rate: int
    silence: int  # the byte value of silence: 0x80 for unsigned 8-bit, else 0


def wav_layout(path: str) -> WavLayout | None:
    """The layout of the WAV at ``path`` when it is plain RIFF PCM (integer or float) whose data chunk
    starts in its first 64 KiB; None otherwise (RF64, compressed codecs…: ffmpeg handles those)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return None
    return parse_wav_layout(head, size)


def parse_wav_layout(head: bytes, size: int) -> WavLayout | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt, extra, off = None, [], 12
    while off + 8 <= len(head):
        cid, length = head[off:off + 4], struct.unpack_from("<I", head, off + 4)[0]
        if cid == b"data":
            if fmt is None or len(fmt) < 16:
                return None
            tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
            if tag == 0xFFFE and len(fmt) >= 26:
                tag = struct.unpack_from("<H", fmt, 24)[0]
            width = 4 if tag == 1 and bits == 24 and block_align == 4 * channels else (bits + 7) // 8
            if tag not in (1, 3) or not channels or not rate or not bits or block_align != width * channels:
                return None
            available = size - (off + 8)
            data = available if length in (0, 0xFFFFFFFF) else min(length, available)
            return WavLayout(fmt=fmt, extra=tuple(extra), data_offset=off + 8, frames=max(0, data) // block_align,
                             block_align=block_align, rate=rate, silence=0x80 if tag == 1 and bits <= 8 else 0)
        body = head[off + 8:off + 8 + length]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"LIST" and len(body) == length:
            extra.append(head[off:off + 8 + length + (length & 1)])
        off += 8 + length + (length & 1)
    return None


def wav_frames(layout: WavLayout, target: AudioTarget) -> tuple[int, int, int]:
    """``(first frame, frames kept, frames of silence added)`` for the trim and padding of ``target``."""
    first = min(layout.frames, round(target.start_s * layout.rate))
    kept = layout.frames - first
    if target.duration_s is not None:
        kept = min(kept, math.floor(target.duration_s * layout.rate + 1e-9))
    padded = 0 if target.pad_to_s is None else max(0, round(target.pad_to_s * layout.rate) - kept)
    return first, kept, padded


def _write_wav(source: str, out: str, layout: WavLayout, target: AudioTarget, what: str) -> None:
    """The trim (and padding) of a PCM WAV written in Python: the samples copied as they are, cut to the
    sample, with no ffmpeg process at all (the header is rebuilt around them)."""
    first, kept, padded = wav_frames(layout, target)
    data = (kept + padded) * layout.block_align
    fmt = layout.fmt + b"\0" * (len(layout.fmt) & 1)
    riff = 4 + 8 + len(fmt) + sum(map(len, layout.extra)) + 8 + data + (data & 1)
    if riff >= 1 << 32:
        raise PrepError(f"{what}: the WAV would pass 4 GiB; trim it or write MP3")
    if target.max_bytes and riff + 8 >= target.max_bytes:
        raise PrepError(f"{what}: the wav output is {riff + 8} bytes, not under {target.max_bytes} "
                        f"(only an MP3 re-encode can make it smaller)")
    try:
        with atomic_output(out) as tmp, open(source, "rb") as src, open(tmp, "wb") as dst:
            dst.write(b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<I", len(layout.fmt))
                      + fmt + b"".join(layout.extra) + b"data" + struct.pack("<I", data))
            _copy_range(src, dst, layout.data_offset + first * layout.block_align, kept * layout.block_align, what)
            silence = bytes([layout.silence]) * min(padded * layout.block_align, 1 << 20)
            left = padded * layout.block_align
            while left:
                dst.write(silence[:left])
                left -= min(left, len(silence))
            if data & 1:
                dst.write(b"\0")
    except OSError as exc:
        raise PrepError(f"{what}: cannot write {os.path.basename(out)}: {exc.strerror or exc}") from None


def _copy_range(src, dst, offset: int, length: int, what: str) -> None:
    """Copy ``length`` bytes of ``src`` from ``offset`` to the end of ``dst``: in the kernel where the
    system can (``copy_file_range``: no pass through Python's buffers; a reflink on filesystems that
    share blocks), else through a 1 MiB buffer."""
    dst.flush()
    left = length
    if hasattr(os, "copy_file_range"):
        at, out_at = offset, dst.tell()
        try:
            while left:
                n = os.copy_file_range(src.fileno(), dst.fileno(), min(left, 1 << 30), at, out_at)
                if n == 0:
                    raise PrepError(f"{what}: the WAV ended early while being copied")
                at, out_at, left = at + n, out_at + n, left - n
            dst.seek(out_at)
            return
        except OSError:  # not across these filesystems (EXDEV on old kernels, ENOSYS, EINVAL): copy by hand
            offset, left = at, left
            dst.seek(out_at)
    src.seek(offset)
    while left:
        chunk = src.read(min(left, 1 << 20))
        if not chunk:
            raise PrepError(f"{what}: the WAV ended early while being copied")
        dst.write(chunk)
        left -= len(chunk)


def pcm_codec(path: str) -> str:
    """ffmpeg's PCM encoder for the sample format of the WAV at ``path`` (pcm_s16le when it is not PCM)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return "pcm_s16le"
    return wav_pcm_codec(head)


def wav_pcm_codec(head: bytes) -> str:
    """The PCM encoder for the ``fmt `` chunk in the first bytes of a WAV (pcm_s16le when not PCM)."""
    off = 12
    while off + 8 <= len(head):
        cid, size = head[off:off + 4], struct.unpack_from("<I", head, off + 4)[0]
        body = head[off + 8:off + 8 + min(size, 40)]
        if cid == b"fmt " and len(body) >= 16:
            tag, bits = struct.unpack_from("<H", body, 0)[0], struct.unpack_from("<H", body, 14)[0]
            if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
                tag = struct.unpack_from("<H", body, 24)[0]
            table = _PCM_INT if tag == 1 else _PCM_FLOAT if tag == 3 else {}
            return table.get(bits, "pcm_s16le")
        off += 8 + size + (size & 1)
    return "pcm_s16le"
