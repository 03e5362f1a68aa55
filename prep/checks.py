"""The closed library of check kinds that rule files name in their ``check`` field.

Each kind is a generator ``fn(ctx, options)`` that yields hits ``(pointer, actual, expected, values)``;
the engine turns a hit into a Finding by filling the rule's message template with ``values`` plus
``actual``, ``expected`` and ``where``. Each kind declares the options it accepts (validated when the
rule file is loaded) and the placeholders it fills (so a template naming an unknown one fails at load).

No provider number lives here: limits, enumerations and patterns arrive as options from ``rules/``.
"""

from __future__ import annotations

import re
from .model import MediaFacts, MediaMissing, record
from .pointer import escape, key_pointer, unescape

MISSING = object()
MB = 1024 * 1024  # sizes in messages are binary megabytes


@record
class CheckKind:
    name: str
    fn: object
    options: dict  # option name -> (type spec, required)
    fields: frozenset
    scope: str = "request"
    prepare: object = None  # options → the form ``fn`` reads (compiled once per profile, not per request)
    gate: object = None  # options → ("param", name) or ("attr", context attribute) the check cannot fire without


CHECKS: dict[str, CheckKind] = {}

COMMON_FIELDS = frozenset({"actual", "expected", "where"})


def check(name: str, *, options: dict | None = None, fields: tuple = (), scope: str = "request", prepare=None,
          gate=None):
    """Register a check kind. ``options`` maps option name to ``(spec, required)``; ``prepare``
    turns validated options into what the check reads (split tables, compiled patterns); ``gate``
    names what a request must have for the check to find anything, so the engine can skip it cheaply."""

    def register(fn):
        CHECKS[name] = CheckKind(name, fn, options or {}, frozenset(fields) | COMMON_FIELDS, scope, prepare, gate)
        return fn

    return register


def same_value(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


def compile_condition(when: dict | None, unless: dict | None):
    """A rule's ``when``/``unless`` tables as one predicate over the evaluation context.

    A table holds ``param`` + ``in`` (the request's value of that canonical parameter is one of
    ``in``; ``absent = true`` makes a missing parameter match too) and/or ``mode`` (the request's mode
    is one of these); every key given must hold."""

    def test(cond: dict):
        param, values, absent, modes = cond.get("param"), cond.get("in", ()), cond.get("absent", False), cond.get("mode")

        def holds(ctx) -> bool:
            if modes is not None and ctx.mode not in modes:
                return False
            if param is not None:
                found = ctx.params.get(param)
                if not found:
                    return absent
                return any(same_value(found[0].value, v) for v in values)
            return True

        return holds

    yes = test(when) if when else None
    no = test(unless) if unless else None
    return lambda ctx: (yes is None or yes(ctx)) and (no is None or not no(ctx))


def _param_gate(o: dict):
    return ("param", o["param"])


def _attr_gate(attr: str):
    return lambda o: ("attr", attr)


# ---------------------------------------------------------------------------------------------------
# Helpers shared by several kinds


def doc_get(doc: dict, key: str) -> object:
    """The value at a dotted key of the document, or MISSING."""
    if "." not in key:
        return doc.get(key, MISSING)
    node: object = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object",
              type(None): "null"}
_PY_TYPES = {name: {t for t, n in _JSON_TYPE.items() if n == name} for name in _JSON_TYPE.values()}
_PY_TYPES["number"] = {int, float}


def json_type(value: object) -> str:
    """The JSON type name of a parsed value."""
    return _JSON_TYPE.get(type(value)) or type(value).__name__


def where(pointer: str) -> str:
    """A human name for a pointer: ``/content/2`` → ``content[2]``, ``/metadata/content/0`` → ``metadata.content[0]``."""
    out = ""
    for token in pointer.split("/")[1:]:
        token = unescape(token)
        if token.isdigit():
            out += f"[{token}]"
        else:
            out += ("." if out else "") + token
    return out or "request"


def show(values) -> str:
    """A list of allowed values for a message: ``16:9, 4:3, 1:1``."""
    return ", ".join(str(v) for v in values)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def closest(word: str, choices) -> str | None:
    """The known name closest to ``word`` (a typo's likely fix), or None."""
    key = (word, tuple(choices))
    if key not in _CLOSEST:
        import difflib  # only when a suggestion is needed

        match = difflib.get_close_matches(word, key[1], n=1, cutoff=0.6)
        if len(_CLOSEST) > 4096:
            _CLOSEST.clear()
        _CLOSEST[key] = match[0] if match else None
    return _CLOSEST[key]


