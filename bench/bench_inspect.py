"""Benchmark media inspection: prep.inspect vs pymediainfo vs PyAV vs ffprobe, and the facts cache.

Run: ``python bench/bench_inspect.py [--files 200] [--keep DIR]``. Makes a folder of mixed media
(images, mp4/mov/mkv/webm/avi, wav/mp3/flac/ogg/m4a) with ffmpeg and Pillow, then prints median
per-file times. Files sit in the OS page cache, so "cold" means "not in our facts cache", not "not
read from disk before".
"""

from __future__ import annotations

import argparse
import itertools
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

from prep.facts_cache import FactsCache  # noqa: E402
from prep.inspect import inspect_path  # noqa: E402


def make_corpus(media: Media, count: int) -> list[Path]:
    """``count`` files: 35% images, 40% video, 25% audio, with varied sizes, lengths and layouts."""
    images = itertools.cycle([
        dict(fmt="jpeg", size=(1920, 1080)), dict(fmt="jpeg", size=(1000, 1000), exif_orientation=6),
        dict(fmt="png", size=(1280, 720)), dict(fmt="webp", size=(800, 600)), dict(fmt="jpeg", size=(4000, 3000)),
        dict(fmt="png", size=(640, 640), mode="RGBA"), dict(fmt="gif", size=(320, 240)),
        dict(fmt="bmp", size=(300, 300)),
        dict(fmt="tiff", size=(500, 400)),
    ])
    videos = itertools.cycle([
        dict(size="640x360", fps=24, seconds=5.0, audio=True),
        dict(size="640x360", fps=30, seconds=10.0, faststart=True),
        dict(size="480x854", fps=24, seconds=8.0, container="mov", audio=True),
        dict(size="640x360", fps=25, seconds=12.0, container="mkv", audio=True),
        dict(size="320x240", fps=24, seconds=6.0, container="webm", codec="libvpx-vp9"),
        dict(size="320x240", fps=25, seconds=4.0, container="avi", codec="mpeg4"),
        dict(size="640x360", fps=60, seconds=15.0),
        dict(size="640x360", fps=24, seconds=10.0, codec="libx265", container="mp4"),
    ])
    audios = itertools.cycle([
        dict(container="wav", seconds=20.0, rate=44100), dict(container="mp3", seconds=10.0, rate=44100, channels=2),
        dict(container="flac", seconds=10.0, rate=48000), dict(container="ogg", seconds=10.0, rate=44100),
        dict(container="m4a", seconds=10.0, rate=44100, channels=2),
    ])
    out: list[Path] = []
    n_img, n_vid = int(count * 0.35), int(count * 0.40)
    for i in range(count):
        # Vary one knob per file so every file is distinct (memoisation would otherwise dedupe them).
        if i < n_img:
            spec = dict(next(images))
            w, h = spec["size"]
            spec["size"] = (w + i, h)
            out.append(media.image(**spec))
        elif i < n_img + n_vid:
            spec = dict(next(videos))
            spec["seconds"] = spec["seconds"] + (i % 7) / 10
            out.append(media.video(**spec))
        else:
            spec = dict(next(audios))
            spec["seconds"] = spec["seconds"] + (i % 11) / 10
            out.append(media.audio(**spec))
    return out


def kind_of(path: Path) -> str:
    return inspect_path(path).kind or "other"


def median_us(fn, paths: list[Path], repeat: int = 3) -> dict[str, float]:
    """Median microseconds per file of ``fn(path)``, overall and per media kind (best of ``repeat``)."""
    per: dict[Path, float] = {}
    for path in paths:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn(path)
            best = min(best, time.perf_counter() - t)
        per[path] = best * 1e6
    kinds = {p: kind_of(p) for p in paths}
    out = {"all": statistics.median(per.values())}
    for kind in ("image", "video", "audio"):
        values = [v for p, v in per.items() if kinds[p] == kind]
        if values:
            out[kind] = statistics.median(values)
    return out


def mediainfo_parse():
    try:
        from pymediainfo import MediaInfo
    except ImportError:
        return None
    return lambda path: MediaInfo.parse(path)


