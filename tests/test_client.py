"""prep.client: each profile's request shapes, Task normalisation, error families, configuration.

Everything goes through httpx.MockTransport (no sockets). The shared helpers at the top are used by
the other test_client_*.py files too. The endpoints and answers below are the providers' documented
ones (shared/seeds, PROVIDER-FACTS), written out here so that a wrong rules file fails a test.
"""

from __future__ import annotations

import json
import random

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prep.client import Client, Task
from prep.client.errors import (
    AccessDeniedError,
    APIError,
    AuthError,
    ContentPolicyError,
    InvalidParameterError,
    NotFoundError,
    QuotaError,
    RateLimitError,
    ServerError,
    error_from_response,
    parse_error_body,
)
from prep.client.task import STATUSES, TaskAPI, parse_task
from prep.model import PrepError
from prep.ruleset import RuleBook

KEY = "sk-UNIQUE-7f3c9a1e-never-print-me"
BOOK = RuleBook()
LOCAL = "http://127.0.0.1:9"  # never dialled: every test swaps the transport
# The documented endpoints (seeds 000–003, PROVIDER-FACTS "Task API"): create, get, list, cancel.
ARK_PATHS = ("POST /contents/generations/tasks", "GET /contents/generations/tasks/{id}",
             "GET /contents/generations/tasks", "DELETE /contents/generations/tasks/{id}")
DOCUMENTED = {
    "ark": ("https://ark.cn-beijing.volces.com/api/v3", *ARK_PATHS),
    "byteplus": ("https://ark.ap-southeast.bytepluses.com/api/v3", *ARK_PATHS),
    "apiyi": ("https://api.apiyi.com/seedance/api/v3", *ARK_PATHS),
    "gateway": (None, *ARK_PATHS),
    "openai-videos": (None, "POST /v1/videos", "GET /v1/videos/{id}", "GET /v1/videos", None),
    "video-generations": (None, "POST /v1/video/generations", "GET /v1/videos/{id}", None, None),
}
KEY_ENV = {"ark": "ARK_API_KEY", "byteplus": "ARK_API_KEY", "apiyi": "APIYI_API_KEY", "gateway": "SEEDANCE_API_KEY",
           "openai-videos": "OPENAI_API_KEY", "video-generations": "SEEDANCE_API_KEY"}

# Documented answers: a succeeded Ark task (002, "real sample from our tests"), the flat API's job (001),
# an OpenAI-style video object (003: times in milliseconds, the URL in metadata.url).
ARK_DONE = {"id": "cgt-20260606160057-6bbjd", "model": "doubao-seedance-2-0-fast-260128", "status": "succeeded",
            "content": {"video_url": "https://ark-acg-cn-beijing.tos-cn-beijing.volces.com/x.mp4?X-Tos-Expires=86400"},
            "usage": {"completion_tokens": 108900, "total_tokens": 108900}, "created_at": 1780732857,
            "updated_at": 1780732991, "seed": 97151, "resolution": "720p", "ratio": "16:9", "duration": 5,
            "framespersecond": 24, "generate_audio": True, "draft": False}
FLAT_DONE = {"id": "task_xxx", "task_id": "task_xxx", "object": "video.generation.job", "model": "seedance2.0-720p",
             "status": "completed", "progress": 100, "video_url": "https://example.com/output.mp4"}
OPENAI_RUNNING = {"id": "video_abc123", "object": "video", "model": "doubao-seedance-2-0-fast-260128",
                  "status": "in_progress", "progress": 40, "created_at": 1764347090922, "seconds": "5",
                  "size": "1280x720"}
OPENAI_DONE = {**OPENAI_RUNNING, "status": "completed", "progress": 100, "completed_at": 1764347170000,
               "expires_at": 1764433570000, "metadata": {"url": "https://cdn.example.com/v.mp4"}}


