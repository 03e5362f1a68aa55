"""Reads are retried (connect errors, timeouts, cut-off answers, 429, 5xx) with capped, jittered
backoff that honours Retry-After; the pure policy functions hold their bounds for any input."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_client import Sleeps, make_client

from prep.client.errors import NetworkError, NotFoundError, RateLimitError, ServerError
from prep.client.retry import (
    MAX_DELAY,
    MAX_RETRY_AFTER,
    backoff,
    parse_retry_after,
    retry_delay,
)

TASK = {"id": "cgt-1", "status": "running"}


def script(*steps):
    """A handler answering each request with the next step: a Response, or an exception to raise."""
    steps = list(steps)

    def answer(request):
        step = steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return answer


def test_429_with_retry_after_is_honoured_then_the_read_succeeds():
    sleeps = Sleeps()
    client, rec = make_client("ark", script(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": "RateLimitExceeded.EndpointRPMExceeded",
                                                                        "message": "slow down"}}),
        httpx.Response(200, json=TASK)), sleeps=sleeps)
    assert client.tasks.get("cgt-1").status == "running"
    assert sleeps == [3.0] and len(rec.requests) == 2


def test_an_http_date_retry_after_is_counted_from_the_wall_clock():
    now = 1780732850.0
    when = format_datetime(datetime.fromtimestamp(now + 7, UTC), usegmt=True)
    sleeps = Sleeps()
    client, _ = make_client("ark", script(httpx.Response(503, headers={"Retry-After": when}),
                                          httpx.Response(200, json=TASK)), sleeps=sleeps, wall=lambda: now)
    client.tasks.get("cgt-1")
    assert sleeps == [pytest.approx(7.0)]


def test_a_huge_retry_after_is_capped():
    sleeps = Sleeps()
    client, _ = make_client("ark", script(httpx.Response(429, headers={"Retry-After": "86400"}),
                                          httpx.Response(200, json=TASK)), sleeps=sleeps)
    client.tasks.get("cgt-1")
    assert sleeps == [MAX_RETRY_AFTER]


def test_5xx_twice_then_success_backs_off_within_bounds():
    sleeps = Sleeps()
    client, rec = make_client("openai-videos", script(httpx.Response(500), httpx.Response(502, text="Bad gateway"),
                                                      httpx.Response(200, json={"id": "v", "status": "queued"})),
                              sleeps=sleeps)
    assert client.tasks.get("v").status == "queued"
    assert len(rec.requests) == 3 and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                 httpx.RemoteProtocolError("peer closed connection"), httpx.ReadError("reset")])
def test_transport_failures_on_a_read_are_retried(exc):
    client, rec = make_client("ark", script(exc, httpx.Response(200, json=TASK)))
    assert client.tasks.get("cgt-1").id == "cgt-1" and len(rec.requests) == 2


def test_a_cut_off_json_answer_is_read_again():
    client, rec = make_client("ark", script(httpx.Response(200, content=b'{"id": "cgt-1", "sta'),
                                            httpx.Response(200, json=TASK)))
    assert client.tasks.get("cgt-1").status == "running" and len(rec.requests) == 2


def test_retries_stop_at_max_retries_with_the_family_of_the_last_failure():
    sleeps = Sleeps()
    client, rec = make_client("ark", lambda r: httpx.Response(503, json={"error": {"message": "busy"}}),
                              sleeps=sleeps, max_retries=3)
    with pytest.raises(ServerError, match="HTTP 503: busy"):
        client.tasks.get("cgt-1")
    assert len(rec.requests) == 4 and len(sleeps) == 3
    client, rec = make_client("ark", script(*[httpx.ConnectError("refused")] * 3), max_retries=2)
    with pytest.raises(NetworkError, match="ConnectError") as err:
        client.tasks.get("cgt-1")
    assert err.value.status_code is None and len(rec.requests) == 3
    client, rec = make_client("ark", lambda r: httpx.Response(429, json={"error": {"code": "RateLimitExceeded.X"}}),
                              max_retries=1)
    with pytest.raises(RateLimitError):
        client.tasks.get("cgt-1")
    assert len(rec.requests) == 2


def test_client_errors_are_not_retried():
    client, rec = make_client("ark", lambda r: httpx.Response(404, json={"error": {"code": "NotFound", "message": "x"}}))
    with pytest.raises(NotFoundError):
        client.tasks.get("cgt-1")
    assert len(rec.requests) == 1


def test_cancel_and_list_are_retried_like_reads():
    client, rec = make_client("ark", script(httpx.Response(500), httpx.Response(200, json={}),
                                            httpx.ReadTimeout("slow"), httpx.Response(200, json={"items": [TASK]})))
    client.tasks.cancel("cgt-1")
    assert [t.id for t in client.tasks.list()] == ["cgt-1"]
    assert [r.method for r in rec.requests] == ["DELETE", "DELETE", "GET", "GET"]


# --------------------------------------------------------------------------------------------------
# The policy, for any input


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_seconds_are_read_as_given(seconds):
    assert parse_retry_after({"Retry-After": str(seconds)}, 0.0) == seconds
    assert parse_retry_after({"retry-after": f" {seconds} "}, 0.0) == seconds


@given(st.integers(min_value=0, max_value=10**5), st.floats(min_value=1e9, max_value=4e9))
def test_retry_after_dates_are_seconds_from_now(delta, now):
    when = format_datetime(datetime.fromtimestamp(int(now) + delta, UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": when}, float(int(now))) == pytest.approx(delta, abs=1.0)


@given(st.text(max_size=30))
def test_unreadable_retry_after_falls_back_to_backoff(text):
    value = parse_retry_after({"Retry-After": text}, 1e9)
    assert value is None or value >= 0
    delay = retry_delay(0, {"Retry-After": text}, random.Random(1), 1e9)
    assert 0 <= delay <= MAX_RETRY_AFTER


def test_retry_after_ms_and_past_dates():
    assert parse_retry_after({"retry-after-ms": "250"}, 0) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 2e9) == 0.0
    assert parse_retry_after({"Retry-After": "-5"}, 0) is None
    assert parse_retry_after({}, 0) is None


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_backoff_is_full_jitter_capped(attempt, seed):
    delay = backoff(attempt, random.Random(seed))
    assert 0 <= delay <= min(MAX_DELAY, 0.5 * 2**min(attempt, 62))


def test_backoff_spreads_out_rather_than_marching_in_step():
    draws = {round(backoff(5, random.Random(s)), 6) for s in range(50)}
    assert len(draws) > 40 and max(draws) <= MAX_DELAY
