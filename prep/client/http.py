"""The transport core: two httpx clients, retried reads, and a create sent exactly once per call.

The API client holds the key (``Authorization: Bearer …``) and the profile's headers, and is only
ever given paths under the API base URL, so the key cannot reach another host. Storage links (signed
result URLs) go through a second client that carries no key and no key-bearing header.

Reads (get, list, cancel, downloads) are retried on connect errors, timeouts, cut-off answers, 429
and 5xx. A create is never retried here: :meth:`Core.create_once` sends it once and says whether the
server provably did not take it (429, nothing sent) or whether it may have (see ``tasks.create``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from ..model import Record, record
from .body import Body
from .errors import APIError, NetworkError, error_from_response, scrub
from .retry import backoff, is_retryable_status, retry_delay

# Header names that carry a credential: never sent to a storage host, whatever the profile says.
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key", "api-key")


def short_url(url: httpx.URL | str) -> str:
    """A URL for messages: scheme, host and path only (a signed link's query is a credential too)."""
    u = httpx.URL(str(url))
    return f"{u.scheme}://{u.netloc.decode('ascii', 'replace')}{u.path}"


@record
class CreateOutcome(Record):
    """What one create attempt came to.

    ``kind`` is ``created`` (``data`` is the decoded answer), ``not_taken`` (429 or the connection
    never opened: safe to send again after ``delay``) or ``ambiguous`` (the request may have been taken:
    ``error`` says why). ``error`` is the exception to raise when no more attempts are allowed.
    """

    kind: str
    data: Any = None
    error: APIError | None = None
    delay: float = 0.0


class Core:
    """Sends requests for a :class:`~prep.client.Client`; see the module docstring for the rules it keeps."""

    def __init__(self, *, base_url: str, api_key: str | None, key_error: str, headers: Mapping[str, str],
                 timeout: float, max_retries: int, transport: httpx.BaseTransport | None,
                 sleep: Callable[[float], None], wall_clock: Callable[[], float], rng: random.Random) -> None:
        self.base_url = httpx.URL(base_url)
        self.max_retries = max(0, int(max_retries))
        self.sleep, self.wall_clock, self.rng = sleep, wall_clock, rng
        self._key = api_key
        self._key_error = key_error
        # The provider's clock minus ours, from the Date header of its last answer (None: none seen). A lost
        # create is looked for among tasks created since it was sent, on the provider's clock: a local clock
        # running ahead would otherwise rule out the very task it made, and send it a second time.
        self.server_offset: float | None = None
        self.secrets = tuple(s for s in (api_key,) if s)
        plain = {k: v for k, v in headers.items() if not self._bears_key(k, v)}
        api_headers = dict(headers)
        if api_key:
            api_headers["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Timeout(timeout)
        self.api = httpx.Client(base_url=self.base_url, headers=api_headers, timeout=limits, transport=transport,
                                follow_redirects=False)
        # Signed storage links: no key, no key-bearing header; redirects followed (httpx drops nothing we hold).
        self.storage = httpx.Client(headers=plain, timeout=limits, transport=transport, follow_redirects=True)

    def _bears_key(self, name: str, value: str) -> bool:
        return name.lower() in _CREDENTIAL_HEADERS or any(s in value for s in self.secrets if s)

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    def require_key(self) -> None:
        if not self._key:
            from ..model import PrepError

            raise PrepError(self._key_error)

    # ----------------------------------------------------------------------------------------------
    # Reads

    def read(self, method: str, path: str, *, params: Any = None, json_body: Any = None) -> Any:
        """The decoded JSON answer of an idempotent request to the API, retried per the module rules."""
        self.require_key()
        attempt = 0
        while True:
            try:
                resp = self.api.request(method, path, params=params, json=json_body)
            except httpx.RequestError as exc:
                if attempt >= self.max_retries or not transient(exc):
                    raise self.network_error(exc, self._what(method, path)) from None
                self.sleep(backoff(attempt, self.rng))
                attempt += 1
                continue
            self.observe(resp)
            if resp.status_code >= 400:
                if is_retryable_status(resp.status_code) and attempt < self.max_retries:
                    self.sleep(retry_delay(attempt, resp.headers, self.rng, self.wall_clock()))
                    attempt += 1
                    continue
                raise self.error_from(resp)
            if not resp.content.strip():
                return {}
            try:
                return resp.json()
            except ValueError:
                if attempt >= self.max_retries:
                    raise NetworkError(f"the answer to {self._what(method, path)} was not JSON (cut off?)",
                                       status_code=resp.status_code) from None
                self.sleep(backoff(attempt, self.rng))
                attempt += 1

    def observe(self, resp: httpx.Response) -> None:
        """Note the provider's clock from an answer's ``Date`` header (RFC 9110: every origin server with
        a clock sends it; one-second resolution)."""
        from email.utils import parsedate_to_datetime

        value = resp.headers.get("date")
        if not value:
            return
        try:
            server = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        self.server_offset = server - self.wall_clock()

    def _what(self, method: str, path: str) -> str:
        """``METHOD https://host/path`` of an API request, for messages."""
        return f"{method} {short_url(self.api.build_request(method, path).url)}"

    def error_from(self, resp: httpx.Response) -> APIError:
        return error_from_response(resp.status_code, resp.content, resp.headers, self.secrets)

    def network_error(self, exc: Exception, what: str) -> NetworkError:
        reason = type(exc).__name__
        detail = str(exc)
        text = f"{what}: {reason}" + (f" ({detail})" if detail and detail != reason else "")
        return NetworkError(scrub(text, self.secrets))

    # ----------------------------------------------------------------------------------------------
    # Create: one attempt, classified

    def create_once(self, method: str, path: str, body: Body) -> CreateOutcome:
        """Send a create once and say what became of it (see :class:`CreateOutcome`)."""
        self.require_key()
        headers = {"Content-Type": "application/json", "Content-Length": str(int(body.length))}
        # A small body already in memory goes in one piece; a streamed one chunk by chunk.
        data = getattr(body, "data", None)
        content = data if isinstance(data, bytes) and len(data) == body.length else body.iter_bytes()
        try:
            resp = self.api.request(method, path, content=content, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return CreateOutcome("not_taken", error=self.network_error(exc, self._what(method, path)))
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise self.network_error(exc, self._what(method, path)) from None
        except httpx.RequestError as exc:
            return CreateOutcome("ambiguous", error=self.network_error(exc, self._what(method, path)))
        if resp.status_code == 429:
            delay = retry_delay(0, resp.headers, self.rng, self.wall_clock())
            return CreateOutcome("not_taken", error=self.error_from(resp), delay=delay)
        if resp.status_code >= 500:
            delay = retry_delay(0, resp.headers, self.rng, self.wall_clock())
            return CreateOutcome("ambiguous", error=self.error_from(resp), delay=delay)
        if resp.status_code >= 400:
            raise self.error_from(resp)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return CreateOutcome("ambiguous", error=NetworkError(
                f"{self._what(method, path)}: the answer was cut off or not JSON", status_code=resp.status_code))
        return CreateOutcome("created", data=data)

    # ----------------------------------------------------------------------------------------------
    # Streams (downloads)

    def is_api_url(self, url: httpx.URL) -> bool:
        """True for a URL under the API base (same scheme, host, port and path prefix): the key may go there."""
        base = self.base_url
        prefix = base.path.rstrip("/") + "/"
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port) and \
            (url.path + "/").startswith(prefix)

    @contextmanager
    def stream(self, url: str, *, with_key: bool) -> Iterator[httpx.Response]:
        """A streamed GET; ``with_key`` only for a documented API path (the key goes nowhere else).

        A redirect from the API is followed without the key: a download endpoint redirects to storage.
        """
        target = httpx.URL(url)
        if with_key:
            self.require_key()
            if not self.is_api_url(target):
                raise ValueError("the key is only sent under the API base URL")
            with self.api.stream("GET", target) as resp:
                location = resp.headers.get("location") if resp.is_redirect else None
                if location is None:
                    yield resp
                    return
            target = target.join(location)
        with self.storage.stream("GET", target) as resp:
            yield resp


def transient(exc: Exception) -> bool:
    """A failure that may pass if the request is sent again (timeouts, resets, cut-off answers)."""
    return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError,
                            httpx.DecodingError))
