"""``build``: documented examples carried into every profile and checked there; local media inlined as
streamed data: URLs that decode back to the files; every refusal names what it refuses."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import ROOT
from media import wav_bytes

from prep.build import build
from prep.dialects import parse
from prep.lint import Checker
from prep.model import MEDIA_TYPES, PrepError

EXAMPLES = sorted((ROOT / "fixtures" / "requests").glob("*/*.json"))
PROFILES = ("ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos")

# Translations the examples cannot make, and the word the refusal must name (the model-family ones
# are derived from the rule files below, not listed).
REFUSED = {
    ("ark/first-frame.json", "video-generations"): "aspect_ratio",  # 'adaptive' has no flat equivalent
    ("ark/first-last-frame.json", "video-generations"): "aspect_ratio",
    ("byteplus/comfyui-reference-defaults.json", "video-generations"): "aspect_ratio",
    ("byteplus/text-to-video.json", "video-generations"): "aspect_ratio",  # 21:9
    ("openai-videos/first-last-frame.json", "video-generations"): "aspect_ratio",
    ("ark/web-search.json", "video-generations"): "'tools'",
    ("gateway/web-search.json", "video-generations"): "'tools'",
    ("openai-videos/new-api-metadata.json", "video-generations"): "'priority'",
    ("video-generations/lookbook.json", "ark"): "camera_fixed",  # a 1.x parameter 2.0 rejects
    ("video-generations/lookbook.json", "byteplus"): "camera_fixed",
    ("video-generations/lookbook.json", "apiyi"): "camera_fixed",
    **{("openai-videos/kitten.json", p): "'n', 'response_format', 'user'" for p in PROFILES if p != "openai-videos"},
}


def _family_without_id(book, source: str, target: str, document: dict) -> str | None:
    model = document.get("model") or document.get("model")
    info = book.profile_data(source).get("models", {}).get(model)
    targets = book.profile_data(target).get("models", {})
    if model in targets or info is None:
        return None
    return None if any(e["family"] == info["family"] for e in targets.values()) else model


def _media(request) -> list[tuple[str, str]]:
    return sorted((i.type, i.url) for i in request.items if i.type in MEDIA_TYPES)


def _comparable(value) -> str:
    return json.dumps(str(value) if type(value) is int else value, sort_keys=True)


@pytest.mark.parametrize("target", PROFILES)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_documented_examples_build_into_every_profile_that_can_express_them(book, path, target):
    source = path.parent.name
    name = f"{source}/{path.name}"
    document = json.loads(path.read_text(encoding="utf-8"))
    unmapped = _family_without_id(book, source, target, document)
    expected_refusal = REFUSED.get((name, target)) or (f"model '{unmapped}'" if unmapped else None)
    if expected_refusal is not None:
        with pytest.raises(PrepError) as err:
            build(path, profile=source, to=target, book=book)
        assert expected_refusal in str(err.value) and "\n" not in str(err.value)
        return
    built = build(path, profile=source, to=target, book=book)
    assert_carried(book, document, source, target, built)


def assert_carried(book, document: dict, source: str, target: str, built, check: bool = True) -> None:
    """The built body is exactly ``length`` bytes, checks clean under ``target`` (a full check of the
    bytes, independent of build's own) and carries the source's media, texts, roles and parameters."""
    body = b"".join(built.iter_bytes())
    assert len(body) == built.length and built.sha256 == hashlib.sha256(body).hexdigest()
    if check:
        result = Checker(book, profile=target).check_bytes(body, "built.json")
        assert [f for f in result.findings if f.severity == "error"] == []
    dialect = book.profile_data(target)["dialect"]
    assert built.dialect == dialect
    got = parse(json.loads(body), dialect)
    want = parse(document, book.profile_data(source)["dialect"])
    assert _media(got) == _media(want)
    for item_type in MEDIA_TYPES:  # each type's own order: what @image1, @video2 count
        assert [i.url for i in got.items if i.type == item_type] == [i.url for i in want.items if i.type == item_type]
    assert "\n\n".join(i.text or "" for i in got.items if i.type == "text") == "\n\n".join(
        i.text or "" for i in want.items if i.type == "text")
    explicit = {(i.type, i.url): i.role for i in want.items if i.type in MEDIA_TYPES and i.role is not None}
    assert {(i.type, i.url): i.role for i in got.items if (i.type, i.url) in explicit} == explicit
    for p in want.params:
        if p.name not in ("model", "resolution"):
            assert [_comparable(q.value) for q in got.params if q.name == p.name] == [_comparable(p.value)], p.name
    if source == target:
        assert json.loads(body) == document  # building for its own profile changes nothing but media


@pytest.fixture
def job(tmp_path):
    """A request with a JPEG, a PNG named .jpg (its content decides the media type) and a WAV."""
    from PIL import Image

    Image.new("RGB", (640, 480), (10, 200, 30)).save(tmp_path / "a.jpg", format="JPEG")
    Image.new("RGB", (480, 640), (10, 20, 230)).save(tmp_path / "really-png.jpg", format="PNG")
    (tmp_path / "tone.wav").write_bytes(wav_bytes(bytes(range(256)) * 188))  # 3 s at 8 kHz mono
    doc = {"model": "doubao-seedance-2-0-260128",
           "content": [{"type": "text", "text": "the product of @image1 on @image2, music @audio1"},
                       {"type": "image_url", "image_url": {"url": "a.jpg"}, "role": "reference_image"},
                       {"type": "image_url", "image_url": {"url": "really-png.jpg"}, "role": "reference_image"},
                       {"type": "audio_url", "audio_url": {"url": "tone.wav"}, "role": "reference_audio"},
                       {"type": "video_url", "video_url": {"url": "https://example.com/m.mp4"},
                        "role": "reference_video"}],
           "resolution": "1080p", "ratio": "16:9", "duration": 6}
    (tmp_path / "request.json").write_text(json.dumps(doc))
    return tmp_path


def _data_urls(node) -> list[str]:
    if isinstance(node, dict):
        return [u for v in node.values() for u in _data_urls(v)]
    if isinstance(node, list):
        return [u for v in node for u in _data_urls(v)]
    return [node] if isinstance(node, str) and node.startswith("data:") else []


@pytest.mark.parametrize("target", ["ark", "gateway", "openai-videos", "video-generations"])
def test_local_media_become_data_urls_that_decode_to_the_files(book, job, target):
    built = build(job / "request.json", to=target, book=book)
    body = b"".join(built.iter_bytes(chunk_size=3 * 1000))  # many chunks: no padding mid-stream
    assert body == b"".join(built.iter_bytes()) and len(body) == built.length
    urls = _data_urls(json.loads(body))
    files = [job / "a.jpg", job / "really-png.jpg", job / "tone.wav"]
    assert [u.split(",")[0] for u in urls] == ["data:image/jpeg;base64", "data:image/png;base64",
                                               "data:audio/wav;base64"]
    assert [base64.b64decode(u.split(",")[1], validate=True) for u in urls] == [f.read_bytes() for f in files]
    assert [i.label for i in built.inlined] == ["content[1] a.jpg", "content[2] really-png.jpg", "content[3] tone.wav"]
    assert [i.size for i in built.inlined] == [f.stat().st_size for f in files]
    assert "https://example.com/m.mp4" in body.decode()
    assert built.sha256 == hashlib.sha256(body).hexdigest()
    assert "base64 characters of" in built.preview() and len(built.preview()) < 10_000


def test_media_paths_are_read_from_base_dir_when_given(book, job, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "request.json").write_bytes((job / "request.json").read_bytes())
    with pytest.raises(PrepError, match="a.jpg: no such file"):
        build(elsewhere / "request.json", book=book)
    moved = build(elsewhere / "request.json", book=book, base_dir=job)
    assert moved.length == build(job / "request.json", book=book).length and len(moved.inlined) == 3


def test_model_ids_map_through_families_and_resolution(book, job):
    flat = build(job / "request.json", to="video-generations", book=book)
    assert flat.document["model"] == "seedance2.0-1080p" and "resolution" not in flat.document
    assert flat.document["aspect_ratio"] == "16:9" and flat.document["duration"] == 6
    sora = build(job / "request.json", to="openai-videos", book=book)
    assert sora.document["seconds"] == "6" and "duration" not in sora.document
    (job / "flat.json").write_text(json.dumps({"model": "seedance2.0-fast-480p", "prompt": "a cat",
                                               "duration": 5, "extra_body": {"seed": 7}}))
    ark = build(job / "flat.json", to="ark", book=book)
    assert (ark.document["model"], ark.document["resolution"], ark.document["seed"]) == (
        "doubao-seedance-2-0-fast-260128", "480p", 7)


def test_a_model_the_target_does_not_sell_is_named(book, job):
    doc = json.loads((job / "request.json").read_text())
    doc["model"], doc["resolution"] = "doubao-seedance-2-0-mini-260615", "720p"
    (job / "mini.json").write_text(json.dumps(doc))
    with pytest.raises(PrepError, match="model 'doubao-seedance-2-0-mini-260615'.*no model id in profile openai"):
        build(job / "mini.json", to="openai-videos", book=book)


def test_a_local_video_is_refused_naming_each(book):
    with pytest.raises(PrepError) as err:
        build(ROOT / "fixtures" / "media-job" / "request.json", book=book)
    assert str(err.value) == ("content[3] clip.mp4: a local video cannot be inlined (video is URL or asset:// "
                              "only); host it and use its URL")


def test_a_video_file_behind_an_image_item_is_still_a_video(book, tmp_path):
    clip = ROOT / "fixtures" / "media-job" / "clip.mp4"
    (tmp_path / "still.png").write_bytes(clip.read_bytes())
    (tmp_path / "r.json").write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "still.png"}}]}))
    with pytest.raises(PrepError, match=r"^content\[1\] still.png: a local video cannot be inlined"):
        build(tmp_path / "r.json", book=book)


def test_translations_that_lose_meaning_name_the_item_or_parameter(book, job):
    doc = json.loads((job / "request.json").read_text())
    doc["content"] = [doc["content"][0], {"type": "image_url", "image_url": {"url": "https://e.com/1.png"}},
                      {"type": "image_url", "image_url": {"url": "https://e.com/2.png"}}]
    (job / "noroles.json").write_text(json.dumps(doc))
    with pytest.raises(PrepError, match=r"losing meaning: content\[1\]: .*without a role.*content\[2\]"):
        build(job / "noroles.json", to="video-generations", book=book, check=False)
    draft = {"model": "doubao-seedance-2-5-260628", "content": [{"type": "draft_task", "draft_task": {"id": "d-1"}}]}
    (job / "draft.json").write_text(json.dumps(draft))
    apiyi = build(job / "draft.json", to="apiyi", book=book, check=False)  # the same shape carries it
    assert apiyi.document["content"] == draft["content"]
    sora = {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "seconds": "5", "size": "1280x720"}
    (job / "sora.json").write_text(json.dumps(sora))
    with pytest.raises(PrepError, match="parameter 'size' has no place in profile ark"):
        build(job / "sora.json", to="ark", book=book)


def test_the_body_size_limit_names_the_items_to_host(tmp_path, job):
    from prep.ruleset import RuleBook

    overlay = tmp_path / "small.toml"
    overlay.write_text('[rules."request.body-size"]\noptions = { max_bytes = 60000 }\n')
    small = RuleBook([overlay])
    with pytest.raises(PrepError) as err:
        build(job / "request.json", book=small)
    message = str(err.value)
    assert "at most" in message and "content[3] tone.wav" in message and "a.jpg" not in message
    built = build(job / "request.json", book=small, check=False)  # check-less mode does not enforce it
    assert built.length > 60000


def test_the_built_check_matches_a_full_check_of_the_bytes(book, tmp_path):
    from PIL import Image

    Image.new("RGB", (200, 200)).save(tmp_path / "small.png", format="PNG")  # below the 300 px minimum
    (tmp_path / "r.json").write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "small.png"}, "role": "first_frame"}]}))
    with pytest.raises(PrepError, match=r"fails check: /content/1.* image.dimensions") as err:
        build(tmp_path / "r.json", book=book)
    body = b"".join(build(tmp_path / "r.json", book=book, check=False).iter_bytes())
    full = Checker(book, profile="ark").check_bytes(body, "r.json")
    assert sorted({f.rule for f in full.findings if f.severity == "error"}) == ["image.dimensions"]
    assert "image.dimensions" in str(err.value)


def test_write_is_atomic_and_leaves_nothing_after_an_error(book, job):
    out = job / "out" / "body.json"
    built = build(job / "request.json", book=book)
    assert built.write(out) == str(out)
    assert out.read_bytes() == b"".join(built.iter_bytes())
    before = out.read_bytes()
    with open(job / "tone.wav", "ab") as fh:
        fh.write(b"\0" * 10)  # the file changes after the build: its length was promised
    with pytest.raises(PrepError, match="tone.wav changed since the request was built"):
        built.write(out)
    assert out.read_bytes() == before and sorted(os.listdir(out.parent)) == ["body.json"]
    (job / "a.jpg").unlink()
    with pytest.raises(PrepError, match="a.jpg: cannot read it any more"):
        built.write(job / "out" / "other.json")
    assert sorted(os.listdir(out.parent)) == ["body.json"]


def test_write_refuses_to_overwrite_an_inlined_file(book, job):
    built = build(job / "request.json", book=book)
    with pytest.raises(PrepError, match="which the request inlines"):
        built.write(job / "a.jpg")
    assert (job / "a.jpg").read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("content,match", [
    (b"{not json", "line 1"),
    (b"[1, 2]", "object"),
])
def test_a_broken_request_is_one_line(book, tmp_path, content, match):
    (tmp_path / "r.json").write_bytes(content)
    with pytest.raises(PrepError, match=match) as err:
        build(tmp_path / "r.json", book=book)
    assert "\n" not in str(err.value)
    with pytest.raises(PrepError, match="no such file"):
        build(tmp_path / "missing.json", book=book)


def test_chunk_sizes_must_be_multiples_of_three(book, job):
    built = build(job / "request.json", book=book)
    with pytest.raises(ValueError):
        list(built.iter_bytes(chunk_size=1000))
    assert isinstance(Path(built.inlined[0].path), Path)
