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


class Progress:
    """What ``fix`` shows on stderr while media jobs run.

    ``tty``: one updating line per running job (its file, ffmpeg's percent, what is done to it), redrawn in
    place with two ANSI sequences (cursor up N lines, clear to the end); a finished job leaves one line above
    them, with 100%. ``plain`` (not a terminal, e.g. CI logs): a line when a job starts and one when it ends,
    nothing in between. Redraws are at most ten a second; the live lines are cleared by :meth:`close`.
    """

    def __init__(self, stream, *, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.running: dict[int, list] = {}  # id → [name, what, percent or None, start time]
        self._drawn = 0  # live lines on screen
        self._last = 0.0

    @classmethod
    def for_stream(cls, stream, *, quiet: bool = False) -> Progress | None:
        """The display for ``stream`` (None with -q)."""
        if quiet:
            return None
        try:
            tty = bool(stream.isatty())
        except (AttributeError, ValueError, OSError):
            tty = False
        return cls(stream, tty=tty)

    def start(self, job_id: int, name: str, what: str) -> None:
        import time

        self.running[job_id] = [name, what, None, time.monotonic()]
        if self.tty:
            self._render(force=True)
        else:
            self._write(f"fixing {name}: {what}\n")

    def update(self, job_id: int, done_s: float, total_s: float | None) -> None:
        entry = self.running.get(job_id)
        if entry is None or not total_s or total_s <= 0:
            return
        entry[2] = max(0, min(100, int(100 * done_s / total_s)))
        if self.tty:
            self._render()

    def finish(self, job_id: int, *, cached: bool = False) -> None:
        import time

        entry = self.running.pop(job_id, None)
        if entry is None:
            return
        name, what, _, t0 = entry
        how = "from the cache" if cached else f"{time.monotonic() - t0:.1f} s"
        if self.tty:
            self._clear()
            self._write(self._fit(f"  {name} 100%  {what} ({how})") + "\n")
            self._render(force=True)
        else:
            self._write(f"done {name} ({how})\n")

    def close(self) -> None:
        if self.tty:
            self._clear()

    def _fit(self, line: str) -> str:
        import shutil

        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        return line if len(line) <= width else line[: width - 1] + "…"

    def _clear(self) -> None:
        if self._drawn:
            self._write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _render(self, *, force: bool = False) -> None:
        import time

        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        lines = [self._fit(f"  {name} " + (f"{pct:3d}%" if pct is not None else "   …") + f"  {what}")
                 for name, what, pct, _ in self.running.values()]
        self._clear()
        if lines:
            self._write("".join(line + "\n" for line in lines))
        self._drawn = len(lines)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError, AttributeError):  # a closed or missing stderr: no display, no error
            pass
