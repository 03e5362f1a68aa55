"""Shared fixtures: an isolated SEEDANCE_PREP_HOME, the rule book, and CLI runners."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# Isolate the cache before anything runs: test modules build a RuleBook at collection time, which
# writes the rules cache, and no test may touch the user's home (~/.cache/seedance-prep).
_HOME = tempfile.mkdtemp(prefix="seedance-prep-tests-")
os.environ["SEEDANCE_PREP_HOME"] = _HOME
os.environ.pop("XDG_CACHE_HOME", None)


@pytest.fixture(autouse=True, scope="session")
def _isolated_home():
    yield Path(_HOME)
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def book():
    from prep.ruleset import RuleBook

    return RuleBook()


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the CLI in-process: ``cli("check", path, stdin=b"...")`` → CliResult."""

    def run(*args, stdin: bytes | None = None, cwd: Path | None = None) -> CliResult:
        from prep.cli import main

        if cwd is not None:
            monkeypatch.chdir(cwd)
        if stdin is not None:
            import io

            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def run_subprocess(*args, stdin: bytes = b"", cwd=None, env=None, timeout=60) -> CliResult:
    """Run ``python -m prep`` in a fresh interpreter (for start-up, imports and hard failures)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "prep", *map(str, args)], input=stdin, capture_output=True,
                          cwd=cwd, env=full_env, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


# The oracle suite (tests/oracle/, marker ``oracle``): prep.inspect compared with independent readers
# on generated and downloaded media. ``python -m pytest -m oracle`` runs it alone.
_ORACLE_DIR = Path(__file__).resolve().parent / "oracle"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _ORACLE_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.oracle)
