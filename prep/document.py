"""Read a request file's bytes into a JSON object, and map JSON pointers back to line and column.

Problems with the document itself come back as diagnostics ``(problem, pointer, detail)`` that the
``document`` rules report: ``syntax`` (not JSON, or not an object), ``duplicate-key`` and ``bom``.
Nothing here raises on bad input and nothing recurses, so a hostile file (100,000 levels deep, 50 MB,
invalid UTF-8) costs one pass and yields one clear message.
"""

from __future__ import annotations

import json
import re

from .pointer import escape, unescape

BOM = b"\xef\xbb\xbf"


class _Constant(ValueError):
    pass


def _reject_constant(name: str):
    raise _Constant(name)


_SKIP = json.JSONDecoder()  # jumps over a subtree at C speed
_REPEATS: list = []  # set by the decoder when an object repeats a key (one document at a time)


def _pairs(items: list) -> dict:
    obj = dict(items)
    if len(obj) != len(items):
        _REPEATS.append(True)
    return obj


# One decoder for every document (json.loads with options builds a new one per call).
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_reject_constant)


def parse_json(data: bytes) -> tuple[dict | None, list[tuple], str]:
    """``(object or None, diagnostics, text)`` for the bytes of a request file.

    Diagnostics are ``(problem, pointer, detail, (line, column) or None)``; ``text`` is the decoded
    source (for locating findings). The object is None when the document is not a JSON object, and
    then the diagnostics hold one ``syntax`` entry saying why and where.
    """
    diagnostics: list[tuple] = []
    if data.startswith(BOM):
        diagnostics.append(("bom", "", "the file starts with a UTF-8 byte order mark, which JSON forbids", (1, 1)))
        data = data[len(BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col_bytes(data, exc.start)
        diagnostics.append(("syntax", "", f"invalid UTF-8 at line {line} column {col} (byte {exc.start}); "
                                          "save the file as UTF-8", (line, col)))
        return None, diagnostics, data.decode("utf-8", "replace")
    if not text.strip():
        what = "empty" if not text else "only white space"
        diagnostics.append(("syntax", "", f"the file is {what}; a request is a JSON object", (1, 1)))
        return None, diagnostics, text
    del _REPEATS[:]
    try:
        doc = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        diagnostics.append(("syntax", "", f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                            (exc.lineno, exc.colno)))
        return None, diagnostics, text
    except _Constant as exc:
        pos = _find_constant(text, str(exc))
        where = f" (line {pos[0]} column {pos[1]})" if pos else ""
        diagnostics.append(("syntax", "", f"{exc} is not valid JSON{where}; use a number or null", pos or (1, 1)))
        return None, diagnostics, text
    except RecursionError:
        diagnostics.append(("syntax", "", "the JSON is nested too deeply to be a request", (1, 1)))
        return None, diagnostics, text
    if not isinstance(doc, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")
        diagnostics.append(("syntax", "", f"the top-level value is {kind}; a request is a JSON object", (1, 1)))
        return None, diagnostics, text
    if _REPEATS:
        for pointer, key, offset in find_duplicates(text):
            diagnostics.append(("duplicate-key", pointer, f"key '{key}' appears more than once; the last value wins",
                                line_col(text, offset)))
    return doc, diagnostics, text


def _line_col_bytes(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _find_constant(text: str, name: str) -> tuple[int, int] | None:
    for m in _TOKEN.finditer(text):
        if m.group(0) == name or m.group(0) == "-" + name:
            return line_col(text, m.start())
    return None


# ---------------------------------------------------------------------------------------------------
# Locating pointers in the source text

# A string (unrolled loop: fast on long base64 payloads), a structural character, or a bare scalar.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _key(raw: str) -> str:
    if "\\" not in raw:
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:
        return raw[1:-1]


# For the scan: white space and commas skipped in the same match (the regex engine is slow at
# searching), then a key with its colon (group 1) or a value token (group 2: string, bracket, scalar).
_WALK = re.compile(r'[\s,]*(?:("[^"\\]*(?:\\.[^"\\]*)*")\s*:|("[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]|[^\s{}\[\]:,"]+))')


def _scan(text: str, needed: set[str] | None) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
    """One pass over the source: offsets of the ``needed`` pointers (object members at their key,
    array elements at their value; every one when None) and every repeated key (when None).
    Iterative, so depth costs no stack. With ``needed``, a container no needed pointer lies in is
    jumped over by the C decoder, and the pass stops once every needed pointer is found."""
    found: dict[str, int] = {}
    repeats: list[tuple[str, str, int]] = []
    remaining = len(needed) if needed is not None else -1
    stack: list[list] = []  # frames: [is_object, pointer, next index or current member pointer, keys seen]
    match = _WALK.match
    skip = _SKIP.raw_decode
    pos, end = 0, len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            break
        pos = m.end()
        key = m.group(1)
        if key is not None:
            if not stack or not stack[-1][0]:
                continue  # not valid JSON here: the parser has said so already
            frame = stack[-1]
            name = key[1:-1] if "\\" not in key else _key(key)
            pointer = frame[1] + "/" + (name if "/" not in name and "~" not in name else escape(name))
            frame[2] = pointer
            if name in frame[3]:
                repeats.append((pointer, name, m.start(1)))
            else:
                frame[3].add(name)
            if (needed is None or pointer in needed) and pointer not in found:
                found[pointer] = m.start(1)
                remaining -= 1
                if not remaining:
                    break
            continue
        c = m.group(2)[0]
        if c == "}" or c == "]":
            if stack:
                stack.pop()
            continue
        if not stack:
            pointer = ""
        else:
            frame = stack[-1]
            if frame[0]:
                pointer = frame[2]
            else:
                pointer = f"{frame[1]}/{frame[2]}"
                frame[2] += 1
        if needed is None or pointer in needed:
            if pointer not in found:
                found[pointer] = m.start(2)
                remaining -= 1
                if not remaining:
                    break
        elif c == "{" or c == "[":
            try:
                pos = skip(text, m.start(2))[1]  # nothing needed inside: jump to its end
                continue
            except ValueError:
                pass
        if c == "{":
            stack.append([True, pointer, None, set()])
        elif c == "[":
            stack.append([False, pointer, 0, None])
    return found, repeats


def find_duplicates(text: str) -> list[tuple[str, str, int]]:
    """``(pointer, key, offset)`` of every repeated key in the document."""
    return _scan(text, None)[1]


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _resolve(document, pointer: str):
    node = document
    for token in pointer.split("/")[1:]:
        if isinstance(node, dict):
            token = unescape(token)
            if token not in node:
                return _ABSENT
            node = node[token]
        else:
            return _ABSENT
    return node


_ABSENT = object()


def locate(text: str, pointers, document: dict | None = None) -> dict[str, tuple[int, int]]:
    """Line and column of each pointer in ``text``: an object member at its key, an array element at
    its value; a pointer to something absent at its nearest existing parent (the document at 1:1).

    With the parsed ``document``, a member whose key is written exactly once in the whole text is
    found by one string search instead of a walk."""
    wanted = set(pointers)
    found: dict[str, int] = {}
    if text and document is not None:
        for p in wanted:
            key = p.rsplit("/", 1)[-1]
            if not key or "~" in key or _resolve(document, p) is _ABSENT:
                continue
            quoted = f'"{key}"'
            at = text.find(quoted)
            if at >= 0 and text.find(quoted, at + 1) < 0 and text[at + len(quoted):at + len(quoted) + 64].lstrip()[:1] == ":":
                found[p] = at
        wanted_rest = {p for p in wanted if p not in found}
    else:
        wanted_rest = wanted
    if text and wanted_rest:
        # Every ancestor too, so an absent pointer falls back to its parent in the same pass.
        needed = set()
        for p in wanted_rest:
            while True:
                needed.add(p)
                if not p:
                    break
                p = p.rsplit("/", 1)[0]
        found.update(_scan(text, needed)[0])
    out = {}
    for p in wanted:
        q = p
        while q not in found and q:
            q = q.rsplit("/", 1)[0]
        out[p] = line_col(text, found[q]) if q in found else (1, 1)
    return out
