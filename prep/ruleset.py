"""Resolve the declarative rule sets in ``rules/*.toml`` into profiles, one per API and model family.

A request is judged by the capability rules of its model's **family** seen through its API
**profile**. The rules of one (profile, family) pair are layered, each layer merging rule by rule and
``options`` option by option:

    common set (seedance-2.0) → family chain (e.g. seedance-2.5 → seedance-2.5-draft)
        → profile chain (its own [rules], then its [families."<family>".rules]) → overlays

A profile's ``models`` table maps each model id to its family (and may narrow its resolutions);
``aliases`` map reseller names to a family. A family's ``variants`` switch to another family when a
parameter has a value (``draft = true`` → ``seedance-2.5-draft``). Adding a family is a data-only
change: one family file plus its ids in the profiles. File kinds and validation: ``rulefile.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .checks import CHECKS, compile_condition
from .model import SEVERITY_RANK, PrepError, Record, Rule, record
from .rulefile import kind_of, read_toml, validate_file_shape, validate_rule

BASE = "seedance-2.0"  # the common rule set, which is also the root model family
DEFAULT_PROFILE = "ark"
CACHE_VERSION = 5
_MAX_VARIANT_HOPS = 4


@record
class Profile(Record):
    """A resolved rule set for one API and one model family: its data and its rules, in catalogue order."""

    name: str
    title: str
    data: dict
    rules: tuple[Rule, ...]
    plan: tuple = ()  # request rules as (rule, check fn, prepared options, gate, applies), compiled once
    media_plan: tuple = ()  # the same for media rules (run only when media was inspected)
    family: str = BASE

    @property
    def dialect(self) -> str:
        return self.data.get("dialect", "content")

    def rule(self, rule_id: str) -> Rule | None:
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None


def rules_dir() -> str:
    """The built-in rule files: ``prep/rules`` in an installed wheel, ``rules/`` in a source checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(here, "rules")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(here), "rules")


def _stamp(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_size, st.st_mtime_ns)


def _cached_builtin() -> tuple[dict, dict]:
    """The built-in rule files as parsed TOML and as resolved plain data, from the cache when the
    rule files are unchanged (tomllib is the slowest part of start-up)."""
    import marshal

    from . import __version__
    from .paths import cache_dir, write_atomic

    folder = rules_dir()
    try:
        files = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".toml"))
    except OSError:
        files = []
    if not files:
        raise PrepError(f"no rule files found in {folder}")
    key = (CACHE_VERSION, __version__, tuple(_stamp(f) for f in files))
    cache = os.path.join(cache_dir(), "rules.marshal")
    try:
        with open(cache, "rb") as fh:
            cached = marshal.loads(fh.read())
        if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == key:
            raw, resolved = cached[1]
            return raw, resolved
    except (OSError, EOFError, ValueError, TypeError):
        pass  # missing or corrupt cache: rebuild it
    raw = {f: read_toml(f) for f in files}
    resolved = _resolve(raw)
    try:
        write_atomic(cache, marshal.dumps((key, (raw, resolved))))
    except OSError:
        pass  # an unwritable cache only costs speed
    return raw, resolved


# ---------------------------------------------------------------------------------------------------
# Resolution


def merge_rules(base: dict, over: dict, src: str | None = None) -> dict:
    """``base`` with the rules of ``over`` merged in, field by field (``options`` option by option);
    with ``src``, every rule ``over`` touches is validated as merged, naming ``src`` on error."""
    out = dict(base)
    for rid, rule in over.items():
        merged = dict(out.get(rid, {}))
        for key, value in rule.items():
            merged[key] = {**merged.get("options", {}), **value} if key == "options" else value
        out[rid] = merged
        if src is not None:
            validate_rule(src, rid, merged)
    return out


