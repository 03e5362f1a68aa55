"""Hostile requests (issue 7): a readable request file always gets findings, never an internal error,
never output that is not strict JSON. One regression test per crash class a fuzz campaign found, then a
property test in the same spirit (tests/fuzz/ holds the long-running campaign)."""

from __future__ import annotations

import json
import math
import sys
import tempfile
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prep.lint import Checker
from prep.model import MediaFacts

M = "doubao-seedance-2-0-260128"
TEXT = '{"type": "text", "text": "a cat"}'
HUGE = "9" * 5000  # past Python's 4,300-digit int() limit


def _strict(text: str):
    """json.loads that refuses NaN and Infinity, as a strict JSON reader does."""
    def refuse(name):
        raise ValueError(f"{name} in the output")

    return json.loads(text, parse_constant=refuse)


def _check(book, raw: str, **options):
    result = Checker(book, **options).check_bytes(raw.encode("utf-8", "surrogatepass"), "x.json")
    for f in result.findings:
        assert isinstance(f.rule, str) and f.rule and isinstance(f.message, str) and f.message
        json.dumps(f.as_dict(), allow_nan=False)
    json.dumps(result.estimate, allow_nan=False)
    return result


def _rules(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in getattr(result, "findings", result):
        out.setdefault(f.rule, []).append(f)
    return out


# ---------------------------------------------------------------------------------------------------
# 1. Digit strings past int()'s limit


def test_a_number_too_long_for_int_is_reported_where_it_is_written(book):
    raw = '{"model": "%s",\n "content": [%s],\n  "seed": %s}' % (M, TEXT, HUGE)
    found = _rules(_check(book, raw))
    [number] = found["request.number"]
    assert (number.pointer, number.line, number.column) == ("/seed", 3, 11)
    assert "5,000 digits" in number.message and len(number.message) < 200
    assert "param.type" not in found  # the literal is an integer: request.number says what is wrong


def test_a_huge_negative_number_deep_in_an_unknown_field(book):
    found = _rules(_check(book, '{"model": "%s", "content": [%s], "x": {"y": [1, -%s]}}' % (M, TEXT, HUGE)))
    assert [f.pointer for f in found["request.number"]] == ["/x/y/1"]
    assert [f.pointer for f in found["param.unknown"]] == ["/x"]


def test_a_huge_placeholder_number_in_the_prompt(book):
    raw = '{"model": "%s", "content": [{"type": "text", "text": "the cat from @image%s"}]}' % (M, HUGE)
    [hit] = _rules(_check(book, raw))["text.placeholder"]
    assert len(hit.message) < 300


@pytest.mark.parametrize("profile,raw,rule", [
    ("openai-videos", '{"model": "%s", "prompt": "a cat", "seconds": "%s"}' % (M, HUGE), "param.duration"),
    ("openai-videos", '{"model": "%s", "prompt": "a cat", "seconds": "-%s"}' % (M, HUGE), "param.duration"),
    ("video-generations", '{"model": "seedance2.0-720p", "prompt": "a cat", "duration": "%s"}' % HUGE,
     "param.duration"),
    ("ark", '{"model": "%s", "content": [%s], "duration": "%s"}' % (M, TEXT, HUGE), "param.type"),
], ids=["openai seconds", "openai negative seconds", "flat duration", "ark duration"])
def test_a_huge_duration_string(book, profile, raw, rule):
    result = _check(book, raw, profile=profile, max_tokens=1000)
    [hit] = _rules(result)[rule]
    assert len(hit.message) < 300
    assert result.estimate is None  # no duration can be read from it


def test_a_huge_duration_string_on_a_task_rule(book):
    raw = ('{"model": "dreamina-seedance-2-5-260628", "omni_reference_task_type": "edit", "ratio": "adaptive", '
           '"duration": "%s", "content": [{"type": "text", "text": "edit video 1"}, {"type": "video_url", '
           '"video_url": {"url": "https://e.com/a.mp4"}, "role": "reference_video"}]}' % HUGE)
    [hit] = _rules(_check(book, raw, profile="byteplus"))["task.edit"]
    assert len(hit.message) < 300


def test_whole_number_is_exact_when_small_and_clamped_when_huge():
    from prep.checks import whole_number

    assert [whole_number(s) for s in ("5", " -1 ", "0007", "-0")] == [5, -1, 7, 0]
    assert whole_number("1" + "0" * 10) == 10 ** 10
    assert whole_number(HUGE) > 4294967295 and whole_number("-" + HUGE) < -1  # past every limit
    assert whole_number("0" * 5000 + "15") == 15


# ---------------------------------------------------------------------------------------------------
# 2. Lone surrogates


@pytest.mark.parametrize("profile,raw", [
    ("ark", '{"model": "\\ud800", "\\udc00x": 1, "ratio": "\\ud800", "resolution": "\\udfff", "duration": "\\ud800",'
            ' "callback_url": "https://\\ud800", "tools": [{"type": "\\ud800"}], "content": [{"type": "text",'
            ' "text": "\\ud800 @image5 [Image\\udc00 2]"}, {"type": "image_url", "image_url": {"url": "\\ud800.png"},'
            ' "role": "\\ud800"}, {"type": "\\ud800"}, {"type": "video_url", "video_url": '
            '{"url": "data:video/\\ud800;base64,\\ud800"}}]}'),
    ("video-generations", '{"model": "seedance2.0-720p", "prompt": "\\ud800 image 7", "duration": "\\udc00",'
                          ' "images": ["data:image/png;base64,\\ud800"], "extra_body": {"\\ud800": 1}}'),
    ("openai-videos", '{"model": "\\ud800", "prompt": "a", "seconds": "\\ud800", "size": "\\ud800x\\ud800",'
                      ' "metadata": {"\\ud800.a": 1, "content": [{"type": "image_url", "image_url": {"url": "\\ud800"},'
                      ' "role": "\\ud800"}]}}'),
], ids=["content", "flat", "openai"])
def test_lone_surrogates_are_reported_not_crashed_on(book, profile, raw, tmp_path):
    result = _check(book, raw, profile=profile, max_tokens=1)
    assert result.findings


# ---------------------------------------------------------------------------------------------------
# 3. Numbers past a float, NaN, and impossible media facts


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999", "-0.5e309"])
def test_an_overflowing_duration_is_an_error_not_a_pass(book, literal):
    result = _check(book, '{"model": "%s", "content": [%s], "duration": %s}' % (M, TEXT, literal), max_tokens=5)
    [hit] = _rules(result)["request.number"]
    assert hit.pointer == "/duration" and hit.severity == "error" and literal in hit.message


def test_an_overflowing_value_where_a_boolean_belongs_is_still_a_type_error(book):
    found = _rules(_check(book, '{"model": "%s", "content": [%s], "watermark": 1e400}' % (M, TEXT)))
    assert "request.number" in found and "param.type" in found


def test_nan_and_infinity_literals_are_syntax_errors(book):
    for literal in ("NaN", "Infinity", "-Infinity"):
        [hit] = _check(book, '{"model": "%s", "duration": %s}' % (M, literal)).findings
        assert hit.rule == "request.json" and literal in hit.message


def test_non_finite_expected_and_actual_become_strings(book):
    from prep.engine import _jsonable

    assert _jsonable([math.inf, -math.inf, math.nan, 1.5]) == ["Infinity", "-Infinity", "NaN", 1.5]
    found = _rules(_check(book, '{"model": "%s", "content": [%s], "frames": 1e400}' % (M, TEXT)))
    assert found["param.unsupported"][0].actual == "Infinity"


def test_deeply_nested_values_stay_encodable(book):
    deep = "[" * 900 + "]" * 900
    result = _check(book, '{"model": "%s", "content": [%s], "frames": %s, "ratio": %s}' % (M, TEXT, deep, deep))
    assert {"param.unsupported", "param.type"} <= set(_rules(result))


VIDEO = {"type": "video_url", "video_url": {"url": "https://e.com/a.mp4"}, "role": "reference_video"}
AUDIO = {"type": "audio_url", "audio_url": {"url": "https://e.com/a.mp3"}, "role": "reference_audio"}
IMAGE = {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}, "role": "reference_image"}


