"""Check kinds over inspected media: flat comparisons of one fact per item, or summed (MediaConch-style)."""

from __future__ import annotations

from ..model import MediaFacts, MediaMissing
from . import ENFORCED, MB, check, prepare_enforced, tolerated, where

# ---------------------------------------------------------------------------------------------------
# Media: flat comparisons over the facts the inspector read from each item's file (MediaConch-style).
# A fact that is unknown (None) makes the comparison not applicable, never a finding.

_KIND_WORD = {"image": "an image", "video": "a video", "audio": "an audio"}
_KIND_NOUN = {"image": "an image", "video": "a video", "audio": "audio"}


_NUMERIC_FACTS = (("duration_s", "duration", " s"), ("fps", "frame rate", " fps"), ("width", "width", " px"),
                  ("height", "height", " px"), ("bytes", "size", " bytes"))


def impossible(facts: MediaFacts) -> str | None:
    """Why the numbers read from a file cannot be true (a duration of nan, inf or -3 s: a broken
    header), or None. Such facts are unreadable: no range can judge them."""
    for field, name, unit in _NUMERIC_FACTS:
        value = getattr(facts, field)
        if value is not None and not 0 <= value < float("inf"):  # nan fails every comparison
            return f"its {name} reads as {value:g}{unit}; the file's header is broken"
    return None


def media_items(ctx, kind: str | None = None):
    """(item, facts) for the media items of ``kind`` whose file was inspected and is readable."""
    for item in ctx.media:
        facts = ctx.facts.get(item.pointer)
        if not isinstance(facts, MediaFacts) or facts.problem is not None or impossible(facts):
            continue  # not inspected, not found (MediaMissing), or unreadable
        if kind is None or (item.kind == kind and facts.kind == kind):
            yield item, facts


def _file_name(item) -> str:
    url = item.url or ""
    if url[:5].lower() == "data:":
        return "inline data: URL"
    return url if len(url) <= 80 else url[:38] + "…" + url[-38:]


def media_where(ctx, item) -> str:
    """``content[1] (media/cat.png)``; a caller may name items itself (``inspect`` names the file)."""
    label = ctx.labels.get(item.pointer)
    return label if label is not None else f"{where(item.pointer)} ({_file_name(item)})"


def _fact(facts, field: str):
    if field == "pixels":
        return facts.width * facts.height if facts.width and facts.height else None
    if field == "aspect":
        return facts.width / facts.height if facts.width and facts.height else None
    return getattr(facts, field)


@check("media_missing", options={"network": ("bool", False)}, fields=("detail", "file"), scope="media")
def _media_missing(ctx, o):
    # network: report the URLs no server answered for (DNS, connection, timeout), else the rest
    network = o.get("network", False)
    for item in ctx.media:
        missing = ctx.facts.get(item.pointer)
        if isinstance(missing, MediaMissing) and missing.network == network:
            status = f" (HTTP {missing.status})" if missing.status else ""
            yield (item.value_pointer, missing.status or missing.reason, None,
                   {"where": media_where(ctx, item), "file": _file_name(item),
                    "detail": f"{missing.reason}{status}"})


@check("media_unreadable", fields=("detail", "file"), scope="media")
def _media_unreadable(ctx, o):
    for item in ctx.media:
        facts = ctx.facts.get(item.pointer)
        if not isinstance(facts, MediaFacts):
            continue
        problem = facts.problem or impossible(facts)
        if problem:
            yield (item.value_pointer, problem, None,
                   {"where": media_where(ctx, item), "file": _file_name(item), "detail": problem})


@check("media_kind", fields=("detail", "file"), scope="media")
def _media_kind(ctx, o):
    for item, facts in media_items(ctx):
        name = _file_name(item)
        detail = None
        if facts.kind != item.kind:
            what = f"{_KIND_WORD.get(facts.kind, 'an unrecognised')} file ({facts.format or 'unknown format'})"
            claim = "its file name says" if item.pointer in ctx.labels else f"its {item.type} item says"  # inspect
            detail = f"the content is {what}, not {_KIND_NOUN.get(item.kind, 'media')} as {claim}"
        elif facts.kind == "video" and not facts.has_video:
            detail = f"a {facts.format} container with no video track"
        if detail:
            yield item.value_pointer, facts.kind, item.kind, {"where": media_where(ctx, item), "file": name,
                                                              "detail": detail}


@check("fact_in", options={"kind": ("str", True), "field": ("str", True), "values": ("list[str]", True)},
       fields=("file", "field"), scope="media")
def _fact_in(ctx, o):
    for item, facts in media_items(ctx, o["kind"]):
        value = _fact(facts, o["field"])
        if value is not None and value not in o["values"]:
            yield (item.value_pointer, value, o["values"],
                   {"where": media_where(ctx, item), "file": _file_name(item), "field": o["field"]})


@check("fact_range", options={"kind": ("str", True), "fields": ("list[str]", True), "min": ("number", False),
                              "max": ("number", False), "below": ("number", False), **ENFORCED},
       fields=("file", "field", "value", "value_mb", "width", "height", "min", "max", "below_mb"), scope="media",
       prepare=prepare_enforced)
