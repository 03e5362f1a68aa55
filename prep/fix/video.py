"""The video executor: one :class:`~prep.fix.model.VideoTarget` → one MP4 (H.264 + AAC), in one ffmpeg run.

- ``remux_only``: the streams are copied into MP4 (``-c copy``, ``+faststart``); only an audio track MP4
  players do not take as it is (not AAC or MP3) is re-encoded to AAC.
- Otherwise one pass does everything: ffmpeg's autorotate turns the picture upright (the target's sizes
  are upright), ``scale`` to ``scale_to``, ``pad`` (a colour, or a blurred copy of the picture behind it)
  or ``crop`` to ``size``, ``fps`` to the frame rate, the trim (``-ss`` before the input: exact, as it
  decodes), libx264 (yuv420p, even sides) + AAC, ``+faststart``. A trim keeps a whole number of frames,
  so the output never lasts longer than asked (at most one frame less).
- ``max_bytes``: the quality stays constant-rate-factor, capped by a VBV rate budget from the size
  limit, so a small clip stays small and a big one fits; when the encoder still overshoots, the budget
  is lowered and the pass run again (the output is renamed into place only once it fits).
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction

from ..model import MediaFacts, PrepError
from . import ffmpeg
from .files import atomic_output
from .model import VideoTarget

PRESET = "veryfast"  # x264: most of the quality of "medium" at a third of its time
CRF = 20  # visually transparent for reference footage
AUDIO_BPS = 128_000
SIZE_MARGIN = 0.95  # of max_bytes the streams may use; the rest is for the container and the encoder's error
MIN_VIDEO_BPS = 16_000
RETRIES = 3
# Audio codecs MP4 carries as they are in a stream copy (the audio.codec rule accepts these two).
_MP4_AUDIO = frozenset({"aac", "mp3"})
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def fix_video(source: str, target: VideoTarget, out: str, *, progress: ffmpeg.Progress | None = None,
              timeout: float | None = None) -> None:
    """Write ``source`` conformed to ``target`` as an MP4 at ``out`` (atomically; ``source`` is only read)."""
    facts, what, names, limit = ffmpeg.prepare(source, timeout)
    length = output_duration(facts, target)
    if target.remux_only:
        ffmpeg.write(remux_args(source, facts), out, "mp4", what=what, timeout=limit, progress=progress,
                     total_s=length, names=names)
        return
    video_bps: int | None = None
    audio_bps = AUDIO_BPS
    if target.max_bytes and length:  # an unknown duration gets no budget, only the size check below
        try:
            video_bps, audio_bps = budget(target.max_bytes, length, keeps_audio(facts, target))
        except PrepError as exc:
            raise PrepError(f"{what}: {exc}") from None
    with atomic_output(out) as tmp:
        for attempt in range(RETRIES + 1):
            args = encode_args(source, facts, target, video_bps=video_bps, audio_bps=audio_bps)
            ffmpeg.run([*args, "-f", "mp4", tmp], what=what, timeout=limit, progress=progress, total_s=length,
                       names={**names, tmp: os.path.basename(out)})
            if not target.max_bytes or (size := os.path.getsize(tmp)) < target.max_bytes:
                return
            if video_bps is None or attempt == RETRIES:
                raise PrepError(f"{what}: the re-encoded video is {size} bytes, not under {target.max_bytes}")
            video_bps = int(video_bps * 0.9 * target.max_bytes / size)  # the encoder overshot: aim lower
            if video_bps < MIN_VIDEO_BPS:
                raise PrepError(f"{what}: {length:g} s of video cannot fit in {target.max_bytes} bytes")


# -- the decisions (pure) ----------------------------------------------------------------------------


def keeps_audio(facts: MediaFacts, target: VideoTarget) -> bool:
    return target.audio and facts.has_audio


def output_fps(facts: MediaFacts, target: VideoTarget) -> float | None:
    return target.fps or facts.fps


def output_frames(duration_s: float, fps: float) -> int:
    """Whole frames that fit in ``duration_s`` (never more: the output must not outlast the target)."""
    return max(1, math.floor(duration_s * fps + 1e-6))


def output_duration(facts: MediaFacts, target: VideoTarget) -> float | None:
    """How long the output lasts: the trim, cut to whole frames, or what the source has after ``start_s``."""
    if target.duration_s is None:
        return None if facts.duration_s is None else max(0.0, facts.duration_s - target.start_s)
    fps = None if target.remux_only else output_fps(facts, target)
    return target.duration_s if not fps else output_frames(target.duration_s, fps) / fps


def budget(max_bytes: int, duration_s: float | None, audio: bool) -> tuple[int, int]:
    """``(video_bps, audio_bps)`` so that ``duration_s`` of both stay under ``max_bytes``: the audio
    gets less on a tight budget; the video gets the rest, spread over the duration plus one second
    (the rate-control buffer, which may be full at the end)."""
    if not duration_s or duration_s <= 0:
        raise PrepError("a size budget needs the video's duration, which is unknown")
    total = max_bytes * 8 * SIZE_MARGIN
    audio_bps = 0
    if audio:
        per_second = total / duration_s
        audio_bps = AUDIO_BPS if per_second >= 1_000_000 else 64_000 if per_second >= 256_000 else 32_000
    video_bps = int((total - audio_bps * duration_s) / (duration_s + 1.0))
    if video_bps < MIN_VIDEO_BPS:
        raise PrepError(f"{duration_s:g} s of video cannot fit in {max_bytes} bytes")
    return video_bps, audio_bps


def fps_text(fps: float) -> str:
    """A frame rate as ffmpeg reads it exactly: 24 → "24", 29.97 → "30000/1001"."""
    frac = Fraction(fps).limit_denominator(1001)
    return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"


def colour(fill: str) -> str:
    """``#RRGGBB`` → ffmpeg's ``0xRRGGBB``."""
    match = _HEX.fullmatch(fill.strip())
    if not match:
        raise PrepError(f"pad colour must be #RRGGBB or blur, not {fill!r}")
    return "0x" + match.group(1).upper()


