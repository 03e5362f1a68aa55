"""A create is never sent twice blindly: retried only when provably not taken (429, connection never
opened), else recovered through the task list (adopted, re-created, or left to the user)."""

from __future__ import annotations

import json
import random

import httpx
import pytest
from test_client import KEY, Clock, Recorder, Sleeps, make_client, no_key_anywhere

from prep.client import AmbiguousCreateError
from prep.client.errors import InvalidParameterError, ServerError

NOW = 1780732850.0
SENT = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}], "resolution": "720p",
        "ratio": "16:9", "duration": 5, "seed": 11, "generate_audio": False}


def ark_item(task_id, *, created=NOW + 1, model=SENT["model"], **echo):
    return {"id": task_id, "model": model, "status": "queued", "created_at": int(created), "updated_at": int(created),
            "resolution": "720p", "ratio": "16:9", "duration": 5, "seed": 11, "generate_audio": False, **echo}


class Provider:
    """Answers creates with ``create_steps`` (a Response or an exception) and lists with ``items``."""

    def __init__(self, *create_steps, items=(), list_status=200):
        self.create_steps = list(create_steps)
        self.items = list(items)
        self.list_status = list_status

    def __call__(self, request):
        if request.method == "POST":
            step = self.create_steps.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        if self.list_status != 200:
            return httpx.Response(self.list_status, json={"error": {"message": "list down"}})
        return httpx.Response(200, json={"total": len(self.items), "items": self.items, "data": self.items})


def run(provider, profile="ark", body=SENT, **kw):
    notes: list[str] = []
    sleeps = Sleeps()
    client, rec = make_client(profile, Recorder(provider), notes=notes, sleeps=sleeps, wall=lambda: NOW, **kw)
    return client, rec, notes, sleeps, body


def test_429_is_retried_after_retry_after_and_said():
    client, rec, notes, sleeps, body = run(Provider(
        httpx.Response(429, headers={"Retry-After": "4"}, json={"error": {"code": "RateLimitExceeded.EndpointRPMExceeded",
                                                                        "message": "too many"}}),
        httpx.Response(200, json={"id": "cgt-new"})))
    task = client.tasks.create(body)
    assert task.id == "cgt-new" and not task.adopted
    assert len(rec.of("POST")) == 2 and rec.of("GET") == [] and sleeps == [4.0]
    assert len(notes) == 1 and "not taken" in notes[0] and "RateLimitExceeded" in notes[0]


@pytest.mark.parametrize("exc", [httpx.ConnectError("connection refused"), httpx.ConnectTimeout("no route")])
def test_a_connection_that_never_opened_is_retried(exc):
    client, rec, _notes, _, body = run(Provider(exc, httpx.Response(200, json={"id": "cgt-new"})))
    assert client.tasks.create(body).id == "cgt-new"
    assert len(rec.of("POST")) == 2 and rec.of("GET") == []


@pytest.mark.parametrize("failure", [
    httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected without sending a response"),
    httpx.ReadError("connection reset by peer"), httpx.Response(500, json={"error": {"message": "oops"}}),
    httpx.Response(502, text="Bad gateway"), httpx.Response(200, content=b'{"id": "cgt-lo'),
    httpx.Response(200, json={"status": "queued"}),
])
def test_an_ambiguous_failure_is_never_resent_when_the_list_shows_the_task(failure):
    provider = Provider(failure, items=[ark_item("cgt-made", created=NOW + 1), ark_item("cgt-old", created=NOW - 3600)])
    client, rec, notes, _, body = run(provider)
    task = client.tasks.create(body, known_ids=["cgt-earlier"])
    assert (task.id, task.adopted) == ("cgt-made", True)
    assert len(rec.of("POST")) == 1 and len(rec.of("GET")) == 1
    assert len(notes) == 1 and "found task cgt-made" in notes[0] and "adopting it" in notes[0]
    no_key_anywhere(*notes)


