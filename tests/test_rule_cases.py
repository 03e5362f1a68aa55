"""Every rule's pass/fail cases from tests/cases/<rule>.json, run through the library and the engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"


def _load():
    for path in sorted(CASES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            yield pytest.param(data["rule"], case, id=f"{data['rule']}: {case['name']}")


def _checker(book_factory, case, tmp_path):
    from prep.lint import Checker
    from prep.ruleset import RuleBook

    extra = []
    if "rules" in case:  # a rule override, as a user's --rules overlay would give it
        lines = []
        for rid, fields in case["rules"].items():
            lines.append(f'[rules."{rid}"]')
            for k, v in fields.items():
                lines.append(f"{k} = {_toml(v)}")
        overlay = tmp_path / "overlay.toml"
        overlay.write_text("\n".join(lines) + "\n")
        extra.append(overlay)
    book = RuleBook(extra) if extra else book_factory
    return Checker(book, profile=case.get("profile", "ark"), max_tokens=case.get("max_tokens"))


def _toml(value):
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


@pytest.mark.parametrize("rule_id,case", list(_load()))
def test_rule_case(rule_id, case, book, tmp_path):
    checker = _checker(book, case, tmp_path)
    raw = case["raw"].encode("utf-8") if "raw" in case else json.dumps(case["request"]).encode("utf-8")
    result = checker.check_bytes(raw, "case.json")
    hits = [f for f in result.findings if f.rule == rule_id]
    if case["expect"] == "pass":
        assert not hits, f"unexpected {rule_id}: {[f.message for f in hits]}"
        return
    assert hits, f"expected {rule_id}; got {[(f.rule, f.message) for f in result.findings]}"
    if "pointer" in case:
        assert case["pointer"] in [f.pointer for f in hits], [f.pointer for f in hits]
    if "severity" in case:
        assert {f.severity for f in hits} == {case["severity"]}
    for f in hits:
        assert f.message and not re.search(r"\{[a-z_]+(?:[:!][^{}]*)?\}", f.message), f.message  # template filled


def test_every_rule_has_cases(book):
    """Each request-level rule of every profile and model family has a case file with at least one pass
    and one fail."""
    covered = {}
    for path in CASES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        covered[data["rule"]] = {c["expect"] for c in data["cases"]}
    rule_ids = {r.id for name in book.names for family in book.families_of(name)
                for r in book.get(name, family).rules if r.scope == "request" and r.severity != "off"}
    missing = sorted(rid for rid in rule_ids if covered.get(rid) != {"pass", "fail"})
    assert not missing, f"rules without pass+fail cases: {missing}"
