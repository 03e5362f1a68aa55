"""Judge a create request the way the provider would, with the project's own rule sets.

The body goes through ``prep.lint.Checker`` under the endpoint's profile; the first error-level finding
becomes the provider's 400, as Ark reports one invalid parameter at a time. Before that, a model the
profile does not know is a 404 (``InvalidEndpointOrModel.NotFound``) and a local file path where a URL
belongs is a 400: the API cannot read the caller's disk (and the emulator must not read its own).
Remote URLs are never fetched; ``data:`` URLs are inspected as ``check`` inspects them. A top-level
parameter set to null counts as absent, as the APIs read it.
"""

from __future__ import annotations

import json
import re
import threading
from typing import NamedTuple

from ..dialects import parse
from ..document import parse_json
from ..lint import Checker
from ..model import Request
from ..ruleset import RuleBook
from .shapes import param_of

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MEDIA = ("image", "video", "audio")


class Rejection(NamedTuple):
    status: int
    code: str
    message: str
    param: str | None = None


class Accepted(NamedTuple):
    request: Request
    estimate: dict


class Validator:
    """One checker per profile, made on first use and shared by every request thread (checking
    reads the checker's caches and writes nothing that two threads could tear)."""

    def __init__(self, book: RuleBook):
        self.book = book
        self._checkers: dict[str, Checker] = {}
        self._limits: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def checker(self, profile: str) -> Checker:
        with self._lock:
            checker = self._checkers.get(profile)
            if checker is None:
                checker = self._checkers[profile] = Checker(self.book, profile=profile, locate_findings=False)
            return checker

    def body_limit(self, profile: str) -> int | None:
        """The body-size limit of ``profile`` in bytes (its ``request.body-size`` rule), if any."""
        if profile not in self._limits:
            rule = self.book.get(profile).rule("request.body-size")
            limit = (rule.options or {}).get("max_bytes") if rule else None
            self._limits[profile] = int(limit) if limit else None
        return self._limits[profile]

    def judge(self, profile: str, body: bytes) -> Rejection | Accepted:
        """Accept ``body`` as a create request of ``profile``, or say how the provider refuses it."""
        data = self.book.profile_data(profile)
        document = parse_json(body)[0]
        if isinstance(document, dict) and None in document.values():
            # The APIs read a null parameter as an absent one, and the official Ark SDK sends null for
            # every parameter it was not given: judge the body without them.
            document = {key: value for key, value in document.items() if value is not None}
            body = json.dumps(document, ensure_ascii=False).encode()
        if isinstance(document, dict):
            model = document.get("model")
            models = data.get("models", {})
            if isinstance(model, str) and model and model not in models:
                return Rejection(404, "InvalidEndpointOrModel.NotFound",
                                 f"The model or endpoint {model} does not exist or you do not have access to it.",
                                 "model")
            for item in parse(document, data.get("dialect", "content")).items:
                url = item.url
                if item.kind in _MEDIA and isinstance(url, str) and url.strip() and not _SCHEME.match(url.strip()):
                    return Rejection(400, "InvalidParameter",
                                     f"{item.kind} {url!r} is a local path, not a URL the API can fetch; "
                                     f"`seedance-prep build` inlines local media", param_of(item.value_pointer or item.pointer))
        seen = self.checker(profile).analyse(body, "<request>")
        for finding in seen.findings:
            if finding.severity == "error":
                code = "MissingParameter" if finding.actual is None and "missing" in finding.message else "InvalidParameter"
                return Rejection(400, code, finding.message, param_of(finding.pointer))
        assert seen.request is not None  # a body with no error parsed into a request
        return Accepted(seen.request, seen.estimate or {})
