"""Benchmark media inspection: prep.inspect vs pymediainfo vs PyAV vs ffprobe, and the facts cache.

Run: ``python bench/bench_inspect.py [--files 200] [--runs 5] [--keep DIR]``. Makes a folder of
distinct mixed media files (images, mp4/mov/mkv/webm/avi, wav/mp3/flac/ogg/m4a) with ffmpeg and
Pillow (``--keep DIR`` keeps it and reuses it next time), then prints median per-file times:

* every method in one process, best of 3 per file (ffprobe: best of 2), median over the files;
* image cost at 1000×1000 and 8000×6000;
* cold vs warm in fresh processes, as a user meets them: cold = a new process with an empty cache
  inspecting every file once; warm = a new process with a populated cache asking
  ``FactsCache().cached_inspect`` for the same files; median of ``--runs`` runs each. The warm
  figure that counts is the whole cache part of a fresh process: importing ``prep.facts_cache``
  plus every lookup of the folder (the first one imports ``sqlite3``, opens the database and reads
  the folder's entries with one query). After its timing, each warm process also times the same
  lookups again and ``os.stat`` alone, the floor of any lookup that notices a rewritten file. For
  scale, the whole ``python -m prep inspect FOLDER`` run is timed warm too (interpreter, rules, report).

Files sit in the OS page cache throughout, so "cold" means "not in our facts cache", not "not read
from disk before". ffprobe and PyAV are benchmark-only tools (``apt-get install ffmpeg``,
``pip install av``); a missing one is reported as such.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from media import Media  # noqa: E402  (tests/media.py: the same generators the tests use)

from prep.inspect import inspect_path  # noqa: E402

KINDS = ("image", "video", "audio")
TARGET_NEAR_FASTEST = 1.2
TARGET_VS_FFPROBE = 5.0
TARGET_FLAT = 1.2
TARGET_WARM_MS = 15.0  # the cache part of a fresh process on a warm 200-file folder


class KeptMedia(Media):
    """Media named by what they are, so a kept folder is reused instead of made again."""

    def _once(self, key: str, suffix: str, make) -> Path:
        path = self.root / (hashlib.sha1(key.encode()).hexdigest()[:12] + suffix)
        if not path.exists():
            tmp = path.with_name(path.name + ".part" + suffix)
            make(tmp)
            os.replace(tmp, path)
        self._made[key] = path
        return path


def make_corpus(media: Media, count: int) -> list[tuple[Path, str]]:
    """``count`` distinct files, 35% images, 40% video, 25% audio, as (path, kind)."""
    images = itertools.cycle([
        dict(fmt="jpeg", size=(1920, 1080)), dict(fmt="jpeg", size=(1000, 1000), exif_orientation=6),
        dict(fmt="png", size=(1280, 720)), dict(fmt="webp", size=(800, 600)), dict(fmt="jpeg", size=(4000, 3000)),
        dict(fmt="png", size=(640, 640), mode="RGBA"), dict(fmt="gif", size=(320, 240)),
        dict(fmt="bmp", size=(300, 300)), dict(fmt="tiff", size=(500, 400)),
    ])
    videos = [
        dict(size="640x360", fps=24, seconds=5.0, audio=True),
        dict(size="640x360", fps=30, seconds=10.0, faststart=True),
        dict(size="480x854", fps=24, seconds=8.0, container="mov", audio=True),
        dict(size="640x360", fps=25, seconds=12.0, container="mkv", audio=True),
        dict(size="320x240", fps=24, seconds=6.0, container="webm", codec="libvpx-vp9"),
        dict(size="320x240", fps=25, seconds=4.0, container="avi", codec="mpeg4"),
        dict(size="640x360", fps=60, seconds=15.0),
        dict(size="640x360", fps=24, seconds=10.0, codec="libx265", container="mp4"),
    ]
    audios = [
        dict(container="wav", seconds=20.0, rate=44100), dict(container="mp3", seconds=10.0, rate=44100, channels=2),
        dict(container="flac", seconds=10.0, rate=48000), dict(container="ogg", seconds=10.0, rate=44100),
        dict(container="m4a", seconds=10.0, rate=44100, channels=2),
    ]
    out: list[tuple[Path, str]] = []
    n_img, n_vid = int(count * 0.35), int(count * 0.40)
    for i in range(count):
        # One knob per file makes every file distinct: the cache and the OS must not dedupe them.
        if i < n_img:
            spec = dict(next(images))
            w, h = spec["size"]
            spec["size"] = (w + i, h)
            out.append((media.image(**spec), "image"))
        elif i < n_img + n_vid:
            j = i - n_img
            spec = dict(videos[j % len(videos)])
            spec["seconds"] += (j // len(videos)) / 10
            out.append((media.video(**spec), "video"))
        else:
            j = i - n_img - n_vid
            spec = dict(audios[j % len(audios)])
            spec["seconds"] += (j // len(audios)) / 10
            out.append((media.audio(**spec), "audio"))
    assert len({p for p, _ in out}) == count, "corpus files are not distinct"
    return out


# -- methods ---------------------------------------------------------------------------------------


def mediainfo_methods() -> dict[str, object]:
    try:
        from pymediainfo import MediaInfo
    except ImportError:
        return {}

    def facts(info) -> list:
        return [(t.track_type, t.format, t.width, t.height, t.duration, t.frame_rate, t.sampling_rate, t.channel_s)
                for t in info.tracks]

    return {
        "pymediainfo parse (default)": lambda p: facts(MediaInfo.parse(p)),
        "pymediainfo parse (parse_speed=0, full=False)": lambda p: facts(
            MediaInfo.parse(p, parse_speed=0, full=False)),
    }


def pyav_method():
    try:
        import av
    except ImportError:
        return None

    def probe(path):
        try:
            with av.open(str(path)) as c:
                streams = []
                for s in c.streams:
                    cc = s.codec_context
                    if s.type == "video":
                        streams.append(("video", cc.name, cc.width, cc.height, s.average_rate, s.frames))
                    elif s.type == "audio":
                        streams.append(("audio", cc.name, cc.sample_rate, cc.channels, s.frames))
                return c.format.name, c.duration, streams
        except av.error.FFmpegError:
            return None

    return probe


def ffprobe_method():
    exe = shutil.which("ffprobe")
    if exe is None:
        return None

    def probe(path):
        done = subprocess.run([exe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                              capture_output=True, check=False)
        return json.loads(done.stdout or b"{}")

    return probe


def pillow_open(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size, im.format


def per_file_us(fn, paths: list[Path], repeat: int) -> list[float]:
    """Best of ``repeat`` calls of ``fn(path)`` per file, in microseconds."""
    out = []
    for path in paths:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn(path)
            best = min(best, time.perf_counter() - t)
        out.append(best * 1e6)
    return out


def medians(times: list[float], kinds: list[str]) -> dict[str, float]:
    out = {"all": statistics.median(times)}
    for kind in KINDS:
        values = [t for t, k in zip(times, kinds) if k == kind]
        if values:
            out[kind] = statistics.median(values)
    return out


def row(name: str, result: dict[str, float] | None, note: str = "", width: int = 48) -> str:
    if result is None:
        return f"{name:<{width}}{'not installed':>10}"
    cells = "".join(f"{result[k]:>9.1f}" if k in result else f"{'—':>9}" for k in ("all", *KINDS))
    return f"{name:<{width}}{cells}  {note}"


# -- fresh processes -------------------------------------------------------------------------------

CHILD = r"""
import json, sys, time
T = time.perf_counter
mode, listing = sys.argv[1], sys.argv[2]
with open(listing) as fh:
    files = fh.read().split("\n")