_CLOSEST: dict = {}  # the same typo recurs across a folder of templates


# ---------------------------------------------------------------------------------------------------
# The request document


@check("document", options={"problem": ("str", True)}, fields=("detail",), gate=_attr_gate("diagnostics"))
def _document(ctx, o):
    want = o["problem"]
    for problem, pointer, detail, position in ctx.diagnostics:
        if problem == want:
            yield pointer, None, None, {"detail": detail, "_position": position}


@check("body_size", options={"max_bytes": ("int", True)}, fields=("actual_mb", "max_mb"))
def _body_size(ctx, o):
    size, limit = ctx.source_bytes, o["max_bytes"]
    if size > limit:
        yield "", size, limit, {"actual_mb": f"{size / MB:.1f}", "max_mb": f"{limit / MB:g}"}


# ---------------------------------------------------------------------------------------------------
# Parameters


@check("model", fields=("detail",))
def _model(ctx, o):
    models = ctx.profile.get("models", {})
    p = ctx.param("model")
    if p is None:
        yield "/model", None, list(models), {"detail": f"'model' is missing; use one of {show(models)}"}
    elif isinstance(p.value, str) and p.value not in models:
        guess = closest(p.value, models)
        hint = f"did you mean '{guess}'?" if guess else f"known: {show(models)}"
        detail = f"unknown model '{p.value}' for profile {ctx.profile_name}; {hint}"
        yield p.pointer, p.value, list(models), {"detail": detail}


@check("known_fields", options={"fields": ("list[str]", True), "objects": ("table[list[str]]", False)},
       fields=("key", "suggestion"))
def _known_fields(ctx, o):
    known = o["fields"]
    doc = ctx.document
    for key in doc:
        if key not in known:
            guess = closest(key, known)
            yield key_pointer(key), key, None, {"key": key, "suggestion": f" (did you mean '{guess}'?)" if guess else ""}
    for container, names in o.get("objects", {}).items():
        sub = doc.get(container)
        if isinstance(sub, dict):
            for key in sub:
                if key not in names:
                    guess = closest(key, names)
                    yield (f"/{escape(container)}/{escape(key)}", key, None,
                           {"key": f"{container}.{key}", "suggestion": f" (did you mean '{guess}'?)" if guess else ""})


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "array": "an array", "object": "an object", "null": "null"}


def _prepare_types(o: dict) -> dict:
    specs = {}
    for key, spec in o["types"].items():
        if isinstance(spec, dict):
            allowed, max_length = (spec["type"],), spec.get("max_length")
        else:
            allowed, max_length = ((spec,) if isinstance(spec, str) else tuple(spec)), None
        if "number" in allowed:
            allowed += ("integer",)
        python_types = frozenset(t for name in allowed for t in _PY_TYPES.get(name, ()))
        specs[key] = (allowed, python_types, max_length)
    return {"top": {k: v for k, v in specs.items() if "." not in k},
            "nested": [(k, v) for k, v in specs.items() if "." in k]}


@check("types", options={"types": ("table[any]", True)}, fields=("key",), prepare=_prepare_types)
def _types(ctx, o):
    doc = ctx.document
    top = o["top"]
    pairs = [(k, v, top[k]) for k, v in doc.items() if k in top]
    for key, spec in o["nested"]:
        value = doc_get(doc, key)
        if value is not MISSING:
            pairs.append((key, value, spec))
    for key, value, (allowed, python_types, max_length) in pairs:
        if type(value) not in python_types:
            actual = json_type(value)
            expected = " or ".join(_TYPE_WORDS.get(t, t) for t in allowed if not (t == "integer" and "number" in allowed))
            yield key_pointer(key), actual, list(allowed), {"key": key, "actual": _TYPE_WORDS.get(actual, actual),
                                                             "expected": expected}
        elif max_length is not None and isinstance(value, str) and len(value) > max_length:
            yield (key_pointer(key), len(value), max_length,
                   {"key": key, "expected": f"a string of at most {max_length} characters",
                    "actual": f"{len(value)} characters"})


