"""Load the declarative rule sets in ``rules/*.toml``: resolve ``extends``, validate, select.

A rule file has three tables: ``[ruleset]`` (``id``, ``extends``, ``title``), ``[profile]`` (API data:
dialect, models, pixel table, defaults...) and ``[rules."<id>"]``. A profile that extends another
replaces ``[profile]`` keys whole and merges rules field by field (``options`` option by option).
A file given with ``--rules`` and no ``[ruleset].id`` is an overlay applied on top of every profile;
one with an ``id`` adds a profile. Everything is validated at load time: a broken rule file is one
``PrepError`` naming the file, the rule and the field, never a crash in the middle of a lint.
"""

from __future__ import annotations

import os
import re

from .checks import CHECKS
from .model import SEVERITY_RANK, PrepError, Rule, record

BASE = "seedance-2.0"
DEFAULT_PROFILE = "ark"
DIALECTS = ("content", "video-generations", "openai-videos")
CACHE_VERSION = 3

_RULE_ID = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+\Z")
_PROFILE_ID = re.compile(r"[a-z0-9][a-z0-9.-]*\Z")
_RULE_KEYS = {"severity", "check", "options", "message", "summary", "name", "fixable", "fix", "why",
              "example_fail", "example_pass"}
_REQUIRED = ("severity", "check", "message", "summary")
_PROFILE_KEYS = {"dialect": "str", "api_base": "str", "key_env": "str", "headers": "table[str]",
                 "defaults": "table[any]", "pixels": "table[any]", "cost": "table[int]", "models": "table[any]",
                 "download_ttl_hours": "int"}


@record
class Profile:
    """A resolved rule set for one API: its data and its rules, in catalogue order."""

    name: str
    title: str
    data: dict
    rules: tuple[Rule, ...]
    plan: tuple = ()  # request rules as (rule, check fn, prepared options, gate), compiled once per profile
    media_plan: tuple = ()  # the same for media rules (run only when media was inspected)

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


# ---------------------------------------------------------------------------------------------------
# Reading TOML (cached: tomllib is the slowest part of start-up)


def _read_toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PrepError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise PrepError(f"{path}: cannot read rule file: {exc.strerror or exc}") from None


def _stamp(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_size, st.st_mtime_ns)


def _cached_builtin() -> tuple[dict, dict]:
    """The built-in rule files as parsed TOML and as resolved profiles (plain data), from the cache
    when the rule files are unchanged."""
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
    raw = {f: _read_toml(f) for f in files}
    resolved = _resolve(raw, {})
    try:
        write_atomic(cache, marshal.dumps((key, (raw, resolved))))
    except OSError:
        pass  # an unwritable cache only costs speed
    return raw, resolved


# ---------------------------------------------------------------------------------------------------
# Validation


def _type_ok(value, spec: str) -> bool:
    if spec == "any":
        return True
    if spec == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec == "str":
        return isinstance(value, str)
    if spec == "bool":
        return isinstance(value, bool)
    if spec == "regex":
        if not isinstance(value, str):
            return False
        try:
            re.compile(value)
        except re.error:
            return False
        return True
    if spec.startswith("list"):
        inner = spec[5:-1] if "[" in spec else "any"
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if spec.startswith("table"):
        inner = spec[6:-1] if "[" in spec else "any"

        return isinstance(value, dict) and all(_type_ok(v, inner) for v in value.values())
    raise AssertionError(f"unknown option spec {spec}")


def _template_fields(template: str) -> set[str]:
    import string

    names = set()
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None:
            names.add(re.split(r"[.\[]", field_name, maxsplit=1)[0])
    return names