def test_no_matching_task_proves_it_was_not_created_and_it_is_sent_again():
    provider = Provider(httpx.Response(503, json={"error": {"message": "overloaded"}}),
                        httpx.Response(200, json={"id": "cgt-second"}),
                        items=[ark_item("cgt-known"), ark_item("cgt-old", created=NOW - 11),
                               ark_item("cgt-other-seed", seed=12), ark_item("cgt-other-model", model="x"),
                               ark_item("cgt-other-res", resolution="1080p")])
    client, rec, notes, _, body = run(provider)
    task = client.tasks.create(body, known_ids=["cgt-known"])
    assert (task.id, task.adopted) == ("cgt-second", False)
    assert len(rec.of("POST")) == 2 and len(rec.of("GET")) == 1
    assert "no task made from it" in notes[0] and "sending it again" in notes[0]
    listed = rec.of("GET")[0]
    assert listed.url.params["page_size"] == "500"  # the documented maximum page


def test_values_the_model_chooses_contradict_nothing():
    sent = {**SENT, "ratio": "adaptive", "duration": -1, "seed": -1}
    provider = Provider(httpx.ReadTimeout("t"), items=[ark_item("cgt-made", ratio="9:16", duration=7, seed=4242)])
    client, _, _, _, body = run(provider, body=sent)
    assert client.tasks.create(body).id == "cgt-made"


def test_several_candidates_raise_with_their_ids_and_nothing_is_resent():
    provider = Provider(httpx.Response(500), items=[ark_item("cgt-a"), ark_item("cgt-b", created=NOW - 5)])
    client, rec, _notes, _, body = run(provider)
    with pytest.raises(AmbiguousCreateError) as err:
        client.tasks.create(body)
    assert set(err.value.candidates) == {"cgt-a", "cgt-b"}
    assert "cgt-a" in str(err.value) and "cgt-b" in str(err.value) and "console" in str(err.value)
    assert "\n" not in str(err.value) and len(rec.of("POST")) == 1 and err.value.exit_code == 2


def test_a_failed_listing_leaves_the_decision_to_the_user():
    client, rec, _, _, body = run(Provider(httpx.ReadTimeout("t"), list_status=503), max_retries=2)
    with pytest.raises(AmbiguousCreateError, match="listing recent tasks to find it failed too") as err:
        client.tasks.create(body)
    assert len(rec.of("POST")) == 1 and len(rec.of("GET")) == 3 and err.value.candidates == ()


def test_a_profile_without_a_list_never_resends_an_ambiguous_create():
    client, rec, notes, _, _ = run(Provider(httpx.Response(500)), profile="video-generations")
    with pytest.raises(AmbiguousCreateError, match="video-generations has no task list"):
        client.tasks.create({"model": "seedance2.0-720p", "prompt": "a cat", "duration": 5})
    assert [r.method for r in rec.requests] == ["POST"] and notes == []


def test_openai_times_are_milliseconds_in_the_match():
    items = [{"id": "video_old", "model": "m", "status": "queued", "created_at": int((NOW - 60) * 1000), "seconds": "5"},
             {"id": "video_new", "model": "m", "status": "queued", "created_at": int((NOW + 2) * 1000), "seconds": "5"},
             {"id": "video_long", "model": "m", "status": "queued", "created_at": int((NOW + 1) * 1000), "seconds": "8"}]
    provider = Provider(httpx.ReadTimeout("t"), items=items)
    client, rec, _, _, _ = run(provider, profile="openai-videos")
    task = client.tasks.create({"model": "m", "prompt": "a cat", "seconds": "5"})
    assert (task.id, task.adopted) == ("video_new", True) and rec.of("GET")[0].url.params["limit"] == "100"