@check("forbidden", options={"fields": ("table[str]", True), "values": ("table[list]", False)},
       fields=("key", "hint"))
def _forbidden(ctx, o):
    doc = ctx.document
    for key, hint in o["fields"].items():
        value = doc_get(doc, key)
        if value is not MISSING:
            yield key_pointer(key), value, None, {"key": key, "hint": hint}
    for key, allowed in o.get("values", {}).items():
        value = doc_get(doc, key)
        if value is not MISSING and value not in allowed:
            yield key_pointer(key), value, allowed, {"key": key, "hint": f"only {show(allowed)} is accepted, not {value!r}"}


@check("conflict", options={"groups": ("list[list[str]]", True), "mirror": ("str", False)},
       fields=("key", "first"))
def _conflict(ctx, o):
    doc = ctx.document
    seen = set()
    for group in o["groups"]:
        present = [k for k in group if doc_get(doc, k) is not MISSING]
        for key in present[1:]:
            seen.add(key)
            yield key_pointer(key), key, present[0], {"key": key, "first": present[0]}
    mirror = o.get("mirror")
    sub = doc.get(mirror) if mirror else None
    if isinstance(sub, dict):
        for key in sub:
            nested = f"{mirror}.{key}"
            if key in doc and nested not in seen and key != "content":
                yield key_pointer(nested), nested, key, {"key": nested, "first": key}


def _occurrences(ctx, name):
    return ctx.params.get(name, ())


@check("resolution", options={"param": ("str", True), "size_param": ("str", False)}, fields=("detail",),
       gate=lambda o: None if o.get("size_param") else ("param", o["param"]))
def _resolution(ctx, o):
    models = ctx.profile.get("models", {})
    model = ctx.value("model")
    info = models.get(model) if isinstance(model, str) else None
    judged = ctx.profile.get("family_info") or {}
    if info is not None and "resolutions" in info:
        allowed = info["resolutions"]
        if judged.get("id") != info["family"] and judged.get("resolutions") is not None:
            # a variant (draft) of the model's family: its own list caps the model's
            allowed = [r for r in allowed if r in judged["resolutions"]]
    else:
        allowed = sorted({r for m in models.values() for r in m.get("resolutions", [m.get("resolution")]) if r})
    for p in _occurrences(ctx, o["param"]):
        if isinstance(p.value, str) and p.value not in allowed:
            owner = f"{model} ({judged.get('title') or info['family']})" if info else f"profile {ctx.profile_name}"
            detail = f"resolution '{p.value}' is not available for {owner}; allowed: {show(allowed)}"
            yield p.pointer, p.value, allowed, {"detail": detail}
    size_param = o.get("size_param")
    if size_param:
        pixels = ctx.profile.get("pixels", {})
        sizes = {f"{w}x{h}" for res in allowed for (w, h) in pixels.get(res, {}).values()}
        for p in _occurrences(ctx, size_param):
            if isinstance(p.value, str) and p.value.lower() not in sizes:
                detail = (f"size '{p.value}' is not an output size of {model or ctx.profile_name}; "
                          f"use resolution + ratio, or one of {show(sorted(sizes))}")
                yield p.pointer, p.value, sorted(sizes), {"detail": detail}


@check("one_of", options={"param": ("str", True), "values": ("list", True)}, fields=("key",), gate=_param_gate)
def _one_of(ctx, o):
    values = o["values"]
    for p in _occurrences(ctx, o["param"]):
        if isinstance(p.value, str) and p.value not in values:
            yield p.pointer, p.value, values, {"key": p.key, "actual": repr(p.value), "expected": show(values)}


_INT_STRING = re.compile(r"-?\d+\Z")


@check("int_range", options={"param": ("str", True), "min": ("int", True), "max": ("int", True),
                             "also": ("list[int]", False), "strings": ("bool", False)},
       fields=("key", "min", "max"), gate=_param_gate,
       prepare=lambda o: {**o, "also": o.get("also", []), "strings": o.get("strings", False),
                          "expected": f"{o['min']} to {o['max']}" + "".join(f" or {a}" for a in o.get("also", []))})