import prep.model, prep.paths  # loaded by every CLI run before it looks up any media
t0 = T()
if mode == "cold":
    from prep.inspect import inspect_path as run
else:
    from prep.facts_cache import FactsCache
t1 = T()
if mode != "cold":
    cache = FactsCache()
    run = cache.cached_inspect
per = []
for f in files:
    a = T()
    run(f)
    per.append(T() - a)
if mode == "cold-cached":
    cache.close()  # writing the entries is part of the cold run
t2 = T()
again, stat = [], []
if mode == "warm":  # after the timing: the same files again, then os.stat alone (the floor)
    import os
    for f in files:
        a = T()
        run(f)
        again.append(T() - a)
    for f in files:
        a = T()
        os.stat(f)
        stat.append(T() - a)
print(json.dumps({"import": t1 - t0, "loop": t2 - t1, "per": per, "again": again, "stat": stat,
                  "inspected": "prep.inspect" in sys.modules}))
"""


def fresh_runs(paths: list[Path], runs: int, folder: Path) -> dict[str, list]:
    """``runs`` fresh processes each of: cold (inspect_path), cold through an empty cache, warm, and
    the whole CLI on ``folder`` with a warm cache (wall seconds, under "cli")."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # keep .pyc files
    env["PYTHONPATH"] = str(ROOT)
    out: dict[str, list] = {"cold": [], "cold-cached": [], "warm": [], "cli": []}
    with tempfile.TemporaryDirectory(prefix="bench-facts-") as tmp:
        env["SEEDANCE_PREP_HOME"] = str(Path(tmp) / "home")
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(str(p) for p in paths))

        def child(mode: str) -> dict:
            done = subprocess.run([sys.executable, "-c", CHILD, mode, str(listing)], env=env, capture_output=True,
                                  text=True, check=True)
            return json.loads(done.stdout)

        def cli() -> float:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "prep", "inspect", str(folder)], env=env, capture_output=True,
                           check=False)
            return time.perf_counter() - t

        child("cold-cached")  # compile every .pyc once, outside the timing
        cli()
        for _ in range(runs):  # interleaved, so load from elsewhere on the machine hits all four alike
            out["cold"].append(child("cold"))
            shutil.rmtree(Path(tmp) / "home", ignore_errors=True)
            out["cold-cached"].append(child("cold-cached"))
            out["warm"].append(child("warm"))
            cli()  # the cold-cached run knew only the listed files: the folder's few others, now
            out["cli"].append(cli())
    if any(r["inspected"] for r in out["warm"]):
        print("WARNING: a warm run imported prep.inspect: something was a miss")
    return out


