"""evaluate(request, profile) → findings: pure, no I/O.

The engine builds one evaluation context per request (items by kind, mode, cost estimate), runs each
rule's check kind with the rule's options, and fills the rule's message template from each hit.
"""

from __future__ import annotations

import re

from .checks.media import impossible
from .model import MEDIA_TYPES, Finding, Item, MediaFacts, Request
from .ruleset import Profile

FRAME_ROLES = ("first_frame", "last_frame")
DRAFT_ITEM = "draft_task"  # an item naming a draft task to render as the final video (Seedance 2.5)


class Context:
    """What every check of one request may read. Built once per request."""

    __slots__ = ("request", "document", "dialect", "profile", "profile_name", "diagnostics", "source_bytes",
                 "facts", "labels", "max_tokens", "params", "items", "texts", "media", "images", "videos",
                 "audios", "mode", "_estimate")

    def __init__(self, request: Request | None, profile: Profile, *, diagnostics=(), source_bytes: int = 0,
                 facts: dict | None = None, max_tokens: int | None = None, labels: dict | None = None):
        self.request = request
        self.labels = labels or {}  # item pointer → how messages name the item (default: content[1] (file))
        self.document = request.document if request is not None else {}
        self.dialect = request.dialect if request is not None else profile.dialect
        self.profile = profile.data
        self.profile_name = profile.name
        self.diagnostics = diagnostics
        self.source_bytes = source_bytes
        self.facts = facts or {}
        self.max_tokens = max_tokens
        self.items = request.items if request is not None else ()
        self.params: dict[str, list] = {}  # canonical name → occurrences, top level first
        for p in request.params if request is not None else ():
            self.params.setdefault(p.name, []).append(p)
        self.texts: list[Item] = []
        self.images: list[Item] = []
        self.videos: list[Item] = []
        self.audios: list[Item] = []
        self.media: list[Item] = []
        groups = {"image_url": self.images, "video_url": self.videos, "audio_url": self.audios}
        for item in request.items if request is not None else ():
            group = groups.get(item.type) if item.type is not None else None
            if group is not None:
                group.append(item)
                self.media.append(item)
            elif item.type == "text" and item.problem is None:
                self.texts.append(item)
        self.mode = detect_mode(request) if request is not None else None
        self._estimate: dict | None | bool = False  # computed when first asked for (text reports never show it)

    @property
    def estimate(self) -> dict | None:
        """The cost estimate of the request (see :func:`estimate`)."""
        if self._estimate is False:
            request = self.request
            self._estimate = estimate(request, self.profile, self.facts, self.params) if request is not None else None
        return self._estimate  # type: ignore[return-value]  # no longer False here

    def param(self, name: str):
        """The first occurrence of canonical parameter ``name``, or None."""
        found = self.params.get(name)
        return found[0] if found else None

    def value(self, name: str, default: object = None) -> object:
        found = self.params.get(name)
        return found[0].value if found else default


_WxH = re.compile(r"(\d{1,6})[xX](\d{1,6})\Z")  # bounded: int() of a huge digit string raises
_INT = re.compile(r"-?\d{1,9}\Z")  # longer is no duration: unparsable (and int() of a huge one raises)


def detect_mode(request: Request) -> str | None:
    """``text_to_video``, ``first_frame``, ``first_last_frame``, ``multimodal_reference``,
    ``draft_to_final`` (a draft task rendered as the final video), or None when the request is too
    broken to tell (SPEC §3)."""
    items = request.items
    if any(i.problem is not None for i in items):
        return None
    if any(i.type == DRAFT_ITEM for i in items):
        return "draft_to_final"
    media = [i for i in items if i.type in MEDIA_TYPES]
    if not media:
        return "text_to_video" if any(i.type == "text" for i in items) else None
    roles = [i.role for i in media]
    if any(r is not None and not isinstance(r, str) for r in roles):
        return None  # an array or object as a role (content.role-invalid); nor can it be hashed below
    has_frames = any(r in FRAME_ROLES for r in roles)
    has_refs = any(isinstance(r, str) and r.startswith("reference_") for r in roles)
    if has_frames and has_refs:
        return None
    images = [i for i in media if i.type == "image_url"]
    if has_refs or len(images) < len(media):
        # audio-only references are a reference request too (allowed on 2.5; audio.needs-visual on 2.0)
        return "multimodal_reference" if has_refs or len(images) else None
    if len(images) == 1:
        return "first_frame" if roles[0] in (None, "first_frame") else None
    if len(images) == 2:
        a, b = roles
        if {a, b} == {"first_frame", "last_frame"} or {a, b} == {None, "last_frame"}:
            return "first_last_frame"
    return None