def _int_range(ctx, o):
    lo, hi, also, expected = o["min"], o["max"], o["also"], o["expected"]
    for p in _occurrences(ctx, o["param"]):
        value = p.value
        if type(value) is int:
            if not (lo <= value <= hi or value in also):
                yield p.pointer, value, expected, {"key": p.key, "min": lo, "max": hi}
            continue
        if isinstance(value, str) and o["strings"]:
            if not _INT_STRING.match(value.strip()):
                yield p.pointer, value, expected, {"key": p.key, "actual": f"{value!r} (not a whole number)",
                                                   "min": lo, "max": hi}
                continue
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            continue  # wrong JSON type: param.type reports it
        if not (lo <= value <= hi or value in also):
            yield p.pointer, value, expected, {"key": p.key, "min": lo, "max": hi}


_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://[^\s/?#]+")


@check("url_param", options={"param": ("str", True), "schemes": ("list[str]", True)}, fields=("key",),
       gate=_param_gate)
def _url_param(ctx, o):
    for p in _occurrences(ctx, o["param"]):
        if isinstance(p.value, str):
            m = _URL.match(p.value)
            if not m or m.group(1).lower() not in o["schemes"]:
                yield p.pointer, p.value, o["schemes"], {"key": p.key, "actual": repr(p.value)}


# ---------------------------------------------------------------------------------------------------
# Content items and modes


@check("content_empty", options={"prompt_required": ("bool", False)}, fields=("detail",))
def _content_empty(ctx, o):
    if ctx.dialect == "content":
        content = ctx.document.get("content", MISSING)
        if content is MISSING:
            yield "/content", None, None, {"detail": "'content' is missing: give a text prompt, media, or both"}
            return
        if not isinstance(content, list):
            return  # param.type reports it
        if not content:
            yield "/content", 0, None, {"detail": "'content' is empty: give a text prompt, media, or both"}
            return
    if o.get("prompt_required") and not ctx.texts:
        yield "/prompt", None, None, {"detail": "'prompt' is required by this API"}
    elif not ctx.texts and not ctx.media and all(i.problem is None for i in ctx.request.items):
        pointer = "/content" if ctx.dialect == "content" else ""
        yield pointer, None, None, {"detail": "the request has no text prompt and no media"}


@check("item_shape", options={"types": ("list[str]", True)}, fields=("detail",), gate=_attr_gate("items"))
def _item_shape(ctx, o):
    known = o["types"]
    for item in ctx.request.items:
        if item.problem:
            yield item.pointer, None, None, {"where": where(item.pointer), "detail": item.problem}
        elif item.type not in known:
            yield (item.pointer + "/type", item.type, known,
                   {"where": where(item.pointer), "detail": f"unknown item type {item.type!r}; use one of {show(known)}"})


@check("roles", options={"roles": ("table[list[str]]", True)}, fields=("type",), gate=_attr_gate("media"))
def _roles(ctx, o):
    table = o["roles"]
    for item in ctx.request.items:
        if item.role is None or item.role_implied or item.type not in table:
            continue
        allowed = table[item.type]
        if item.role not in allowed:
            yield (item.role_pointer, item.role, allowed,
                   {"where": where(item.pointer), "type": item.type, "expected": show(allowed),
                    "actual": item.role if isinstance(item.role, str) else repr(item.role)})


@check("role_missing", options={"default_roles": ("table[str]", True)}, fields=("detail",), gate=_attr_gate("media"))
def _role_missing(ctx, o):
    defaults = o["default_roles"]
    several_images = len(ctx.images) > 1
    beside = bool(ctx.videos or ctx.audios)
    for item in ctx.media:
        if item.role is not None or item.role_implied:
            continue
        if item.type != "image_url":
            detail = f"{item.type} item has no role; set role '{defaults.get(item.type)}'"
        elif several_images:
            detail = ("several images and this one has no role; set first_frame/last_frame, "
                      f"or '{defaults.get(item.type)}' for references")
        elif beside:
            detail = ("an image beside video or audio needs a role: the API would take it for a first frame; "
                      f"set '{defaults.get(item.type)}'")
        else:
            continue
        yield item.pointer + "/role", None, defaults.get(item.type), {"where": where(item.pointer), "detail": detail}


@check("order", options={"order": ("list[str]", True)}, fields=("type", "previous"), gate=_attr_gate("media"),
       prepare=lambda o: {**o, "rank": {t: i for i, t in enumerate(o["order"])}})
