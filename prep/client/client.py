"""``Client``: one object holding a profile's API base URL, key, timeout and retry budget.

Modelled on openai-python's client: resources as attributes (``client.tasks``), the transport
swappable (tests pass ``httpx.MockTransport``), the clock, sleep and randomness injectable so tests
never wait. Everything provider-specific comes from the profile's rules (``[profile.api]``).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from ..model import PrepError
from .http import Core
from .task import Task, TaskAPI
from .tasks import Tasks

if TYPE_CHECKING:
    import httpx

    from ..ruleset import RuleBook

BASE_URL_ENV = "SEEDANCE_PREP_BASE_URL"


class Client:
    """A client for one profile's task API.

    ``base_url`` is the argument, else ``$SEEDANCE_PREP_BASE_URL``, else the profile's ``api_base``.
    The key is ``api_key``, else the variable named by ``api_key_env``, else the profile's ``key_env``
    variable; it is sent only to the API base (never to a storage link) and appears in no message.
    ``notify(text)`` receives one-line notes for the user (a retried or adopted create).
    ``require_key=False`` builds a client without a key for previews (``preview_create``); a request
    then raises the missing-key error. ``wall_clock`` (unix time) dates lost creates and HTTP dates.
    """

    def __init__(self, profile: str = "ark", *, api_key: str | None = None, api_key_env: str | None = None,
                 base_url: str | None = None, timeout: float = 60.0, max_retries: int = 5,
                 transport: httpx.BaseTransport | None = None, book: RuleBook | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 notify: Callable[[str], None] | None = None, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, require_key: bool = True) -> None:
        if book is None:
            from ..ruleset import RuleBook

            book = RuleBook()
        data = book.profile_data(profile)
        self.profile = profile
        self.api = TaskAPI.from_profile(profile, data)
        self.base_url = _base_url(profile, base_url, data)
        self.key_env = api_key_env or data.get("key_env")
        key = (api_key or (os.environ.get(self.key_env) if self.key_env else None) or "").strip() or None
        if key is not None and any(c in key for c in "\r\n"):
            raise PrepError(f"the API key in {self.key_env or 'api_key'} spans several lines")
        missing = (f"no API key: set {self.key_env} (or name another variable with --api-key-env)"
                   if self.key_env else f"no API key: profile {profile} names no key variable; pass --api-key-env NAME")
        if key is None and require_key:
            raise PrepError(missing)
        headers = {str(k): str(v) for k, v in (data.get("headers") or {}).items()}
        headers.setdefault("User-Agent", f"seedance-prep/{_version()}")
        self.notify: Callable[[str], None] = notify or (lambda _text: None)
        self._core = Core(base_url=self.base_url, api_key=key, key_error=missing, headers=headers,
                          timeout=float(timeout), max_retries=max_retries, transport=transport, sleep=sleep,
                          wall_clock=wall_clock, rng=rng or random.Random())
        self.tasks = Tasks(self._core, self.api, self.notify, clock, sleep)

    @property
    def server_offset(self) -> float | None:
        """The provider's clock minus ours, from the Date header of its last answer (None before any)."""
        return self._core.server_offset

    @property
    def max_retries(self) -> int:
        return self._core.max_retries

    def download(self, task_or_id: Task | str, path: str | os.PathLike[str], *,
                 last_frame_path: str | os.PathLike[str] | None = None) -> str:
        """Download a succeeded task's video to ``path`` (a file, or a folder for ``<id>.<ext>``) and
        return the path written; ``last_frame_path`` writes the last frame too (see :mod:`.download`)."""
        from .download import download

        task = self.tasks.get(task_or_id) if isinstance(task_or_id, str) else task_or_id
        return download(self._core, self.api, self.tasks.get, task, path, last_frame_path=last_frame_path)

    def preview_create(self, body: Any) -> dict[str, Any]:
        """The create request as it would be sent, with the key redacted: method, url, headers and
        the body's length (``--dry-run`` prints it; nothing is sent)."""
        from .body import as_body

        sized = as_body(body)
        request = self._core.api.build_request(self.api.create.method, self.api.create.url_path())
        headers = {k: ("Bearer ***" if k.lower() == "authorization" else v) for k, v in request.headers.items()}
        headers.setdefault("authorization", "Bearer ***")
        headers.update({"content-type": "application/json", "content-length": str(sized.length)})
        return {"method": request.method, "url": str(request.url), "headers": headers, "content_length": sized.length}

    def close(self) -> None:
        """Close the connections (also done on leaving a ``with`` block)."""
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(profile={self.profile!r}, base_url={self.base_url!r})"


def _base_url(profile: str, given: str | None, data: dict[str, Any]) -> str:
    base = given or os.environ.get(BASE_URL_ENV) or data.get("api_base")
    if not base:
        raise PrepError(f"profile {profile} has no default API host: pass --base-url or set {BASE_URL_ENV}")
    base = str(base).strip()
    scheme, sep, rest = base.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        raise PrepError(f"the API base URL {base!r} is not an http(s) URL with a host")
    return base.rstrip("/")


def _version() -> str:
    from .. import __version__

    return __version__
