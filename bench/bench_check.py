"""Benchmark `seedance-prep check`: throughput on 10,000 request files, against check-jsonschema on the
same files, and cold start against `python -c "import json"`.

    pip install check-jsonschema   # for this benchmark only
    python bench/bench_check.py [--files 10000] [--runs 3]

Prints medians; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_requests import main as make_requests  # noqa: E402

PROFILE_OF = {"content": "ark", "video-generations": "video-generations", "openai-videos": "openai-videos"}


def timed(cmd: list[str], runs: int, **kwargs) -> float:
    """Median wall time of ``runs`` runs of ``cmd`` (output discarded)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    prep = [sys.executable, "-m", "prep"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "requests"
        make_requests(root, args.files)
        files = sorted(root.rglob("*.json"))
        print(f"{len(files)} request files in {len(list(root.iterdir()))} dialects")

        subprocess.run([*prep, "rules"], stdout=subprocess.DEVNULL)  # warm the rule cache once
        commands = {f"seedance-prep check --format {fmt}": [[*prep, "check", str(root), "--format", fmt, "-q"]]
                    for fmt in ("text", "json")}
        commands["seedance-prep check --format json --compact"] = [[*prep, "check", str(root), "--format", "json",
                                                                  "--compact", "-q"]]
        commands["seedance-prep check --format text -j 1"] = [[*prep, "check", str(root), "-q", "-j", "1"]]
        cj = shutil.which("check-jsonschema") or shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
        if cj is None:
            print("check-jsonschema: not installed (pip install check-jsonschema)")
        else:
            group_cmds = []
            for dialect, profile in PROFILE_OF.items():
                schema = Path(tmp) / f"{profile}.schema.json"
                schema.write_text(subprocess.run([*prep, "schema", "--profile", profile], capture_output=True,
                                                 text=True, check=True).stdout)
                group = [str(p) for p in sorted((root / dialect).glob("*.json"))]
                group_cmds.append([cj, "--schemafile", str(schema), *group])
            commands["check-jsonschema --schemafile"] = group_cmds
        # Interleaved runs, medians: the machine's load drifts, and every command sees the same drift.
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmds in commands.items():
                times[name].append(sum(timed(cmd, 1) for cmd in cmds))
        for name, ts in times.items():
            t = statistics.median(ts)
            print(f"{name:40s} {t:6.2f} s  {len(files) / t:8.0f} files/s")
        if cj is not None:
            base = statistics.median(times["check-jsonschema --schemafile"])
            for fmt in ("text", "json"):
                ours = statistics.median(times[f"seedance-prep check --format {fmt}"])
                print(f"speed-up over check-jsonschema ({fmt}): {base / ours:.1f}x")

        one = root / "content" / "req-00000.json"
        # A user's interpreter reads compiled bytecode: make sure it is there and current, and let the timed
        # processes use it even where PYTHONDONTWRITEBYTECODE is set (else each start compiles prep/ anew).
        import compileall
        import os

        compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "prep"), quiet=1)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cold = timed([*prep, "check", str(one), "-q"], 10, env=env)
        base = timed([sys.executable, "-c", "import json"], 10)
        print(f"cold start, one text-only request: {cold * 1000:6.1f} ms (python -c 'import json': "
              f"{base * 1000:.1f} ms, ratio {cold / base:.2f})")


if __name__ == "__main__":
    main()