def _order(ctx, o):
    rank = o["rank"]
    highest, previous = -1, None
    for item in ctx.request.items:
        r = rank.get(item.type)
        if r is None:
            continue
        if r < highest:
            yield (item.pointer, item.type, o["order"],
                   {"where": where(item.pointer), "type": item.type, "previous": previous,
                    "expected": show(o["order"])})
        else:
            highest, previous = r, item.type


@check("mode_exclusive", options={"frame_roles": ("list[str]", True), "reference_roles": ("list[str]", True)},
       fields=("detail",), gate=_attr_gate("media"))
def _mode_exclusive(ctx, o):
    frames = [i for i in ctx.media if i.role in o["frame_roles"]]
    refs = [i for i in ctx.media if i.role in o["reference_roles"]]
    if frames and refs:
        f, r = frames[0], refs[0]
        detail = (f"{where(f.pointer)} is a {f.role} but {where(r.pointer)} is a {r.role}: first/last-frame "
                  "content cannot be mixed with reference media; either keep only the frame images, "
                  "or make every image a reference_image")
        yield f.role_pointer or f.pointer, [f.role, r.role], None, {"detail": detail}


@check("frames", fields=("detail",), gate=_attr_gate("images"))
def _frames(ctx, o):
    firsts = [i for i in ctx.images if i.role == "first_frame"]
    lasts = [i for i in ctx.images if i.role == "last_frame"]
    roleless = [i for i in ctx.images if i.role is None]
    for name, group in (("first_frame", firsts), ("last_frame", lasts)):
        for extra in group[1:]:
            yield (extra.role_pointer or extra.pointer, len(group), 1,
                   {"detail": f"{where(extra.pointer)} is a second {name}; give at most one"})
    if lasts and not firsts and not roleless:
        item = lasts[0]
        yield (item.role_pointer or item.pointer, None, "first_frame",
               {"detail": f"{where(item.pointer)} is a last_frame with no first_frame image"})


@check("count", options={"kinds": ("list[str]", True), "max": ("int", True), "max_by_mode": ("table[int]", False)},
       fields=("mode_text",), gate=_attr_gate("media"))
def _count(ctx, o):
    kinds = o["kinds"]
    by_mode = o.get("max_by_mode", {})
    limit = by_mode.get(ctx.mode, o["max"])
    if len(ctx.media) <= limit:
        return  # cannot be over whatever the kinds
    items = [i for i in ctx.media if i.kind in kinds]
    if len(items) > limit:
        mode_text = f"in {ctx.mode} mode " if ctx.mode in by_mode else ""
        yield items[limit].pointer, len(items), limit, {"mode_text": mode_text}


@check("requires_visual", gate=_attr_gate("audios"))
def _requires_visual(ctx, o):
    if ctx.audios and not ctx.images and not ctx.videos:
        yield ctx.audios[0].pointer, None, None, {}


@check("text_only_tool", options={"tool": ("str", True)}, fields=("tool", "media"), gate=lambda o: ("param", "tools"))
def _text_only_tool(ctx, o):
    tools = ctx.value("tools")
    if not isinstance(tools, list) or not ctx.media:
        return
    p = ctx.param("tools")
    for n, tool in enumerate(tools):
        if isinstance(tool, dict) and tool.get("type") == o["tool"]:
            parts = [plural(len(group), kind) for kind, group in
                     (("image", ctx.images), ("video", ctx.videos), ("audio clip", ctx.audios)) if group]
            yield f"{p.pointer}/{n}", None, None, {"tool": o["tool"], "media": " and ".join(parts)}


_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF))


def _cjk_count(text: str) -> int:
    # A loop, not a regex: compiling a character class of these ranges costs more than all checks.
    return sum(1 for c in text if c >= "\u3040" and any(lo <= ord(c) <= hi for lo, hi in _CJK_RANGES))


@check("text_length", options={"max_words": ("int", True), "max_cjk": ("int", True)}, fields=("detail",),
       gate=_attr_gate("texts"))
