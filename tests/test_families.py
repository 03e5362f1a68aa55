"""Model families as rule data: a request is judged by its model's family seen through its profile.

Adding a family is a data-only change (a family file plus its ids), aliases map reseller names to a
family, variants switch family on a parameter's value, and rules pages and schemas show per-family values.
"""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

V25, B25, M20 = "doubao-seedance-2-5-260628", "dreamina-seedance-2-5-260628", "doubao-seedance-2-0-260128"
TEXT = [{"type": "text", "text": "a cat"}]

FAMILY_9 = '''
[family]
id = "seedance-9"
extends = "seedance-2.5"
title = "Seedance 9 (made up)"
resolutions = ["480p", "720p", "1080p", "2k"]

[rules."param.duration"]
options = { max = 60 }

[rules."count.videos"]
options = { max = 20 }
'''
IDS_9 = '''
[profile]
models."doubao-seedance-9-271231" = { family = "seedance-9" }
'''


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _result(cli, *args):
    res = cli("check", *args, "--format", "json")
    assert res.code in (0, 1), res.err
    (result,) = res.json()["results"]
    return result, {f["rule"]: f for f in result["findings"]}


@pytest.fixture
def family_9(tmp_path):
    return ["--rules", _write(tmp_path, "seedance-9.toml", FAMILY_9), "--rules", _write(tmp_path, "ids.toml", IDS_9)]


def test_a_new_family_is_one_rules_file_plus_its_ids(cli, tmp_path, family_9):
    def check(model, **params):
        req = _write(tmp_path, "req.json", json.dumps({"model": model, "content": TEXT, **params}))
        return _result(cli, req, *family_9)

    result, found = check("doubao-seedance-9-271231", duration=45, resolution="2k")
    assert result["family"] == "seedance-9" and found == {}
    _, found = check("doubao-seedance-9-271231", duration=61)
    assert found["param.duration"]["expected"] == "4 to 60 or -1"
    _, found = check(V25, duration=45, resolution="2k")  # 2.5 itself is unchanged
    assert {"param.duration", "param.resolution"} <= set(found)
    result, found = check("doubao-seedance-9-271231", draft=True)  # variants are not inherited
    assert result["family"] == "seedance-9" and found == {}


def test_a_new_family_shows_in_rule_pages_and_schemas(cli, family_9):
    jsonschema = pytest.importorskip("jsonschema")
    page = cli("rules", "param.duration", *family_9).out
    assert "seedance-9: max = 60" in page and "seedance-2.5: max = 30" in page
    schema = cli("schema", "--profile", "ark", *family_9).json()
    assert "model family seedance-9" in [b["$comment"] for b in schema["allOf"]]
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"model": "doubao-seedance-9-271231", "content": TEXT, "duration": 45})
    assert not validator.is_valid({"model": V25, "content": TEXT, "duration": 45})


def test_families_are_chosen_by_model_and_variant(cli, tmp_path):
    cases = [({"model": M20}, "seedance-2.0"), ({"model": "doubao-seedance-2-0-fast-260128"}, "seedance-2.0-fast"),
             ({"model": V25}, "seedance-2.5"), ({"model": V25, "draft": True}, "seedance-2.5-draft"),
             ({"model": V25, "draft": "true"}, "seedance-2.5"),  # a string is no switch (param.type reports it)
             ({"model": "no-such-model"}, "seedance-2.0")]  # an unknown model: the profile's default family
    for params, family in cases:
        req = _write(tmp_path, "req.json", json.dumps({**params, "content": TEXT}))
        result, _ = _result(cli, req, "--profile", "ark")
        assert result["family"] == family, params


def test_aliases_from_config_and_from_an_overlay(cli, tmp_path):
    req = _write(tmp_path, "req.json", json.dumps({"model": "bytedance/seedance-2.5", "content": TEXT, "duration": 25}))
    _, found = _result(cli, req)
    assert "param.model" in found  # unknown until mapped
    _write(tmp_path, "seedance-prep.toml", 'aliases = { "bytedance/seedance-2.5" = "seedance-2.5" }\n')
    res = cli("check", req, "--format", "json", cwd=tmp_path)
    (result,) = res.json()["results"]
    assert res.code == 0 and result["family"] == "seedance-2.5" and result["findings"] == []
    (tmp_path / "seedance-prep.toml").unlink()
    overlay = _write(tmp_path, "aliases.toml", '[profile]\naliases = { "bytedance/seedance-2.5" = "seedance-2.5" }\n')
    result, found = _result(cli, req, "--rules", overlay)
    assert result["family"] == "seedance-2.5" and found == {}
    # an alias adds to the profile's models: the real ids stay known
    other = _write(tmp_path, "other.json", json.dumps({"model": M20, "content": TEXT}))
    result, found = _result(cli, other, "--rules", overlay)
    assert result["family"] == "seedance-2.0" and found == {}