def _evaluate_with_facts(book, facts_by_index: dict, *items):
    from prep.dialects import parse
    from prep.engine import evaluate

    req = parse({"model": M, "content": [{"type": "text", "text": "a cat"}, *items], "resolution": "720p",
                 "ratio": "16:9", "duration": 5}, "content")
    facts = {f"/content/{i}": fact for i, fact in facts_by_index.items()}
    findings, ctx = evaluate(req, book.get("ark"), facts=facts, max_tokens=10)
    for f in findings:
        json.dumps(f.as_dict(), allow_nan=False)
    json.dumps(ctx.estimate, allow_nan=False)
    return _rules(findings), ctx


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf, -3.0])
def test_impossible_media_durations_are_unreadable_not_passed(book, seconds):
    clip = MediaFacts(kind="video", format="mp4", bytes=1000, codec="h264", width=1280, height=720,
                      duration_s=seconds, fps=24.0, has_video=True)
    found, ctx = _evaluate_with_facts(book, {1: clip, 2: clip}, VIDEO, VIDEO)
    assert [f.pointer for f in found["media.unreadable"]] == ["/content/1/video_url/url", "/content/2/video_url/url"]
    assert "header is broken" in found["media.unreadable"][0].message
    assert "video.duration" not in found and "video.total-duration" not in found
    assert ctx.estimate["tokens"] == 1280 * 720 * (24 * 5 + 1) // 1024  # the output only: no input seconds
    assert "input_video_seconds" not in ctx.estimate


