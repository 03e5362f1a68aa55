"""The JSON document of SPEC §5: ``{"version": 1, "results": [...], "summary": {...}}``.

Always strict JSON in strict UTF-8: no NaN or Infinity (a non-finite number becomes its text), and a
lone surrogate (a \\ud800 escape, a file name that is not UTF-8) is written as an escape.
"""

from __future__ import annotations

import json
import math

from ..model import Result


def result_entry(r) -> dict:
    """One result as the document writes it."""
    return {"path": r.path, "profile": r.profile, "family": r.family, "mode": r.mode,
            "findings": [f.as_dict() for f in r.findings], "estimate": r.estimate}


def _finite(value):
    """``value`` with every non-finite float replaced by its text (``"inf"``, ``"nan"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(doc, **options) -> str:
    """``json.dumps`` that never writes NaN/Infinity and whose text always encodes as UTF-8."""
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        text = json.dumps(_finite(doc), ensure_ascii=False, allow_nan=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let json escape them (\ud800)
        text = json.dumps(_finite(doc), ensure_ascii=True, allow_nan=False, **options)
    return text


def encode_results(results) -> str:
    """Compact JSON of the entries of ``results``, comma-separated (no brackets): what a worker
    process can write for its share, so the parent only joins strings."""
    return ",".join(dumps(result_entry(r), separators=(",", ":"))
                    for r in results if isinstance(r, Result) and not r.skipped)


def _summary(results, errors) -> dict:
    checked = [r for r in results if not r.skipped]
    n_err = sum(1 for r in checked for f in r.findings if f.severity == "error")
    n_warn = sum(1 for r in checked for f in r.findings if f.severity == "warning")
    summary = {"files": len(checked), "errors": n_err, "warnings": n_warn}
    if errors:
        summary["unreadable"] = len(errors)
    remote = sum(r.remote_skipped for r in checked)
    if remote:
        summary["remote_not_inspected"] = remote
    if len(checked) < len(results):
        summary["skipped"] = len(results) - len(checked)
    return summary


def document(results, errors) -> dict:
    doc = {"version": 1, "results": [result_entry(r) for r in results if not r.skipped],
           "summary": _summary(results, errors)}
    if errors:
        doc["errors"] = [{"path": e.path, "message": e.message} for e in errors]
    return doc


def render(results, errors, *, pretty: bool = True, encoded: list[str] | None = None, **_) -> str:
    """Indented (the default, whatever the number of files) or compact (``pretty=False``: several
    times faster to write). ``encoded``: the results already encoded by ``encode_results`` (in order),
    when workers did that part."""
    if pretty:
        return dumps(document(results, errors), indent=2) + "\n"
    if encoded is None:
        return dumps(document(results, errors), separators=(",", ":")) + "\n"
    tail: dict = {"summary": _summary(results, errors)}
    if errors:
        tail["errors"] = [{"path": e.path, "message": e.message} for e in errors]
    rest = dumps(tail, separators=(",", ":"))
    return '{"version":1,"results":[' + ",".join(e for e in encoded if e) + "]," + rest[1:] + "\n"
