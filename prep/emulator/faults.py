"""Injected faults, drawn per request from a seeded generator, and the counters the emulator keeps.

Kinds (each API request gets at most one, with probability ``rate``):

- ``rate_limit``: 429 with ``Retry-After``, before anything is done;
- ``server_error``: 500, 502 or 503, before anything is done;
- ``reset_before``: the connection is reset before the request is processed;
- ``reset_after``: the request is processed (a create makes its task), then the connection is reset,
  so the client never hears the answer;
- ``slow``: the answer is delayed (under a second, times ``slow_factor``);
- ``truncated``: the answer promises more bytes (Content-Length) than it sends.

Downloads only get ``truncated``.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Iterable

from ..model import PrepError

KINDS = ("rate_limit", "server_error", "reset_before", "reset_after", "slow", "truncated")


class Faults:
    """Decides which requests go wrong, and how."""

    def __init__(self, rate: float = 0.0, kinds: Iterable[str] | None = None, seed: int | None = None):
        self.configure(rate, kinds)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.slow_factor = 1.0  # scales the delay of `slow` (tests set it small)
        self.retry_after = 1  # seconds, sent with every 429

    def configure(self, rate: float, kinds: Iterable[str] | None = None) -> None:
        """Set the fault rate (0–1) and the kinds to draw from (default: all)."""
        kinds = tuple(KINDS if kinds is None else kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise PrepError(f"unknown fault kind {', '.join(unknown) or '(none given)'}; known: {', '.join(KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise PrepError(f"fault rate {rate} is not between 0 and 1")
        self.rate, self.kinds = float(rate), kinds

    def draw(self) -> str | None:
        """The fault for one API request, or None."""
        if self.rate <= 0.0:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choice(self.kinds)

    def draw_download(self) -> bool:
        """Whether one download is truncated."""
        if self.rate <= 0.0 or "truncated" not in self.kinds:
            return False
        with self._lock:
            return self._rng.random() < self.rate

    def server_status(self) -> int:
        with self._lock:
            return self._rng.choice((500, 502, 503))

    def delay(self) -> float:
        """Seconds a ``slow`` answer waits."""
        with self._lock:
            return self._rng.uniform(0.1, 0.9) * self.slow_factor


class Stats:
    """Counters for tests and demos: requests, creations per profile, faults per kind, downloads,
    and what reached the storage URLs that should not have."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self._data: dict = {
            "requests": 0,  # API requests (control and storage requests not included)
            "creations": {},  # tasks created, per profile (a create that faulted before it ran is not one)
            "faults": {},  # faults injected, per kind
            "responses": {},  # API answers sent, per HTTP status
            "downloads": 0,  # complete result files served (storage links and /content)
            "storage_requests": 0,
            "storage_authorization": 0,  # storage requests carrying an Authorization header (refused)
            "storage_key_seen": 0,  # storage requests with the emulator's api_key anywhere in them
        }

    def add(self, name: str, key: str | None = None, n: int = 1) -> None:
        with self._lock:
            if key is None:
                self._data[name] += n
            else:
                table = self._data[name]
                table[key] = table.get(key, 0) + n

    def snapshot(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._data)
