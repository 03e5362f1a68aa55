"""Benchmark ``--deep``: what decoding costs per file, next to reading its header.

Run: ``python bench/bench_deep.py [--runs 5]``. Makes three files with ffmpeg (a 5 s 720p30 H.264
clip with AAC audio and a keyframe every second, a 15 s MP3, a detailed 3000×2000 JPEG) in a temporary
folder, then prints for each the median over ``--runs`` interleaved runs of:

* ``header``: ``prep.inspect.inspect_path`` (what ``check`` and ``inspect`` do without ``--deep``);
* ``deep``: ``prep.deep.Deep().check`` with its memo cleared each run (an ffmpeg process decoding the
  first and the last second, or Pillow's ``load()``), the cost ``--deep`` adds per file.

The files sit in the OS page cache throughout. ffmpeg is the binary imageio-ffmpeg ships.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from media import Media, run_ffmpeg  # noqa: E402  (tests/media.py: the same generators the tests use)

from prep.deep import Deep  # noqa: E402
from prep.inspect import inspect_path  # noqa: E402


def make_files(media: Media) -> dict[str, Path]:
    return {
        # a keyframe every second, as phones and cameras write them (the seek to the last second starts there)
        "5 s 720p H.264 + AAC mp4": media.video(size="1280x720", fps=30, seconds=5.0, audio=True, extra=("-g", "30")),
        "15 s MP3 (44.1 kHz)": media.audio(seconds=15.0, rate=44100, container="mp3"),
        "3000×2000 JPEG": _photo(media.root / "photo.jpg"),
    }


def _photo(out: Path) -> Path:
    """A detailed 3000×2000 JPEG (ffmpeg's test pattern plus noise: a flat colour decodes unrealistically fast)."""
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=3000x2000", "-vf", "noise=alls=40:allf=t", "-frames:v", "1",
               "-q:v", "3", str(out))
    return out


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-deep-") as tmp:
        files = make_files(Media(Path(tmp)))
        deep = Deep(jobs=1)
        header: dict[str, list[float]] = {name: [] for name in files}
        decoded: dict[str, list[float]] = {name: [] for name in files}
        for _ in range(args.runs):  # interleaved: every file sees the same drift in the machine's load
            for name, path in files.items():
                facts = inspect_path(path)
                header[name].append(_time(lambda p=path: inspect_path(p)))
                deep._memo.clear()
                decoded[name].append(_time(lambda p=path, f=facts: deep.check(p, f)))
                assert deep.check(path, facts).problem is None, name
        print(f"--deep cost per file, median of {args.runs} runs (ffmpeg {Path(deep.exe).name})")
        print(f"{'file':28} {'bytes':>10} {'header':>10} {'deep':>10}")
        for name, path in files.items():
            print(f"{name:28} {path.stat().st_size:>10,} {statistics.median(header[name]) * 1e3:>8.2f} ms"
                  f" {statistics.median(decoded[name]) * 1e3:>8.1f} ms")


if __name__ == "__main__":
    main()