def _validate_rule(src: str, rule_id: str, rule: dict) -> None:
    where = f"{src}: rule '{rule_id}'"
    missing = [k for k in _REQUIRED if k not in rule]
    if missing:
        raise PrepError(f"{where}: missing {', '.join(missing)}")
    if rule["severity"] not in SEVERITY_RANK:
        raise PrepError(f"{where}: severity must be error, warning or off, not {rule['severity']!r}")
    kind = CHECKS.get(rule["check"])
    if kind is None:
        raise PrepError(f"{where}: unknown check {rule['check']!r}; known: {', '.join(sorted(CHECKS))}")
    options = rule.get("options", {})
    if not isinstance(options, dict):
        raise PrepError(f"{where}: options must be a table")
    for name, value in options.items():
        if name not in kind.options:
            known = ", ".join(kind.options) or "none"
            raise PrepError(f"{where}: check '{kind.name}' has no option '{name}' (options: {known})")
        spec = kind.options[name][0]
        if not _type_ok(value, spec):
            raise PrepError(f"{where}: option '{name}' must be {spec}, not {value!r}")
    for name, (_, required) in kind.options.items():
        if required and name not in options:
            raise PrepError(f"{where}: check '{kind.name}' needs option '{name}'")
    for text_key in ("message", "summary", "fix", "why", "example_fail", "example_pass", "name"):
        if text_key in rule and not isinstance(rule[text_key], str):
            raise PrepError(f"{where}: {text_key} must be a string")
    if "fixable" in rule and not isinstance(rule["fixable"], bool):
        raise PrepError(f"{where}: fixable must be true or false")
    try:
        unknown = _template_fields(rule["message"]) - kind.fields
    except ValueError as exc:
        raise PrepError(f"{where}: bad message template: {exc}") from None
    if unknown:
        raise PrepError(f"{where}: message names unknown placeholder(s) {', '.join(sorted(unknown))}; "
                        f"check '{kind.name}' fills {', '.join(sorted(kind.fields))}")
    if kind.prepare is not None:
        try:
            kind.prepare(options)
        except (ValueError, KeyError, TypeError, re.error) as exc:
            raise PrepError(f"{where}: {exc}") from None


def _validate_file_shape(src: str, data: dict) -> None:
    extra = set(data) - {"ruleset", "profile", "rules"}
    if extra:
        raise PrepError(f"{src}: unknown table(s) {', '.join(sorted(extra))}; a rule file has [ruleset], [profile], [rules]")
    meta = data.get("ruleset", {})
    if not isinstance(meta, dict) or set(meta) - {"id", "extends", "title"}:
        raise PrepError(f"{src}: [ruleset] takes id, extends and title")
    for key in ("id", "extends", "title"):
        if key in meta and not isinstance(meta[key], str):
            raise PrepError(f"{src}: [ruleset] {key} must be a string")
    if "id" in meta and not _PROFILE_ID.match(meta["id"]):
        raise PrepError(f"{src}: [ruleset] id {meta['id']!r} must be lower-case letters, digits, '.' and '-'")
    profile = data.get("profile", {})
    if not isinstance(profile, dict):
        raise PrepError(f"{src}: [profile] must be a table")
    for key, value in profile.items():
        spec = _PROFILE_KEYS.get(key)
        if spec is None:
            raise PrepError(f"{src}: [profile] has unknown key '{key}' (known: {', '.join(_PROFILE_KEYS)})")
        if not _type_ok(value, spec):
            raise PrepError(f"{src}: [profile] {key} must be {spec}")
    if "dialect" in profile and profile["dialect"] not in DIALECTS:
        raise PrepError(f"{src}: [profile] dialect must be one of {', '.join(DIALECTS)}")
    for model, info in profile.get("models", {}).items():
        if not isinstance(info, dict) or not isinstance(info.get("tier"), str) or not (
                _type_ok(info.get("resolutions"), "list[str]") or isinstance(info.get("resolution"), str)):
            raise PrepError(f"{src}: [profile] model '{model}' needs tier and resolutions (or resolution)")
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        raise PrepError(f"{src}: [rules] must be a table of rules")
    for rule_id, rule in rules.items():
        if not _RULE_ID.match(rule_id):
            raise PrepError(f"{src}: rule id {rule_id!r} must look like 'group.name' (lower case)")
        if not isinstance(rule, dict):
            raise PrepError(f"{src}: rule '{rule_id}' must be a table")
        extra = set(rule) - _RULE_KEYS
        if extra:
            raise PrepError(f"{src}: rule '{rule_id}' has unknown field(s) {', '.join(sorted(extra))}; "
                            f"known: {', '.join(sorted(_RULE_KEYS))}")


# ---------------------------------------------------------------------------------------------------
# Resolution of `extends` and overlays


def _merge_rules(base: dict, over: dict) -> dict:
    out = {rid: dict(r) for rid, r in base.items()}
    for rid, rule in over.items():
        merged = dict(out.get(rid, {}))
        for key, value in rule.items():
            if key == "options":
                merged["options"] = {**merged.get("options", {}), **value}
            else:
                merged[key] = value
        out[rid] = merged
    return out