def test_impossible_audio_and_fps_facts(book):
    audio = MediaFacts(kind="audio", format="mp3", bytes=1000, duration_s=math.nan, has_audio=True)
    clip = MediaFacts(kind="video", format="mp4", bytes=1000, width=1280, height=720, duration_s=5.0,
                      fps=math.inf, has_video=True)
    found, ctx = _evaluate_with_facts(book, {1: clip, 2: audio}, VIDEO, AUDIO)
    assert len(found["media.unreadable"]) == 2
    assert not {"audio.duration", "video.fps", "audio.total-duration"} & set(found)


def test_a_negative_reference_clip_never_lowers_the_estimate(book):
    good = MediaFacts(kind="video", format="mp4", bytes=1000, width=1280, height=720, duration_s=4.0, fps=24.0,
                      has_video=True)
    bad = good._replace(duration_s=-100.0)
    _, ctx = _evaluate_with_facts(book, {1: good, 2: bad}, VIDEO, VIDEO)
    assert ctx.estimate["input_video_seconds"] == 4.0
    assert ctx.estimate["tokens"] == 108900 + 1280 * 720 * 24 * 4 // 1024


def test_a_negative_duration_has_no_estimate(book):
    result = _check(book, '{"model": "%s", "content": [%s], "duration": -7}' % (M, TEXT), max_tokens=1)
    assert result.estimate is None and "param.duration" in _rules(result)


# ---------------------------------------------------------------------------------------------------
# 4. Roles that cannot be hashed


@pytest.mark.parametrize("roles", [(["first_frame"], {"a": 1}), ([], "last_frame"), ({"x": []}, None)])
def test_array_and_object_roles_on_several_images(book, roles):
    items = []
    for n, role in enumerate(roles):
        item = {"type": "image_url", "image_url": {"url": f"https://e.com/{n}.png"}}
        if role is not None:
            item["role"] = role
        items.append(item)
    raw = json.dumps({"model": M, "content": [{"type": "text", "text": "a cat"}, *items]})
    result = _check(book, raw, max_tokens=1)
    assert result.mode is None
    assert "content.role-invalid" in _rules(result)


def test_detect_mode_with_unhashable_roles():
    from prep.dialects import parse
    from prep.engine import detect_mode

    img = {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}
    for a, b in ((["x"], "last_frame"), ({"r": 1}, ["y"]), ("first_frame", [])):
        assert detect_mode(parse({"content": [img | {"role": a}, img | {"role": b}]}, "content")) is None


# ---------------------------------------------------------------------------------------------------
# 5. A local video that is missing or not a regular file, with an estimate asked for


