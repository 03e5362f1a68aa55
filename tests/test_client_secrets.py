"""The API key goes to the API host only, and into no exception text, note or storage request."""

from __future__ import annotations

import httpx
import pytest
from test_client import BOOK, KEY, Recorder, make_client

from prep.client import Client, Task
from prep.client.errors import APIError, DownloadError, PrepError

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(2000)
STORE = "https://storage.test/v.mp4?sig=1"


def echo_key(request):
    """A hostile or careless provider that repeats the key everywhere it can."""
    body = {"error": {"code": f"AuthenticationError {KEY}", "message": f"bad key {KEY}", "param": KEY}}
    return httpx.Response(401, json=body, headers={"x-request-id": KEY})


def texts_of(exc):
    return [str(exc), repr(exc), *map(str, exc.args), str(getattr(exc, "message", "")),
            str(getattr(exc, "code", "")), str(getattr(exc, "param", "")), str(getattr(exc, "request_id", ""))]


def failures():
    """(profile, handler, action) that each end in an exception."""
    yield "ark", echo_key, lambda c, tmp: c.tasks.get("cgt-1")
    yield "ark", echo_key, lambda c, tmp: c.tasks.create({"model": "m"})

    def refused(request):
        raise httpx.ConnectError(f"refused while sending {KEY}")

    yield "ark", refused, lambda c, tmp: c.tasks.get("cgt-1")

    def lost(request):
        if request.method == "POST":
            raise httpx.ReadTimeout(f"timed out {KEY}")
        return echo_key(request)

    yield "ark", lost, lambda c, tmp: c.tasks.create({"model": "m"})
    yield "video-generations", lost, lambda c, tmp: c.tasks.create({"model": "m"})

    def storage_says_key(request):
        if request.url.host == "storage.test":
            return httpx.Response(400, text=f"<Error>{KEY}</Error>")
        return httpx.Response(200, json={"id": "cgt-1", "status": "succeeded", "content": {"video_url": STORE}})

    yield "ark", storage_says_key, lambda c, tmp: c.download("cgt-1", tmp / "v.mp4")


@pytest.mark.parametrize(("profile", "handler", "action"), list(failures()))
def test_no_exception_or_note_holds_the_key(profile, handler, action, tmp_path):
    notes: list[str] = []
    client, _ = make_client(profile, handler, notes=notes, max_retries=1)
    with pytest.raises(PrepError) as err:
        action(client, tmp_path)
    assert isinstance(err.value, APIError) and list(tmp_path.iterdir()) == []
    for text in texts_of(err.value) + notes:
        assert KEY not in text, text


class KeyHeaderBook:
    """The rule book with the profile's headers carrying the key (as a gateway might demand)."""

    def profile_data(self, name):
        data = dict(BOOK.profile_data(name))
        data["headers"] = {"X-Api-Key": KEY, "X-Gateway-Token": f"tok-{KEY}", "Accept-Encoding": "identity"}
        return data


def test_key_bearing_profile_headers_reach_the_api_but_never_storage(tmp_path):
    def site(request):
        if request.url.host == "storage.test":
            return httpx.Response(200, content=MP4)
        return httpx.Response(200, json={"id": "cgt-1", "status": "succeeded", "content": {"video_url": STORE}})

    rec = Recorder(site)
    client = Client("ark", api_key=KEY, base_url="https://api.test/api/v3", book=KeyHeaderBook(),
                    transport=httpx.MockTransport(rec))
    client.download("cgt-1", tmp_path / "v.mp4")
    api, storage = rec.requests
    assert api.headers["x-api-key"] == KEY and api.headers["authorization"] == f"Bearer {KEY}"
    assert storage.url.host == "storage.test" and storage.headers["accept-encoding"] == "identity"
    assert not any(KEY in value for value in storage.headers.values())
    assert "x-api-key" not in storage.headers and "authorization" not in storage.headers


def test_a_signed_link_on_the_api_host_still_gets_no_key(tmp_path):
    same_host = "https://api.test/files/v.mp4?sig=2"
    client, rec = make_client("ark", lambda r: httpx.Response(200, content=MP4), base_url="https://api.test/api/v3")
    client.download(Task(id="cgt-1", status="succeeded", video_url=same_host), tmp_path / "v.mp4")
    (request,) = rec.requests
    assert str(request.url) == same_host and "authorization" not in request.headers


def test_a_download_error_names_the_link_without_its_signature(tmp_path):
    client, _ = make_client("ark", lambda r: httpx.Response(200, content=b"<html>denied</html>"))
    with pytest.raises(DownloadError) as err:
        client.download(Task(id="cgt-1", status="succeeded", video_url="https://s.test/v.mp4?X-Tos-Signature=SECRET"),
                        tmp_path / "v.mp4")
    assert "https://s.test/v.mp4" in str(err.value) and "SECRET" not in str(err.value)
