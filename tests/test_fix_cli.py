"""`seedance-prep fix` end to end: a failing request and its media in, a folder that checks clean out,
the originals untouched. Outputs are measured again by independent readers (Pillow, pymediainfo)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from media import media  # noqa: F401  (the fixture)

MEDIA_JOB = ROOT / "fixtures" / "media-job"


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def job(tmp_path) -> Path:
    """A copy of fixtures/media-job (a 3000×600 banner, a 15 fps clip) to fix."""
    folder = tmp_path / "job"
    shutil.copytree(MEDIA_JOB, folder)
    return folder


def test_the_media_job_is_fixed_end_to_end_and_checks_clean(cli, job, tmp_path):
    from PIL import Image
    from pymediainfo import MediaInfo

    before = digests(job)
    out = tmp_path / "out"
    run = cli("fix", str(job / "request.json"), "--out", str(out))
    assert run.code == 0, run.out + run.err
    assert "check: clean" in run.out
    assert digests(job) == before  # the originals are untouched
    fixed = json.loads((out / "request.json").read_text())
    urls = [item.get("image_url", item.get("video_url", {})).get("url") for item in fixed["content"][1:]]
    assert all(u.startswith("media/") for u in urls)
    # Measured again, by readers other than the project's inspector.
    banner = out / [u for u in urls if "banner" in u][0]
    with Image.open(banner) as im:
        assert 0.4 <= im.width / im.height <= 2.5 and min(im.size) >= 300
    clip = out / [u for u in urls if u.endswith(".mp4")][0]
    video = next(t for t in MediaInfo.parse(clip).tracks if t.track_type == "Video")
    assert 24 <= float(video.frame_rate) <= 60
    assert cli("check", str(out / "request.json")).code == 0


def test_fixing_a_fixed_request_changes_no_media_byte(cli, job, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("fix", str(job / "request.json"), "--out", str(first)).code == 0
    run = cli("fix", str(first / "request.json"), "--out", str(second), "--format", "json")
    assert run.code == 0, run.out + run.err
    plan = json.loads(run.out)["results"][0]["plan"]
    assert all(j["copy"] for j in plan["jobs"]) and not plan["edits"]
    assert digests(first / "media") == digests(second / "media")


def test_diff_shows_the_plan_and_writes_nothing(cli, job, tmp_path):
    out = tmp_path / "never"
    run = cli("fix", str(job / "request.json"), "--out", str(out), "--diff")
    assert run.code == 1  # the request as it is still fails
    assert "banner.png" in run.out and "clip.mp4" in run.out and "nothing written" in run.out
    assert "+" in run.out and "media/" in run.out  # the request's JSON diff
    assert not out.exists()


def test_json_plan_names_each_job_its_rules_and_target(cli, job):
    run = cli("fix", str(job / "request.json"), "--diff", "--format", "json")
    doc = json.loads(run.out)
    jobs = {j["output"]: j for j in doc["results"][0]["plan"]["jobs"]}
    banner = next(j for name, j in jobs.items() if name.startswith("banner"))
    assert "image.aspect-ratio" in banner["rules"] and banner["target"]["size"][0] / banner["target"]["size"][1] <= 2.5
    clip = next(j for name, j in jobs.items() if name.startswith("clip"))
    assert "video.fps" in clip["rules"] and 24 <= clip["target"]["fps"] <= 60
    product = next(j for name, j in jobs.items() if name.startswith("product"))
    assert product["copy"] and product["target"] is None


def test_several_requests_get_a_folder_each(cli, job, tmp_path):
    other = job / "again.json"
    other.write_text((job / "request.json").read_text())
    out = tmp_path / "out"
    run = cli("fix", str(job / "request.json"), str(other), "--out", str(out))
    assert run.code == 0, run.out + run.err
    assert (out / "request" / "request.json").is_file() and (out / "again" / "request.json").is_file()
    assert digests(out / "request" / "media") == digests(out / "again" / "media")


def test_a_folder_gives_its_requests_and_passes_over_other_json(cli, job, tmp_path):
    """A folder is walked as `check` walks it; JSON that is plainly no request is passed over with a
    note; an output folder inside it is not read back the next run; stdin is refused."""
    (job / "again.json").write_text((job / "request.json").read_text())
    (job / "package.json").write_text('{"name": "site", "version": "1.0.0"}')
    out = job / "fixed"
    first = cli("fix", str(job), "--out", str(out))
    assert first.code == 0, first.out + first.err
    assert sorted(p.name for p in out.iterdir()) == ["again", "request"]
    assert "package.json: not a Seedance request" in first.err
    again = cli("fix", str(job), "--out", str(out))
    assert again.code == 0 and sorted(p.name for p in out.iterdir()) == ["again", "request"], again.out + again.err
    named = cli("fix", str(job / "package.json"), "--out", str(tmp_path / "x"))  # named: checked as a request
    assert named.code == 1 and "param.model" in named.out
    stdin = cli("fix", "-", "--out", str(tmp_path / "y"))
    assert stdin.code == 2 and "standard input" in stdin.err
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("fix", str(empty), "--out", str(tmp_path / "z"))
    assert none.code == 2 and "no request files" in none.err


@pytest.mark.parametrize("args, message", [
    ((), "--out"),
    (("--out", "{job}"), "overwrite an original"),
    (("--out", "{out}", "--pad-color", "red"), "--pad-color"),
])
def test_bad_invocations_are_one_line_and_exit_2(cli, job, tmp_path, args, message):
    args = [a.format(job=job, out=tmp_path / "o") for a in args]
    run = cli("fix", str(job / "request.json"), *args)
    assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1
    assert "Traceback" not in run.err


def test_a_file_that_is_not_a_request_is_exit_2(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = cli("fix", str(bad), "--out", str(tmp_path / "o"))
    assert run.code == 2 and "not a request" in run.err


def test_outputs_get_a_normal_file_mode_and_no_temporary_file_is_left(tmp_path):
    import os
    import stat

    from prep.fix.files import atomic_output, write_bytes_atomic

    target = tmp_path / "x.json"
    write_bytes_atomic(target, b"{}")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask  # not mkstemp's private 0600
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "y.mp4") as tmp:
            Path(tmp).write_bytes(b"half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_the_python_api_returns_the_plan_and_what_remains(job, tmp_path):
    from prep.fix import fix

    result = fix(str(job / "request.json"), str(tmp_path / "out"))
    assert result.remaining == () and result.out == str(tmp_path / "out" / "request.json")
    assert {r for j in result.plan.jobs for r in j.rules} >= {"image.aspect-ratio", "video.fps"}
    planned = fix(str(job / "request.json"), diff=True)
    assert planned.out == "" and planned.diff and not (tmp_path / "never").exists()
    import prep  # the spelling: the package itself is callable, its modules stay reachable

    again = prep.fix(str(job / "request.json"), str(tmp_path / "again"), unsafe=False)
    assert again.plan.jobs == result.plan.jobs and callable(prep.fix.plan.plan_media)


def test_an_inline_image_is_fixed_and_written_back_as_a_data_url(cli, tmp_path):
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 150), "red").save(buf, "PNG")  # 200 px: under the 300 px minimum side
    request = tmp_path / "inline.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "a red card"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
         "role": "reference_image"}]}))
    out = tmp_path / "out"
    run = cli("fix", str(request), "--out", str(out))
    assert run.code == 0, run.out + run.err
    url = json.loads((out / "request.json").read_text())["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        assert min(im.size) >= 300 and abs(im.width / im.height - 200 / 150) < 0.01
    assert not (out / "media").exists()  # inlined, not written as a file


def test_the_data_url_media_type_comes_from_the_rule_set(cli, tmp_path):
    """The type written back is one the profile's `url.data-uri` rule accepts for that format: an overlay
    that accepts PNG only as `image/x-png` moves it (and the fixed request then checks clean under it)."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 150), "red").save(buf, "PNG")
    overlay = tmp_path / "x-png.toml"
    overlay.write_text('[rules."url.data-uri"]\noptions.media_types.image = { "image/x-png" = "png" }\n'
                       'options.media_types.audio = { "audio/mpeg" = "mp3" }\n')
    request = tmp_path / "inline.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "a red card"},
        {"type": "image_url", "image_url": {"url": "data:image/x-png;base64," + base64.b64encode(buf.getvalue()).decode()},
         "role": "reference_image"}]}))
    run = cli("fix", str(request), "--out", str(tmp_path / "out"), "--rules", str(overlay))
    assert run.code == 0, run.out + run.err
    url = json.loads((tmp_path / "out" / "request.json").read_text())["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/x-png;base64,")
    plain = cli("fix", str(request), "--out", str(tmp_path / "plain"))  # built-in rules: image/png
    assert plain.code == 0, plain.out + plain.err
    assert json.loads((tmp_path / "plain" / "request.json").read_text())["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,")


