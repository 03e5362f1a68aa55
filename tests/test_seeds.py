"""Every documented request example of the source documents (fixtures/requests/<profile>/, taken from
../shared/seeds/) checks clean under its profile — and under profile inference."""

from __future__ import annotations

import pytest
from conftest import ROOT

EXAMPLES = sorted((ROOT / "fixtures" / "requests").glob("*/*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_documented_example_checks_clean(cli, path):
    profile = path.parent.name
    res = cli("check", path, "--profile", profile, "--format", "json", "--fail-on", "warning")
    (result,) = res.json()["results"]
    assert result["findings"] == [], result["findings"]
    assert result["profile"] == profile and result["mode"] is not None
    assert res.code == 0


def test_every_profile_has_examples():
    assert {p.parent.name for p in EXAMPLES} == {"ark", "byteplus", "apiyi", "video-generations", "openai-videos",
                                                 "gateway"}


def test_inferred_profiles_check_clean(cli):
    res = cli("check", ROOT / "fixtures" / "requests", "--format", "json", "--fail-on", "warning")
    summary = res.json()["summary"]
    assert res.code == 0 and (summary["files"], summary["errors"], summary["warnings"]) == (len(EXAMPLES), 0, 0)
