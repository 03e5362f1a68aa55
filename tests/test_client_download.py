"""Downloads: streamed to a temp file and renamed, checked (length, video or image header), the key
never sent to storage, expired links refreshed from the task, nothing partial ever left behind."""

from __future__ import annotations

import httpx
import pytest
from test_client import KEY, Recorder, make_client

from prep.client import Task
from prep.client.errors import DownloadError

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 400  # ~100 kB, an MP4 header
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(300)
HTML = b"<!DOCTYPE html><html><body>AccessDenied</body></html>"
STORE = "https://storage.test/out/v.mp4?X-Tos-Signature=abc"
FRAME = "https://storage.test/out/last.png?X-Tos-Signature=def"


def done(video=STORE, frame=None, task_id="cgt-1"):
    return {"id": task_id, "status": "succeeded", "content": {"video_url": video, "last_frame_url": frame}}


class Site:
    """The API (task answers from ``tasks``, in turn) and a storage host (``files``: url → Response or list of them)."""

    def __init__(self, tasks=(), files=None):
        self.tasks = list(tasks)
        self.files = files or {}

    def __call__(self, request):
        url = str(request.url)
        if request.url.host == "api.test":
            if url.endswith("/content") and url in self.files:
                return self._file(url)
            return httpx.Response(200, json=self.tasks.pop(0) if len(self.tasks) > 1 else self.tasks[0])
        return self._file(url)

    def _file(self, url):
        answer = self.files.get(url, httpx.Response(404))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if callable(answer):
            return answer()
        return answer


def client_for(site, profile="ark", **kw):
    return make_client(profile, Recorder(site), base_url="https://api.test/api/v3" if profile != "openai-videos"
                       else "https://api.test", **kw)


def storage_requests(rec):
    return [r for r in rec.requests if r.url.host != "api.test"]


def assert_no_key_sent_to_storage(rec):
    for r in storage_requests(rec):
        assert "authorization" not in r.headers
        for value in r.headers.values():
            assert KEY not in value


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_video_and_last_frame_are_written_whole_without_the_key(tmp_path):
    site = Site([done(frame=FRAME)], {STORE: httpx.Response(200, content=MP4), FRAME: httpx.Response(200, content=PNG)})
    client, rec = client_for(site, "apiyi")
    out = client.download(Task(id="cgt-1", status="succeeded", video_url=STORE, last_frame_url=FRAME),
                          tmp_path / "v.mp4", last_frame_path=tmp_path / "last.png")
    assert out == str(tmp_path / "v.mp4")
    assert (tmp_path / "v.mp4").read_bytes() == MP4 and (tmp_path / "last.png").read_bytes() == PNG
    assert [r.url.host for r in rec.requests] == ["storage.test", "storage.test"]  # no get: the task was given
    assert_no_key_sent_to_storage(rec)
    assert all(r.headers.get("accept-encoding") == "identity" for r in rec.requests)  # apiyi's header is no secret
    assert leftovers(tmp_path) == []


def test_download_by_id_into_a_folder_names_the_file_after_the_task(tmp_path):
    site = Site([done()], {STORE: httpx.Response(200, content=MP4)})
    client, rec = client_for(site)
    assert client.download("cgt-1", tmp_path) == str(tmp_path / "cgt-1.mp4")
    assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the get, on the API
    assert_no_key_sent_to_storage(rec)


def test_a_short_body_is_fetched_again_from_scratch(tmp_path):
    short = httpx.Response(200, content=MP4[:70000], headers={"Content-Length": str(len(MP4))})
    site = Site([done()], {STORE: [short, httpx.Response(200, content=MP4)]})
    client, rec = client_for(site)
    client.download("cgt-1", tmp_path / "v.mp4")
    assert (tmp_path / "v.mp4").read_bytes() == MP4 and len(storage_requests(rec)) == 2
    assert leftovers(tmp_path) == []


