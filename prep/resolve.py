"""Find and inspect the media a request points at: request items → facts, keyed by item pointer.

Local paths (relative ones from the request file's folder) and ``data:`` URLs are always inspected;
http(s) URLs only when ``remote`` is on; ``asset://`` ids never. Everything here is I/O; the engine
only ever sees the facts this returns.
"""

from __future__ import annotations

import os
import re

from .model import MediaFacts, MediaMissing, Request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

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

    def __init__(self, *, remote: bool = False, allow_private_hosts: bool = False, cache: bool = True,
                 deep=None):
        self.remote = remote
        self.deep = deep  # a prep.deep.Deep: decode local files and data: URLs to confirm they are readable
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

    def facts_for(self, request: Request, base_dir: Path) -> dict[str, MediaFacts | MediaMissing]:
        """Facts (or why there are none) for each inspectable media item, keyed by the item's pointer."""
        from pathlib import Path

        out: dict[str, MediaFacts | MediaMissing] = {}
        local: list[tuple[str, Path]] = []  # for --deep: the items read from local files
        for item in request.items:
            url = item.url
            if item.type not in _MEDIA or not isinstance(url, str) or not url or url != url.strip():
                continue
            kind = _kind(url)
            if kind == "path":
                path = base_dir / url if not os.path.isabs(url) else Path(url)
                out[item.pointer] = self.local(path, url)
                local.append((item.pointer, path))
            elif kind == "data":
                facts = self.data_url(url)
                if facts is not None:
                    out[item.pointer] = self.deep_data_url(url, facts) if self.deep is not None else facts
            elif kind == "http" and self.remote:
                out[item.pointer] = self.http(url)
        if self.deep is not None:
            todo = [(pointer, path) for pointer, path in local if isinstance(out[pointer], MediaFacts)]
            checked = self.deep.check_many([(path, out[pointer]) for pointer, path in todo])
            out.update((pointer, facts) for (pointer, _), facts in zip(todo, checked))
        return out

    def deep_data_url(self, url: str, facts: MediaFacts) -> MediaFacts:
        """``facts`` of a data: URL after --deep decoded its content."""
        from .inspect import parse_data_url

        try:
            data = parse_data_url(url)[1]
        except ValueError:
            return facts
        return self.deep.check_bytes(data, facts)

    def local(self, path: Path, shown: str) -> MediaFacts | MediaMissing:
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
