"""One exception class per failure family, each a one-line message the CLI prints before exiting 2.

Modelled on openai-python's ``_exceptions``: :class:`APIError` carries the HTTP status, the
provider's error code and message and the request id; the subclasses let a caller catch a family
(``except QuotaError``) without parsing text. :func:`error_from_response` turns any provider error
body (Ark ``{"error": {"code", "message", "param", "type"}}``, OpenAI-style ``{"error": {"message",
"type", "code"}}``, a bare string, plain text) into one of them. No message ever holds the API key:
every text that reaches an exception goes through :func:`scrub` first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..model import PrepError

_MAX_MESSAGE = 300  # characters of provider text kept in a one-line message
# Headers that carry the provider's request id (OpenAI-style and Volcengine's log id).
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-tt-logid")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, at most a few hundred characters, with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


class APIError(PrepError):
    """The provider answered with an error, or could not be reached (``status_code`` is then ``None``)."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None,
                 param: str | None = None, request_id: str | None = None) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.param = param
        self.request_id = request_id
        super().__init__(self._line())

    def _line(self) -> str:
        head = " ".join(x for x in (f"HTTP {self.status_code}" if self.status_code else "", self.code or "") if x)
        text = f"{head}: {self.message}" if head else self.message
        if self.param and self.param not in self.message:
            text += f" (parameter {self.param})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class AuthError(APIError):
    """401: the key is missing, wrong or revoked."""


class QuotaError(APIError):
    """403 ``AccountOverdueError`` or 429 ``QuotaExceeded``: the account cannot pay for more work."""


class AccessDeniedError(APIError):
    """403 ``AccessDenied``: the key may not use this model or endpoint."""


class NotFoundError(APIError):
    """404: an unknown task, endpoint or model."""


class RateLimitError(APIError):
    """429 ``RateLimitExceeded.*``: too many requests or tokens per minute; retried by the client."""


class InvalidParameterError(APIError):
    """400 (and 422): the provider rejected the request; ``code``, ``message`` and ``param`` are its own."""


class ContentPolicyError(InvalidParameterError):
    """400 ``*SensitiveContentDetected*``: an input was blocked by the provider's content filter."""


class ServerError(APIError):
    """5xx: the provider failed; reads are retried, a create is recovered (never blindly re-sent)."""


class NetworkError(APIError):
    """The provider could not be reached or its answer was cut off (connect, read, protocol errors)."""


class AmbiguousCreateError(APIError):
    """A create may or may not have made a task, and the client could not tell which: nothing was re-sent.

    ``candidates`` lists the ids of recent tasks that match what was sent (empty when none could be listed).
    """

    def __init__(self, message: str, *, candidates: tuple[str, ...] = (), **kw: Any) -> None:
        self.candidates = candidates
        super().__init__(message, **kw)


class DownloadError(APIError):
    """The result could not be downloaded whole, or what came back is not a video (or an image)."""


class WaitTimeout(PrepError):
    """``wait`` gave up at its timeout; the task goes on at the provider. ``task`` is the last one seen."""

    def __init__(self, message: str, task: Any) -> None:
        self.task = task
        super().__init__(message)


# --------------------------------------------------------------------------------------------------
# Parsing an error answer


def parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    """``(code, message, param)`` from any provider error body; plain text becomes the message."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None, None, None
    try:
        data = json.loads(text)
    except ValueError:
        return None, text, None
    return parse_error_object(data) if isinstance(data, (dict, str)) else (None, text, None)


def parse_error_object(data: Any) -> tuple[str | None, str | None, str | None]:
    """``(code, message, param)`` from a decoded error: ``{"error": {...}}``, ``{"error": "..."}``, a
    bare ``{"code", "message"}``, or Volcengine OpenAPI's ``{"ResponseMetadata": {"Error": {...}}}``."""
    if isinstance(data, str):
        return None, data, None
    if not isinstance(data, Mapping):
        return None, None, None
    inner: Any = data.get("error", data)
    meta = data.get("ResponseMetadata")
    if isinstance(meta, Mapping) and isinstance(meta.get("Error"), Mapping):
        inner = meta["Error"]
    if isinstance(inner, str):
        return None, inner, None
    if not isinstance(inner, Mapping):
        return None, None, None
    code = _text(inner.get("code", inner.get("Code"))) or _text(inner.get("type"))
    message = _text(inner.get("message", inner.get("Message")))
    return code, message, _text(inner.get("param"))


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def error_class(status_code: int, code: str | None) -> type[APIError]:
    """The family of an error answer, from its HTTP status and the provider's code."""
    code = code or ""
    if status_code == 401:
        return AuthError
    if status_code == 403:
        return QuotaError if "Overdue" in code or "Quota" in code else AccessDeniedError
    if status_code == 404:
        return NotFoundError
    if status_code == 429:
        return QuotaError if code.startswith("QuotaExceeded") else RateLimitError
    if status_code in (400, 422):
        return ContentPolicyError if "SensitiveContentDetected" in code else InvalidParameterError
    if status_code >= 500:
        return ServerError
    return APIError


def error_from_response(status_code: int, body: bytes, headers: Mapping[str, str],
                        secrets: Iterable[str] = ()) -> APIError:
    """The exception for an error answer; every provider text in it is scrubbed of ``secrets``."""
    secrets = tuple(secrets)
    code, message, param = parse_error_body(body)
    request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
    cls = error_class(status_code, code)
    return cls(scrub(message or _reason(status_code), secrets), status_code=status_code,
               code=scrub(code, secrets) if code else None, param=scrub(param, secrets) if param else None,
               request_id=scrub(request_id, secrets) if request_id else None)


def _reason(status_code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase.lower() or "error"
    except ValueError:
        return "error"