def even(n: int) -> int:
    return max(2, n - n % 2)


def filter_graph(target: VideoTarget, fps: float | None, slower: bool) -> str:
    """The filter graph from the (upright) decoded input ``[0:v:0]`` to ``[v]`` (``-pix_fmt yuv420p``
    converts its output for the encoder).

    ``slower``: the output frame rate is lower than the source's, so frames are dropped before scaling."""
    rate = [f"fps={fps_text(fps)}"] if fps else []
    before, after = (rate, []) if slower else ([], rate)
    scale_to = target.scale_to or target.size
    size = target.size or scale_to
    if scale_to is None or size is None:  # as the source: only make the sides even (yuv420p needs it)
        chain = [*before, "scale=trunc(iw/2)*2:trunc(ih/2)*2", *after]
        return "[0:v:0]" + ",".join([*chain, "setsar=1"]) + "[v]"
    sw, sh = scale_to
    w, h = even(size[0]), even(size[1])
    fit = target.fit if (sw, sh) != (w, h) else "none"
    if fit == "pad" and target.fill == "blur":
        radius = max(1, min(w, h) // 16)  # chroma planes are half size: their radius must be half too
        blur = f"boxblur=luma_radius={radius}:luma_power=2:chroma_radius={max(1, radius // 2)}:chroma_power=2"
        return ("[0:v:0]" + ",".join([*before, "split=2[bg][fg]"]) + ";"
                f"[bg]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},{blur}[blurred];"
                f"[fg]scale={sw}:{sh}[front];"
                "[blurred][front]overlay=x=(W-w)/2:y=(H-h)/2:shortest=1,"
                + ",".join([*after, "setsar=1"]) + "[v]")
    steps = [*before, f"scale={sw}:{sh}"]
    if fit == "pad":
        steps.append(f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color={colour(target.fill)}")
    elif fit == "crop":
        steps.append(f"crop={w}:{h}")
    elif (sw, sh) != (w, h):  # "none" with unequal sizes: make it exactly the output size
        steps.append(f"scale={w}:{h}")
    return "[0:v:0]" + ",".join([*steps, *after, "setsar=1"]) + "[v]"


def video_filters(graph: str) -> list[str]:
    """The graph as ``-vf`` when it is one chain (as a hand-written command has it), else ``-filter_complex``."""
    if ";" in graph:
        return ["-filter_complex", graph, "-map", "[v]"]
    return ["-map", "0:v:0", "-vf", graph.removeprefix("[0:v:0]").removesuffix("[v]")]


def remux_args(source: str, facts: MediaFacts) -> list[str]:
    args = ["-i", source, "-map", "0:v:0", "-c:v", "copy"]
    if facts.codec == "hevc":  # the sample entry Apple's decoders require (ffmpeg's default is hev1)
        args += ["-tag:v", "hvc1"]
    if facts.fps:
        args += ["-bsf:v", last_frame_duration(facts.fps)]
    if facts.has_audio:
        args += ["-map", "0:a:0", "-c:a", "copy" if facts.audio_codec in _MP4_AUDIO else "aac"]
        if facts.audio_codec not in _MP4_AUDIO:
            args += ["-b:a", str(AUDIO_BPS)]
    return [*args, "-map_metadata", "0", "-movflags", "+faststart"]


def last_frame_duration(fps: float) -> str:
    """A bitstream filter giving every packet one frame's duration at ``fps``, in the source's time base.

    An MP4 track lasts until its last sample's end, and the last sample lasts its packet's duration.
    Matroska, WebM and FLV keep times in whole milliseconds, and their demuxer gives a 24 fps frame
    41 ms, not 41.67: a clip of a whole number of seconds remuxed as it is lost a millisecond, enough to
    fall under a duration minimum the source met.
    Rounding the frame time to the time base puts the end back where the source's header had it. Times
    (pts, dts) stay as they are; only durations change, and MP4 keeps only the last one.
    """
    rate = fps_text(fps)
    return f"setts=pts=PTS:dts=DTS:duration=max(1\\,round(1/(({rate})*TB)))"


def encode_args(source: str, facts: MediaFacts, target: VideoTarget, *, video_bps: int | None,
                audio_bps: int) -> list[str]:
    """ffmpeg's arguments (without the output) for the one re-encoding pass."""
    fps = output_fps(facts, target)
    slower = bool(fps and facts.fps and fps < facts.fps)
    args = ["-ss", ffmpeg.seconds(target.start_s)] if target.start_s > 0 else []
    args += ["-i", source, *video_filters(filter_graph(target, fps, slower)),
             "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-pix_fmt", "yuv420p"]
    if video_bps is not None:
        args += ["-maxrate", str(video_bps), "-bufsize", str(video_bps)]
    if keeps_audio(facts, target):
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(audio_bps)]
    else:
        args += ["-an"]
    if target.duration_s is not None:
        length = output_duration(facts, target)
        assert length is not None
        args += ["-t", ffmpeg.seconds(length)]
        if fps:
            args += ["-frames:v", str(output_frames(target.duration_s, fps))]
    return [*args, "-sn", "-dn", "-map_metadata", "0", "-movflags", "+faststart"]
