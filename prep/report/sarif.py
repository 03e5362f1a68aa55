"""SARIF 2.1.0 for code-scanning dashboards: one run, the rules as ``tool.driver.rules``."""

from __future__ import annotations

from .. import __version__
from .json import dumps

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning"}


def _uri(path: str) -> str:
    from urllib.parse import quote

    # surrogateescape: a file name that is not UTF-8 keeps its bytes, percent-encoded
    return quote(path.replace("\\", "/").encode("utf-8", "surrogateescape"))


def render(results, errors, *, rules=(), pretty: bool = True, **_) -> str:
    """``rules`` are the ``model.Rule`` objects of the profiles used (for ids, names and help)."""
    catalogue: dict = {}
    for rule in rules:
        catalogue.setdefault(rule.id, rule)
    used = {f.rule for r in results for f in r.findings}
    index = {rid: n for n, rid in enumerate(sorted(set(catalogue) | used))}
    driver_rules = []
    for rid in index:
        rule = catalogue.get(rid)
        entry = {"id": rid, "name": rule.name if rule else rid}
        if rule:
            help_text = rule.summary + (f"\n\nWhy: {rule.why}" if rule.why else "") + (f"\n\nFix: {rule.fix}" if rule.fix else "")
            entry.update({
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.why or rule.summary},
                "help": {"text": help_text, "markdown": help_text},
                "defaultConfiguration": {"level": LEVEL.get(rule.severity, "warning")},
                "properties": {"fixable": rule.fixable, "check": rule.check},
            })
        driver_rules.append(entry)
    sarif_results = []
    for r in results:
        if r.skipped:
            continue
        for f in r.findings:
            sarif_results.append({
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": LEVEL.get(f.severity, "warning"),
                "message": {"text": f.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(r.path)},
                        "region": {"startLine": f.line or 1, "startColumn": f.column or 1},
                    },
                    "logicalLocations": [{"fullyQualifiedName": f.pointer or "/", "kind": "member"}],
                }],
                "properties": {"pointer": f.pointer, "expected": f.expected, "actual": f.actual,
                               "fixable": f.fixable, "profile": r.profile, "family": r.family},
            })
    notifications = [{"level": "error", "message": {"text": f"{e.path}: {e.message}"},
                      "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e.path)}}}]}
                     for e in errors]
    run = {
        "tool": {"driver": {"name": "seedance-prep", "version": __version__, "semanticVersion": __version__,
                            "rules": driver_rules}},
        "results": sarif_results,
        "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
    }
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    if pretty:
        return dumps(doc, indent=2) + "\n"
    return dumps(doc, separators=(",", ":")) + "\n"
