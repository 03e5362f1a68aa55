"""Documentation generated from the rule files: the rule list and each rule's page."""

from __future__ import annotations

import json

from .model import PrepError
from .ruleset import DEFAULT_PROFILE, RuleBook


def _catalogue(book: RuleBook) -> dict[str, dict]:
    """rule id → {"rule": the rule in its first profile, "severity": {profile: severity}}."""
    out: dict[str, dict] = {}
    for name in book.names:
        for rule in book.get(name).rules:
            entry = out.setdefault(rule.id, {"rule": rule, "severity": {}})
            entry["severity"][name] = rule.severity
    return out


def _severity_text(entry: dict, names: list[str]) -> str:
    sev = entry["severity"]
    default = entry["rule"].severity
    other = [f"{p}: {s}" for p, s in sev.items() if s != default]
    return default + (f" ({', '.join(other)})" if other else "")


def _profiles_text(entry: dict, names: list[str]) -> str:
    active = [p for p in names if entry["severity"].get(p, "off") != "off"]
    return "all" if active == names else ", ".join(active) or "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rule_list(book: RuleBook, *, fmt: str = "text", profile: str | None = None) -> str:
    """Every rule: id, severity, fixable, profiles (and the one-line summary)."""
    names = [profile] if profile else book.names
    if profile:
        book.get(profile)  # unknown profile → PrepError
    cat = {rid: e for rid, e in _catalogue(book).items() if any(p in e["severity"] for p in names)}
    rows = [(rid, _severity_text(e, names), "yes" if e["rule"].fixable else "no", _profiles_text(e, names),
             e["rule"].summary) for rid, e in cat.items()]
    if fmt == "json":
        doc = [{"id": rid, "severity": e["rule"].severity, "severity_by_profile": e["severity"],
                "fixable": e["rule"].fixable, "profiles": [p for p in names if e["severity"].get(p, "off") != "off"],
                "summary": e["rule"].summary} for rid, e in cat.items()]
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        lines = ["| rule | severity | fixable | profiles | what it checks |", "|---|---|---|---|---|"]
        lines += [f"| `{rid}` | {sev} | {fix} | {prof} | {_cell(summary)} |" for rid, sev, fix, prof, summary in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in rows + [("RULE", "SEVERITY", "FIX", "PROFILES", "")]) for i in range(4)]
    head = ("RULE", "SEVERITY", "FIX", "PROFILES", "WHAT IT CHECKS")
    lines = ["  ".join(c.ljust(w) for c, w in zip(head[:4], widths, strict=True)) + "  " + head[4]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]
    return "\n".join(lines) + "\n"


def _options_text(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        out.append(f"    {key} = {json.dumps(value, ensure_ascii=False)}")
    return out


def rule_page(book: RuleBook, rule_id: str, *, profile: str | None = None, fmt: str = "text") -> str:
    """One rule's documentation: what it checks, why the API cares, a failing and a passing example, the fix."""
    cat = _catalogue(book)
    entry = cat.get(rule_id)
    if entry is None:
        import difflib

        close = difflib.get_close_matches(rule_id, list(cat), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PrepError(f"unknown rule '{rule_id}'{hint} (see `seedance-prep rules`)")
    name = profile or (DEFAULT_PROFILE if DEFAULT_PROFILE in entry["severity"] else next(iter(entry["severity"])))
    rule = book.get(name).rule(rule_id)
    if rule is None:
        raise PrepError(f"rule '{rule_id}' is not part of profile '{name}'")
    names = book.names
    if fmt == "json":
        doc = {"id": rule.id, "name": rule.name, "summary": rule.summary, "severity": rule.severity,
               "severity_by_profile": entry["severity"], "fixable": rule.fixable, "check": rule.check,
               "options": rule.options, "message": rule.message, "why": rule.why, "fix": rule.fix,
               "example_fail": rule.example_fail, "example_pass": rule.example_pass, "profile": name}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    lines = [f"{rule.id} — {rule.summary}", "",
             f"Severity: {_severity_text(entry, names)}    Fixable: {'yes' if rule.fixable else 'no'}    "
             f"Check: {rule.check}",
             f"Profiles: {_profiles_text(entry, names)}", "",
             "What it checks", f"  {rule.summary[0].upper()}{rule.summary[1:]}."]
    if rule.options:
        lines += [f"  With these options of the '{rule.check}' check (profile {name}):", *_options_text(rule.options)]
        for other in names:
            o = book.get(other).rule(rule_id)
            if o is not None and other != name and o.options != rule.options:
                diff = {k: v for k, v in o.options.items() if rule.options.get(k) != v}
                lines.append(f"    {other}: " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in diff.items()))
    if rule.why:
        lines += ["", "Why the API cares", f"  {rule.why}"]
    if rule.example_fail:
        lines += ["", "Fails", f"  {rule.example_fail}"]
    if rule.example_pass:
        lines += ["", "Passes", f"  {rule.example_pass}"]
    lines += ["", "Fix", f"  {rule.fix or 'not fixed automatically: change the request as the message says.'}"]
    return "\n".join(lines) + "\n"