def _text_length(ctx, o):
    for item in ctx.texts:
        text = item.text or ""
        if len(text) <= o["max_cjk"]:
            continue  # too short to break either limit
        words, cjk = len(_WORD.findall(text)), _cjk_count(text)
        parts = []
        if words > o["max_words"]:
            parts.append(f"{words} English words (recommended at most {o['max_words']})")
        if cjk > o["max_cjk"]:
            parts.append(f"{cjk} CJK characters (recommended at most {o['max_cjk']})")
        if parts:
            yield (item.value_pointer, {"words": words, "cjk": cjk},
                   {"words": o["max_words"], "cjk": o["max_cjk"]},
                   {"where": where(item.pointer), "detail": " and ".join(parts)})


_DIGIT = re.compile(r"\d")


def _placeholder_matches(patterns, text: str) -> list:
    """Every placeholder match in ``text``, leftmost first, overlapping spellings once ("@image 2"
    is also "image 2"). Each pattern scans on its own: an alternation of them, or a leading \\b,
    would cost Python's regex engine its fast literal-prefix search."""
    found = []
    for regex, boundary in patterns:
        for m in regex.finditer(text):
            start = m.start()
            if boundary and start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                continue  # the \b the pattern began with
            found.append(m)
    if len(found) > 1:
        found.sort(key=lambda m: (m.start(), -m.end()))
        kept, end = [], -1
        for m in found:
            if m.start() >= end:
                kept.append(m)
                end = m.end()
        found = kept
    return found


def _prepare_placeholders(o: dict) -> dict:
    compiled, any_case = [], []
    for pattern in o["patterns"]:
        if "(?P<kind>" not in pattern or "(?P<n>" not in pattern:
            raise ValueError(f"pattern {pattern!r} needs the named groups (?P<kind>…) and (?P<n>…)")
        boundary = pattern.startswith("\\b")
        body = pattern[2:] if boundary else pattern
        # Matched against the lower-cased prompt: much faster than IGNORECASE.
        compiled.append((re.compile(body), boundary))
        any_case.append((re.compile(body, re.IGNORECASE), boundary))
    return {"patterns": compiled, "patterns_any_case": any_case,
            "aliases": {k.lower(): v for k, v in o.get("aliases", {}).items()},
            "words": re.compile("|".join(re.escape(w) for w in sorted(
                {*(a.lower() for a in o.get("aliases", {})), "image", "video", "audio"})))}


@check("placeholders", options={"patterns": ("list[regex]", True), "aliases": ("table[str]", False)},
       fields=("ref", "kind", "n", "count"), prepare=_prepare_placeholders, gate=_attr_gate("texts"))
def _placeholders(ctx, o):
    aliases = o["aliases"]
    counts = {"image": len(ctx.images), "video": len(ctx.videos), "audio": len(ctx.audios)}
    for item in ctx.texts:
        text = item.text or ""
        if not _DIGIT.search(text):
            continue  # every placeholder carries a number
        lower = text.lower()
        if not o["words"].search(lower):
            continue  # nor any kind word
        if len(lower) == len(text):
            patterns, subject = o["patterns"], lower
        else:  # lower-casing moved offsets (rare letters): match the original
            patterns, subject = o["patterns_any_case"], text
        reported = set()
        for m in _placeholder_matches(patterns, subject):
            raw, n = m.group("kind"), int(m.group("n"))
            kind = aliases.get(raw, raw.lower())
            count = counts.get(kind)
            if count is None or 1 <= n <= count or (kind, n) in reported:
                continue
            reported.add((kind, n))
            ref = text[m.start():m.end()]  # as written, not lower-cased
            yield (item.value_pointer, ref, count,
                   {"where": where(item.pointer), "ref": ref, "kind": kind, "n": n, "count": count})


# ---------------------------------------------------------------------------------------------------
# URLs

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


@check("url_scheme", options={"schemes": ("list[str]", True), "local_paths": ("bool", False)}, fields=("detail",),
       gate=_attr_gate("media"))
def _url_scheme(ctx, o):
    schemes = o["schemes"]
    for item in ctx.media:
        url = item.url
        if not isinstance(url, str):
            continue
        detail = None
        if not url.strip():
            detail = "the URL is empty"
        elif url != url.strip():
            detail = "the URL has leading or trailing white space"
        else:
            m = _SCHEME.match(url)
            scheme = m.group(1).lower() if m else None
            if scheme is None:
                if not o.get("local_paths"):
                    detail = f"'{url}' is a local path; give an http(s) URL, a data: URL or an asset:// id"
            elif scheme not in schemes:
                detail = f"unsupported URL scheme '{scheme}'; use one of {show(s + ':' for s in schemes)}"
            elif scheme in ("http", "https") and not _URL.match(url):
                detail = f"'{url[:80]}' is not a well-formed {scheme} URL"
            elif scheme == "asset" and (not url.startswith("asset://") or not url[len("asset://"):].strip("/")):
                detail = "an asset URL is asset://<asset id>"
        if detail:
            yield item.value_pointer, url[:200], schemes, {"where": where(item.pointer), "detail": detail}


