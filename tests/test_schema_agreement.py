"""One truth: `seedance-prep schema` rejects exactly what `check` reports as an error.

For random requests in each profile's dialect, with values at the edges of what the rules allow, `check`
reports an error of one of the parameter, count and content-item rules below at a JSON pointer exactly
when the profile's JSON Schema (its leaf errors) reports a violation there. A count finding points at the
first item over the limit, the schema at the array holding it: the two are compared at the array.
Warnings are not rejections: the schema accepts what `check` only warns about. Whole floats (``5.0``) are
not drawn: JSON Schema cannot tell them from integers (see prep/schema.py).
"""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prep.lint import Checker
from prep.pointer import escape
from prep.ruleset import RuleBook
from prep.schema import _integer_pattern, request_schema

jsonschema = pytest.importorskip("jsonschema")

RULES = {"param.model", "param.type", "param.ratio", "param.resolution", "param.duration", "param.seed",
         "param.expires", "param.priority", "param.output-format", "param.task-type", "param.unsupported",
         "param.callback-url", "count.images", "count.videos", "count.audios", "count.total", "content.item",
         "content.role-invalid", "tools.shape"}
# A required prompt written as null is a missing one (null is absent on every profile): `check` says so with
# content.empty, at the prompt, and the schema at the same place (a prompt left out is never drawn).
NULL_REQUIRED = {"content.empty"}
COUNTS = {"count.images", "count.videos", "count.audios", "count.total"}

# The keys each dialect's parser reads these rules' parameters from (written out here, not taken from
# prep/schema.py, so the test does not share the code it checks).
PARAMS = {
    "content": ["resolution", "ratio", "duration", "seed", "execution_expires_after", "priority", "output_format",
                "omni_reference_task_type", "frames", "camera_fixed", "service_tier", "watermark",
                "generate_audio", "safety_identifier", "callback_url", "tools"],
    "video-generations": ["duration", "aspect_ratio", "ratio", "seed", "resolution", "priority",
                          "execution_expires_after"],
    "openai-videos": ["seconds", "duration", "resolution", "ratio", "size", "seed", "n", "response_format",
                      "frames", "draft", "output_format", "service_tier", "camera_fixed", "priority"],
}
NESTED = {"video-generations": ("extra_body", ["seed", "generate_audio", "watermark", "camera_fixed"]),
          "openai-videos": ("metadata", ["seconds", "duration", "resolution", "ratio", "seed", "priority",
                                         "execution_expires_after", "callback_url", "size", "tools"])}
PROFILES = ["ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos"]
BOOK = RuleBook()


def _edges(book: RuleBook) -> tuple[dict, list]:
    """Integers (and strings of digits) at the edges of each ranged parameter's options, and words at the
    edges of the listed ones, over every profile and family."""
    ints: dict[str, set] = {}
    words = {"2:1", "8k", "webm", "remix", "flex", "b64_json", "", "x"}
    for name in book.names:
        data = book.profile_data(name)
        for size in (wh for table in data.get("pixels", {}).values() for wh in table.values()):
            words |= {f"{size[0]}x{size[1]}", f"{size[0]}X{size[1]}", f"{size[0]}x{size[1] + 1}"}
        words |= {r for m in data.get("models", {}).values() for r in m.get("resolutions", [m.get("resolution")])}
        for family in book.families_of(name):
            for rule in book.get(name, family).rules:
                o = rule.options
                if rule.check == "int_range":
                    own = ints.setdefault(o["param"], set())
                    for bound in (o["min"], o["max"], o.get("enforced_min", o["min"]), o.get("enforced_max", o["max"])):
                        own |= {math.floor(bound) - 1, math.floor(bound), math.ceil(bound), math.ceil(bound) + 1}
                    own |= {a + d for a in o.get("also", []) for d in (-1, 0)}
                elif rule.check == "one_of":
                    words |= set(o["values"])
                elif rule.check == "forbidden":
                    words |= {v for allowed in o.get("values", {}).values() for v in allowed if isinstance(v, str)}
    return {param: sorted(own) for param, own in ints.items()}, sorted(words)