def _fact_range(ctx, o):
    lo, hi, below = o.get("min"), o.get("max"), o.get("below")
    enforced_lo, enforced_hi = o.get("enforced_min"), o.get("enforced_max")
    if below is not None:
        expected = f"< {below}"
    else:
        expected = f"{lo}–{hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
    for item, facts in media_items(ctx, o["kind"]):
        for field in o["fields"]:
            value = _fact(facts, field)
            if value is None:
                continue
            if (lo is not None and value < lo) or (hi is not None and value > hi) or (below is not None and value >= below):
                yield (item.value_pointer, round(value, 4) if isinstance(value, float) else value, expected,
                       {"where": media_where(ctx, item), "file": _file_name(item), "field": field, "value": value,
                        "value_mb": f"{value / MB:.1f}", "width": facts.width, "height": facts.height,
                        "min": lo, "max": hi, "below_mb": f"{(below or 0) / MB:g}",
                        **tolerated(value, lo, hi, enforced_lo, enforced_hi)})
                break  # one finding per item


@check("fact_total", options={"kind": ("str", True), "field": ("str", True), "max": ("number", True),
                              "enforced_max": ("number", False)},
       fields=("total", "max", "count"), scope="media", prepare=prepare_enforced)
def _fact_total(ctx, o):
    total, count, crossing = 0.0, 0, None
    for item, facts in media_items(ctx, o["kind"]):
        value = _fact(facts, o["field"])
        if value is None:
            continue
        total += value
        count += 1
        if crossing is None and total > o["max"]:
            crossing = item
    if crossing is not None and count > 1:  # one clip over the limit is the per-clip rule's finding
        yield (crossing.value_pointer, round(total, 3), o["max"],
               {"where": media_where(ctx, crossing), "total": total, "max": o["max"], "count": count,
                **tolerated(total, None, o["max"], None, o.get("enforced_max"))})


_FACT_WORDS = {"duration_s": "duration", "fps": "frame rate", "width": "width", "height": "height",
               "format": "format", "sample_rate": "sample rate", "channels": "channel count", "codec": "codec"}


@check("facts_known", options={"needs": ("table[list[str]]", True)}, fields=("file", "missing", "detail"),
       scope="media")
def _facts_known(ctx, o):
    """Readable media whose facts the media rules need could not all be read: say so (and why, when the
    inspector knows), instead of the range rules skipping them in silence. A file whose facts are all
    there but that could not be fully judged (``--deep`` ran out of time) is said unjudged too."""
    needs = o["needs"]
    for item, facts in media_items(ctx):
        if facts.kind != item.kind:
            continue  # media.type-mismatch says what it is
        missing = [_FACT_WORDS.get(f, f) for f in needs.get(facts.kind, ()) if getattr(facts, f, None) is None]
        why = facts.unjudged
        if missing:
            words = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
            detail = f"could not read its {words}{f' ({why})' if why else ''}, so the rules on them were not applied"
        elif why:
            detail = f"not fully judged: {why}"
        else:
            continue
        yield (item.value_pointer, missing, needs.get(facts.kind), {
            "where": media_where(ctx, item), "file": _file_name(item), "missing": " and ".join(missing),
            "detail": detail})


def _matches(codec: str, names) -> bool:
    """``codec`` is one of ``names``, where a name ending in ``*`` is a prefix (``adpcm_*``)."""
    return any(codec == n or (n.endswith("*") and codec.startswith(n[:-1])) for n in names)


def _prepare_codecs(o: dict) -> dict:
    if not o["values"]:
        raise ValueError("option 'values' needs at least one codec")
    unknown = set(o["kinds"]) - {"image", "video", "audio"}
    if unknown:
        raise ValueError(f"option 'kinds' takes image, video and audio, not {', '.join(sorted(unknown))}")
    if o["field"] not in ("codec", "audio_codec"):
        raise ValueError("option 'field' is codec (the video codec; an audio file's codec) or audio_codec")
    return o


@check("codec_in", options={"kinds": ("list[str]", True), "field": ("str", True), "values": ("list[str]", True),
                            "reject": ("list[str]", False), "notes": ("table[str]", False)},
       fields=("file", "what", "note"), scope="media", prepare=_prepare_codecs)
def _codec_in(ctx, o):
    """The codec of each media file of ``kinds`` (fact ``field``) is one of ``values`` (an allow-list:
    ``adpcm_*`` names a family). Any other codec is a finding at the rule's severity, with the rule's
    note on it; a codec in ``reject`` (known to be refused) is always an error. An unknown codec (None)
    is not judged here (media.unjudged says it could not be read)."""
    field, values, reject, notes = o["field"], o["values"], o.get("reject", ()), o.get("notes", {})
    for item, facts in media_items(ctx):
        if facts.kind != item.kind or facts.kind not in o["kinds"]:
            continue
        codec = getattr(facts, field)
        if not codec or _matches(codec, values):
            continue
        if facts.kind == "video":
            what = "video codec" if field == "codec" else "audio track's codec"
        else:
            what = f"{facts.kind} codec"
        note = next((text for name, text in notes.items() if _matches(codec, (name,))), notes.get("*", ""))
        extra = {"_severity": "error"} if _matches(codec, reject) else {}
        yield (item.value_pointer, codec, values, {"where": media_where(ctx, item), "file": _file_name(item),
                                                   "what": what, "note": f" ({note})" if note else "", **extra})