def pyav_open():
    try:
        import av
    except ImportError:
        return None

    def probe(path):
        try:
            with av.open(str(path)) as c:
                return [(s.type, s.codec_context.name, getattr(s.codec_context, "width", None), s.average_rate)
                        for s in c.streams], c.duration
        except av.error.InvalidDataError:  # images PyAV cannot open
            return None

    return probe


def ffprobe_run():
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    return lambda path: subprocess.run([exe, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
                                       capture_output=True, check=False)


def ffmpeg_probe_run():
    """``ffmpeg -i FILE`` from imageio-ffmpeg: the same demuxer probing ffprobe does, no output file."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    return lambda path: subprocess.run([exe, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                                       check=False)


def pillow_open(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size, im.format


def fmt_row(name: str, result: dict[str, float] | None, note: str = "") -> str:
    if result is None:
        return f"{name:<34} {'not installed':>10}"
    cells = "".join(f"{result.get(k, float('nan')):>10.0f}" for k in ("all", "image", "video", "audio"))
    return f"{name:<34}{cells}  {note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="make the corpus in this folder and keep it")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    media = Media(folder)
    t = time.perf_counter()
    paths = make_corpus(media, args.files)
    print(f"corpus: {len(paths)} files in {folder} (made in {time.perf_counter() - t:.1f} s)\n")
    bad = [(p.name, f.problem) for p in paths if (f := inspect_path(p)).problem]
    if bad:
        print("WARNING: problems reported on good files:", bad)

    mi = mediainfo_parse()
    if mi is not None:
        mi(paths[0])  # pay the import and library load outside the timing

    print(f"{'median µs per file':<34}{'all':>10}{'image':>10}{'video':>10}{'audio':>10}")
    ours = median_us(inspect_path, paths)
    print(fmt_row("prep.inspect.inspect_path", ours))
    print(fmt_row("pymediainfo MediaInfo.parse", median_us(mi, paths) if mi else None))
    av_probe = pyav_open()
    print(fmt_row("PyAV av.open + streams", median_us(av_probe, paths) if av_probe else None))
    ffprobe = ffprobe_run()
    print(fmt_row("ffprobe subprocess", median_us(ffprobe, paths, repeat=1) if ffprobe else None))
    ffmpeg_probe = ffmpeg_probe_run()
    if ffmpeg_probe is not None:
        print(fmt_row("ffmpeg -i subprocess (ffprobe proxy)", median_us(ffmpeg_probe, paths, repeat=1)))
    images = [p for p in paths if kind_of(p) == "image"]
    print(fmt_row("Pillow Image.open (images only)", median_us(pillow_open, images)))

    print("\nimage cost by pixel count (median µs, inspect_path)")
    for fmt in ("jpeg", "png"):
        small = media.image(fmt=fmt, size=(1000, 1000))
        big = media.image(fmt=fmt, size=(8000, 6000))
        s, b = median_us(inspect_path, [small], repeat=50)["all"], median_us(inspect_path, [big], repeat=50)["all"]
        print(f"  {fmt:<5} 1000×1000: {s:7.1f}   8000×6000: {b:7.1f}   ratio {b / s:4.2f}")

    print("\nfacts cache (median µs per file)")
    with tempfile.TemporaryDirectory() as tmp:
        cache = FactsCache(Path(tmp))
        for p in paths:
            cache.cached_inspect(p)
        fresh = FactsCache(Path(tmp))

        def db_get(path):
            fresh._memo.clear()  # the path a new process takes
            return fresh.get(path)

        warm_db = median_us(db_get, paths)
        warm_memo = median_us(cache.get, paths)
        print(fmt_row("cold: inspect_path", ours))
        print(fmt_row("warm: new process (sqlite)", warm_db, f"{ours['all'] / warm_db['all']:.1f}× faster"))
        print(fmt_row("warm: same process (memo)", warm_memo, f"{ours['all'] / warm_memo['all']:.1f}× faster"))
        if mi:
            ref = median_us(mi, paths)
            ratio = ref["all"] / warm_db["all"]
            print(fmt_row("cold: pymediainfo (for scale)", ref, f"{ratio:.0f}× the sqlite lookup"))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