INTS, WORDS = _edges(BOOK)
CANONICAL = {"seconds": "duration", "aspect_ratio": "ratio"}


TOOLS = [[{"type": "web_search"}], ["web_search"], [{"type": 5}], [{}], [{"type": "web_search"}, None]]
URLS = ["https://e.com/hook", "HTTP://e.com/hook", "https://", "ftp://e.com/x", "e.com/hook"]
ODD = ["-0", "+5", "5.0", "1_0", "five", " ", "\t7 ", "x" * 65, True, False, None, 5.5, -0.5, 12345.5, [], {}, 2**64]
ANY = st.one_of(st.sampled_from(sorted({i for own in INTS.values() for i in own})), st.sampled_from(WORDS),
                st.sampled_from(URLS), st.sampled_from(TOOLS), st.sampled_from(ODD))
COUNT = st.sampled_from([0, 1, 2, 3, 4, 8, 9, 10, 11, 29, 30, 31])
ROLE = st.sampled_from(["reference_image", "reference_video", "reference_audio", "first_frame", "last_frame",
                        None, "bogus", 5])


def _variant(item_type: str, shape: str, role: object) -> dict:
    """A content item of ``item_type``: well formed (``ok``), or with a role or payload problem."""
    item: dict = {"type": item_type, item_type: {"url": f"https://e.com/{item_type}"}, "role": role}
    if shape == "no-role":
        del item["role"]
    elif shape == "no-payload":
        del item[item_type]
    elif shape == "payload-string":
        item[item_type] = "https://e.com/x"
    elif shape == "url-number":
        item[item_type] = {"url": 5}
    return item


def value(key: str):
    """A value for ``key``: mostly one at the edges of its own parameter's range (as an integer or a
    string of digits, padded or with a leading zero), else anything."""
    own = INTS.get(CANONICAL.get(key, key))
    if not own:
        return ANY
    digits = [s for i in own for s in (str(i), f" {i}\n", f"0{i}" if i >= 0 else f"-0{-i}")]
    return st.one_of(st.sampled_from(own), st.sampled_from(digits), ANY)


FLAW = st.tuples(st.sampled_from(["ok", "no-role", "no-payload", "payload-string", "url-number"]), ROLE)

JUNK = st.sampled_from([
    "https://e.com/a.png", 5, None, [], {}, {"type": None}, {"type": 5}, {"text": "no type"},
    {"type": "file_url", "file_url": {"url": "https://e.com/f"}}, {"type": "text", "text": 5}, {"type": "text"},
    {"type": "draft_task", "draft_task": {"id": "cgt-1"}}, {"type": "draft_task", "draft_task": {"id": ""}},
    {"type": "draft_task"}, {"type": "text", "text": "hi", "role": "bogus"},
])


@st.composite
def _items(draw, few: bool = False) -> list:
    """A content array: a prompt, images, videos and audio in numbers near the limits, some of them
    flawed, and some junk."""
    count = st.integers(0, 2) if few else COUNT
    items: list = [{"type": "text", "text": "a cat"}]
    for item_type in ("image_url", "video_url", "audio_url"):
        role = f"reference_{item_type.split('_')[0]}"
        items += [_variant(item_type, "ok", role) for _ in range(draw(count))]
    for _ in range(draw(st.integers(0, 3))):  # flaws keep the item's type, so the counts stay as drawn
        n = draw(st.integers(0, len(items) - 1))
        if items[n]["type"] != "text":
            items[n] = _variant(items[n]["type"], *draw(FLAW))
    for thing in draw(st.lists(JUNK, max_size=2)):
        items.insert(draw(st.integers(0, len(items))), thing)
    return items


def _urls(draw) -> list:
    n = draw(COUNT)
    return draw(st.lists(st.sampled_from(["https://e.com/a"] * 8 + [5, None]), min_size=n, max_size=n))


