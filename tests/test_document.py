"""Reading request documents and locating pointers in their source text."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from prep.document import find_duplicates, line_col, locate, parse_json

KEY = st.sampled_from(["model", "seed", "content", "role", "url", "a/b", "t~x", "ünï", "x"]) | st.text(max_size=5)
VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEY, inner, max_size=4),
                     max_leaves=20)


def _pointers(node, prefix=""):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _pointers(v, f"{prefix}/{k.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _pointers(v, f"{prefix}/{i}")


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(KEY, VALUE, max_size=6), indent=st.sampled_from([None, 2, 4]))
def test_fast_path_agrees_with_the_walk(doc, indent):
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    pointers = list(_pointers(doc)) + ["/missing", "/content/99/role"]
    assert locate(text, pointers, doc) == locate(text, pointers)


def test_positions_are_keys_for_members_and_values_for_elements():
    text = '{\n  "model": "m",\n  "content": [\n    {"type": "text"},\n    7\n  ]\n}'
    doc = json.loads(text)
    got = locate(text, ["/model", "/content/0/type", "/content/1", "/nope", "/content/5/x"], doc)
    assert got == {"/model": (2, 3), "/content/0/type": (4, 6), "/content/1": (5, 5), "/nope": (1, 1),
                   "/content/5/x": (3, 3)}


def test_a_key_written_twice_is_not_taken_from_the_wrong_object():
    text = '{"metadata": {"seed": 1},\n "seed": -5}'
    assert locate(text, ["/seed"], json.loads(text)) == {"/seed": (2, 2)}


def test_duplicates_and_line_col():
    text = '{"a": 1,\n "b": {"c": 1, "c": 2},\n "a": 3}'
    assert [(p, k, line_col(text, o)) for p, k, o in find_duplicates(text)] == [
        ("/b/c", "c", (2, 16)), ("/a", "a", (3, 2))]
    doc, diagnostics, _ = parse_json(text.encode())
    assert doc == {"a": 3, "b": {"c": 2}}
    assert [d[0] for d in diagnostics] == ["duplicate-key", "duplicate-key"]


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(KEY, VALUE, max_size=6), indent=st.sampled_from([None, 1]))
def test_many_pointers_at_once_agree_with_one_at_a_time(doc, indent):
    # One pointer takes the string-search fast path; many take the single walk.
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    pointers = list(_pointers(doc)) + ["/missing", "/content/99/role", "/x/0/y"]
    assert locate(text, pointers, doc) == {p: locate(text, [p], doc)[p] for p in pointers}


@given(text=st.text(alphabet="ab\n", max_size=40), data=st.data())
def test_line_cols_agrees_with_line_col(text, data):
    from prep.document import line_cols

    offsets = data.draw(st.lists(st.integers(0, len(text)), max_size=10))
    assert line_cols(text, offsets) == {o: line_col(text, o) for o in offsets}


def test_numbers_past_a_float_are_diagnosed_at_their_value():
    text = '{"a": [1, 1e400],\n "b": {"c": -%s}, "d": 1e-400, "e": %s}' % ("9" * 5000, "9" * 300)
    doc, diagnostics, _ = parse_json(text.encode())
    assert doc["a"][1] == float("inf") and doc["b"]["c"] == float("-inf") and doc["d"] == 0.0
    assert doc["e"] == int("9" * 300)
    assert [(d[0], d[1], d[3]) for d in diagnostics] == [("number", "/a/1", (1, 11)), ("number", "/b/c", (2, 13))]
    assert "5,000 digits" in diagnostics[1][2]
