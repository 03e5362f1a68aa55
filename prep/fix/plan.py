"""The media planner of ``fix``: request items, their media facts and the findings → one job per media item.

Pure and deterministic: no file is opened, no clock read. Every limit comes from the options of the profile's
rules (``rules/*.toml`` plus the user's ``--rules``), judged as :mod:`prep.checks.media` judges it, so that the
output of every job checks clean under the same rules; a ``--rules`` override moves the targets with it.

Each rule is read through its check kind and options, not its id: a ``fact_range`` rule on ``width``/``height``
of images is a side range, on ``aspect`` a ratio range, on ``bytes`` a size limit; ``fact_in`` on ``format``
the formats allowed; ``codec_in`` the codecs; ``fact_total`` a budget shared by the clips of a kind. Where a
range also has ``enforced_min``/``enforced_max`` the documented ``min``/``max`` are aimed at, so no warning
is left either. The limits are read in :mod:`.limits`, pictures sized in :mod:`.geometry`, clips timed and
budgets shared in :mod:`.durations`; this module turns them into one job per item.
"""

from __future__ import annotations

import math
import os
import re

from ..checks.media import impossible
from ..model import Finding, MediaFacts, MediaMissing, Request
from .durations import DURATION_MARGIN_S, _Clip, _plan_durations, share_budget, span
from .files import size_text
from .geometry import (
    _Geo,
    _geometry_steps,
    _range,
    _upright,
    _wxh,
    geometry,
    ratio_range,
)
from .limits import _Limits, _limits
from .model import AudioTarget, FixOptions, ImageTarget, MediaJob, Skipped, VideoTarget

__all__ = ["plan_media", "share_budget", "span", "DURATION_MARGIN_S"]  # the last three live in .durations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Item
    from ..ruleset import Profile



# What the executors write (ImageTarget.format values) and what they encode video and audio tracks to.
IMAGE_WRITABLE = ("jpeg", "png", "webp", "bmp", "tiff", "gif")
VIDEO_OUTPUT = ("mp4", "h264", "aac")  # container, video codec, audio codec of a full transcode
# Image formats that may carry alpha: converted to PNG (lossless, keeps it), others to JPEG.
_ALPHA_FORMATS = frozenset({"png", "webp", "gif", "tiff", "ico", "qoi", "sgi", "tga", "psd"})  # HEIC/AVIF: photos
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
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# ---------------------------------------------------------------------------------------------------
# Targets per kind


def _image_format(src: str | None, lim: _Limits, lossy: bool, color_mode: str | None = None) -> str | None:
    """The output format: the source's when allowed and writable (and, under a size limit it breaks, lossy);
    else PNG for a picture with alpha and JPEG for the rest (WebP/JPEG when it must be lossy). Alpha is the
    inspected colour mode's when known, else whether the format may carry it."""
    allowed = [f for f in IMAGE_WRITABLE if lim.format_ok(f) or not lim.formats]
    if src in allowed and (not lossy or src in _LOSSY_IMAGE):
        return src
    alpha = color_mode.endswith("a") if color_mode else src in _ALPHA_FORMATS  # rgba, graya, palette+alpha
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
    flatten = options.flatten and facts.animated
    if not need and not over_side and not flatten:
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
    fmt = _image_format(facts.format, lim, bool(need.get("bytes")), facts.color_mode)
    if fmt in _UNCOMPRESSED_IMAGE and raw_over:  # written uncompressed, it would not fit: a lossy format will
        fmt = _image_format(facts.format, lim, True, facts.color_mode)
    if fmt is None:
        skipped.extend(Skipped(item.pointer, r, "no image format the rules allow can be written")
                       for r in need.get("format", []))
        return None, [], [], False
    if fmt != facts.format:
        steps.append(f"convert {facts.format or 'unknown'} → {fmt}")
    if need.get("bytes") and max_bytes is not None:
        steps.append(f"re-encode under {size_text(max_bytes)}")
    if flatten:
        steps.append("flatten the animation to its first frame (--flatten)")
    if not steps:
        return None, [], [], False  # nothing it may change (a crop without --unsafe): copied as it is
    if facts.rotation:
        steps.insert(0, f"rotate {facts.rotation}° upright")
    target = ImageTarget(size=geo.size, scale_to=geo.scale_to, fit=geo.fit, fill=options.pad_color, format=fmt,
                         max_bytes=max_bytes, upscale=geo.scale_to[0] > size[0] or geo.scale_to[1] > size[1],
                         still=bool(flatten))
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
        steps.append(f"re-encode under {size_text(max_bytes)}")
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
        steps.append(f"re-encode under {size_text(max_bytes)}")
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
