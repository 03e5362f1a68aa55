"""video.codec, audio.codec and media.unjudged: on hand-built facts through the engine, and on files
generated with ffmpeg through `check` and `inspect`."""

from __future__ import annotations

import base64
import json
import struct
import sys
from pathlib import Path

import pytest
from media import media, run_ffmpeg  # noqa: F401  (media: the session fixture)

M = "doubao-seedance-2-0-260128"


def _facts(kind="video", **fields):
    from prep.model import MediaFacts

    base = {"video": dict(format="mp4", bytes=1000, codec="h264", audio_codec=None, width=640, height=640,
                          duration_s=5.0, fps=25.0, has_video=True),
            "audio": dict(format="wav", bytes=1000, codec="pcm", audio_codec="pcm", duration_s=5.0,
                          has_audio=True)}[kind]
    return MediaFacts(kind=kind, **{**base, **fields})


def _evaluate(book, facts, profile="ark"):
    """{rule: [finding]} for one reference item (a video, or an audio beside an image) with ``facts``."""
    from prep.engine import evaluate
    from prep.model import Item, Request

    typ = "video_url" if facts.kind == "video" else "audio_url"
    item = Item(type=typ, pointer="/content/1", role="reference_" + typ[:-4], url="clip.bin",
                value_pointer=f"/content/1/{typ}/url", role_pointer="/content/1/role")
    found, _ = evaluate(Request("content", (), (item,), {}), book.get(profile) if isinstance(profile, str)
                        else profile, facts={item.pointer: facts})
    out: dict[str, list] = {}
    for f in found:
        out.setdefault(f.rule, []).append(f)
    return out


# -- video.codec on hand-built facts ---------------------------------------------------------------


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_documented_video_codecs_are_clean(book, codec):
    assert "video.codec" not in _evaluate(book, _facts(codec=codec))


@pytest.mark.parametrize("codec,note", [("mpeg4", "MPEG-4 Part 2"), ("prores", "mezzanine"), ("av1", "AV1"),
                                        ("vp9", "WebM"), ("vvc", "H.266"),
                                        ("dolby_vision", "profile 5"), ("cinepak", "--deep")])
def test_other_video_codecs_are_a_warning_with_a_note(book, codec, note):
    (f,) = _evaluate(book, _facts(codec=codec))["video.codec"]
    assert f.severity == "warning" and f.actual == codec and f.expected == ["h264", "hevc"]
    assert f.pointer == "/content/1/video_url/url"
    assert f.message.startswith(f"content[1] (clip.bin): video codec is {codec}; ") and note in f.message


def test_an_unknown_codec_is_not_judged_by_the_codec_rule(book):
    found = _evaluate(book, _facts(codec=None))
    assert "video.codec" not in found and "audio.codec" not in found


def test_an_unreadable_or_mismatched_file_is_not_judged_for_its_codec(book):
    assert "video.codec" not in _evaluate(book, _facts(codec="prores", problem="moov box cut short"))
    # an audio file in a video_url is media.type-mismatch, not a bad video codec
    from prep.engine import evaluate
    from prep.model import Item, Request

    item = Item(type="video_url", pointer="/content/1", role="reference_video", url="a.mp3",
                value_pointer="/content/1/video_url/url", role_pointer="/content/1/role")
    found, _ = evaluate(Request("content", (), (item,), {}), book.get("ark"),
                        facts={item.pointer: _facts("audio", codec="opus", audio_codec="opus", format="ogg")})
    assert {f.rule for f in found} & {"video.codec", "audio.codec"} == set()


# -- audio.codec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["aac", "mp3", "pcm"])
def test_documented_audio_codecs_are_clean_in_audio_files_and_video_tracks(book, codec):
    assert "audio.codec" not in _evaluate(book, _facts("audio", codec=codec, audio_codec=codec))
    assert "audio.codec" not in _evaluate(book, _facts(audio_codec=codec, has_audio=True))


