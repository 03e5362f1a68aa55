"""The check command's contract (SPEC §5): formats, selection, config, exit codes; rules and schema."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import ROOT, run_subprocess

GOOD = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}]}
BAD = ('{\n  "model": "doubao-seedance-2-0-fast-260128",\n  "resolution": "1080p",\n  "content": [\n'
       '    {"type": "video_url", "video_url": {"url": "https://e.com/a.mp4"}, "role": "reference_video"},\n'
       '    {"type": "text", "text": "a cat"}\n  ]\n}\n')


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(BAD)
    return path


def test_text_format_has_real_positions(cli, bad):
    res = cli("check", bad)
    assert res.code == 1
    lines = res.out.splitlines()
    assert lines[0].startswith(f"{bad}: profile ark, family seedance-2.0-fast, mode multimodal_reference, estimate ")
    assert lines[1] == f"{bad}:3:3: param.resolution resolution '1080p' is not available for doubao-seedance-2-0-fast-260128 (Seedance 2.0 fast); allowed: 480p, 720p"
    assert lines[2] == "  help: seedance-prep rules param.resolution"
    assert lines[3].startswith(f"{bad}:6:5: content.order content[1]: text item comes after video_url")
    assert lines[4] == "  help: reorder the items and renumber prompt placeholders (seedance-prep rules content.order)"
    assert lines[-2] == "Found 1 error and 1 warning in 1 of 1 file."
    assert lines[-1] == "1 remote media not inspected; use --remote to inspect http(s) URLs."
    quiet = cli("check", bad, "-q").out.splitlines()
    assert quiet == [lines[1], lines[3]]  # -q: the finding lines alone


def test_quiet_drops_the_summary(cli, bad):
    res = cli("check", bad, "-q")
    assert not any(line.startswith("Found") for line in res.out.splitlines())


def test_json_format_matches_the_spec(cli, bad, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**GOOD, "resolution": "720p", "ratio": "16:9", "duration": 5}))
    res = cli("check", bad, good, "--format", "json")
    doc = res.json()
    assert doc["version"] == 1 and set(doc) == {"version", "results", "summary"}
    assert doc["summary"] == {"files": 2, "errors": 1, "warnings": 1, "remote_not_inspected": 1}
    first = doc["results"][0]
    assert set(first) == {"path", "profile", "family", "mode", "findings", "estimate"}
    assert first["profile"] == "ark" and first["mode"] == "multimodal_reference"
    f = first["findings"][0]
    assert {"rule", "severity", "pointer", "message", "expected", "actual", "fixable"} <= set(f)
    assert f["pointer"] == "/resolution" and f["actual"] == "1080p" and f["expected"] == ["480p", "720p"]
    assert doc["results"][1]["estimate"]["tokens"] == 108900
    assert res.code == 1


def test_json_lists_unreadable_files(cli, tmp_path):
    res = cli("check", tmp_path / "missing.json", "--format", "json")
    doc = res.json()
    assert res.code == 2
    assert doc["errors"] == [{"path": str(tmp_path / "missing.json"), "message": "no such file or directory"}]


def test_github_annotations(cli, bad):
    res = cli("check", bad, "--format", "github")
    lines = res.out.splitlines()
    assert lines[0].startswith(f"::error file={bad},line=3,col=3,title=param.resolution::resolution '1080p'")
    assert lines[1].startswith(f"::warning file={bad},line=6,col=5,title=content.order::")


def test_github_escapes_newlines_and_commas(cli, tmp_path):
    path = tmp_path / "a,b.json"
    path.write_text('{"model": "x\\ny", "content": [{"type": "text", "text": "a"}]}')
    res = cli("check", path, "--format", "github")
    line = res.out.splitlines()[0]
    assert "file=" + str(path).replace(",", "%2C") in line
    assert "\n" not in line and "%0A" in line


def test_sarif_2_1_0(cli, bad):
    res = cli("check", bad, "--format", "sarif")
    doc = res.json()
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert "param.resolution" in ids and all({"id", "name"} <= set(r) for r in rules)
    assert all("help" in r and r["help"]["text"] for r in rules)
    first = run["results"][0]
    assert first["ruleId"] == "param.resolution" and first["level"] == "error"
    assert ids[first["ruleIndex"]] == "param.resolution"
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("bad.json")
    assert loc["region"] == {"startLine": 3, "startColumn": 3}
    assert run["results"][1]["level"] == "warning"


def test_output_file_is_written(cli, bad, tmp_path):
    out = tmp_path / "reports" / "r.sarif"
    res = cli("check", bad, "--format", "sarif", "--output", out)
    assert res.code == 1 and res.out == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert [p.name for p in out.parent.iterdir()] == ["r.sarif"]  # no temp file left behind


@pytest.mark.parametrize("args,rules", [
    (["--select", "param"], {"param.resolution"}),
    (["--select", "content.order"], {"content.order"}),
    (["--ignore", "content"], {"param.resolution"}),
    (["--ignore", "param.resolution,content.order"], set()),
    (["--select", "ALL", "--ignore", "param."], {"content.order"}),
])
def test_select_and_ignore(cli, bad, args, rules):
    res = cli("check", bad, "--format", "json", *args)
    assert {f["rule"] for f in res.json()["results"][0]["findings"]} == rules


def test_fail_on_warning(cli, tmp_path):
    path = tmp_path / "warn.json"
    path.write_text(json.dumps({**GOOD, "colour": "red"}))
    assert cli("check", path).code == 0
    assert cli("check", path, "--fail-on", "warning").code == 1


def test_max_tokens(cli, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**GOOD, "resolution": "720p", "ratio": "16:9", "duration": 10}))
    assert cli("check", path, "--max-tokens", "300000").code == 0
    res = cli("check", path, "--max-tokens", "200000")
    assert res.code == 1 and "cost.budget estimated 216900 tokens exceed the budget of 200000" in res.out


def test_config_from_pyproject(cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.seedance-prep]\nprofile = "video-generations"\nfail-on = "warning"\n'
        'severity = { "param.deprecated" = "error" }\n')
    sub = tmp_path / "requests"
    sub.mkdir()
    (sub / "r.json").write_text(json.dumps({"model": "seedance2.0-720p", "prompt": "go",
                                            "extra_body": {"operation": "edit_video"}}))
    res = cli("check", "requests", "--format", "json", cwd=tmp_path)
    (result,) = res.json()["results"]
    assert result["profile"] == "video-generations"
    assert [(f["rule"], f["severity"]) for f in result["findings"]] == [("param.deprecated", "error")]
    assert res.code == 1


def test_config_file_seedance_prep_toml_and_cli_precedence(cli, tmp_path):
    (tmp_path / "seedance-prep.toml").write_text('ignore = ["param.seed"]\nprofile = "ark"\n')
    (tmp_path / "r.json").write_text(json.dumps({**GOOD, "seed": -9}))
    assert cli("check", "r.json", cwd=tmp_path).code == 0
    res = cli("check", "r.json", "--ignore", "text", cwd=tmp_path)  # the CLI list replaces the config's
    assert res.code == 1 and "param.seed" in res.out


def test_explicit_config_flag(cli, tmp_path):
    cfg = tmp_path / "ci.toml"
    cfg.write_text('select = ["param.seed"]\n')
    (tmp_path / "r.json").write_text(json.dumps({**GOOD, "seed": -9, "colour": 1}))
    res = cli("check", tmp_path / "r.json", "--config", cfg, "--format", "json")
    assert {f["rule"] for f in res.json()["results"][0]["findings"]} == {"param.seed"}


def test_user_rules_overlay_changes_severity_and_limits(cli, tmp_path):
    overlay = tmp_path / "house.toml"
    overlay.write_text('[rules."param.duration"]\noptions = { max = 8 }\n\n[rules."content.order"]\nseverity = "error"\n')
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**GOOD, "duration": 10}))
    assert cli("check", path).code == 0
    res = cli("check", path, "--rules", overlay)
    assert res.code == 1 and "'duration' is 10; allowed: 4 to 8 or -1" in res.out


def test_user_rules_add_a_profile(cli, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('[ruleset]\nid = "my-gateway"\nextends = "gateway"\n\n[profile]\n'
                    'models."house-seedance" = { family = "seedance-2.0", resolutions = ["720p"] }\n')
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**GOOD, "model": "house-seedance", "resolution": "1080p"}))
    res = cli("check", path, "--rules", mine, "--profile", "my-gateway", "--format", "json")
    assert [f["rule"] for f in res.json()["results"][0]["findings"]] == ["param.resolution"]


def test_limits_are_data_in_a_copy_of_the_rule_file(cli, tmp_path):
    """Changing max images 9 → 2 in a copy of the common rule file changes what check accepts."""
    source = (ROOT / "rules" / "seedance-2.0.toml").read_text(encoding="utf-8")
    assert 'kinds = ["image"], max = 9,' in source
    copy = tmp_path / "seedance-2.0.toml"
    copy.write_text(source.replace('kinds = ["image"], max = 9,', 'kinds = ["image"], max = 2,'), encoding="utf-8")
    images = [{"type": "image_url", "image_url": {"url": f"https://e.com/{i}.png"}, "role": "reference_image"}
              for i in range(3)]
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**GOOD, "content": GOOD["content"] + images}))
    assert cli("check", path).code == 0
    for profile in ("ark", "gateway", "video-generations"):
        res = cli("check", path, "--rules", copy, "--profile", profile)
        if profile == "video-generations":
            continue  # a content array is not this dialect's shape; covered by the two above
        assert res.code == 1 and "count.images 3 images; at most 2 allowed" in res.out, res.out


def test_directories_recurse_over_json_only(cli, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.json").write_text(json.dumps(GOOD))
    (tmp_path / "a" / "notes.txt").write_text("not a request")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skip.json").write_text("{")
    res = cli("check", tmp_path, "--format", "json")
    assert [Path(r["path"]).name for r in res.json()["results"]] == ["one.json"]


def test_rules_list_and_page(cli):
    res = cli("rules")
    assert res.code == 0
    assert re.search(r"^content\.order\s+warning \(gateway: error\)\s+yes\s+all", res.out, re.M)
    page = cli("rules", "param.duration")
    assert page.code == 0
    for heading in ("What it checks", "Why the API cares", "Fails", "Passes", "Fix"):
        assert heading in page.out
    assert "video-generations: min = 5, also = [], strings = true" in page.out
    doc = cli("rules", "param.seed", "--format", "json").json()
    assert doc["options"] == {"param": "seed", "min": -1, "max": 4294967295}


def test_rules_json_lists_every_rule_with_profiles(cli):
    rules = cli("rules", "--format", "json").json()
    by_id = {r["id"]: r for r in rules}
    assert by_id["content.order"]["severity_by_profile"]["gateway"] == "error"
    assert set(by_id["param.seed"]["profiles"]) == {"ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos"}


def test_schema_is_valid_2020_12_and_agrees_on_documented_examples(cli):
    jsonschema = pytest.importorskip("jsonschema")
    for profile in ("ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos"):
        res = cli("schema", "--profile", profile)
        schema = res.json()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        for path in (ROOT / "fixtures" / "requests" / profile).glob("*.json"):
            errors = [e.message for e in validator.iter_errors(json.loads(path.read_text()))]
            assert not errors, (profile, path.name, errors)
    ark = jsonschema.Draft202012Validator(cli("schema", "--profile", "ark").json())
    assert not ark.is_valid({**GOOD, "duration": 20})
    assert not ark.is_valid({**GOOD, "frames": 121})
    assert not ark.is_valid({**GOOD, "content": [{"type": "image_url", "image_url": {"url": "x"}, "role": "reference_image"}] * 10})


def test_python_dash_m_and_version():
    res = run_subprocess("--version")
    assert res.code == 0 and res.out.startswith("seedance-prep ")


def test_no_command_prints_help_exit_2(cli):
    res = cli()
    assert res.code == 2 and "check" in res.out


def test_parallel_and_serial_runs_agree(cli, tmp_path):
    from prep.lint import PARALLEL_MIN

    for i in range(PARALLEL_MIN + 50):
        req = {**GOOD, "duration": 3 + i % 15, "seed": -2 if i % 7 == 0 else i}
        (tmp_path / f"r{i:04d}.json").write_text(json.dumps(req))
    (tmp_path / "broken.json").write_text("{")
    os.mkfifo(tmp_path / "r0100.json.fifo.json")  # unreadable in the middle of a worker's share
    serial = cli("check", tmp_path, "--format", "json", "-j", "1")
    parallel = cli("check", tmp_path, "--format", "json", "-j", "2")
    assert serial.code == parallel.code == 2
    assert serial.json() == parallel.json()
    assert serial.json()["summary"]["files"] == PARALLEL_MIN + 51
    assert [e["message"] for e in parallel.json()["errors"]] == ["not a regular file"]
    for fmt in ("text", "github", "sarif"):
        assert cli("check", tmp_path, "--format", fmt, "-j", "1").out == cli("check", tmp_path, "--format", fmt, "-j", "2").out


def test_the_suite_never_touches_the_users_home():
    """Collection builds rule books (tests/test_docs.py): the cache must already point at a temp folder."""
    import os
    import tempfile

    home = os.environ["SEEDANCE_PREP_HOME"]
    assert home.startswith(tempfile.gettempdir()) and "seedance-prep-tests-" in home
    from prep.paths import cache_dir

    assert cache_dir().startswith(home)


def test_schema_follows_the_configs_selection(cli, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    doc = {**GOOD, "duration": 20}
    assert not jsonschema.Draft202012Validator(cli("schema").json()).is_valid(doc)
    (tmp_path / "seedance-prep.toml").write_text('ignore = ["param.duration"]\n')
    assert jsonschema.Draft202012Validator(cli("schema", cwd=tmp_path).json()).is_valid(doc)