@pytest.mark.parametrize("flags", [("--format", "json"), ("--max-tokens", "1000"),
                                   ("--format", "json", "--max-tokens", "1000")])
def test_a_missing_or_odd_local_video_under_json_and_budget(cli, tmp_path, flags):
    (tmp_path / "folder.mp4").mkdir()
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"model": M, "content": [
        {"type": "text", "text": "a cat"},
        {"type": "video_url", "video_url": {"url": "missing.mp4"}, "role": "reference_video"},
        {"type": "video_url", "video_url": {"url": "folder.mp4"}, "role": "reference_video"}]}))
    res = cli("check", *flags, request)
    assert res.code == 1, res.err
    assert "Traceback" not in res.err
    if "json" in flags:
        [result] = _strict(res.out)["results"]
        assert [f["rule"] for f in result["findings"]].count("media.not-found") == 2
        assert result["estimate"]["tokens"] > 0


# ---------------------------------------------------------------------------------------------------
# 6. Keys with dots and slashes point at themselves


def test_a_top_level_key_with_a_dot_points_at_itself(book):
    found = _rules(_check(book, '{"model": "%s", "content": [%s], "a.b": 1, "c/d~e": 2}' % (M, TEXT)))
    assert sorted(f.pointer for f in found["param.unknown"]) == ["/a.b", "/c~1d~0e"]
    assert all(f.line == 1 and f.column > 1 for f in found["param.unknown"])


def test_dotted_keys_in_the_openai_dialect(book):
    raw = json.dumps({"model": M, "prompt": "a cat", "seconds": "5", "a.b": 1, "metadata": {"a.b": 2, "seconds": "6"}})
    found = _rules(_check(book, raw, profile="openai-videos"))
    assert "/a.b" in [f.pointer for f in found["param.unknown"]]
    assert "/metadata/a.b" in [f.pointer for f in found["param.unknown"]]
    assert sorted(f.pointer for f in found["param.conflict"]) == ["/metadata/a.b", "/metadata/seconds"]


def test_rule_keys_with_a_dot_still_mean_nesting(book):
    raw = json.dumps({"model": "seedance2.0-720p", "prompt": "a cat", "extra_body": {"seed": "7"},
                      "extra_body.seed": 1})
    found = _rules(_check(book, raw, profile="video-generations"))
    assert [f.pointer for f in found["param.type"]] == ["/extra_body/seed"]
    assert [f.pointer for f in found["param.unknown"]] == ["/extra_body.seed"]


# ---------------------------------------------------------------------------------------------------
# 7. Malformed tools


@pytest.mark.parametrize("tools,pointer", [([5], "/tools/0"), ([{"type": 3}], "/tools/0/type"), ([{}], "/tools/0"),
                                           (["web_search"], "/tools/0"), ([{"type": "web_search"}, []], "/tools/1")])
def test_malformed_tools_are_errors(cli, tmp_path, tools, pointer):
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"model": M, "tools": tools, "content": [{"type": "text", "text": "news"}]}))
    res = cli("check", "--format", "json", request)
    assert res.code == 1
    hits = [f for f in _strict(res.out)["results"][0]["findings"] if f["rule"] == "tools.shape"]
    assert [(f["pointer"], f["severity"]) for f in hits] == [(pointer, "error")]


def test_web_search_is_clean(cli, tmp_path):
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"model": M, "tools": [{"type": "web_search"}],
                                   "content": [{"type": "text", "text": "news"}]}))
    res = cli("check", "--format", "json", request)
    assert res.code == 0 and _strict(res.out)["results"][0]["findings"] == []


# ---------------------------------------------------------------------------------------------------
# 8. Locating many findings (the speed is measured in tests/fuzz/README.md, not asserted here)


def test_many_findings_are_located_as_one_at_a_time(book):
    from prep.document import locate

    items = [{"type": "video_url", "video_url": {"url": f"https://e.com/{i}.mp4"}, "role": "x"} for i in range(300)]
    text = json.dumps({"model": M, "content": [{"type": "text", "text": "a"}, *items]}, indent=1)
    result = _check(book, text)
    assert len(result.findings) > 300
    doc = json.loads(text)
    pointers = [f.pointer for f in result.findings]
    assert {f.pointer: (f.line, f.column) for f in result.findings} == {p: locate(text, [p], doc)[p] for p in pointers}


