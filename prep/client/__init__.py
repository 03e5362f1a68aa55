"""A thin, typed httpx client for the Seedance task APIs of every profile.

``Client(profile)`` holds the API base URL, key, timeout and retries; ``client.tasks`` creates,
gets, lists, cancels and waits for tasks; ``client.download`` fetches a result. Each profile's
endpoints, status names and result fields come from its rules file (``[profile.api]``).

Names are loaded on first use: ``import prep.client`` (or a light module of it, such as the
journal) does not import httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .body import Body, JSONBody
    from .client import Client
    from .errors import (
        AccessDeniedError,
        AmbiguousCreateError,
        APIError,
        AuthError,
        ContentPolicyError,
        DownloadError,
        InvalidParameterError,
        NetworkError,
        NotFoundError,
        QuotaError,
        RateLimitError,
        ServerError,
        WaitTimeout,
    )
    from .task import Task, TaskAPI
    from .wait import ProgressLine

_WHERE = {
    "Client": "client", "Body": "body", "JSONBody": "body", "Task": "task", "TaskAPI": "task",
    "ProgressLine": "wait", **{name: "errors" for name in (
        "APIError", "AuthError", "QuotaError", "AccessDeniedError", "NotFoundError", "RateLimitError",
        "InvalidParameterError", "ContentPolicyError", "ServerError", "NetworkError", "AmbiguousCreateError",
        "DownloadError", "WaitTimeout")},
}
__all__ = [
    "APIError", "AccessDeniedError", "AmbiguousCreateError", "AuthError", "Body", "Client", "ContentPolicyError",
    "DownloadError", "InvalidParameterError", "JSONBody", "NetworkError", "NotFoundError", "ProgressLine",
    "QuotaError", "RateLimitError", "ServerError", "Task", "TaskAPI", "WaitTimeout",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'prep.client' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
