"""JSON Schema (draft 2020-12) of a profile's request, generated from the rule options ``check`` reads.

One truth: every constraint comes from a rule whose findings are errors, says what that rule's check
kind says (no more, no less), and fails at the JSON pointer where ``check`` reports the rule:

* ``types`` (``param.type``): the JSON type, and ``maxLength``, of each typed key;
* ``int_range`` (``param.duration``, ``param.seed``, ``param.expires``, ``param.priority``): bounds and
  ``also`` values for integers (other numbers are ``param.type``'s business) and, with ``strings = true``,
  a pattern for the strings of digits that name an allowed integer (``" 05 "`` is 5, as ``check`` reads it);
* ``one_of`` (``param.ratio``, ``param.output-format``, ``param.task-type``) and ``resolution``
  (``param.resolution``: the model's list, and ``size`` on openai-videos): an ``enum`` for strings;
* ``forbidden`` (``param.unsupported``): nothing allowed for a key that must be absent, an ``enum`` for
  one with allowed values; ``url_param`` (``param.callback-url``): a pattern;
* ``count`` (``count.*``): at most N items, on the array holding the first item over the limit (a flat
  dialect spreads images over ``image``, ``images`` and ``metadata.content``: the room left in each array
  depends on the ones before it);
* ``item_shape`` and ``roles`` (``content.item``, ``content.role-invalid``): each content item's type,
  payload and role;
* ``tool_shape`` (``tools.shape``): each tool is an object with a string ``type``;
* ``model`` and ``content_empty`` (``param.model``, ``content.empty``): the model ids, and what is required.

The schema states hard rejections only, what the API refuses. A rule at severity warning is left out,
and so is the stretch of a range between a documented limit and the one the servers enforce
(``enforced_min``, ``enforced_max``): ``check`` warns there and the API accepts the value, so the schema
accepts it too. A rule with a ``when``/``unless`` condition is left out.

A parameter is constrained wherever the profile's dialect lets it be written (``seconds`` and
``metadata.seconds`` are both the duration). A profile that sells several model families gets one
``if``/``then`` branch per family, chosen by the model id (an id the profile does not know is judged by
its default family, as in ``check``) and a variant's parameter (``draft: true``). Constraints use
``if``/``then`` and ``not`` rather than ``anyOf``/``oneOf``, so that a validator reports each violation at
the value itself. Not expressible, so left to ``check``: rules that relate items to each other (modes,
order, placeholders) and ``5.0`` where an integer belongs (JSON Schema's ``integer`` accepts it;
``param.type`` does not). tests/test_schema_agreement.py holds the two to the same verdicts.
"""

from __future__ import annotations

import math

from .dialects import MODULES, flat, openai
from .model import ITEM_KINDS, MEDIA_TYPES
from .ruleset import Profile, RuleBook

_HEADER = ("$schema", "$id", "title")


# ---------------------------------------------------------------------------------------------------
# Small schema builders


def _never(why: str) -> dict:
    """No value is allowed. (Not ``false``: jsonschema reports a ``false`` property at the object, not at the key.)"""
    return {"not": {}, "description": why}


def _merge(fragments: list[dict]) -> dict:
    """One schema that holds when every fragment does: their keywords side by side (``required`` lists
    and ``properties`` of different keys joined), ``allOf`` for the fragments that would clash."""
    out: dict = {}
    clashing = []
    for fragment in fragments:
        if all(k not in out or k == "required" or (k == "properties" and not out[k].keys() & v.keys())
               for k, v in fragment.items()):
            for k, v in fragment.items():
                if k not in out:
                    out[k] = v
                elif k == "required":
                    out[k] = [*out[k], *(name for name in v if name not in out[k])]
                else:
                    out[k] = {**out[k], **v}
        else:
            clashing.append(fragment)
    if clashing:
        out["allOf"] = [*out.get("allOf", []), *clashing]
    return out


def _properties(keys: dict[str, list]) -> dict:
    """``{dotted key: [fragment…]}`` → a ``properties`` object (``metadata.seconds`` nests under ``metadata``)."""
    own: dict[str, list] = {}
    nested: dict[str, dict] = {}
    for key, fragments in keys.items():
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = fragments
        else:
            own.setdefault(head, []).extend(fragments)
    out = {}
    for head in dict.fromkeys([*own, *nested]):
        fragments = own.get(head, [])
        if head in nested:
            fragments = [*fragments, {"properties": _properties(nested[head])}]
        out[head] = _merge(fragments)
    return out