def _resolve(files: dict[str, dict]) -> dict:
    """Rule sets and family files → ``{"base", "profiles", "families"}`` as plain (marshal-able) data.

    ``base`` is the common set's resolved rules; each profile keeps its data and its ``layers``
    (``[src, rules, families-rules]`` from the root-most file down); each family its metadata and
    its ``layers`` (``[src, rules]``, the root family has none).
    """
    rulesets: dict[str, tuple[str, dict]] = {}
    family_files: dict[str, tuple[str, dict]] = {}
    for src, data in files.items():
        validate_file_shape(src, data)
        kind = kind_of(data)
        if kind == "overlay":
            raise PrepError(f"{src}: [ruleset] id is missing")
        table, fid_key = (rulesets, "ruleset") if kind == "ruleset" else (family_files, "family")
        pid = data[fid_key]["id"]
        if pid in table:
            raise PrepError(f"{src}: '{pid}' is also defined in {table[pid][0]}")
        table[pid] = (src, data)
    if BASE not in rulesets:
        raise PrepError(f"no rule file defines the common rule set '{BASE}'")
    base_src, base_data = rulesets[BASE]
    if base_data.get("ruleset", {}).get("extends"):
        raise PrepError(f"{base_src}: the common rule set '{BASE}' extends nothing")
    base_rules = {rid: dict(rule) for rid, rule in base_data.get("rules", {}).items()}
    for rid, rule in base_rules.items():
        validate_rule(base_src, rid, rule)

    def family(fid: str, src: str, data: dict, parent) -> dict:
        meta = data["family"]
        up = parent(meta.get("extends", BASE))
        return {**_family_meta(fid, meta, up), "src": src, "layers": up["layers"] + [[src, data.get("rules", {})]]}

    families = _extends_chains(("model families", "model family"), family_files, family,
                               {BASE: {**_family_meta(BASE, base_data.get("family", {})), "src": base_src,
                                       "layers": []}})
    for fid, fam in families.items():
        for variant in fam["variants"]:
            if variant["family"] not in families:
                raise PrepError(f"{fam['src']}: variant of '{fid}' names unknown family '{variant['family']}'")
        rules = base_rules
        for src, layer in fam["layers"]:
            rules = merge_rules(rules, layer, src)

    def profile(pid: str, src: str, data: dict, parent) -> dict:
        meta = data.get("ruleset", {})
        up = parent(meta.get("extends", BASE))
        own = data.get("families", {})
        return {"title": meta.get("title", pid), "src": src, "profile": {**up["profile"], **data.get("profile", {})},
                "layers": up["layers"] + [[src, data.get("rules", {}), {f: t.get("rules", {}) for f, t in own.items()}]]}

    profiles = _extends_chains(("rule sets", "rule set"), {k: v for k, v in rulesets.items() if k != BASE}, profile,
                               {BASE: {"profile": dict(base_data.get("profile", {})), "layers": []}})
    del profiles[BASE]
    resolved = {"base": base_rules, "profiles": profiles, "families": families}
    _finish_models(resolved, None)
    _check_all(resolved)
    return resolved


def _extends_chains(what: tuple[str, str], files: dict[str, tuple[str, dict]], build, done: dict) -> dict:
    """Resolve every entry of ``files`` (id → (src, data)) along its ``extends`` chain, root first
    (``what``: the plural and singular name of the entries, for messages):
    ``build(id, src, data, parent)`` makes an entry, calling ``parent(id)`` for the one it extends.
    ``done`` holds the roots; a cycle or an unknown parent is a PrepError naming the file."""

    def resolve(key: str, chain: tuple) -> dict:
        if key in done:
            return done[key]
        if key in chain:
            raise PrepError(f"{what[0]} extend each other in a cycle: {' → '.join(chain + (key,))}")
        if key not in files:
            where = files[chain[-1]][0] if chain else "rules"
            raise PrepError(f"{where}: extends unknown {what[1]} '{key}'")
        src, data = files[key]
        done[key] = build(key, src, data, lambda parent: resolve(parent, chain + (key,)))
        return done[key]

    for key in files:
        resolve(key, ())
    return done


def _merged(resolved: dict, name: str, family: str, validate: bool = False) -> dict:
    """The rules of profile ``name`` for model family ``family``: every layer merged in order."""
    rules = resolved["base"]
    for src, layer in resolved["families"][family]["layers"]:
        rules = merge_rules(rules, layer, src if validate else None)
    for src, layer, per_family in resolved["profiles"][name]["layers"]:
        rules = merge_rules(rules, layer, src if validate else None)
        if family in per_family:
            rules = merge_rules(rules, per_family[family], src if validate else None)
    return rules


def _check_all(resolved: dict) -> None:
    """Validate every (profile, family) pair as merged, naming the file of a broken layer."""
    for name, prof in resolved["profiles"].items():
        for _src, _rules, per_family in prof["layers"]:
            unknown = set(per_family) - set(resolved["families"])
            if unknown:
                raise PrepError(f"{_src}: [families] names unknown model family '{sorted(unknown)[0]}' "
                                f"(known: {', '.join(resolved['families'])})")
        for fid in resolved["families"]:
            _merged(resolved, name, fid, validate=True)


def _family_meta(fid: str, meta: dict, parent: dict | None = None) -> dict:
    return {"title": meta.get("title", fid), "extends": None if fid == BASE else meta.get("extends", BASE),
            "resolutions": meta.get("resolutions", (parent or {}).get("resolutions")),
            "defaults": {**(parent or {}).get("defaults", {}), **meta.get("defaults", {})},
            "variants": meta.get("variants", []), "why": meta.get("why", "")}


