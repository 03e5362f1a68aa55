"""Check a built request under its target profile without decoding the media it inlines again.

The built body can weigh hundreds of MB of base64. Checking it as bytes would parse all of it and
decode every data: URL to inspect what was inspected a moment ago. Instead the check runs on the
rendered document with a tiny distinct data: URL in place of each inlined file, and the resolver
answers those URLs with the facts already read from the files. The rules see the same media type,
kind and facts; only the body size differs, and :func:`prep.build.build` enforces that limit itself
from the exact length (bench/README.md, "build", has both timings).
"""

from __future__ import annotations

import os

from ..lint import Checker
from ..model import MediaFacts, MediaMissing, Request, Result
from ..ruleset import RuleBook


class _KnownFacts:
    """A media resolver that knows the facts of the placeholder URLs and asks the real one for the rest."""

    def __init__(self, real, known: dict[str, MediaFacts]) -> None:
        self.real, self.known = real, known

    def facts_for(self, request: Request, base_dir) -> dict[str, MediaFacts | MediaMissing]:
        out: dict[str, MediaFacts | MediaMissing] = {}
        rest = []
        for item in request.items:
            facts = self.known.get(item.url) if isinstance(item.url, str) else None
            if facts is not None:
                out[item.pointer] = facts
            else:
                rest.append(item)
        if rest:
            out.update(self.real.facts_for(request._replace(items=tuple(rest)), base_dir))
        return out

    def close(self) -> None:
        self.real.close()


class KnownFactsChecker(Checker):
    """A :class:`~prep.lint.Checker` for one profile whose media lookups of ``known`` URLs are answered
    from facts already in hand."""

    def __init__(self, book: RuleBook, profile: str, known: dict[str, MediaFacts]) -> None:
        super().__init__(book, profile=profile, estimate=True)
        self._known = known
        self._wrapped: _KnownFacts | None = None

    def resolver(self):
        if self._wrapped is None:
            self._wrapped = _KnownFacts(super().resolver(), self._known)
        return self._wrapped


def check_built(book: RuleBook, profile: str, probe: bytes, label: str, base_dir: str | os.PathLike,
                known: dict[str, MediaFacts]) -> Result:
    """The check result of the probe document (placeholder data: URLs) under ``profile``."""
    checker = KnownFactsChecker(book, profile, known)
    try:
        return checker.check_bytes(probe, label, base_dir)
    finally:
        checker.close()
