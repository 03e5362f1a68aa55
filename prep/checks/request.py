"""Check kinds over the request document and its top-level parameters."""

from __future__ import annotations

import re

from ..pointer import escape, key_pointer
from . import (
    ENFORCED,
    MB,
    MISSING,
    TYPE_WORDS,
    attr_gate,
    check,
    closest,
    doc_get,
    json_type,
    param_gate,
    prepare_enforced,
    same_value,
    show,
    shorten,
    tolerated,
    whole_number,
)
from . import HTTP_URL as _URL
from . import PY_TYPES as _PY_TYPES

# ---------------------------------------------------------------------------------------------------
# The request document


@check("document", options={"problem": ("str", True)}, fields=("detail",), gate=attr_gate("diagnostics"))
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
    # the model as written at the top level: a gateway drops metadata.model (new-api UnmarshalMetadata)
    p = next((q for q in ctx.params.get("model", ()) if q.pointer == "/model"), None)
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
            yield "/" + escape(key), key, None, {"key": key, "suggestion": f" (did you mean '{guess}'?)" if guess else ""}
    for container, names in o.get("objects", {}).items():
        sub = doc.get(container)
        if isinstance(sub, dict):
            for key in sub:
                if key not in names:
                    guess = closest(key, names)
                    yield (f"/{escape(container)}/{escape(key)}", key, None,
                           {"key": f"{container}.{key}", "suggestion": f" (did you mean '{guess}'?)" if guess else ""})


def _prepare_types(o: dict) -> dict:
    specs = {}
    for key, spec in o["types"].items():
        if isinstance(spec, dict):
            allowed: tuple[str, ...] = (spec["type"],)
            max_length = spec.get("max_length")
        else:
            allowed, max_length = ((spec,) if isinstance(spec, str) else tuple(spec)), None
        if "number" in allowed:
            allowed += ("integer",)
        python_types = frozenset(t for name in allowed for t in _PY_TYPES.get(name, ()))
        specs[key] = (allowed, python_types, max_length)
    return {"top": {k: v for k, v in specs.items() if "." not in k},
            "nested": [(k, v) for k, v in specs.items() if "." in k]}


def _overflowed(value) -> bool:
    """A number past any float, read as ±inf (request.number reports it; it may well be an integer)."""
    return type(value) is float and value - value != 0


@check("types", options={"types": ("table[any]", True)}, fields=("key",), prepare=_prepare_types)
def _types(ctx, o):
    doc = ctx.document
    top = o["top"]
    pairs = [(k, v, top[k], "/" + escape(k)) for k, v in doc.items() if k in top]
    for key, spec in o["nested"]:
        value = doc_get(doc, key)
        if value is not MISSING:
            pairs.append((key, value, spec, key_pointer(key)))
    for key, value, (allowed, python_types, max_length), pointer in pairs:
        if type(value) not in python_types and not (int in python_types and _overflowed(value)):
            actual = json_type(value)
            expected = " or ".join(TYPE_WORDS.get(t, t) for t in allowed if not (t == "integer" and "number" in allowed))
            yield pointer, actual, list(allowed), {"key": key, "actual": TYPE_WORDS.get(actual, actual),
                                                   "expected": expected}
        elif max_length is not None and isinstance(value, str) and len(value) > max_length:
            yield (pointer, len(value), max_length,
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
        if value is not MISSING and not any(same_value(value, a) for a in allowed):
            yield key_pointer(key), value, allowed, {"key": key, "hint": f"only {show(allowed)} is accepted, "
                                                                         f"not {shorten(repr(value))}"}


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
                yield f"/{escape(mirror)}/{escape(key)}", nested, key, {"key": nested, "first": key}


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


@check("one_of", options={"param": ("str", True), "values": ("list", True)}, fields=("key",), gate=param_gate)
def _one_of(ctx, o):
    values = o["values"]
    for p in _occurrences(ctx, o["param"]):
        if isinstance(p.value, str) and p.value not in values:
            yield p.pointer, p.value, values, {"key": p.key, "actual": repr(p.value), "expected": show(values)}


_INT_STRING = re.compile(r"-?[0-9]+\Z")  # ASCII digits: "١٥" is no number to the API


@check("int_range", options={"param": ("str", True), "min": ("int", True), "max": ("int", True),
                             "also": ("list[int]", False), "strings": ("bool", False), **ENFORCED},
       fields=("key", "min", "max"), gate=param_gate,
       prepare=lambda o: {**prepare_enforced(o), "also": o.get("also", []), "strings": o.get("strings", False),
                          "expected": f"{o['min']} to {o['max']}" + "".join(f" or {a}" for a in o.get("also", []))})
def _int_range(ctx, o):
    lo, hi, also, expected = o["min"], o["max"], o["also"], o["expected"]
    for p in _occurrences(ctx, o["param"]):
        value = shown = p.value
        if isinstance(value, str) and o["strings"]:
            if not _INT_STRING.match(value.strip()):
                yield p.pointer, shorten(value), expected, {"key": p.key, "min": lo, "max": hi,
                                                            "actual": f"{shorten(value)!r} (not a whole number)"}
                continue
            value = whole_number(value)
            shown = value if len(p.value) <= 20 else shorten(p.value.strip())  # a huge one as written
        if isinstance(value, bool) or not isinstance(value, int):
            continue  # wrong JSON type: param.type reports it (a number past any float: request.number)
        if not (lo <= value <= hi or value in also):
            yield p.pointer, shown, expected, {"key": p.key, "min": lo, "max": hi,
                                               **tolerated(value, lo, hi, o.get("enforced_min"), o.get("enforced_max"))}


@check("url_param", options={"param": ("str", True), "schemes": ("list[str]", True)}, fields=("key",),
       gate=param_gate)
def _url_param(ctx, o):
    for p in _occurrences(ctx, o["param"]):
        if isinstance(p.value, str):
            m = _URL.match(p.value)
            if not m or m.group(1).lower() not in o["schemes"]:
                yield p.pointer, p.value, o["schemes"], {"key": p.key, "actual": repr(p.value)}


# ---------------------------------------------------------------------------------------------------
# Cost


@check("token_budget", gate=attr_gate("max_tokens"))
def _token_budget(ctx, o):
    estimate = ctx.estimate
    if ctx.max_tokens is not None and estimate and estimate.get("tokens") is not None:
        if estimate["tokens"] > ctx.max_tokens:
            yield "", estimate["tokens"], ctx.max_tokens, {}
