"""Request-level fixes (prep.fix.request): every fixable request rule is fixed and checks clean again,
placeholders keep pointing at the same media, the input is never changed, the dialect is kept, and
content-dropping edits happen only with --unsafe."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prep.dialects import infer_profile, parse
from prep.engine import evaluate
from prep.fix.model import FixOptions
from prep.fix.request import coerced, edit_request

ROOT = Path(__file__).resolve().parent.parent
M = "doubao-seedance-2-0-260128"
SAFE, UNSAFE = FixOptions(), FixOptions(unsafe=True)


def profile_of(book, doc: dict, name: str | None = None):
    """The profile `check` would judge ``doc`` by (its dialect inferred as `check` does)."""
    models = {n: book.profile_data(n).get("models", {}) for n in book.names}
    name = name or infer_profile(doc, models)
    request = parse(doc, book.profile_data(name).get("dialect", "content"))
    model = next((p.value for p in request.params if p.pointer == "/model"), None)
    return book.get(name, book.family_for(name, model, request.value))


def findings_of(doc: dict, profile) -> list:
    return evaluate(parse(doc, profile.dialect), profile)[0]


def fix(book, doc: dict, name: str | None = None, options: FixOptions = SAFE):
    """Edit ``doc`` as `fix` would; also asserts the input is unchanged. → (before, out, edits, skipped, after)."""
    profile = profile_of(book, doc, name)
    original = copy.deepcopy(doc)
    before = findings_of(doc, profile)
    out, edits, skipped = edit_request(doc, profile, before, options)
    assert doc == original and json.dumps(doc) == json.dumps(original)  # not changed, not even reordered
    return before, out, edits, skipped, findings_of(out, profile)


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def text(t):
    return {"type": "text", "text": t}


def media(kind: str, url: str, role: str | None = "ref"):
    item = {"type": f"{kind}_url", f"{kind}_url": {"url": url}}
    if role:
        item["role"] = f"reference_{kind}" if role == "ref" else role
    return item


def ark(*items, **params):
    return {"model": M, "content": list(items), **params}


# ---------------------------------------------------------------------------------------------------
# Every fixable request rule: failing → edited → no finding of that rule, and no new one

FIXABLE = [
    # (rule, profile or None to infer, document, needs --unsafe)
    ("content.order", None, ark(media("video", "v.mp4"), text("like @video1"), media("image", "a.png")), False),
    ("content.order", "gateway", {"model": "seedance-2.0", "content": [media("audio", "a.mp3"), media("image", "i.png"),
                                                                       text("go")]}, False),
    ("content.order", None, {"model": M, "prompt": "@audio1 over image 1", "seconds": "5",
                             "metadata": {"content": [media("audio", "a.mp3"), media("image", "i.png")]}}, False),
    ("content.role-missing", None, ark(text("go"), media("image", "a.png", None), media("video", "v.mp4")), False),
    ("content.role-missing", None, ark(text("go"), media("image", "a.png"), media("video", "v.mp4", None)), False),
    ("content.role-missing", None, ark(text("go"), media("image", "a.png"), media("audio", "a.mp3", None)), False),
    ("content.role-missing", None, ark(text("go"), media("image", "a.png", None), media("image", "b.png"),
                                       media("audio", "a.mp3", None)), False),
    ("param.type", None, ark(text("go"), watermark="false"), False),
    ("param.type", None, ark(text("go"), generate_audio="True", duration="5", seed=" 42 "), False),
    ("param.type", None, ark(text("go"), duration="5.0", priority=2.0), False),
    ("param.type", None, {"model": M, "prompt": "go", "seconds": 5, "metadata": {"watermark": "false"}}, False),
    ("param.type", None, {"model": "seedance2.0-720p", "prompt": "go", "duration": 5.0,
                          "extra_body": {"seed": "7", "generate_audio": "false"}}, False),
    ("param.conflict", None, {"model": M, "prompt": "go", "seconds": "5", "metadata": {"ratio": "16:9"},
                              "ratio": "16:9"}, True),
    ("param.conflict", None, {"model": M, "prompt": "go", "seconds": "5", "metadata": {"seconds": "8"}}, True),
    ("param.unsupported", None, ark(text("go"), camera_fixed=False, frames=121), True),
    ("param.unsupported", None, ark(text("go"), service_tier="flex"), True),
    ("param.deprecated", None, {"model": "seedance2.0-720p", "prompt": "go", "extra_body": {"operation": "edit"}}, True),
    ("param.deprecated", None, {"model": M, "prompt": "go", "duration": 5}, False),  # moved to seconds: "5"
    ("param.deprecated", None, {"model": M, "prompt": "go", "size": "1280x720"}, True),
    ("param.unknown", None, ark(text("go"), resolutoin="480p"), True),
    ("param.unknown", None, {"model": "seedance2.0-720p", "prompt": "go", "extra_body": {"sede": 42}}, True),
]


@pytest.mark.parametrize("rule,name,doc,unsafe", FIXABLE)
def test_each_fixable_rule_is_fixed(book, rule, name, doc, unsafe):
    before, out, edits, skipped, after = fix(book, doc, name, UNSAFE if unsafe else SAFE)
    assert rule in rules(before)
    assert rule not in rules(after), [f.message for f in after]
    assert rules(after) <= rules(before), "an edit must not create a new finding"
    assert edits and all(e.rule in rules(before) for e in edits)
    assert all(e.unsafe == unsafe for e in edits if e.rule == rule)
    assert not [s for s in skipped if s.rule == rule]
    assert infer_profile(out, _models(book)) == infer_profile(doc, _models(book))  # dialect kept


@pytest.mark.parametrize("rule,name,doc", [(r, n, d) for r, n, d, unsafe in FIXABLE if unsafe])
def test_content_dropping_edits_need_unsafe(book, rule, name, doc):
    _before, out, edits, skipped, after = fix(book, doc, name, SAFE)
    assert out == doc  # nothing dropped
    assert not [e for e in edits if e.op == "drop"]
    mine = [s for s in skipped if s.rule == rule]
    assert mine and all(s.reason.startswith("needs --unsafe: drop ") for s in mine)
    assert rule in rules(after)


def _models(book):
    return {n: book.profile_data(n).get("models", {}) for n in book.names}


def test_edits_describe_what_changed(book):
    doc = ark(media("image", "a.png"), media("video", "v.mp4"), text("@image1 moves like @video1"),
              watermark="false", camera_fixed=True)
    _, out, edits, _skipped, _ = fix(book, doc, options=UNSAFE)
    described = {(e.op, e.pointer, e.describe) for e in edits}
    assert ("coerce", "/watermark", 'watermark "false" → false') in described
    assert ("drop", "/camera_fixed", "drop camera_fixed") in described
    assert ("reorder", "/content/2", "content[2] moved to content[0]") in described
    assert out["content"][0] == text("@image1 moves like @video1")  # still the same image and video
    assert [e.op for e in edits if e.rule == "content.order"] == ["reorder", "reorder", "reorder"]
    assert "camera_fixed" not in out and out["watermark"] is False


def test_a_legacy_field_moves_to_the_current_one_in_its_place(book):
    doc = {"model": M, "duration": 8, "prompt": "go", "x_trace": 1}
    _, out, edits, skipped, after = fix(book, doc)
    assert list(out.items()) == [("model", M), ("seconds", "8"), ("prompt", "go"), ("x_trace", 1)]
    assert [(e.op, e.pointer, e.describe, e.unsafe) for e in edits] == [
        ("move", "/duration", 'duration 8 → seconds "8"', False)]
    assert "param.deprecated" not in rules(after) and not [s for s in skipped if s.rule == "param.deprecated"]
    # beside a current value the legacy one cannot move: dropping it needs --unsafe
    twice = {**doc, "seconds": "5"}
    _, out, edits, skipped, _ = fix(book, twice)
    assert out == twice and not edits
    assert {s.reason for s in skipped if s.pointer == "/duration"} == {"needs --unsafe: drop duration",
                                                                        "needs --unsafe: drop duration (keeps seconds)"}
    # a value with no unambiguous meaning in the current field's type is not moved
    _, out, edits, _, _ = fix(book, {**doc, "duration": [8]})
    assert not [e for e in edits if e.op == "move"]


def test_reorder_keeps_every_placeholder_form_pointing_at_the_same_media(book):
    prompt = ("@image3 in [Image 2] beside image 1, moving like video 2 and @Video1; "
              "@视频2 with 图片3 and [audio 1] over audio 2; @image 2 again and @image3 again")
    doc = ark(media("video", "v1.mp4"), media("image", "i1.png"), media("audio", "a1.mp3"), text(prompt),
              media("image", "i2.png"), media("video", "v2.mp4"), media("audio", "a2.mp3"),
              media("image", "i3.png"))
    before, out, edits, _, after = fix(book, doc)
    assert "content.order" in rules(before) and "content.order" not in rules(after)
    assert [i.get("type") for i in out["content"]] == ["text"] + ["image_url"] * 3 + ["video_url"] * 2 + \
        ["audio_url"] * 2
    assert resolve_all(doc) == resolve_all(out)
    # Each kind keeps its items' order among themselves (the sort is stable): no number has to change.
    assert out["content"][0]["text"] == prompt
    assert resolve_all(doc)[:3] == ["i3.png", "i2.png", "i1.png"]
    assert {e.pointer for e in edits} == {"/content/3", "/content/4", "/content/7", "/content/0", "/content/2",
                                          "/content/6"}
    assert "content[3] moved to content[0]" in {e.describe for e in edits}


def test_openai_metadata_content_reordered_within_its_array(book):
    doc = {"model": M, "prompt": "audio 1 over image 1 then image 2", "seconds": "5",
           "images": ["https://e.com/top.png"],
           "metadata": {"content": [media("audio", "a.mp3"), media("image", "i.png")], "watermark": False},
           "x_trace": "kept"}
    before, out, edits, _skipped, after = fix(book, doc)
    assert "content.order" in rules(before) and "content.order" not in rules(after)
    assert out["metadata"]["content"] == [media("image", "i.png"), media("audio", "a.mp3")]
    assert out["x_trace"] == "kept" and out["metadata"]["watermark"] is False
    assert resolve_all(doc, "openai-videos") == resolve_all(out, "openai-videos")
    assert [e.describe for e in edits] == ["metadata.content[1] moved to metadata.content[0]",
                                           "metadata.content[0] moved to metadata.content[1]"]


def test_items_of_different_fields_are_not_moved_between_them(book):
    doc = {"model": M, "prompt": "go", "seconds": "5", "videos": ["https://e.com/v.mp4"],
           "metadata": {"content": [media("image", "i.png")]}}
    before, out, edits, skipped, _after = fix(book, doc)
    assert "content.order" in rules(before)
    assert out == doc and not edits
    assert [s.pointer for s in skipped if s.rule == "content.order"] == ["/metadata/content/0"]


def test_flat_fields_are_already_in_order(book):
    # Written audio, video, image, prompt: the field names say each kind, and the API reads them in order.
    doc = {"audios": ["https://e.com/a.mp3"], "videos": ["https://e.com/v.mp4"], "images": ["https://e.com/i.png"],
           "model": "seedance2.0-720p", "prompt": "image 1 moves like video 1 to audio 1"}
    before, out, edits, _skipped, _after = fix(book, doc)
    assert "content.order" not in rules(before)
    assert out == doc and list(out) == list(doc) and not edits


def test_placeholders_that_refer_to_no_item_are_skipped(book):
    doc = json.loads((ROOT / "fixtures/invalid/mixed-modes.json").read_text())
    _before, out, _edits, skipped, after = fix(book, doc)
    assert "@image3" in out["content"][0]["text"]  # left as written
    mine = [s for s in skipped if s.rule == "text.placeholder"]
    assert len(mine) == 1 and "@image3" in mine[0].reason and mine[0].pointer == "/content/1/text"
    assert "content.order" not in rules(after) and "param.type" not in rules(after)


@pytest.mark.parametrize("doc,why", [
    (ark(text("go"), media("image", "a.png", None), media("image", "b.png", None)), "cannot be inferred"),
    (ark(text("go"), media("image", "a.png", "first_frame"), media("video", "v.mp4", None)), "first_frame"),
])
def test_roles_that_cannot_be_inferred_are_skipped(book, doc, why):
    before, out, edits, skipped, _after = fix(book, doc)
    assert "content.role-missing" in rules(before)
    assert out == doc and not edits
    assert any(s.rule == "content.role-missing" and why in s.reason for s in skipped)


@pytest.mark.parametrize("value,allowed,expected", [
    ("false", ["boolean"], False), (" TRUE ", ["boolean"], True), ("5", ["integer"], 5), ("-1", ["integer"], -1),
    ("5.0", ["integer"], 5), (5.0, ["integer"], 5), ("2.5", ["number"], 2.5), (7, ["string"], "7"),
    (8.0, ["string"], "8"), (5.0, ["integer", "string"], 5),
])
def test_coercion(value, allowed, expected):
    got = coerced(value, allowed)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value,allowed", [
    ("yes", ["boolean"]), (1, ["boolean"]), ("5.5", ["integer"]), (5.5, ["integer"]), ("١٥", ["integer"]),
    ("9" * 40, ["integer"]), (True, ["integer"]), (True, ["string"]), (1, ["boolean", "string"]),
    ("x", ["array"]), (None, ["object"]), (float("inf"), ["integer"]), (2.5, ["string"]),
])
def test_ambiguous_values_are_not_coerced(book, value, allowed):
    from prep.fix.request import _ABSENT

    assert coerced(value, allowed) is _ABSENT


def test_uncoercible_and_too_long_values_are_skipped(book):
    doc = ark(text("go"), watermark="nope", safety_identifier="x" * 100)
    _before, out, edits, skipped, _after = fix(book, doc, options=UNSAFE)
    assert out == doc and not edits
    reasons = {s.pointer: s.reason for s in skipped if s.rule == "param.type"}
    assert "no unambiguous boolean" in reasons["/watermark"] and "too long" in reasons["/safety_identifier"]


def test_findings_without_a_request_fix_are_skipped_and_media_ones_left_alone(book):
    doc = ark(text("go"), duration=40, resolution="9k")
    _, out, edits, skipped, _ = fix(book, doc, options=UNSAFE)
    assert out == doc and not edits
    assert {s.rule for s in skipped} == {"param.duration", "param.resolution"}
    assert all(s.reason == "no automatic fix" for s in skipped)
    profile = profile_of(book, doc)
    from prep.model import Finding

    media_finding = Finding("image.dimensions", "error", "/content/1/image_url/url", "too big", fixable=True)
    _, e, s = edit_request(doc, profile, [media_finding], UNSAFE)
    assert not e and not s  # the media planner's


def test_an_inline_video_is_left_to_extract(book):
    """url.video-base64: with --extract the runner writes the video as a file and the finding goes; without
    it the finding is listed, saying so (it once said "not fixed" even when --extract had fixed it)."""
    doc = ark(text("go"), media("video", "data:video/mp4;base64,AAAAIGZ0eXBpc29t"))
    before, out, edits, skipped, _ = fix(book, doc)
    assert "url.video-base64" in rules(before) and out == doc and not edits
    (why,) = [s.reason for s in skipped if s.rule == "url.video-base64"]
    assert "--extract" in why
    _, out, edits, skipped, _ = fix(book, doc, options=FixOptions(extract=True))
    assert out == doc and not edits and "url.video-base64" not in rules(skipped)


def test_unknown_fields_are_kept_unless_dropping_is_asked(book):
    doc = ark(media("video", "v.mp4"), text("go"), x_client="crm", extra={"a": 1})
    _, safe_out, _, _, _ = fix(book, doc)
    assert safe_out["x_client"] == "crm" and safe_out["extra"] == {"a": 1}
    assert list(safe_out) == list(doc)  # key order kept
    _, unsafe_out, edits, _, after = fix(book, doc, options=UNSAFE)
    assert "x_client" not in unsafe_out and "extra" not in unsafe_out and "param.unknown" not in rules(after)
    assert {e.pointer for e in edits if e.op == "drop"} == {"/x_client", "/extra"}


# ---------------------------------------------------------------------------------------------------
# Every shipped request: fixes hold, nothing new appears, a second pass changes nothing

SHIPPED = sorted(p for folder in ("requests", "invalid", "seedance-2.5", "media-job")
                 for p in (ROOT / "fixtures" / folder).rglob("*.json"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT / "fixtures")))
@pytest.mark.parametrize("options", [SAFE, UNSAFE], ids=["safe", "unsafe"])
def test_shipped_requests(book, path, options):
    doc = json.loads(path.read_text())
    before, out, edits, skipped, after = fix(book, doc, options=options)
    assert rules(after) <= rules(before)
    for e in edits:
        assert e.rule not in rules(after) or e.rule in {s.rule for s in skipped}, e
        assert e.unsafe <= options.unsafe
    assert infer_profile(out, _models(book)) == infer_profile(doc, _models(book))
    profile = profile_of(book, doc)
    again, more, _ = edit_request(out, profile, findings_of(out, profile), options)
    assert not more and again == out


# ---------------------------------------------------------------------------------------------------
# Property: any order of items, any placeholders → ordered, same media referenced, idempotent

_FORMS = {  # how a reference to (kind, n) may be written, as the shipped placeholder rule reads them
    "at": lambda k, n: f"@{k}{n}", "at_space": lambda k, n: f"@{k.capitalize()} {n}",
    "bracket": lambda k, n: f"[{k.capitalize()} {n}]", "word": lambda k, n: f"{k} {n}",
    "cjk": lambda k, n: {"image": "图片", "video": "视频", "audio": "音频"}[k] + str(n),
    "at_cjk": lambda k, n: "@" + {"image": "图片", "video": "视频", "audio": "音频"}[k] + str(n),
}
# An independent reader of those forms (not the checker's matcher).
_REF = re.compile(r"@\s*(image|video|audio|图片|视频|音频)\s*(\d+)|\[\s*(image|video|audio)\s*(\d+)\s*\]"
                  r"|\b(image|video|audio)\s+(\d+)\b|(图片|视频|音频)\s*(\d+)", re.IGNORECASE)
_CJK = {"图片": "image", "视频": "video", "音频": "audio"}


def references(prompt: str) -> list[tuple[str, int]]:
    out = []
    for m in _REF.finditer(prompt):
        kind, n = next((m.group(g), m.group(g + 1)) for g in (1, 3, 5, 7) if m.group(g))
        out.append((_CJK.get(kind, kind.lower()), int(n)))
    return out


def resolve_all(doc: dict, dialect: str = "content") -> list:
    """Each prompt's references, in order, as the URL they point at (the reference itself when none)."""
    items = parse(doc, dialect).items
    by_kind: dict[str, list] = {}
    for i in items:
        if i.kind in ("image", "video", "audio"):
            by_kind.setdefault(i.kind, []).append(i.url)
    out = []
    for i in items:
        if i.kind == "text":
            for kind, n in references(i.text):
                urls = by_kind.get(kind, [])
                out.append(urls[n - 1] if 1 <= n <= len(urls) else (kind, n))
    return out


