"""Benchmark the client's overhead: create + get round trips through ``prep.client.Client`` against the
same calls made with raw httpx, both against one emulator running in its own process.

    python bench/bench_client.py [--trips 500] [--runs 3]

Each side makes ``--trips`` create+get pairs on one keep-alive connection (the client: ``tasks.create``
then ``tasks.get``, with its retry, parsing and Task normalisation; raw: ``httpx.Client.post`` then
``.get`` and ``.json()``), interleaved ``--runs`` times; the median per round trip is printed with the
ratio (issue 10's target: within 1.3×). The emulator's tasks finish at once and it injects no faults.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "bench-key"
BODY = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat on a desk"}],
        "resolution": "720p", "ratio": "16:9", "duration": 5}


def start_server():
    code = "from prep.emulator import serve; raise SystemExit(serve(port=0, task_seconds=0))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "seedance-prep emulator on http://127.0.0.1:PORT (...)"
    return first.split(" on ", 1)[1].split()[0], proc


def with_client(base: str, trips: int) -> float:
    from prep.client import Client

    with Client("ark", api_key=KEY, base_url=base) as client:
        client.tasks.get(client.tasks.create(BODY).id)  # connection and first-call set-up, untimed
        start = time.perf_counter()
        for _ in range(trips):
            task = client.tasks.create(BODY)
            assert client.tasks.get(task.id).status == "succeeded"
        return (time.perf_counter() - start) / trips


def with_httpx(base: str, trips: int) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        client.get(f"/contents/generations/tasks/{client.post('/contents/generations/tasks', json=BODY).json()['id']}")
        start = time.perf_counter()
        for _ in range(trips):
            created = client.post("/contents/generations/tasks", json=BODY)
            created.raise_for_status()
            got = client.get(f"/contents/generations/tasks/{created.json()['id']}")
            got.raise_for_status()
            assert got.json()["status"] == "succeeded"
        return (time.perf_counter() - start) / trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url, proc = start_server()
    try:
        base = f"{url}/ark/api/v3"
        times: dict[str, list[float]] = {"prep.client": [], "raw httpx": []}
        for _ in range(args.runs):
            times["raw httpx"].append(with_httpx(base, args.trips))
            times["prep.client"].append(with_client(base, args.trips))
        med = {name: statistics.median(v) for name, v in times.items()}
        for name, value in med.items():
            spread = ", ".join(f"{v * 1000:.2f}" for v in times[name])
            print(f"{name:<12} {value * 1000:7.2f} ms per create+get   (runs: {spread} ms)")
        print(f"client overhead: {med['prep.client'] / med['raw httpx']:.2f}× raw httpx (target ≤ 1.3×), "
              f"{args.trips} round trips × {args.runs} runs")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
