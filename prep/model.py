"""The plain data every step of seedance-prep passes along: requests, media facts, rules, findings.

Everything here is a frozen dataclass with no behaviour beyond small derived properties, so the pure
steps (parse, evaluate, render) are easy to test and to compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Item types of the canonical content array, and the media kind each one carries.
ITEM_KINDS = {"text": "text", "image_url": "image", "video_url": "video", "audio_url": "audio"}
MEDIA_TYPES = ("image_url", "video_url", "audio_url")

SEVERITIES = ("error", "warning")
SEVERITY_RANK = {"off": 0, "warning": 1, "error": 2}

MODES = ("text_to_video", "first_frame", "first_last_frame", "multimodal_reference")


class PrepError(Exception):
    """A problem the user can cause and fix (bad flag, unknown profile, broken rule file...).

    The CLI prints it as one line and exits 2.
    """

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Param:
    """One top-level parameter occurrence, as written.

    ``name`` is the canonical (content-array) name, ``key`` the dotted key as written in the dialect
    (``seconds``, ``extra_body.seed``, ``metadata.duration``) and ``pointer`` its RFC 6901 location.
    """

    name: str
    value: object
    key: str
    pointer: str


@dataclass(frozen=True, slots=True)
class Item:
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

    @property
    def kind(self) -> str | None:
        """``text``, ``image``, ``video``, ``audio``, or None for an unknown type."""
        return ITEM_KINDS.get(self.type)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Request:
    """A request in canonical form: parameters and content items, each with its source pointer.

    ``dialect`` is the shape it was parsed from; ``document`` the parsed JSON object as written.
    """

    dialect: str
    params: tuple[Param, ...]
    items: tuple[Item, ...]
    document: dict = field(compare=False, repr=False, hash=False)

    def param(self, name: str) -> Param | None:
        """The first occurrence of canonical parameter ``name`` (top level before nested)."""
        for p in self.params:
            if p.name == name:
                return p
        return None

    def value(self, name: str, default: object = None) -> object:
        p = self.param(name)
        return default if p is None else p.value


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What the inspector learned about one media file, from its content (never its extension).

    ``kind`` is ``image``, ``video`` or ``audio`` (None when the content is not recognised);
    ``format`` the container or image format in lower case (``jpeg``, ``png``, ``mp4``, ``mov``,
    ``wav``, ``mp3``...); ``problem`` is set when the file is empty, truncated or not decodable.
    """

    kind: str | None
    format: str | None
    bytes: int
    codec: str | None = None
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
    source: str | None = None


@dataclass(frozen=True, slots=True)
class MediaMissing:
    """Media a request points at that could not be reached: a local path that is not a readable
    file, or (with --remote) a URL that did not answer. ``status`` is the HTTP status when there was one."""

    reason: str
    source: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One declarative rule as loaded from ``rules/*.toml``, after ``extends`` is resolved."""

    id: str
    name: str
    severity: str
    check: str
    message: str
    summary: str
    options: dict = field(compare=False, hash=False)
    scope: str = "request"
    fixable: bool = False
    fix: str = ""
    why: str = ""
    example_fail: str = ""
    example_pass: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a request: which rule, where (RFC 6901 pointer), and what was expected."""

    rule: str
    severity: str
    pointer: str
    message: str
    expected: object = None
    actual: object = None
    fixable: bool = False
    line: int | None = field(default=None, compare=False)
    column: int | None = field(default=None, compare=False)

    def as_dict(self) -> dict:
        out = {
            "rule": self.rule,
            "severity": self.severity,
            "pointer": self.pointer,
            "message": self.message,
            "expected": self.expected,
            "actual": self.actual,
            "fixable": self.fixable,
        }
        if self.line is not None:
            out["line"], out["column"] = self.line, self.column
        return out


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of checking one request file."""

    path: str
    profile: str | None
    mode: str | None
    findings: tuple[Finding, ...]
    estimate: dict | None = None
    text: str | None = field(default=None, compare=False, repr=False)