def _at(key: str, schema: dict, *, required: bool = False) -> dict:
    """``schema`` applied to the value at dotted ``key`` of an object; with ``required``, the value must be there."""
    for part in reversed(key.split(".")):
        schema = {"properties": {part: schema}}
        if required:
            schema = {"type": "object", "required": [part], **schema}
    return schema


def _strings(schema: dict) -> dict:
    """``schema`` for strings only: the check kinds that compare strings skip other types (``param.type``
    reports those)."""
    return {"if": {"type": "string"}, "then": schema}


def _member(key: str, schema) -> dict:
    """The object has ``key`` and its value matches ``schema``; a violation is reported at the object
    (``check`` reports a malformed content item at the item, not at its field)."""
    return {"required": [key],
            "not": {"type": "object", "required": [key], "properties": {key: {"not": schema}}}}


def _case_free(text: str) -> str:
    """A regex matching ``text`` in any letter case (``http`` → ``[hH][tT][tT][pP]``; ``.`` → ``[.]``, which
    every regex dialect reads alike)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.lower() != c.upper() else c if c.isdigit() else f"[{c}]"
                   for c in text)


def _digits(lo: str, hi: str) -> str:
    """A regex for the numbers from ``lo`` to ``hi``, written with as many digits as both have."""
    if len(lo) == 1:
        return lo if lo == hi else f"[{lo}-{hi}]"
    if lo[0] == hi[0]:
        return lo[0] + _group(_digits(lo[1:], hi[1:]))
    rest = len(lo) - 1
    first, last = int(lo[0]), int(hi[0])
    parts = []
    if lo[1:] != "0" * rest:  # the numbers from lo to the end of its leading digit's block
        parts.append(lo[0] + _group(_digits(lo[1:], "9" * rest)))
        first += 1
    tail = None
    if hi[1:] != "9" * rest:
        tail = hi[0] + _group(_digits("0" * rest, hi[1:]))
        last -= 1
    if first <= last:
        parts.append(_digits(str(first), str(last)) + ("[0-9]" if rest == 1 else f"[0-9]{{{rest}}}"))
    return "|".join(parts + ([tail] if tail else []))


def _group(regex: str) -> str:
    return f"(?:{regex})" if "|" in regex else regex


def _natural(lo: int, hi: int) -> list[str]:
    """Regexes for the numbers ``lo``…``hi`` (0 ≤ lo ≤ hi) written without leading zeros."""
    out = []
    for width in range(len(str(lo)), len(str(hi)) + 1):
        a, b = max(lo, 10 ** (width - 1) if width > 1 else 0), min(hi, 10 ** width - 1)
        if a <= b:
            out.append(_digits(str(a), str(b)))
    return out


def _integer_pattern(ranges: list[tuple[int, int]]) -> str:
    """A pattern for the strings ``check`` reads as an integer in one of ``ranges``: optional
    whitespace around ``-?[0-9]+`` (leading zeros allowed: ``int(" 05 ")`` is 5)."""
    alternatives = []
    for lo, hi in ranges:
        if hi >= 0:
            alternatives += ["0*" + _group(r) for r in _natural(max(lo, 0), hi)]
        if lo < 0:
            alternatives += ["-0*" + _group(r) for r in _natural(max(-hi, 1), -lo)]
        if lo <= 0 <= hi:
            alternatives.append("-0+")
    return r"^\s*(?:" + ("|".join(alternatives) or "(?!)") + r")\s*$"


# ---------------------------------------------------------------------------------------------------
# Where a dialect writes things


def _written(dialect: str, name: str) -> list[str]:
    """The dotted keys the parser of ``dialect`` reads canonical parameter ``name`` from."""
    if dialect == "content":
        return [name]
    module = MODULES[dialect]
    top = [k for k in dict.fromkeys([name, *module.RENAMED]) if module.RENAMED.get(k, k) == name]
    if dialect == "video-generations":
        return top + ([f"{flat.EXTRA}.{name}"] if name in flat.EXTRA_NAMES else [])
    return top + [f"{openai.META}.{k}" for k in top]


def _singles(dialect: str) -> dict[str, tuple[str, str]]:
    """The fields of a flat dialect that hold one media URL → (item type, role); openai.parse reads ``image``."""
    return flat.SINGLE if dialect == "video-generations" else {"image": ("image_url", "first_frame")}


def _places(dialect: str, item_types: list[str]) -> list[tuple[str, str]]:
    """Where items of ``item_types`` are written, in the order the parser reads them: ``("single", key)``
    a field holding one URL, ``("urls", key)`` an array of URL strings, ``("items", key)`` a content array."""
    if dialect == "content":
        return [("items", "content")]
    module = MODULES[dialect]
    out = [("single", k) for k, (t, _) in _singles(dialect).items() if t in item_types]
    out += [("urls", k) for k, (t, _) in module.ARRAYS.items() if t in item_types]
    if dialect == "openai-videos":
        out.append(("items", f"{openai.META}.content"))
    return out


# ---------------------------------------------------------------------------------------------------
# One check kind each: options → fragments per dotted key (and for the whole request)


def _type(spec) -> dict:
    if isinstance(spec, dict):
        out = {"type": spec["type"]}
        if "max_length" in spec:
            out["maxLength"] = spec["max_length"]
        return out
    return {"type": spec if isinstance(spec, str) else list(spec)}


def _int_range(o: dict) -> list[dict]:
    lo, hi = o.get("enforced_min", o["min"]), o.get("enforced_max", o["max"])
    also = o.get("also", [])
    judged: dict = {"type": "integer", "not": {"enum": also}} if also else {"type": "integer"}
    out: list[dict] = [{"if": judged, "then": {"minimum": lo, "maximum": hi}}]
    if o.get("strings"):
        out.append({"pattern": _integer_pattern([(math.ceil(lo), math.floor(hi)), *((a, a) for a in also)])})
    return out


def _allowed_resolutions(profile: Profile, info: dict | None) -> list[str]:
    """The resolutions ``param.resolution`` allows for a model (``info`` None: one the profile does not know)."""
    judged = profile.data.get("family_info") or {}
    if info is not None and "resolutions" in info:
        allowed = info["resolutions"]
        if judged.get("id") != info["family"] and judged.get("resolutions") is not None:
            allowed = [r for r in allowed if r in judged["resolutions"]]  # a variant (draft) caps its models
        return allowed
    models = profile.data.get("models", {}).values()
    return sorted({r for m in models for r in m.get("resolutions", [m.get("resolution")]) if r})


def _resolution_keys(profile: Profile, o: dict, allowed: list[str]) -> dict[str, list]:
    keys = {k: [_strings({"enum": allowed})] for k in _written(profile.dialect, o["param"])}
    if o.get("size_param"):
        pixels = profile.data.get("pixels", {})
        sizes = [f"{w}{x}{h}" for res in allowed for (w, h) in pixels.get(res, {}).values() for x in "xX"]
        keys.update({k: [_strings({"enum": sizes})] for k in _written(profile.dialect, o["size_param"])})
    return keys


def _model_is(ids: list[str], known: list[str], unknown: bool) -> dict:
    """The request's model is one of ``ids`` or, with ``unknown``, one the profile does not know."""
    if not unknown:
        return {"required": ["model"], "properties": {"model": {"enum": ids}}}
    others = [m for m in known if m not in ids]
    return {"not": {"required": ["model"], "properties": {"model": {"enum": others}}}} if others else {}


