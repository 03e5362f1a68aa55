"""--deep: files are decoded (ffmpeg for video and audio, Pillow for images) to confirm the header
readers' "readable": a file whose header is sound but whose data is garbage becomes media.unreadable."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from media import heif_bytes, media, png_claiming  # noqa: F401  (media: the session fixture)

M = "doubao-seedance-2-0-260128"


def _garbled(media, path: Path, name: str) -> Path:
    """A copy of the MP4 at ``path`` whose media data (after the first bytes of 'mdat') is noise."""
    data = bytearray(path.read_bytes())
    start = data.rindex(b"mdat") + 4 + 16
    noise = random.Random(8)
    for i in range(start, len(data)):
        data[i] = noise.randrange(256)
    return media.write(name, bytes(data))


@pytest.fixture(scope="module")
def files(media):
    good = media.video(size="64x64", fps=10, seconds=2.0, faststart=True, audio=True)
    silent = media.video(size="64x64", fps=10, seconds=2.0, faststart=True)
    return {
        "good": good,
        "silent": silent,
        "garbled": _garbled(media, silent, "garbled.mp4"),
        "short": media.truncated(good, len(good.read_bytes()) - 40, "short-tail.mp4"),
        "mp3": media.audio(seconds=2.0, container="mp3"),
        "wav": media.audio(seconds=2.0),
        "png": media.image(size=(64, 48)),
        "jpeg": media.image(fmt="jpeg", size=(64, 48)),
        "png_claiming": media.write("claims-big.png", png_claiming(2000, 2000)),
    }


def _deep(**kwargs):
    from prep.deep import Deep

    return Deep(**kwargs)


def _facts(path):
    from prep.inspect import inspect_path

    return inspect_path(path)


@pytest.mark.parametrize("name", ["good", "silent", "short", "mp3", "wav", "png", "jpeg"])
def test_a_file_that_decodes_keeps_its_facts(files, name):
    facts = _facts(files[name])
    assert facts.problem is None
    assert _deep().check(files[name], facts) == facts


def test_garbled_frames_behind_a_sound_header_are_unreadable(files):
    facts = _facts(files["garbled"])
    assert facts.problem is None and facts.codec == "h264"  # the header readers pass it
    checked = _deep().check(files["garbled"], facts)
    assert checked.problem.startswith("ffmpeg could not decode it: [h264] ")
    assert "@ 0x" not in checked.problem and "\n" not in checked.problem
    assert checked._replace(problem=None) == facts  # every other fact stays as read


def test_an_image_whose_pixels_are_missing_is_unreadable(files):
    facts = _facts(files["png_claiming"])
    assert facts.problem is None and (facts.width, facts.height) == (2000, 2000)
    checked = _deep().check(files["png_claiming"], facts)
    assert checked.problem.startswith("Pillow could not decode it: ")


def test_an_image_format_pillow_does_not_read_keeps_its_header_facts(media):
    """HEIC needs a Pillow plugin; image.format rejects it, --deep does not call it unreadable."""
    path = media.write("photo.heic", heif_bytes(640, 480))
    facts = _facts(path)
    assert facts.kind == "image" and facts.format in ("heic", "heif") and facts.problem is None
    deep = _deep()
    assert deep.check(path, facts) == facts
    deep.warm([path])
    assert deep._memo == {}


def test_an_already_unreadable_file_is_not_decoded(files, monkeypatch):
    import prep.deep

    monkeypatch.setattr(prep.deep, "decode_av", lambda *a: pytest.fail("decoded an unreadable file"))
    facts = _facts(files["good"])._replace(problem="moov box overruns the file")
    assert _deep().check(files["good"], facts) == facts


def test_a_decode_that_runs_out_of_time_leaves_the_file_unjudged(files, monkeypatch):
    monkeypatch.setenv("SEEDANCE_PREP_DEEP_TIMEOUT", "0.000001")
    facts = _facts(files["good"])
    checked = _deep().check(files["good"], facts)
    assert checked.problem is None
    assert checked.unjudged == "--deep: ffmpeg did not finish decoding it within 1e-06 s"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_timeout_setting_is_a_user_error(monkeypatch, value):
    from prep.model import PrepError

    monkeypatch.setenv("SEEDANCE_PREP_DEEP_TIMEOUT", value)
    with pytest.raises(PrepError, match="SEEDANCE_PREP_DEEP_TIMEOUT"):
        _deep()


def test_each_file_is_decoded_once_per_run(files, monkeypatch):
    import prep.deep

    calls = []
    real = prep.deep.decode_av
    monkeypatch.setattr(prep.deep, "decode_av", lambda *a: calls.append(a[0]) or real(*a))
    deep = _deep(jobs=2)
    deep.warm([files["good"], files["garbled"], files["png"]])
    assert sorted(calls) == sorted(map(str, (files["good"], files["garbled"])))
    assert deep.check(files["garbled"], _facts(files["garbled"])).problem
    assert len(calls) == 2  # answered from memory


# -- through the CLI ---------------------------------------------------------------------------------


def _request(tmp_path, *urls) -> Path:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}, "role": "reference_image"}
    items = [{"type": "video_url", "video_url": {"url": str(u)}, "role": "reference_video"} for u in urls]
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"model": M, "content": [{"type": "text", "text": "go"}, image, *items]}))
    return req


def _unreadable(res) -> list:
    return [f for f in res.json()["results"][0]["findings"] if f["rule"] == "media.unreadable"]


def test_check_deep_reports_the_garbled_clip_only(cli, tmp_path, files):
    req = _request(tmp_path, files["good"], files["garbled"])
    assert _unreadable(cli("check", req, "--format", "json")) == []
    res = cli("check", req, "--format", "json", "--deep")
    (f,) = _unreadable(res)
    assert f["pointer"] == "/content/3/video_url/url" and f["severity"] == "error" and res.code == 1
    assert "unreadable: ffmpeg could not decode it: [h264]" in f["message"]


def test_check_deep_decodes_data_urls(cli, tmp_path, files):
    import base64

    url = "data:image/png;base64," + base64.b64encode(files["png_claiming"].read_bytes()).decode()
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"model": M, "content": [
        {"type": "text", "text": "go"}, {"type": "image_url", "image_url": {"url": url}}]}))
    assert _unreadable(cli("check", req, "--format", "json")) == []
    (f,) = _unreadable(cli("check", req, "--format", "json", "--deep"))
    assert "Pillow could not decode it" in f["message"] and f["pointer"] == "/content/1/image_url/url"


def test_inspect_deep(cli, files):
    paths = (files["good"], files["garbled"], files["png_claiming"])
    res = cli("inspect", *paths, "--deep", "--format", "json")
    problems = {Path(r["path"]).name: r["facts"]["problem"] for r in res.json()["files"]}
    assert problems[files["good"].name] is None
    assert problems[files["garbled"].name].startswith("ffmpeg could not decode it: [h264]")
    assert problems[files["png_claiming"].name].startswith("Pillow could not decode it")
    plain = cli("inspect", *paths, "--format", "json")
    assert [r["facts"]["problem"] for r in plain.json()["files"]] == [None, None, None]
    text = cli("inspect", *paths, "--deep").out
    assert "media.unreadable unreadable: ffmpeg could not decode it: [h264]" in text
    assert text.count("media.unreadable") == 2


def test_inspect_deep_out_of_time_is_a_warning(cli, files, monkeypatch):
    monkeypatch.setenv("SEEDANCE_PREP_DEEP_TIMEOUT", "0.000001")
    res = cli("inspect", files["good"], "--deep")
    assert "media.unjudged not fully judged: --deep: ffmpeg did not finish decoding it within 1e-06 s" in res.out


@pytest.mark.parametrize("how", ["not installed", "no binary"])
def test_deep_without_ffmpeg_is_one_line_and_exit_2(cli, tmp_path, files, monkeypatch, how):
    import sys

    if how == "not installed":
        monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
    else:
        import imageio_ffmpeg

        def missing():
            raise RuntimeError("No ffmpeg exe could be found.")

        monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    for args in (("check", _request(tmp_path, files["good"])), ("inspect", files["good"])):
        res = cli(*args, "--deep")
        assert res.code == 2 and res.out == ""
        assert len(res.err.strip().splitlines()) == 1 and "imageio-ffmpeg" in res.err
        assert res.err.startswith("seedance-prep: error: --deep needs")
    assert cli("inspect", files["good"]).code in (0, 1)  # without --deep, ffmpeg is not needed


def test_help_text_mentions_deep(capsys):
    from prep.cli import main

    for command in ("check", "inspect"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--deep" in out and "media.unreadable" in out


def test_show_settings_says_media_is_decoded(cli, tmp_path):
    res = cli("check", tmp_path, "--show-settings", "--deep")
    assert "(--deep: decoded)" in res.out


def test_ffmpeg_is_the_one_imageio_ffmpeg_ships():
    import imageio_ffmpeg

    from prep.deep import ffmpeg_exe

    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()
    assert subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, check=False).returncode == 0


def test_an_image_past_pillows_bomb_bound_is_not_decoded_nor_called_unreadable(media):
    # 20000×20000 is past Pillow's decompression-bomb bound (89 megapixels; it refuses 2× that): --deep
    # leaves it to the image rules, which reject it by size, instead of calling it unreadable.
    from PIL import Image

    from prep.deep import decode_image

    path = media.write("huge.png", png_claiming(20000, 20000))
    assert 20000 * 20000 > 2 * Image.MAX_IMAGE_PIXELS
    assert decode_image(str(path)) == (None, None)