# ---------------------------------------------------------------------------------------------------
# 9. Memory on a long prompt


@pytest.mark.parametrize("words", ["the cat runs over a red hill ", "image 1 video 1 @image1 "])
def test_a_long_prompt_costs_a_small_multiple_of_its_size(book, words):
    from prep.dialects import parse
    from prep.engine import evaluate

    prompt = words * (1_000_000 // len(words))
    req = parse({"model": M, "content": [{"type": "text", "text": prompt}, IMAGE, VIDEO]}, "content")
    tracemalloc.start()
    try:
        findings, _ = evaluate(req, book.get("ark"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "text.length" in {f.rule for f in findings}
    assert peak < 2 * len(prompt)  # one lower-cased copy at most; never a list of every word or match


def test_word_and_cjk_counts():
    from prep.checks.content import _cjk_count, _word_count

    assert _word_count("it's a well-lit room, isn't it") == 6
    assert _cjk_count("猫が走る 고양이 cat") == 7 and _cjk_count("plain ascii") == 0


# ---------------------------------------------------------------------------------------------------
# 10. Property: random request documents in all three dialects, with hostile literals


class Raw(str):
    """A literal written into the JSON text as it is (1e400, a 5,000-digit integer, a \\ud800 escape)."""


def _dump(value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_dump(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    return json.dumps(value)


NAMES = ["model", "content", "prompt", "resolution", "ratio", "duration", "seconds", "seed", "generate_audio",
         "watermark", "tools", "callback_url", "execution_expires_after", "safety_identifier", "priority", "frames",
         "camera_fixed", "service_tier", "draft", "output_format", "omni_reference_task_type", "return_last_frame",
         "image", "last_image", "images", "videos", "audios", "aspect_ratio", "extra_body", "metadata", "size", "n",
         "type", "role", "url", "text", "image_url", "video_url", "audio_url", "draft_task", "operation", "a.b",
         "a/b", "t~x"]
HOSTILE = st.sampled_from([Raw("1e400"), Raw("-1e400"), Raw("1E+999"), Raw(HUGE), Raw("-" + "1" * 400),
                           Raw("1e-400"), Raw('"\\ud800"'), Raw('"\\udc00@image9"'), Raw('"' + "9" * 4400 + '"'),
                           Raw('"@video' + "7" * 4400 + '"'), Raw('"-' + "1" * 5000 + '"')])
SCALAR = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
          | st.text(max_size=12) | HOSTILE
          | st.sampled_from(["https://e.com/a.png", "data:image/png;base64,iVBORw0KGgo=", "asset://a", "a.mp4",
                             "first_frame", "last_frame", "reference_image", "reference_video", "reference_audio",
                             "web_search", "720p", "16:9", "adaptive", "-1", "5", "15", "1280x720", "@image2 image 3",
                             "doubao-seedance-2-0-260128", "seedance2.0-720p", "dreamina-seedance-2-5-260628"]))
KEY = st.sampled_from(NAMES) | st.text(max_size=6)
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=4),
                     max_leaves=20)
ITEM = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url", "video_url", "audio_url", "draft_task"]) | SCALAR},
    optional={"text": VALUE, "role": VALUE, "image_url": st.fixed_dictionaries({"url": SCALAR}) | VALUE,
              "video_url": st.fixed_dictionaries({"url": SCALAR}), "audio_url": st.fixed_dictionaries({"url": SCALAR}),
              "draft_task": VALUE})
PARAMS = st.dictionaries(KEY, VALUE, max_size=6)
URLS = st.lists(SCALAR, max_size=4)


@st.composite
def requests(draw):
    dialect = draw(st.sampled_from(["content", "flat", "openai"]))
    doc = {"model": draw(SCALAR)}
    if dialect == "content":
        doc["content"] = draw(st.lists(ITEM, max_size=6) | VALUE)
    else:
        doc["prompt"] = draw(SCALAR)
        for key in ("image", "last_image", "images", "videos", "audios"):
            if draw(st.booleans()):
                doc[key] = draw(URLS if key.endswith("s") else SCALAR)
        if dialect == "flat":
            doc["extra_body"] = draw(PARAMS | VALUE)
        else:
            doc["seconds"] = draw(SCALAR)
            doc["metadata"] = draw(st.fixed_dictionaries({}, optional={"content": st.lists(ITEM, max_size=4)})
                                   .flatmap(lambda d: PARAMS.map(lambda p: {**p, **d})))
    doc.update(draw(PARAMS))
    return _dump(doc)


PROFILES = [None, "ark", "byteplus", "gateway", "video-generations", "openai-videos"]
_MEDIA_DIR = tempfile.mkdtemp(prefix="hostile-media-")  # empty: every local path is missing


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=requests(), profile=st.sampled_from(PROFILES), budget=st.sampled_from([None, 1, 10**6]))
def test_hostile_requests_never_crash(book, raw, profile, budget):
    checker = Checker(book, profile=profile, max_tokens=budget)
    result = checker.check_bytes(raw.encode("utf-8", "surrogatepass"), "fuzz.json", base_dir=_MEDIA_DIR)
    for f in result.findings:
        assert isinstance(f.rule, str) and f.rule
        assert isinstance(f.message, str) and f.message
        assert f.line is not None and f.line >= 1 and f.column >= 1
        json.dumps(f.as_dict(), allow_nan=False)
    json.dumps(result.estimate, allow_nan=False)
    assert result.estimate is None or result.estimate["tokens"] >= 0


