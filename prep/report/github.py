"""GitHub Actions workflow commands: ``::error file=…,line=…,col=…,title=rule::message``."""

from __future__ import annotations

from .text import safe


def _data(text: str) -> str:
    return safe(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(results, errors, **_) -> str:
    lines = []
    for r in results:
        for f in r.findings:
            lines.append(f"::{f.severity} file={_prop(r.path)},line={f.line or 1},col={f.column or 1},"
                         f"title={_prop(f.rule)}::{_data(f.message)}")
    for e in errors:
        lines.append(f"::error file={_prop(e.path)},title=unreadable::{_data(e.message)}")
    return "\n".join(lines) + ("\n" if lines else "")
