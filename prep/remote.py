"""Opt-in inspection of media behind an http(s) URL, fetching only the bytes the probe needs.

The first request asks for ``Range: bytes=0-65535``; later reads (the ``moov`` box at the end of an
MP4, the last bytes of a JPEG) become further range requests for just those bytes. A hard byte cap
bounds everything fetched; a server that ignores ``Range`` is read from the start up to that cap.

Safety: only ``http``/``https``; redirects are followed by hand (at most :data:`MAX_REDIRECTS`), and
every host, first or redirected, is resolved and refused if any of its addresses is loopback,
private, link-local, multicast or otherwise not globally routable, unless ``allow_private_hosts``.
The connection then goes to the vetted address itself (TLS still checks the certificate against the
host name), so a DNS answer that changes between the check and the connect cannot slip through.

Failures are :class:`RemoteError` subclasses (all :class:`~prep.model.PrepError`): the URL is
refused (:class:`RemoteRefused`), cannot be reached or answers with an HTTP error
(:class:`RemoteUnreachable`, with ``status``), or the probe would need more than the byte cap
(:class:`RemoteTooLarge`). Bad media at a reachable URL is not an error: it gives facts with
``problem`` set, as for local files.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

from prep.model import MediaFacts, PrepError

__all__ = [
    "inspect_url",
    "RemoteError",
    "RemoteRefused",
    "RemoteUnreachable",
    "RemoteTooLarge",
    "MAX_REDIRECTS",
]

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_FIRST_BYTES = 64 * 1024
_BLOCK = 64 * 1024  # later range requests are rounded up to whole blocks
_REDIRECTS = (301, 302, 303, 307, 308)


class RemoteError(PrepError):
    """A remote URL could not be inspected; ``url`` is the URL as given."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class RemoteRefused(RemoteError):
    """The URL (or a redirect) is not one we fetch: bad scheme, or a private/loopback host."""


class RemoteUnreachable(RemoteError):
    """No usable answer: DNS, connection or timeout failure, too many redirects, or HTTP ``status``."""

    def __init__(self, message: str, url: str, status: int | None = None):
        super().__init__(message, url)
        self.status = status


class RemoteTooLarge(RemoteError):
    """The probe needed more than ``max_bytes``; ``received`` is how many bytes were fetched."""

    def __init__(self, message: str, url: str, received: int):
        super().__init__(message, url)
        self.received = received


def inspect_url(url: str, *, allow_private_hosts: bool = False, timeout: tuple[float, float] = (5.0, 15.0),
                max_bytes: int = DEFAULT_MAX_BYTES, total_timeout: float = 60.0,
                transport=None) -> MediaFacts:
    """Facts about the media at an http(s) ``url`` (``source`` is the URL as given).

    ``timeout`` is (connect, read) seconds per request; ``total_timeout`` bounds the whole probe;
    ``max_bytes`` bounds the bytes fetched. ``transport`` is an ``httpx`` transport (tests swap it).
    Raises :class:`RemoteRefused`, :class:`RemoteUnreachable` or :class:`RemoteTooLarge`.
    """
    try:
        import httpx
    except ImportError:
        raise PrepError("httpx is not installed: pip install httpx") from None
    from prep.inspect import inspect_reader

    connect, read = timeout
    client = httpx.Client(transport=transport, follow_redirects=False, trust_env=False,
                          timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
                          headers={"Accept-Encoding": "identity", "User-Agent": "seedance-prep"})
    with client:
        fetcher = _Fetcher(client, url, allow_private_hosts, max_bytes, time.monotonic() + total_timeout)
        try:
            fetcher.start()
            return inspect_reader(fetcher.read, fetcher.size, url)
        finally:
            fetcher.close()


