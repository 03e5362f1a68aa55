"""The command line both fuzz targets share: atheris when installed, else plain random mutation
(``--fallback``), which needs nothing beyond the project."""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path


def campaign(pool: list[bytes], next_input: Callable[[random.Random, list[bytes]], bytes],
             target: Callable[[bytes], object], *, runs: int, seconds: float, seed: int, hang: float,
             artifacts: Path, suffix: str, keep_below: int) -> tuple[int, int, int, float, float]:
    """Random mutation without coverage guidance: ``(inputs run, internal errors, hangs, slowest input s,
    elapsed s)``. Every exception ``target`` raises is a finding; inputs that raised or took longer than
    ``hang`` seconds are written to ``artifacts``; a few mutants become seeds of further mutation."""
    rnd = random.Random(seed)
    errors = hangs = done = 0
    slowest = 0.0
    start = time.monotonic()
    while done < runs and time.monotonic() - start < seconds:
        data = next_input(rnd, pool)
        t = time.monotonic()
        try:
            target(data)
        except Exception as exc:  # noqa: BLE001 - every exception is a finding of the campaign
            errors += 1
            artifacts.mkdir(parents=True, exist_ok=True)
            (artifacts / f"error-{errors}{suffix}").write_bytes(data)
            print(f"internal error on input {done}: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)
        took = time.monotonic() - t
        slowest = max(slowest, took)
        if took > hang:
            hangs += 1
            artifacts.mkdir(parents=True, exist_ok=True)
            (artifacts / f"hang-{hangs}{suffix}").write_bytes(data)
        if len(data) < keep_below and rnd.random() < 0.05:
            pool.append(data)
        done += 1
    return done, errors, hangs, slowest, time.monotonic() - start


def main(argv: list[str], what: str, default_runs: int,
         run_fallback: Callable[[int, float, int, Path], int], run_atheris: Callable[[list[str]], None]) -> int:
    if "--fallback" in argv:
        import argparse

        parser = argparse.ArgumentParser(description=f"random-mutation fuzzing of {what} (no atheris)")
        parser.add_argument("--fallback", action="store_true")
        parser.add_argument("--runs", type=int, default=default_runs)
        parser.add_argument("--seconds", type=float, default=600)
        parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "0")))
        parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
        args = parser.parse_args(argv)
        return 1 if run_fallback(args.runs, args.seconds, args.seed, args.artifacts) else 0
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (pip install atheris); skipped. `--fallback` runs plain random mutation.")
        return 0
    run_atheris(argv)
    return 0


if __name__ == "__main__":
    sys.exit("run fuzz_check.py or fuzz_inspect.py")