def test_a_rejected_request_is_not_retried():
    provider = Provider(httpx.Response(400, json={"error": {"code": "InvalidParameter", "message": "bad ratio",
                                                            "param": "ratio"}}))
    client, rec, _, _, body = run(provider)
    with pytest.raises(InvalidParameterError, match="InvalidParameter: bad ratio"):
        client.tasks.create(body)
    assert len(rec.requests) == 1


def test_retries_end_at_max_retries_with_a_line_that_says_nothing_was_created():
    provider = Provider(*[httpx.Response(500, json={"error": {"message": "down"}})] * 3, items=[])
    client, rec, notes, _, body = run(provider, max_retries=2)
    with pytest.raises(ServerError, match="no task was created after 3 tries"):
        client.tasks.create(body)
    assert len(rec.of("POST")) == 3 and len(notes) == 2


def test_a_task_adopted_once_is_never_adopted_again_by_the_same_client():
    item = ark_item("cgt-made")
    provider = Provider(httpx.ReadTimeout("t"), httpx.ReadTimeout("t"), httpx.Response(200, json={"id": "cgt-2"}),
                        items=[item])
    client, rec, _, _, body = run(provider)
    assert client.tasks.create(body).id == "cgt-made"
    assert client.tasks.create(body).id == "cgt-2"  # the listing shows only cgt-made, which is taken
    assert len(rec.of("POST")) == 3


class ChunkedBody:
    """A streamed Body: ``length`` bytes in ``n`` chunks, counted per iteration."""

    def __init__(self, n=300, size=1024):
        self.parts = [bytes([65 + i % 26]) * size for i in range(n)]
        self.length = n * size + len(b'{"model":"m","pad":""}')
        self.params = {"model": "m"}
        self.iterations = 0

    def iter_bytes(self):
        self.iterations += 1
        yield b'{"model":"m","pad":"'
        yield from self.parts
        yield b'"}'


def test_a_streamed_body_goes_with_its_content_length_and_restarts_per_attempt():
    body = ChunkedBody()
    provider = Provider(httpx.Response(429), httpx.Response(200, json={"id": "cgt-big"}))
    client, rec, _, _, _ = run(provider)
    assert client.tasks.create(body).id == "cgt-big"
    assert body.iterations == 2
    for request in rec.of("POST"):
        assert request.headers["content-length"] == str(body.length)
        assert "transfer-encoding" not in request.headers
        assert len(request.content) == body.length and json.loads(request.content)["model"] == "m"
        assert request.headers["authorization"] == f"Bearer {KEY}"


# --------------------------------------------------------------------------------------------------
# 50 distinct submissions through a provider failing 30% of the time: exactly 50 tasks


class FaultyProvider:
    """An in-memory Ark or OpenAI-style provider that fails 30% of requests, before or after creating."""

    CREATE_FAULTS = ("429", "refused", "500-before", "500-after", "timeout-after", "reset-after", "truncated")

    def __init__(self, profile, clock, seed, rate=0.3):
        self.profile, self.clock, self.rng, self.rate = profile, clock, random.Random(seed), rate
        self.tasks: list[dict] = []

    def _task(self, sent):
        n = len(self.tasks)
        ms = self.profile == "openai-videos"
        created = int(self.clock.now * 1000) if ms else int(self.clock.now)
        task = {"id": f"t-{n:03d}", "model": sent["model"], "status": "queued", "created_at": created}
        task.update({"seconds": sent["seconds"]} if ms else {"seed": sent["seed"], "duration": sent["duration"]})
        self.tasks.append(task)
        return task

    def __call__(self, request):
        self.clock.now += 0.2
        fault = self.rng.random() < self.rate
        if request.method == "POST":
            kind = self.rng.choice(self.CREATE_FAULTS) if fault else None
            if kind == "429":
                return httpx.Response(429, headers={"Retry-After": "1"})
            if kind == "refused":
                raise httpx.ConnectError("connection refused")
            if kind == "500-before":
                return httpx.Response(500)
            task = self._task(json.loads(request.content))
            if kind == "500-after":
                return httpx.Response(500)
            if kind == "timeout-after":
                raise httpx.ReadTimeout("timed out")
            if kind == "reset-after":
                raise httpx.RemoteProtocolError("Server disconnected without sending a response")
            if kind == "truncated":
                return httpx.Response(200, content=json.dumps({"id": task["id"]}).encode()[:-4])
            return httpx.Response(200, json={"id": task["id"]})
        if fault:
            return httpx.Response(self.rng.choice((429, 500, 502, 503)))
        newest_first = list(reversed(self.tasks))
        return httpx.Response(200, json={"items": newest_first, "data": newest_first})


