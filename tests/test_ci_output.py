"""check as a CI tool: no silent green, one file's failure stays that file's, strict UTF-8 output,
and the flags people know from ruff (statistics, exit-zero, show-settings, show-source, exclude…)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, run_subprocess

M = "doubao-seedance-2-0-260128"
GOOD = {"model": M, "content": [{"type": "text", "text": "a cat"}]}
BAD = {"model": M, "content": [{"type": "text", "text": "a cat"}], "duration": 20, "watermark": "no"}


def _write(folder, name, doc):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc, encoding="utf-8")
    return path


def test_no_request_file_found_is_exit_2_unless_allowed(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("check", empty)
    assert res.code == 2 and res.err.strip() == (f"seedance-prep: error: no request files found in {empty} "
                                                 "(looked for *.json; --allow-empty to accept that)")
    assert cli("check", empty, "--allow-empty").code == 0
    loop = tmp_path / "loop"
    loop.mkdir()
    os.symlink(loop / "a.json", loop / "a.json")  # a symlink to itself
    res = cli("check", loop / "..", "--exclude", "empty")  # only the loop's folder is left
    assert res.code == 2 and "too many levels of symbolic links" in res.err


def test_exit_zero_statistics_and_fail_on(cli, tmp_path):
    bad = _write(tmp_path, "bad.json", BAD)
    assert cli("check", bad).code == 1
    assert cli("check", bad, "--exit-zero").code == 0
    assert cli("check", tmp_path / "missing.json", "--exit-zero").code == 2  # the tool failing is never zero
    stats = cli("check", bad, _write(tmp_path, "bad2.json", BAD), "--statistics").out.splitlines()
    assert stats[0].split()[:3] == ["2", "param.duration", "error"]
    assert stats[1].split()[:4] == ["2", "param.type", "error", "[fixable]"]
    assert stats[-1] == "Found 4 errors in 2 of 2 files."


def test_show_source_puts_a_caret_under_the_value(cli, tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{\n  "model": "doubao-seedance-2-0-260128",\n  "duration": 20,\n'
                    '  "content": [{"type": "text", "text": "a cat"}]\n}\n')
    lines = cli("check", path, "--show-source").out.splitlines()
    at = lines.index(f"{path}:3:3: param.duration 'duration' is 20; allowed: 4 to 15 or -1")
    assert lines[at + 1:at + 4] == ["    |", '  3 |   "duration": 20,', "    |               ^^"]


def test_show_settings_names_the_config_and_selection(cli, tmp_path):
    config = _write(tmp_path, "seedance-prep.toml", 'profile = "gateway"\nignore = ["text"]\nmax-tokens = 9000\n')
    out = cli("check", "--show-settings", cwd=tmp_path).out
    assert f"config file:       {config}" in out and "profile:           gateway" in out
    assert "ignore:            text" in out and "max-tokens:        9000" in out
    out = cli("check", "--show-settings", "--config", os.devnull, cwd=tmp_path).out
    assert "config file:       (none found)" in out


def test_excludes_default_and_given(cli, tmp_path):
    _write(tmp_path, "a.json", GOOD)
    _write(tmp_path, ".hidden/b.json", BAD)
    _write(tmp_path, "node_modules/c.json", BAD)
    _write(tmp_path, "legacy/d.json", BAD)
    res = cli("check", tmp_path, "--format", "json")
    assert res.json()["summary"]["files"] == 2 and res.code == 1  # a.json and legacy/d.json
    res = cli("check", tmp_path, "--format", "json", "--extend-exclude", "legacy")
    assert res.json()["summary"]["files"] == 1 and res.code == 0
    res = cli("check", tmp_path, "--format", "json", "--exclude", "legacy,node_modules")
    assert res.json()["summary"]["files"] == 2  # replacing the defaults brings .hidden back


def test_the_report_file_is_not_linted(cli, tmp_path):
    _write(tmp_path, "a.json", GOOD)
    report = tmp_path / "report.json"
    for _ in range(2):
        res = cli("check", tmp_path, "--format", "json", "-o", report)
        assert res.code == 0
    assert json.loads(report.read_text())["summary"]["files"] == 1


def test_config_per_file_ignores_no_media_jobs(cli, tmp_path):
    _write(tmp_path, "legacy/old.json", BAD)
    _write(tmp_path, "new.json", BAD)
    _write(tmp_path, "seedance-prep.toml", 'per-file-ignores = { "legacy/*" = ["param"] }\nno-media = true\njobs = 1\n')
    doc = cli("check", ".", "--format", "json", cwd=tmp_path).json()
    by_path = {r["path"]: r for r in doc["results"]}
    assert by_path["legacy/old.json"]["findings"] == [] and len(by_path["new.json"]["findings"]) == 2
    _write(tmp_path, "seedance-prep.toml", 'ignore = ["param.nope"]\n')
    res = cli("check", ".", cwd=tmp_path)
    assert res.code == 2 and f"{tmp_path / 'seedance-prep.toml'}: unknown rule or prefix 'param.nope'" in res.err


@pytest.mark.parametrize("env,flags,colored", [({}, [], False), ({"FORCE_COLOR": "1"}, [], True),
                                                ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, [], False),
                                                ({"NO_COLOR": "1"}, ["--color", "always"], True),
                                                ({"FORCE_COLOR": "1"}, ["--color", "never"], False),
                                                ({"FORCE_COLOR": "1"}, ["--no-color"], False)])
def test_color_flags_and_environment(cli, tmp_path, monkeypatch, env, flags, colored):
    for key in ("FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = cli("check", _write(tmp_path, "bad.json", BAD), *flags).out
    assert ("\033[" in out) is colored


def test_json_is_indented_whatever_the_batch_size_and_compact_on_request(cli, tmp_path):
    for n in range(120):
        _write(tmp_path, f"r{n:03}.json", GOOD)
    pretty = cli("check", tmp_path, "--format", "json", "-j", "1").out
    assert pretty.startswith('{\n  "version": 1,') and json.loads(pretty)["summary"]["files"] == 120
    compact = cli("check", tmp_path, "--format", "json", "-j", "1", "--compact").out
    assert compact.count("\n") == 1 and json.loads(compact) == json.loads(pretty)


def test_one_files_internal_error_is_that_files_error_entry(cli, tmp_path, monkeypatch):
    import prep.lint

    real = prep.lint.evaluate

    def boom(request, profile, **kw):
        if request is not None and request.value("model") == "boom":
            raise RuntimeError("kaboom")
        return real(request, profile, **kw)

    monkeypatch.setattr(prep.lint, "evaluate", boom)
    _write(tmp_path, "a.json", BAD)
    _write(tmp_path, "b.json", {**GOOD, "model": "boom"})
    _write(tmp_path, "c.json", GOOD)
    res = cli("check", tmp_path, "--format", "json")
    doc = res.json()
    assert res.code == 2 and doc["summary"]["files"] == 2 and doc["summary"]["errors"] == 2
    (error,) = doc["errors"]
    assert error["path"].endswith("b.json") and error["message"].startswith("internal error: RuntimeError: kaboom")
    with pytest.raises(RuntimeError):
        cli("check", tmp_path, "--debug")


def test_output_is_strict_utf8_for_surrogates_and_undecodable_names(tmp_path):
    lone = tmp_path / "lone.json"
    lone.write_text('{"model": "doubao-seedance-2-0-260128", "ratio": "\\ud800", '
                    '"content": [{"type": "text", "text": "@image3 \\udfff"}]}')
    name = os.fsencode(tmp_path) + b"/\xff\xfe.json"
    with open(name, "wb") as fh:
        fh.write(json.dumps(BAD).encode())
    for fmt in ("text", "json", "github", "sarif"):
        proc = subprocess.run([sys.executable, "-m", "prep", "check", str(lone), os.fsdecode(name), "--format", fmt],
                              capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
        assert proc.returncode == 1, (fmt, proc.stderr)
        text = proc.stdout.decode("utf-8")  # strict: raises on invalid UTF-8
        if fmt in ("json", "sarif"):
            json.loads(text)
        assert "\\ud800" in text or "\\\\ud800" in text, fmt


def test_skip_non_requests_for_pre_commit(cli, tmp_path):
    _write(tmp_path, "package.json", {"name": "app", "version": "1.0.0"})
    _write(tmp_path, "list.json", [1, 2, 3])
    _write(tmp_path, "req.json", BAD)
    res = cli("check", tmp_path, "--skip-non-requests")
    assert res.code == 1 and res.out.splitlines()[-1] == "2 files skipped: not Seedance requests."
    doc = cli("check", tmp_path, "--skip-non-requests", "--format", "json").json()
    assert doc["summary"]["files"] == 1 and doc["summary"]["skipped"] == 2
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "--skip-non-requests" in hooks


def test_bad_flags_say_so_once_and_point_at_the_subcommand(cli):
    res = cli("check", "--bogus")
    assert res.code == 2 and res.err == "seedance-prep: error: unrecognized arguments: --bogus " \
                                        "(see 'seedance-prep check --help')\n"
    res = cli("check", "--format", "xml")
    assert res.code == 2 and res.err.count("seedance-prep") == 2 and "(see 'seedance-prep check --help')" in res.err


def test_help_texts_say_what_they_mean(cli):
    from prep.cli import build_parser

    parser = build_parser()
    helps = {name: sub.format_help() for name, sub in parser._subparsers._group_actions[0].choices.items()}
    helps = {name: " ".join(text.split()) for name, text in helps.items()}  # argparse wraps lines
    assert "ark (default), byteplus" in helps["check"] and "default: ." in helps["check"]
    assert "inferred" not in helps["schema"] and "inferred" not in helps["rules"] and "inferred" not in helps["inspect"]
    assert "-q" not in helps["schema"] and "-q" not in helps["rules"]


def test_the_console_script_runs_a_ci_scenario(tmp_path):
    """The real console script (installed by pip) over a folder of templates, as a CI job runs it."""
    script = shutil.which("seedance-prep")
    if script is None:
        pytest.skip("the console script is not installed (pip install -e .)")
    _write(tmp_path, "templates/a.json", GOOD)
    _write(tmp_path, "templates/b.json", BAD)
    proc = subprocess.run([script, "check", "templates", "--format", "github"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0].startswith("::error file=templates/b.json,line=1,col=")
    proc = subprocess.run([script, "check", "nothing-here"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such file or directory" in proc.stderr


def test_python_dash_m_agrees_with_the_library(tmp_path):
    res = run_subprocess("check", _write(tmp_path, "bad.json", BAD), "-q")
    assert res.code == 1 and len(res.out.splitlines()) == 2


def test_bench_scripts_take_help_without_writing(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "make_requests.py"), "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage:") and list(tmp_path.iterdir()) == []


def test_readme_speaks_to_users():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "SPEC" not in readme  # users do not have the spec
    assert "rev: main" in readme and "upload-sarif" in readme and "--format sarif" in readme
    assert "media.unreachable" in readme
