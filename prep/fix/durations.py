"""Clip durations for ``fix``: each clip into its range, and a total budget shared across the clips of
a kind (proportionally, or the first clips first)."""

from __future__ import annotations

import math

from ..model import MediaFacts
from .limits import _Limits
from .model import FixOptions, Skipped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Item

# Aim this far inside a duration limit: a stream-copy cut ends on a packet boundary (an MP3 frame lasts 26 ms,
# an AAC frame 21–23 ms, a video frame up to 42 ms at 24 fps) and an encoder may add a frame, so an output
# aimed at the limit itself can land just past it. A total budget keeps this much per clip it changes.
DURATION_MARGIN_S = 0.1



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
