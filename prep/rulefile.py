"""Read and validate one rule file (``rules/*.toml`` or a user's ``--rules`` file).

A rule file is one of three kinds, told apart by its tables:

- a **rule set** (``[ruleset] id``): the common set (``seedance-2.0``) or an API profile that
  ``extends`` it, with ``[profile]`` data, ``[rules]`` and per-family ``[families."<id>".rules]``;
- a **model family** (``[family] id``, no ``[ruleset]``): what a model can do, as ``[rules]`` overrides
  of the family it ``extends`` (default: the root family, ``seedance-2.0``);
- an **overlay** (neither id): ``[profile]``, ``[rules]`` and ``[families]`` applied on top of every profile.

Everything is validated here, at load time: a broken file is one ``PrepError`` naming the file, the
rule and the field, never a crash in the middle of a lint.
"""

from __future__ import annotations

import re

from .checks import CHECKS
from .model import SEVERITY_RANK, PrepError

_RULE_ID = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+\Z")
_ID = re.compile(r"[a-z0-9][a-z0-9.-]*\Z")
RULE_KEYS = {"severity", "check", "options", "message", "summary", "name", "fixable", "fix", "why",
             "example_fail", "example_pass", "when", "unless"}
_REQUIRED = ("severity", "check", "message", "summary")
PROFILE_KEYS = {"dialect": "str", "api_base": "str", "key_env": "str", "headers": "table[str]",
                "defaults": "table[any]", "pixels": "table[any]", "cost": "table[int]", "models": "table[any]",
                "aliases": "table[any]", "family": "str", "download_ttl_hours": "int",
                "api": "table[any]", "null_is_absent": "bool"}
FAMILY_KEYS = {"id": "str", "extends": "str", "title": "str", "resolutions": "list[str]", "defaults": "table[any]",
               "variants": "list[table[any]]", "why": "str"}
_CONDITION_KEYS = {"param": "str", "in": "list", "absent": "bool", "mode": "list[str]"}
DIALECTS = ("content", "video-generations", "openai-videos")