@st.composite
def requests(draw, profile: str) -> dict:
    """A request written in ``profile``'s dialect."""
    data = BOOK.profile_data(profile)
    dialect = data.get("dialect", "content")
    doc: dict = {"model": draw(st.sampled_from([*data["models"]] * 3 + ["seedance-x", 5]))}
    for key in PARAMS[dialect]:
        if draw(st.integers(0, 3)) == 0:
            doc[key] = draw(value(key))
    if dialect == "content":
        doc["content"] = draw(_items())
        if draw(st.booleans()):
            doc["draft"] = draw(st.sampled_from([True, False, "true", 1]))
        return doc
    doc["prompt"] = draw(st.sampled_from(["a cat"] * 5 + [5, None]))
    container, names = NESTED[dialect]
    if draw(st.booleans()):
        doc[container] = {k: draw(value(k)) for k in names if draw(st.integers(0, 2)) == 0}
        if dialect == "openai-videos" and draw(st.booleans()):
            doc[container]["content"] = draw(_items(few=True))
    elif draw(st.integers(0, 5)) == 0:
        doc[container] = draw(ANY)
    for key in ("image", "last_image") if dialect == "video-generations" else ("image",):
        if draw(st.integers(0, 2)) == 0:
            doc[key] = draw(st.sampled_from(["https://e.com/a.png"] * 3 + [5, None]))
    for key in ("images", "videos", "audios"):
        if draw(st.integers(0, 2)) == 0:
            doc[key] = _urls(draw)
    return doc


# ---------------------------------------------------------------------------------------------------


_JUDGES: dict = {}


def _judges(profile: str, book: RuleBook):
    """The schema validator and the checker of ``profile`` (built once per rule book)."""
    key = (book, profile)
    if key not in _JUDGES:
        schema = request_schema(book, profile)
        jsonschema.Draft202012Validator.check_schema(schema)
        checker = Checker(book, profile=profile, inspect_media=False)
        _JUDGES[key] = jsonschema.Draft202012Validator(schema), checker
    return _JUDGES[key]


def _pointer(path) -> str:
    return "".join("/" + escape(str(part)) for part in path)


def _leaves(errors):
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _value_at(doc, pointer: str):
    """The value at a JSON pointer of ``doc`` (a marker object when there is none)."""
    node = doc
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _value_at
    return node


def _parent(pointer: str) -> str:
    return pointer.rsplit("/", 1)[0]


def disagreement(profile: str, doc: dict, book: RuleBook = BOOK) -> str | None:
    """What `check` and the schema disagree about for ``doc``, or None when they agree."""
    validator, checker = _judges(profile, book)
    result = checker.check_bytes(json.dumps(doc).encode(), "x.json")
    # A count finding points at the first item over the limit; the schema at the array holding it.
    found = {(_parent(f.pointer) if f.rule in COUNTS else f.pointer): f.rule for f in result.findings
             if (f.rule in RULES or (f.rule in NULL_REQUIRED and f.pointer and _value_at(doc, f.pointer) is None))
             and f.severity == "error"}
    rejected = {_pointer(e.absolute_path): e.message for e in _leaves(validator.iter_errors(doc))}
    if found.keys() == rejected.keys():
        return None
    only_check = {p: r for p, r in found.items() if p not in rejected}
    only_schema = {p: m[:120] for p, m in rejected.items() if p not in found}
    return f"family {result.family}: check only {only_check}; schema only {only_schema}"


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_check_errors_are_exactly_schema_violations(profile, data):
    doc = data.draw(requests(profile), label="request")
    assert disagreement(profile, doc) is None, disagreement(profile, doc)