def test_flatten_writes_an_animation_as_its_first_frame_only_when_asked(cli, tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (400, 400), c) for c in ("red", "lime", "blue")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (tmp_path / "r.json").write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "a.gif"}, "role": "reference_image"}]}))
    kept = cli("fix", str(tmp_path / "r.json"), "--out", str(tmp_path / "kept"))
    flat = cli("fix", str(tmp_path / "r.json"), "--out", str(tmp_path / "flat"), "--flatten")
    assert kept.code == flat.code == 0, kept.out + flat.out
    assert (tmp_path / "kept" / "media" / "a.gif").read_bytes() == (tmp_path / "a.gif").read_bytes()
    with Image.open(tmp_path / "flat" / "media" / "a.gif") as im:
        assert getattr(im, "n_frames", 1) == 1 and im.convert("RGB").getpixel((200, 200)) == (255, 0, 0)
    assert "flatten" in flat.out and (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"


def test_content_dropping_fixes_wait_for_unsafe(cli, tmp_path, media):
    long_clip = media.audio(seconds=17.0, container="wav")
    shutil.copy(long_clip, tmp_path / "song.wav")
    shutil.copy(MEDIA_JOB / "product.jpg", tmp_path / "product.jpg")
    request = tmp_path / "song.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "dance to it"},
        {"type": "image_url", "image_url": {"url": "product.jpg"}, "role": "reference_image"},
        {"type": "audio_url", "audio_url": {"url": "song.wav"}, "role": "reference_audio"}]}))
    safe = cli("fix", str(request), "--out", str(tmp_path / "safe"))
    assert safe.code == 1 and "not fixed" in safe.out and "--unsafe" in safe.out and "audio.duration" in safe.out
    unsafe = cli("fix", str(request), "--out", str(tmp_path / "unsafe"), "--unsafe")
    assert unsafe.code == 0, unsafe.out + unsafe.err
    from pymediainfo import MediaInfo

    track = next(t for t in MediaInfo.parse(tmp_path / "unsafe" / "media" / "song.wav").tracks
                 if t.track_type == "Audio")
    assert float(track.duration) / 1000 <= 15.0