def test_an_always_short_body_is_a_download_error_and_leaves_nothing(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"the old file")
    short = lambda: httpx.Response(200, content=MP4[:70000], headers={"Content-Length": str(len(MP4))})
    client, _rec = client_for(Site([done()], {STORE: short}), max_retries=2)
    with pytest.raises(DownloadError, match=f"failed 3 times; the last: got 70000 of the {len(MP4)} bytes"):
        client.download("cgt-1", tmp_path / "v.mp4")
    assert (tmp_path / "v.mp4").read_bytes() == b"the old file" and leftovers(tmp_path) == []


def test_what_is_not_a_video_is_refused_and_not_retried(tmp_path):
    client, rec = client_for(Site([done()], {STORE: httpx.Response(200, content=HTML)}))
    with pytest.raises(DownloadError, match="is not a video: it is an HTML page"):
        client.download("cgt-1", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == [] and len(storage_requests(rec)) == 1


def test_a_png_where_the_video_should_be_is_refused(tmp_path):
    client, _ = client_for(Site([done()], {STORE: httpx.Response(200, content=PNG)}))
    with pytest.raises(DownloadError, match=r"is not a video: it is image \(png\)"):
        client.download("cgt-1", tmp_path / "v.mp4")


def test_a_last_frame_that_is_not_an_image_is_refused(tmp_path):
    site = Site([done(frame=FRAME)], {STORE: httpx.Response(200, content=MP4), FRAME: httpx.Response(200, content=HTML)})
    client, _ = client_for(site)
    with pytest.raises(DownloadError, match="last frame|not an image"):
        client.download("cgt-1", tmp_path / "v.mp4", last_frame_path=tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()
    client, _ = client_for(Site([done()], {STORE: httpx.Response(200, content=MP4)}))
    with pytest.raises(DownloadError, match="has no last frame"):
        client.download("cgt-1", tmp_path / "v.mp4", last_frame_path=tmp_path / "f.png")


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_link_is_refreshed_from_the_task(tmp_path, status):
    fresh = "https://storage.test/out/v.mp4?X-Tos-Signature=fresh"
    site = Site([done(video=fresh)],
                {STORE: httpx.Response(status, text="<Error><Code>AccessDenied</Code></Error>"),
                 fresh: httpx.Response(200, content=MP4)})
    client, rec = client_for(site)
    client.download(Task(id="cgt-1", status="succeeded", video_url=STORE), tmp_path / "v.mp4")
    assert (tmp_path / "v.mp4").read_bytes() == MP4
    assert [(r.url.host, r.url.params.get("X-Tos-Signature")) for r in rec.requests] == \
        [("storage.test", "abc"), ("api.test", None), ("storage.test", "fresh")]
    assert_no_key_sent_to_storage(rec)


def test_an_expired_link_with_no_fresh_one_says_so(tmp_path):
    client, rec = client_for(Site([done()], {STORE: httpx.Response(403)}))
    with pytest.raises(DownloadError, match="expired and the task has no fresh one"):
        client.download("cgt-1", tmp_path / "v.mp4")
    assert len(storage_requests(rec)) == 1 and len(rec.requests) == 4  # the get, the link, then two gets for a fresh one
    links = [f"https://storage.test/v{i}.mp4" for i in range(5)]
    client, rec = client_for(Site([done(video=u) for u in links], {}))
    with pytest.raises(DownloadError, match="expired and the task has no fresh one"):
        client.download("cgt-1", tmp_path / "v.mp4")
    assert len(storage_requests(rec)) == 3  # the first link and two fresh ones, then it gives up
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:video/mp4;base64,AAAAGGZ0eXA=", "ftp://x.test/v.mp4",
                                 "/relative/v.mp4"])
def test_non_http_links_are_refused_before_any_request(tmp_path, url):
    client, rec = client_for(Site([done(video=url)], {}))
    with pytest.raises(DownloadError, match="refusing to download"):
        client.download(Task(id="cgt-1", status="succeeded", video_url=url), tmp_path / "v.mp4")
    assert rec.requests == []


