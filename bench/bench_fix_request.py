"""Benchmark a whole ``fix`` run: one request with 9 images, 3 videos and 3 audio clips, all needing a fix.

Run: ``python bench/bench_fix_request.py [--workers 2] [--media small|phone]``. Makes its sources in a temporary folder (Pillow
and ffmpeg): nine 1600×300 PNGs (ratio 5.3: padded), three 2 s 640×360 15 fps H.264 clips (too few
pixels and too few frames a second: scaled and re-encoded at 24 fps) and three 3 s FLAC tones (a format
the API refuses: encoded to MP3); ``--media phone`` makes them as a phone would (see ``PRESETS``). Then, with a fresh ``SEEDANCE_PREP_HOME`` (an empty cache):

* cold: ``prep.fix.fix()`` end to end (check, plan, run the 15 media jobs on ``--workers`` processes,
  write the request, check it again), into a new folder;
* warm: the same into another new folder: every job is a cache hit (target: ≥ 20× faster than cold);
* the time inside the executors (Pillow and ffmpeg: ``run_job``, timed in each worker), summed over the
  jobs, and the wall time during which at least one of them runs (the union of their intervals, on the
  machine-wide monotonic clock); the rest of the cold wall time is the share spent outside ffmpeg/Pillow
  (reading and checking the request, planning, hashing, starting the workers, writing and checking the
  output request);
* with ``--cli``: the same cold and warm runs as commands in new interpreters (start-up included).

Each run is a fresh measurement (``--runs`` cold/warm pairs, each cold on an emptied cache; medians).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from media import run_ffmpeg  # noqa: E402  (tests/media.py: the test generators)


# The sources, small (the default: quick to make and to fix) or as a phone makes them (``--media phone``):
# 4032×756 JPEG panoramas (ratio 5.3: padded; a big JPEG decode), 1080p 30 fps clips (over the pixel range:
# scaled and re-encoded) and 5 s stereo FLAC.
PRESETS = {
    "small": {"image": (1600, 300), "format": "PNG", "video": "640x360", "rate": 15, "seconds": 2, "audio_s": 3},
    "phone": {"image": (4032, 756), "format": "JPEG", "video": "1920x1080", "rate": 30, "seconds": 5, "audio_s": 5},
}


def make_request(folder: Path, preset: str = "small") -> Path:
    from PIL import Image, ImageDraw

    p = PRESETS[preset]
    w, h = p["image"]
    ext = "png" if p["format"] == "PNG" else "jpg"
    content: list[dict] = [{"type": "text", "text": "a product film from these references"}]
    for i in range(9):
        im = Image.effect_noise((w, h), 40 + 5 * i).convert("RGB") if preset == "phone" else \
            Image.new("RGB", (w, h), (20 * i, 90, 200 - 15 * i))
        ImageDraw.Draw(im).ellipse((w // 16 * (i + 1), h // 6, w // 16 * (i + 1) + h // 2, h // 6 + h // 2),
                                   fill=(255, 255, 255))
        name = f"banner{i + 1}.{ext}"
        im.save(folder / name, p["format"], **({"quality": 92} if ext == "jpg" else {}))
        content.append({"type": "image_url", "image_url": {"url": name}, "role": "reference_image"})
    for i in range(3):
        name = f"clip{i + 1}.mp4"
        run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={p['video']}:rate={p['rate']}:duration={p['seconds']},"
                   f"hue=h={40 * i}", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                   str(folder / name))
        content.append({"type": "video_url", "video_url": {"url": name}, "role": "reference_video"})
    for i in range(3):
        name = f"tone{i + 1}.flac"
        run_ffmpeg("-f", "lavfi", "-i", f"sine=frequency={330 + 110 * i}:sample_rate=44100:duration={p['audio_s']}",
                   "-ac", "2", "-c:a", "flac", str(folder / name))
        content.append({"type": "audio_url", "audio_url": {"url": name}, "role": "reference_audio"})
    request = folder / "request.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": content}, indent=2))
    return request


def _timed_run_job(log: str):
    """``prep.fix.run.run_job`` wrapped to append its wall time to ``log`` (workers are forked after
    this is installed, so they run the wrapper too)."""
    from prep.fix import run

    original = run.run_job

    def timed(kind, source, target, out_path, *, progress=None):
        t0 = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        try:
            return original(kind, source, target, out_path, progress=progress)
        finally:
            with open(log, "a") as fh:
                fh.write(f"{kind} {t0:.6f} {time.monotonic():.6f}\n")

    run.run_job = timed


def _executor_seconds(log: str) -> tuple[float, dict[str, float], float]:
    """The executors' time summed (and by kind), and the wall time during which at least one ran."""
    by_kind: dict[str, float] = {}
    try:
        lines = Path(log).read_text().splitlines()
    except FileNotFoundError:
        return 0.0, by_kind, 0.0
    spans = []
    for line in lines:
        kind, start, end = line.split()
        spans.append((float(start), float(end)))
        by_kind[kind] = by_kind.get(kind, 0.0) + float(end) - float(start)
    busy, reach = 0.0, float("-inf")
    for start, end in sorted(spans):  # the union of the intervals
        if end > reach:
            busy += end - max(start, reach)
            reach = end
    return sum(by_kind.values()), by_kind, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cli", action="store_true", help="also time the command in new interpreters")
    parser.add_argument("--media", choices=sorted(PRESETS), default="small",
                        help="small sources (default) or phone-sized ones (4032 px JPEGs, 1080p30 clips)")
    args = parser.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="bench-fix-request-") as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        t0 = time.perf_counter()
        request = make_request(src, args.media)
        p = PRESETS[args.media]
        print(f"sources made in {time.perf_counter() - t0:.1f} s: 9 {p['format']} {p['image'][0]}×{p['image'][1]}, "
              f"3 MP4 {p['video']} {p['rate']} fps {p['seconds']} s, 3 FLAC {p['audio_s']} s; {args.workers} workers, "
              f"{os.cpu_count()} CPUs")
        log = str(root / "executors.log")
        _timed_run_job(log)
        from prep.fix import fix

        colds, warms, shares, sums = [], [], [], []
        for n in range(args.runs):
            home = root / f"home{n}"
            os.environ["SEEDANCE_PREP_HOME"] = str(home)
            if os.path.exists(log):
                os.unlink(log)
            t0 = time.perf_counter()
            cold = fix(str(request), str(root / f"cold{n}"), jobs=args.workers)
            cold_s = time.perf_counter() - t0
            executors, by_kind, busy = _executor_seconds(log)
            os.unlink(log)
            t0 = time.perf_counter()
            fix(str(request), str(root / f"warm{n}"), jobs=args.workers)
            warm_s = time.perf_counter() - t0
            ran_warm, _, _ = _executor_seconds(log)
            fixed = [j for j in cold.plan.jobs if j.target is not None]
            assert len(fixed) == 15, f"{len(fixed)} jobs need a fix, expected 15"
            assert not [f for f in cold.remaining if f.severity == "error"], cold.remaining
            assert ran_warm == 0.0, "the warm run ran an executor"
            for job in cold.plan.jobs:  # the warm outputs are the cold ones, byte for byte
                a = (root / f"cold{n}" / "media" / job.output).read_bytes()
                b = (root / f"warm{n}" / "media" / job.output).read_bytes()
                assert a == b, job.output
            colds.append(cold_s)
            warms.append(warm_s)
            sums.append(executors)
            shares.append(1 - busy / cold_s)
            print(f"run {n + 1}: cold {cold_s:.2f} s, warm {warm_s:.3f} s ({cold_s / warm_s:.0f}×); executors "
                  f"{executors:.2f} s summed (" + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(by_kind.items()))
                  + f"), at least one running for {busy:.2f} s: {shares[-1]:.0%} of the cold wall time with no "
                  "executor running")
            shutil.rmtree(home, ignore_errors=True)
        cold_m, warm_m = statistics.median(colds), statistics.median(warms)
        print(f"median: cold {cold_m:.2f} s, warm {warm_m:.3f} s, warm {cold_m / warm_m:.0f}× faster "
              f"(target ≥ 20×); executors {statistics.median(sums):.2f} s summed over 15 jobs; "
              f"share of the cold time outside ffmpeg/Pillow {statistics.median(shares):.0%}")
        if args.cli:
            _cli_runs(request, root, args.workers)


def _cli_runs(request: Path, root: Path, workers: int) -> None:
    """The same as commands, each in a new interpreter (start-up included), on a fresh cache."""
    import subprocess

    # As installed: with bytecode (pip compiles it at install; a PYTHONDONTWRITEBYTECODE dev shell would
    # compile every module on every start, ~30 ms here), kept in a temporary folder, not in the tree.
    env = {**os.environ, "SEEDANCE_PREP_HOME": str(root / "home-cli"), "PYTHONPYCACHEPREFIX": str(root / "pyc"),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "prep")], env=env, check=True)
    times = {}
    for name in ("cold", "warm"):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "prep", "fix", str(request), "--out", str(root / f"cli-{name}"),
                        "-j", str(workers), "-q"], env=env, check=True, stdout=subprocess.DEVNULL)
        times[name] = time.perf_counter() - t0
    print(f"as a command (python -m prep fix, start-up included): cold {times['cold']:.2f} s, warm "
          f"{times['warm']:.3f} s, {times['cold'] / times['warm']:.0f}× faster")


if __name__ == "__main__":
    main()
