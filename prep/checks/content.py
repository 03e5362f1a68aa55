"""Check kinds over the content items: their shape, roles, order, modes, counts, tools and prompts."""

from __future__ import annotations

import re

from ..model import ITEM_KINDS
from . import MISSING, TYPE_WORDS, attr_gate, check, json_type, plural, shorten, show, where, whole_number

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
    if o.get("prompt_required") and not any(i.pointer == "/prompt" for i in ctx.texts):
        # The flat APIs want the top-level `prompt` ("model and prompt are required", 001/003): a text
        # item in metadata.content does not stand in for it.
        yield "/prompt", None, None, {"detail": "'prompt' is required by this API"}
    elif not ctx.texts and not ctx.media and all(i.problem is None and i.type in ITEM_KINDS for i in ctx.request.items):
        pointer = "/content" if ctx.dialect == "content" else ""
        yield pointer, None, None, {"detail": "the request has no text prompt and no media"}


@check("item_shape", options={"types": ("list[str]", True), "payloads": ("table[list[str]]", False)},
       fields=("detail",), gate=attr_gate("items"))
def _item_shape(ctx, o):
    known = o["types"]
    payloads = o.get("payloads", {})
    for item in ctx.request.items:
        if item.problem:
            yield item.pointer, None, None, {"where": where(item.pointer), "detail": item.problem}
        elif item.type not in known:
            yield (item.pointer + "/type", item.type, known,
                   {"where": where(item.pointer), "detail": f"unknown item type {item.type!r}; use one of {show(known)}"})
        elif item.type in payloads:  # an item type the canonical model does not parse: its payload's keys
            payload = item.payload
            keys = payloads[item.type]
            if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) and payload[k] for k in keys):
                shape = ", ".join(f'"{k}": "…"' for k in keys)
                yield (item.pointer, None, None,
                       {"where": where(item.pointer), "detail": f"a {item.type} item needs {{\"{item.type}\": {{{shape}}}}}"})


@check("item_alone", options={"type": ("str", True), "params": ("list[str]", False)}, fields=("type", "detail"),
       gate=attr_gate("items"))
def _item_alone(ctx, o):
    own = [i for i in ctx.request.items if i.type == o["type"]]
    if not own:
        return
    for item in ctx.request.items:
        if item.type != o["type"] and item.type in ITEM_KINDS:
            yield item.pointer, item.type, None, {"where": where(item.pointer), "type": o["type"],
                                                   "detail": f"this {item.type} item"}
    for name in o.get("params", ()):
        p = ctx.param(name)
        if p is not None:
            yield p.pointer, p.key, None, {"where": p.key, "type": o["type"], "detail": f"'{p.key}'"}


@check("roles", options={"roles": ("table[list[str]]", True)}, fields=("type",), gate=attr_gate("media"))
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


@check("role_missing", options={"default_roles": ("table[str]", True)}, fields=("detail",), gate=attr_gate("media"))
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


@check("order", options={"order": ("list[str]", True)}, fields=("type", "previous"), gate=attr_gate("media"),
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
       fields=("detail",), gate=attr_gate("media"))
def _mode_exclusive(ctx, o):
    frames = [i for i in ctx.media if i.role in o["frame_roles"]]
    refs = [i for i in ctx.media if i.role in o["reference_roles"]]
    if frames and refs:
        f, r = frames[0], refs[0]
        detail = (f"{where(f.pointer)} is a {f.role} but {where(r.pointer)} is a {r.role}: first/last-frame "
                  "content cannot be mixed with reference media; either keep only the frame images, "
                  "or make every image a reference_image")
        yield f.role_pointer or f.pointer, [f.role, r.role], None, {"detail": detail}


@check("frames", fields=("detail",), gate=attr_gate("images"))
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
       fields=("mode_text",), gate=attr_gate("media"))
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


@check("requires_visual", gate=attr_gate("audios"))
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


