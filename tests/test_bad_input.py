"""Hostile and broken input: one clear line on stderr (or one finding), the right exit code, no
traceback, no hang."""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_subprocess

GOOD = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}]}


def _no_traceback(res):
    assert "Traceback" not in res.err and "Traceback" not in res.out


@pytest.mark.parametrize("raw,needle", [
    (b"", "empty"),
    (b"   \n\t  ", "white space"),
    (b'{"model": "x", "content": [', "invalid JSON"),
    (b"[1, 2, 3]", "array"),
    (b'"just a string"', "a string"),
    (b'{"model": "x", "seed": NaN}', "NaN is not valid JSON"),
    (b'{"model": "x", "seed": Infinity}', "Infinity is not valid JSON"),
    (b'{"model": "\xff\xfe"}', "invalid UTF-8"),
])
def test_unparsable_file_is_one_finding_exit_1(cli, tmp_path, raw, needle):
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    res = cli("check", path)
    assert res.code == 1
    lines = [line for line in res.out.splitlines() if line.startswith(f"{path}:") and "request.json" in line]
    assert len(lines) == 1 and needle in lines[0]
    assert lines[0].startswith(f"{path}:")
    _no_traceback(res)


def test_syntax_error_reports_real_line_and_column(cli, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "model": "x",\n  "content": [}\n')
    res = cli("check", path)
    assert res.code == 1
    assert f"{path}:3:15: request.json" in res.out


def test_bom_is_a_warning_and_the_request_is_still_checked(cli, tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({**GOOD, "seed": -7}).encode())
    res = cli("check", path, "--format", "json")
    rules = {f["rule"]: f["severity"] for f in res.json()["results"][0]["findings"]}
    assert rules == {"request.bom": "warning", "param.seed": "error"}
    assert res.code == 1


def test_duplicate_keys_warn_with_the_location(cli, tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{\n "model": "doubao-seedance-2-0-260128",\n "duration": 5,\n "duration": 8,\n'
                    ' "content": [{"type": "text", "text": "a"}]\n}\n')
    res = cli("check", path)
    assert res.code == 0  # a warning does not fail by default
    assert f"{path}:4:2: request.duplicate-key" in res.out
    assert cli("check", path, "--fail-on", "warning").code == 1


def test_50_mb_file_is_checked(cli, tmp_path):
    path = tmp_path / "big.json"
    payload = "A" * (50 * 1024 * 1024)
    req = {**GOOD, "content": [GOOD["content"][0],
                               {"type": "image_url", "image_url": {"url": "data:image/png;base64," + payload},
                                "role": "first_frame"}]}
    path.write_text(json.dumps(req))
    res = cli("check", path, "--format", "json")
    doc = res.json()
    assert doc["summary"]["files"] == 1
    rules = {f["rule"] for f in doc["results"][0]["findings"]}
    assert rules == {"media.unreadable"}  # 50 MB of zero bytes parse as JSON but are no image


def test_deeply_nested_json_is_one_finding(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    res = run_subprocess("check", path)
    assert res.code == 1
    assert "request.json" in res.out and "nested too deeply" in res.out
    _no_traceback(res)
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    res = run_subprocess("check", path)
    assert res.code == 1 and "nested too deeply" in res.out
    _no_traceback(res)


def test_directory_named_like_a_request_is_walked_not_read(cli, tmp_path):
    folder = tmp_path / "x.json"
    folder.mkdir()
    (folder / "inner.json").write_text(json.dumps(GOOD))
    res = cli("check", folder)
    assert res.code == 0
    assert "1 file passed" in res.out


def test_unreadable_file_exit_2(cli, tmp_path, monkeypatch):
    path = tmp_path / "secret.json"
    path.write_text(json.dumps(GOOD))
    real_open = os.open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    res = cli("check", path)
    assert res.code == 2
    assert res.err.strip() == f"seedance-prep: error: {path}: permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_by_mode(tmp_path):
    path = tmp_path / "secret.json"
    path.write_text(json.dumps(GOOD))
    path.chmod(0)
    res = run_subprocess("check", path)
    assert res.code == 2 and "permission denied" in res.err


def test_symlink_loop_exit_2(cli, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.symlink_to(b)
    b.symlink_to(a)
    res = cli("check", a)
    assert res.code == 2
    assert "symbolic links" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_symlink_loop_inside_a_folder_does_not_hang(cli, tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "ok.json").write_text(json.dumps(GOOD))
    res = cli("check", tmp_path)
    assert res.code == 0


def test_missing_path_exit_2(cli, tmp_path):
    res = cli("check", tmp_path / "nope.json")
    assert res.code == 2
    assert res.err.strip() == f"seedance-prep: error: {tmp_path / 'nope.json'}: no such file or directory"


def test_missing_path_still_checks_the_others(cli, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**GOOD, "seed": -9}))
    res = cli("check", tmp_path / "nope.json", good)
    assert res.code == 2
    assert "param.seed" in res.out


def test_fifo_is_not_read(cli, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    res = cli("check", fifo)
    assert res.code == 2 and "not a regular file" in res.err


def test_stdin_empty_is_a_finding(tmp_path):
    res = run_subprocess("check", "-", stdin=b"")
    assert res.code == 1
    assert "<stdin>:1:1: request.json" in res.out and "empty" in res.out


def test_stdin_good_request(cli):
    res = cli("check", "-", stdin=json.dumps(GOOD).encode())
    assert res.code == 0


@pytest.mark.parametrize("args,needle", [
    (["check", "--profile", "sora"], "unknown profile 'sora'"),
    (["check", "--select", "param.sede"], "unknown rule or prefix 'param.sede'"),
    (["check", "--ignore", "bogus"], "unknown rule or prefix 'bogus'"),
    (["check", "--format", "xml"], "invalid choice"),
    (["check", "--max-tokens", "lots"], "expected a whole number"),
    (["check", "--frobnicate"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
    (["rules", "no.such-rule"], "unknown rule 'no.such-rule'"),
    (["schema", "--profile", "nope"], "unknown profile 'nope'"),
])
def test_bad_flags_one_line_exit_2(cli, tmp_path, args, needle):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(GOOD))
    res = cli(*args, *([path] if args[0] == "check" else []))
    assert res.code == 2
    assert needle in res.err
    assert len(res.err.strip().splitlines()) == 1, res.err
    _no_traceback(res)


@pytest.mark.parametrize("content,needle", [
    ('[rules."param.seed"]\nseverity = "fatal"\n', "severity must be error, warning or off"),
    ('[rules."param.seed"]\noptions = { min = "zero" }\n', "option 'min' must be int"),
    ('[rules."param.seed"]\ncheck = "regexp"\n', "unknown check 'regexp'"),
    ('[rules."param.seed"]\nmessage = "{nope}"\n', "unknown placeholder(s) nope"),
    ('[rules."my.rule"]\nseverity = "error"\n', "missing check, message, summary"),
    ('[rules."param.seed"]\nseverity = "error"\ncolour = "red"\n', "unknown field(s) colour"),
    ('[rules."param.seed"\n', "invalid TOML"),
    ('[ruleset]\nid = "mine"\nextends = "nothing"\n', "extends unknown rule set 'nothing'"),
    ('[rules."BadId"]\nseverity = "error"\n', "must look like 'group.name'"),
    ('[rules."text.placeholder"]\noptions = { patterns = ["(unclosed"] }\n', "option 'patterns' must be list[regex]"),
])
def test_broken_rule_file_exit_2(cli, tmp_path, content, needle):
    rules = tmp_path / "mine.toml"
    rules.write_text(content)
    req = tmp_path / "r.json"
    req.write_text(json.dumps(GOOD))
    res = cli("check", req, "--rules", rules)
    assert res.code == 2
    assert needle in res.err and str(rules) in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1


def test_missing_rule_file_exit_2(cli, tmp_path):
    res = cli("check", "--rules", tmp_path / "none.toml", tmp_path)
    assert res.code == 2 and "cannot read rule file" in res.err


@pytest.mark.parametrize("name,content,needle", [
    ("seedance-prep.toml", "profile = \n", "invalid TOML"),
    ("seedance-prep.toml", 'profiel = "ark"\n', "unknown setting 'profiel'"),
    ("seedance-prep.toml", "select = \"param\"\n", "'select' must be list"),
    ("seedance-prep.toml", 'fail-on = "info"\n', "'fail-on' must be error or warning"),
    ("seedance-prep.toml", 'profile = "nope"\n', "unknown profile 'nope'"),
    ("pyproject.toml", '[tool.seedance-prep]\nmax-tokens = "many"\n', "'max-tokens' must be int"),
])
def test_broken_config_exit_2(cli, tmp_path, name, content, needle):
    (tmp_path / name).write_text(content)
    (tmp_path / "r.json").write_text(json.dumps(GOOD))
    res = cli("check", "r.json", cwd=tmp_path)
    assert res.code == 2
    assert needle in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1


def test_file_far_over_the_body_limit_is_not_read(cli, tmp_path):
    overlay = tmp_path / "small.toml"
    overlay.write_text('[rules."request.body-size"]\noptions = { max_bytes = 100 }\n')
    path = tmp_path / "huge.json"
    path.write_text(json.dumps({**GOOD, "content": [{"type": "text", "text": "x" * 1000}]}))
    res = cli("check", path, "--rules", overlay, "--format", "json")
    (f,) = res.json()["results"][0]["findings"]
    assert f["rule"] == "request.body-size" and "file not parsed" in f["message"] and f["actual"] > 200
    assert res.code == 1
