"""Benchmark the emulator under 200 concurrent clients: latency of a task GET (p50, p90, p99, max).

    python bench/bench_emulator.py [--clients 200] [--requests 25] [--fresh] [--in-process]

The emulator runs in its own process (``serve``), as a user runs it, so the clients' threads do not
share its interpreter; ``--in-process`` runs it in this one instead. Each client holds one keep-alive
connection and sends its GETs back to back, all clients starting together; ``--fresh`` opens a new
connection per request. Prints the numbers; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AUTH = {"Authorization": "Bearer bench"}
BODY = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}]}


def start_server(in_process: bool):
    """(root URL, stop function) of an emulator whose tasks finish at once."""
    if in_process:
        from prep.emulator import Emulator

        emu = Emulator(task_seconds=0)
        return emu.start(), emu.stop
    code = "from prep.emulator import serve; raise SystemExit(serve(port=0, task_seconds=0))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    first = proc.stdout.readline()  # "seedance-prep emulator on http://127.0.0.1:PORT (...)"
    url = first.split(" on ", 1)[1].split()[0]

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return url, stop


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--requests", type=int, default=25, help="GETs per client")
    ap.add_argument("--fresh", action="store_true", help="a new connection for every request")
    ap.add_argument("--in-process", action="store_true")
    args = ap.parse_args()
    url, stop = start_server(args.in_process)
    port = int(url.rsplit(":", 1)[1])
    try:
        setup = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        setup.request("POST", "/ark/api/v3/contents/generations/tasks", json.dumps(BODY),
                      {**AUTH, "Content-Type": "application/json"})
        task_id = json.loads(setup.getresponse().read())["id"]
        path = f"/ark/api/v3/contents/generations/tasks/{task_id}"
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(args.clients + 1)
        connect_barrier = threading.Barrier(args.clients)

        connects: list[float] = []

        def client() -> None:
            mine: list[float] = []
            connection = None
            if not args.fresh:  # a first GET opens the connection; the timed GETs then reuse it
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connect_barrier.wait()
                began = time.perf_counter()
                connection.request("GET", path, headers=AUTH)
                connection.getresponse().read()
                with lock:
                    connects.append(time.perf_counter() - began)
            barrier.wait()
            for _ in range(args.requests):
                try:
                    if connection is None or args.fresh:  # (again after a failure)
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    began = time.perf_counter()
                    connection.request("GET", path, headers=AUTH)
                    response = connection.getresponse()
                    response.read()
                    mine.append(time.perf_counter() - began)
                    if response.status != 200:
                        raise RuntimeError(f"status {response.status}")
                    if args.fresh:
                        connection.close()
                except Exception as exc:  # noqa: BLE001 - count it, keep measuring
                    with lock:
                        failures.append(repr(exc))
                    connection = None
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        barrier.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
    finally:
        stop()
    ms = [x * 1000 for x in latencies]
    where = "this process" if args.in_process else "its own process"
    mode = "a new connection per request" if args.fresh else "keep-alive"
    print(f"{args.clients} concurrent clients × {args.requests} GETs ({mode}; emulator in {where}):")
    print(f"  answered {len(ms)}, failed {len(failures)}{': ' + failures[0] if failures else ''}")
    print(f"  latency ms: p50 {statistics.median(ms):.1f}  p90 {percentile(ms, 0.9):.1f}  "
          f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}")
    if connects:
        first = [x * 1000 for x in connects]
        print(f"  first GET on a new connection, all clients connecting at once, ms: p50 {statistics.median(first):.1f}"
              f"  p99 {percentile(first, 0.99):.1f}  max {max(first):.1f}")
    print(f"  throughput {len(ms) / wall:.0f} requests/s over {wall:.2f} s")


if __name__ == "__main__":
    main()