def test_task_intent_scans_a_bounded_prefix_of_a_huge_prompt():
    """A 2.5 edit prompt is recognised at its start; 20 MB of 'add add …' after it costs no minute."""
    import json

    from prep.lint import Checker
    from prep.ruleset import RuleBook

    prompt = "replace the cat in video 1 with a fox " + "add " * 5_000_000
    doc = {"model": "doubao-seedance-2-5-260628", "ratio": "16:9", "content": [
        {"type": "text", "text": prompt},
        {"type": "video_url", "video_url": {"url": "https://e.com/a.mp4"}, "role": "reference_video"}]}
    result = Checker(RuleBook(), inspect_media=False).check_bytes(json.dumps(doc).encode(), "big.json")
    assert "task.intent" in {f.rule for f in result.findings}


# ---------------------------------------------------------------------------------------------------
# 11. Hostile media (issue 8): the fallback reader (libmediainfo) is bounded in time and memory. A file
# it hangs, allocates or crashes on gets the sniffed facts and `unjudged`; the run goes on. A fake
# pymediainfo whose parse hangs, spins, allocates or aborts by file name stands in for the hostile files.

_FAKE_PYMEDIAINFO = '''
import os, time


class Track:
    def __init__(self, track_type, **fields):
        self.track_type = track_type
        self.__dict__.update(fields)


class MediaInfo:
    @staticmethod
    def can_parse():
        return True

    @classmethod
    def parse(cls, source):
        name = os.path.basename(source) if isinstance(source, str) else "served"
        if name.startswith("hang"):
            time.sleep(3600)
        if name.startswith("spin"):
            while True:
                pass
        if name.startswith("alloc"):
            hoard = [bytes(64 << 20) for _ in range(64)]  # 4 GiB of address space (calloc: untouched)
        if name.startswith("abort"):
            os.abort()
        info = cls()
        info.tracks = [Track("General", format="Matroska", duration="2000.000"),
                       Track("Video", format="AVC", width="64", height="48", frame_rate="25.000")]
        return info
'''