@check("no_data_uri", options={"kinds": ("list[str]", True)}, fields=("kind",), gate=_attr_gate("media"))
def _no_data_uri(ctx, o):
    for item in ctx.media:
        if item.kind in o["kinds"] and isinstance(item.url, str) and item.url[:5].lower() == "data:":
            yield item.value_pointer, item.url[:40], None, {"where": where(item.pointer), "kind": item.kind}


@check("data_uri", options={"media_types": ("table[table[str]]", True)}, fields=("detail",),
       gate=_attr_gate("media"))
def _data_uri(ctx, o):
    table = o["media_types"]
    for item in ctx.media:
        url = item.url
        if item.kind not in table or not isinstance(url, str) or url[:5].lower() != "data:":
            continue
        import binascii

        detail = data_url_problem(url, item.kind, table, binascii)
        if detail is None:
            facts = ctx.facts.get(item.pointer)
            declared = url[5:url.find(",")].split(";")[0].strip().lower()
            want = table[item.kind].get(declared)
            fmt = getattr(facts, "format", None)
            if fmt and want and fmt != want and not getattr(facts, "problem", None):
                detail = f"declares {declared} but the content is {fmt}"
        if detail:
            yield item.value_pointer, url[:40], None, {"where": where(item.pointer), "detail": detail}


def data_url_problem(url: str, kind: str, table: dict, binascii) -> str | None:
    """Why a data: URL is malformed for an item of ``kind``, or None when it is well formed."""
    comma = url.find(",")
    if comma < 0:
        return "a data: URL needs a comma before its payload: data:<type>;base64,<data>"
    header = url[5:comma].split(";")
    media_type = header[0].strip().lower()
    if "base64" not in (h.strip().lower() for h in header[1:]):
        return "the data: URL is not base64 (missing ';base64')"
    allowed = table[kind]
    if media_type not in allowed:
        other = next((k for k, types in table.items() if media_type in types), None)
        if other and other != kind:
            return f"declares {media_type} (an {other}) in a {kind} item"
        return f"media type '{media_type or '(none)'}' is not accepted; use one of {show(allowed)}"
    payload = url[comma + 1:]
    if not payload:
        return "the data: URL has no payload"
    try:
        binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        return f"invalid base64 payload ({exc})"
    return None


# ---------------------------------------------------------------------------------------------------
# Cost


@check("token_budget", gate=_attr_gate("max_tokens"))
def _token_budget(ctx, o):
    estimate = ctx.estimate
    if ctx.max_tokens is not None and estimate and estimate.get("tokens") is not None:
        if estimate["tokens"] > ctx.max_tokens:
            yield "", estimate["tokens"], ctx.max_tokens, {}



# ---------------------------------------------------------------------------------------------------
# Media: flat comparisons over the facts the inspector read from each item's file (MediaConch-style).
# A fact that is unknown (None) makes the comparison not applicable, never a finding.

_KIND_WORD = {"image": "an image", "video": "a video", "audio": "an audio"}
_KIND_NOUN = {"image": "an image", "video": "a video", "audio": "audio"}


def _media_items(ctx, kind: str | None = None):
    """(item, facts) for the media items of ``kind`` whose file was inspected and is readable."""
    for item in ctx.media:
        facts = ctx.facts.get(item.pointer)
        if not isinstance(facts, MediaFacts) or facts.problem is not None:
            continue  # not inspected, not found (MediaMissing), or unreadable
        if kind is None or (item.kind == kind and facts.kind == kind):
            yield item, facts


def _file_name(item) -> str:
    url = item.url or ""
    if url[:5].lower() == "data:":
        return "inline data: URL"
    return url if len(url) <= 80 else url[:38] + "…" + url[-38:]


