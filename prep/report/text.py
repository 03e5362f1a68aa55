"""The text report, for people: per file with findings a header (profile, family, mode, cost), then
``path:line:col: rule message`` lines, each with a help line (the fix, and the rule's page) and with
``show_source`` the source line and a caret under the value; then a one-line summary.
``quiet`` keeps only the finding lines; ``statistics`` replaces them with a count per rule."""

from __future__ import annotations

_RESET = "\033[0m"
_STYLE = {"error": "\033[1;31m", "warning": "\033[1;33m", "path": "\033[1m", "dim": "\033[2m", "caret": "\033[1;36m"}


def safe(text: str) -> str:
    """``text`` as strict UTF-8 can carry it: lone surrogates (from \\ud800 escapes, or file names that
    are not UTF-8) become visible escapes instead of an encoding error."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _counts(results) -> tuple[int, int]:
    errors = sum(1 for r in results for f in r.findings if f.severity == "error")
    warnings = sum(1 for r in results for f in r.findings if f.severity == "warning")
    return errors, warnings


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def header(r) -> str:
    """``profile ark, family seedance-2.0, mode first_frame, estimate 108,900 tokens``."""
    parts = [f"profile {r.profile}", f"family {r.family}", f"mode {r.mode or 'unknown'}"]
    if r.estimate and isinstance(r.estimate.get("tokens"), int):
        parts.append(f"estimate {r.estimate['tokens']:,} tokens")
    return ", ".join(parts)


def _value_width(line: str, start: int) -> int:
    """How many characters the JSON value (or key) starting at ``start`` spans on its line."""
    if start >= len(line):
        return 1
    if line[start] == '"':
        i = start + 1
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                return i + 1 - start
            i += 1
        return len(line) - start
    end = start
    while end < len(line) and line[end] not in ",}] \t":
        end += 1
    return max(1, end - start)


class _Sources:
    """Source lines of the files being reported, read once each (only with ``show_source``)."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str] | None] = {}

    def line(self, path: str, number: int) -> str | None:
        if path not in self._lines:
            try:
                with open(path, encoding="utf-8-sig", errors="replace") as fh:
                    self._lines[path] = fh.read().splitlines()
            except (OSError, ValueError):
                self._lines[path] = None  # stdin, or gone since it was checked
        lines = self._lines[path]
        return lines[number - 1] if lines and 0 < number <= len(lines) else None


def _excerpt(sources: _Sources, path: str, f, paint) -> list[str]:
    if not f.line:
        return []
    text = sources.line(path, f.line)
    if text is None:
        return []
    text = safe(text.expandtabs(1))
    if len(text) > 200:  # a minified file: show the neighbourhood of the column only
        lo = max(0, (f.column or 1) - 80)
        text, column = "…" + text[lo:lo + 160] + "…", (f.column or 1) - lo + 1
    else:
        column = f.column or 1
    gutter = " " * len(str(f.line))
    at = column - 1
    if text[at:at + 1] == '"':  # a key: put the caret under its value
        after = at + _value_width(text, at)
        rest = text[after:].lstrip()
        if rest.startswith(":"):
            value = rest[1:].lstrip()
            if value:
                at = len(text) - len(value)
    column = at + 1
    width = _value_width(text, at)
    return [f"{gutter} |", f"{f.line} | {text}", f"{gutter} | {' ' * (column - 1)}{paint('caret', '^' * width)}"]


def _statistics(results, rules: dict) -> list[str]:
    counts: dict[str, list] = {}
    for r in results:
        for f in r.findings:
            entry = counts.setdefault(f.rule, [0, f.severity])
            entry[0] += 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    width = max((len(rid) for rid, _ in rows), default=0)
    lines = []
    for rid, (n, severity) in rows:
        rule = rules.get(rid)
        mark = "[fixable] " if rule is not None and rule.fixable else ""
        lines.append(f"{n:>6}  {rid:<{width}}  {severity:<7}  {mark}{rule.summary if rule else ''}".rstrip())
    return lines


def render(results, errors, *, color: bool = False, quiet: bool = False, rules=(), statistics: bool = False,
           show_source: bool = False, **_) -> str:
    def paint(style: str, text: str) -> str:
        return f"{_STYLE[style]}{text}{_RESET}" if color else text

    by_id: dict = {}
    for rule in rules:
        by_id.setdefault(rule.id, rule)
    checked = [r for r in results if not r.skipped]
    sources = _Sources() if show_source else None
    lines = []
    if statistics:
        lines += _statistics(checked, by_id)
    else:
        for r in checked:
            if not r.findings:
                continue
            path = safe(r.path)
            if not quiet:
                lines.append(paint("dim", f"{path}: {header(r)}"))
            for f in r.findings:
                where = paint("path", f"{path}:{f.line or 1}:{f.column or 1}:")
                lines.append(f"{where} {paint(f.severity, f.rule)} {safe(f.message)}")
                if quiet:
                    continue
                if sources is not None:
                    lines += ["  " + x for x in _excerpt(sources, r.path, f, paint)]
                rule = by_id.get(f.rule)
                fix = f"{rule.fix} " if rule is not None and rule.fixable and rule.fix else ""
                lines.append(paint("dim", f"  help: {fix}(seedance-prep rules {f.rule})" if fix else
                                   f"  help: seedance-prep rules {f.rule}"))
    if not quiet:
        n_err, n_warn = _counts(checked)
        files = len(checked)
        bad = sum(1 for r in checked if r.findings)
        if n_err or n_warn:
            parts = [_plural(n, word) for n, word in ((n_err, "error"), (n_warn, "warning")) if n]
            lines.append(f"Found {' and '.join(parts)} in {bad} of {_plural(files, 'file')}.")
        elif files:
            lines.append(f"All {_plural(files, 'file')} passed.")
        remote = sum(r.remote_skipped for r in checked)
        if remote:
            lines.append(f"{remote} remote media not inspected; use --remote to inspect http(s) URLs.")
        skipped = len(results) - len(checked)
        if skipped:
            lines.append(f"{_plural(skipped, 'file')} skipped: not Seedance requests.")
    return "\n".join(lines) + ("\n" if lines else "")