@check("tool_shape", fields=("detail",), gate=lambda o: ("param", "tools"))
def _tool_shape(ctx, o):
    for p in ctx.params["tools"]:
        if not isinstance(p.value, list):
            continue  # param.type reports it
        for n, tool in enumerate(p.value):
            pointer = f"{p.pointer}/{n}"
            if not isinstance(tool, dict):
                actual = json_type(tool)
                detail = f"a tool is an object, not {TYPE_WORDS.get(actual, actual)}"
            elif "type" not in tool:
                actual, detail = "object", "the tool has no 'type'"
            elif not isinstance(tool["type"], str):
                actual, pointer = json_type(tool["type"]), pointer + "/type"
                detail = f"the tool's 'type' is {TYPE_WORDS.get(actual, actual)}, not a string"
            else:
                continue
            yield pointer, actual, None, {"where": where(f"{p.pointer}/{n}"), "detail": detail}


_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
_CJK_CLASS = "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
_CJK: list = []  # the compiled class, once a long non-ASCII prompt needs it (compiling costs ~2 ms)


def _word_count(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))  # not len(findall()): a list of every word


def _cjk_count(text: str) -> int:
    if text.isascii():
        return 0
    if not _CJK:
        _CJK.append(re.compile(_CJK_CLASS))
    return sum(m.end() - m.start() for m in _CJK[0].finditer(text))  # runs of CJK, counted in place


@check("text_length", options={"max_words": ("int", True), "max_cjk": ("int", True)}, fields=("detail",),
       gate=attr_gate("texts"))
def _text_length(ctx, o):
    for item in ctx.texts:
        text = item.text or ""
        if len(text) <= o["max_cjk"]:
            continue  # too short to break either limit
        words, cjk = _word_count(text), _cjk_count(text)
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


def _placeholder_matches(patterns, text: str):
    """Every placeholder match in ``text``, leftmost first, overlapping spellings once ("@image 2"
    is also "image 2"), one at a time (a prompt may hold millions). Each pattern scans on its own:
    an alternation of them, or a leading \\b, would cost Python's regex engine its fast literal-prefix search."""
    streams = []
    for regex, boundary in patterns:
        if regex.search(text) is None:
            continue
        matches = regex.finditer(text)
        if boundary:
            matches = (m for m in matches if not m.start() or not (text[m.start() - 1].isalnum() or
                                                                   text[m.start() - 1] == "_"))  # the \b
        streams.append(matches)
    if len(streams) == 1:
        yield from streams[0]
        return
    import heapq

    end = -1
    for m in heapq.merge(*streams, key=lambda m: (m.start(), -m.end())):
        if m.start() >= end:
            yield m
            end = m.end()


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
       fields=("ref", "kind", "n", "count"), prepare=_prepare_placeholders, gate=attr_gate("texts"))
def _placeholders(ctx, o):
    aliases = o["aliases"]
    counts = {"image": len(ctx.images), "video": len(ctx.videos), "audio": len(ctx.audios)}
    for item in ctx.texts:
        text = item.text or ""
        if not _DIGIT.search(text):
            continue  # every placeholder carries a number
        lower = text if text.islower() else text.lower()  # no copy of an all-lower-case prompt
        if not o["words"].search(lower):
            continue  # nor any kind word
        if len(lower) == len(text):
            patterns, subject = o["patterns"], lower
        else:  # lower-casing moved offsets (rare letters): match the original
            patterns, subject = o["patterns_any_case"], text
        reported = set()
        for m in _placeholder_matches(patterns, subject):
            raw, n = m.group("kind"), whole_number(m.group("n"))
            kind = aliases.get(raw, raw.lower())
            count = counts.get(kind)
            if count is None or 1 <= n <= count or (kind, n) in reported:
                continue
            reported.add((kind, n))
            ref = shorten(text[m.start():m.end()])  # as written, not lower-cased
            digits = m.group("n")
            yield (item.value_pointer, ref, count,
                   {"where": where(item.pointer), "ref": ref, "kind": kind, "count": count,
                    "n": n if len(digits) <= 20 else shorten(digits)})