def summarize(results: list[dict], kinds: list[str]) -> dict[str, float]:
    """Medians over runs of: per-file median (all and per kind, µs), loop total and import (ms)."""
    per_run = [medians([t * 1e6 for t in r["per"]], kinds) for r in results]
    out = {k: statistics.median(m[k] for m in per_run) for k in per_run[0]}
    out["loop_ms"] = statistics.median(r["loop"] * 1e3 for r in results)
    out["import_ms"] = statistics.median(r["import"] * 1e3 for r in results)
    out["total_ms"] = statistics.median((r["loop"] + r["import"]) * 1e3 for r in results)
    out["slowest_ms"] = statistics.median(max(r["per"]) * 1e3 for r in results)
    out["first_ms"] = statistics.median(r["per"][0] * 1e3 for r in results)
    out["rest_ms"] = statistics.median((r["loop"] - r["per"][0]) * 1e3 for r in results)
    for key in ("again", "stat"):
        if results[0][key]:
            out[f"{key}_us"] = statistics.median(statistics.median(r[key]) * 1e6 for r in results)
    out["loop_but_slowest_ms"] = statistics.median((r["loop"] - max(r["per"])) * 1e3 for r in results)
    return out


def cache_part(paths: list[Path], kinds: list[str], runs: int, folder: Path) -> tuple[dict[str, float], tuple]:
    """Section 3, cold vs warm in fresh processes: prints it, returns the warm summary and its target line."""
    print(f"\nfacts cache: {runs} fresh processes each, {len(paths)} files, medians over runs")
    fresh = fresh_runs(paths, runs, folder)
    cli_ms = statistics.median(fresh.pop("cli")) * 1e3
    summary = {mode: summarize(results, kinds) for mode, results in fresh.items()}
    labels = {"cold": "cold: inspect_path", "cold-cached": "cold: FactsCache().cached_inspect, empty",
              "warm": "warm: FactsCache().cached_inspect"}
    print(f"{'':<44}{'per-file median µs':>38}{'loop':>9}{'loop/file':>11}{'import':>9}{'+import':>9}")
    print(f"{'':<44}{'all':>9}{'image':>9}{'video':>9}{'audio':>9}{'ms':>9}{'µs':>11}{'ms':>9}{'ms':>9}")
    for mode, s in summary.items():
        cells = "".join(f"{s[k]:>9.1f}" for k in ("all", *KINDS))
        print(f"{labels[mode]:<44}{cells}{s['loop_ms']:>9.2f}{s['loop_ms'] * 1e3 / len(paths):>11.1f}"
              f"{s['import_ms']:>9.2f}{s['total_ms']:>9.2f}")
    cold, warm = summary["cold"], summary["warm"]
    ratio_file = cold["all"] / warm["all"]
    ratio_loop = cold["loop_ms"] / warm["loop_ms"]
    ratio_total = cold["total_ms"] / warm["total_ms"]
    ratio_but_slowest = cold["loop_but_slowest_ms"] / warm["loop_but_slowest_ms"]
    print(f"warm vs cold: per-file median {ratio_file:.1f}× ("
          + ", ".join(f"{k} {cold[k] / warm[k]:.1f}×" for k in KINDS) + f"); whole folder {ratio_loop:.1f}×, "
          f"with imports {ratio_total:.1f}×")
    print(f"  in the warm process afterwards: the same lookups again {warm['again_us']:.1f} µs per file, "
          f"os.stat alone {warm['stat_us']:.1f} µs (per-file medians)")
    print(f"  the slowest single file of a run: cold {cold['slowest_ms']:.2f} ms (a lazy import: Pillow for the first"
          f" TIFF), warm {warm['slowest_ms']:.2f} ms; without it the whole folder is {ratio_but_slowest:.1f}×")
    print(f"warm, a fresh process, {len(paths)} files in one folder: {warm['total_ms']:.2f} ms for the cache part = "
          f"import prep.facts_cache {warm['import_ms']:.2f} + first lookup {warm['first_ms']:.2f} (imports sqlite3, "
          f"opens the database, reads the folder: one query) + the other {len(paths) - 1} lookups "
          f"{warm['rest_ms']:.2f}")
    print(f"  for scale: the whole warm run of `python -m prep inspect FOLDER` (interpreter, rules, report) "
          f"{cli_ms:.1f} ms wall")
    measured = (f"{warm['total_ms']:.2f} ms (whole folder {ratio_loop:.1f}× faster than cold, "
                f"{ratio_total:.1f}× with imports)")
    target = (f"warm {len(paths)}-file folder, fresh process ≤ {TARGET_WARM_MS:.0f} ms (cache part)", measured,
              warm["total_ms"] <= TARGET_WARM_MS)
    return warm, target


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per cold/warm measurement")
    parser.add_argument("--keep", type=Path, help="make (or reuse) the corpus in this folder and keep it")
    parser.add_argument("--cache-only", action="store_true", help="only the facts cache part (section 3)")
    args = parser.parse_args()
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set here; fresh processes are run without it\n")

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    media = KeptMedia(folder)
    t = time.perf_counter()
    corpus = make_corpus(media, args.files)
    paths, kinds = [p for p, _ in corpus], [k for _, k in corpus]
    print(f"corpus: {len(paths)} distinct files in {folder} (ready in {time.perf_counter() - t:.1f} s): "
          + ", ".join(f"{kinds.count(k)} {k}" for k in KINDS) + "\n")
    bad = [(p.name, f.problem) for p in paths if (f := inspect_path(p)).problem]
    if bad:
        print("WARNING: problems reported on good files:", bad)

    if args.cache_only:
        _, (what, measured, met) = cache_part(paths, kinds, args.runs, folder)
        print(f"\ntargets\n  {what:<52}{'met' if met else 'NOT MET':<9}{measured}")
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        return

    # 1. Every method, per file.
    methods: dict[str, object] = {"prep.inspect.inspect_path (ours)": inspect_path}
    methods.update(mediainfo_methods())
    methods["PyAV av.open + streams"] = pyav_method()
    methods["ffprobe -show_streams -show_format (subprocess)"] = ffprobe_method()
    for fn in methods.values():
        if fn is not None:
            fn(paths[0])  # imports and library loading outside the timing
    print(f"{'median µs per file (one process)':<48}{'all':>9}{'image':>9}{'video':>9}{'audio':>9}  vs ours")
    results: dict[str, dict[str, float]] = {}
    for name, fn in methods.items():
        if fn is None:
            print(row(name, None))
            continue
        times = per_file_us(fn, paths, repeat=2 if "ffprobe" in name else 3)
        results[name] = medians(times, kinds)
        if fn is inspect_path:  # by format: the API's formats have hand-written parsers, the rest go to libmediainfo
            by_format: dict[str, list[float]] = {}
            for path, t in zip(paths, times):
                by_format.setdefault(path.suffix.lower().lstrip("."), []).append(t)
            ours_by_format = ", ".join(f"{ext} {statistics.median(ts):.1f}" for ext, ts in sorted(by_format.items()))
    images = [p for p, k in corpus if k == "image"]
    results["Pillow Image.open (images only)"] = {"image": statistics.median(per_file_us(pillow_open, images, 3))}
    ours = results["prep.inspect.inspect_path (ours)"]
    for name, result in results.items():
        base = "all" if "all" in result else "image"
        print(row(name, result, f"{result[base] / ours[base]:6.1f}×"))
    print(f"  ours by format, median µs per file: {ours_by_format}")

    # 2. Image cost by size: calls interleaved across sizes, so machine noise hits every size alike.
    sizes = ((1000, 1000), (4000, 3000), (8000, 6000))
    big = {fmt: [media.image(fmt=fmt, size=s) for s in sizes] for fmt in ("jpeg", "png")}
    print("\nimage cost by size (median µs per call, calls interleaved across sizes)")
    print(f"{'':<48}" + "".join(f"{f'{fmt} {w}×{h}':>16}" for fmt in big for w, h in sizes))
    print(f"{'file size':<48}" + "".join(f"{f'{p.stat().st_size / 1e3:.0f} kB':>16}" for ps in big.values()
                                          for p in ps))
    flat: dict[str, dict[str, float]] = {}
    size_methods = {k: v for k, v in methods.items() if v is not None}
    size_methods["Pillow Image.open"] = pillow_open
    for name, fn in size_methods.items():
        cells, ratios = "", {}
        for fmt, files in big.items():
            t = time.perf_counter()
            fn(files[-1])
            calls = max(3, min(200, int(0.3 / (time.perf_counter() - t))))
            times: list[list[float]] = [[] for _ in files]
            for _ in range(calls):
                for i, p in enumerate(files):
                    times[i] += per_file_us(fn, [p], 1)
            us = [statistics.median(ts) for ts in times]
            cells += "".join(f"{u:>16.1f}" for u in us)
            ratios[fmt] = us[-1] / us[0]
        flat[name] = ratios
        print(f"{name:<48}{cells}  8000×6000/1000²: " + ", ".join(f"{fmt} {r:.2f}" for fmt, r in ratios.items()))

    # 3. Cold vs warm, fresh processes.
    warm, warm_target = cache_part(paths, kinds, args.runs, folder)
    general = results.get("pymediainfo parse (default)")
    if general:
        print(f"for scale: a full pymediainfo parse (the inspector's general path) is "
              f"{general['all'] / warm['all']:.0f}× the warm per-file median")

    # 4. Targets.
    print("\ntargets")
    comparable = {n: r for n, r in results.items() if "all" in r and "ours" not in n}
    fastest_name = min(comparable, key=lambda n: comparable[n]["all"])
    near = ours["all"] / min(ours["all"], comparable[fastest_name]["all"])
    per_kind = []
    for kind in KINDS:
        best = min(r[kind] for n, r in results.items() if kind in r)
        per_kind.append(f"{kind} {ours[kind] / best:.2f}×")
    ffprobe = results.get("ffprobe -show_streams -show_format (subprocess)")
    ours_flat = flat["prep.inspect.inspect_path (ours)"]

    def line(what: str, measured: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("met" if met else "NOT MET")
        print(f"  {what:<52}{verdict:<9}{measured}")

    line(f"ours within {TARGET_NEAR_FASTEST}× of the fastest method", f"{near:.2f}× of the fastest "
         f"(per kind vs best incl. Pillow: {', '.join(per_kind)})", near <= TARGET_NEAR_FASTEST)
    line(f"≥{TARGET_VS_FFPROBE:.0f}× faster than ffprobe per file",
         f"{ffprobe['all'] / ours['all']:.0f}×" if ffprobe else "ffprobe not installed",
         ffprobe["all"] / ours["all"] >= TARGET_VS_FFPROBE if ffprobe else None)
    line("image cost flat across sizes (8000×6000 / 1000²)",
         ", ".join(f"{fmt} {r:.2f}×" for fmt, r in ours_flat.items()), max(ours_flat.values()) <= TARGET_FLAT)
    line(*warm_target)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
