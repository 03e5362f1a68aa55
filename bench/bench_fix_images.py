"""Benchmark the image executor: ``fix_image`` against a plain Pillow resize on a big photo.

Run: ``python bench/bench_fix_images.py [--runs 5] [--side 2048] [--noise 10]``. Makes one detailed
8000×6000 JPEG (ffmpeg's test pattern plus noise: a flat colour decodes unrealistically fast; the noise
sets how many bytes a pixel takes, and JPEG's entropy decoding, which no downscale avoids, costs per byte)
in a temporary folder, then runs, each in a fresh Python process and interleaved ``--runs`` times:

* ``plain``: ``Image.open(src).resize((side, side * 3 // 4), LANCZOS).save(out, "JPEG", quality=90,
  optimize=True)`` — what a straightforward script does;
* ``fix_image``: :func:`prep.fix.images.fix_image` with the same target and output settings (what
  ``seedance-prep fix --max-side 2048`` does per photo): JPEG ``draft()`` at the DCT scale whose picture is
  within 3% of the target (1/4: 2000×1500, then a slight LANCZOS upscale), ``reduce()``, LANCZOS, save
  through a temp file.

For each it prints the median wall time of the work and the median growth of the process's peak resident
memory (``ru_maxrss`` after the work minus before it; imports and Pillow's plugin set-up happen before the
first reading). ``tracemalloc``'s peak is printed too: it sees only Python's allocator, not Pillow's image
buffers, which is why ``ru_maxrss`` is the measure. Both outputs are checked to be the same size. The load
average is printed before and after (2 shared cores: other work skews the times, not their medians much).

Quality (untimed, in this process): PSNR at the target size of ``fix_image``'s picture (written as PNG, so no
encoder loss) against a full decode and LANCZOS, beside the same for the older path (decode at the DCT
scale still ≥ the target), a 2× upscale from 1/8 (visibly soft) and the quality-90 JPEG encode of the
reference itself. tests/test_fix_images.py holds ``fix_image`` above 35 dB.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from media import run_ffmpeg  # tests/media.py: the same ffmpeg the tests use

CHILD = r"""
import json, resource, sys, time, tracemalloc
from PIL import Image
import prep.inspect.images  # what fix_image imports on first use (the inspector's EXIF reader)
from prep.fix.images import fix_image
from prep.fix.model import ImageTarget

variant, src, out, side = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
size = (side, side * 3 // 4)
Image.init()
with Image.open(src) as warm:  # load the JPEG codec before measuring
    warm.draft(None, (100, 75)); warm.load()
tracemalloc.start()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if variant == "plain":
    Image.open(src).resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=90, optimize=True)
else:
    fix_image(src, ImageTarget(size=size, scale_to=size, format="jpeg"), out)
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": elapsed, "rss_mb": (after - before) / 1024, "traced_mb": tracemalloc.get_traced_memory()[1] / 1e6,
                  "size": Image.open(out).size}))
"""


def _photo(out: Path, noise: int) -> Path:
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=8000x6000", "-vf", f"noise=alls={noise}:allf=t", "-frames:v", "1",
               "-q:v", "3", str(out))
    return out


def _one(variant: str, src: Path, out: Path, side: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, variant, str(src), str(out), str(side)], check=True,
                          capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout)


def _psnr(a, b) -> float:
    from PIL import ImageChops, ImageStat

    if a.mode != b.mode:
        a, b = a.convert("RGB"), b.convert("RGB")
    rms = ImageStat.Stat(ImageChops.difference(a, b)).rms
    mse = sum(r * r for r in rms) / len(rms)
    return 10 * math.log10(255**2 / mse) if mse else math.inf


def _quality(src: Path, side: int, tmp: Path) -> None:
    from PIL import Image

    from prep.fix.images import fix_image
    from prep.fix.model import ImageTarget

    size = (side, side * 3 // 4)
    ref = Image.open(src).resize(size, Image.Resampling.LANCZOS)
    out = tmp / "fast.png"
    fix_image(str(src), ImageTarget(size=size, scale_to=size, format="png"), str(out))

    def drafted(scale: int) -> Image.Image:
        im = Image.open(src)
        im.draft("RGB", (im.size[0] // scale, im.size[1] // scale))
        return im.resize(size, Image.Resampling.LANCZOS)

    old = max((s for s in (8, 4, 2, 1) if -(-8000 // s) >= size[0] and -(-6000 // s) >= size[1]), default=1)
    buf = io.BytesIO()
    ref.save(buf, "JPEG", quality=90, optimize=True)
    rows = [("fix_image (PNG output)", Image.open(out)), (f"draft 1/{old} + LANCZOS (before)", drafted(old)),
            ("draft 1/8 + LANCZOS (2x up)", drafted(8)), ("the reference's q90 JPEG", Image.open(buf))]
    for name, im in rows:
        print(f"  {name:34s} {_psnr(ref, im):5.1f} dB   luma {_psnr(ref.convert('L'), im.convert('L')):5.1f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--noise", type=int, default=10, help="ffmpeg noise strength: 10 gives a 12 MB JPEG "
                        "(2 bits a pixel, as phone cameras write); 30 a 27 MB one (4.5 bits a pixel)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fix-images-") as tmp:
        src = _photo(Path(tmp) / "photo.jpg", args.noise)
        print(f"source: 8000×6000 JPEG, {src.stat().st_size / 1e6:.1f} MB; target {args.side}×{args.side * 3 // 4}")
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        results: dict[str, list[dict]] = {"plain": [], "fix_image": []}
        for _ in range(args.runs):
            for variant, runs in results.items():
                runs.append(_one(variant, src, Path(tmp) / f"{variant}.jpg", args.side))
        sizes = {tuple(r["size"]) for rs in results.values() for r in rs}
        assert len(sizes) == 1, sizes
        med = {v: {k: statistics.median(r[k] for r in rs) for k in ("s", "rss_mb", "traced_mb")}
               for v, rs in results.items()}
        for v, m in med.items():
            print(f"{v:10s} {m['s']:6.3f} s   peak RSS +{m['rss_mb']:6.1f} MB   tracemalloc peak {m['traced_mb']:5.2f} MB")
        p, f = med["plain"], med["fix_image"]
        print(f"fix_image: {p['s'] / f['s']:.1f}× faster, {f['rss_mb'] / p['rss_mb']:.2f} of the peak memory "
              f"(targets: ≥ 3× faster, ≤ 0.33 of the memory); medians of {args.runs} interleaved runs")
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print("quality at the target size, PSNR against a full decode + LANCZOS:")
        _quality(src, args.side, Path(tmp))


if __name__ == "__main__":
    main()