@pytest.mark.parametrize("files,message", [
    ({"f.toml": '[family]\nid = "x"\nextends = "nope"\n'}, "extends unknown model family 'nope'"),
    ({"f.toml": '[family]\nid = "x"\nextends = "y"\n', "g.toml": '[family]\nid = "y"\nextends = "x"\n'},
     "model families extend each other in a cycle"),
    ({"f.toml": '[family]\nid = "x"\nvariants = [{ param = "draft", equals = true, family = "nope" }]\n'},
     "names unknown family 'nope'"),
    ({"f.toml": '[profile]\nmodels."m" = { tier = "standard" }\n'}, "'tier' is now 'family'"),
    ({"f.toml": '[profile]\nmodels."m" = { family = "nope" }\n'}, "names unknown model family 'nope'"),
    ({"f.toml": '[family]\nid = "x"\n[profile]\nkey_env = "K"\n'}, "a family file has [family] and [rules] only"),
    ({"f.toml": '[family]\nid = "x"\n[rules."param.duration"]\noptions = { max = "30" }\n'},
     "f.toml: rule 'param.duration': option 'max' must be int"),
    ({"f.toml": '[families."nope".rules."param.duration"]\noptions = { max = 30 }\n'},
     "names unknown model family 'nope'"),
    ({"f.toml": '[rules."param.duration"]\nwhen = { mode = "first_frame" }\n'}, "when.mode must be list[str]"),
])
def test_broken_family_data_is_one_line_and_exit_2(cli, tmp_path, files, message):
    args = []
    for name, text in files.items():
        args += ["--rules", _write(tmp_path, name, text)]
    req = _write(tmp_path, "req.json", json.dumps({"model": M20, "content": TEXT}))
    res = cli("check", req, *args)
    assert res.code == 2 and message in res.err and len(res.err.strip().splitlines()) == 1, res.err


def test_a_profile_can_override_one_family_only(cli, tmp_path):
    overlay = _write(tmp_path, "o.toml", '[families."seedance-2.5".rules."param.duration"]\noptions = { max = 20 }\n')
    for model, duration, fails in ((V25, 21, True), (V25, 20, False), (M20, 15, False)):
        req = _write(tmp_path, "req.json", json.dumps({"model": model, "content": TEXT, "duration": duration}))
        _, found = _result(cli, req, "--rules", overlay)
        assert ("param.duration" in found) is fails, (model, duration)


def test_schema_branches_by_family(cli):
    jsonschema = pytest.importorskip("jsonschema")
    ark = jsonschema.Draft202012Validator(cli("schema", "--profile", "ark").json())
    assert ark.is_valid({"model": V25, "content": TEXT, "duration": 25, "output_format": "mov"})
    assert not ark.is_valid({"model": M20, "content": TEXT, "duration": 25})
    assert not ark.is_valid({"model": M20, "content": TEXT, "output_format": "mov"})
    assert ark.is_valid({"model": V25, "content": TEXT, "draft": True, "resolution": "480p"})
    assert not ark.is_valid({"model": V25, "content": TEXT, "draft": True, "resolution": "720p"})
    assert ark.is_valid({"model": V25, "content": TEXT, "resolution": "1080p"})
    assert not ark.is_valid({"model": "doubao-seedance-2-0-fast-260128", "content": TEXT, "resolution": "1080p"})
    assert ark.is_valid({"model": V25, "content": [{"type": "draft_task", "draft_task": {"id": "cgt-1"}}]})
    assert not ark.is_valid({"model": M20, "content": [{"type": "draft_task", "draft_task": {"id": "cgt-1"}}]})
    images = [{"type": "image_url", "image_url": {"url": f"https://e.com/{i}.png"}, "role": "reference_image"}
              for i in range(30)]
    assert ark.is_valid({"model": V25, "content": TEXT + images})
    assert not ark.is_valid({"model": M20, "content": TEXT + images})


def test_rule_pages_show_per_family_values(cli):
    page = cli("rules", "count.images").out
    assert "Model families: all" in page and "seedance-2.5: max = 30" in page
    page = cli("rules", "task.edit").out
    assert "Model families: seedance-2.5" in page and 'Applies only when: param = "omni_reference_task_type"' in page
    doc = cli("rules", "audio.needs-visual", "--format", "json").json()
    assert "seedance-2.5" not in doc["families"] and "seedance-2.0-mini" in doc["families"]
    listed = {r["id"]: r for r in cli("rules", "--format", "json").json()}
    assert listed["task.intent"]["families"] == ["seedance-2.5", "seedance-2.5-draft", "seedance-2.5-flash"]
    assert set(listed["task.intent"]["profiles"]) == {"ark", "byteplus", "apiyi"}


def test_no_provider_number_of_a_family_is_in_python():
    """Family limits live in rules/: the 2.5 numbers appear in no Python module."""
    for path in (ROOT / "prep").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for number in ("8295044", "407696", "30.2", "15.2", "1.8", "1.9"):
            assert number not in text, (path, number)
