"""Media rules through `check`: both sides of every limit, on generated files, data: URLs and
(opt-in) remote URLs. The inspector's facts themselves are tested in test_inspect.py."""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from media import Media, has_encoder, heif_bytes, media  # noqa: F401  (media: the session fixture)

M = "doubao-seedance-2-0-260128"
T = {"type": "text", "text": "go"}


def _image(url, role="reference_image"):
    return {"type": "image_url", "image_url": {"url": url}, "role": role}


def _video(url):
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def _audio(url):
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def check(cli, tmp_path, *items, args=(), name="req.json", model=M, params=None, text="go"):
    """Write a request next to its media (copied in) and return {rule: [finding, ...]}."""
    content = [{"type": "text", "text": text}]
    for item in items:
        key = item["type"]
        url = item[key]["url"]
        if isinstance(url, Path):
            dest = tmp_path / url.name
            if not dest.exists():
                shutil.copy(url, dest)
            item = {**item, key: {"url": url.name}}
        content.append(item)
    if not any(i["type"] in ("image_url", "video_url") for i in content):
        content.append(_image("https://example.com/pad.png"))
    req = tmp_path / name
    req.write_text(json.dumps({"model": model, "content": content, **(params or {})}))
    res = cli("check", req, "--format", "json", *args)
    out: dict[str, list] = {}
    for f in res.json()["results"][0]["findings"]:
        out.setdefault(f["rule"], []).append(f)
    return out


@pytest.mark.parametrize("size,fails", [((299, 400), True), ((300, 400), False), ((6000, 3000), False),
                                        ((6001, 3000), True)])
def test_image_dimensions(cli, tmp_path, media, size, fails):
    path = media.image(size=size, mode="L")
    found = check(cli, tmp_path, _image(path))
    assert ("image.dimensions" in found) is fails
    if fails:
        f = found["image.dimensions"][0]
        assert f["pointer"] == "/content/1/image_url/url" and path.name in f["message"]
        assert f["actual"] in size and f["expected"] == "300–6000"


@pytest.mark.parametrize("size,fails", [((390, 1000), True), ((400, 1000), False), ((1000, 400), False),
                                        ((1004, 400), True)])
def test_image_aspect_ratio(cli, tmp_path, media, size, fails):
    found = check(cli, tmp_path, _image(media.image(size=size, mode="L")))
    assert ("image.aspect-ratio" in found) is fails


@pytest.mark.parametrize("fmt,fails", [("jpeg", False), ("png", False), ("webp", False), ("bmp", False),
                                       ("tiff", False), ("gif", False), ("ppm", True), ("ico", True)])
def test_image_format(cli, tmp_path, media, fmt, fails):
    size = (256, 256) if fmt == "ico" else (320, 320)  # ICO holds at most 256×256
    found = check(cli, tmp_path, _image(media.image(fmt=fmt, size=size, mode="RGB")))
    assert ("image.format" in found) is fails
    assert "media.unreadable" not in found


def test_heic_is_rejected(cli, tmp_path, media):
    path = media.write("photo.heic", heif_bytes(640, 480))
    found = check(cli, tmp_path, _image(path))
    assert found["image.format"][0]["actual"] == "heic"


# Documented 2–15 s; the servers enforce 1.8–15.2 s: between the two a warning, beyond an error.
@pytest.mark.parametrize("seconds,severity", [(1.7, "error"), (1.9, "warning"), (2.0, None), (15.0, None),
                                              (15.1, "warning"), (15.3, "error")])
def test_video_duration(cli, tmp_path, media, seconds, severity):
    found = check(cli, tmp_path, _video(media.video(seconds=seconds, fps=10)))
    assert [f["severity"] for f in found.get("video.duration", [])] == ([severity] if severity else [])
    if severity == "warning":
        assert "the API documents this limit; its servers accept 1.8–15.2 today" in found["video.duration"][0]["message"]


@pytest.mark.parametrize("seconds,severity", [(15.1, None), (30.0, None), (30.1, "warning"), (30.4, "error")])
def test_video_duration_on_seedance_25(cli, tmp_path, media, seconds, severity):
    found = check(cli, tmp_path, _video(media.video(seconds=seconds, fps=10)), model="doubao-seedance-2-5-260628")
    assert [f["severity"] for f in found.get("video.duration", [])] == ([severity] if severity else [])


