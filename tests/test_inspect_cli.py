"""The inspect command: facts and media findings per file, exit codes, formats."""

from __future__ import annotations

from media import media  # noqa: F401  (the session fixture)


def test_inspect_text_shows_facts_and_findings(cli, media):
    small = media.image(size=(200, 200))
    clip = media.video(seconds=2.0, fps=24, size="640x640")
    res = cli("inspect", small, clip)
    assert res.code == 1
    lines = res.out.splitlines()
    assert lines[0] == f"{small}: image png 200×200, {lines[0].rsplit(', ', 1)[1]}"
    assert lines[1].startswith("  image.dimensions image is 200×200; each side must be 300–6000 px")
    assert lines[2].startswith(f"{clip}: video mp4 h264 640×640 24 fps 2.00 s")
    assert lines[-1] == "2 files inspected, 1 with findings."


def test_inspect_json(cli, media):
    clip = media.video(seconds=2.0, fps=24, size="640x640")
    res = cli("inspect", clip, "--format", "json")
    assert res.code == 0
    (entry,) = res.json()["files"]
    facts = entry["facts"]
    assert (facts["kind"], facts["format"], facts["width"], facts["height"], facts["fps"], facts["frames"]) == (
        "video", "mp4", 640, 640, 24.0, 48)
    assert entry["findings"] == []


def test_inspect_reports_an_extension_that_lies(cli, media):
    liar = media.write("holiday.jpg", media.video(seconds=2.0).read_bytes())
    res = cli("inspect", liar, "--format", "json")
    (entry,) = res.json()["files"]
    assert entry["facts"]["kind"] == "video"
    assert [f["rule"] for f in entry["findings"]] == ["media.type-mismatch"]
    assert entry["findings"][0]["message"].endswith("not an image as its file name says")  # no item in inspect
    assert res.code == 1


def test_inspect_unreadable_and_missing(cli, media, tmp_path):
    empty = media.write("empty.mp4", b"")
    res = cli("inspect", empty)
    assert res.code == 1 and "media.unreadable" in res.out
    res = cli("inspect", tmp_path / "nope.mp4")
    assert res.code == 2
    assert res.err.strip() == f"seedance-prep: error: {tmp_path / 'nope.mp4'}: no such file"


def test_inspect_profile_rules_apply(cli, media, tmp_path):
    overlay = tmp_path / "strict.toml"
    overlay.write_text('[rules."image.dimensions"]\noptions = { min = 1000 }\n')
    image = media.image(size=(640, 640))
    assert cli("inspect", image).code == 0
    res = cli("inspect", image, "--rules", overlay)
    assert res.code == 1 and "each side must be 1000–6000 px" in res.out


def test_inspect_judges_by_a_models_family(cli, media):
    clip = media.video(seconds=20.0, fps=24, size="640x640")
    as_20 = cli("inspect", clip, "--format", "json").json()["files"][0]["findings"]
    assert [f["rule"] for f in as_20] == ["video.duration"]
    as_25 = cli("inspect", clip, "--model", "doubao-seedance-2-5-260628", "--format", "json")
    assert as_25.code == 0 and as_25.json()["files"][0]["findings"] == []  # 2.5 takes clips up to 30 s
    res = cli("inspect", clip, "--model", "nope")
    assert res.code == 2 and "unknown model 'nope' for profile ark" in res.err


def test_inspect_recurses_folders_and_says_things_once(cli, media, tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    (folder / "a.mp3").write_bytes(media.audio(seconds=3.0, container="mp3").read_bytes())
    (folder / "notes.txt").write_text("not media")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    res = cli("inspect", folder)
    lines = res.out.splitlines()
    assert lines[0].startswith(f"{folder / 'a.mp3'}: audio mp3 3.") and "mp3 mp3" not in lines[0]
    broken = [line for line in lines if "broken.png" in line or line.startswith("  ")]
    assert sum("truncated" in line or "unreadable" in line for line in broken) == 1  # the problem once
    assert lines[-1] == "2 files inspected, 1 with findings." and res.code == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("inspect", empty)
    assert res.code == 2 and "no media files found" in res.err


def test_check_on_a_media_file_says_what_it_is(cli, media):
    res = cli("check", media.image(size=(320, 320)), "-q")
    assert res.code == 1 and "this is an image file (png), not a request" in res.out
