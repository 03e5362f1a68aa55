"""Benchmark the video and audio executors of ``fix`` against the alternatives the issue names.

Run: ``python bench/bench_fix_av.py [--runs 3]``. Makes its sources with ffmpeg in a temporary folder
(a 15 s 1080p30 H.264 + AAC MKV, a 10 s 1080p30 H.264 + AAC MP4, a 20 s 44.1 kHz stereo 192 kb/s MP3 and
the same as a 16-bit WAV), then prints the median over ``--runs`` interleaved runs of:

* container-only fix: ``fix_video`` with ``remux_only`` (stream copy into MP4) against ``fix_video``
  re-encoding the same clip at its own size (what fixing the container costs without the remux path);
  target ≥ 20× faster;
* audio trim 20 s → 15 s: ``fix_audio`` (MP3: an ffmpeg stream copy of whole frames; WAV: the samples
  copied in Python under a new header) against pydub's ``from_file()[:15000].export()`` (pydub 0.25
  over the same ffmpeg binary, the codec given so that it needs no ffprobe); target ≥ 10× faster.
  pydub reads and writes WAV in Python without ffmpeg, so for WAV it is Python slicing against Python
  copying. Each ffmpeg run costs a process start (10–30 ms on a loaded machine), which the ratio feels;
* full re-encode: ``fix_video`` 10 s 1080p30 → 1280×720, 24 fps, trimmed to 8 s, with the size budget the
  planner always sets, against the bare ffmpeg command with the same settings written by hand; target
  within 1.2×.

ffmpeg is the binary imageio-ffmpeg ships; the files sit in the page cache throughout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from media import Media, ffmpeg_exe, run_ffmpeg  # noqa: E402  (tests/media.py: the test generators)

from prep.fix.audio import fix_audio  # noqa: E402
from prep.fix.model import AudioTarget, VideoTarget  # noqa: E402
from prep.fix.video import PRESET, budget, fix_video  # noqa: E402


def _size_limit(rule_id: str) -> int:
    """The rule set's file-size limit (the planner passes it on every job)."""
    from prep.ruleset import DEFAULT_PROFILE, RuleBook

    rule = next(r for r in RuleBook().get(DEFAULT_PROFILE).rules if r.id == rule_id)
    return int((rule.options or {})["below"])


MAX_BYTES = _size_limit("video.file-size")
AUDIO_MAX_BYTES = _size_limit("audio.file-size")


def make_sources(media: Media) -> dict[str, Path]:
    root = media.root
    stereo = root / "stereo20.mp3"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=20", "-f", "lavfi", "-i",
               "sine=frequency=660:sample_rate=44100:duration=20", "-filter_complex", "amerge", "-c:a",
               "libmp3lame", "-b:a", "192k", str(stereo))
    wav = root / "stereo20.wav"
    run_ffmpeg("-i", str(stereo), "-c:a", "pcm_s16le", str(wav))
    return {
        "mkv": media.video(size="1920x1080", fps=30, seconds=15, container="mkv", audio=True, extra=("-g", "60")),
        "mp4": media.video(size="1920x1080", fps=30, seconds=10, audio=True, extra=("-g", "60")),
        "mp3": stereo,
        "wav": wav,
    }


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _pydub_trim(source: Path, out: Path, fmt: str) -> None:
    from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()
    codec = {"mp3": "mp3"}.get(fmt)
    AudioSegment.from_file(str(source), format=fmt, codec=codec)[:15000].export(str(out), format=fmt)


