"""When to retry and how long to wait: pure functions, so the policy is tested without a network.

The policy is openai-python's: capped exponential backoff with jitter, and a server's ``Retry-After``
(seconds or an HTTP date; ``retry-after-ms`` too) honoured up to a cap. Jitter is "full" (a uniform
draw between 0 and the capped delay) so that many clients hit by the same failure spread out again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

INITIAL_DELAY = 0.5  # seconds before the first retry (before jitter)
MAX_DELAY = 8.0  # the backoff never waits longer than this between two tries
MAX_RETRY_AFTER = 60.0  # a server asking for a longer pause gets this much, then one more try


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms``, ``Retry-After`` in seconds or as an
    HTTP date, against ``now`` in unix seconds), or None when it did not ask or the value is unreadable."""
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if 0.0 <= value < float("inf"):
            return value
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # an HTTP date is GMT even when it forgets to say so
            from datetime import UTC

            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    return value if 0.0 <= value < float("inf") else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def backoff(attempt: int, rng: random.Random, *, initial: float = INITIAL_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first): uniform in [0, min(cap, initial·2^attempt)]."""
    ceiling = min(cap, initial * (2.0 ** min(attempt, 62)))
    return rng.uniform(0.0, ceiling)


def retry_delay(attempt: int, headers: Mapping[str, str] | None, rng: random.Random, now: float) -> float:
    """The wait before retry ``attempt``: the server's ``Retry-After`` (capped) when it gave one, else backoff."""
    asked = parse_retry_after(headers, now) if headers is not None else None
    if asked is not None:
        return min(asked, MAX_RETRY_AFTER)
    return backoff(attempt, rng)


def is_retryable_status(status_code: int) -> bool:
    """429 and every 5xx: the request may succeed if sent again (for a read; a create is judged apart)."""
    return status_code == 429 or status_code >= 500
