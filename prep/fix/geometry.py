"""Picture geometry for ``fix``: the whole-pixel size (even sides for video) inside the side, pixel and
ratio limits, reached by resizing with the aspect kept and padding or cropping to the nearest ratio."""

from __future__ import annotations

import math

from ..model import MediaFacts
from .limits import _Bounds, _Limits

# How far a resize may move a picture's width/height ratio: whole pixels cannot keep it exactly.
ASPECT_TOLERANCE = 0.01



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