@pytest.mark.parametrize("codec,note", [("pcm_alaw", "A-law"), ("pcm_mulaw", "µ-law"), ("adpcm_ima", "ADPCM"),
                                        ("adpcm_ms", "ADPCM"), ("opus", "Ogg"), ("mp2", "layer II"),
                                        ("ac3", "--deep")])
def test_other_audio_codecs_are_a_warning(book, codec, note):
    (f,) = _evaluate(book, _facts("audio", codec=codec, audio_codec=codec))["audio.codec"]
    assert f.severity == "warning" and f.actual == codec and note in f.message
    assert "audio codec is " + codec in f.message


def test_a_video_files_audio_track_is_judged_as_its_audio(book):
    found = _evaluate(book, _facts(audio_codec="opus", has_audio=True))
    (f,) = found["audio.codec"]
    assert "audio track's codec is opus" in f.message and f.pointer == "/content/1/video_url/url"
    assert "video.codec" not in found


def test_reject_makes_a_codec_an_error_and_severity_raises_the_rest(tmp_path):
    """A codec in the rule's ``reject`` option is an error whatever the rule's severity; a user who
    raises the rule to error gets errors for every codec off the list."""
    from prep.ruleset import RuleBook

    overlay = tmp_path / "strict.toml"
    overlay.write_text('[rules."video.codec"]\noptions.reject = ["vvc*"]\n')
    book = RuleBook([overlay])
    (f,) = _evaluate(book, _facts(codec="vvc"))["video.codec"]
    assert f.severity == "error"
    (f,) = _evaluate(book, _facts(codec="mpeg4"))["video.codec"]
    assert f.severity == "warning"
    overlay.write_text('[rules."video.codec"]\nseverity = "error"\n')
    (f,) = _evaluate(RuleBook([overlay]), _facts(codec="mpeg4"))["video.codec"]
    assert f.severity == "error"


@pytest.mark.parametrize("options,message", [
    ('{ kinds = ["video"], field = "codec", values = [] }', "at least one codec"),
    ('{ kinds = ["subtitle"], field = "codec", values = ["h264"] }', "kinds"),
    ('{ kinds = ["video"], field = "format", values = ["h264"] }', "field"),
])
def test_codec_options_are_validated_when_the_rule_file_loads(tmp_path, options, message):
    from prep.model import PrepError
    from prep.ruleset import RuleBook

    overlay = tmp_path / "bad.toml"
    overlay.write_text(f'[rules."video.codec"]\noptions = {options}\n')
    with pytest.raises(PrepError, match=message):
        RuleBook([overlay]).get("ark")


def test_codec_lists_live_in_the_rule_files(book):
    rules = {r.id: r for r in book.get("ark").rules}
    assert rules["video.codec"].options["values"] == ["h264", "hevc"]
    assert rules["audio.codec"].options["values"] == ["aac", "mp3", "pcm"]
    for rid in ("video.codec", "audio.codec"):
        rule = rules[rid]
        assert rule.severity == "warning" and rule.fixable and rule.fix.startswith("re-encode")
        assert "000_…txt" in rule.why and "ComfyUI" in rule.why  # the sources of the lists
        for family in book.families_of("ark"):  # every model family has both rules
            assert rid in {r.id for r in book.get("ark", family).rules}


# -- media.unjudged says why -----------------------------------------------------------------------


def test_unjudged_says_why_facts_are_missing_and_the_format_is_still_judged(book):
    why = "pymediainfo is not installed: pip install pymediainfo"
    found = _evaluate(book, _facts(format="matroska", codec=None, width=None, height=None, duration_s=None,
                                   fps=None, unjudged=why))
    (f,) = found["media.unjudged"]
    assert f.severity == "warning"
    assert f.message == (f"content[1] (clip.bin): could not read its width, height, duration and frame rate ({why}), "
                         "so the rules on them were not applied")
    assert f.actual == ["width", "height", "duration", "frame rate"]
    (fmt,) = found["video.format"]  # kind and format alone: the container is still judged
    assert fmt.severity == "error" and fmt.actual == "matroska"
    assert {"video.pixels", "video.fps", "video.duration", "video.codec"}.isdisjoint(found)


