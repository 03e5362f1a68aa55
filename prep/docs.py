"""Documentation generated from the rule files: the rule list and each rule's page."""

from __future__ import annotations

import json

from .model import PrepError
from .ruleset import DEFAULT_PROFILE, RuleBook


def _catalogue(book: RuleBook) -> dict[str, dict]:
    """rule id → {"rule": the rule where first found, "severity": {profile: severity in its default family},
    "families": {family: {profile: rule}}}, over every profile and every family it sells."""
    out: dict[str, dict] = {}
    for name in book.names:
        default = book.profile_data(name).get("family")
        for family in book.families_of(name):
            for rule in book.get(name, family).rules:
                entry = out.setdefault(rule.id, {"rule": rule, "severity": {}, "families": {}})
                if family == default or name not in entry["severity"]:
                    entry["severity"][name] = rule.severity
                entry["families"].setdefault(family, {})[name] = rule
    return out


def _severity_text(book: RuleBook, entry: dict, profile: str | None = None) -> str:
    """The rule's severity and, in parentheses, the profiles where it differs; for one ``profile``, its
    own severity and the families of that profile where it differs (where it is off, the families
    column says)."""
    if profile is None:
        main = entry["rule"].severity
        other = [f"{p}: {s}" for p, s in entry["severity"].items() if s != main]
    else:
        main = entry["severity"][profile]
        rules = ((f, entry["families"].get(f, {}).get(profile)) for f in book.families_of(profile))
        other = [f"{f}: {r.severity}" for f, r in rules if r is not None and r.severity not in (main, "off")]
    return main + (f" ({', '.join(other)})" if other else "")


def _profiles_text(book: RuleBook, entry: dict, names: list[str]) -> str:
    active = [p for p in names if entry["severity"].get(p, "off") != "off"
              or any(r.severity != "off" for fam in entry["families"].values() for q, r in fam.items() if q == p)]
    return "all" if active == book.names else ", ".join(active) or "none"


def _families_in_view(book: RuleBook, profile: str | None) -> list[str]:
    """Every model family, or those ``profile`` sells (its default family first)."""
    return book.families_of(profile) if profile else list(book.families)


def _active_families(book: RuleBook, entry: dict, profile: str | None = None) -> list[str]:
    return [f for f in _families_in_view(book, profile)
            if any(r.severity != "off" for p, r in entry["families"].get(f, {}).items() if profile in (None, p))]


def _families_text(book: RuleBook, entry: dict, profile: str | None = None) -> str:
    """Where a rule is active, by model family (of ``profile``, when given): ``all``, ``seedance-2.5``
    (with the families extending it), or ``all but seedance-2.5``."""
    every = _families_in_view(book, profile)
    active = set(_active_families(book, entry, profile))

    def top(group: set) -> list[str]:
        return [f for f in every if f in group and book.families[f]["extends"] not in group]

    if active == set(every):
        return "all"
    if every[0] in active:  # the common set's family (or the profile's own): the others extend it
        return "all but " + ", ".join(top(set(every) - active))
    return ", ".join(top(active)) or "none"


def _named(ids: list[str], text: str) -> list[str]:
    """The ids ``text`` names as ``check --select`` reads it: ids or prefixes (``param``, ``param.``),
    comma-separated, or ``ALL``. An entry that names no rule is a PrepError."""
    out: list[str] = []
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        prefix = entry.rstrip(".")
        hit = ids if entry.upper() == "ALL" else [i for i in ids if i == prefix or i.startswith(prefix + ".")]
        if not hit:
            import difflib

            close = difflib.get_close_matches(entry, ids, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise PrepError(f"unknown rule '{entry}'{hint} (give a rule id, a prefix such as 'param', or ALL; "
                            "see `seedance-prep rules`)")
        out += [i for i in hit if i not in out]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rule_list(book: RuleBook, *, fmt: str = "text", profile: str | None = None, only: list[str] | None = None) -> str:
    """Every rule (or the ``only`` ids): id, severity, fixable, profiles, families and the one-line summary;
    with ``profile``, the rules of that profile as it has them."""
    names = [profile] if profile else book.names
    if profile:
        book.get(profile)  # unknown profile → PrepError
    cat = {rid: e for rid, e in _catalogue(book).items()
           if any(p in e["severity"] for p in names) and (only is None or rid in only)}
    rows = [(rid, _severity_text(book, e, profile), "yes" if e["rule"].fixable else "no",
             _profiles_text(book, e, names), _families_text(book, e, profile), e["rule"].summary)
            for rid, e in cat.items()]
    if fmt == "json":
        doc = [{"id": rid, "severity": e["severity"][profile] if profile else e["rule"].severity,
                "severity_by_profile": {p: s for p, s in e["severity"].items() if p in names},
                "fixable": e["rule"].fixable, "profiles": [p for p in names if e["severity"].get(p, "off") != "off"],
                "families": _active_families(book, e, profile), "summary": e["rule"].summary} for rid, e in cat.items()]
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        lines = ["| rule | severity | fixable | profiles | families | what it checks |", "|---|---|---|---|---|---|"]
        lines += [f"| `{rid}` | {sev} | {fix} | {prof} | {fam} | {_cell(summary)} |"
                  for rid, sev, fix, prof, fam, summary in rows]
        return "\n".join(lines) + "\n"
    head = ("RULE", "SEVERITY", "FIX", "PROFILES", "FAMILIES", "WHAT IT CHECKS")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head[:5], widths, strict=True)) + "  " + head[5]]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]
    return "\n".join(lines) + "\n"


