"""Dialects: pointers back to the source, inference, and lossless parse → render → parse."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prep.dialects import infer_profile, parse, render

URL = st.sampled_from(["https://example.com/a.png", "asset://a-1", "data:image/png;base64,iVBORw0KGgo=",
                       "media/cat.png", "", "ftp://x"]) | st.text(max_size=20)
ROLE = st.sampled_from([None, "first_frame", "last_frame", "reference_image", "reference_video",
                        "reference_audio", "bogus"])
SCALAR = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
KEY = st.text(min_size=1, max_size=12)


@st.composite
def content_item(draw):
    t = draw(st.sampled_from(["text", "image_url", "video_url", "audio_url", "mystery"]))
    if t == "text":
        item = {"type": "text", "text": draw(st.text(max_size=30))}
    elif t == "mystery":
        item = {"type": "mystery"}
    else:
        item = {"type": t, t: {"url": draw(URL)}}
    role = draw(ROLE)
    if role is not None:
        item["role"] = role
    return item


@st.composite
def content_request(draw):
    doc = {"model": draw(st.text(max_size=20)), "content": draw(st.lists(content_item(), max_size=6))}
    for key, value in draw(st.dictionaries(KEY.filter(lambda k: k not in doc), JSON, max_size=5)).items():
        doc[key] = value
    return doc


@st.composite
def flat_request(draw):
    doc = {"model": draw(st.text(max_size=20))}
    if draw(st.booleans()):
        doc["prompt"] = draw(st.text(max_size=30))
    for key in ("image", "last_image"):
        if draw(st.booleans()):
            doc[key] = draw(URL)
    for key in ("images", "videos", "audios"):
        if draw(st.booleans()):
            doc[key] = draw(st.lists(URL, max_size=4))
    if draw(st.booleans()):
        doc["extra_body"] = draw(st.dictionaries(st.sampled_from(["seed", "watermark", "operation"]) | KEY, JSON, max_size=4))
    reserved = {"prompt", "image", "last_image", "images", "videos", "audios", "extra_body"}
    for key, value in draw(st.dictionaries(KEY.filter(lambda k: k not in reserved), JSON, max_size=4)).items():
        doc.setdefault(key, value)
    return doc


@st.composite
def openai_request(draw):
    doc = {"model": draw(st.text(max_size=20)), "prompt": draw(st.text(max_size=30))}
    if draw(st.booleans()):
        doc["seconds"] = draw(st.sampled_from(["4", "5", "15", "x"]))
    if draw(st.booleans()):
        doc["image"] = draw(URL)
    for key in ("images", "videos", "audios"):
        if draw(st.booleans()):
            doc[key] = draw(st.lists(URL, max_size=3))
    if draw(st.booleans()):
        meta = draw(st.dictionaries(st.sampled_from(["seconds", "seed", "ratio"]) | KEY.filter(lambda k: k != "content"),
                                    JSON, max_size=3))
        if draw(st.booleans()):
            meta["content"] = draw(st.lists(content_item(), max_size=4))
        doc["metadata"] = meta
    reserved = {"prompt", "image", "images", "videos", "audios", "metadata"}
    for key, value in draw(st.dictionaries(KEY.filter(lambda k: k not in reserved), JSON, max_size=4)).items():
        doc.setdefault(key, value)
    return doc


def _roundtrip(doc, dialect):
    first = parse(doc, dialect)
    rendered = render(first, dialect)
    json.dumps(rendered)  # still plain JSON
    second = parse(rendered, dialect)
    assert second == first
    return first, rendered


@settings(max_examples=300, deadline=None)
@given(content_request())
def test_content_roundtrip_is_lossless(doc):
    _, rendered = _roundtrip(doc, "content")
    assert rendered == doc  # for the canonical shape even the document comes back as written


@settings(max_examples=300, deadline=None)
@given(flat_request())
def test_flat_roundtrip_is_lossless(doc):
    _roundtrip(doc, "video-generations")


@settings(max_examples=300, deadline=None)
@given(openai_request())
def test_openai_roundtrip_is_lossless(doc):
    _roundtrip(doc, "openai-videos")


def test_flat_items_point_into_the_flat_fields():
    req = parse({"model": "m", "prompt": "p", "image": "a", "images": ["b", "c"], "audios": ["d"],
                 "aspect_ratio": "16:9", "extra_body": {"seed": 3}}, "video-generations")
    assert [(i.type, i.role, i.value_pointer) for i in req.items] == [
        ("text", None, "/prompt"), ("image_url", "first_frame", "/image"),
        ("image_url", "reference_image", "/images/0"), ("image_url", "reference_image", "/images/1"),
        ("audio_url", "reference_audio", "/audios/0")]
    assert req.param("ratio").pointer == "/aspect_ratio"
    assert req.param("seed").pointer == "/extra_body/seed"


def test_openai_top_level_media_arrays_are_read():
    """new-api-style bodies: top-level images/videos/audios arrays are reference items (not ignored)."""
    doc = {"model": "m", "prompt": "the subject of image 1 moves like video 1 to audio 1", "seconds": "5",
           "images": ["https://e.com/a.png"], "videos": ["https://e.com/a.mp4"], "audios": ["https://e.com/a.mp3"],
           "metadata": {"ratio": "16:9"}}
    req = parse(doc, "openai-videos")
    assert [(i.type, i.role, i.value_pointer) for i in req.items] == [
        ("text", None, "/prompt"), ("image_url", "reference_image", "/images/0"),
        ("video_url", "reference_video", "/videos/0"), ("audio_url", "reference_audio", "/audios/0")]
    assert render(req, "openai-videos") == doc


def test_openai_top_level_media_are_counted_by_placeholders(cli, tmp_path):
    path = tmp_path / "req.json"
    path.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "prompt": "image 1 moves like video 1",
                                "seconds": "5", "images": ["https://e.com/a.png"], "videos": ["https://e.com/a.mp4"]}))
    res = cli("check", path, "--format", "json", "--fail-on", "warning")
    (result,) = res.json()["results"]
    assert result["profile"] == "openai-videos" and result["findings"] == [] and res.code == 0
    path.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "prompt": "image 1 moves like video 2",
                                "seconds": "5", "images": ["https://e.com/a.png"], "videos": ["https://e.com/a.mp4"]}))
    (result,) = cli("check", path, "--format", "json").json()["results"]
    assert [(f["rule"], f["pointer"]) for f in result["findings"]] == [("text.placeholder", "/prompt")]


def test_openai_top_level_wins_over_metadata():
    req = parse({"model": "m", "prompt": "p", "metadata": {"seconds": "8"}, "seconds": "5"}, "openai-videos")
    assert req.param("duration").value == "5" and req.param("duration").pointer == "/seconds"
    assert [p.pointer for p in req.params if p.name == "duration"] == ["/seconds", "/metadata/seconds"]


def test_pointer_escaping():
    req = parse({"model": "m", "a/b~c": 1, "content": []}, "content")
    assert req.param("a/b~c").pointer == "/a~1b~0c"


def test_cross_dialect_render_maps_roles_to_fields():
    ark = parse({"model": "m", "ratio": "16:9", "seed": 4, "content": [
        {"type": "text", "text": "go"},
        {"type": "image_url", "image_url": {"url": "u1"}, "role": "reference_image"},
        {"type": "video_url", "video_url": {"url": "v1"}, "role": "reference_video"}]}, "content")
    flat = render(ark, "video-generations")
    assert flat == {"model": "m", "prompt": "go", "aspect_ratio": "16:9", "extra_body": {"seed": 4},
                    "images": ["u1"], "videos": ["v1"]}
    back = render(parse(flat, "video-generations"), "content")
    assert back["content"][1] == {"type": "image_url", "image_url": {"url": "u1"}, "role": "reference_image"}


def test_profile_inference(book):
    models = {n: book.profile_data(n).get("models", {}) for n in book.names}
    assert infer_profile({"content": []}, models) == "ark"
    assert infer_profile({"model": "dreamina-seedance-2-0-260128", "content": []}, models) == "byteplus"
    assert infer_profile({"model": "seedance-2.0", "content": []}, models) == "gateway"
    assert infer_profile({"prompt": "x", "extra_body": {}}, models) == "video-generations"
    assert infer_profile({"prompt": "x", "images": []}, models) == "video-generations"
    assert infer_profile({"prompt": "x", "seconds": "5"}, models) == "openai-videos"
    assert infer_profile({"prompt": "x", "metadata": {}}, models) == "openai-videos"
    assert infer_profile({"prompt": "x", "model": "seedance2.0-720p"}, models) == "video-generations"
    assert infer_profile({"prompt": "x", "model": "doubao-seedance-2-0-260128"}, models) == "openai-videos"


@pytest.mark.parametrize("profile", ["ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos"])
def test_every_profile_round_trips_its_documented_examples(book, profile):
    from conftest import ROOT

    dialect = book.get(profile).dialect
    examples = sorted((ROOT / "fixtures" / "requests" / profile).glob("*.json"))
    assert examples
    for path in examples:
        doc = json.loads(path.read_text())
        request = parse(doc, dialect)
        rendered = render(request, dialect)
        assert parse(rendered, dialect) == request
        assert rendered == doc, path.name  # the documented shapes come back exactly as written
