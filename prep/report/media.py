"""The ``inspect`` report: one block of facts per media file, with the media findings under it."""

from __future__ import annotations


from .json import dumps
from .text import safe

_RESET = "\033[0m"
_STYLE = {"error": "\033[1;31m", "warning": "\033[1;33m", "path": "\033[1m"}


def describe(facts) -> str:
    """One line of facts: ``video mp4 h264 1280×720 24 fps 10.00 s, audio 44100 Hz 2 ch, 5.3 MB``."""
    parts = [facts.kind, facts.format] if facts.kind or facts.format else ["unrecognised content"]
    parts = [p for p in parts if p]
    if facts.codec and facts.codec != facts.format:  # "audio mp3", not "audio mp3 mp3"
        parts.append(facts.codec)
    if facts.width and facts.height:
        parts.append(f"{facts.width}×{facts.height}")
    if facts.rotation:
        parts.append(f"rotated {facts.rotation}°")
    if facts.fps:
        parts.append(f"{facts.fps:g} fps" + (" (variable)" if facts.variable_fps else ""))
    if facts.duration_s is not None:
        parts.append(f"{facts.duration_s:.2f} s")
    line = " ".join(parts)
    if facts.kind == "video":
        line += ", with audio" if facts.has_audio else ", no audio"
        if not facts.has_video:
            line += ", no video track"
    if facts.sample_rate:
        line += f", {facts.sample_rate} Hz"
    if facts.channels:
        line += f" {facts.channels} ch"
    return f"{line}, {_size(facts.bytes)}"


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("kB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def render(reports, errors, *, fmt: str = "text", color: bool = False, quiet: bool = False) -> str:
    if fmt == "json":
        doc = {"version": 1,
               "files": [{"path": r.path, "facts": {k: v for k, v in r.facts._asdict().items() if k != "source"},
                          "findings": [f.as_dict() for f in r.findings]} for r in reports],
               "summary": {"files": len(reports),
                           "errors": sum(1 for r in reports for f in r.findings if f.severity == "error"),
                           "warnings": sum(1 for r in reports for f in r.findings if f.severity == "warning")}}
        if errors:
            doc["errors"] = [{"path": e.path, "message": e.message} for e in errors]
        return dumps(doc, indent=2) + "\n"

    def paint(style: str, text: str) -> str:
        return f"{_STYLE[style]}{text}{_RESET}" if color else text

    lines = []
    for r in reports:
        lines.append(f"{paint('path', safe(r.path) + ':')} {describe(r.facts)}")
        if r.facts.problem and not any(f.rule == "media.unreadable" for f in r.findings):
            lines.append(f"  {r.facts.problem}")  # said once: the finding says it when a rule reports it
        for f in r.findings:
            message = f.message.removeprefix(f"{r.path}: ")
            lines.append(f"  {paint(f.severity, f.rule)} {safe(message)}")
    if not quiet and reports:
        bad = sum(1 for r in reports if r.findings)
        lines.append(f"{len(reports)} file{'' if len(reports) == 1 else 's'} inspected, "
                     f"{bad} with findings.")
    return "\n".join(lines) + ("\n" if lines else "")
