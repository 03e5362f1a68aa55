"""The media planner of ``fix``: request items, their media facts and the findings → one job per media item.

Pure and deterministic: no file is opened, no clock read. Every limit comes from the options of the profile's
rules (``rules/*.toml`` plus the user's ``--rules``), judged as :mod:`prep.checks.media` judges it, so that the
output of every job checks clean under the same rules; a ``--rules`` override moves the targets with it.

Each rule is read through its check kind and options, not its id: a ``fact_range`` rule on ``width``/``height``
of images is a side range, on ``aspect`` a ratio range, on ``bytes`` a size limit; ``fact_in`` on ``format``
the formats allowed; ``codec_in`` the codecs; ``fact_total`` a budget shared by the clips of a kind. Where a
range also has ``enforced_min``/``enforced_max`` the documented ``min``/``max`` are aimed at, so no warning
is left either.
"""

from __future__ import annotations

import math
import os
import re

from ..checks import MB
from ..checks.media import _matches, impossible
from ..model import Finding, MediaFacts, MediaMissing, Request, Rule
from .model import AudioTarget, FixOptions, ImageTarget, MediaJob, Skipped, VideoTarget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Item
    from ..ruleset import Profile

# Aim this far inside a duration limit: a stream-copy cut ends on a packet boundary (an MP3 frame lasts 26 ms,
# an AAC frame 21–23 ms, a video frame up to 42 ms at 24 fps) and an encoder may add a frame, so an output
# aimed at the limit itself can land just past it. A total budget keeps this much per clip it changes.
DURATION_MARGIN_S = 0.1

# How far a resize may move a picture's width/height ratio: whole pixels cannot keep it exactly.
ASPECT_TOLERANCE = 0.01

# What the executors write (ImageTarget.format values) and what they encode video and audio tracks to.
IMAGE_WRITABLE = ("jpeg", "png", "webp", "bmp", "tiff", "gif")
VIDEO_OUTPUT = ("mp4", "h264", "aac")  # container, video codec, audio codec of a full transcode
# Image formats that may carry alpha: converted to PNG (lossless, keeps it), others to JPEG.
_ALPHA_FORMATS = frozenset({"png", "webp", "gif", "tiff", "ico"})
_LOSSY_IMAGE = ("jpeg", "webp")  # formats a size limit can always be met in
_UNCOMPRESSED_IMAGE = frozenset({"bmp", "tiff"})  # as the executor writes them: 3–4 bytes a pixel
_RAW_BYTES_PER_PIXEL = 4
# Codecs an MP4 can take by stream copy (a property of the container, not of any provider): a remux keeps
# a video whose codecs are in both this and the rule set's allow-lists.
_MP4_VIDEO_COPY = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
_MP4_AUDIO_COPY = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})

_EXT = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp", "tiff": ".tiff", "gif": ".gif",
        "heic": ".heic", "heif": ".heif", "avif": ".avif", "ico": ".ico", "ppm": ".ppm", "mp4": ".mp4",
        "mov": ".mov", "mkv": ".mkv", "webm": ".webm", "avi": ".avi", "mp3": ".mp3", "wav": ".wav",
        "flac": ".flac", "ogg": ".ogg", "m4a": ".m4a", "aac": ".aac"}