def _bare_reencode(source: Path, out: Path) -> None:
    video_bps, audio_bps = budget(MAX_BYTES, 8.0, True)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(source),
                    "-vf", "fps=24,scale=1280:720", "-c:v", "libx264", "-preset", PRESET, "-crf", "20",
                    "-maxrate", str(video_bps), "-bufsize", str(video_bps), "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", str(audio_bps), "-t", "8", "-movflags", "+faststart", str(out)],
                   check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["container", "audio", "full"],
                        help="only this comparison (to give it many runs on a loaded machine)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="pydub")  # "Couldn't find ffmpeg": we set the converter
    with tempfile.TemporaryDirectory(prefix="bench-fix-av-") as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        start = time.perf_counter()
        src = make_sources(Media(Path(tmp) / "src"))
        print(f"sources made in {time.perf_counter() - start:.1f} s")
        jobs = {
            "remux 15 s 1080p mkv → mp4 (fix_video, remux_only)":
                lambda: fix_video(str(src["mkv"]), VideoTarget(remux_only=True), str(out / "remux.mp4")),
            "re-encode 15 s 1080p mkv → mp4 (fix_video, H.264 veryfast)":
                lambda: fix_video(str(src["mkv"]), VideoTarget(max_bytes=MAX_BYTES), str(out / "reencode.mp4")),
            "trim mp3 20 → 15 s (fix_audio, stream copy)":
                lambda: fix_audio(str(src["mp3"]), AudioTarget(format="mp3", duration_s=15, copy=True,
                                                               max_bytes=AUDIO_MAX_BYTES), str(out / "trim.mp3")),
            "trim mp3 20 → 15 s (pydub decode-slice-encode)": lambda: _pydub_trim(src["mp3"], out / "p.mp3", "mp3"),
            "trim wav 20 → 15 s (fix_audio, PCM cut in Python)":
                lambda: fix_audio(str(src["wav"]), AudioTarget(format="wav", duration_s=15, copy=True,
                                                               max_bytes=AUDIO_MAX_BYTES),
                                  str(out / "trim.wav")),
            "trim wav 20 → 15 s (pydub, Python slicing)": lambda: _pydub_trim(src["wav"], out / "p.wav", "wav"),
            "10 s 1080p30 → 720p 24 fps, trim 8 s (fix_video)":
                lambda: fix_video(str(src["mp4"]), VideoTarget(size=(1280, 720), scale_to=(1280, 720), fps=24,
                                                               duration_s=8, max_bytes=MAX_BYTES),
                                  str(out / "full.mp4")),
            "10 s 1080p30 → 720p 24 fps, trim 8 s (bare ffmpeg)":
                lambda: _bare_reencode(src["mp4"], out / "bare.mp4"),
        }
        groups = {"container": ("remux", "re-encode"), "audio": ("trim",), "full": ("10 s",)}
        if args.only:
            jobs = {name: job for name, job in jobs.items() if name.startswith(groups[args.only])}
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.runs):
            for name, job in jobs.items():
                for old in out.iterdir():  # each run writes a new file, as a user's run does: freeing the last
                    old.unlink()  # run's output is not the job's cost (for a 2.6 MB WAV it was half of it)
                times[name].append(_time(job))
        med = {name: statistics.median(values) for name, values in times.items()}
        width = max(map(len, med))
        for name, value in med.items():
            print(f"{name:<{width}}  {value * 1000:9.1f} ms")
        ratios = [("container-only fix vs re-encode", "re-encode 15", "remux 15", "faster (target ≥ 20×)"),
                  ("mp3 trim vs pydub", "trim mp3 20 → 15 s (pydub", "trim mp3 20 → 15 s (fix",
                   "faster (target ≥ 10×)"),
                  ("wav trim vs pydub", "trim wav 20 → 15 s (pydub", "trim wav 20 → 15 s (fix",
                   "faster (pydub slices WAV in Python)"),
                  ("full re-encode vs bare ffmpeg", "10 s 1080p30 → 720p 24 fps, trim 8 s (fix",
                   "10 s 1080p30 → 720p 24 fps, trim 8 s (bare", "(target ≤ 1.2×)")]
        for label, top, bottom, note in ratios:
            a = next((v for k, v in med.items() if k.startswith(top)), None)
            b = next((v for k, v in med.items() if k.startswith(bottom)), None)
            if a is not None and b is not None:
                print(f"{label}: {a / b:.2f}× {note}")


if __name__ == "__main__":
    main()