@pytest.mark.parametrize("profile,doc", [
    ("openai-videos", {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "seconds": 5}),  # the issue
    ("openai-videos", {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "seconds": " 015\n"}),
    ("openai-videos", {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "metadata": {"seconds": "16"}}),
    ("openai-videos", {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "size": "1280X720"}),
    ("openai-videos", {"model": "doubao-seedance-2-0-fast-260128", "prompt": "a cat", "size": "1920x1080"}),
    ("openai-videos", {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "image": "https://e.com/a.png",
                       "images": ["https://e.com/b.png"] * 8,
                       "metadata": {"content": [{"type": "image_url", "image_url": {"url": "https://e.com/c.png"},
                                                 "role": "reference_image"}]}}),
    ("video-generations", {"model": "seedance2.0-720p", "prompt": "a cat", "duration": "4"}),
    ("video-generations", {"model": "seedance2.0-720p", "prompt": "a cat", "priority": 10.5, "seed": -2}),
    ("video-generations", {"model": "seedance2.0-720p", "prompt": "a cat", "image": "https://e.com/a.png",
                           "last_image": "https://e.com/b.png", "images": ["https://e.com/c.png"] * 8}),
    ("ark", {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}],
             "execution_expires_after": 600, "duration": -1}),
    ("ark", {"model": "doubao-seedance-2-5-260628", "draft": True, "resolution": "720p",
             "content": [{"type": "text", "text": "a cat"}, {"type": "draft_task", "draft_task": {"id": ""}}]}),
    ("byteplus", {"model": "dreamina-seedance-2-5-260628", "resolution": "4k", "omni_reference_task_type": "remix",
                  "content": [{"type": "text", "text": 5}, {"type": "image_url", "image_url": "x", "role": "x"}]}),
    ("ark", {"model": "seedance-x", "resolution": "4k", "content": [{"type": "text", "text": "a cat"}]}),
    ("ark", {"model": "doubao-seedance-2-0-260128", "callback_url": "HTTPS://e.com/h",
             "content": [{"type": "text", "text": "a cat"}, {"type": 5}, {"type": "file_url"}, "x"]}),
])
def test_documented_edges_agree(profile, doc):
    assert disagreement(profile, doc) is None, disagreement(profile, doc)


def test_warnings_are_accepted_by_the_schema():
    doc = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}],
           "execution_expires_after": 600}
    validator, checker = _judges("ark", BOOK)
    severities = {f.rule: f.severity for f in checker.check_bytes(json.dumps(doc).encode(), "x.json").findings}
    assert severities == {"param.expires": "warning"} and validator.is_valid(doc)


# Models of one family with different resolutions, and a model mapped straight to a variant family.
MODELS = """
[profile]
models."x-lite" = { family = "seedance-2.0", resolutions = ["480p"] }
models."x-draft" = { family = "seedance-2.5-draft" }
"""


@pytest.fixture(scope="module")
def models_book(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "models.toml"
    path.write_text(MODELS)
    return RuleBook([path])


@pytest.mark.parametrize("params", [
    {"model": "x-lite", "resolution": "720p"}, {"model": "x-lite", "resolution": "480p"},
    {"model": "doubao-seedance-2-0-260128", "resolution": "4k"},
    {"model": "doubao-seedance-2-0-260128", "resolution": "8k"},
    {"model": "seedance-x", "resolution": "4k"}, {"model": "seedance-x", "resolution": "8k"},
    {"model": "x-draft", "resolution": "720p"}, {"model": "x-draft", "duration": 30, "draft": False},
    {"model": "doubao-seedance-2-5-260628", "draft": True, "resolution": "720p"},
    {"model": "doubao-seedance-2-5-260628", "draft": False, "resolution": "720p", "duration": 31},
])
def test_model_groups_and_variant_families_agree(models_book, params):
    doc = {**params, "content": [{"type": "text", "text": "a cat"}]}
    assert disagreement("ark", doc, models_book) is None, disagreement("ark", doc, models_book)


@settings(max_examples=100, deadline=None)
@given(lo=st.integers(-2000, 2000), width=st.sampled_from([0, 1, 9, 10, 99, 100, 3000]),
       also=st.lists(st.integers(-20, 20), max_size=2))
def test_digit_patterns_name_exactly_the_integers_in_range(lo, width, also):
    ranges = [(lo, lo + width), *((a, a) for a in also)]
    pattern = re.compile(_integer_pattern(ranges))
    for n in range(lo - 12, lo + width + 12):
        for text in (str(n), f" {n}\n", f"-00{-n}" if n < 0 else f"00{n}"):
            assert bool(pattern.search(text)) == any(a <= n <= b for a, b in ranges), (text, pattern.pattern)


def test_unicode_digits_agree():
    """Only ASCII digits spell a number, in check as in the schema: "١٥" is not 15."""
    doc = {"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "seconds": "١٥"}
    assert disagreement("openai-videos", doc) is None
