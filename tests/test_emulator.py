"""The emulator over real HTTP on 127.0.0.1: every profile end to end, every status path, validation,
keys and signed result links. The clock is the emulator's own: tests move it, they never sleep."""

from __future__ import annotations

import re

import httpx
import pytest

from prep.emulator import Emulator
from prep.inspect import inspect_bytes
from prep.lint import Checker
from prep.ruleset import RuleBook

BOOK = RuleBook()
PROFILES = BOOK.names
START = 1_780_000_000.0
KEY = "emulator-test-key"


@pytest.fixture
def emu():
    with Emulator(task_seconds=10, clock=lambda: START) as emulator:
        yield emulator


@pytest.fixture
def http():
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
        yield client


def api(profile: str) -> dict:
    return BOOK.profile_data(profile)["api"]


def dig(doc: dict, path: str):
    for key in path.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def canonical(profile: str, doc: dict) -> str:
    """The canonical status of a task answer, read through the profile's rules."""
    return api(profile)["statuses"][dig(doc, api(profile)["fields"]["status"])]


def endpoint(emu: Emulator, profile: str, action: str, task_id: str = "") -> tuple[str, str]:
    method, path = api(profile)[action].split(" ", 1)
    return method, emu.base_url(profile) + path.replace("{id}", task_id)


def body_for(profile: str, prompt: str = "a cat on a desk", **extra) -> dict:
    """A valid create body in the profile's dialect, asking for the last frame."""
    data = BOOK.profile_data(profile)
    model = next(iter(data["models"]))
    dialect = data.get("dialect", "content")
    if dialect == "content":
        return {"model": model, "content": [{"type": "text", "text": prompt}], "return_last_frame": True, **extra}
    if dialect == "video-generations":
        return {"model": model, "prompt": prompt, "duration": 5, "extra_body": {"return_last_frame": True}, **extra}
    return {"model": model, "prompt": prompt, "seconds": "5", **extra}


def create(emu, http, profile: str, prompt: str = "a cat on a desk", **extra) -> str:
    method, url = endpoint(emu, profile, "create")
    answer = http.request(method, url, json=body_for(profile, prompt, **extra))
    assert answer.status_code == 200, answer.text
    return dig(answer.json(), api(profile)["fields"]["id"])


def get(emu, http, profile: str, task_id: str) -> dict:
    method, url = endpoint(emu, profile, "get", task_id)
    answer = http.request(method, url)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_end_to_end(emu, http, profile, tmp_path):
    fields = api(profile)["fields"]
    task_id = create(emu, http, profile)
    style = {"content": r"cgt-\d{14}-[a-z0-9]{5}", "openai-videos": r"video_[0-9a-f]{32}",
             "video-generations": r"task_[a-z0-9]{24}"}[BOOK.profile_data(profile).get("dialect", "content")]
    assert re.fullmatch(style, task_id)
    first = get(emu, http, profile, task_id)
    assert canonical(profile, first) == "queued" and dig(first, fields["video_url"]) is None
    emu.advance(5)
    running = get(emu, http, profile, task_id)
    assert canonical(profile, running) == "running"
    if "progress" in fields:
        assert 0 < dig(running, fields["progress"]) < 100
    emu.advance(5)
    done = get(emu, http, profile, task_id)
    assert canonical(profile, done) == "succeeded"
    scale = 1000 if api(profile)["time_unit"] == "ms" else 1
    assert dig(done, fields["created_at"]) == int(START * scale)
    assert dig(done, fields["updated_at"]) == int((START + 10) * scale)
    with httpx.Client(timeout=10) as plain:  # result links are fetched without the key
        video = plain.get(dig(done, fields["video_url"]))
        assert video.status_code == 200
        facts = inspect_bytes(video.content)
        assert (facts.kind, facts.format, facts.problem) == ("video", "mp4", None)
        assert int(video.headers["content-length"]) == len(video.content)
        if "last_frame_url" in fields:
            frame = inspect_bytes(plain.get(dig(done, fields["last_frame_url"])).content)
            assert (frame.kind, frame.format, frame.problem) == ("image", "png", None)
    if "tokens" in fields:
        estimate = Checker(BOOK, profile=profile).check_bytes(httpx.Request("POST", "http://x", json=body_for(
            profile)).content, "<request>").estimate
        assert dig(done, fields["tokens"]) == estimate["tokens"]
    if "content" in api(profile):
        method, url = endpoint(emu, profile, "content", task_id)
        streamed = http.request(method, url)
        assert inspect_bytes(streamed.content).format == "mp4"
    assert emu.stats["creations"] == {profile: 1}
    assert emu.stats["downloads"] >= 1


