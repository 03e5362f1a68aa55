"""A parameter written as null is a parameter not given (`null_is_absent` in the rules): the official Ark
SDK sends null for every optional parameter its caller leaves out, and the API takes those requests. So
`check` raises nothing about them, and the JSON Schema accepts them too; a null where a value is required
is a missing value."""

from __future__ import annotations

import json

import jsonschema
import pytest

from prep.lint import Checker
from prep.ruleset import RuleBook
from prep.schema import request_schema

BOOK = RuleBook()

TEXT = [{"type": "text", "text": "a cat on a desk"}]
SDK_SHAPED = {"model": "doubao-seedance-2-0-260128", "content": TEXT, "callback_url": None,
              "return_last_frame": None, "ratio": None, "duration": None, "seed": None, "camera_fixed": None}


def check(doc: dict, profile: str = "ark"):
    return Checker(BOOK, profile=profile, inspect_media=False).check_bytes(json.dumps(doc).encode(), "x.json")


def schema_errors(doc: dict, profile: str = "ark") -> list[str]:
    validator = jsonschema.Draft202012Validator(request_schema(BOOK, profile))
    return [e.message for e in validator.iter_errors(doc)]


@pytest.mark.parametrize("profile", ["ark", "byteplus", "apiyi", "gateway"])
def test_an_sdk_shaped_body_checks_clean_and_fits_the_schema(profile):
    doc = dict(SDK_SHAPED)
    if profile == "byteplus":
        doc["model"] = "dreamina-seedance-2-0-260128"
    elif profile == "gateway":
        doc["model"] = "seedance-2.0"
    assert [f.rule for f in check(doc, profile).findings] == []
    assert schema_errors(doc, profile) == []


def test_the_same_values_written_wrong_are_still_errors():
    doc = {**SDK_SHAPED, "duration": "five", "camera_fixed": False}
    rules = {f.rule for f in check(doc).findings}
    assert {"param.type", "param.unsupported"} <= rules and schema_errors(doc)


@pytest.mark.parametrize("profile, doc, rule", [
    ("ark", {"model": None, "content": TEXT}, "param.model"),
    ("video-generations", {"model": "seedance2.0-720p", "prompt": None, "image": "https://e.com/a.png"},
     "content.empty"),
])
def test_null_where_a_value_is_required_is_missing(profile, doc, rule):
    assert rule in {f.rule for f in check(doc, profile).findings}
    assert schema_errors(doc, profile)


@pytest.mark.parametrize("profile, doc", [
    ("video-generations", {"model": "seedance2.0-720p", "prompt": "a cat", "extra_body": {"seed": None,
                                                                                          "watermark": None}}),
    ("openai-videos", {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "seconds": None,
                       "metadata": {"ratio": None}}),
])
def test_nulls_inside_parameter_objects_are_absent_too(profile, doc):
    assert [f.rule for f in check(doc, profile).findings] == []
    assert schema_errors(doc, profile) == []


def test_a_rules_overlay_can_turn_it_off(tmp_path):
    from prep.ruleset import RuleBook

    overlay = tmp_path / "strict.toml"
    overlay.write_text("[profile]\nnull_is_absent = false\n")
    strict = Checker(RuleBook([str(overlay)]), profile="ark", inspect_media=False)
    found = strict.check_bytes(json.dumps(SDK_SHAPED).encode(), "x.json").findings
    assert "param.type" in {f.rule for f in found}