class Sleeps(list):
    """A fake ``sleep`` that records each pause and moves a fake clock."""

    def __init__(self, clock=None):
        super().__init__()
        self.clock = clock

    def __call__(self, seconds):
        assert seconds >= 0
        self.append(seconds)
        if self.clock is not None:
            self.clock.now += seconds


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class Recorder:
    """An httpx.MockTransport handler that keeps every request (its body read) and answers via ``handler``."""

    def __init__(self, handler):
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def of(self, method, path_end=""):
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]


def make_client(profile="ark", handler=None, *, base_url=LOCAL, sleeps=None, notes=None, wall=None, **kw):
    """A Client on a MockTransport with the unique key, a recording sleep and a seeded rng."""
    rec = handler if isinstance(handler, Recorder) else Recorder(handler or (lambda r: httpx.Response(404)))
    client = Client(profile, api_key=KEY, base_url=base_url, transport=httpx.MockTransport(rec), book=BOOK,
                    sleep=sleeps if sleeps is not None else Sleeps(), rng=random.Random(7),
                    notify=(notes.append if notes is not None else None),
                    wall_clock=wall or (lambda: 1780732850.0), **kw)
    return client, rec


def no_key_anywhere(*texts):
    for text in texts:
        assert KEY not in str(text)
        assert KEY[3:20] not in str(text)


# --------------------------------------------------------------------------------------------------
# Request shapes, per profile


@pytest.mark.parametrize("profile", BOOK.names)
def test_every_profile_sends_its_documented_requests_with_the_key_only_to_the_api(profile):
    _base, create, get, list_, cancel = DOCUMENTED[profile]

    def answer(request):
        if request.method == "POST":
            return httpx.Response(200, json={"id": "cgt-1"})
        if request.url.path.endswith("/cgt-1"):
            return httpx.Response(200, json={"id": "cgt-1", "status": "queued"})
        return httpx.Response(200, json={"items": [], "data": []})

    client, rec = make_client(profile, answer, base_url="https://api.test/root")
    root = "/root"
    task = client.tasks.create({"model": "m", "prompt": "a cat"})
    assert task.id == "cgt-1" and task.status == "queued" and not task.adopted
    assert client.tasks.get("cgt-1").id == "cgt-1"
    shapes = [f"{create.split()[0]} {root}{create.split()[1]}", f"GET {root}{get.split()[1].replace('{id}', 'cgt-1')}"]
    if list_ is not None:
        client.tasks.list(limit=3)
        shapes.append(f"GET {root}{list_.split()[1]}")
    else:
        with pytest.raises(PrepError, match="does not document a list endpoint"):
            client.tasks.list()
    if cancel is not None:
        client.tasks.cancel("cgt-1")
        shapes.append(f"{cancel.split()[0]} {root}{cancel.split()[1].replace('{id}', 'cgt-1')}")
    else:
        with pytest.raises(PrepError, match="does not document a cancel endpoint"):
            client.tasks.cancel("cgt-1")
    assert [f"{r.method} {r.url.path}" for r in rec.requests] == shapes
    for r in rec.requests:
        assert r.url.host == "api.test" and r.headers["authorization"] == f"Bearer {KEY}"
        assert (r.headers.get("accept-encoding") == "identity") == (profile == "apiyi")
    post = rec.requests[0]
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content) == {"model": "m", "prompt": "a cat"}
    if list_ is not None:
        limit = dict(rec.requests[2].url.params)
        assert limit == ({"limit": "3"} if profile == "openai-videos" else {"page_size": "3"})


@pytest.mark.parametrize("profile", BOOK.names)
def test_default_base_urls_env_override_and_missing_host(profile, monkeypatch):
    base = DOCUMENTED[profile][0]
    monkeypatch.delenv("SEEDANCE_PREP_BASE_URL", raising=False)
    if base is None:
        with pytest.raises(PrepError) as err:
            Client(profile, api_key=KEY, book=BOOK)
        assert str(err.value) == (f"profile {profile} has no default API host: pass --base-url or set "
                                  "SEEDANCE_PREP_BASE_URL")
    else:
        assert Client(profile, api_key=KEY, book=BOOK).base_url == base
    monkeypatch.setenv("SEEDANCE_PREP_BASE_URL", "http://127.0.0.1:8000/api/v3/")
    assert Client(profile, api_key=KEY, book=BOOK).base_url == "http://127.0.0.1:8000/api/v3"
    assert Client(profile, api_key=KEY, book=BOOK, base_url="https://x.test").base_url == "https://x.test"


