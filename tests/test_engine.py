"""The pure core: modes, the cost estimate, and the engine's contract with rules."""

from __future__ import annotations

import pytest

from prep.dialects import parse
from prep.engine import detect_mode, estimate, evaluate

M = "doubao-seedance-2-0-260128"


def _req(*items, **params):
    return parse({"model": M, "content": list(items), **params}, "content")


T = {"type": "text", "text": "go"}


def img(role=None, url="https://e.com/a.png"):
    d = {"type": "image_url", "image_url": {"url": url}}
    return d | ({"role": role} if role else {})


VID = {"type": "video_url", "video_url": {"url": "https://e.com/a.mp4"}, "role": "reference_video"}
AUD = {"type": "audio_url", "audio_url": {"url": "https://e.com/a.mp3"}, "role": "reference_audio"}


@pytest.mark.parametrize("items,mode", [
    ([T], "text_to_video"),
    ([T, img()], "first_frame"),
    ([img()], "first_frame"),
    ([T, img("first_frame")], "first_frame"),
    ([T, img("first_frame"), img("last_frame")], "first_last_frame"),
    ([T, img(), img("last_frame")], "first_last_frame"),
    ([T, img("reference_image")], "multimodal_reference"),
    ([T, VID], "multimodal_reference"),
    ([T, img("reference_image"), VID, AUD], "multimodal_reference"),
    ([T, img("first_frame"), img("reference_image")], None),
    ([T, AUD], "multimodal_reference"),  # allowed on 2.5; audio.needs-visual reports it on 2.0
    ([{"type": "draft_task", "draft_task": {"id": "cgt-1"}}], "draft_to_final"),
    ([T, {"type": "audio_url", "audio_url": {"url": "https://e.com/a.mp3"}}], None),
    ([T, img("last_frame")], None),
    ([T, img(), img()], None),
    ([], None),
    (["junk"], None),
])
def test_mode(items, mode):
    from prep.model import MODES

    assert detect_mode(_req(*items)) == mode
    assert mode is None or mode in MODES


def test_estimate_reproduces_the_apiyi_sample(book):
    # 002_…txt: 720p, 16:9, 5 s → usage.completion_tokens 108,900.
    req = _req(T, resolution="720p", ratio="16:9", duration=5)
    assert estimate(req, book.get("apiyi").data)["tokens"] == 108900


def test_estimate_defaults_and_auto(book):
    data = book.get("ark").data
    five = estimate(_req(T), data)
    assert five["seconds"] == 5 and (five["width"], five["height"]) == (1112, 834)  # adaptive: widest 720p area
    auto = estimate(_req(T, duration=-1, ratio="16:9"), data)
    assert auto["seconds"] == 15 and auto["tokens"] == 1280 * 720 * (24 * 15 + 1) // 1024


def test_estimate_unknown_resolution_is_none(book):
    assert estimate(_req(T, resolution="4k"), book.get("ark").data) is None


def test_estimate_flat_model_carries_the_resolution(book):
    req = parse({"model": "seedance2.0-480p", "prompt": "go", "aspect_ratio": "9:16", "duration": "10"},
                "video-generations")
    assert estimate(req, book.get("video-generations").data)["tokens"] == 496 * 864 * 241 // 1024


def test_estimate_counts_input_video_seconds(book):
    from prep.model import MediaFacts

    req = _req(T, VID, resolution="720p", ratio="16:9", duration=5)
    facts = {"/content/1": MediaFacts(kind="video", format="mp4", bytes=1, duration_s=4.0)}
    out = estimate(req, book.get("ark").data, facts)
    assert out["tokens"] == 108900 + 1280 * 720 * 24 * 4 // 1024
    assert out["input_video_seconds"] == 4.0


def test_evaluate_without_a_request_runs_only_document_rules(book):
    findings, ctx = evaluate(None, book.get("ark"), diagnostics=[("syntax", "", "broken", (2, 3))])
    assert [(f.rule, f.line, f.column) for f in findings] == [("request.json", 2, 3)]
    assert ctx.mode is None


def test_evaluate_is_pure_and_repeatable(book):
    req = _req(T, img("first_frame"), img("reference_image"), seed=-4)
    a, _ = evaluate(req, book.get("ark"))
    b, _ = evaluate(req, book.get("ark"))
    assert a == b and {f.rule for f in a} == {"mode.exclusive", "param.seed"}


def test_findings_carry_expected_and_actual(book):
    findings, _ = evaluate(_req(T, duration=20), book.get("ark"))
    (f,) = findings
    assert (f.rule, f.pointer, f.actual, f.expected) == ("param.duration", "/duration", 20, "4 to 15 or -1")
    assert f.message == "'duration' is 20; allowed: 4 to 15 or -1"


def test_media_whose_facts_could_not_be_read_are_said_unjudged(book):
    """A readable file missing a fact a rule needs is a warning, not a silent pass of that rule."""
    from prep.model import MediaFacts

    req = _req(T, VID)
    pointer = req.items[1].pointer
    partial = MediaFacts(kind="video", format="mp4", bytes=1000, width=640, height=640, duration_s=None, fps=None,
                         has_video=True)
    findings, _ = evaluate(req, book.get("ark"), facts={pointer: partial})
    (f,) = [f for f in findings if f.rule == "media.unjudged"]
    assert f.severity == "warning" and "could not read its duration and frame rate" in f.message
    assert f.pointer == "/content/1/video_url/url"
    whole = partial._replace(duration_s=5.0, fps=24.0)
    findings, _ = evaluate(req, book.get("ark"), facts={pointer: whole})
    assert not [f for f in findings if f.rule == "media.unjudged"]