def test_unjudged_with_every_fact_read_still_says_it_was_not_fully_judged(book):
    found = _evaluate(book, _facts(unjudged="--deep: ffmpeg did not finish decoding it within 20 s"))
    (f,) = found["media.unjudged"]
    assert f.message == "content[1] (clip.bin): not fully judged: --deep: ffmpeg did not finish decoding it within 20 s"
    assert f.actual == []


def test_missing_facts_without_a_reason_name_only_the_facts(book):
    (f,) = _evaluate(book, _facts("audio", duration_s=None))["media.unjudged"]
    assert f.message == "content[1] (clip.bin): could not read its duration, so the rules on them were not applied"
    assert "media.unjudged" not in _evaluate(book, _facts("audio"))


# -- on real files ---------------------------------------------------------------------------------


def _check(cli, tmp_path, items) -> dict:
    content = [{"type": "text", "text": "go"}, *items]
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"model": M, "content": content}))
    res = cli("check", req, "--format", "json")
    out: dict[str, list] = {}
    for f in res.json()["results"][0]["findings"]:
        out.setdefault(f["rule"], []).append(f)
    return out


def _video(path: Path) -> dict:
    return {"type": "video_url", "video_url": {"url": str(path)}, "role": "reference_video"}


def _audio(path: Path) -> dict:
    return {"type": "audio_url", "audio_url": {"url": str(path)}, "role": "reference_audio"}


def test_h264_mp4_is_clean_and_mpeg4_mp4_a_warning(cli, tmp_path, media):
    h264 = media.video(size="640x640", fps=25, seconds=2.0, audio=True)
    mpeg4 = media.video(size="640x640", fps=25, seconds=2.0, codec="mpeg4", audio=True)
    found = _check(cli, tmp_path, [_video(h264)])
    assert "video.codec" not in found and "audio.codec" not in found, found
    found = _check(cli, tmp_path, [_video(mpeg4)])
    (f,) = found["video.codec"]
    assert f["severity"] == "warning" and f["actual"] == "mpeg4" and f["expected"] == ["h264", "hevc"]
    assert "audio.codec" not in found  # its audio is AAC
    assert not [f for f in found.values() for f in f if f["severity"] == "error"], found


@pytest.mark.parametrize("encoder,container,codec,note", [
    ("prores", "mov", "prores", "mezzanine"), ("libvvenc", "mp4", "vvc", "H.266"), ("mjpeg", "mov", "mjpeg", "--deep")])
def test_unusual_codecs_in_real_files_are_warnings_that_deep_can_settle(cli, tmp_path, media, encoder, container,
                                                                         codec, note):
    from media import has_encoder

    if not has_encoder(encoder):
        pytest.skip(f"this ffmpeg has no {encoder}")
    pix_fmt = {"prores": "yuv422p10le", "libvvenc": "yuv420p10le", "mjpeg": "yuvj420p"}[encoder]
    path = media.video(size="64x64", fps=25, seconds=0.4, codec=encoder, container=container, pix_fmt=pix_fmt)
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"model": M, "content": [{"type": "text", "text": "go"}, _video(path)]}))
    for args in ((), ("--deep",)):  # ffmpeg decodes each: --deep adds no finding
        res = cli("check", req, "--format", "json", *args)
        found = {f["rule"]: f for f in res.json()["results"][0]["findings"]}
        assert found["video.codec"]["actual"] == codec and note in found["video.codec"]["message"]
        assert found["video.codec"]["severity"] == "warning" and "media.unreadable" not in found


def test_hevc_mov_is_clean(cli, tmp_path, media):
    from media import has_encoder

    if not has_encoder("libx265"):
        pytest.skip("this ffmpeg has no libx265")
    hevc = media.video(size="640x640", fps=25, seconds=2.0, codec="libx265", container="mov")
    assert "video.codec" not in _check(cli, tmp_path, [_video(hevc)])


