"""``path:line:col: rule message`` lines, then a one-line summary."""

from __future__ import annotations

_RESET = "\033[0m"
_STYLE = {"error": "\033[1;31m", "warning": "\033[1;33m", "path": "\033[1m", "dim": "\033[2m"}


def _counts(results) -> tuple[int, int]:
    errors = sum(1 for r in results for f in r.findings if f.severity == "error")
    warnings = sum(1 for r in results for f in r.findings if f.severity == "warning")
    return errors, warnings


def render(results, errors, *, color: bool = False, quiet: bool = False, **_) -> str:
    def paint(style: str, text: str) -> str:
        return f"{_STYLE[style]}{text}{_RESET}" if color else text

    lines = []
    for r in results:
        for f in r.findings:
            where = paint("path", f"{r.path}:{f.line or 1}:{f.column or 1}:")
            lines.append(f"{where} {paint(f.severity, f.rule)} {f.message}")
    if not quiet:
        n_err, n_warn = _counts(results)
        files = len(results)
        bad = sum(1 for r in results if r.findings)
        if n_err or n_warn:
            parts = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in ((n_err, "error"), (n_warn, "warning")) if n]
            lines.append(f"Found {' and '.join(parts)} in {bad} of {files} file{'' if files == 1 else 's'}.")
        elif files:
            lines.append(f"All {files} file{'' if files == 1 else 's'} passed.")
    return "\n".join(lines) + ("\n" if lines else "")