def test_bad_base_url_is_one_line():
    with pytest.raises(PrepError, match="not an http"):
        Client("ark", api_key=KEY, book=BOOK, base_url="ftp://x.test")


@pytest.mark.parametrize("profile", BOOK.names)
def test_the_key_comes_from_the_profile_variable_or_the_named_one(profile, monkeypatch):
    for var in set(KEY_ENV.values()) | {"MY_KEY"}:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(PrepError) as err:
        Client(profile, book=BOOK, base_url=LOCAL)
    assert KEY_ENV[profile] in str(err.value)
    monkeypatch.setenv(KEY_ENV[profile], KEY + "\n")  # a trailing newline from `echo` is not part of it
    seen = []
    client = Client(profile, book=BOOK, base_url=LOCAL,
                    transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={"id": "t"})))
    client.tasks.get("t")
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    with pytest.raises(PrepError) as err:
        Client(profile, book=BOOK, base_url=LOCAL, api_key_env="MY_KEY")
    assert "MY_KEY" in str(err.value)
    monkeypatch.setenv("MY_KEY", "sk-other")
    assert "sk-other" not in repr(Client(profile, book=BOOK, base_url=LOCAL, api_key_env="MY_KEY"))


def test_a_client_without_a_key_previews_but_never_sends(monkeypatch):
    monkeypatch.delenv("ARK_API_KEY", raising=False)
    rec = Recorder(lambda r: httpx.Response(200, json={"id": "x"}))
    client = Client("ark", book=BOOK, base_url=LOCAL, transport=httpx.MockTransport(rec), require_key=False)
    preview = client.preview_create({"model": "m", "content": []})
    assert preview["method"] == "POST" and preview["url"] == LOCAL + "/contents/generations/tasks"
    assert preview["headers"]["authorization"] == "Bearer ***"
    assert preview["content_length"] == len(b'{"model":"m","content":[]}')
    with pytest.raises(PrepError, match="ARK_API_KEY"):
        client.tasks.create({"model": "m"})
    assert rec.requests == []


def test_preview_redacts_a_present_key():
    client, rec = make_client("apiyi")
    preview = client.preview_create(b'{"model": "m"}')
    no_key_anywhere(json.dumps(preview))
    assert preview["headers"]["accept-encoding"] == "identity" and rec.requests == []


def test_list_by_ids_uses_the_provider_filter_when_it_has_one():
    items = [{"id": "a", "status": "queued"}, {"id": "b", "status": "running"}, {"id": "c", "status": "failed"}]
    client, rec = make_client("ark", lambda r: httpx.Response(200, json={"total": 3, "items": items}))
    got = client.tasks.list(limit=10, ids=["c", "a"])
    assert [t.id for t in got] == ["a", "c"]
    assert rec.requests[0].url.params.get_list("filter.task_ids") == ["a", "c"]
    client, rec = make_client("openai-videos", lambda r: httpx.Response(200, json={"data": items}))
    assert [t.id for t in client.tasks.list(limit=5, ids=["b"])] == ["b"]
    assert dict(rec.requests[0].url.params) == {"limit": "100"}  # no id filter: the largest page
    client.tasks.list(limit=500)
    assert dict(rec.requests[1].url.params) == {"limit": "100"}  # capped at the documented maximum


def test_a_task_id_is_escaped_into_the_path_and_nonsense_ids_are_refused():
    client, rec = make_client("ark", lambda r: httpx.Response(200, json={"id": "a b", "status": "queued"}))
    client.tasks.get("a b")
    assert rec.requests[0].url.raw_path.endswith(b"/tasks/a%20b")
    for bad in ("", "../x", "a/b", "x?y"):
        with pytest.raises(PrepError, match="not a task id"):
            client.tasks.get(bad)