@pytest.mark.parametrize(("profile", "seed"), [("ark", 1), ("ark", 2), ("ark", 3), ("openai-videos", 4),
                                               ("openai-videos", 5), ("apiyi", 6)])
def test_fifty_submissions_at_a_thirty_percent_fault_rate_make_exactly_fifty_tasks(profile, seed):
    clock = Clock(NOW)
    provider = FaultyProvider(profile, clock, seed)
    notes: list[str] = []
    client, _ = make_client(profile, Recorder(provider), notes=notes, sleeps=Sleeps(clock), wall=clock)
    journal: list[str] = []
    for i in range(50):
        body = ({"model": "m", "prompt": f"shot {i}", "seconds": str(4 + i % 12)} if profile == "openai-videos"
                else {"model": "m", "content": [{"type": "text", "text": f"shot {i}"}], "seed": i, "duration": 5})
        task = client.tasks.create(body, known_ids=journal)
        journal.append(task.id)
    assert len(provider.tasks) == 50 and sorted(journal) == sorted(t["id"] for t in provider.tasks)
    if profile != "openai-videos":
        assert [next(t for t in provider.tasks if t["id"] == tid)["seed"] for tid in journal] == list(range(50))
    assert any("adopting" in n for n in notes) and any("sending it again" in n for n in notes)
    no_key_anywhere(*notes)


class SkewedProvider(Provider):
    """A provider whose clock runs ``behind`` seconds behind ours: its tasks and its Date headers say so."""

    def __init__(self, *steps, behind, items=(), date=True):
        super().__init__(*steps, items=items)
        self.behind, self.date = behind, date

    def __call__(self, request):
        from email.utils import formatdate

        resp = super().__call__(request)
        if self.date:
            resp.headers["Date"] = formatdate(NOW - self.behind, usegmt=True)
        return resp


@pytest.mark.parametrize("behind", [-90.0, 60.0, 3600.0])
def test_the_providers_clock_from_its_date_header_finds_the_task_whatever_our_clock_says(behind):
    """Our clock 60 s (or an hour) ahead of the provider's would rule out the very task a lost create made
    (created "before" we sent it) and send it a second time; the list answer's Date header gives the
    provider's time, so the task is found and adopted."""
    made = ark_item("cgt-made", created=NOW - behind + 1)  # made a second after the send, on its clock
    stale = ark_item("cgt-stale", created=NOW - behind - 120)  # another one from two minutes before
    client, rec, notes, _, body = run(SkewedProvider(httpx.ReadTimeout("t"), behind=behind, items=[made, stale]))
    task = client.tasks.create(body)
    assert (task.id, task.adopted) == ("cgt-made", True) and len(rec.of("POST")) == 1, notes


def test_without_a_date_header_a_clock_far_ahead_still_never_adopts_an_older_task():
    """No Date header: only our clock is known; a task from before the send (beyond the skew allowed) is
    not taken for the lost one."""
    old = ark_item("cgt-old", created=NOW - 120)
    client, rec, notes, _, body = run(SkewedProvider(httpx.ReadTimeout("t"), httpx.Response(200, json={"id": "cgt-2"}),
                                                     behind=0, items=[old], date=False))
    task = client.tasks.create(body)
    assert (task.id, task.adopted) == ("cgt-2", False) and len(rec.of("POST")) == 2
