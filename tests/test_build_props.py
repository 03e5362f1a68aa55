"""``build`` over many requests: the rule cases' passing requests and random ones, into every dialect.
Where the target can express a request it comes back equal; where it cannot, the refusal is one line
that names the item, role, parameter or model."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_build import PROFILES, assert_carried

from prep.build import build
from prep.dialects import parse, render
from prep.lint import Checker
from prep.model import PrepError

CASES = Path(__file__).parent / "cases"
# What a refusal names: an item (content[2], images[0]), a parameter, a model, or a checked finding.
NAMED = re.compile(r"(content\[\d+\]|images\[\d+\]|parameters? '|model '|fails check: /|prompt)")


def _passing_cases(book):
    for path in sorted(CASES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            if case["expect"] != "pass" or "request" not in case or "rules" in case:
                continue
            profile = case.get("profile", "ark")
            # only requests that check clean as a whole (a pass case passes its own rule)
            result = Checker(book, profile=profile).check_bytes(
                json.dumps(case["request"]).encode(), "case.json")
            if not any(f.severity == "error" for f in result.findings):
                yield pytest.param(profile, case["request"], id=f"{data['rule']}: {case['name']}")


def _cases():
    from prep.ruleset import RuleBook

    return list(_passing_cases(RuleBook()))


@pytest.mark.parametrize("source,document", _cases())
def test_rule_case_requests_build_into_every_profile_or_say_why(book, tmp_path, source, document):
    (tmp_path / "r.json").write_text(json.dumps(document))
    built_any = 0
    for target in PROFILES:
        try:
            built = build(tmp_path / "r.json", profile=source, to=target, book=book)
        except PrepError as exc:
            assert target != source, f"a clean {source} request must build for {source}: {exc}"
            assert "\n" not in str(exc) and NAMED.search(str(exc)), str(exc)
            continue
        assert_carried(book, document, source, target, built)
        built_any += 1
    assert built_any >= 1


ROLES_IMAGE = st.sampled_from([None, "first_frame", "last_frame", "reference_image"])
PARAMS = st.fixed_dictionaries({}, optional={
    "duration": st.integers(4, 15), "ratio": st.sampled_from(["16:9", "9:16", "1:1"]),
    "seed": st.integers(0, 2**31 - 1), "watermark": st.booleans(), "generate_audio": st.booleans(),
    "resolution": st.sampled_from(["480p", "720p"]), "return_last_frame": st.booleans()})


@st.composite
def requests(draw):
    images = draw(st.lists(ROLES_IMAGE, max_size=3))
    videos = draw(st.lists(st.sampled_from([None, "reference_video"]), max_size=2))
    audios = draw(st.lists(st.sampled_from([None, "reference_audio"]), max_size=2))
    content: list[dict] = [{"type": "text", "text": draw(st.text(min_size=1, max_size=30))}]
    for kind, roles in (("image", images), ("video", videos), ("audio", audios)):
        for n, role in enumerate(roles):
            item: dict = {"type": f"{kind}_url", f"{kind}_url": {"url": f"https://example.com/{kind}{n}.bin"}}
            if role is not None:
                item["role"] = role
            content.append(item)
    if draw(st.booleans()):
        content = draw(st.permutations(content))
    model = draw(st.sampled_from(["doubao-seedance-2-0-260128", "doubao-seedance-2-0-fast-260128"]))
    return {"model": model, "content": content, **draw(PARAMS)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=requests(), target=st.sampled_from(PROFILES))
def test_random_requests_come_back_equal_where_expressible(book, document, target):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        path.write_text(json.dumps(document))
        roles = [i.get("role") for i in document["content"] if i["type"] != "text"]
        try:
            built = build(path, profile="ark", to=target, book=book, check=False)
        except PrepError as exc:
            message = str(exc)
            assert "\n" not in message and NAMED.search(message), message
            # what every dialect can say is never refused: references with explicit roles and common params
            # (gateway sells the standard model only)
            sold = target != "gateway" or document["model"] == "doubao-seedance-2-0-260128"
            expressible = sold and all(isinstance(r, str) and r.startswith("reference_") for r in roles)
            assert not expressible, message
            return
    assert_carried(book, document, "ark", target, built, check=False)
    # and the dialect's own parse → render → parse is a fixed point of what was built
    dialect = book.profile_data(target)["dialect"]
    assert parse(render(built.request, dialect), dialect) == built.request