def _resolutions(profile: Profile, o: dict, ids: list[str], unknown: bool) -> tuple[dict, list]:
    """``param.resolution`` for the model ``ids`` (and, with ``unknown``, models the profile does not know):
    fragments per key when they all allow the same, else one ``if``/``then`` per group of models."""
    models = profile.data.get("models", {})
    groups: dict[frozenset, tuple[list, list]] = {}  # allowed set → (allowed list, models; None: unknown ones)
    for model, allowed in [*((m, _allowed_resolutions(profile, models[m])) for m in ids),
                           *([(None, _allowed_resolutions(profile, None))] if unknown else [])]:
        groups.setdefault(frozenset(allowed), (allowed, []))[1].append(model)
    if len(groups) == 1:
        (allowed, _), = groups.values()
        return _resolution_keys(profile, o, allowed), []
    branches = []
    for allowed, members in groups.values():
        cond = _model_is([m for m in members if m is not None], list(models), None in members)
        branches.append({"if": cond, "then": {"properties": _properties(_resolution_keys(profile, o, allowed))}})
    return {}, branches


def _count(place: tuple[str, str], item_types: list[str], lo: int | None, hi: int) -> dict:
    """The number of items at ``place`` is at least ``lo`` (None: no lower bound) and at most ``hi``."""
    kind, key = place
    if kind == "urls":
        inner = {"type": "array", "minItems": lo, "maxItems": hi} if lo else {"maxItems": hi}
    else:
        match = {"type": "object", "required": ["type"], "properties": {"type": {"enum": item_types}}}
        inner = {"contains": match, "minContains": lo or 0, "maxContains": hi}
        if lo:
            inner = {"type": "array", **inner}
    return _at(key, inner, required=bool(lo))


