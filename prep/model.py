"""The plain data every step of seedance-prep passes along: requests, media facts, rules, findings.

Everything here is a frozen record with no behaviour beyond small derived properties, so the pure
steps (parse, evaluate, render) are easy to test and to compare. Records are written like frozen
dataclasses but built on named tuples: importing ``dataclasses`` and generating its classes costs
more start-up time than a whole check of a request (see bench/).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # true for type checkers only: importing typing costs start-up time (bench/)
if TYPE_CHECKING:  # type checkers see records as the frozen dataclasses and named tuples they are
    from collections.abc import Iterator
    from typing import Any, ClassVar, Self, TypeVar, dataclass_transform

    _T = TypeVar("_T")

    @dataclass_transform(frozen_default=True)
    def record(cls: type[_T]) -> type[_T]: ...

    class Record:
        """What every record also is at run time: a named tuple."""

        _fields: ClassVar[tuple[str, ...]]

        def _replace(self, **changes: Any) -> Self: ...
        def _asdict(self) -> dict[str, Any]: ...
        def __iter__(self) -> Iterator[Any]: ...
        def __getitem__(self, index: Any) -> Any: ...
        def __len__(self) -> int: ...

else:

    def record(cls):
        return _record(cls)

    class Record:
        """Base class of records for type checkers; :func:`record` builds the real class."""

        __slots__ = ()


def _record(cls):
    """Turn an annotated class into a frozen record: a named tuple with the class's fields (in
    order, with their defaults), docstring and methods. Records equal only records of their own type."""
    own = cls.__dict__
    names = list(own.get("__annotations__", {}))
    defaults = [own[n] for n in names if n in own]
    base = namedtuple(cls.__name__, names, defaults=defaults, module=cls.__module__)
    body = {k: v for k, v in own.items() if k not in names and k not in ("__dict__", "__weakref__")}
    body["__slots__"] = ()
    body.setdefault("__eq__", _same_record)
    body.setdefault("__ne__", lambda self, other: not self == other)
    body.setdefault("__hash__", tuple.__hash__)
    return type(cls.__name__, (base,), body)


def _same_record(self, other) -> bool:
    return type(other) is type(self) and tuple.__eq__(self, other)

# Item types of the canonical content array, and the media kind each one carries.
ITEM_KINDS = {"text": "text", "image_url": "image", "video_url": "video", "audio_url": "audio"}
MEDIA_TYPES = ("image_url", "video_url", "audio_url")

SEVERITY_RANK = {"off": 0, "warning": 1, "error": 2}

MODES = ("text_to_video", "first_frame", "first_last_frame", "multimodal_reference", "draft_to_final")


class PrepError(Exception):
    """A problem the user can cause and fix (bad flag, unknown profile, broken rule file...).

    The CLI prints it as one line and exits 2.
    """

    exit_code = 2


@record
class Param(Record):
    """One top-level parameter occurrence, as written.

    ``name`` is the canonical (content-array) name, ``key`` the dotted key as written in the dialect
    (``seconds``, ``extra_body.seed``, ``metadata.duration``) and ``pointer`` its RFC 6901 location.
    """

    name: str
    value: object
    key: str
    pointer: str


@record
class Item(Record):
    """One entry of the canonical content array.

    ``type`` is the item type as written (``None`` when missing or not a string); ``payload_ok`` says
    whether the payload object the type calls for is present and well formed. ``role_pointer`` and
    ``value_pointer`` say where the role and the URL (or text) were written (for flat dialects both point at the
    string that carries the URL, since the field name implies the role).
    """

    type: str | None
    pointer: str
    role: object = None
    text: str | None = None
    url: str | None = None
    value_pointer: str | None = None
    role_pointer: str | None = None
    role_implied: bool = False
    payload_ok: bool = True
    problem: str | None = None
    payload: object = None  # for item types without a URL or text (draft_task): the object its type names

    @property
    def kind(self) -> str | None:
        """``text``, ``image``, ``video``, ``audio``, or None for an unknown type."""
        return ITEM_KINDS.get(self.type)  # type: ignore[arg-type]


@record
class Request(Record):
    """A request in canonical form: parameters and content items, each with its source pointer.

    ``dialect`` is the shape it was parsed from; ``document`` the parsed JSON object as written.
    """

    dialect: str
    params: tuple[Param, ...]
    items: tuple[Item, ...]
    document: dict | None = None

    def __eq__(self, other) -> bool:  # the document as written is not part of the canonical request
        return type(other) is Request and self[:3] == other[:3]

    __hash__ = None  # type: ignore[assignment]  # unhashable, as its document is

    def param(self, name: str) -> Param | None:
        """The first occurrence of canonical parameter ``name`` (top level before nested)."""
        for p in self.params:
            if p.name == name:
                return p
        return None

    def value(self, name: str, default: object = None) -> object:
        p = self.param(name)
        return default if p is None else p.value


@record
class MediaFacts(Record):
    """What the inspector learned about one media file, from its content (never its extension).

    ``kind`` is ``image``, ``video`` or ``audio`` (None when the content is not recognised);
    ``format`` the container or image format in lower case (``jpeg``, ``png``, ``mp4``, ``mov``,
    ``wav``, ``mp3``...); ``codec`` and ``audio_codec`` use ffmpeg's codec names (``h264``, ``hevc``,
    ``aac``, ``mp3``, ``pcm``...); ``problem`` is set when the file is empty, truncated or not decodable.
    Fields are added before ``unjudged`` (the facts cache keeps ``source`` last).
    """

    kind: str | None
    format: str | None
    bytes: int
    codec: str | None = None  # the video codec; for audio-only files, the audio codec
    audio_codec: str | None = None  # the first audio track's codec, in any kind of file
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    variable_fps: bool = False
    sample_rate: int | None = None
    channels: int | None = None
    has_video: bool = False
    has_audio: bool = False
    rotation: int = 0
    frames: int | None = None
    problem: str | None = None
    # Images, from the header: "rgb", "rgba", "gray", "graya", "cmyk", "ycck" (a JPEG's Adobe YCCK, decoded
    # as CMYK), "palette", "palette+alpha", "lab"; None when not read (other formats, video, audio).
    color_mode: str | None = None
    animated: bool = False  # more than one frame: GIF, APNG, animated WebP
    # Why facts a parser would normally give are missing though the file may be fine (the fallback
    # reader is not installed, or ran out of time or memory): the rules say they could not judge.
    unjudged: str | None = None
    source: str | None = None


@record
class MediaMissing(Record):
    """Media a request points at that could not be reached: a local path that is not a readable
    file, or (with --remote) a URL that did not answer. ``status`` is the HTTP status when there was
    one; ``network`` says no server answered at all."""

    reason: str
    source: str
    status: int | None = None
    network: bool = False  # no answer at all (DNS, connection, timeout): the environment, maybe not the request


@record
class Rule(Record):
    """One declarative rule as loaded from ``rules/*.toml``, after ``extends`` is resolved."""

    id: str
    name: str
    severity: str
    check: str
    message: str
    summary: str
    options: dict | None = None
    scope: str = "request"
    fixable: bool = False
    fix: str = ""
    why: str = ""
    example_fail: str = ""
    example_pass: str = ""
    when: dict | None = None  # the rule applies only when this holds ({param, in, absent} and/or {mode})
    unless: dict | None = None  # ... and not when this holds


@record
class Finding(Record):
    """One thing wrong with a request: which rule, where (RFC 6901 pointer), and what was expected."""

    rule: str
    severity: str
    pointer: str
    message: str
    expected: object = None
    actual: object = None
    fixable: bool = False
    line: int | None = None
    column: int | None = None

    def as_dict(self) -> dict:
        """The finding as the JSON output writes it (``line``/``column`` are null when not located)."""
        return dict(zip(self._fields, self))


@record
class Result(Record):
    """The outcome of checking one request file."""

    path: str
    profile: str | None
    mode: str | None
    findings: tuple[Finding, ...]
    estimate: dict | None = None
    family: str | None = None
    remote_skipped: int = 0  # media behind http(s) URLs not inspected (no --remote)
    skipped: str | None = None  # why the file was not checked (--skip-non-requests), else None
