"""The text-only check path stays light: no Pillow, pymediainfo, pydub or httpx on start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT

HEAVY = ("PIL", "pymediainfo", "pydub", "httpx", "rich", "click", "numpy")


def test_text_only_check_imports_no_heavy_module(tmp_path):
    req = tmp_path / "r.json"
    req.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "seed": -5,
                               "content": [{"type": "text", "text": "a cat"},
                                           {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}]}))
    code = (
        "import sys, json\n"
        "from prep.cli import main\n"
        f"rc = main(['check', {str(req)!r}, '--format', 'json'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    report = json.loads(proc.stderr.decode().strip().splitlines()[-1])
    assert report["rc"] == 1  # the seed finding: the check really ran
    assert report["heavy"] == []


def test_a_command_builds_only_its_own_arguments_and_every_command_is_known():
    import argparse

    from prep.cli import COMMANDS, build_parser

    def commands(parser):
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return action.choices

    assert tuple(commands(build_parser())) == COMMANDS  # a new command must be listed in COMMANDS
    only = commands(build_parser(only="check"))
    assert list(only) == ["check"]  # check does not pay for fix's or inspect's arguments at start-up