@pytest.fixture
def hostile_fallback(tmp_path, monkeypatch):
    """A fake pymediainfo for this test's worker, a 512 MiB cap, and copies of one Matroska file named
    for what the fake does with them."""
    from prep.inspect import worker

    fake = tmp_path / "fake"
    (fake / "pymediainfo").mkdir(parents=True)
    (fake / "pymediainfo" / "__init__.py").write_text(_FAKE_PYMEDIAINFO)
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.delitem(sys.modules, "pymediainfo", raising=False)  # an oracle test may have imported the real one
    monkeypatch.setenv("SEEDANCE_PREP_MEDIAINFO_MEMORY_MB", "512")
    worker._drop()
    mkv = b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\x82\x88matroska" + bytes(64)  # the sniffer's "mkv"; the fake reads nothing
    files = {}
    for name in ("hang", "spin", "alloc", "abort", "fine"):
        files[name] = tmp_path / f"{name}.mkv"
        files[name].write_bytes(mkv)
    yield fake, files
    worker._drop()


@pytest.mark.parametrize("name, reason", [("hang", "gave no answer within 0.5 s"),
                                          ("spin", "gave no answer within 0.5 s"),
                                          ("alloc", "ran past its 512 MiB memory limit"),
                                          ("abort", "crashed on this file (killed by SIGABRT")])
@pytest.mark.skipif(sys.platform == "win32", reason="no address-space cap or SIGABRT there")
def test_a_hostile_file_stops_the_fallback_and_the_run_goes_on(hostile_fallback, monkeypatch, name, reason):
    from prep.inspect import inspect_path, worker

    _, files = hostile_fallback
    assert inspect_path(files["fine"]).width == 64
    running = worker._worker
    monkeypatch.setenv("SEEDANCE_PREP_MEDIAINFO_TIMEOUT", "0.5")  # for this file only: the others keep 10 s
    f = inspect_path(files[name])
    monkeypatch.delenv("SEEDANCE_PREP_MEDIAINFO_TIMEOUT")
    assert (f.kind, f.format, f.bytes, f.problem) == ("video", "mkv", files[name].stat().st_size, None)
    assert reason in f.unjudged and "\n" not in f.unjudged
    assert running.proc.returncode is not None  # stopped and reaped: no zombie left behind
    json.dumps(f._asdict(), allow_nan=False)
    after = inspect_path(files["fine"])  # a new worker for the next file
    assert (after.width, after.duration_s, after.unjudged) == (64, 2.0, None)
    assert worker._worker is not running


def test_real_libmediainfo_past_a_tiny_memory_cap_is_unjudged_not_unreadable(tmp_path, monkeypatch):
    """libmediainfo swallows failed allocations and answers with less ("no streams"): a worker whose
    address space reached its cap says so rather than calling a good file broken."""
    from prep.inspect import inspect_path, worker

    try:
        from tests.media import Media
    except ImportError:
        from media import Media

    mkv = Media(tmp_path).video(container="mkv")
    worker._drop()
    monkeypatch.setenv("SEEDANCE_PREP_MEDIAINFO_MEMORY_MB", "1")
    try:
        f = inspect_path(mkv)
        assert (f.kind, f.format, f.problem) == ("video", "mkv", None)
        assert "memory limit" in f.unjudged
        monkeypatch.delenv("SEEDANCE_PREP_MEDIAINFO_MEMORY_MB")
        assert inspect_path(mkv).width == 64
    finally:
        worker._drop()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGABRT")
def test_check_with_hostile_media_reports_every_item(hostile_fallback, tmp_path):
    import os
    import subprocess
    import sys as _sys
    from pathlib import Path

    fake, files = hostile_fallback
    root = Path(__file__).resolve().parents[1]
    items = [{"type": "video_url", "video_url": {"url": str(files[n])}, "role": "reference_video"}
             for n in ("hang", "alloc", "abort", "fine")]
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"model": M, "content": [{"type": "text", "text": "a cat"}, *items]}))
    run = subprocess.run([_sys.executable, "-m", "prep", "check", "--format", "json", str(request)],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{root}",
                              "SEEDANCE_PREP_MEDIAINFO_TIMEOUT": "2"})
    assert run.returncode == 1, run.stderr
    [result] = _strict(run.stdout)["results"]
    unjudged = {f["pointer"].split("/")[2] for f in result["findings"] if f["rule"] == "media.unjudged"}
    formats = {f["pointer"].split("/")[2] for f in result["findings"] if f["rule"] == "video.format"}
    assert unjudged == {"1", "2", "3"} and formats == {"1", "2", "3", "4"}