@pytest.mark.parametrize("fps,fails", [(23, True), (24, False), (60, False), (61, True)])
def test_video_fps(cli, tmp_path, media, fps, fails):
    found = check(cli, tmp_path, _video(media.video(seconds=1.0, fps=fps)))
    assert ("video.fps" in found) is fails


@pytest.mark.parametrize("size,fails", [((641, 639), True), ((640, 640), False), ((834, 1112), False),
                                        ((367, 2527), True)])
def test_video_pixels(cli, tmp_path, media, size, fails):
    found = check(cli, tmp_path, _video(media.sized_video(*size)))
    assert ("video.pixels" in found) is fails
    if fails:
        assert found["video.pixels"][0]["actual"] == size[0] * size[1]


def test_video_dimensions_and_aspect(cli, tmp_path, media):
    found = check(cli, tmp_path, _video(media.sized_video(2000, 250)))
    assert {"video.dimensions", "video.aspect-ratio"} <= set(found)


@pytest.mark.parametrize("container,codec,fails", [("mp4", "libx264", False), ("mov", "libx264", False),
                                                   ("mp4", "libx265", False), ("mov", "libx265", False),
                                                   ("mkv", "libx264", True), ("avi", "mpeg4", True),
                                                   ("webm", "libvpx-vp9", True)])
def test_video_format(cli, tmp_path, media, container, codec, fails):
    if not has_encoder(codec):
        pytest.skip(f"this ffmpeg build has no {codec}")
    found = check(cli, tmp_path, _video(media.video(container=container, codec=codec)))
    assert ("video.format" in found) is fails
    assert "media.unreadable" not in found and "media.type-mismatch" not in found


def test_video_total_duration(cli, tmp_path, media):
    eight = media.video(seconds=8.0, fps=5)
    seven = media.video(seconds=7.5, fps=4)
    over = check(cli, tmp_path, _video(eight), _video(eight))
    assert over["video.total-duration"][0]["actual"] == pytest.approx(16.0)
    assert over["video.total-duration"][0]["severity"] == "error"
    assert "video.duration" not in over
    ok = check(cli, tmp_path, _video(seven), _video(seven), name="ok.json")
    assert "video.total-duration" not in ok
    tolerated = check(cli, tmp_path, _video(seven), _video(media.video(seconds=7.6, fps=5)), name="tol.json")
    assert [f["severity"] for f in tolerated["video.total-duration"]] == ["warning"]  # 15.1 s: enforced 15.2
    on_25 = check(cli, tmp_path, _video(eight), _video(eight), name="25.json", model="doubao-seedance-2-5-260628")
    assert "video.total-duration" not in on_25  # 2.5 takes 30 s of reference video


@pytest.mark.parametrize("seconds,severity", [(1.7, "error"), (1.9, "warning"), (2.0, None), (15.0, None),
                                              (15.1, "warning"), (15.3, "error")])
def test_audio_duration(cli, tmp_path, media, seconds, severity):
    found = check(cli, tmp_path, _audio(media.audio(seconds=seconds)))
    assert [f["severity"] for f in found.get("audio.duration", [])] == ([severity] if severity else [])


@pytest.mark.parametrize("container,channels,fails", [("wav", 1, False), ("wav", 2, False), ("mp3", 1, False),
                                                      ("mp3", 2, False), ("flac", 1, True), ("ogg", 2, True),
                                                      ("m4a", 1, True)])
def test_audio_format(cli, tmp_path, media, container, channels, fails):
    found = check(cli, tmp_path, _audio(media.audio(seconds=3.0, container=container, channels=channels)))
    assert ("audio.format" in found) is fails
    assert "audio.duration" not in found


def test_audio_total_duration(cli, tmp_path, media):
    ten = media.audio(seconds=10.0)
    found = check(cli, tmp_path, _audio(ten), _audio(ten))
    assert found["audio.total-duration"][0]["actual"] == pytest.approx(20.0)
    assert found["audio.total-duration"][0]["severity"] == "error"


# Seedance 2.5 task types: the source clip of an edit is 4–30 s, judged on the inspected duration.
EDIT_25 = {"omni_reference_task_type": "edit", "ratio": "adaptive", "duration": -1}