class Breaking(httpx.SyncByteStream):
    """A body that breaks off after ``n`` bytes with ``exc``."""

    def __init__(self, n, exc):
        self.n, self.exc = n, exc

    def __iter__(self):
        yield MP4[: self.n]
        raise self.exc


def test_a_transfer_broken_mid_stream_is_retried_and_leaves_no_temp_file(tmp_path):
    broken = httpx.Response(200, stream=Breaking(80000, httpx.ReadError("connection reset")))
    client, _rec = client_for(Site([done()], {STORE: [broken, httpx.Response(200, content=MP4)]}))
    client.download("cgt-1", tmp_path / "v.mp4")
    assert (tmp_path / "v.mp4").read_bytes() == MP4 and leftovers(tmp_path) == []
    client, _ = client_for(Site([done()], {STORE: lambda: httpx.Response(200, stream=Breaking(80000, httpx.ReadError("x")))}),
                           max_retries=1)
    with pytest.raises(DownloadError, match="failed 2 times; the last: ReadError"):
        client.download("cgt-1", tmp_path / "w.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_ctrl_c_mid_stream_removes_the_temp_file(tmp_path):
    client, _ = client_for(Site([done()], {STORE: httpx.Response(200, stream=Breaking(80000, KeyboardInterrupt()))}))
    with pytest.raises(KeyboardInterrupt):
        client.download("cgt-1", tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


def test_storage_5xx_is_retried(tmp_path):
    client, rec = client_for(Site([done()], {STORE: [httpx.Response(503), httpx.Response(200, content=MP4)]}))
    client.download("cgt-1", tmp_path / "v.mp4")
    assert len(storage_requests(rec)) == 2


def test_a_task_that_has_not_succeeded_has_nothing_to_download(tmp_path):
    client, rec = client_for(Site([{"id": "cgt-1", "status": "running"}], {}))
    with pytest.raises(DownloadError, match="cgt-1 is running: only a succeeded task"):
        client.download(Task(id="cgt-1", status="queued"), tmp_path / "v.mp4")
    assert len(rec.requests) == 1  # the record given was refreshed once


OPENAI_DONE = {"id": "video_1", "status": "completed", "created_at": 1764347090922}
CONTENT = "https://api.test/v1/videos/video_1/content"


def test_openai_content_endpoint_carries_the_key_and_its_redirect_does_not(tmp_path):
    site = Site([OPENAI_DONE], {CONTENT: httpx.Response(302, headers={"Location": STORE}),
                                STORE: httpx.Response(200, content=MP4)})
    client, rec = client_for(site, "openai-videos")
    client.download("video_1", tmp_path / "v.mp4")
    assert [(r.url.host, r.url.path) for r in rec.requests] == \
        [("api.test", "/v1/videos/video_1"), ("api.test", "/v1/videos/video_1/content"), ("storage.test", "/out/v.mp4")]
    assert rec.requests[1].headers["authorization"] == f"Bearer {KEY}"
    assert_no_key_sent_to_storage(rec)
    assert (tmp_path / "v.mp4").read_bytes() == MP4


def test_openai_expired_metadata_url_falls_back_to_the_content_endpoint(tmp_path):
    task = {**OPENAI_DONE, "metadata": {"url": STORE}}
    site = Site([task], {STORE: httpx.Response(410), CONTENT: httpx.Response(200, content=MP4)})
    client, rec = client_for(site, "openai-videos")
    client.download("video_1", tmp_path / "v.mp4")
    assert [r.url.path for r in rec.requests] == ["/v1/videos/video_1", "/out/v.mp4", "/v1/videos/video_1",
                                                  "/v1/videos/video_1/content"]
    assert (tmp_path / "v.mp4").read_bytes() == MP4


def test_a_succeeded_task_without_a_link_says_so(tmp_path):
    client, _ = client_for(Site([{"id": "cgt-1", "status": "succeeded"}], {}))
    with pytest.raises(DownloadError, match="names no video url"):
        client.download("cgt-1", tmp_path / "v.mp4")
