"""Measure what hostile input costs: the time to locate many findings and the peak memory of checking a
huge prompt (issue 7), and the worst time and peak memory of inspecting mutated media (issue 8). A
script, not a timed test: run it before and after a change and compare.

    python tests/fuzz/measure_hostile.py locate
    python tests/fuzz/measure_hostile.py memory [--mb 120]
    python tests/fuzz/measure_hostile.py media [--mutants 2000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
M = "doubao-seedance-2-0-260128"


def _invalid_roles(n: int) -> bytes:
    items = [{"type": "video_url", "video_url": {"url": f"https://e.com/{i}.mp4"}, "role": "bad"} for i in range(n)]
    return json.dumps({"model": M, "content": [{"type": "text", "text": "a"}, *items]}, indent=1).encode()


def _unknown_keys(n: int) -> bytes:
    doc = {"model": M, "content": [{"type": "text", "text": "a"}]}
    doc.update((f"k{i}", i) for i in range(n))
    return json.dumps(doc).encode()


def locate() -> None:
    sys.path.insert(0, str(ROOT))
    from prep.lint import Checker
    from prep.ruleset import RuleBook

    book = RuleBook()
    located, bare = Checker(book, inspect_media=False), Checker(book, inspect_media=False, locate_findings=False)
    for name, make, n in (("invalid roles", _invalid_roles, 10_000), ("invalid roles", _invalid_roles, 40_000),
                          ("unknown keys", _unknown_keys, 40_000), ("invalid roles", _invalid_roles, 100_000)):
        data = make(n)
        t0 = time.perf_counter()
        result = located.check_bytes(data, "x.json")
        t1 = time.perf_counter()
        bare.check_bytes(data, "x.json")
        t2 = time.perf_counter()
        print(f"{name:14} {len(result.findings):>7} findings in {len(data) / 1e3:>6.0f} kB: check {t1 - t0:6.2f} s "
              f"(without locating {t2 - t1:5.2f} s)", flush=True)


def _prompt_file(kind: str, mb: int, path: Path) -> None:
    n = mb * 1_000_000
    if kind == "words":
        rnd = random.Random(1)
        vocab = ["the", "cat", "runs", "over", "a", "red", "hill", "and", "sky", "is", "blue", "it's", "well-lit"]
        chunk = " ".join(rnd.choice(vocab) for _ in range(100_000)) + " "
        prompt = chunk * (n // len(chunk))
    elif kind == "placeholders":
        prompt = "image 1 " * (n // 8)
    else:
        prompt = "猫 " * (n // 4)  # 4 bytes of UTF-8 each
    path.write_text(json.dumps({"model": M, "content": [{"type": "text", "text": prompt}, {
        "type": "image_url", "image_url": {"url": "https://e.com/a.png"}}]}, ensure_ascii=False), encoding="utf-8")


_CHILD = """
import os, resource, sys, time
sys.path.insert(0, sys.argv[2])
from prep.lint import Checker
from prep.ruleset import RuleBook
checker = Checker(RuleBook(), inspect_media=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
fd = os.open(sys.argv[1], os.O_RDONLY)
data = os.read(fd, os.fstat(fd).st_size)  # one allocation, as big as the file
t = time.perf_counter()
result = checker.check_bytes(data, sys.argv[1])
took = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
size = len(data) / 2**20
print(f"{size:4.0f} MiB file: peak RSS {peak:5.0f} MB, {peak - before:5.0f} MB above the start "
      f"= {(peak - before) / size:4.1f}x the file (its bytes included), {took:5.1f} s, "
      f"{sorted({f.rule for f in result.findings})}")
"""


def memory(mb: int) -> None:
    # Each file is written and checked by its own process: a child inherits its parent's peak RSS.
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("words", "placeholders", "cjk"):
            path = Path(folder) / f"{kind}.json"
            subprocess.run([sys.executable, __file__, "make", kind, str(mb), str(path)], check=True)
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(ROOT)], capture_output=True, text=True)
            print(f"{kind:12} {(out.stdout or out.stderr).strip().splitlines()[-1]}", flush=True)
            path.unlink()


_MEDIA_CHILD = """
import collections, os, random, resource, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "fuzz"))
from fuzz_inspect import mutate, seeds
from prep.inspect import inspect_path, worker
pool = seeds(sys.argv[2])
asked = [0]
exchange = worker._exchange
def counted(worker, src):
    asked[0] += 1
    return exchange(worker, src)
worker._exchange = counted
rnd = random.Random(int(sys.argv[4]))
times, outcomes, worst = [], collections.Counter(), (0.0, "")
folder = tempfile.mkdtemp(prefix="hostile-media-")
for n in range(int(sys.argv[3])):
    data = mutate(rnd.choice(pool), rnd)
    path = os.path.join(folder, f"m{n}.bin")
    with open(path, "wb") as out:
        out.write(data)
    t = time.perf_counter()
    facts = inspect_path(path)
    took = time.perf_counter() - t
    os.unlink(path)
    times.append(took)
    reason = facts.unjudged or ""
    outcomes["timed out" if "no answer" in reason else "memory cap" if "memory limit" in reason else
             "crashed" if "crashed" in reason else "problem" if facts.problem else "read"] += 1
    if facts.unjudged and len(sys.argv) > 5:  # keep what stopped the fallback, to replay it
        with open(os.path.join(sys.argv[5], f"stopped-{n}.bin"), "wb") as out:
            out.write(data)
    if took > worst[0]:
        worst = (took, f"{len(data)} bytes sniffed as {facts.format}: {facts.unjudged or facts.problem or 'read'}")
times.sort()
worker._drop()  # a child's peak counts once it has ended and been waited for
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{len(times)} mutants of {len(pool)} seeds: median {times[len(times) // 2] * 1000:.1f} ms, "
      f"p99 {times[int(len(times) * 0.99)] * 1000:.0f} ms, worst {worst[0]:.2f} s ({worst[1][:120]})")
print(f"outcomes: {dict(outcomes)}; {asked[0]} of them reached the fallback (libmediainfo)")
print(f"peak RSS: inspector {own:.0f} MB, fallback workers {workers:.0f} MB "
      f"(their address space capped at {worker.memory_mib()} MiB, {worker.timeout_s():g} s a file)")
"""


def media(mutants: int, seed: int) -> None:
    # The seeds are made by their own process, and the campaign runs in a fresh one: a process's
    # RUSAGE_CHILDREN peak is then the fallback workers' alone (not ffmpeg's).
    with tempfile.TemporaryDirectory() as folder:
        make = "import sys; sys.path.insert(0, sys.argv[1]); from fuzz_inspect import seeds; seeds(sys.argv[2])"
        subprocess.run([sys.executable, "-c", make, str(ROOT / "tests" / "fuzz"), folder], check=True)
        keep = [str(Path(sys.argv[sys.argv.index("--keep") + 1]).resolve())] if "--keep" in sys.argv else []
        out = subprocess.run([sys.executable, "-c", _MEDIA_CHILD, str(ROOT), folder, str(mutants), str(seed), *keep],
                             capture_output=True, text=True, check=False)
        print((out.stdout or out.stderr).strip(), flush=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "locate"
    if what == "media":
        media(int(sys.argv[sys.argv.index("--mutants") + 1]) if "--mutants" in sys.argv else 2000,
              int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0)
    elif what == "make":
        _prompt_file(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    elif what == "memory":
        memory(int(sys.argv[sys.argv.index("--mb") + 1]) if "--mb" in sys.argv else 120)
    else:
        locate()