@pytest.mark.parametrize("seconds,fails", [(2.8, True), (3.9, True), (4.0, False), (12.0, False)])
def test_seedance_25_edit_source_length(cli, tmp_path, media, seconds, fails):
    clip = media.video(seconds=seconds, fps=10)
    found = check(cli, tmp_path, _video(clip), model="dreamina-seedance-2-5-260628", params=EDIT_25,
                  text="Replace the cat in video 1 with a fox")
    assert ("task.edit" in found) is fails
    if fails:
        (f,) = found["task.edit"]
        assert f["severity"] == "error" and f["pointer"] == "/content/1/video_url/url"
        assert f"is {seconds:.2f} s" in f["message"] and "4–30 s" in f["message"]


def test_seedance_25_inferred_edit_reports_a_short_source(cli, tmp_path, media):
    """The 2.8 s incident: an edit prompt with no task type; ratio and duration right, the clip too short."""
    clip = media.video(seconds=2.8, fps=5)
    found = check(cli, tmp_path, _video(clip), model="doubao-seedance-2-5-260628",
                  params={"ratio": "adaptive", "duration": -1}, text="删除视频1中的路人，其他保持不变")
    (f,) = found["task.intent"]
    assert f["severity"] == "warning" and "2.80 s" in f["message"] and "4–30 s" in f["message"]
    on_20 = check(cli, tmp_path, _video(clip), model="doubao-seedance-2-0-260128", name="20.json",
                  params={"ratio": "16:9", "duration": 5}, text="删除视频1中的路人，其他保持不变")
    assert "task.intent" not in on_20  # 2.0 has no edit task type


def test_file_size_limits_are_data(cli, tmp_path, media):
    overlay = tmp_path / "tiny.toml"
    overlay.write_text('[rules."image.file-size"]\noptions = { below = 100 }\n'
                       '[rules."audio.file-size"]\noptions = { below = 100 }\n'
                       '[rules."video.file-size"]\noptions = { below = 100 }\n')
    found = check(cli, tmp_path, _image(media.image(size=(320, 320))), _video(media.video(seconds=2.0)),
                  _audio(media.audio(seconds=2.0)), args=("--rules", overlay))
    assert {"image.file-size", "video.file-size", "audio.file-size"} <= set(found)
    assert not {"image.file-size", "video.file-size", "audio.file-size"} & set(
        check(cli, tmp_path, _image(media.image(size=(320, 320))), name="plain.json"))


def test_missing_local_file(cli, tmp_path):
    found = check(cli, tmp_path, _image("media/nope.png"))
    f = found["media.not-found"][0]
    assert f["pointer"] == "/content/1/image_url/url" and "media/nope.png" in f["message"]


def test_relative_paths_resolve_from_the_request_folder(cli, tmp_path, media, monkeypatch):
    folder = tmp_path / "job"
    folder.mkdir()
    shutil.copy(media.image(size=(200, 200)), folder / "small.png")
    (folder / "req.json").write_text(json.dumps({"model": M, "content": [T, _image("small.png", "first_frame")]}))
    monkeypatch.chdir(tmp_path)  # not the request's folder
    res = cli("check", "job/req.json", "--format", "json")
    assert [f["rule"] for f in res.json()["results"][0]["findings"]] == ["image.dimensions"]


def test_truncated_and_garbage_are_unreadable(cli, tmp_path, media):
    jpeg = media.image(fmt="jpeg", size=(400, 400))
    cut = media.truncated(jpeg, 0.6, "cut.jpg")
    garbage = media.write("noise.png", bytes(range(256)) * 40)
    empty = media.write("empty.wav", b"")
    found = check(cli, tmp_path, _image(cut), _image(garbage), _audio(empty))
    assert [f["pointer"] for f in found["media.unreadable"]] == [
        "/content/1/image_url/url", "/content/2/image_url/url", "/content/3/audio_url/url"]


def test_type_mismatch_by_content_not_extension(cli, tmp_path, media):
    clip = media.video(seconds=2.0)
    disguised = media.write("clip.png", clip.read_bytes())
    found = check(cli, tmp_path, _image(disguised))
    assert "video file (mp4)" in found["media.type-mismatch"][0]["message"]