@st.composite
def shuffled_requests(draw):
    counts = {"image": draw(st.integers(0, 4)), "video": draw(st.integers(0, 3)), "audio": draw(st.integers(0, 3))}
    present = [k for k, c in counts.items() if c]
    prompts = []
    for _ in range(draw(st.integers(1, 2))):
        refs = draw(st.lists(st.tuples(st.sampled_from(present or ["image"]), st.integers(1, 5),
                                       st.sampled_from(sorted(_FORMS))), max_size=8))
        prompts.append(" and ".join(_FORMS[form](kind, n) for kind, n, form in refs) or "a cat")
    items = [text(p) for p in prompts]
    for kind, count in counts.items():
        for n in range(count):
            role = "ref" if kind == "image" or draw(st.booleans()) else None  # a role-less video/audio: inferable
            items.append(media(kind, f"https://e.com/{kind}{n}", role))
    items = draw(st.permutations(items))
    return ark(*items, ratio="16:9")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=shuffled_requests())
def test_any_order_is_fixed_keeping_references(book, doc):
    before, out, _edits, _skipped, after = fix(book, doc)
    assert "content.order" not in rules(after) and "content.role-missing" not in rules(after)
    assert rules(after) <= rules(before)
    assert resolve_all(out) == resolve_all(doc)
    # the same items, each kind in its order
    kinds = [i["type"] for i in out["content"]]
    assert kinds == sorted(kinds, key=["text", "image_url", "video_url", "audio_url"].index)
    strip = [{k: v for k, v in i.items() if k not in ("role", "text")} for i in out["content"]]
    assert sorted(map(json.dumps, strip)) == sorted(json.dumps({k: v for k, v in i.items() if k not in ("role", "text")})
                                                    for i in doc["content"])
    profile = profile_of(book, doc)
    again, more, _ = edit_request(out, profile, findings_of(out, profile), SAFE)
    assert not more and again == out


