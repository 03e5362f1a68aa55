"""The JSON document of SPEC §5: ``{"version": 1, "results": [...], "summary": {...}}``."""

from __future__ import annotations

import json

from ..model import Result


def result_entry(r) -> dict:
    """One result as the document writes it."""
    return {"path": r.path, "profile": r.profile, "family": r.family, "mode": r.mode,
            "findings": [f.as_dict() for f in r.findings], "estimate": r.estimate}


def encode_results(results) -> str:
    """Compact JSON of the entries of ``results``, comma-separated (no brackets): what a worker
    process can write for its share, so the parent only joins strings."""
    return ",".join(json.dumps(result_entry(r), ensure_ascii=False, separators=(",", ":"))
                    for r in results if isinstance(r, Result))


def _summary(results, errors) -> dict:
    n_err = sum(1 for r in results for f in r.findings if f.severity == "error")
    n_warn = sum(1 for r in results for f in r.findings if f.severity == "warning")
    summary = {"files": len(results), "errors": n_err, "warnings": n_warn}
    if errors:
        summary["unreadable"] = len(errors)
    return summary


def document(results, errors) -> dict:
    doc = {"version": 1, "results": [result_entry(r) for r in results], "summary": _summary(results, errors)}
    if errors:
        doc["errors"] = [{"path": e.path, "message": e.message} for e in errors]
    return doc


def render(results, errors, *, pretty: bool = True, encoded: list[str] | None = None, **_) -> str:
    """Indented for people; compact (and several times faster to write) for programs. ``encoded``:
    the results already encoded by ``encode_results`` (in order), when workers did that part."""
    if pretty:
        return json.dumps(document(results, errors), ensure_ascii=False, indent=2) + "\n"
    if encoded is None:
        return json.dumps(document(results, errors), ensure_ascii=False, separators=(",", ":")) + "\n"
    tail = {"summary": _summary(results, errors)}
    if errors:
        tail["errors"] = [{"path": e.path, "message": e.message} for e in errors]
    rest = json.dumps(tail, ensure_ascii=False, separators=(",", ":"))
    return '{"version":1,"results":[' + ",".join(e for e in encoded if e) + "]," + rest[1:] + "\n"