def _overlay(resolved: dict, src: str, data: dict) -> None:
    """Apply an overlay file to every profile, in place: ``models`` and ``aliases`` add to the
    profile's, other ``[profile]`` keys replace; its rules become the last layer."""
    for prof in resolved["profiles"].values():
        over = data.get("profile", {})
        merged = {**prof["profile"], **over}
        for key in ("models", "aliases"):
            if key in over:
                merged[key] = {**prof["profile"].get(key, {}), **over[key]}
        prof["profile"] = merged
        prof["layers"] = prof["layers"] + [[src, data.get("rules", {}),
                                            {f: t.get("rules", {}) for f, t in data.get("families", {}).items()}]]


def _finish_models(resolved: dict, aliases: dict | None) -> None:
    """Give every model and alias of every profile its family and resolutions (checked to exist)."""
    families = resolved["families"]
    for name, prof in resolved["profiles"].items():
        data = prof["profile"]
        src = prof["src"]
        default = data.setdefault("family", BASE)
        if default not in families:
            raise PrepError(f"{src}: [profile] family '{default}' is not a known model family "
                            f"(known: {', '.join(families)})")
        all_aliases = {**data.get("aliases", {}), **(aliases or {})}
        models = {}
        for table, entries in (("models", data.get("models", {})), ("aliases", all_aliases)):
            for model, info in entries.items():
                if table == "aliases" and model in models:
                    continue  # a real model id wins over an alias of the same name
                info = {"family": info} if isinstance(info, str) else dict(info)
                fam = families.get(info["family"])
                if fam is None:
                    word = "model" if table == "models" else "alias"
                    raise PrepError(f"{src}: {word} '{model}' of profile {name} names unknown model family "
                                    f"'{info['family']}' (known: {', '.join(families)})")
                if "resolution" not in info:
                    info.setdefault("resolutions", fam["resolutions"] or [])
                if table == "aliases":
                    info["alias"] = True
                models[model] = info
        data["models"] = models
        if aliases:
            data["aliases"] = all_aliases


# ---------------------------------------------------------------------------------------------------
# Public API


class RuleBook:
    """Every profile and model family known to this run: the built-in ones plus ``--rules`` files.

    A ``--rules`` file with a ``[ruleset] id`` adds that profile, or replaces the built-in rule set of
    the same id (and every profile extending it follows); one with a ``[family] id`` adds or replaces
    a model family; one with neither is an overlay on every profile. ``aliases`` (model name →
    family id) come from the user's config.
    """

    def __init__(self, extra_files: Sequence[str | os.PathLike] = (), aliases: dict | None = None):
        builtin_raw, resolved = _cached_builtin()
        if extra_files or aliases:
            import copy

            overlays, replacing = [], {}
            for f in extra_files:
                path = os.fspath(f)
                data = read_toml(path)
                validate_file_shape(path, data)
                kind = kind_of(data)
                if kind == "overlay":
                    overlays.append((path, data))
                else:
                    replacing[(kind, data[kind if kind == "family" else "ruleset"]["id"])] = (path, data)
            if replacing:
                files = {src: d for src, d in builtin_raw.items()
                         if (kind_of(d), d.get("family" if kind_of(d) == "family" else "ruleset", {}).get("id"))
                         not in replacing}
                files.update(dict(replacing.values()))
                resolved = _resolve(files)
            else:
                resolved = copy.deepcopy(resolved)
            for src, data in overlays:
                _overlay(resolved, src, data)
            for alias, fam in (aliases or {}).items():
                if not isinstance(fam, str) or fam not in resolved["families"]:
                    raise PrepError(f"alias '{alias}' names unknown model family {fam!r} "
                                    f"(known: {', '.join(resolved['families'])})")
            _finish_models(resolved, aliases)
            _check_all(resolved)  # every layer a user gave is checked now
        self._data = resolved
        self._profiles: dict[tuple[str, str], Profile] = {}

    @property
    def names(self) -> list[str]:
        """Profile names, the common set excluded."""
        return list(self._data["profiles"])

    @property
    def families(self) -> dict[str, dict]:
        """Model family id → ``{"title", "extends", "resolutions", "variants", "why", "src"}``."""
        return self._data["families"]

    def profile_data(self, name: str) -> dict:
        return self._profile_entry(name)["profile"]

    def _profile_entry(self, name: str) -> dict:
        entry = self._data["profiles"].get(name)
        if entry is None:
            raise PrepError(f"unknown profile '{name}'; known profiles: {', '.join(self.names)}")
        return entry

    def families_of(self, name: str) -> list[str]:
        """The families profile ``name`` sells, their variants included (its default family first)."""
        data = self.profile_data(name)
        found = list(dict.fromkeys([data.get("family", BASE), *(m["family"] for m in data.get("models", {}).values())]))
        for fid in found:  # grows while variants are added
            found.extend(v["family"] for v in self.families[fid]["variants"] if v["family"] not in found)
        return found

    def family_for(self, name: str, model: object, value=lambda param: None) -> str:
        """The family that judges a request to profile ``name`` for ``model``: the model's family
        (the profile's default for an unknown model), then its variants (``value(param)`` gives the
        request's value of a canonical parameter)."""
        data = self.profile_data(name)
        info = data.get("models", {}).get(model) if isinstance(model, str) else None
        fid = info["family"] if info else data.get("family", BASE)
        for _ in range(_MAX_VARIANT_HOPS):
            for variant in self.families[fid]["variants"]:
                got, want = value(variant["param"]), variant["equals"]
                if type(got) is type(want) and got == want:
                    fid = variant["family"]
                    break
            else:
                break
        return fid

    def get(self, name: str, family: str | None = None) -> Profile:
        """The resolved profile ``name`` for model family ``family`` (default: the profile's own);
        PrepError listing the known ones when there is none."""
        entry = self._profile_entry(name)
        family = family or entry["profile"].get("family", BASE)
        key = (name, family)
        prof = self._profiles.get(key)
        if prof is None:
            if family not in self.families:
                raise PrepError(f"unknown model family '{family}'; known: {', '.join(self.families)}")
            fam = self.families[family]
            # The profile's data, plus the family that judges (its resolutions cap a variant's models).
            data = {**entry["profile"], "family_info": {"id": family, "title": fam["title"],
                                                        "resolutions": fam["resolutions"]},
                    "defaults": {**entry["profile"].get("defaults", {}), **fam["defaults"]}}
            prof = self._profiles[key] = _to_profile(name, entry["title"], data,
                                                     _merged(self._data, name, family), family)
        return prof


