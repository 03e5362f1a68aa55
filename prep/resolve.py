"""Find and inspect the media a request points at: request items → facts, keyed by item pointer.

Local paths (relative ones from the request file's folder) and ``data:`` URLs are always inspected;
http(s) URLs only when ``remote`` is on; ``asset://`` ids never. Everything here is I/O; the engine
only ever sees the facts this returns.
"""

from __future__ import annotations

import os
import re

from .model import MediaFacts, MediaMissing, Request

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_MEDIA = ("image_url", "video_url", "audio_url")


def needs_inspection(request: Request, remote: bool) -> bool:
    """Whether any item points at something this module would inspect (cheap: no I/O, no imports)."""
    for item in request.items:
        if item.type in _MEDIA and isinstance(item.url, str) and item.url:
            kind = _kind(item.url)
            if kind in ("path", "data") or (remote and kind == "http"):
                return True
    return False


def _kind(url: str) -> str:
    m = _SCHEME.match(url)
    if m is None:
        return "path"
    scheme = m.group(1).lower()
    if scheme == "data":
        return "data"
    if scheme in ("http", "https"):
        return "http"
    return "other"


class MediaResolver:
    """Inspects request media with a facts cache for local files and (opt-in) bounded remote probes."""

    def __init__(self, *, remote: bool = False, allow_private_hosts: bool = False, cache: bool = True):
        self.remote = remote
        self.allow_private_hosts = allow_private_hosts
        self._cache = None
        self._use_cache = cache

    @property
    def cache(self):
        if self._cache is None and self._use_cache:
            from .facts_cache import FactsCache

            self._cache = FactsCache()
        return self._cache

    def close(self) -> None:
        """Write what the facts cache still holds in memory (a forked worker ends without atexit)."""
        if self._cache is not None:
            self._cache.close()

    def facts_for(self, request: Request, base_dir: os.PathLike) -> dict[str, MediaFacts | MediaMissing]:
        """Facts (or why there are none) for each inspectable media item, keyed by the item's pointer."""
        from pathlib import Path

        out: dict[str, MediaFacts | MediaMissing] = {}
        for item in request.items:
            url = item.url
            if item.type not in _MEDIA or not isinstance(url, str) or not url or url != url.strip():
                continue
            kind = _kind(url)
            if kind == "path":
                out[item.pointer] = self.local(base_dir / url if not os.path.isabs(url) else Path(url), url)
            elif kind == "data":
                facts = self.data_url(url)
                if facts is not None:
                    out[item.pointer] = facts
            elif kind == "http" and self.remote:
                out[item.pointer] = self.http(url)
        return out

    def local(self, path: os.PathLike, shown: str) -> MediaFacts | MediaMissing:
        """Facts of a local file (from the cache when unchanged), or why it cannot be read."""
        from .paths import describe_os_error

        try:
            if not path.is_file():
                reason = "is a directory" if path.is_dir() else "no such file"
                if path.exists() and not path.is_dir():
                    reason = "not a regular file"
                return MediaMissing(reason, shown)
            cache = self.cache
            if cache is not None:
                return cache.cached_inspect(path)
            from .inspect import inspect_path

            return inspect_path(path)
        except OSError as exc:
            return MediaMissing(describe_os_error(exc), shown)

    @staticmethod
    def data_url(url: str) -> MediaFacts | None:
        """Facts of an inline data: URL; None when its syntax is broken (url.data-uri says why)."""
        from .inspect import inspect_data_url

        try:
            return inspect_data_url(url)
        except ValueError:
            return None

    def http(self, url: str) -> MediaFacts | MediaMissing:
        """Facts of a remote URL, probed with timeouts and a byte cap; MediaMissing when it does not answer."""
        from .remote import RemoteRefused, RemoteTooLarge, RemoteUnreachable, inspect_url

        try:
            return inspect_url(url, allow_private_hosts=self.allow_private_hosts)
        except RemoteUnreachable as exc:
            return MediaMissing(str(exc), url, exc.status, network=exc.status is None)
        except RemoteRefused as exc:
            return MediaMissing(str(exc), url)
        except RemoteTooLarge as exc:
            return MediaFacts(kind=None, format=None, bytes=exc.received, problem=str(exc), source=url)