# --------------------------------------------------------------------------------------------------
# Task normalisation


def _api(profile):
    return TaskAPI.from_profile(profile, BOOK.profile_data(profile))


def test_ark_task_from_the_documented_answer():
    task = parse_task(_api("apiyi"), ARK_DONE)
    assert (task.id, task.status, task.provider_status, task.terminal) == (ARK_DONE["id"], "succeeded", "succeeded", True)
    assert task.video_url == ARK_DONE["content"]["video_url"] and task.last_frame_url is None
    assert (task.tokens, task.created_at, task.updated_at) == (108900, 1780732857.0, 1780732991.0)
    assert task.model == "doubao-seedance-2-0-fast-260128" and task.raw == ARK_DONE and task.progress is None


def test_flat_job_from_the_documented_answer():
    task = parse_task(_api("video-generations"), FLAT_DONE)
    assert (task.id, task.status, task.provider_status, task.progress) == ("task_xxx", "succeeded", "completed", 100)
    assert task.video_url == "https://example.com/output.mp4" and task.terminal


def test_openai_video_times_are_milliseconds_and_the_url_is_in_metadata():
    running = parse_task(_api("openai-videos"), OPENAI_RUNNING)
    assert (running.status, running.progress, running.terminal) == ("running", 40, False)
    assert running.created_at == pytest.approx(1764347090.922) and running.video_url is None
    done = parse_task(_api("openai-videos"), OPENAI_DONE)
    assert done.status == "succeeded" and done.video_url == "https://cdn.example.com/v.mp4"
    assert done.updated_at == pytest.approx(1764347170.0)


@pytest.mark.parametrize(("error", "code", "message"), [
    ({"code": "OutputVideoSensitiveContentDetected", "message": "The output video may contain sensitive content"},
     "OutputVideoSensitiveContentDetected", "The output video may contain sensitive content"),
    ("the upstream render failed", None, "the upstream render failed"),
    ({"message": "bad seconds", "type": "invalid_request_error"}, "invalid_request_error", "bad seconds"),
])
def test_a_failed_task_keeps_the_provider_error(error, code, message):
    task = parse_task(_api("ark"), {"id": "cgt-2", "status": "failed", "error": error})
    assert (task.status, task.error_code, task.error_message, task.terminal) == ("failed", code, message, True)


def test_expired_and_cancelled_are_terminal_and_an_unknown_status_is_still_running():
    api = _api("ark")
    assert parse_task(api, {"id": "x", "status": "expired"}).terminal
    assert parse_task(api, {"id": "x", "status": "cancelled"}).terminal
    odd = parse_task(api, {"id": "x", "status": "rendering_v2"})
    assert (odd.status, odd.provider_status, odd.terminal) == ("rendering_v2", "rendering_v2", False)


@given(st.sampled_from([(p, name) for p in BOOK.names for name in BOOK.profile_data(p)["api"]["statuses"]]),
       st.text(min_size=1, max_size=12))
def test_status_normalisation_over_every_profiles_table(pair, other):
    profile, name = pair
    api = _api(profile)
    task = parse_task(api, {"id": "t", "status": name})
    assert task.status in STATUSES and task.provider_status == name
    assert task.terminal == (task.status in ("succeeded", "failed", "cancelled", "expired"))
    if other not in api.statuses and other.lower() not in api.statuses:
        unknown = parse_task(api, {"id": "t", "status": other})
        assert unknown.status == other and not unknown.terminal


def test_the_documented_status_names_mean_what_the_providers_say():
    assert {p: _api(p).normalise(s) for p, s in [("ark", "succeeded"), ("openai-videos", "completed"),
                                                  ("openai-videos", "in_progress"), ("video-generations", "completed"),
                                                  ("gateway", "expired")]} == \
        {"ark": "succeeded", "openai-videos": "running", "video-generations": "succeeded", "gateway": "expired"}
    assert _api("openai-videos").normalise("completed") == "succeeded"


# --------------------------------------------------------------------------------------------------
# Error families