def _resolve(raw: dict[str, dict], extra_profiles: dict[str, dict]) -> dict:
    """Resolve every profile's ``extends`` chain into ``{name: {"title", "profile", "rules", "src"}}``."""
    by_id: dict[str, tuple[str, dict]] = {}
    for src, data in {**raw, **extra_profiles}.items():
        _validate_file_shape(src, data)
        pid = data.get("ruleset", {}).get("id")
        if pid is None:
            raise PrepError(f"{src}: [ruleset] id is missing")
        if pid in by_id and src in raw:
            raise PrepError(f"{src}: profile '{pid}' is also defined in {by_id[pid][0]}")
        by_id[pid] = (src, data)  # a --rules file with a built-in id replaces that rule set
    resolved: dict[str, dict] = {}

    def resolve(pid: str, chain: tuple) -> dict:
        if pid in resolved:
            return resolved[pid]
        if pid in chain:
            raise PrepError(f"rule sets extend each other in a cycle: {' → '.join(chain + (pid,))}")
        if pid not in by_id:
            raise PrepError(f"{by_id[chain[-1]][0] if chain else 'rules'}: extends unknown rule set '{pid}'")
        src, data = by_id[pid]
        meta = data.get("ruleset", {})
        parent = meta.get("extends")
        base = resolve(parent, chain + (pid,)) if parent else {"profile": {}, "rules": {}}
        out = {
            "title": meta.get("title", pid),
            "profile": {**base["profile"], **data.get("profile", {})},
            "rules": _merge_rules(base["rules"], data.get("rules", {})),
            "src": src,
        }
        for rid, rule in out["rules"].items():
            _validate_rule(src, rid, rule)
        resolved[pid] = out
        return out

    for pid in by_id:
        resolve(pid, ())
    return resolved


def _to_profile(name: str, data: dict) -> Profile:
    rules = []
    for rid, r in data["rules"].items():
        kind = CHECKS[r["check"]]
        rules.append(Rule(
            id=rid, name=r.get("name", rid.replace(".", "-")), severity=r["severity"], check=r["check"],
            message=r["message"], summary=r["summary"], options=r.get("options", {}), scope=kind.scope,
            fixable=r.get("fixable", False), fix=r.get("fix", ""), why=r.get("why", ""),
            example_fail=r.get("example_fail", ""), example_pass=r.get("example_pass", "")))
    return _profile(name, data["title"], data["profile"], tuple(rules))


def _profile(name: str, title: str, data: dict, rules: tuple[Rule, ...]) -> Profile:
    plan, media_plan = [], []
    for rule in rules:
        kind = CHECKS[rule.check]
        options = kind.prepare(rule.options) if kind.prepare else rule.options
        step = (rule, kind.fn, options, kind.gate(rule.options) if kind.gate else None)
        (media_plan if kind.scope == "media" else plan).append(step)
    return Profile(name, title, data, rules, tuple(plan), tuple(media_plan))


# ---------------------------------------------------------------------------------------------------
# Public API


class RuleBook:
    """Every profile known to this run: the built-in ones plus those added by ``--rules`` files.

    A ``--rules`` file with a ``[ruleset] id`` adds that profile, or replaces the built-in rule set of
    the same id (and every profile extending it follows); one without an id is an overlay on every profile.
    """

    def __init__(self, extra_files: list[str | os.PathLike] = ()):
        builtin_raw, resolved = _cached_builtin()
        if extra_files:
            overlays, new_profiles = [], {}
            for f in extra_files:
                path = os.fspath(f)
                data = _read_toml(path)
                _validate_file_shape(path, data)
                if "id" in data.get("ruleset", {}):
                    if data["ruleset"]["id"] != BASE:
                        data["ruleset"].setdefault("extends", BASE)
                    new_profiles[path] = data
                else:
                    overlays.append((path, data))
            if new_profiles:
                replaced = {d["ruleset"]["id"] for d in new_profiles.values()}
                raw = {src: d for src, d in builtin_raw.items() if d.get("ruleset", {}).get("id") not in replaced}
                resolved = _resolve(raw, new_profiles)
            for src, data in overlays:
                resolved = {name: self._overlay(src, prof, data) for name, prof in resolved.items()}
        self._data = resolved
        self._profiles: dict[str, Profile] = {}

    @staticmethod
    def _overlay(src: str, prof: dict, data: dict) -> dict:
        out = {**prof, "profile": {**prof["profile"], **data.get("profile", {})},
               "rules": _merge_rules(prof["rules"], data.get("rules", {}))}
        for rid, rule in out["rules"].items():
            if rid in data.get("rules", {}):
                _validate_rule(src, rid, rule)
        return out

    @property
    def names(self) -> list[str]:
        """Profile names, the base rule set excluded."""
        return [n for n in self._data if n != BASE]

    def profile_data(self, name: str) -> dict:
        return self._data[name]["profile"]

    def get(self, name: str) -> Profile:
        """The resolved profile ``name``; PrepError listing the known ones when there is none."""
        if name not in self._data or name == BASE:
            raise PrepError(f"unknown profile '{name}'; known profiles: {', '.join(self.names)}")
        if name not in self._profiles:
            self._profiles[name] = _to_profile(name, self._data[name])
        return self._profiles[name]


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
    return _profile(profile.name, profile.title, profile.data, tuple(rules))
