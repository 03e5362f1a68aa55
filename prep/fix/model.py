"""The data of a fix: what the planner decides (pure, from findings, facts and the rule set) and what the
executors carry out. Every record is plain and picklable, so jobs can run in other processes.

Flow (``prep.fix.run``): check the request (findings + media facts) → :func:`prep.fix.plan.plan_media`
gives one :class:`MediaJob` per media item (a target, or a plain copy) and the fixes it may not apply →
the executors (``prep.fix.images``, ``.video``, ``.audio``) write each output → the output URLs go into
the document → :func:`prep.fix.request.edit_request` reorders, renumbers, sets roles, coerces and drops
→ ``request.json`` is written → the output is inspected and checked again.

Geometry in targets is in *upright* pixels: the executor applies the source's rotation (EXIF orientation,
the MP4 display matrix) first, then scales to ``scale_to``, then pads or crops (centred) to ``size``.
"""

from __future__ import annotations

from ..model import Record, record

# Options of a fix run (the CLI flags); the planner reads nothing else from the outside world.


@record
class FixOptions(Record):
    unsafe: bool = False  # allow fixes that drop content: trim, crop, drop a parameter the user wrote
    aspect: str = "pad"  # "pad" | "crop": how an out-of-range aspect ratio is brought into range
    pad_color: str = "#000000"  # "#RRGGBB", or "blur" (the picture itself, blurred, behind it)
    trim: str = "proportional"  # "proportional" | "first": how a total-duration budget is shared
    max_side: int | None = None  # also scale images down to at most this many pixels on the long side
    extract: bool = False  # write fixed data: URL media as files instead of data: URLs
    flatten: bool = False  # write animated images as their first frame (only when asked: it drops frames)


@record
class ImageTarget(Record):
    size: tuple[int, int]  # the output's (width, height)
    scale_to: tuple[int, int]  # the upright source is resized to this first (== source size: no resize)
    fit: str = "none"  # "none" (scale_to == size) | "pad" | "crop": how scale_to becomes size, centred
    fill: str = "#000000"  # pad fill: "#RRGGBB" or "blur"
    format: str = "jpeg"  # output format: "jpeg" | "png" | "webp" | "bmp" | "tiff" | "gif"
    max_bytes: int | None = None  # the output must be smaller than this (re-encode harder until it is)
    upscale: bool = False  # scale_to is larger than the source (say so: upscaling adds no detail)
    still: bool = False  # write the first frame only, even where the format could keep the animation


@record
class VideoTarget(Record):
    remux_only: bool = False  # stream copy into MP4: only the container changes
    size: tuple[int, int] | None = None  # output (width, height), even; None: as the source (upright)
    scale_to: tuple[int, int] | None = None
    fit: str = "none"  # as ImageTarget.fit
    fill: str = "#000000"
    fps: float | None = None  # output frame rate; None: as the source
    start_s: float = 0.0  # trim: keep from here ...
    duration_s: float | None = None  # ... this long (None: to the end)
    audio: bool = True  # keep the audio track (when there is one)
    max_bytes: int | None = None  # output must be smaller: the video bitrate is budgeted from it


@record
class AudioTarget(Record):
    format: str = "mp3"  # "mp3" | "wav" (a valid WAV stays WAV)
    start_s: float = 0.0
    duration_s: float | None = None  # trim to this long (None: whole)
    pad_to_s: float | None = None  # pad with silence at the end up to this length
    max_bytes: int | None = None  # output must be smaller (lower the bitrate; a WAV becomes MP3)
    copy: bool = False  # no re-encode needed (a trim on frame boundaries, or nothing but a copy)


@record
class MediaJob(Record):
    """One media item's fix: ``target`` None means the file conforms and is copied byte for byte."""

    pointer: str  # the item's pointer in the request as written (e.g. "/content/2")
    value_pointer: str  # where its URL string is (what the runner rewrites)
    kind: str  # "image" | "video" | "audio"
    source: str  # absolute path of the input, or the data: URL itself
    output: str  # file name for the output, relative to the output's media folder (with the right suffix)
    target: ImageTarget | VideoTarget | AudioTarget | None = None
    steps: tuple[str, ...] = ()  # human-readable, e.g. ("pad 3000×600 → 3000×1200",)
    rules: tuple[str, ...] = ()  # the rule ids this job fixes
    unsafe: bool = False  # it drops content (trim, crop): only with FixOptions.unsafe


@record
class Skipped(Record):
    """A finding the plan leaves as it is, and why (not fixable, or it needs --unsafe)."""

    pointer: str
    rule: str
    reason: str  # e.g. "needs --unsafe: trim 20.0 s → 15.0 s"


@record
class RequestEdit(Record):
    """One change to the request document (not its media)."""

    op: str  # "reorder" | "renumber" | "set_role" | "coerce" | "drop" | "move" (a legacy field to its current one)
    pointer: str  # where, in the document before the edit
    describe: str  # human-readable, e.g. "@image3 → @image1"
    rule: str = ""  # the rule id it fixes
    unsafe: bool = False


@record
class Plan(Record):
    request_path: str
    profile: str
    jobs: tuple[MediaJob, ...] = ()
    edits: tuple[RequestEdit, ...] = ()
    skipped: tuple[Skipped, ...] = ()