class _Fetcher:
    """Serves ``read(offset, n)`` from range requests against one (redirect-resolved) URL."""

    def __init__(self, client, url: str, allow_private: bool, max_bytes: int, deadline: float):
        self.client = client
        self.original = url
        self.url = url
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.received = 0
        self.size = 0
        self.blocks: dict[int, bytes] = {}  # offset → bytes fetched there by range requests
        # For a server that ignores Range: the open response, read from byte 0 only as far as needed.
        self.stream = None
        self.chunks: Iterator[bytes] | None = None
        self.prefix = bytearray()

    # -- requests ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Follow redirects to the media, fetch its first bytes and learn its size."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(self.url, 0, _FIRST_BYTES - 1)
            status = response.status_code
            if status in _REDIRECTS:
                response.close()
                location = response.headers.get("location")
                if not location:
                    raise self._unreachable(f"HTTP {status} redirect without a Location", status)
                self.url = urljoin(self.url, location)
                continue
            keep_open = False
            try:
                keep_open = self._first(response)
            finally:
                if not keep_open:
                    response.close()
            return
        raise self._unreachable(f"too many redirects (more than {MAX_REDIRECTS})")

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def _first(self, response) -> bool:
        """Take the first answer; True when the response stays open for lazy reading."""
        status = response.status_code
        if status == 416:  # nothing at byte 0: an empty resource
            self.size = _total_from_content_range(response.headers.get("content-range")) or 0
            return False
        if status not in (200, 206):
            raise self._unreachable(f"HTTP status {status}", status)
        total = _total_from_content_range(response.headers.get("content-range"))
        if status == 206 and total is not None:
            self.blocks[0] = self._body(response, _FIRST_BYTES)
            self.size = total
            return False
        # The server ignored Range: read the body from the start, lazily, never past the cap.
        self.stream, self.chunks = response, response.iter_bytes()
        length = response.headers.get("content-length", "")
        if length.isdigit():
            self.size = int(length)
        else:  # no length: the size is known only at the end, which must come before the cap
            self._extend(self.max_bytes + 1)
            if len(self.prefix) > self.max_bytes:
                raise self._too_large("the response gives no length and is larger than the cap")
            self.size = len(self.prefix)
        return True

    def read(self, offset: int, n: int) -> bytes:
        """Bytes ``offset`` to ``offset + n`` (fewer at the end), fetching what is missing."""
        end = min(offset + n, self.size)
        if offset >= end:
            return b""
        if self.chunks is not None:
            if end > self.max_bytes:
                raise self._too_large(f"the server ignores range requests and the probe needs byte {end}")
            self._extend(end)
            return bytes(self.prefix[offset:end])
        out = bytearray()
        pos = offset
        while pos < end:
            hit = self._block_at(pos)
            if hit is None:
                following = min((o for o in self.blocks if o > pos), default=self.size)
                self._fetch(pos, end, min(self.size, max(end, pos + _BLOCK), following))
                continue
            b_off, data = hit
            take = data[pos - b_off : end - b_off]
            out += take
            pos += len(take)
        return bytes(out)

    def _block_at(self, pos: int) -> tuple[int, bytes] | None:
        for b_off, data in self.blocks.items():
            if b_off <= pos < b_off + len(data):
                return b_off, data
        return None

    def _fetch(self, start: int, needed_end: int, stop: int) -> None:
        room = self.max_bytes - self.received
        if min(needed_end, stop) - start > room:
            raise self._too_large(f"the probe needs bytes {start}-{needed_end}")
        stop = min(stop, start + room)
        response = self._send(self.url, start, stop - 1)
        try:
            if response.status_code != 206:
                raise self._unreachable(f"HTTP status {response.status_code} for a range request",
                                        response.status_code)
            got = _start_from_content_range(response.headers.get("content-range"))
            if got != start:
                raise self._unreachable(f"asked for bytes from {start}, got bytes from {got}")
            data = self._body(response, stop - start)
        finally:
            response.close()
        if not data:
            raise self._unreachable(f"server sent no bytes for the range starting at {start}")
        self.blocks[start] = data

    def _extend(self, upto: int) -> None:
        """Read the open response until ``prefix`` holds ``upto`` bytes or the body ends."""
        import httpx

        try:
            while len(self.prefix) < upto:
                chunk = next(self.chunks, None) if self.chunks is not None else None
                if chunk is None:
                    break
                self.prefix += chunk
                self.received += len(chunk)
                if time.monotonic() > self.deadline:
                    raise self._unreachable("timed out (total time limit reached while reading)")
        except httpx.TimeoutException:
            raise self._unreachable("timed out reading the response") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(f"connection failed while reading: {_reason(exc)}") from None

    def _send(self, url: str, first: int, last: int):
        """A streaming GET of bytes ``first``–``last`` of ``url``, after vetting where it points."""
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise RemoteRefused(f"refusing {parts.scheme or 'schemeless'} URL {_short(url)}: only http and https "
                                "are fetched", self.original)
        host = parts.hostname
        if not host:
            raise RemoteRefused(f"URL has no host: {_short(url)}", self.original)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise RemoteRefused(f"URL has an invalid port: {_short(url)}", self.original) from None
        address = self._vet(host, port)
        pinned = _with_host(parts, address, port)
        headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Range": f"bytes={first}-{last}"}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._unreachable("timed out (total time limit reached)")
        request = self.client.build_request("GET", pinned, headers=headers, extensions=extensions)
        try:
            response = self.client.send(request, stream=True)
        except httpx.TimeoutException:
            raise self._unreachable(f"timed out talking to {host}") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(f"cannot connect to {host}: {_reason(exc)}") from None
        return response

    def _body(self, response, limit: int) -> bytes:
        """Up to ``limit`` bytes of a range response, counted against the cap and the deadline."""
        import httpx

        out = bytearray()
        try:
            for chunk in response.iter_bytes():
                out += chunk
                if time.monotonic() > self.deadline:
                    raise self._unreachable("timed out (total time limit reached while reading)")
                if len(out) >= limit:
                    break
        except httpx.TimeoutException:
            raise self._unreachable("timed out reading the response") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(f"connection failed while reading: {_reason(exc)}") from None
        self.received += min(len(out), limit)
        return bytes(out[:limit])

    def _vet(self, host: str, port: int) -> str:
        """The address to connect to, after refusing non-public ones (unless allowed)."""
        try:
            infos = _resolve(host, port)
        except OSError as exc:
            raise self._unreachable(f"cannot resolve host {host}: {exc.strerror or exc}") from None
        if not infos:
            raise self._unreachable(f"host {host} has no addresses")
        if not self.allow_private:
            for address in infos:
                if not _is_public(address):
                    raise RemoteRefused(
                        f"refusing {host}: it resolves to {address}, a loopback/private/link-local/reserved "
                        "address (allow private hosts to fetch it)", self.original)
        return infos[0]

    # -- errors ------------------------------------------------------------------------------------

    def _unreachable(self, reason: str, status: int | None = None) -> RemoteUnreachable:
        return RemoteUnreachable(f"{_short(self.original)} is not reachable: {reason}", self.original, status)

    def _too_large(self, reason: str) -> RemoteTooLarge:
        return RemoteTooLarge(f"{_short(self.original)}: stopped at the {self.max_bytes}-byte cap ({reason})",
                              self.original, self.received)


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (IP literals resolve to themselves)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in seen:
            seen.append(address)
    return seen


def _is_public(address: str) -> bool:
    """True for globally routable unicast addresses (IPv4-mapped IPv6 is judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _with_host(parts, address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}:{port}{path}{query}"


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+|\*)(?:-(\d+))?/(\d+|\*)\s*$", re.I)


def _total_from_content_range(value: str | None) -> int | None:
    m = _CONTENT_RANGE.match(value or "")
    return int(m.group(3)) if m and m.group(3) != "*" else None


def _start_from_content_range(value: str | None) -> int | None:
    m = _CONTENT_RANGE.match(value or "")
    return int(m.group(1)) if m and m.group(1) != "*" else None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."