def _fits(places: list[tuple[str, str]], item_types: list[str], limit: int) -> dict:
    """At most ``limit`` items of ``item_types`` at ``places`` (in reading order), reported at the place
    holding the first item over the limit, as ``check`` does."""
    if not places:
        return {}
    (kind, key), rest = places[0], places[1:]
    if kind == "single":
        then = _fits(rest, item_types, limit - 1) if limit > 0 else _at(key, _never("one item too many"))
        return {"if": {"required": [key]}, "then": then, "else": _fits(rest, item_types, limit)}
    cap = _count(places[0], item_types, None, limit)
    if not rest:
        return cap
    # the budget left for the places after this one depends on how many items this one holds
    after = [{"if": _count(places[0], item_types, n, n), "then": _fits(rest, item_types, limit - n)}
             for n in range(limit + 1)]
    return {"allOf": [cap, *after]}


def _item_schema(shape: dict | None, roles: dict) -> dict:
    """One content item as ``content.item`` (``shape``: its options, None when off) and
    ``content.role-invalid`` (``roles``: item type → allowed roles) judge it."""
    item: dict = {"type": "object"}
    payloads = {}
    if shape is not None:  # a type the parser reads has the payload it calls for; other types are unknown
        item.update(_member("type", {"type": "string"}))
        item["properties"] = {"type": _strings({"enum": shape["types"]})}
        url = {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}
        payloads = {"text": {"type": "string"}, **{t: url for t in MEDIA_TYPES}}
        for t, fields in shape.get("payloads", {}).items():
            payloads[t] = {"type": "object", "required": fields,
                           "properties": {f: {"type": "string", "minLength": 1} for f in fields}}
    by_type = []
    for t in dict.fromkeys([*payloads, *roles]):
        then = [_member(t, payloads[t])] if t in payloads else []
        if t in roles:  # a null role is no role
            then.append({"properties": {"role": {"enum": [*roles[t], None]}}})
        by_type.append({"if": {"required": ["type"], "properties": {"type": {"const": t}}}, "then": _merge(then)})
    if by_type:
        item["allOf"] = by_type
    return item


def family_schema(profile: Profile, ids: list[str] | None = None, unknown: bool = True) -> dict:
    """The JSON Schema of a request for ``profile`` as its model family sees it, for the model ``ids``
    it judges (default: every model of the profile) and, with ``unknown``, models the profile does not know."""
    models = profile.data.get("models", {})
    ids = list(models) if ids is None else ids
    dialect = profile.dialect
    keys: dict[str, list] = {}
    root: list[dict] = []
    required = ["model"]

    def add(key: str, fragment) -> None:
        keys.setdefault(key, []).append(fragment)

    def rule(check: str):
        """The options of every rule of this check kind that rejects (severity error, no condition)."""
        return [r.options for r in profile.rules
                if r.check == check and r.severity == "error" and not r.when and not r.unless]

    for o in rule("model"):
        add("model", {"enum": list(models)})
    for o in rule("types"):
        for key, spec in o["types"].items():
            add(key, _type(spec))
    for o in rule("int_range"):
        for key in _written(dialect, o["param"]):
            for fragment in _int_range(o):
                add(key, fragment)
    for o in rule("one_of"):
        for key in _written(dialect, o["param"]):
            add(key, _strings({"enum": o["values"]}))
    for o in rule("resolution"):
        by_key, branches = _resolutions(profile, o, ids, unknown)
        for key, fragments in by_key.items():
            keys.setdefault(key, []).extend(fragments)
        root += branches
    for o in rule("url_param"):
        pattern = "^(?:" + "|".join(_case_free(s) for s in o["schemes"]) + r")://[^\s/?#]"
        for key in _written(dialect, o["param"]):
            add(key, {"pattern": pattern})
    for _ in rule("tool_shape"):
        tool = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
        for key in _written(dialect, "tools"):
            add(key, {"items": tool})
    for o in rule("forbidden"):
        for key, hint in o["fields"].items():
            add(key, _never(hint))
        for key, allowed in o.get("values", {}).items():
            add(key, {"enum": allowed})
    for o in rule("count"):  # max_by_mode never binds: a frame mode has exactly its one or two images
        item_types = [t for t in MEDIA_TYPES if ITEM_KINDS[t] in o["kinds"]]
        fits = _fits(_places(dialect, item_types), item_types, o["max"])
        if fits:
            root.append(fits)
    shapes, roles = rule("item_shape"), rule("roles")
    if shapes or roles:
        item = _item_schema(shapes[0] if shapes else None, roles[0]["roles"] if roles else {})
        if dialect == "content":
            add("content", {"items": item})
        elif dialect == "openai-videos":
            add(f"{openai.META}.content", {"items": item})
        if shapes and dialect != "content":  # the flat fields hold URL strings and a prompt string
            add("prompt", {"type": "string"})
            for key in _singles(dialect):
                add(key, {"type": "string"})
            for key in MODULES[dialect].ARRAYS:
                add(key, {"items": {"type": "string"}})
    for o in rule("content_empty"):
        if dialect == "content":
            required.append("content")
            add("content", {"minItems": 1})
        if o.get("prompt_required"):
            required.append("prompt")
    schema: dict = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://seedance-prep.invalid/schema/{profile.name}.json",
        "title": f"Seedance request — {profile.title}",
        "type": "object",
        "required": required,
        "properties": _properties(keys),
    }
    if root:
        schema["allOf"] = root
    return schema


