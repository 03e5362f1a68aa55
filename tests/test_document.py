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