@pytest.mark.parametrize(("status", "code", "family"), [
    (400, "InvalidParameter", InvalidParameterError),
    (400, "MissingParameter", InvalidParameterError),
    (400, "InputImageSensitiveContentDetected.PrivacyInformation", ContentPolicyError),
    (400, "InputTextSensitiveContentDetected", ContentPolicyError),
    (401, "AuthenticationError", AuthError),
    (403, "AccountOverdueError", QuotaError),
    (403, "AccessDenied", AccessDeniedError),
    (404, "InvalidEndpointOrModel.NotFound", NotFoundError),
    (429, "RateLimitExceeded.EndpointRPMExceeded", RateLimitError),
    (429, "RateLimitExceeded.EndpointTPMExceeded", RateLimitError),
    (429, "QuotaExceeded", QuotaError),
    (500, "InternalServiceError", ServerError),
    (503, None, ServerError),
])
def test_each_error_family_maps_from_status_and_provider_code(status, code, family):
    body = {"error": {"code": code, "message": f"{code} happened", "param": "content[1]", "type": "BadRequest"}} \
        if code else {"error": {"message": "upstream unavailable"}}

    client, _ = make_client("ark", lambda r: httpx.Response(status, json=body, headers={"x-request-id": "req-42"}),
                            max_retries=0)
    with pytest.raises(family) as err:
        client.tasks.get("cgt-1")
    e = err.value
    assert isinstance(e, APIError) and isinstance(e, PrepError) and e.exit_code == 2
    assert (e.status_code, e.code, e.request_id) == (status, code, "req-42")
    line = str(e)
    assert "\n" not in line and f"HTTP {status}" in line and (code or "upstream unavailable") in line
    assert "req-42" in line
    if status == 400:
        assert e.param == "content[1]" and "content[1]" in line


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"error": {"code": "InvalidParameter", "message": "bad ratio", "param": "ratio", "type": "BadRequest"}}',
     ("InvalidParameter", "bad ratio", "ratio")),
    (b'{"error": {"message": "Invalid value for seconds", "type": "invalid_request_error", "code": null}}',
     ("invalid_request_error", "Invalid value for seconds", None)),
    (b'{"error": "no available channel for this model"}', (None, "no available channel for this model", None)),
    (b'{"code": "InvalidParameter", "message": "flat"}', ("InvalidParameter", "flat", None)),
    (b"<html>502 Bad Gateway</html>", (None, "<html>502 Bad Gateway</html>", None)),
    (b"", (None, None, None)),
    (b'{"ResponseMetadata": {"Error": {"Code": "NotFound", "Message": "no asset"}}}', ("NotFound", "no asset", None)),
])
def test_every_provider_error_shape_parses(body, expected):
    assert parse_error_body(body) == expected


def test_plain_text_and_empty_errors_still_make_one_line():
    e = error_from_response(502, b"Bad gateway\n\n  upstream\tdied", {})
    assert isinstance(e, ServerError) and str(e) == "HTTP 502: Bad gateway upstream died"
    assert str(error_from_response(418, b"", {})) == "HTTP 418: i'm a teapot"


def test_an_echoed_key_is_scrubbed_from_every_error():
    body = json.dumps({"error": {"code": "AuthenticationError", "message": f"Incorrect API key provided: {KEY}.",
                                 "param": KEY}}).encode()
    client, _ = make_client("ark", lambda r: httpx.Response(401, content=body))
    with pytest.raises(AuthError) as err:
        client.tasks.get("cgt-1")
    no_key_anywhere(str(err.value), err.value.message, err.value.param)
    assert "***" in str(err.value)


def test_a_long_provider_message_is_cut_to_one_short_line():
    e = error_from_response(400, json.dumps({"error": {"code": "InvalidParameter", "message": "x" * 5000}}).encode(), {})
    assert len(str(e)) < 400 and str(e).endswith("…")


def test_task_is_a_frozen_record():
    task = Task(id="a", status="queued")
    with pytest.raises(AttributeError):
        task.status = "running"  # type: ignore[misc]
    assert task._replace(adopted=True).adopted and not task.terminal