def test_ark_is_also_at_the_bare_api_base(emu, http):
    created = http.post(emu.url + "/api/v3/contents/generations/tasks", json=body_for("ark"))
    task_id = created.json()["id"]
    assert canonical("ark", get(emu, http, "ark", task_id)) == "queued"
    assert http.get(emu.url + f"/api/v3/contents/generations/tasks/{task_id}").json()["id"] == task_id


def test_a_task_of_one_profile_is_unknown_to_another(emu, http):
    task_id = create(emu, http, "ark")
    answer = http.get(endpoint(emu, "byteplus", "get", task_id)[1])
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "ResourceNotFound"


@pytest.mark.parametrize("profile", ["ark", "video-generations", "openai-videos"])
def test_fail_directive_ends_failed_with_the_provider_error(emu, http, profile):
    task_id = create(emu, http, profile, "a cat #emulate:fail=OutputVideoSensitiveContentDetected")
    emu.advance(10)
    doc = get(emu, http, profile, task_id)
    assert canonical(profile, doc) == "failed"
    error = dig(doc, api(profile)["fields"]["error"])
    assert error["code"] == "OutputVideoSensitiveContentDetected" and error["message"]
    assert dig(doc, api(profile)["fields"]["video_url"]) is None


def test_expire_directive_ends_expired_without_an_error_block(emu, http):
    task_id = create(emu, http, "ark", "a cat #emulate:expire")
    emu.advance(10)
    doc = get(emu, http, "ark", task_id)
    assert doc["status"] == "expired" and doc["error"] is None and "content" not in doc


def test_expire_on_a_dialect_without_that_status_reads_as_a_failure(emu, http):
    task_id = create(emu, http, "openai-videos", "a cat #emulate:expire")
    emu.advance(10)
    doc = get(emu, http, "openai-videos", task_id)
    assert canonical("openai-videos", doc) == "failed" and doc["error"]["code"] == "expired"


def test_slow_directive_keeps_running_until_ten_times_the_task_time(emu, http):
    task_id = create(emu, http, "ark", "a cat #emulate:slow")
    emu.advance(10)
    assert get(emu, http, "ark", task_id)["status"] == "running"
    emu.advance(89)
    assert get(emu, http, "ark", task_id)["status"] == "running"
    emu.advance(1)
    assert get(emu, http, "ark", task_id)["status"] == "succeeded"


def test_cancel_a_queued_task_then_delete_it(emu, http):
    task_id = create(emu, http, "ark")
    method, url = endpoint(emu, "ark", "cancel", task_id)
    first = http.request(method, url)
    assert (first.status_code, first.json()) == (200, {})
    assert get(emu, http, "ark", task_id)["status"] == "cancelled"
    assert http.request(method, url).status_code == 200  # a finished task is deleted
    assert http.get(endpoint(emu, "ark", "get", task_id)[1]).status_code == 404


def test_a_running_task_cannot_be_cancelled(emu, http):
    task_id = create(emu, http, "ark")
    emu.advance(5)
    answer = http.request(*endpoint(emu, "ark", "cancel", task_id))
    assert answer.status_code == 400 and "cannot be cancelled" in answer.json()["error"]["message"]
    assert get(emu, http, "ark", task_id)["status"] == "running"


def test_an_expired_link_is_refused_and_a_new_get_hands_out_a_fresh_one(http):
    with Emulator(task_seconds=0, clock=lambda: START, url_seconds=60) as emu:
        task_id = create(emu, http, "ark")
        old = get(emu, http, "ark", task_id)["content"]["video_url"]
        assert httpx.get(old).status_code == 200
        emu.advance(61)
        expired = httpx.get(old)
        assert expired.status_code == 403 and b"expired" in expired.content
        new = get(emu, http, "ark", task_id)["content"]["video_url"]
        assert new != old and httpx.get(new).status_code == 200


def test_the_link_lifetime_defaults_to_the_profiles_download_ttl(http):
    with Emulator(task_seconds=0, clock=lambda: START) as emu:
        for profile in ("ark", "gateway"):
            url = get(emu, http, profile, create(emu, http, profile))["content"]["video_url"]
            expires = int(re.search(r"expires=(\d+)", url).group(1))
            assert expires == int(START + BOOK.profile_data(profile)["download_ttl_hours"] * 3600)