class FakeTty:
    """A stderr that says it is a terminal, keeping what is written to it."""

    def __init__(self, monkeypatch=None) -> None:
        if monkeypatch is not None:  # a wide terminal: lines are cut to its width
            monkeypatch.setenv("COLUMNS", "200")
        self.parts: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(self.parts)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_on_a_terminal_each_job_gets_a_live_line_that_ends_at_100_percent(cli, job, tmp_path, monkeypatch, workers):
    import sys

    tty = FakeTty(monkeypatch)
    monkeypatch.setattr(sys, "stderr", tty)
    run = cli("fix", str(job / "request.json"), "--out", str(tmp_path / "out"), "-j", workers, "--no-cache")
    assert run.code == 0, run.out + tty.text
    lines = tty.text.replace("\x1b[J", "\n").splitlines()
    for name in ("banner", "clip"):
        assert any(name in line and "100%" in line for line in lines), tty.text
        assert any(name in line and "100%" not in line for line in lines), tty.text  # while it ran
    assert "\x1b[" in tty.text  # redrawn in place
    assert "product" not in tty.text  # a plain copy is no job to watch
    # The live lines are gone at the end: the last thing drawn is a finished job or a clear.
    tail = tty.text.rsplit("\x1b[J", 1)[-1]
    assert all("100%" in line for line in tail.splitlines()), tail
    assert "check: clean" in run.out and "\x1b" not in run.out


def test_a_cache_hit_shows_on_the_terminal_too(cli, job, tmp_path, monkeypatch):
    import sys

    assert cli("fix", str(job / "request.json"), "--out", str(tmp_path / "first")).code == 0
    tty = FakeTty(monkeypatch)
    monkeypatch.setattr(sys, "stderr", tty)
    assert cli("fix", str(job / "request.json"), "--out", str(tmp_path / "second")).code == 0
    assert any("banner" in line and "100%" in line and "cache" in line for line in tty.text.splitlines())


def test_without_a_terminal_progress_is_plain_lines(cli, job, tmp_path):
    run = cli("fix", str(job / "request.json"), "--out", str(tmp_path / "out"), "--no-cache")
    assert run.code == 0
    assert "\x1b" not in run.err
    err = run.err.splitlines()
    for name in ("banner", "clip"):
        assert any(line.startswith("fixing ") and name in line for line in err), run.err
        assert any(line.startswith("done ") and name in line for line in err), run.err