def read_toml(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PrepError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise PrepError(f"{path}: cannot read rule file: {exc.strerror or exc}") from None


def kind_of(data: dict) -> str:
    """``ruleset``, ``family`` or ``overlay``."""
    if "id" in data.get("ruleset", {}):
        return "ruleset"
    if "family" in data and "ruleset" not in data:
        return "family"
    return "overlay"


def type_ok(value, spec: str) -> bool:
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
        return isinstance(value, list) and all(type_ok(v, inner) for v in value)
    if spec.startswith("table"):
        inner = spec[6:-1] if "[" in spec else "any"
        return isinstance(value, dict) and all(type_ok(v, inner) for v in value.values())
    raise AssertionError(f"unknown option spec {spec}")


def _template_fields(template: str) -> set[str]:
    import string

    names = set()
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None:
            names.add(re.split(r"[.\[]", field_name, maxsplit=1)[0])
    return names


def _validate_table(src: str, label: str, table, specs: dict, sep: str = " ") -> None:
    """A table of known keys, each of its spec's type (``[profile]``, ``[family]``, a rule's ``when``)."""
    if not isinstance(table, dict):
        raise PrepError(f"{src}: {label} must be a table")
    for key, value in table.items():
        spec = specs.get(key)
        if spec is None:
            raise PrepError(f"{src}: {label} has unknown key '{key}' (known: {', '.join(specs)})")
        if not type_ok(value, spec):
            raise PrepError(f"{src}: {label}{sep}{key} must be {spec}")


def _validate_condition(where: str, key: str, cond) -> None:
    if not isinstance(cond, dict) or not cond:
        raise PrepError(f"{where}: {key} must be a table such as {{ param = \"draft\", in = [true] }} or {{ mode = [...] }}")
    _validate_table(where, key, cond, _CONDITION_KEYS, sep=".")
    if ("param" in cond) != ("in" in cond) or ("absent" in cond and "param" not in cond):
        raise PrepError(f"{where}: {key} names a parameter with both 'param' and 'in'")
    if "param" not in cond and "mode" not in cond:
        raise PrepError(f"{where}: {key} needs 'param' and 'in', or 'mode'")


def validate_rule(src: str, rule_id: str, rule: dict) -> None:
    """A resolved rule (every layer merged): fields, check kind, options, message template, conditions."""
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
        if not type_ok(value, spec):
            raise PrepError(f"{where}: option '{name}' must be {spec}, not {value!r}")
    for name, (_, required) in kind.options.items():
        if required and name not in options:
            raise PrepError(f"{where}: check '{kind.name}' needs option '{name}'")
    for text_key in ("message", "summary", "fix", "why", "example_fail", "example_pass", "name"):
        if text_key in rule and not isinstance(rule[text_key], str):
            raise PrepError(f"{where}: {text_key} must be a string")
    if "fixable" in rule and not isinstance(rule["fixable"], bool):
        raise PrepError(f"{where}: fixable must be true or false")
    for key in ("when", "unless"):
        if key in rule:
            _validate_condition(where, key, rule[key])
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


def _validate_rules_table(src: str, rules, what: str = "[rules]") -> None:
    if not isinstance(rules, dict):
        raise PrepError(f"{src}: {what} must be a table of rules")
    for rule_id, rule in rules.items():
        if not _RULE_ID.match(rule_id):
            raise PrepError(f"{src}: rule id {rule_id!r} must look like 'group.name' (lower case)")
        if not isinstance(rule, dict):
            raise PrepError(f"{src}: rule '{rule_id}' must be a table")
        extra = set(rule) - RULE_KEYS
        if extra:
            raise PrepError(f"{src}: rule '{rule_id}' has unknown field(s) {', '.join(sorted(extra))}; "
                            f"known: {', '.join(sorted(RULE_KEYS))}")


def _validate_models(src: str, table: str, models) -> None:
    for model, info in models.items():
        if isinstance(info, str) and table == "aliases":
            continue  # alias = "family-id"
        if not isinstance(info, dict):
            raise PrepError(f"{src}: [profile] {table} '{model}' must be a table with a family")
        if "tier" in info and "family" not in info:
            raise PrepError(f"{src}: [profile] {table} '{model}': 'tier' is now 'family' "
                            "(for example family = \"seedance-2.0-fast\")")
        if not isinstance(info.get("family"), str):
            raise PrepError(f"{src}: [profile] {table} '{model}' needs family = \"<family id>\"")
        extra = set(info) - {"family", "resolutions", "resolution"}
        if extra:
            raise PrepError(f"{src}: [profile] {table} '{model}' has unknown key(s) {', '.join(sorted(extra))}; "
                            "known: family, resolutions, resolution")
        if "resolutions" in info and not type_ok(info["resolutions"], "list[str]"):
            raise PrepError(f"{src}: [profile] {table} '{model}': resolutions must be a list of strings")
        if "resolution" in info and not isinstance(info["resolution"], str):
            raise PrepError(f"{src}: [profile] {table} '{model}': resolution must be a string")


def _validate_family_meta(src: str, meta) -> None:
    _validate_table(src, "[family]", meta, FAMILY_KEYS)
    if "id" in meta and not _ID.match(meta["id"]):
        raise PrepError(f"{src}: [family] id {meta['id']!r} must be lower-case letters, digits, '.' and '-'")
    for variant in meta.get("variants", []):
        if set(variant) != {"param", "equals", "family"} or not isinstance(variant["param"], str) \
                or not isinstance(variant["family"], str):
            raise PrepError(f"{src}: [family] variants are {{ param = \"draft\", equals = true, family = \"<id>\" }}")


def validate_file_shape(src: str, data: dict) -> None:
    """The tables and keys of one rule file (rules themselves are validated once resolved)."""
    extra = set(data) - {"ruleset", "profile", "rules", "family", "families"}
    if extra:
        raise PrepError(f"{src}: unknown table(s) {', '.join(sorted(extra))}; "
                        "a rule file has [ruleset], [family], [profile], [rules], [families]")
    meta = data.get("ruleset", {})
    if not isinstance(meta, dict) or set(meta) - {"id", "extends", "title"}:
        raise PrepError(f"{src}: [ruleset] takes id, extends and title")
    for key in ("id", "extends", "title"):
        if key in meta and not isinstance(meta[key], str):
            raise PrepError(f"{src}: [ruleset] {key} must be a string")
    if "id" in meta and not _ID.match(meta["id"]):
        raise PrepError(f"{src}: [ruleset] id {meta['id']!r} must be lower-case letters, digits, '.' and '-'")
    if "family" in data:
        _validate_family_meta(src, data["family"])
        if "ruleset" not in data and "id" not in data["family"]:
            raise PrepError(f"{src}: [family] id is missing")
        if "ruleset" not in data and ("profile" in data or "families" in data):
            raise PrepError(f"{src}: a family file has [family] and [rules] only; models go in the profiles")
    profile = data.get("profile", {})
    _validate_table(src, "[profile]", profile, PROFILE_KEYS)
    if "dialect" in profile and profile["dialect"] not in DIALECTS:
        raise PrepError(f"{src}: [profile] dialect must be one of {', '.join(DIALECTS)}")
    _validate_models(src, "models", profile.get("models", {}))
    _validate_models(src, "aliases", profile.get("aliases", {}))
    _validate_rules_table(src, data.get("rules", {}))
    families = data.get("families", {})
    if not isinstance(families, dict):
        raise PrepError(f"{src}: [families] must be a table of family ids")
    for fid, table in families.items():
        if not isinstance(table, dict) or set(table) - {"rules"}:
            raise PrepError(f"{src}: [families.\"{fid}\"] holds only a rules table")
        _validate_rules_table(src, table.get("rules", {}), f"[families.\"{fid}\".rules]")