@pytest.mark.parametrize("container", ["mp4", "mov", "mkv"])
def test_video_without_video_track(cli, tmp_path, media, container):
    found = check(cli, tmp_path, _video(media.audio_only_container(container)))
    message = found["media.type-mismatch"][0]["message"]
    assert "no video track" in message or "the content is an audio file" in message


def test_data_url_is_inspected_and_its_type_checked(cli, tmp_path, media):
    png = media.image(size=(200, 200)).read_bytes()
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    found = check(cli, tmp_path, _image(url))
    assert found["image.dimensions"][0]["pointer"] == "/content/1/image_url/url"
    lying = "data:image/jpeg;base64," + base64.b64encode(png).decode()
    found = check(cli, tmp_path, _image(lying), name="lying.json")
    assert "declares image/jpeg but the content is png" in found["url.data-uri"][0]["message"]


def test_no_media_flag_skips_inspection(cli, tmp_path):
    found = check(cli, tmp_path, _image("media/nope.png"), args=("--no-media",))
    assert "media.not-found" not in found


def test_facts_cache_makes_the_second_run_read_no_media(cli, tmp_path, media, monkeypatch):
    path = media.image(size=(200, 200))
    first = check(cli, tmp_path, _image(path))
    import prep.inspect as inspector

    def boom(*a, **k):
        raise AssertionError("inspected again despite the cache")

    monkeypatch.setattr(inspector, "inspect_path", boom)
    assert check(cli, tmp_path, _image(path)) == first


# ---------------------------------------------------------------------------------------------------
# Remote URLs: a server on 127.0.0.1 only


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        self.seen.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(media):
    _Handler.files = {"/small.png": media.image(size=(200, 200)).read_bytes()}
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_remote_is_off_by_default(cli, tmp_path, server):
    found = check(cli, tmp_path, _image(f"{server}/small.png"))
    assert not {"image.dimensions", "media.not-found"} & set(found)
    assert _Handler.seen == []  # not one request left the process


def test_remote_private_host_refused_without_the_flag(cli, tmp_path, server):
    found = check(cli, tmp_path, _image(f"{server}/small.png"), args=("--remote",))
    assert _Handler.seen == []  # refused before connecting
    assert "private" in found["media.not-found"][0]["message"] or "loopback" in found["media.not-found"][0]["message"]


def test_remote_inspected_with_allow_private_hosts(cli, tmp_path, server):
    found = check(cli, tmp_path, _image(f"{server}/small.png"), _image(f"{server}/gone.png"),
                  args=("--remote", "--allow-private-hosts"))
    assert found["image.dimensions"][0]["pointer"] == "/content/1/image_url/url"
    missing = found["media.not-found"][0]
    assert missing["pointer"] == "/content/2/image_url/url" and "404" in missing["message"]


def test_parallel_workers_leave_their_facts_in_the_cache(cli, tmp_path, media):
    from prep.lint import PARALLEL_MIN

    image = tmp_path / "shared.png"
    shutil.copy(media.image(size=(320, 320)), image)
    for i in range(PARALLEL_MIN + 10):
        (tmp_path / f"r{i:04d}.json").write_text(json.dumps({"model": M, "content": [T, _image("shared.png", "first_frame")]}))
    res = cli("check", tmp_path, "-j", "2")
    assert res.code == 0
    # Read the cache from a fresh process: this one may hold that bucket as it was before the workers
    # wrote (a process reads a bucket file once), which made this test fail now and then.
    import subprocess
    import sys

    from conftest import ROOT

    probe = ("import sys; from prep.facts_cache import FactsCache; f = FactsCache().get(sys.argv[1]); "
             "print(f and (f.width, f.height))")
    out = subprocess.run([sys.executable, "-c", probe, str(image)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.strip()
    assert out == "(320, 320)"


def test_remote_unreachable_host_is_a_warning_not_a_missing_file(cli, tmp_path):
    """No server answered (here: nothing listens on the port): the environment, maybe not the request."""
    import socket

    with socket.socket() as s:  # a loopback port with nothing behind it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    found = check(cli, tmp_path, _image(f"http://127.0.0.1:{port}/a.png"), args=("--remote", "--allow-private-hosts"))
    assert "media.not-found" not in found
    (f,) = found["media.unreachable"]
    assert f["severity"] == "warning" and "not inspected" in f["message"] and "127.0.0.1" in f["message"]