def _to_profile(name: str, title: str, data: dict, merged: dict, family: str) -> Profile:
    rules = []
    for rid, r in merged.items():
        kind = CHECKS[r["check"]]
        rules.append(Rule(
            id=rid, name=r.get("name", rid.replace(".", "-")), severity=r["severity"], check=r["check"],
            message=r["message"], summary=r["summary"], options=r.get("options", {}), scope=kind.scope,
            fixable=r.get("fixable", False), fix=r.get("fix", ""), why=r.get("why", ""),
            example_fail=r.get("example_fail", ""), example_pass=r.get("example_pass", ""),
            when=r.get("when"), unless=r.get("unless")))
    return _profile(name, title, data, tuple(rules), family)


def _profile(name: str, title: str, data: dict, rules: tuple[Rule, ...], family: str = BASE) -> Profile:
    plan: list[tuple] = []
    media_plan: list[tuple] = []
    for rule in rules:
        kind = CHECKS[rule.check]
        options = kind.prepare(rule.options) if kind.prepare else rule.options
        applies = compile_condition(rule.when, rule.unless) if (rule.when or rule.unless) else None
        step = (rule, kind.fn, options, kind.gate(rule.options) if kind.gate else None, applies)
        (media_plan if kind.scope == "media" else plan).append(step)
    return Profile(name, title, data, rules, tuple(plan), tuple(media_plan), family)


def select(profile: Profile, *, select: list[str] | None = None, ignore: list[str] | None = None,
           severity: dict[str, str] | None = None) -> Profile:
    """The profile with only the selected rules and the user's severity overrides applied.

    ``select``/``ignore`` take rule ids or prefixes (``param``, ``param.``, ``image.dimensions``) and
    ``ALL``; an entry that names no rule is a PrepError, so a typo never silently disables a check.
    """
    ids = [r.id for r in profile.rules]

    def matches(entry: str) -> set[str]:
        entry = entry.strip()
        if entry.upper() == "ALL":
            return set(ids)
        prefix = entry.rstrip(".")
        hit = {i for i in ids if i == prefix or i.startswith(prefix + ".")}
        if not hit:
            import difflib

            close = difflib.get_close_matches(entry, ids, n=1)
            guess = f"; did you mean '{close[0]}'?" if close else ""
            raise PrepError(f"unknown rule or prefix '{entry}'{guess} (see `seedance-prep rules`)")
        return hit

    chosen = set(ids)
    if select:
        chosen = set().union(*(matches(e) for e in select))
    for e in ignore or ():
        chosen -= matches(e)
    overrides = {}
    for entry, level in (severity or {}).items():
        if level not in SEVERITY_RANK:
            raise PrepError(f"severity for '{entry}' must be error, warning or off, not {level!r}")
        for rid in matches(entry):
            overrides[rid] = level
    rules = []
    for r in profile.rules:
        if r.id not in chosen:
            continue
        if r.id in overrides:
            r = r._replace(severity=overrides[r.id])
        if r.severity != "off":
            rules.append(r)
    return _profile(profile.name, profile.title, profile.data, tuple(rules), profile.family)
