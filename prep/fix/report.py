"""What ``fix`` prints: the plan and the outcome of each request, as text or as one JSON document."""

from __future__ import annotations

import json

from .model import MediaJob
from .run import FixResult, failing


def _job_line(job: MediaJob) -> str:
    what = "; ".join(job.steps) if job.target is not None else "copied (conforms)"
    rules = f" ({', '.join(job.rules)})" if job.rules else ""
    return f"  {_item(job.pointer)} {job.output}: {what}{rules}"


def _item(pointer: str) -> str:
    parts = pointer.strip("/").split("/")
    return f"{parts[0]}[{parts[1]}]" if len(parts) == 2 and parts[1].isdigit() else pointer or "request"


def text(results: list[FixResult], *, fail_on: str = "error", quiet: bool = False) -> str:
    lines: list[str] = []
    for r in results:
        plan = r.plan
        where = f" → {r.out}" if r.out else " (plan only; nothing written)"
        lines.append(f"{r.source}{where} (profile {plan.profile})")
        if not quiet:
            lines += [_job_line(j) for j in plan.jobs if j.target is not None or r.out]
            lines += [f"  {e.describe}" + (f" ({e.rule})" if e.rule else "") for e in plan.edits]
        lines += [f"  not fixed: {_item(s.pointer)}: {s.reason} ({s.rule})" for s in plan.skipped]
        if r.diff:
            lines.append(r.diff.rstrip("\n"))
        if r.out:
            bad = failing(r.remaining, fail_on)
            if not r.remaining:
                lines.append("  check: clean")
            else:
                lines.append(f"  check: {len(r.remaining)} finding(s) remain, {len(bad)} at or above {fail_on}:")
                lines += [f"    {f.rule} {f.pointer}: {f.message}" for f in r.remaining]
    return "\n".join(lines) + "\n"


def document(results: list[FixResult], *, fail_on: str = "error") -> str:
    out = []
    for r in results:
        plan = r.plan
        out.append({
            "path": r.source, "out": r.out or None, "profile": plan.profile,
            "plan": {
                "jobs": [{"pointer": j.pointer, "kind": j.kind, "output": j.output, "steps": list(j.steps),
                          "rules": list(j.rules), "unsafe": j.unsafe, "copy": j.target is None,
                          "target": _plain(j.target)} for j in plan.jobs],
                "edits": [{"op": e.op, "pointer": e.pointer, "describe": e.describe, "rule": e.rule,
                           "unsafe": e.unsafe} for e in plan.edits],
                "skipped": [{"pointer": s.pointer, "rule": s.rule, "reason": s.reason} for s in plan.skipped],
            },
            "before": [f.as_dict() for f in r.before],
            "remaining": [f.as_dict() for f in r.remaining] if r.out else None,
        })
    summary = {"requests": len(results),
               "clean": sum(1 for r in results if r.out and not failing(r.remaining, fail_on)),
               "jobs": sum(1 for r in results for j in r.plan.jobs if j.target is not None),
               "skipped": sum(len(r.plan.skipped) for r in results)}
    return json.dumps({"version": 1, "results": out, "summary": summary}, ensure_ascii=False, indent=2) + "\n"


def _plain(target):
    if target is None:
        return None
    return {name: (list(v) if isinstance(v, tuple) else v) for name, v in zip(target._fields, target)}
