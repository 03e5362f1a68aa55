"""The limits of the rule set as the planner reads them: each rule through its check kind and options
(a side range, a ratio range, a size limit, formats, codecs, a budget), judged as :mod:`prep.checks.media`
judges them."""

from __future__ import annotations

import math

from ..checks.media import _matches
from ..model import MediaFacts, Rule

_GEOMETRY = frozenset({"width", "height", "aspect", "pixels"})
_CATEGORY = {"width": "geometry", "height": "geometry", "aspect": "aspect", "pixels": "geometry",
             "bytes": "bytes", "duration_s": "duration", "fps": "fps"}
_HANDLED = {"image": _GEOMETRY | {"bytes"}, "video": _GEOMETRY | {"bytes", "duration_s", "fps"},
            "audio": frozenset({"bytes", "duration_s"})}



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