_SCALAR = (st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False)
           | st.sampled_from(["false", "True", "5", "5.0", "-1", "x", "@image2 and video 1", "https://e.com/a.png",
                              "reference_image", "first_frame", "text", "image_url", "video_url", "audio_url"]))
_KEY = st.sampled_from(["model", "content", "prompt", "type", "role", "text", "image_url", "video_url", "audio_url",
                        "url", "watermark", "duration", "seconds", "metadata", "extra_body", "images", "videos",
                        "camera_fixed", "frames", "seed", "ratio", "aspect_ratio", "service_tier"]) | st.text(max_size=4)
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(_KEY, inner, max_size=5),
                     max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(_KEY, _JSON, max_size=8),
       name=st.sampled_from(["ark", "gateway", "video-generations", "openai-videos"]), unsafe=st.booleans())
def test_any_document_is_edited_without_crashing(book, doc, name, unsafe):
    _, out, edits, skipped, _ = fix(book, doc, name, FixOptions(unsafe=unsafe))
    json.dumps(out)  # still a JSON document
    assert all(e.pointer.startswith("/") and e.describe for e in edits)
    assert all(s.reason for s in skipped)
    assert unsafe or not [e for e in edits if e.unsafe]


def test_a_rules_override_moves_the_order(tmp_path):
    from prep.ruleset import RuleBook

    overlay = tmp_path / "order.toml"
    overlay.write_text('[rules."content.order"]\noptions = { order = ["text", "audio_url", "video_url", "image_url"] }\n')
    book = RuleBook([overlay])
    doc = ark(media("image", "i.png"), media("video", "v.mp4"), text("image 1, video 1, audio 1"),
              media("audio", "a.mp3"))
    before, out, _, _, after = fix(book, doc)
    assert "content.order" in rules(before) and "content.order" not in rules(after)
    assert [i["type"] for i in out["content"]] == ["text", "audio_url", "video_url", "image_url"]
    assert resolve_all(out) == resolve_all(doc)