@pytest.mark.parametrize("flags", [("-q",), ("--format", "json")])
def test_quiet_and_json_print_no_progress(cli, job, tmp_path, monkeypatch, flags):
    import sys

    tty = FakeTty(monkeypatch)
    monkeypatch.setattr(sys, "stderr", tty)
    run = cli("fix", str(job / "request.json"), "--out", str(tmp_path / "out"), "--no-cache", *flags)
    assert run.code == 0 and tty.text == ""
    if "json" in flags:
        doc = json.loads(run.out)  # stdout is the JSON document alone
        assert doc["summary"]["jobs"] == 2


def test_the_display_shows_ffmpeg_percent_and_clears_its_lines(monkeypatch):
    from prep.fix.report import Progress

    tty = FakeTty(monkeypatch)
    p = Progress(tty, tty=True)
    p.start(0, "clip.mp4", "15 fps → 24 fps")
    p.start(1, "song.mp3", "wav → mp3")
    p._last = float("-inf")  # no redraw throttle for this one update
    p.update(0, 2.5, 5.0)
    assert " 50%" in tty.parts[-1] and "song.mp3" in tty.parts[-1]
    p.finish(0)
    p.finish(1, cached=True)
    p.close()
    text = tty.text
    assert all(len(line) <= 200 for line in text.splitlines())
    assert "clip.mp4 100%  15 fps → 24 fps" in text and "song.mp3 100%  wav → mp3 (from the cache)" in text
    assert text.endswith("\n")


def test_on_a_narrow_terminal_lines_are_cut_after_the_name_and_percent(monkeypatch):
    from prep.fix.report import Progress

    tty = FakeTty()
    monkeypatch.setenv("COLUMNS", "30")
    p = Progress(tty, tty=True)
    p.start(0, "clip.mp4", "scale 1920×1080 → 1280×720; 30 fps → 24 fps; trim 20.0 s → 15.0 s")
    p.finish(0)
    p.close()
    lines = [line for line in tty.text.replace("\x1b[J", "\n").splitlines() if "clip.mp4" in line]
    assert lines and all(len(line.split("\x1b[")[0]) <= 29 for line in lines)
    assert any("clip.mp4 100%" in line for line in lines)


def test_an_item_no_encoding_can_fix_is_listed_and_the_rest_is_fixed(cli, job, tmp_path):
    # A size limit no JPEG reaches (an overlay: under 2 kB) cannot be met for the 17 kB product photo;
    # the banner and the clip are still fixed, the photo is copied as it was, and the exit says so.
    overlay = tmp_path / "tiny.toml"
    overlay.write_text('[rules."image.file-size"]\noptions = { below = 2000 }\n')
    before = digests(job)
    out = tmp_path / "out"
    run = cli("fix", str(job / "request.json"), "--out", str(out), "--rules", str(overlay))
    assert run.code == 1, run.out + run.err
    assert "not fixed: content[1]" in run.out and "could not fix" in run.out
    assert "check: clean" not in run.out and "image.file-size" in run.out
    fixed = json.loads((out / "request.json").read_text())
    assert len(fixed["content"]) == 4  # the request stays whole
    urls = [item.get("image_url", item.get("video_url", {})).get("url") for item in fixed["content"][1:]]
    media = digests(out / "media")
    # What could not be fixed is copied as it was, under a name of its own kind (never a .webp holding a PNG).
    assert media["product.jpg"] == before["product.jpg"] and "media/product.jpg" in urls
    assert media["banner.png"] == before["banner.png"] and "media/banner.png" in urls
    from pymediainfo import MediaInfo

    video = next(t for t in MediaInfo.parse(out / "media" / "clip.mp4").tracks if t.track_type == "Video")
    assert float(video.frame_rate) >= 24  # the clip, which no limit stopped, is fixed
    assert "media.type-mismatch" not in run.out
    assert digests(job) == before


@pytest.mark.parametrize("n, text", [(30 * 1024 * 1024, "30 MB"), (2000, "1.953 kB"), (512, "512 bytes"),
                                     (15 * 1024 * 1024 - 1, "15 MB")])
def test_byte_limits_read_as_people_read_them(n, text):
    from prep.fix.files import size_text

    assert size_text(n) == text
