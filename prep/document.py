"""Read a request file's bytes into a JSON object, and map JSON pointers back to line and column.

Problems with the document itself come back as diagnostics ``(problem, pointer, detail)`` that the
``document`` rules report: ``syntax`` (not JSON, or not an object), ``duplicate-key``, ``bom`` and
``number`` (a number no JSON parser can hold: ``1e400``, a 5,000-digit integer; it parses as ±inf).
Nothing here raises on bad input and nothing recurses, so a hostile file (100,000 levels deep, 50 MB,
invalid UTF-8) costs one pass and yields one clear message.
"""

from __future__ import annotations

import json
import math
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


_OUT_OF_RANGE: list = []  # number literals beyond a 64-bit float (one document at a time)


def _int(literal: str):
    if len(literal) < 300:  # fewer digits than the largest float has: cannot overflow
        return int(literal)
    if math.isinf(float(literal)):  # float() has no digit limit; int() raises past 4,300 digits
        _OUT_OF_RANGE.append(literal)
        return float(literal)  # ±inf: an integer no parser holds never reaches a check
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        _OUT_OF_RANGE.append(literal)
    return value


# One decoder for every document (json.loads with options builds a new one per call).
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_reject_constant, parse_int=_int,
                            parse_float=_float)


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
    del _OUT_OF_RANGE[:]
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
    if _REPEATS or _OUT_OF_RANGE:
        _, repeats, numbers = _scan(text, None, set(_OUT_OF_RANGE) or None)
        positions = line_cols(text, [r[2] for r in repeats] + [n[2] for n in numbers])
        for pointer, key, offset in repeats:
            diagnostics.append(("duplicate-key", pointer, f"key '{key}' appears more than once; the last value wins",
                                positions[offset]))
        for pointer, literal, offset in numbers:
            diagnostics.append(("number", pointer, f"the number {_short(literal)} is too large for JSON: it overflows "
                                                   "a 64-bit float, so parsers reject it or read infinity",
                                positions[offset]))
    return doc, diagnostics, text


def _short(literal: str) -> str:
    if len(literal) <= 24:
        return literal
    unit = "digits" if literal.lstrip("-").isdigit() else "characters"
    return f"{literal[:8]}…{literal[-4:]} ({len(literal.lstrip('-')):,} {unit})"


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


def _scan(text: str, needed: set[str] | None, numbers: set[str] | None = None):
    """One pass over the source: offsets of the ``needed`` pointers (object members at their key,
    array elements at their value) or, when ``needed`` is None, every repeated key and every scalar
    written as one of the ``numbers`` literals, as ``(found, repeats, number hits)``.
    Iterative, so depth costs no stack. With ``needed``, a container no needed pointer lies in is
    jumped over by the C decoder, and the pass stops once every needed pointer is found."""
    found: dict[str, int] = {}
    repeats: list[tuple[str, str, int]] = []
    hits: list[tuple[str, str, int]] = []
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
            if needed is not None and pointer in needed and pointer not in found:
                found[pointer] = m.start(1)
                remaining -= 1
                if not remaining:
                    break
            continue
        start = m.start(2)
        c = text[start]  # not m.group(2)[0]: that copies a whole string token (a 100 MB prompt)
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
        if numbers is not None and c not in '"{[' and m.group(2) in numbers:
            hits.append((pointer, m.group(2), start))
        if needed is None:
            pass  # a walk over everything (repeats, numbers) records no offsets: a pointer per value costs memory
        elif pointer in needed:
            if pointer not in found:
                found[pointer] = start
                remaining -= 1
                if not remaining:
                    break
        elif c == "{" or c == "[":
            try:
                pos = skip(text, start)[1]  # nothing needed inside: jump to its end
                continue
            except ValueError:
                pass
        if c == "{":
            stack.append([True, pointer, None, set()])
        elif c == "[":
            stack.append([False, pointer, 0, None])
    return found, repeats, hits


def find_duplicates(text: str) -> list[tuple[str, str, int]]:
    """``(pointer, key, offset)`` of every repeated key in the document."""
    return _scan(text, None)[1]


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def line_cols(text: str, offsets) -> dict[int, tuple[int, int]]:
    """:func:`line_col` of many offsets in one pass over the text (not one pass each)."""
    out: dict[int, tuple[int, int]] = {}
    line, line_start, previous = 1, 0, 0
    for offset in sorted(set(offsets)):
        newlines = text.count("\n", previous, offset)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", previous, offset) + 1
        out[offset] = (line, offset - line_start + 1)
        previous = offset
    return out


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


# Up to this many pointers, a key written once in the whole text is found by a string search each
# (faster than the walk on big base64 payloads); past it, the searches would cost more than one walk.
_FAST_PATH_MAX = 8


def locate(text: str, pointers, document: dict | None = None) -> dict[str, tuple[int, int]]:
    """Line and column of each pointer in ``text``: an object member at its key, an array element at
    its value; a pointer to something absent at its nearest existing parent (the document at 1:1).

    One walk of the text whatever the number of pointers; with the parsed ``document`` and a few
    pointers, a member whose key is written exactly once in the whole text is found by a string search."""
    wanted = set(pointers)
    found: dict[str, int] = {}
    if text and document is not None and len(wanted) <= _FAST_PATH_MAX:
        for p in wanted:
            key = p.rsplit("/", 1)[-1]
            if not key or "~" in key or _resolve(document, p) is _ABSENT:
                continue
            quoted = f'"{key}"'
            start = text.find(quoted)
            if start >= 0 and text.find(quoted, start + 1) < 0 and text[start + len(quoted):start + len(quoted) + 64].lstrip()[:1] == ":":
                found[p] = start
    wanted_rest = {p for p in wanted if p not in found}
    if text and wanted_rest:
        # Every ancestor too, so an absent pointer falls back to its parent in the same pass.
        needed = set()
        for p in wanted_rest:
            while p not in needed:
                needed.add(p)
                if not p:
                    break
                p = p.rsplit("/", 1)[0]
        found.update(_scan(text, needed)[0])
    at: dict[str, int | None] = {}
    for p in wanted:
        q = p
        while q not in found and q:
            q = q.rsplit("/", 1)[0]
        at[p] = found.get(q)
    positions = line_cols(text, [o for o in at.values() if o is not None])
    return {p: positions[o] if o is not None else (1, 1) for p, o in at.items()}
