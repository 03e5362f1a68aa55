"""The command line both fuzz targets share: atheris when installed, else plain random mutation
(``--fallback``), which needs nothing beyond the project."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path


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
