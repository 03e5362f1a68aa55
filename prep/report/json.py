"""The JSON document of SPEC §5: ``{"version": 1, "results": [...], "summary": {...}}``."""

from __future__ import annotations

import json


def document(results, errors) -> dict:
    out = []
    for r in results:
        out.append({
            "path": r.path,
            "profile": r.profile,
            "mode": r.mode,
            "findings": [f.as_dict() for f in r.findings],
            "estimate": r.estimate,
        })
    n_err = sum(1 for r in results for f in r.findings if f.severity == "error")
    n_warn = sum(1 for r in results for f in r.findings if f.severity == "warning")
    doc = {"version": 1, "results": out, "summary": {"files": len(results), "errors": n_err, "warnings": n_warn}}
    if errors:
        doc["errors"] = [{"path": e.path, "message": e.message} for e in errors]
        doc["summary"]["unreadable"] = len(errors)
    return doc


def render(results, errors, *, pretty: bool = True, **_) -> str:
    """Indented for people; compact (and several times faster to write) for programs."""
    if pretty:
        return json.dumps(document(results, errors), ensure_ascii=False, indent=2) + "\n"
    return json.dumps(document(results, errors), ensure_ascii=False, separators=(",", ":")) + "\n"
