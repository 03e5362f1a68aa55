"""The closed library of check kinds that rule files name in their ``check`` field.

Each kind is a generator ``fn(ctx, options)`` that yields hits ``(pointer, actual, expected, values)``;
the engine turns a hit into a Finding by filling the rule's message template with ``values`` plus
``actual``, ``expected`` and ``where``. Each kind declares the options it accepts (validated when the
rule file is loaded) and the placeholders it fills (so a template naming an unknown one fails at load).

No provider number lives here: limits, enumerations and patterns arrive as options from ``rules/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..model import Record, record
from ..pointer import unescape

MISSING = object()
MB = 1024 * 1024  # sizes in messages are binary megabytes


@record
class CheckKind(Record):
    name: str
    fn: Callable
    options: dict  # option name -> (type spec, required)
    fields: frozenset
    scope: str = "request"
    prepare: Callable | None = None  # options → the form ``fn`` reads (compiled once per profile, not per request)
    gate: Callable | None = None  # options → ("param", name) or ("attr", context attribute) the check cannot fire without


CHECKS: dict[str, CheckKind] = {}

COMMON_FIELDS = frozenset({"actual", "expected", "where"})


def check(name: str, *, options: dict | None = None, fields: tuple = (), scope: str = "request", prepare=None,
          gate=None):
    """Register a check kind. ``options`` maps option name to ``(spec, required)``; ``prepare``
    turns validated options into what the check reads (split tables, compiled patterns); ``gate``
    names what a request must have for the check to find anything, so the engine can skip it cheaply."""

    def register(fn):
        CHECKS[name] = CheckKind(name, fn, options or {}, frozenset(fields) | COMMON_FIELDS, scope, prepare, gate)
        return fn

    return register


def same_value(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


def compile_condition(when: dict | None, unless: dict | None):
    """A rule's ``when``/``unless`` tables as one predicate over the evaluation context.

    A table holds ``param`` + ``in`` (the request's value of that canonical parameter is one of
    ``in``; ``absent = true`` makes a missing parameter match too) and/or ``mode`` (the request's mode
    is one of these); every key given must hold."""

    def test(cond: dict):
        param, values, absent, modes = cond.get("param"), cond.get("in", ()), cond.get("absent", False), cond.get("mode")

        def holds(ctx) -> bool:
            if modes is not None and ctx.mode not in modes:
                return False
            if param is not None:
                found = ctx.params.get(param)
                if not found:
                    return absent
                return any(same_value(found[0].value, v) for v in values)
            return True

        return holds

    yes = test(when) if when else None
    no = test(unless) if unless else None
    return lambda ctx: (yes is None or yes(ctx)) and (no is None or not no(ctx))


def param_gate(o: dict):
    return ("param", o["param"])


def attr_gate(attr: str):
    return lambda o: ("attr", attr)


# ---------------------------------------------------------------------------------------------------
# Helpers shared by several kinds


def doc_get(doc: dict, key: str) -> object:
    """The value at a dotted key of the document, or MISSING."""
    if "." not in key:
        return doc.get(key, MISSING)
    node: object = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object",
              type(None): "null"}
PY_TYPES = {name: {t for t, n in _JSON_TYPE.items() if n == name} for name in _JSON_TYPE.values()}
PY_TYPES["number"] = {int, float}


TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
              "array": "an array", "object": "an object", "null": "null"}


HTTP_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://[^\s/?#]+")


def json_type(value: object) -> str:
    """The JSON type name of a parsed value."""
    return _JSON_TYPE.get(type(value)) or type(value).__name__


def where(pointer: str) -> str:
    """A human name for a pointer: ``/content/2`` → ``content[2]``, ``/metadata/content/0`` → ``metadata.content[0]``."""
    out = ""
    for token in pointer.split("/")[1:]:
        token = unescape(token)
        if token.isdigit():
            out += f"[{token}]"
        else:
            out += ("." if out else "") + token
    return out or "request"


def show(values) -> str:
    """A list of allowed values for a message: ``16:9, 4:3, 1:1``."""
    return ", ".join(str(v) for v in values)


# More digits than any number in rules/ or any real request has; int() on a longer digit string costs
# quadratic time and raises past 4,300 digits, so such a string is compared by its sign alone.
_MAX_DIGITS = 30


def whole_number(digits: str) -> int:
    """The int a string of decimal digits (an optional ``-``, spaces around) spells, clamped to
    ±10**30: past every limit, so range checks judge it rightly at no cost however long it is."""
    digits = digits.strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("-").lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        return sign * 10 ** _MAX_DIGITS
    return sign * int(digits)


def shorten(text: str, limit: int = 40) -> str:
    """``text`` cut in the middle to at most about ``limit`` characters, for a message."""
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-(limit // 2 - 1):]}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def closest(word: str, choices) -> str | None:
    """The known name closest to ``word`` (a typo's likely fix), or None."""
    key = (word, tuple(choices))
    if key not in _CLOSEST:
        import difflib  # only when a suggestion is needed

        match = difflib.get_close_matches(word, key[1], n=1, cutoff=0.6)
        if len(_CLOSEST) > 4096:
            _CLOSEST.clear()
        _CLOSEST[key] = match[0] if match else None
    return _CLOSEST[key]


_CLOSEST: dict = {}  # the same typo recurs across a folder of templates


def tolerated(value, lo, hi, enforced_lo, enforced_hi) -> dict:
    """Hit extras for a value outside the documented [lo, hi]: none when it is also outside what the
    server enforces (an error); a warning and a note when the server still accepts it."""
    if (lo is not None and value < lo and enforced_lo is not None and value >= enforced_lo) or \
            (hi is not None and value > hi and enforced_hi is not None and value <= enforced_hi):
        low = enforced_lo if enforced_lo is not None else lo
        high = enforced_hi if enforced_hi is not None else hi
        bounds = f"{low:g}–{high:g}" if low is not None and high is not None else (
            f"up to {high:g}" if high is not None else f"from {low:g}")
        return {"_severity": "warning",
                "_note": f" (the API documents this limit; its servers accept {bounds} today)"}
    return {}


ENFORCED = {"enforced_min": ("number", False), "enforced_max": ("number", False)}


def prepare_enforced(o: dict) -> dict:
    for bound, enforced, looser in (("min", "enforced_min", lambda a, b: a <= b), ("max", "enforced_max", lambda a, b: a >= b)):
        if enforced in o and (o.get(bound) is None or not looser(o[enforced], o[bound])):
            raise ValueError(f"option '{enforced}' needs '{bound}' and must be at least as loose as it")
    return o


# The kinds register themselves on import.
from . import content, media, request, task, urls  # noqa: E402,F401
