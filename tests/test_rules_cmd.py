"""`seedance-prep rules`: a prefix lists the rules it names (as `check --select` reads it), an id prints
its page, and `--profile P` shows the rules as P has them (P's severity, P's model families)."""

from __future__ import annotations

import re

import pytest


def _ids(text: str) -> list[str]:
    """The rule ids of a text rule list."""
    return [line.split()[0] for line in text.splitlines()[1:]]


def _row(text: str, rule_id: str) -> str:
    return next(line for line in text.splitlines() if line.split()[0] == rule_id)


def test_a_prefix_lists_the_rules_it_names(cli):
    every = [r["id"] for r in cli("rules", "--format", "json").json()]
    res = cli("rules", "param")
    assert res.code == 0 and res.err == ""
    assert res.out.startswith("RULE ")
    assert _ids(res.out) == [i for i in every if i.startswith("param.")]
    assert cli("rules", "param.").out == res.out
    assert _ids(cli("rules", "task").out) == ["task.edit", "task.extend", "task.frame-ratio", "task.intent"]


@pytest.mark.parametrize("args", [("ALL",), ("all",)])
def test_all_lists_every_rule(cli, args):
    assert cli("rules", *args).out == cli("rules").out


def test_several_prefixes_and_formats(cli):
    listed = [r["id"] for r in cli("rules", "count,param.seed", "--format", "json").json()]
    assert listed == ["param.seed", "count.images", "count.videos", "count.audios", "count.total"]
    markdown = cli("rules", "count", "--format", "markdown").out
    assert markdown.splitlines()[0].startswith("| rule | severity |") and "`count.total`" in markdown
    assert "`param.seed`" not in markdown


def test_an_exact_id_still_prints_its_page(cli):
    page = cli("rules", "param.duration")
    assert page.code == 0 and page.out.startswith("param.duration — ") and "Why the API cares" in page.out
    assert cli("rules", "param.seed", "--format", "json").json()["id"] == "param.seed"


@pytest.mark.parametrize("args,message", [
    (("rules", "bogus"), "unknown rule 'bogus'"),
    (("rules", "param.sede"), "did you mean 'param.seed'?"),
    (("rules", "param,nope"), "unknown rule 'nope'"),
    (("rules", "task", "--profile", "gateway"), "no rule of profile 'gateway' matches 'task'"),
    (("rules", "task", "--profile", "nowhere"), "unknown profile 'nowhere'"),
])
def test_a_name_that_names_no_rule_is_exit_2(cli, args, message):
    res = cli(*args)
    assert res.code == 2 and message in res.err and res.out == ""


def test_a_profile_shows_its_own_severity(cli):
    everywhere = cli("rules").out
    assert re.search(r"warning \(gateway: error\)", _row(everywhere, "content.order"))
    gateway = cli("rules", "--profile", "gateway").out
    assert re.match(r"content\.order\s+error\s+yes\s+gateway\s+all\s+items come", _row(gateway, "content.order"))
    assert re.match(r"content\.order\s+warning\s+yes\s+ark\s", _row(cli("rules", "--profile", "ark").out, "content.order"))
    page = cli("rules", "content.order", "--profile", "gateway").out
    assert "Severity: error    Fixable: yes" in page and "Profiles: gateway\n" in page
    doc = {r["id"]: r for r in cli("rules", "--profile", "gateway", "--format", "json").json()}
    assert doc["content.order"]["severity"] == "error"
    assert doc["content.order"]["severity_by_profile"] == {"gateway": "error"}
    assert doc["content.order"]["profiles"] == ["gateway"]


def test_a_profile_shows_only_its_families(cli):
    gateway = cli("rules", "--profile", "gateway")
    assert not any(i.startswith("task.") for i in _ids(gateway.out))
    assert re.match(r"audio\.needs-visual\s+error\s+no\s+gateway\s+all\s", _row(gateway.out, "audio.needs-visual"))
    ark = {r["id"]: r for r in cli("rules", "--profile", "ark", "--format", "json").json()}
    assert ark["task.edit"]["families"] == ["seedance-2.5", "seedance-2.5-draft"]  # no 2.5 flash: byteplus sells it
    assert ark["audio.needs-visual"]["families"] == ["seedance-2.0", "seedance-2.0-fast", "seedance-2.0-mini"]
    everywhere = {r["id"]: r for r in cli("rules", "--format", "json").json()}
    assert "seedance-2.5-flash" in everywhere["task.edit"]["families"]
    page = cli("rules", "audio.needs-visual", "--profile", "gateway", "--format", "json").json()
    assert page["families"] == ["seedance-2.0"] and page["severity_by_profile"] == {"gateway": "error"}
    assert "Model families: all\n" in cli("rules", "audio.needs-visual", "--profile", "gateway").out


def test_a_prefix_with_a_profile_lists_that_profiles_rules(cli):
    listed = _ids(cli("rules", "param", "--profile", "openai-videos").out)
    assert "param.conflict" in listed and "param.output-format" not in listed  # openai-videos sells no 2.5


def test_a_profile_shows_the_families_where_its_severity_differs(cli, tmp_path):
    overlay = tmp_path / "order.toml"
    overlay.write_text('[families."seedance-2.5".rules."content.order"]\nseverity = "error"\n', encoding="utf-8")
    ark = cli("rules", "content", "--profile", "ark", "--rules", overlay).out
    assert re.match(r"content\.order\s+warning \(seedance-2\.5: error\)\s", _row(ark, "content.order"))
    page = cli("rules", "content.order", "--profile", "ark", "--rules", overlay).out
    assert "Severity: warning (seedance-2.5: error)" in page


def test_the_readme_table_keeps_its_format(cli):
    markdown = cli("rules", "--format", "markdown").out
    assert "| `content.order` | warning (gateway: error) | yes | all | all |" in markdown
    assert "| `audio.needs-visual` | error | no | all | all but seedance-2.5 |" in markdown
