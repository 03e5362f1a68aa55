"""Benchmark ``build`` on a heavy request: 9 JPEGs of 25 MB and 3 MP3s of 14 MB, all inlined.

Run: ``python bench/bench_build.py [--runs 3]``. The media are made in a temporary folder: a real
1920×1080 JPEG (Pillow) whose APP15 segments carry random bytes up to 25 MB, and a real 3 s MP3
(ffmpeg) behind an ID3v2 tag whose PRIV frame carries random bytes up to 14 MB. Both are valid files
that ``prep.inspect`` reads (it skips the segments and the tag), and every media rule passes, so
``build`` runs with its check on; only the body-size limit (64 MB) is raised by a rules overlay, as the
356 MB body is far above it. Each scenario runs in a fresh interpreter; peak RSS is that process's
``ru_maxrss`` (imports included); times are medians over ``--runs``:

* ``build → file``: ``prep.build.build()`` (inspect, translate, check) then ``Built.write()``;
* ``build → /dev/null``: the same, iterating ``Built.iter_bytes()`` into /dev/null;
* ``stdlib base64``: read each file, ``base64.b64encode`` it, put the data: URLs in the document,
  ``json.dumps`` it into one string and write it to a file (the obvious implementation);
* ``full check``: ``Checker.check_bytes`` on the whole built body (what the fast path avoids);
* encoder micro-benchmark in this process: ``binascii.b2a_base64`` over chunks of several sizes
  against ``base64.b64encode`` of the whole file, on 75 MB of the same bytes (MB/s of input).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MB = 1024 * 1024
IMAGE_BYTES = 25 * MB
AUDIO_BYTES = 14 * MB


def make_jpeg(path: Path, size: int) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1920, 1080), (30, 120, 200)).save(buf, format="JPEG", quality=80)
    jpeg = buf.getvalue()
    with open(path, "wb") as fh:
        fh.write(jpeg[:2])  # SOI, then APP15 segments of random bytes, then the real JPEG's segments
        left = size - len(jpeg)
        while left > 4:
            n = min(65533, left - 4)
            fh.write(b"\xff\xef" + struct.pack(">H", n + 2) + os.urandom(n))
            left -= n + 4
        fh.write(jpeg[2:])


def make_mp3(path: Path, size: int) -> None:
    from media import run_ffmpeg

    tone = path.with_suffix(".tone.mp3")
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-c:a", "libmp3lame",
               "-b:a", "128k", "-id3v2_version", "0", "-write_xing", "0", str(tone))
    audio = tone.read_bytes()
    tone.unlink()
    payload = size - len(audio) - 10 - 10
    frame = b"PRIV" + struct.pack(">I", payload) + b"\0\0" + os.urandom(payload)
    tag_size = len(frame)
    syncsafe = bytes(((tag_size >> s) & 0x7F) for s in (21, 14, 7, 0))
    path.write_bytes(b"ID3\x03\x00\x00" + syncsafe + frame + audio)


def make_request(folder: Path) -> Path:
    content: list[dict] = [{"type": "text", "text": "a product film from @image1 … @image9, music @audio1"}]
    for i in range(9):
        make_jpeg(folder / f"photo{i + 1}.jpg", IMAGE_BYTES)
        content.append({"type": "image_url", "image_url": {"url": f"photo{i + 1}.jpg"}, "role": "reference_image"})
    for i in range(3):
        make_mp3(folder / f"tone{i + 1}.mp3", AUDIO_BYTES)
        content.append({"type": "audio_url", "audio_url": {"url": f"tone{i + 1}.mp3"}, "role": "reference_audio"})
    (folder / "big-body.toml").write_text('[rules."request.body-size"]\noptions = { max_bytes = 1073741824 }\n')
    request = folder / "request.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": content,
                                   "resolution": "720p", "ratio": "16:9", "duration": 5}, indent=2))
    return request


# -- scenarios (each in its own interpreter) ----------------------------------------------------------

def scenario(name: str, folder: Path) -> dict:
    request = folder / "request.json"
    start = time.perf_counter()
    out: dict = {}
    if name in ("build-file", "build-null"):
        from prep.build import build
        from prep.ruleset import RuleBook

        built = build(request, book=RuleBook([folder / "big-body.toml"]))
        out["build_s"] = time.perf_counter() - start
        if name == "build-file":
            built.write(folder / "out" / "body.json")
        else:
            chunk_size = int(os.environ.get("BENCH_CHUNK", "0")) or None
            with open(os.devnull, "wb") as sink:
                sink.writelines(built.iter_bytes(chunk_size) if chunk_size else built.iter_bytes())
        out["length"] = built.length
        out["sha256"] = built.sha256  # recorded by the stream: no second pass
    elif name == "imports":
        from prep.build import build
        from prep.lint import Checker
        from prep.ruleset import RuleBook

        RuleBook([folder / "big-body.toml"])
    elif name == "stdlib":
        import base64

        document = json.loads(request.read_text())
        for item in document["content"]:
            if item["type"] != "text":
                kind = item["type"]
                mt = "image/jpeg" if kind == "image_url" else "audio/mpeg"
                data = (folder / item[kind]["url"]).read_bytes()
                item[kind]["url"] = f"data:{mt};base64," + base64.b64encode(data).decode("ascii")
                del data
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        with open(folder / "out" / "stdlib.json", "w", encoding="utf-8") as fh:
            fh.write(text)
        out["length"] = os.path.getsize(folder / "out" / "stdlib.json")
    elif name == "full-check":
        from prep.lint import Checker
        from prep.ruleset import RuleBook

        checker = Checker(RuleBook([folder / "big-body.toml"]), profile="ark")
        result = checker.check_bytes((folder / "out" / "body.json").read_bytes(), "body.json", folder)
        out["errors"] = sum(f.severity == "error" for f in result.findings)
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM (fresh at exec; ``ru_maxrss`` keeps the parent's peak
    across fork + exec on Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(name: str, folder: Path, chunk: int | None = None) -> dict:
    env = {**os.environ, "BENCH_CHUNK": str(chunk or 0)}
    proc = subprocess.run([sys.executable, __file__, "--scenario", name, "--folder", str(folder)],
                          capture_output=True, text=True, check=True, env=env)
    return json.loads(proc.stdout)


def encoders(folder: Path) -> list[tuple[str, float]]:
    import base64
    import binascii

    data = b"".join((folder / f"photo{i}.jpg").read_bytes() for i in (1, 2, 3))
    view = memoryview(data)
    rows = []

    def timed(label: str, fn) -> None:
        best = min(_time(fn) for _ in range(7))
        rows.append((label, len(data) / MB / best))

    for chunk in (96 * 1024, 768 * 1024, 3 * MB, 12 * MB):
        timed(f"binascii.b2a_base64, {chunk // 1024} KiB chunks",
              lambda c=chunk: [binascii.b2a_base64(view[i:i + c], newline=False) for i in range(0, len(data), c)])
    timed("base64.b64encode, whole 75 MB", lambda: base64.b64encode(data))
    timed("base64.standard_b64encode, 3 MiB chunks",
          lambda: [base64.standard_b64encode(view[i:i + 3 * MB]) for i in range(0, len(data), 3 * MB)])
    try:
        import pybase64  # type: ignore[import-not-found]

        timed("pybase64.b64encode, 3 MiB chunks",
              lambda: [pybase64.b64encode(view[i:i + 3 * MB]) for i in range(0, len(data), 3 * MB)])
    except ImportError:
        pass
    return rows


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario")
    parser.add_argument("--folder")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(scenario(args.scenario, Path(args.folder))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        folder = Path(tmp)
        os.environ["SEEDANCE_PREP_HOME"] = str(folder / "home")
        (folder / "out").mkdir()
        made = time.perf_counter()
        make_request(folder)
        print(f"media made in {time.perf_counter() - made:.1f} s: 9 × {IMAGE_BYTES / MB:.0f} MB JPEG, "
              f"3 × {AUDIO_BYTES / MB:.0f} MB MP3 ({(9 * IMAGE_BYTES + 3 * AUDIO_BYTES) / MB:.0f} MB)")
        results: dict[str, list[dict]] = {}
        for _ in range(args.runs):  # interleaved, so a noisy moment hits every scenario alike
            for name in ("build-file", "build-null", "stdlib"):
                results.setdefault(name, []).append(run(name, folder))
        results["full-check"] = [run("full-check", folder)]
        results["imports"] = [run("imports", folder)]
        for chunk in (3 * MB, 12 * MB):  # the stream's chunk size (default 768 KiB) against larger ones
            results[f"null, {chunk // 1024} KiB"] = [run("build-null", folder, chunk) for _ in range(args.runs)]
        body = results["build-file"][0]["length"]
        import hashlib

        same = hashlib.sha256((folder / "out" / "stdlib.json").read_bytes()).hexdigest() == results["build-file"][0][
            "sha256"]
        print(f"body: {body / MB:.1f} MB ({body:,} bytes); the stdlib body is {'the same bytes' if same else 'DIFFERENT'}")
        for name, rows in results.items():
            secs = statistics.median(r["seconds"] for r in rows)
            rss = max(r["peak_rss_mb"] for r in rows)
            extra = ""
            if "build_s" in rows[0]:
                extra = f" (build itself {statistics.median(r['build_s'] for r in rows):.3f} s)"
            print(f"{name:17} {secs:7.2f} s  peak RSS {rss:7.1f} MB = {rss * MB / body:.3f} × body{extra}")
        for label, speed in encoders(folder):
            print(f"{label:45} {speed:8.0f} MB/s")


if __name__ == "__main__":
    main()