def estimate(request: Request, profile: dict, facts: dict | None = None, params: dict | None = None) -> dict | None:
    """Estimated billed tokens: W × H × (fps × seconds + 1) / divisor for the output (SPEC §4), plus
    W × H × fps × seconds / divisor for the input seconds of reference videos when those are known.

    None when the output size cannot be known (an unknown resolution, an unparsable duration).
    ``params`` (canonical name → occurrences) may be passed when already built.
    """
    cost = profile.get("cost")
    pixels = profile.get("pixels", {})
    if not cost:
        return None
    defaults = profile.get("defaults", {})
    if params is not None:
        first = {name: found[0].value for name, found in params.items()}
    else:
        first = {}
        for p in request.params:
            first.setdefault(p.name, p.value)
    model = first.get("model")
    info = profile.get("models", {}).get(model) if isinstance(model, str) else None
    resolution = first.get("resolution")
    if not isinstance(resolution, str):
        resolution = (info or {}).get("resolution") or defaults.get("resolution")
    ratio = first.get("ratio")
    if not isinstance(ratio, str):
        ratio = defaults.get("ratio")
    size = first.get("size")
    table = pixels.get(resolution)
    size_match = _WxH.match(size) if isinstance(size, str) else None
    if size_match:
        w, h = int(size_match.group(1)), int(size_match.group(2))
    elif table and ratio in table:
        w, h = table[ratio]
    elif table:
        w, h = max(table.values(), key=lambda wh: wh[0] * wh[1])  # adaptive: the widest area of the tier
    else:
        return None
    duration = first.get("duration", defaults.get("duration"))
    if isinstance(duration, str) and _INT.match(duration.strip()):
        duration = int(duration)
    if isinstance(duration, bool) or not isinstance(duration, int):
        return None
    if duration == -1:
        duration = cost["auto_duration"]
    if duration < 0:
        return None  # no video lasts less than nothing (param.duration reports it)
    fps, divisor = cost["fps"], cost["divisor"]
    tokens = w * h * (fps * duration + 1) // divisor
    input_s = 0.0
    for item in request.items:
        fact = (facts or {}).get(item.pointer)
        # Only readable facts count (not MediaMissing; not a broken header's nan, inf or negative seconds).
        if item.type == "video_url" and isinstance(fact, MediaFacts) and fact.duration_s and fact.problem is None \
                and not impossible(fact):
            input_s += fact.duration_s
    if input_s:
        tokens += int(w * h * fps * input_s // divisor)
    out = {"tokens": tokens, "width": w, "height": h, "seconds": duration}
    if input_s:
        out["input_video_seconds"] = round(input_s, 3)
    return out


def _display(value) -> object:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "none" if value is None else value


def evaluate(request: Request | None, profile: Profile, *, diagnostics=(), source_bytes: int = 0,
             facts: dict | None = None, max_tokens: int | None = None,
             labels: dict | None = None) -> tuple[list[Finding], Context]:
    """Run every rule of ``profile`` on ``request`` (None when the document did not parse: only the
    document rules run then). Returns the findings in rule order, and the context (mode, estimate)."""
    ctx = Context(request, profile, diagnostics=diagnostics, source_bytes=source_bytes, facts=facts,
                  max_tokens=max_tokens, labels=labels)
    findings: list[Finding] = []
    params = ctx.params
    for rule, check, options, gate, applies in (profile.plan + profile.media_plan if ctx.facts else profile.plan):
        if gate is not None:  # skip, without running it, a check that cannot fire on this request
            if gate[0] == "param":
                if gate[1] not in params:
                    continue
            elif not getattr(ctx, gate[1]):
                continue
        if request is None and rule.check != "document":
            continue
        if applies is not None and not applies(ctx):
            continue  # the rule's when/unless does not hold for this request
        for pointer, actual, expected, values in check(ctx, options):
            position = values.pop("_position", None) or (None, None)  # known only for document problems
            # A check may lower a hit to a warning (past a documented limit, within the enforced one)
            # and add a note saying why.
            severity = values.pop("_severity", None) or rule.severity
            note = values.pop("_note", "")
            fill = {"actual": _display(actual), "expected": _display(expected), "where": ""}
            fill.update(values)
            try:
                message = rule.message.format_map(fill)
            except (KeyError, ValueError, IndexError, AttributeError):
                message = f"{rule.summary} (message template of {rule.id} could not be filled)"
            findings.append(Finding(rule.id, severity, pointer, message + note, _jsonable(expected),
                                    _jsonable(actual), rule.fixable, *position))
    return findings, ctx


_NON_FINITE = {float("inf"): "Infinity", float("-inf"): "-Infinity"}
_MAX_DEPTH = 32  # a value nested deeper is cut: this function and the renderers' encoders recurse


def _jsonable(value, depth: int = 0):
    if isinstance(value, float) and value - value != 0:  # inf or nan: strict JSON has no such number
        return _NON_FINITE.get(value, "NaN")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth >= _MAX_DEPTH and isinstance(value, (list, tuple, dict)):
        return "{…}" if isinstance(value, dict) else "[…]"
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    return str(value)