def _variant_is(variant: dict) -> dict:
    return {"required": [variant["param"]], "properties": {variant["param"]: {"const": variant["equals"]}}}


def request_schema(book: RuleBook, name: str, get=None) -> dict:
    """The JSON Schema of a request for profile ``name``, every family it sells included. ``get(name,
    family)`` gives the profile as judged (default ``book.get``; the CLI passes the user's selection).
    For a profile with ``null_is_absent``, a parameter written as null is as good as one left out."""
    schema = _request_schema(book, name, get)
    return _null_is_absent(schema) if book.profile_data(name).get("null_is_absent") else schema


# Objects whose members are parameters, as prep.lint reads them: null there is absent too.
_PARAMETER_OBJECTS = ("extra_body", "metadata")
_NOT_NULL = {"not": {"type": "null"}}


def _null_is_absent(node, params: bool = True):
    """``node`` (a schema of the request object, or of a parameter object) with null taken as absent:
    a property may be null wherever it may be left out, and ``required`` means present and not null.
    Conditions (``if``, ``not``, ``allOf``…) are rewritten alike, so a null parameter never switches a
    branch; the content items' schemas are left as they are."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [_null_is_absent(n) for n in out[key]]
    for key in ("not", "if", "then", "else"):
        if key in out:
            out[key] = _null_is_absent(out[key])
    required = set(out.get("required", ()))
    props = dict(out.get("properties", {}))
    for name, value in props.items():
        if name in _PARAMETER_OBJECTS and isinstance(value, dict):
            value = _null_is_absent(value)
        # if/else rather than anyOf: a validator reports an error inside `else` where it is (/tools/0),
        # not at the property as a failed alternative.
        props[name] = {"allOf": [_NOT_NULL, value]} if name in required else {"if": {"type": "null"}, "else": value}
    for name in required - props.keys():
        props[name] = _NOT_NULL
    if props:
        out["properties"] = props
    return out


def _request_schema(book: RuleBook, name: str, get=None) -> dict:
    get = get or book.get
    families = book.families_of(name)
    if len(families) == 1:
        return family_schema(get(name))
    data = book.profile_data(name)
    default = data.get("family")
    models = data.get("models", {})
    ids = {f: [m for m, info in models.items() if info["family"] == f] for f in families}

    def switches(family: str) -> list[dict]:
        return [v for v in book.families[family]["variants"] if v["family"] in families]

    def chosen(parent: str, variant: dict | None = None) -> dict:
        """The model is one ``parent`` judges, ``variant`` matches and no variant listed before it does
        (``variant`` None: none matches), as in RuleBook.family_for."""
        own = switches(parent)
        skipped = own if variant is None else own[:own.index(variant)]
        return _merge([_model_is(ids[parent], list(models), parent == default),
                       *([_variant_is(variant)] if variant else []),
                       *([{"not": {"anyOf": [_variant_is(v) for v in skipped]}}] if skipped else [])])

    branches = []
    for family in families:
        ways: list[tuple[str, dict | None]] = [(family, None)] if ids[family] or family == default else []
        ways += [(parent, v) for parent in families for v in switches(parent)
                 if v["family"] == family and (ids[parent] or parent == default)]
        if not ways:
            continue
        judged = [parent for parent, _ in ways]
        body = family_schema(get(name, family), [m for p in judged for m in ids[p]], default in judged)
        body = {k: v for k, v in body.items() if k not in _HEADER}
        conds = [chosen(parent, v) for parent, v in ways]
        branches.append({"if": conds[0] if len(conds) == 1 else {"anyOf": conds}, "then": body,
                         "$comment": f"model family {family}"})
    base = family_schema(get(name))
    return {**{k: base[k] for k in _HEADER}, "type": "object", "required": ["model"],
            "properties": {"model": {"enum": list(models)}}, "allOf": branches}