_SAME_EXT = {"jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "tiff": (".tif", ".tiff")}  # keep the user's spelling
_GEOMETRY = frozenset({"width", "height", "aspect", "pixels"})
_CATEGORY = {"width": "geometry", "height": "geometry", "aspect": "aspect", "pixels": "geometry",
             "bytes": "bytes", "duration_s": "duration", "fps": "fps"}
_HANDLED = {"image": _GEOMETRY | {"bytes"}, "video": _GEOMETRY | {"bytes", "duration_s", "fps"},
            "audio": frozenset({"bytes", "duration_s"})}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# ---------------------------------------------------------------------------------------------------
# The limits of the rule set, per media kind


class _Bounds:
    """One fact's range as the ``fact_range`` rules on it judge it: fails when < lo, > hi or >= below."""

    __slots__ = ("below", "hi", "lo")

    def __init__(self) -> None:
        self.lo: float | None = None
        self.hi: float | None = None
        self.below: float | None = None

    def add(self, o: dict) -> None:  # the documented min/max: enforced_min/max are looser, never aimed at
        if o.get("min") is not None:
            self.lo = o["min"] if self.lo is None else max(self.lo, o["min"])
        if o.get("max") is not None:
            self.hi = o["max"] if self.hi is None else min(self.hi, o["max"])
        if o.get("below") is not None:
            self.below = o["below"] if self.below is None else min(self.below, o["below"])

    def ok(self, value: float) -> bool:
        return not ((self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi)
                    or (self.below is not None and value >= self.below))

    @property
    def top(self) -> float | None:
        """The numeric ceiling (``hi`` or ``below``, whichever is lower)."""
        tops = [t for t in (self.hi, self.below) if t is not None]
        return min(tops) if tops else None


class _Limits:
    """What the applicable rules ask of one media kind."""

    def __init__(self) -> None:
        self.fields: dict[str, _Bounds] = {}
        self.formats: list[list[str]] = []  # each fact_in rule's allowed formats: all must hold
        self.codecs: dict[str, list[list[str]]] = {}  # fact (codec, audio_codec) → each codec_in rule's allow-list
        self.total: float | None = None  # the sum of the durations of all clips of the kind, at most
        self.total_rules: list[str] = []

    def bound(self, field: str) -> _Bounds:
        return self.fields.get(field) or _Bounds()

    def format_ok(self, fmt: str | None) -> bool:
        return fmt is not None and all(fmt in values for values in self.formats)

    def codec_ok(self, field: str, codec: str | None) -> bool:
        """``codec`` (the fact ``field``) passes every codec_in rule on it; an unknown one is not judged."""
        return codec is None or all(_matches(codec, values) for values in self.codecs.get(field, ()))

    def codecs_ok(self, facts: MediaFacts) -> bool:
        return all(self.codec_ok(field, getattr(facts, field)) for field in self.codecs)

    def max_bytes(self) -> int | None:
        """The output must be smaller than this (``below``; ``max`` is inclusive)."""
        b = self.fields.get("bytes")
        if b is None:
            return None
        tops = [math.ceil(b.below)] if b.below is not None else []
        if b.hi is not None:
            tops.append(math.floor(b.hi) + 1)
        return min(tops) if tops else None


def _limits(rules: list[Rule]) -> tuple[dict[str, _Limits], dict[str, set[str]]]:
    """Limits per media kind, and for each rule the plan can fix, what it asks for (``geometry``,
    ``bytes``, ``duration``, ``fps``, ``format``, ``codec``, ``total``)."""
    limits = {kind: _Limits() for kind in _HANDLED}
    fixes: dict[str, set[str]] = {}
    for rule in rules:
        o = rule.options or {}
        kind = o.get("kind")
        if rule.check == "fact_range" and kind in limits:
            for field in o["fields"]:
                limits[kind].fields.setdefault(field, _Bounds()).add(o)
            if set(o["fields"]) <= _HANDLED[kind]:
                fixes[rule.id] = {_CATEGORY[f] for f in o["fields"]}
        elif rule.check == "fact_in" and kind in limits and o.get("field") == "format":
            limits[kind].formats.append(list(o["values"]))
            fixes[rule.id] = {"format"}
        elif rule.check == "fact_total" and kind in ("video", "audio") and o.get("field") == "duration_s":
            lim = limits[kind]
            lim.total = o["max"] if lim.total is None else min(lim.total, o["max"])
            lim.total_rules.append(rule.id)
            fixes[rule.id] = {"total"}
        elif rule.check == "codec_in":
            for k in o["kinds"]:
                if k in limits:
                    limits[k].codecs.setdefault(o["field"], []).append(list(o["values"]))
            fixes[rule.id] = {"codec"}
    return limits, fixes


# ---------------------------------------------------------------------------------------------------
# Geometry (upright pixels)


class _Geo:
    __slots__ = ("fit", "problem", "scale_to", "size")

    def __init__(self, scale_to: tuple[int, int], size: tuple[int, int], fit: str = "none",
                 problem: str | None = None) -> None:
        self.scale_to, self.size, self.fit, self.problem = scale_to, size, fit, problem


def ratio_range(lim: _Limits) -> _Bounds:
    """The width/height ratios a picture can have under the limits: the ratio rules, narrowed by what the
    side and pixel ranges leave (at most the longest side allowed over the shortest)."""
    out = _Bounds()
    a = lim.bound("aspect")
    out.lo, out.hi, out.below = a.lo, a.hi, a.below
    wb, hb, pb = lim.bound("width"), lim.bound("height"), lim.bound("pixels")
    lows = [wb.lo / hb.top if wb.lo is not None and hb.top else None,
            wb.lo ** 2 / pb.top if wb.lo is not None and pb.top else None]
    highs = [wb.top / hb.lo if wb.top is not None and hb.lo else None,
             pb.top / hb.lo ** 2 if pb.top is not None and hb.lo else None]
    for low in lows:
        if low is not None:
            out.lo = low if out.lo is None else max(out.lo, low)
    for high in highs:
        if high is not None:
            out.hi = high if out.hi is None else min(out.hi, high)
    return out


def _nearest_ratio(r: float, a: _Bounds) -> float:
    if a.lo is not None and r < a.lo:
        return a.lo
    top = a.top
    return top if top is not None else r


def _near(x: float, step: int, radius: int) -> list[int]:
    base = max(step, round(x / step) * step)
    return [v for v in (base + k * step for k in range(-radius, radius + 1)) if v >= step]


def _round_to(x: float, step: int) -> int:
    return max(step, round(x / step) * step)


def _ceil_to(x: float, step: int) -> int:
    return max(step, math.ceil(x / step - 1e-9) * step)


def geometry(width: int, height: int, rules_limits: _Limits, *, fit: str = "pad", even: bool = False,
             max_side: int | None = None, keep_ratio: bool = False) -> _Geo:
    """The output of an upright ``width``×``height`` picture under the limits: scaled keeping its aspect
    ratio into the side and pixel ranges (and ``max_side``), then padded or cropped (``fit``), centred,
    to the nearest allowed ratio; every side even when ``even``. ``keep_ratio`` leaves an out-of-range
    ratio as it is (a crop that may not be applied). ``problem`` says why no size meets every limit."""
    lim = rules_limits
    wb, hb, ab, pb = lim.bound("width"), lim.bound("height"), lim.bound("aspect"), lim.bound("pixels")
    r = width / height
    mode, r_t, use_aspect = "none", r, True
    reachable = ratio_range(lim)
    if not reachable.ok(r):
        if keep_ratio:
            use_aspect = False
        else:
            mode, r_t = ("crop" if fit == "crop" else "pad"), _nearest_ratio(r, reachable)
    step = 2 if even else 1
    wide = r > r_t

    def fits(cw: int, ch: int, cap: int | None) -> bool:
        return (cw % step == 0 and ch % step == 0 and (cap is None or max(cw, ch) <= cap) and wb.ok(cw)
                and hb.ok(ch) and (not use_aspect or ab.ok(cw / ch)) and pb.ok(cw * ch))

    c0: tuple[float, float]
    if mode == "pad":
        c0 = (width, width / r_t) if wide else (height * r_t, height)
    elif mode == "crop":
        c0 = (height * r_t, height) if wide else (width, width / r_t)
    else:
        c0 = (float(width), float(height))
    lo_s, hi_s = 0.0, math.inf
    for side, b in ((c0[0], wb), (c0[1], hb)):
        if b.lo is not None:
            lo_s = max(lo_s, b.lo / side)
        if b.top is not None:
            hi_s = min(hi_s, b.top / side)
    area = c0[0] * c0[1]
    if pb.lo is not None:
        lo_s = max(lo_s, math.sqrt(pb.lo / area))
    if pb.top is not None:
        hi_s = min(hi_s, math.sqrt(pb.top / area))
    cap = max_side
    if cap is not None:
        if cap / max(c0) >= lo_s:
            hi_s = min(hi_s, cap / max(c0))
        elif lo_s <= hi_s:
            hi_s, cap = lo_s, None  # the rules' minimum wins over --max-side: as small as they allow
    if mode == "none" and fits(width, height, cap):  # (an unreachable --max-side leaves a conforming picture)
        return _Geo((width, height), (width, height))
    s = 1.0 if lo_s <= 1 <= hi_s else (hi_s if hi_s < 1 else lo_s)
    want = (c0[0] * s, c0[1] * s)

    def content(cw: int, ch: int) -> tuple[int, int] | None:
        if mode == "pad":
            if wide:
                return cw, min(ch, _round_to(cw / r, step))
            return min(cw, _round_to(ch * r, step)), ch
        if mode == "crop":
            if wide:
                return max(cw, _ceil_to(ch * r, step)), ch
            return cw, max(ch, _ceil_to(cw / r, step))
        return cw, ch

    best: tuple | None = None
    for radius in (3, 12):
        for cw in _near(want[0], step, radius):
            for ch in _near(want[1], step, radius):
                if not fits(cw, ch, cap):
                    continue
                got = content(cw, ch)
                if got is None:
                    continue
                # the picture's own ratio kept (within ASPECT_TOLERANCE), then the size nearest the wanted one
                score = (max(0.0, abs(got[0] / got[1] - r) / r - ASPECT_TOLERANCE),
                         abs(cw - want[0]) + abs(ch - want[1]), cw, ch)
                if best is None or score < best[0]:
                    best = (score, got, (cw, ch))
        if best is not None:
            break
    if best is None:
        return _Geo((width, height), (width, height), problem=_no_size(wb, hb, ab if use_aspect else None, pb, even))
    return _Geo(best[1], best[2], mode)


def _no_size(wb: _Bounds, hb: _Bounds, ab: _Bounds | None, pb: _Bounds, even: bool) -> str:
    parts = [f"{name} {_range(b)}" for name, b in (("width", wb), ("height", hb), ("ratio", ab), ("pixels", pb))
             if b is not None and (b.lo is not None or b.top is not None)]
    return "no size meets every limit (" + ", ".join(parts) + (", even sides" if even else "") + ")"


def _range(b: _Bounds) -> str:
    lo, top = b.lo, b.top
    if lo is not None and top is not None:
        return f"{lo:g}–{top:g}"
    return f">= {lo:g}" if lo is not None else f"<= {top:g}"


def _upright(facts: MediaFacts) -> tuple[int, int] | None:
    if not facts.width or not facts.height:
        return None
    if facts.rotation % 180 == 90:
        return facts.height, facts.width
    return facts.width, facts.height


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def _geometry_steps(src: tuple[int, int], geo: _Geo, verb: str) -> list[str]:
    steps = []
    if geo.scale_to != src:
        up = geo.scale_to[0] > src[0] or geo.scale_to[1] > src[1]
        word = "upscale" if up else verb
        steps.append(f"{word} {_wxh(src)} → {_wxh(geo.scale_to)}" + (" (upscaling adds no detail)" if up else ""))
    if geo.fit != "none":
        steps.append(f"{geo.fit} {_wxh(geo.scale_to)} → {_wxh(geo.size)}")
    return steps


# ---------------------------------------------------------------------------------------------------
# Durations: each clip into its range, then the kind's total budget shared across the clips


def share_budget(durations: list[float], floors: list[float], budget: float, mode: str) -> list[float] | None:
    """Durations for clips now lasting ``durations`` that sum to at most ``budget``, none cut below its floor:
    ``proportional`` shortens every clip by the same factor (clips reaching their floor stay there), ``first``
    keeps the clips in order and cuts the later ones. None when the floors alone exceed the budget."""
    if sum(floors) > budget:
        return None
    if sum(durations) <= budget:
        return list(durations)
    n = len(durations)
    if mode == "first":
        out, left = [], budget
        for i, d in enumerate(durations):
            share = max(floors[i], min(d, left - sum(floors[i + 1:])))
            out.append(share)
            left -= share
        return out
    held: dict[int, float] = {}
    factor = 1.0
    while len(held) < n:
        free = [i for i in range(n) if i not in held]
        factor = (budget - sum(held.values())) / sum(durations[i] for i in free)
        low = [i for i in free if durations[i] * factor < floors[i]]
        if not low:
            break
        held.update((i, floors[i]) for i in low)
    return [held.get(i, durations[i] * factor) for i in range(n)]


def _uncut_small(clips: list[_Clip], shares: list[float], budget: float, changed: int) -> list[float]:
    """``shares`` with the cuts that only the margin of cutting paid for undone, smallest first: every clip
    cut keeps DURATION_MARGIN_S of the budget, so a clip the sharing took 25 ms from can often stay as it
    is (no re-encode, nothing dropped) once it no longer needs its margin. ``budget`` is what the clips
    may last together; ``changed`` counts the other clips changed (each keeps its margin too), as a clip of
    ``clips`` changed before the sharing does."""
    out = list(shares)

    def fits(values: list[float]) -> bool:
        cut = changed + sum(1 for c, v in zip(clips, values) if v < c.planned - 1e-9 or c.planned != c.source)
        return sum(values) <= budget - DURATION_MARGIN_S * cut + 1e-9

    for i in sorted(range(len(clips)), key=lambda i: clips[i].planned - out[i]):
        if out[i] < clips[i].planned - 1e-9:
            trial = out[:i] + [clips[i].planned] + out[i + 1:]
            if fits(trial):
                out = trial
    return out


def span(a: float, b: float) -> str:
    """``"2.1 s → 2.0 s"``: two durations with the decimals that tell them apart (at most three)."""
    for digits in (1, 2, 3):
        left, right = f"{a:.{digits}f}", f"{b:.{digits}f}"
        if left != right:
            break
    return f"{left} s → {right} s"


def _down_ms(x: float) -> float:
    """``x`` rounded down to a millisecond (plan values read well and never round up past a limit)."""
    return math.floor(x * 1000 + 1e-6) / 1000


class _Clip:
    """A clip's duration as planned: what it is, what it becomes, and which rules move it."""

    __slots__ = ("editable", "facts", "item", "pad_to", "planned", "rules", "source", "steps", "unsafe_steps")

    def __init__(self, item: Item, facts: MediaFacts, editable: bool) -> None:
        self.item, self.facts, self.editable = item, facts, editable
        self.source = float(facts.duration_s or 0.0)
        self.planned = self.source
        self.pad_to: float | None = None
        self.rules: list[str] = []
        self.unsafe_steps: list[tuple[str, str]] = []  # (rule, step) of cuts: applied only with --unsafe
        self.steps: list[str] = []


def _plan_durations(kind: str, clips: list[_Clip], lim: _Limits, found: dict[str, dict[str, list[str]]],
                    total_rules: list[str], total_pointer: dict[str, str], options: FixOptions,
                    skipped: list[Skipped]) -> None:
    """Plan every clip's duration in place: cut long clips, pad short audio, then share the total budget."""
    b = lim.bound("duration_s")
    floor = (b.lo if b.lo is not None else 0.0) + DURATION_MARGIN_S
    top = b.top
    for clip in clips:
        rules = found.get(clip.item.pointer, {}).get("duration", [])
        if not clip.editable or not rules or clip.facts.duration_s is None:
            continue
        d = clip.source
        if top is not None and not b.ok(d) and d >= top - 1e-9:
            to = _down_ms(max(top - DURATION_MARGIN_S, (b.lo or 0.0) + (top - (b.lo or 0.0)) / 2))
            clip.planned = to
            clip.rules.extend(rules)
            clip.unsafe_steps.extend((r, f"trim {span(d, to)}") for r in rules)
        elif b.lo is not None and d < b.lo:
            if kind == "audio":
                to = floor if top is None else min(floor, (b.lo + top) / 2)
                clip.planned = clip.pad_to = to
                clip.rules.extend(rules)
                clip.steps.append(f"pad {span(d, to)} with silence")
            else:
                skipped.extend(Skipped(clip.item.pointer, r, f"cannot be lengthened: {d:.2f} s, at least {b.lo:g} s")
                               for r in rules)
    # The total, as the check sums it: every readable clip of the kind, when there is more than one.
    if lim.total is None or len(clips) < 2:
        _settle(clips, options, skipped)
        return
    changed = sum(1 for c in clips if c.planned != c.source)
    total = sum(c.planned for c in clips)
    if total <= lim.total - DURATION_MARGIN_S * changed:
        if total_rules and changed:  # the clips' own fixes bring the total within the limit too
            for c in clips:
                if c.planned != c.source:
                    c.rules.extend(total_rules)
        _settle(clips, options, skipped)
        return
    cuttable = [c for c in clips if c.editable and c.planned > floor + 1e-9]
    fixed = sum(c.planned for c in clips if c not in cuttable)
    budget = lim.total - fixed - DURATION_MARGIN_S * (len(cuttable) + sum(
        1 for c in clips if c not in cuttable and c.planned != c.source))
    shares = share_budget([c.planned for c in cuttable], [floor] * len(cuttable), budget, options.trim)
    word = "videos" if kind == "video" else "audio clips"
    rule_ids = total_rules or lim.total_rules
    if shares is None:
        pointer = next(iter(total_pointer.values()), clips[0].item.pointer)
        skipped.extend(Skipped(pointer, r, f"cannot fit: {word} last {total:.1f} s together, at most {lim.total:g} s, "
                                           f"and {len(cuttable)} of them cannot be cut below {floor:.1f} s")
                       for r in rule_ids)
        _settle(clips, options, skipped)
        return
    why = f" ({word} last {sum(c.source for c in clips):.1f} s together; at most {lim.total:g} s)"
    shares = _uncut_small(cuttable, [_down_ms(x) for x in shares], lim.total - fixed, changed - sum(
        1 for c in cuttable if c.planned != c.source))
    for clip, share in zip(cuttable, shares):
        if share < clip.planned - 1e-9:
            step = f"trim {span(clip.source, share)}{why}"
            clip.unsafe_steps = [(r, step) for r in dict.fromkeys([r for r, _ in clip.unsafe_steps] + rule_ids)]
            clip.planned = share
            clip.rules.extend(rule_ids)
    _settle(clips, options, skipped)


def _settle(clips: list[_Clip], options: FixOptions, skipped: list[Skipped]) -> None:
    """Without --unsafe, a clip keeps its length; each cut it needed is listed instead."""
    if options.unsafe:
        return
    for clip in clips:
        if not clip.unsafe_steps:
            continue
        skipped.extend(Skipped(clip.item.pointer, r, f"needs --unsafe: {s}") for r, s in clip.unsafe_steps)
        cut_rules = {r for r, _ in clip.unsafe_steps}
        clip.rules = [r for r in clip.rules if r not in cut_rules]
        clip.planned = clip.pad_to if clip.pad_to is not None else clip.source
        clip.unsafe_steps = []


# ---------------------------------------------------------------------------------------------------
# Targets per kind


def _image_format(src: str | None, lim: _Limits, lossy: bool) -> str | None:
    """The output format: the source's when allowed and writable (and, under a size limit it breaks, lossy);
    else PNG for formats that may carry alpha and JPEG for the rest (WebP/JPEG when it must be lossy)."""
    allowed = [f for f in IMAGE_WRITABLE if lim.format_ok(f) or not lim.formats]
    if src in allowed and (not lossy or src in _LOSSY_IMAGE):
        return src
    alpha = src in _ALPHA_FORMATS
    if lossy:  # WebP keeps alpha in a lossy encoding
        prefer: tuple[str, ...] = ("webp", "jpeg") if alpha else ("jpeg", "webp")
    else:
        prefer = ("png", "jpeg") if alpha else ("jpeg", "png")
    return next((f for f in prefer + IMAGE_WRITABLE if f in allowed), None)


def _crop_refused(item: Item, size: tuple[int, int], lim: _Limits, rules: list[str], even: bool,
                  max_side: int | None, why: str = "") -> list[Skipped]:
    would = geometry(*size, lim, fit="crop", even=even, max_side=max_side)
    return [Skipped(item.pointer, r, f"needs --unsafe: crop {_wxh(would.scale_to)} → {_wxh(would.size)}{why}")
            for r in rules]


def _fit_geometry(item: Item, size: tuple[int, int], need: dict[str, list[str]], lim: _Limits, options: FixOptions,
                  even: bool, max_side: int | None, skipped: list[Skipped]) -> tuple[_Geo | None, list[str]]:
    """The geometry an item gets, and the ids of the geometry rules it leaves unfixed (listed in ``skipped``)."""
    crop = options.aspect == "crop"
    refuse = crop and not options.unsafe and not ratio_range(lim).ok(size[0] / size[1])
    geo = geometry(*size, lim, fit="crop" if crop else "pad", even=even, max_side=max_side, keep_ratio=refuse)
    if geo.problem:
        left = need.get("geometry", []) + need.get("aspect", [])
        if refuse:  # only the crop would reach a size within the limits
            skipped.extend(_crop_refused(item, size, lim, left, even, max_side, f" (at its own ratio, {geo.problem})"))
        else:
            skipped.extend(Skipped(item.pointer, r, geo.problem) for r in left)
        return None, left
    if refuse:
        skipped.extend(_crop_refused(item, size, lim, need.get("aspect", []), even, max_side))
        return geo, need.get("aspect", [])
    return geo, []


def _plan_image(item: Item, facts: MediaFacts, need: dict[str, list[str]], lim: _Limits, options: FixOptions,
                skipped: list[Skipped]) -> tuple[ImageTarget | None, list[str], list[str], bool]:
    size = _upright(facts)
    over_side = options.max_side is not None and size is not None and max(size) > options.max_side
    if not need and not over_side:
        return None, [], [], False
    if size is None:
        skipped.extend(Skipped(item.pointer, r, "its size could not be read") for rules in need.values() for r in rules)
        return None, [], [], False
    rules = [r for key in ("format", "geometry", "aspect", "bytes", "codec") for r in need.get(key, [])]
    geo, left = _fit_geometry(item, size, need, lim, options, False, options.max_side, skipped)
    if geo is None:
        geo = _Geo(size, size)
    steps: list[str] = _geometry_steps(size, geo, "resize")
    if over_side and steps and not need.get("geometry"):
        steps[0] += f" (--max-side {options.max_side})"
    max_bytes = lim.max_bytes()
    raw_over = max_bytes is not None and geo.size[0] * geo.size[1] * _RAW_BYTES_PER_PIXEL >= max_bytes
    fmt = _image_format(facts.format, lim, bool(need.get("bytes")))
    if fmt in _UNCOMPRESSED_IMAGE and raw_over:  # written uncompressed, it would not fit: a lossy format will
        fmt = _image_format(facts.format, lim, True)
    if fmt is None:
        skipped.extend(Skipped(item.pointer, r, "no image format the rules allow can be written")
                       for r in need.get("format", []))
        return None, [], [], False
    if fmt != facts.format:
        steps.append(f"convert {facts.format or 'unknown'} → {fmt}")
    if need.get("bytes") and max_bytes is not None:
        steps.append(f"re-encode under {max_bytes / MB:g} MB")
    if not steps:
        return None, [], [], False  # nothing it may change (a crop without --unsafe): copied as it is
    if facts.rotation:
        steps.insert(0, f"rotate {facts.rotation}° upright")
    target = ImageTarget(size=geo.size, scale_to=geo.scale_to, fit=geo.fit, fill=options.pad_color, format=fmt,
                         max_bytes=max_bytes, upscale=geo.scale_to[0] > size[0] or geo.scale_to[1] > size[1])
    return target, steps, [r for r in rules if r not in left], geo.fit == "crop"


def _plan_video(item: Item, facts: MediaFacts, need: dict[str, list[str]], clip: _Clip | None, lim: _Limits,
                options: FixOptions, skipped: list[Skipped]) -> tuple[VideoTarget | None, list[str], list[str], bool]:
    trimmed = clip is not None and clip.planned != clip.source
    if not (set(need) - {"duration"}) and not trimmed:
        return None, [], [], False
    rules = [r for key in ("format", "codec", "geometry", "aspect", "fps", "bytes") for r in need.get(key, [])]
    rules += [r for r in (clip.rules if clip is not None else []) if r not in rules]
    audio_ok = not facts.has_audio or (facts.audio_codec in _MP4_AUDIO_COPY
                                       and lim.codec_ok("audio_codec", facts.audio_codec))
    video_ok = facts.codec in _MP4_VIDEO_COPY and lim.codec_ok("codec", facts.codec)
    if set(need) == {"format"} and not trimmed and video_ok and audio_ok:
        return VideoTarget(remux_only=True), [f"remux {facts.format} → {VIDEO_OUTPUT[0]}"], rules, False
    steps: list[str] = []
    if need.get("format"):
        steps.append(f"convert {facts.format} → {VIDEO_OUTPUT[0]}")
    if need.get("codec") or not (video_ok and audio_ok):
        src, dst = facts.codec or "?", VIDEO_OUTPUT[1]
        if facts.has_audio:
            src, dst = f"{src}/{facts.audio_codec or '?'}", f"{dst}/{VIDEO_OUTPUT[2]}"
        if src != dst:
            steps.append(f"transcode {src} → {dst}")
    size = _upright(facts)
    geo: _Geo | None = None
    left: list[str] = []
    if size is not None:
        geo, left = _fit_geometry(item, size, need, lim, options, True, None, skipped)
        if geo is not None:
            steps += _geometry_steps(size, geo, "scale")
    elif need.get("geometry") or need.get("aspect"):
        left = need.get("geometry", []) + need.get("aspect", [])
        skipped.extend(Skipped(item.pointer, r, "its size could not be read") for r in left)
    fps = None
    fb = lim.bound("fps")
    if facts.fps is not None and not fb.ok(facts.fps):
        top = fb.top
        if fb.lo is not None and facts.fps < fb.lo:
            fps = float(fb.lo)
        elif top is not None:  # the highest whole rate in range (the bound itself when inclusive)
            fps = float(math.ceil(top) - 1 if not fb.ok(top) else top)
        if fps is not None and fb.ok(fps):
            steps.append(f"{facts.fps:g} fps → {fps:g} fps")
        else:
            fps = None
            skipped.extend(Skipped(item.pointer, r, f"no frame rate in {_range(fb)}") for r in need.get("fps", []))
            left += need.get("fps", [])
    duration = None
    if trimmed and clip is not None:
        duration = clip.planned
        steps.append(f"trim {span(clip.source, clip.planned)}")
    max_bytes = lim.max_bytes()
    if need.get("bytes") and max_bytes is not None:
        steps.append(f"re-encode under {max_bytes / MB:g} MB")
    if not steps:
        return None, [], [], False  # nothing it may change (a crop without --unsafe): copied as it is
    if facts.rotation:
        steps.insert(0, f"rotate {facts.rotation}° upright")
    resized = geo is not None and size is not None and (geo.size != size or geo.scale_to != size)
    target = VideoTarget(size=geo.size if resized and geo else None, scale_to=geo.scale_to if resized and geo else None,
                         fit=geo.fit if geo else "none", fill=options.pad_color, fps=fps, duration_s=duration,
                         max_bytes=max_bytes)
    return target, steps, [r for r in rules if r not in left], trimmed or target.fit == "crop"


def _plan_audio(item: Item, facts: MediaFacts, need: dict[str, list[str]], clip: _Clip | None, lim: _Limits,
                options: FixOptions) -> tuple[AudioTarget | None, list[str], list[str], bool]:
    padded = clip is not None and clip.pad_to is not None
    trimmed = clip is not None and not padded and clip.planned != clip.source
    if not (set(need) - {"duration"}) and not trimmed and not padded:
        return None, [], [], False
    rules = [r for key in ("format", "codec", "bytes") for r in need.get(key, [])]
    rules += [r for r in (clip.rules if clip is not None else []) if r not in rules]
    codec_ok = lim.codecs_ok(facts)
    # A valid WAV stays WAV (unless it breaks the size limit); everything else becomes MP3.
    valid = lim.format_ok(facts.format) and facts.format in ("mp3", "wav") and codec_ok
    fmt = facts.format if valid and not (need.get("bytes") and facts.format == "wav") else "mp3"
    if lim.formats and not lim.format_ok(fmt):
        fmt = next((f for f in ("mp3", "wav") if lim.format_ok(f)), fmt)
    steps: list[str] = []
    if fmt != facts.format:
        steps.append(f"convert {facts.format or 'unknown'} → {fmt}")
    elif not codec_ok:
        steps.append(f"transcode {facts.audio_codec or facts.codec or '?'} → {fmt}")
    duration = pad_to = None
    if clip is not None:
        steps += clip.steps
        if trimmed:
            duration = clip.planned
            steps.append(f"trim {span(clip.source, clip.planned)}")
        if padded:
            pad_to = clip.pad_to
    max_bytes = lim.max_bytes()
    if need.get("bytes") and max_bytes is not None:
        steps.append(f"re-encode under {max_bytes / MB:g} MB")
    if not steps:
        return None, [], [], False
    fmt = fmt or "mp3"
    copy = fmt == facts.format and codec_ok and not padded and not need.get("bytes")
    target = AudioTarget(format=fmt, duration_s=duration, pad_to_s=pad_to, max_bytes=max_bytes, copy=copy)
    return target, steps, rules, trimmed


# ---------------------------------------------------------------------------------------------------
# The plan


def _scheme(url: str) -> str:
    """``path``, ``data``, ``http`` or ``other`` (asset://, file://…), as the resolver reads a URL."""
    m = _SCHEME.match(url)
    if m is None:
        return "path"
    scheme = m.group(1).lower()
    return scheme if scheme in ("data", "http") else "http" if scheme == "https" else "other"


class _Names:
    """Output file names: stable (in item order) and collision-free, case-insensitively (macOS, Windows).
    Every job gets its own, even two items of the same file: the runner may remove a data: URL's file once
    it is inlined, and it finds the same input twice by itself (its content cache)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def name(self, stem: str, ext: str) -> str:
        stem = stem.strip(". ") or "media"
        name, n = stem + ext, 1
        while name.casefold() in self.used:
            n += 1
            name = f"{stem}-{n}{ext}"
        self.used.add(name.casefold())
        return name


def _out_format(target: object, facts: MediaFacts) -> str | None:
    if isinstance(target, ImageTarget):
        return target.format
    if isinstance(target, VideoTarget):
        return VIDEO_OUTPUT[0]
    if isinstance(target, AudioTarget):
        return target.format
    return facts.format


def _output_name(names: _Names, item: Item, source: str, local: bool, facts: MediaFacts, target: object) -> str:
    if local:
        base = os.path.basename(source)
        stem, ext = os.path.splitext(base)
    else:
        stem, ext = _UNSAFE_NAME.sub("-", item.pointer).strip("-") or "inline", ""
    fmt = _out_format(target, facts)
    if not (target is None and local) and not (fmt and ext.lower() in _SAME_EXT.get(fmt, (_EXT.get(fmt),))):
        ext = _EXT.get(fmt or "", f".{fmt}" if fmt else ".bin")
    return names.name(stem, ext)


def plan_media(request: Request, profile: Profile, facts: dict, findings: list[Finding], options: FixOptions,
               base_dir: str | os.PathLike) -> tuple[list[MediaJob], list[Skipped]]:
    """One :class:`MediaJob` per media item read from a local file or a ``data:`` URL (``target`` None: copy it
    byte for byte), and the media findings the plan leaves, with why. ``facts`` maps item pointers to what
    :meth:`prep.resolve.MediaResolver.facts_for` gave; ``findings`` are :func:`prep.engine.evaluate`'s for
    the same request, profile and facts. Pure: reads no file."""
    from ..engine import Context

    ctx = Context(request, profile, facts=facts)
    rules = [rule for rule, _fn, _o, _gate, applies in profile.media_plan if applies is None or applies(ctx)]
    kind_of = {r.id: (r.options or {}).get("kind", "") for r in rules}
    media_rules = {r.id for r, *_ in profile.media_plan}
    limits, fixes = _limits(rules)
    by_value: dict[str, list[Finding]] = {}
    for f in findings:
        if f.rule in media_rules:
            by_value.setdefault(f.pointer, []).append(f)

    skipped: list[Skipped] = []
    # A fact the inspector could not read (media.unjudged) is read again on the output: a file the plan
    # rewrites (remux, transcode) is judged afresh by the check after the fix, so it is not "not fixed".
    unjudged = {r.id for r, *_ in profile.media_plan if r.check == "facts_known"}
    rejudge: dict[str, list[Finding]] = {}
    entries: list[tuple[Item, MediaFacts, str, bool]] = []  # (item, facts, source, local) of items with a job
    need: dict[str, dict[str, list[str]]] = {}  # item pointer → category → ids of the rules asking for it
    total_rules: dict[str, list[str]] = {"video": [], "audio": []}
    total_pointer: dict[str, dict[str, str]] = {"video": {}, "audio": {}}
    clips: dict[str, list[_Clip]] = {"video": [], "audio": []}
    for item in ctx.media:
        url = item.url
        here = by_value.get(item.value_pointer or "", [])
        got = facts.get(item.pointer)
        where = _scheme(url) if isinstance(url, str) and url else "other"
        editable = where in ("path", "data")
        readable = isinstance(got, MediaFacts) and got.problem is None and not impossible(got)
        for f in here:  # a total is the budget's business, whichever clip crossed it
            if "total" in fixes.get(f.rule, ()):
                total_rules.setdefault(kind_of[f.rule], []).append(f.rule)
                total_pointer.setdefault(kind_of[f.rule], {})[f.rule] = item.pointer
        here = [f for f in here if "total" not in fixes.get(f.rule, ())]
        if isinstance(got, MediaFacts) and readable and got.kind == item.kind and item.kind in clips \
                and got.duration_s is not None:
            clips[item.kind].append(_Clip(item, got, editable))
        if not editable:
            reason = ("remote media: download it and point the request at the file to fix it" if where == "http"
                      else "not a local file or data: URL")
            skipped.extend(Skipped(item.pointer, f.rule, reason) for f in here)
            continue
        if got is None:
            if where == "path":
                skipped.extend(Skipped(item.pointer, f.rule, "not inspected") for f in here)
            continue
        if isinstance(got, MediaMissing):
            skipped.extend(Skipped(item.pointer, f.rule, got.reason) for f in here)
            if not here:
                skipped.append(Skipped(item.pointer, "", got.reason))
            continue
        assert isinstance(url, str)
        source = url if where == "data" else os.path.abspath(os.path.join(os.fspath(base_dir), url))
        entries.append((item, got, source, where == "path"))
        if not readable:
            problem = got.problem or impossible(got) or "unreadable"
            skipped.extend(Skipped(item.pointer, f.rule, problem) for f in here)
            if not here:
                skipped.append(Skipped(item.pointer, "", problem))
            continue
        wants: dict[str, list[str]] = {}
        for f in here:
            what = fixes.get(f.rule)
            if what is None and f.rule in unjudged and got.kind == item.kind:
                rejudge.setdefault(item.pointer, []).append(f)  # listed only if the item is not rewritten
                continue
            if what is None or got.kind != item.kind:
                skipped.append(Skipped(item.pointer, f.rule, f"no automatic fix: {f.message}"))
                continue
            for category in sorted(what):
                wants.setdefault(category, []).append(f.rule)
        need[item.pointer] = wants

    clip_of: dict[str, _Clip] = {}
    for kind in ("video", "audio"):
        found = {c.item.pointer: need.get(c.item.pointer, {}) for c in clips[kind]}
        _plan_durations(kind, clips[kind], limits[kind], found, list(dict.fromkeys(total_rules.get(kind, []))),
                        total_pointer.get(kind, {}), options, skipped)
        clip_of.update((c.item.pointer, c) for c in clips[kind] if c.editable)

    names = _Names()
    jobs: list[MediaJob] = []
    for item, got, source, local in entries:
        wants = need.get(item.pointer, {})
        kind = item.kind or ""
        target: ImageTarget | VideoTarget | AudioTarget | None = None
        steps: list[str] = []
        fixed: list[str] = []
        unsafe = False
        if item.pointer in need and got.kind == item.kind:
            if kind == "image":
                target, steps, fixed, unsafe = _plan_image(item, got, wants, limits["image"], options, skipped)
            elif kind == "video":
                target, steps, fixed, unsafe = _plan_video(item, got, wants, clip_of.get(item.pointer),
                                                           limits["video"], options, skipped)
            elif kind == "audio":
                target, steps, fixed, unsafe = _plan_audio(item, got, wants, clip_of.get(item.pointer),
                                                           limits["audio"], options)
        if target is None:
            skipped.extend(Skipped(item.pointer, f.rule, f"no automatic fix: {f.message}")
                           for f in rejudge.get(item.pointer, []))
        output = _output_name(names, item, source, local, got, target)
        jobs.append(MediaJob(pointer=item.pointer, value_pointer=item.value_pointer or "", kind=kind, source=source,
                             output=output, target=target, steps=tuple(steps),
                             rules=tuple(dict.fromkeys(fixed)), unsafe=unsafe))
    return jobs, skipped