def _options_text(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        out.append(f"    {key} = {json.dumps(value, ensure_ascii=False)}")
    return out


def rule_page(book: RuleBook, rule_id: str, *, profile: str | None = None, fmt: str = "text") -> str:
    """One rule's documentation: what it checks, why the API cares, a failing and a passing example, the
    fix. ``rule_id`` may also be a prefix (``param``), several, or ``ALL``, as ``check --select`` takes
    them: then the list of the rules it names."""
    cat = _catalogue(book)
    entry = cat.get(rule_id)
    if entry is None:
        named = _named(list(cat), rule_id)
        if profile is not None and not any(profile in cat[i]["severity"] for i in named):
            book.get(profile)  # unknown profile → PrepError
            raise PrepError(f"no rule of profile '{profile}' matches '{rule_id}'")
        return rule_list(book, fmt=fmt, profile=profile, only=named)
    # The page shows the rule as one profile and family see it (the profile's default family when it
    # has the rule), then what differs in other profiles and other families.
    by_family = entry["families"]
    candidates = [(p, f) for f in by_family for p in by_family[f]]
    if profile is not None:
        book.get(profile)  # unknown profile → PrepError
        candidates = [(p, f) for p, f in candidates if p == profile]
        if not candidates:
            raise PrepError(f"rule '{rule_id}' is not part of profile '{profile}'")
    preferred = profile or DEFAULT_PROFILE
    name, family = min(candidates, key=lambda pf: (pf[0] != preferred, pf[1] != book.profile_data(pf[0]).get("family"),
                                                     list(book.families).index(pf[1])))
    rule = by_family[family][name]
    names = [profile] if profile else book.names
    per_family = {f: by_family[f][name].options for f in by_family if name in by_family[f]}
    if fmt == "json":
        doc = {"id": rule.id, "name": rule.name, "summary": rule.summary, "severity": rule.severity,
               "severity_by_profile": {p: s for p, s in entry["severity"].items() if p in names}, "fixable": rule.fixable, "check": rule.check,
               "options": rule.options, "message": rule.message, "why": rule.why, "fix": rule.fix,
               "example_fail": rule.example_fail, "example_pass": rule.example_pass, "profile": name,
               "family": family, "families": _active_families(book, entry, profile),
               "options_by_family": {f: o for f, o in per_family.items() if o != rule.options},
               "when": rule.when, "unless": rule.unless}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    lines = [f"{rule.id} — {rule.summary}", "",
             (f"Severity: {_severity_text(book, entry, profile)}    Fixable: {'yes' if rule.fixable else 'no'}    "
              f"Check: {rule.check}"),
             f"Profiles: {_profiles_text(book, entry, names)}",
             f"Model families: {_families_text(book, entry, profile)}", "",
             "What it checks", f"  {rule.summary[0].upper()}{rule.summary[1:]}."]
    for key, label in (("when", "Applies only when"), ("unless", "Does not apply when")):
        cond = getattr(rule, key)
        if cond:
            lines.append(f"  {label}: " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in cond.items()))
    if rule.options:
        lines += [f"  With these options of the '{rule.check}' check (profile {name}, family {family}):",
                  *_options_text(rule.options)]
        for other in names:
            o = book.get(other, family).rule(rule_id) if family in book.families_of(other) else None
            if o is not None and other != name and o.options != rule.options:
                diff = {k: v for k, v in (o.options or {}).items() if (rule.options or {}).get(k) != v}
                lines.append(f"    {other}: " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in diff.items()))
        for other_family, options in per_family.items():
            if options != rule.options:
                diff = {k: v for k, v in options.items() if rule.options.get(k) != v}
                lines.append(f"    {other_family}: " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                                                             for k, v in diff.items()))
    if rule.why:
        lines += ["", "Why the API cares", f"  {rule.why}"]
    if rule.example_fail:
        lines += ["", "Fails", f"  {rule.example_fail}"]
    if rule.example_pass:
        lines += ["", "Passes", f"  {rule.example_pass}"]
    lines += ["", "Fix", f"  {rule.fix or 'not fixed automatically: change the request as the message says.'}"]
    return "\n".join(lines) + "\n"
