"""Check kinds over task types: what a task (video edit, extension, a frame mode...) requires of the request.

``task`` states the requirements of a task the request declares (a rule's ``when`` says which:
``omni_reference_task_type = "edit"``, a first-frame mode...); ``task_intent`` recognises a task the
server will infer from the prompt (patterns from the rule file) and says what it will then require.
Requirements are data: parameter values (an absent parameter is judged by the default the API applies),
minimum item counts, and the duration of the source clip as inspected.
"""

from __future__ import annotations

import re

from . import MISSING, attr_gate, check, plural, same_value, shorten, where
from .media import media_items, media_where

_INT_STRING = re.compile(r"\s*-?[0-9]{1,9}\s*\Z")  # bounded: int() of a huge digit string raises
_REQUIREMENTS = {"params": "table", "min_items": "table", "source": "table"}
_SCAN_CHARS = 20_000


def _show(value) -> str:
    if isinstance(value, str):
        return f"'{shorten(value)}'"
    return str(value).lower() if isinstance(value, bool) else shorten(str(value))


def _param_value(ctx, name: str):
    """(value, key as written, given) of canonical parameter ``name``; an absent one is the default the
    API applies (``MISSING`` when there is none)."""
    p = ctx.param(name)
    if p is not None:
        value = p.value
        if isinstance(value, str) and _INT_STRING.match(value):
            value = int(value)  # "seconds": "-1" in string-typed dialects
        return value, p.key, p.pointer, True
    return ctx.profile.get("defaults", {}).get(name, MISSING), name, "", False


def unmet(ctx, req: dict) -> list[tuple[str, str]]:
    """The requirements of ``req`` (``params``, ``min_items``, ``source``) the request does not meet,
    as ``(pointer, "what must change (what it is)")``."""
    out = []
    for kind, least in req.get("min_items", {}).items():
        have = len(getattr(ctx, kind + "s", ()))
        if have < least:
            out.append(("", f"at least {plural(least, kind)} (it has {have})"))
    for name, allowed in req.get("params", {}).items():
        value, key, pointer, given = _param_value(ctx, name)
        if value is MISSING or any(same_value(value, a) for a in allowed):
            continue
        want = " or ".join(_show(a) for a in allowed)
        state = f"it is {_show(value)}" if given else f"it is not given and defaults to {_show(value)}"
        out.append((pointer, f"'{key}' must be {want} ({state})"))
    source = req.get("source")
    if source:
        for item, facts in media_items(ctx, source["kind"]):
            seconds = facts.duration_s
            if seconds is not None and not (source["min"] <= seconds <= source["max"]):
                out.append((item.value_pointer, f"the source {source['kind']} must be {source['min']:g}–{source['max']:g} s "
                                                f"({media_where(ctx, item)} is {seconds:.2f} s)"))
            break  # the first clip of the kind is the one edited or extended
    return out


def _prepare_requirements(req: dict, where_: str) -> dict:
    for key, value in req.items():
        if key in _REQUIREMENTS and not isinstance(value, dict):
            raise ValueError(f"{where_}{key} must be a table")
    source = req.get("source")
    if source is not None and (set(source) != {"kind", "min", "max"} or not all(
            isinstance(source[k], (int, float)) and not isinstance(source[k], bool) for k in ("min", "max"))):
        raise ValueError(f"{where_}source is {{ kind = \"video\", min = <seconds>, max = <seconds> }}")
    for name, allowed in req.get("params", {}).items():
        if not isinstance(allowed, list):
            raise ValueError(f"{where_}params.{name} must be a list of allowed values")
    return req


@check("task", options={"task": ("str", True), "params": ("table[list]", False), "min_items": ("table[int]", False),
                        "source": ("table[any]", False)},
       fields=("detail", "task"), prepare=lambda o: _prepare_requirements(o, ""))
def _task(ctx, o):
    for pointer, text in unmet(ctx, o):
        yield pointer, None, None, {"detail": text, "task": o["task"]}


def _prepare_intent(o: dict) -> dict:
    tasks = {}
    for name, spec in o["tasks"].items():
        where_ = f"tasks.{name}."
        extra = set(spec) - {"label", "patterns", *_REQUIREMENTS}
        if extra:
            raise ValueError(f"{where_} has unknown key(s) {', '.join(sorted(extra))}; "
                             "known: label, patterns, params, min_items, source")
        patterns = spec.get("patterns")
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise ValueError(f"{where_}patterns must be a non-empty list of regular expressions")
        tasks[name] = {**_prepare_requirements(spec, where_), "label": spec.get("label", name),
                       "regex": re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)}
    return {**o, "tasks": tasks}


@check("task_intent", options={"tasks": ("table[table[any]]", True), "hint": ("str", False)},
       fields=("detail", "task", "quote", "hint"), prepare=_prepare_intent, gate=attr_gate("texts"))
def _task_intent(ctx, o):
    for item in ctx.texts:
        # What a prompt asks for is said early; a prompt past this (text.length warns long before) is
        # not scanned further, so a hostile 60 MB prompt costs milliseconds, not a minute.
        text = (item.text or "")[:_SCAN_CHARS]
        for spec in o["tasks"].values():
            if any(len(getattr(ctx, k + "s", ())) < n for k, n in spec.get("min_items", {}).items()):
                continue  # not this task: what it works on is absent
            m = spec["regex"].search(text)
            if m is None:
                continue
            problems = unmet(ctx, spec)
            if problems:
                quote = m.group(0) if len(m.group(0)) <= 60 else m.group(0)[:57] + "…"
                yield (item.value_pointer, None, None,
                       {"where": where(item.pointer), "task": spec["label"], "quote": quote,
                        "detail": "; ".join(text for _, text in problems), "hint": o.get("hint", "")})
            break  # the first task the prompt reads as is the one the server picks


@check("tools_offered", options={"offered": ("list[str]", True)}, fields=("tool", "family"),
       gate=lambda o: ("param", "tools"))
def _tools_offered(ctx, o):
    p = ctx.param("tools")
    if not isinstance(p.value, list):
        return
    family = (ctx.profile.get("family_info") or {}).get("title", "this model")
    for n, tool in enumerate(p.value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind not in o["offered"]:
            yield f"{p.pointer}/{n}", kind, o["offered"], {"tool": kind, "family": family}
