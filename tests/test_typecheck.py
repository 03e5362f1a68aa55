"""prep/ type-checks clean under mypy (its settings are in pyproject.toml's [tool.mypy])."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT


def test_mypy_is_clean_on_prep(tmp_path):
    pytest.importorskip("mypy", reason="mypy is a test dependency: pip install -e .[test]")
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path), "--no-error-summary"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
