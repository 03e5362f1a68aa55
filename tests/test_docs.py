"""Rule documentation is generated from rules/ and stays true: examples fail and pass as they say,
and the README's rule list is the one `seedance-prep rules --format markdown` prints."""

from __future__ import annotations

import pytest
from conftest import ROOT


def _examples(book):
    seen = set()
    for name in book.names:  # the examples are shared; profiles infer from each example's shape and model
        for family in book.families_of(name):
            for rule in book.get(name, family).rules:
                for kind in ("fail", "pass"):
                    text = getattr(rule, f"example_{kind}")
                    if text.lstrip("\ufeff").startswith("{") and (rule.id, kind, text) not in seen:
                        seen.add((rule.id, kind, text))
                        yield pytest.param(rule.id, kind, text, id=f"{rule.id}-{kind}-{len(seen)}")


def _all_examples():
    from prep.ruleset import RuleBook

    return list(_examples(RuleBook()))


@pytest.mark.parametrize("rule_id,kind,text", _all_examples())
def test_documented_examples_behave(rule_id, kind, text, book):
    from prep.lint import Checker

    result = Checker(book).check_bytes(text.encode("utf-8"), "example.json")
    fired = [f for f in result.findings if f.rule == rule_id]
    if kind == "fail":
        assert fired, f"{rule_id} example_fail does not fail: {[f.rule for f in result.findings]}"
    else:
        assert not fired and not [f for f in result.findings if f.severity == "error"], result.findings


def test_every_rule_is_documented(book):
    for name in book.names:
        for family in book.families_of(name):
            for rule in book.get(name, family).rules:
                assert rule.summary and rule.why and rule.example_fail and rule.example_pass, rule.id


def test_readme_rule_list_is_in_sync(cli):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- rules:start -->\n", "<!-- rules:end -->"
    assert start in readme and end in readme
    listed = readme.split(start, 1)[1].split(end, 1)[0]
    generated = cli("rules", "--format", "markdown").out
    assert listed == generated, "README rule list is stale: regenerate it with `seedance-prep rules --format markdown`"


def test_readme_console_examples_are_real(cli, monkeypatch):
    """Every `$ seedance-prep ...` example in the README prints what the README shows."""
    import shlex

    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```console\n")[1:]]
    checked = 0
    for block in blocks:
        lines = block.rstrip("\n").split("\n")
        if not lines[0].startswith("$ seedance-prep ") or len(lines) < 2 or lines[1].startswith("$"):
            continue
        args = shlex.split(lines[0][len("$ seedance-prep "):])
        res = cli(*args)
        assert res.out.rstrip("\n").split("\n") == lines[1:], f"README example is stale: {lines[0]}"
        checked += 1
    assert checked >= 3