def _media_where(ctx, item) -> str:
    """``content[1] (media/cat.png)``; a caller may name items itself (``inspect`` names the file)."""
    label = ctx.labels.get(item.pointer)
    return label if label is not None else f"{where(item.pointer)} ({_file_name(item)})"


def _fact(facts, field: str):
    if field == "pixels":
        return facts.width * facts.height if facts.width and facts.height else None
    if field == "aspect":
        return facts.width / facts.height if facts.width and facts.height else None
    return getattr(facts, field)


@check("media_missing", fields=("detail", "file"), scope="media")
def _media_missing(ctx, o):
    for item in ctx.media:
        missing = ctx.facts.get(item.pointer)
        if isinstance(missing, MediaMissing):
            status = f" (HTTP {missing.status})" if missing.status else ""
            yield (item.value_pointer, missing.status or missing.reason, None,
                   {"where": _media_where(ctx, item), "file": _file_name(item),
                    "detail": f"{missing.reason}{status}"})


@check("media_unreadable", fields=("detail", "file"), scope="media")
def _media_unreadable(ctx, o):
    for item in ctx.media:
        facts = ctx.facts.get(item.pointer)
        problem = getattr(facts, "problem", None)
        if problem:
            yield (item.value_pointer, problem, None,
                   {"where": _media_where(ctx, item), "file": _file_name(item), "detail": problem})


@check("media_kind", fields=("detail", "file"), scope="media")
def _media_kind(ctx, o):
    for item, facts in _media_items(ctx):
        name = _file_name(item)
        detail = None
        if facts.kind != item.kind:
            what = f"{_KIND_WORD.get(facts.kind, 'an unrecognised')} file ({facts.format or 'unknown format'})"
            detail = f"the content is {what}, not {_KIND_NOUN.get(item.kind, 'media')} as its {item.type} item says"
        elif facts.kind == "video" and not facts.has_video:
            detail = f"a {facts.format} container with no video track"
        if detail:
            yield item.value_pointer, facts.kind, item.kind, {"where": _media_where(ctx, item), "file": name,
                                                              "detail": detail}


@check("fact_in", options={"kind": ("str", True), "field": ("str", True), "values": ("list[str]", True)},
       fields=("file", "field"), scope="media")
def _fact_in(ctx, o):
    for item, facts in _media_items(ctx, o["kind"]):
        value = _fact(facts, o["field"])
        if value is not None and value not in o["values"]:
            yield (item.value_pointer, value, o["values"],
                   {"where": _media_where(ctx, item), "file": _file_name(item), "field": o["field"]})


@check("fact_range", options={"kind": ("str", True), "fields": ("list[str]", True), "min": ("number", False),
                              "max": ("number", False), "below": ("number", False)},
       fields=("file", "field", "value", "value_mb", "width", "height", "min", "max", "below_mb"), scope="media")
def _fact_range(ctx, o):
    lo, hi, below = o.get("min"), o.get("max"), o.get("below")
    if below is not None:
        expected = f"< {below}"
    else:
        expected = f"{lo}–{hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
    for item, facts in _media_items(ctx, o["kind"]):
        for field in o["fields"]:
            value = _fact(facts, field)
            if value is None:
                continue
            if (lo is not None and value < lo) or (hi is not None and value > hi) or (below is not None and value >= below):
                yield (item.value_pointer, round(value, 4) if isinstance(value, float) else value, expected,
                       {"where": _media_where(ctx, item), "file": _file_name(item), "field": field, "value": value,
                        "value_mb": f"{value / MB:.1f}", "width": facts.width, "height": facts.height,
                        "min": lo, "max": hi, "below_mb": f"{(below or 0) / MB:g}"})
                break  # one finding per item


@check("fact_total", options={"kind": ("str", True), "field": ("str", True), "max": ("number", True)},
       fields=("total", "max", "count"), scope="media")
def _fact_total(ctx, o):
    total, count, crossing = 0.0, 0, None
    for item, facts in _media_items(ctx, o["kind"]):
        value = _fact(facts, o["field"])
        if value is None:
            continue
        total += value
        count += 1
        if crossing is None and total > o["max"]:
            crossing = item
    if crossing is not None and count > 1:  # one clip over the limit is the per-clip rule's finding
        yield (crossing.value_pointer, round(total, 3), o["max"],
               {"where": _media_where(ctx, crossing), "total": total, "max": o["max"], "count": count})