def test_audio_codecs_on_real_files(cli, tmp_path, media):
    image = {"type": "image_url", "image_url": {"url": str(media.image(size=(400, 400)))}, "role": "reference_image"}
    pcm = media.audio(seconds=3.0)
    alaw = media.audio(seconds=3.0, codec="pcm_alaw")
    mp3 = media.audio(seconds=3.0, container="mp3")
    assert "audio.codec" not in _check(cli, tmp_path, [image, _audio(pcm), _audio(mp3)])
    found = _check(cli, tmp_path, [image, _audio(alaw)])
    (f,) = found["audio.codec"]
    assert f["severity"] == "warning" and f["actual"] == "pcm_alaw" and f["pointer"] == "/content/2/audio_url/url"


def test_audio_track_codec_of_a_real_mp4(cli, tmp_path, media):
    path = media.write("alac.mp4", b"")
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x640:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2",
               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "alac", str(path))
    (f,) = _check(cli, tmp_path, [_video(path)])["audio.codec"]
    assert f["actual"] == "alac" and "audio track's codec is alac" in f["message"]


def test_inspect_shows_codec_findings(cli, media):
    mpeg4 = media.video(size="640x640", fps=25, seconds=2.0, codec="mpeg4")
    res = cli("inspect", mpeg4)
    assert res.code == 0  # a warning does not fail by default
    assert "video.codec video codec is mpeg4; the codecs known to be accepted are h264, hevc" in res.out
    assert cli("inspect", mpeg4, "--fail-on", "warning").code == 1


# -- documentation -----------------------------------------------------------------------------------


def test_rules_pages_give_the_lists_and_their_sources(cli):
    res = cli("rules", "video.codec")
    assert res.code == 0
    assert 'values = ["h264", "hevc"]' in res.out and "re-encode to H.264 + AAC in MP4" in res.out
    assert "upload_video_to_comfyapi" in res.out and "volcengine.com/article/2706100" in res.out
    res = cli("rules", "audio.codec")
    assert 'values = ["aac", "mp3", "pcm"]' in res.out and "Severity: warning" in res.out
    listed = cli("rules", "--format", "json").json()
    ids = {r["id"] for r in (listed["rules"] if isinstance(listed, dict) else listed)}
    assert {"video.codec", "audio.codec", "media.unjudged"} <= ids


# -- rule cases: inline WAV data: URLs ---------------------------------------------------------------


def wav_bytes(tag: int, seconds: float = 0.05, rate: int = 8000) -> bytes:
    """A mono 8-bit WAV whose fmt chunk names codec ``tag`` (1 PCM, 6 A-law, 7 µ-law)."""
    data = bytes([0x80 if tag == 1 else 0xD5]) * int(rate * seconds)
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_the_audio_codec_rule_cases_are_current():
    """tests/cases/audio.codec.json holds the WAVs ``wav_bytes`` makes (regenerate: python this file)."""
    cases = json.loads((Path(__file__).parent / "cases" / "audio.codec.json").read_text(encoding="utf-8"))
    urls = [c["request"]["content"][2]["audio_url"]["url"] for c in cases["cases"]]
    assert urls == [_data_url(wav_bytes(tag)) for tag in (6, 7, 1)]


def _data_url(data: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")


def _write_cases() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}, "role": "reference_image"}
    cases = []
    for tag, name, expect in ((6, "A-law WAV", "fail"), (7, "µ-law WAV", "fail"), (1, "PCM WAV", "pass")):
        audio = {"type": "audio_url", "audio_url": {"url": _data_url(wav_bytes(tag))}, "role": "reference_audio"}
        case = {"name": name, "expect": expect,
                "request": {"model": M, "content": [{"type": "text", "text": "a cat sings"}, image, audio]}}
        if expect == "fail":
            case.update(pointer="/content/2/audio_url/url", severity="warning")
        cases.append(case)
    path = Path(__file__).parent / "cases" / "audio.codec.json"
    path.write_text(json.dumps({"rule": "audio.codec", "cases": cases}, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write-cases"]:
    _write_cases()