def test_storage_refuses_an_authorization_header_and_counts_it(http):
    with Emulator(task_seconds=0, clock=lambda: START, api_key=KEY) as emu:
        url = get(emu, http, "ark", create(emu, http, "ark"))["content"]["video_url"]
        refused = http.get(url)  # this client sends its key with every request
        assert refused.status_code == 400 and b"Only one auth mechanism allowed" in refused.content
        assert httpx.get(url).status_code == 200
        stats = emu.stats
        assert stats["storage_authorization"] == 1 and stats["storage_key_seen"] == 1
        assert stats["downloads"] == 1


def test_a_tampered_link_is_refused(emu, http):
    emu.advance(10)
    task_id = create(emu, http, "ark")
    emu.advance(10)
    url = get(emu, http, "ark", task_id)["content"]["video_url"]
    later = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m.group(1)) + 1}", url)
    assert httpx.get(later).status_code == 403


def test_a_rule_finding_is_the_providers_400(emu, http):
    body = body_for("ark")
    body["content"] += [{"type": "image_url", "image_url": {"url": f"https://example.com/{i}.png"},
                         "role": "reference_image"} for i in range(10)]
    raw = httpx.Request("POST", "http://x", json=body).content
    expected = next(f for f in Checker(BOOK, profile="ark", locate_findings=False).check_bytes(raw, "r").findings
                    if f.severity == "error")
    answer = http.post(endpoint(emu, "ark", "create")[1], content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json() == {"error": {"code": "InvalidParameter", "message": expected.message,
                                       "param": "content[10]", "type": "BadRequest"}}
    assert emu.stats["creations"] == {}


def test_null_parameters_count_as_absent_as_the_ark_sdk_sends_them(emu, http):
    # volcenginesdkarkruntime's tasks.create sends every parameter it was not given as null
    unset = ["safety_identifier", "callback_url", "service_tier", "execution_expires_after", "priority",
             "generate_audio", "draft", "camera_fixed", "watermark", "seed", "resolution", "duration", "frames",
             "tools", "output_format", "omni_reference_task_type"]
    body = {**body_for("ark"), "ratio": "16:9", **dict.fromkeys(unset)}
    answer = http.post(emu.base_url("ark") + "/contents/generations/tasks", json=body)
    assert answer.status_code == 200, answer.text
    assert get(emu, http, "ark", answer.json()["id"])["resolution"] == BOOK.profile_data("ark")["defaults"]["resolution"]


def test_openai_style_400_shape(emu, http):
    answer = http.post(endpoint(emu, "openai-videos", "create")[1], json=body_for("openai-videos", seconds="99"))
    error = answer.json()["error"]
    assert answer.status_code == 400 and set(error) == {"message", "type", "code", "param"}
    assert error["type"] == "invalid_request_error" and "99" in error["message"]


def test_broken_json_is_a_400(emu, http):
    answer = http.post(endpoint(emu, "ark", "create")[1], content=b'{"model": ', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "JSON" in answer.json()["error"]["message"]


def test_unknown_model_is_a_404(emu, http):
    answer = http.post(endpoint(emu, "ark", "create")[1], json=body_for("ark", model="no-such-model"))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "InvalidEndpointOrModel.NotFound"


def test_a_local_path_is_refused_without_reading_it(emu, http, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not an image")
    body = body_for("ark")
    body["content"].append({"type": "image_url", "image_url": {"url": str(secret)}})
    answer = http.post(endpoint(emu, "ark", "create")[1], json=body)
    assert answer.status_code == 400 and "local path" in answer.json()["error"]["message"]


@pytest.mark.parametrize("profile", ["ark", "openai-videos"])
def test_a_missing_key_is_a_401(emu, profile):
    answer = httpx.post(endpoint(emu, profile, "create")[1], json=body_for(profile))
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "AuthenticationError"
    assert emu.stats["creations"] == {}


def test_a_wrong_key_is_a_401_when_a_key_is_set(http):
    with Emulator(task_seconds=0, api_key="the-right-key") as emu:
        url = endpoint(emu, "ark", "create")[1]
        assert http.post(url, json=body_for("ark")).status_code == 401
        right = httpx.post(url, json=body_for("ark"), headers={"Authorization": "Bearer the-right-key"})
        assert right.status_code == 200


def test_unknown_endpoint_and_method(emu, http):
    assert http.get(emu.url + "/ark/api/v3/nothing").json()["error"]["code"] == "InvalidEndpoint.NotFound"
    assert http.put(endpoint(emu, "ark", "create")[1], json={}).status_code == 405
