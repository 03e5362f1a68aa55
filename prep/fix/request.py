"""Request-level fixes: reorder items (every prompt placeholder still pointing at the same media), set
inferable roles, coerce mistyped values, move a legacy field to the current one the dialect reads as
the same parameter, and (with ``--unsafe``) drop parameters the API rejects. Pure: no I/O, and the
document given is never changed.

Every decision reads the rule set: the item order, the default roles and the parameter types are the
rules' options, so a user's ``--rules`` override moves the fixes too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable

from ..checks import shorten, where
from ..dialects import parse
from ..engine import FRAME_ROLES
from ..model import Finding, Item, Request, Rule
from ..pointer import pointer_path
from ..ruleset import Profile
from .model import FixOptions, RequestEdit, Skipped

# Check kinds whose findings this module fixes by dropping the field a finding points at.
DROPPING = ("known_fields", "forbidden", "conflict")
# Findings of these rules are someone else's to fix (the media planner: a data: URL is media) or
# vanish on their own (the runner writes JSON without a byte order mark): neither edited nor skipped.
OTHERS = ("data_uri",)


def edit_request(document: dict, profile: Profile, findings: Iterable[Finding], options: FixOptions
                 ) -> tuple[dict, list[RequestEdit], list[Skipped]]:
    """The document with the request-level fixes of ``findings`` applied (a new object; ``document``
    is not changed), the edits made (pointers into ``document``), and the request-level findings left
    as they are, with why. Findings of media rules are not looked at (the media planner's).

    ``findings`` are those of :func:`prep.engine.evaluate` on ``document`` parsed in the profile's
    dialect with ``profile``. Content-dropping edits are made only with ``options.unsafe``.
    """
    rules = {r.id: r for r in profile.rules}
    request = parse(document, profile.dialect)
    out = copy.deepcopy(document)
    edits: list[RequestEdit] = []
    skipped: list[Skipped] = []
    done: set[str] = set()  # pointers already dropped (a field may break two rules)
    order_findings: list[Finding] = []
    for f in findings:
        rule = rules.get(f.rule)
        if rule is None or rule.scope != "request" or rule.check in OTHERS or _is_bom(rule):
            continue
        if rule.check == "types":
            _coerce(out, f, edits, skipped)
        elif rule.check in DROPPING:
            _drop(out, f, rule, options, done, edits, skipped, rules, profile.dialect)
        elif rule.check == "role_missing":
            _set_role(out, request, f, rule, edits, skipped)
        elif rule.check == "order":
            order_findings.append(f)
        elif rule.check == "no_data_uri":
            if not options.extract:  # with --extract the runner writes the media as a file: the finding goes
                skipped.append(Skipped(f.pointer, f.rule, "needs --extract: write it as a file beside the "
                                                          f"request (or {rule.fix or 'upload it'})"))
        elif rule.check == "placeholders":
            skipped.append(Skipped(f.pointer, f.rule, f"'{f.actual}' refers past the {f.expected} "
                                                      "item(s) of its kind: which one was meant cannot be inferred"))
        else:
            reason = f"not done by fix: {rule.fix}" if rule.fixable and rule.fix else "no automatic fix"
            skipped.append(Skipped(f.pointer, f.rule, reason))
    if order_findings:
        _reorder(out, request, order_findings, rules, edits, skipped)
    return out, edits, skipped


def _is_bom(rule: Rule) -> bool:
    return rule.check == "document" and (rule.options or {}).get("problem") == "bom"


# ---------------------------------------------------------------------------------------------------
# Pointers into the copy


_ABSENT = object()


def _parent(doc: object, pointer: str) -> tuple[object, object]:
    """The container holding ``pointer``'s target and its key there (an int for arrays), or
    (_ABSENT, None) when the path does not exist."""
    path = pointer_path(pointer)
    if not path:
        return _ABSENT, None
    node: object = doc
    for token in path[:-1]:
        node = _child(node, token)
        if node is _ABSENT:
            return _ABSENT, None
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            return _ABSENT, None
        return node, int(last)
    if isinstance(node, dict) and last in node:
        return node, last
    return _ABSENT, None


def _child(node: object, token: str) -> object:
    if isinstance(node, dict):
        return node.get(token, _ABSENT)
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return _ABSENT


def _get(doc: object, pointer: str) -> object:
    container, key = _parent(doc, pointer)
    return _ABSENT if container is _ABSENT else container[key]  # type: ignore[index]


def _show(value: object) -> str:
    return shorten(json.dumps(value, ensure_ascii=False))


# ---------------------------------------------------------------------------------------------------
# param.type: coerce a mistyped value when its meaning is unambiguous


_INT = re.compile(r"-?[0-9]{1,18}(?:\.0*)?\Z")  # "5", "-1", "5.0"; ASCII digits only, no huge ones
_NUMBER = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?(?:[eE][+-]?[0-9]{1,3})?\Z")
_MAX_EXACT = 2 ** 53  # past this a float is no exact integer


def coerced(value: object, allowed: list[str]) -> object:
    """``value`` as the first JSON type of ``allowed`` it unambiguously means, or _ABSENT.

    ``"false"`` → false, ``"5"``/``"5.0"``/``5.0`` → 5 (integer), ``"2.5"`` → 2.5 (number), 5 → ``"5"``
    (only where a string is the one type allowed). Arrays, objects and null are never guessed."""
    for want in allowed:
        got = _as(value, want, only=len(allowed) == 1)
        if got is not _ABSENT:
            return got
    return _ABSENT


def _as(value: object, want: str, only: bool) -> object:
    if want == "boolean" and isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower(), _ABSENT)
    if want in ("integer", "number"):
        if isinstance(value, str):
            text = value.strip()
            if _INT.match(text):
                return int(text.split(".")[0])
            if want == "number" and _NUMBER.match(text):
                number = float(text)
                return number if number - number == 0 else _ABSENT
        elif type(value) is float and value.is_integer() and abs(value) <= _MAX_EXACT:
            return int(value)
        return _ABSENT
    if want == "string" and only and not isinstance(value, bool):
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_EXACT:
            return str(int(value))
    return _ABSENT


def _coerce(out: dict, f: Finding, edits: list[RequestEdit], skipped: list[Skipped]) -> None:
    name = where(f.pointer)
    if not isinstance(f.expected, list):  # a string past its max_length, not a wrong type
        skipped.append(Skipped(f.pointer, f.rule, f"'{name}' is too long; shortening it changes what it says"))
        return
    container, key = _parent(out, f.pointer)
    if container is _ABSENT:
        skipped.append(Skipped(f.pointer, f.rule, f"'{name}' is not in the document"))
        return
    value = container[key]  # type: ignore[index]
    new = coerced(value, f.expected)
    if new is _ABSENT:
        want = " or ".join(f.expected)
        skipped.append(Skipped(f.pointer, f.rule, f"{name} {_show(value)} has no unambiguous {want} meaning"))
        return
    container[key] = new  # type: ignore[index]
    edits.append(RequestEdit("coerce", f.pointer, f"{name} {_show(value)} → {_show(new)}", f.rule))


# ---------------------------------------------------------------------------------------------------
# param.unknown / param.unsupported / param.deprecated / param.conflict: drop (content: --unsafe only);
# a legacy field the dialect reads as the same parameter as a current one moves there instead (safe)


def _drop(out: dict, f: Finding, rule: Rule, options: FixOptions, done: set[str], edits: list[RequestEdit],
          skipped: list[Skipped], rules: dict[str, Rule], dialect: str) -> None:
    if f.pointer in done:
        return  # dropped already for another rule
    name = where(f.pointer)
    container, key = _parent(out, f.pointer)
    if container is _ABSENT or not isinstance(container, dict):
        skipped.append(Skipped(f.pointer, f.rule, f"'{name}' is not a field of the document"))
        return
    value = container[key]
    if rule.check == "forbidden" and f.expected is None and container is out and isinstance(key, str):
        target = _current_field(key, rules, dialect)
        moved = _typed(value, target, rules) if target is not None and target not in out else _ABSENT
        if target is not None and moved is not _ABSENT:
            out_items = list(out.items())
            out.clear()
            out.update((target, moved) if k == key else (k, v) for k, v in out_items)  # in the field's place
            done.add(f.pointer)
            edits.append(RequestEdit("move", f.pointer, f"{name} {_show(value)} → {target} {_show(moved)}", f.rule))
            return
    if rule.check == "conflict":
        describe = f"drop {name} (keeps {f.expected})"
    elif rule.check == "forbidden" and f.expected is not None:  # a value the API refuses, not the field
        describe = f"drop {name} {_show(value)}"
    else:
        describe = f"drop {name}"
    if not options.unsafe:
        skipped.append(Skipped(f.pointer, f.rule, f"needs --unsafe: {describe}"))
        return
    del container[key]
    done.add(f.pointer)
    edits.append(RequestEdit("drop", f.pointer, describe, f.rule, unsafe=True))


def _current_field(key: str, rules: dict[str, Rule], dialect: str) -> str | None:
    """The known top-level field the dialect reads as the same parameter as ``key`` (openai-videos:
    ``duration`` → ``seconds``) and that no rule forbids, or None."""
    from ..dialects import MODULES

    renamed: dict = getattr(MODULES.get(dialect), "RENAMED", {})
    known = [k for r in rules.values() if r.check == "known_fields" for k in (r.options or {}).get("fields", ())]
    forbidden = {k for r in rules.values() if r.check == "forbidden" for k in (r.options or {}).get("fields", {})}
    canonical = renamed.get(key, key)
    return next((k for k in known if k != key and k not in forbidden and renamed.get(k, k) == canonical), None)


def _typed(value: object, field: str, rules: dict[str, Rule]) -> object:
    """``value`` in the JSON type the type rule wants for ``field`` (coerced when unambiguous), or _ABSENT."""
    from ..checks import PY_TYPES

    spec = next(((r.options or {}).get("types", {}).get(field) for r in rules.values() if r.check == "types"), None)
    if spec is None:
        return value
    allowed = [spec["type"]] if isinstance(spec, dict) else [spec] if isinstance(spec, str) else list(spec)
    if any(type(value) in PY_TYPES.get(t, ()) or (t == "number" and type(value) is int) for t in allowed):
        return value
    return coerced(value, allowed)


# ---------------------------------------------------------------------------------------------------
# content.role-missing: the reference role, where references make it the only possible one


def _set_role(out: dict, request: Request, f: Finding, rule: Rule, edits: list[RequestEdit],
              skipped: list[Skipped]) -> None:
    defaults = (rule.options or {}).get("default_roles", {})
    item_pointer = f.pointer.removesuffix("/role")
    item = next((i for i in request.items if i.pointer == item_pointer), None)
    node = _get(out, item_pointer)
    role = defaults.get(item.type) if item is not None else None
    if item is None or not isinstance(node, dict) or not isinstance(role, str):
        skipped.append(Skipped(f.pointer, f.rule, "no role to infer for this item"))
        return
    media = [i for i in request.items if i.type in defaults]
    if any(i.role in FRAME_ROLES for i in media):
        skipped.append(Skipped(f.pointer, f.rule, "a first_frame/last_frame image is present: choose frame mode "
                                                  "or reference mode first"))
        return
    references = any(i is not item and (i.role in defaults.values() or i.kind in ("video", "audio")) for i in media)
    if item.kind == "image" and not references:
        skipped.append(Skipped(f.pointer, f.rule, "several images and no reference media: first_frame/last_frame "
                                                  f"or {role} cannot be inferred"))
        return
    node["role"] = role
    edits.append(RequestEdit("set_role", f.pointer, f"{where(item_pointer)} role → {role}", f.rule))


# ---------------------------------------------------------------------------------------------------
# content.order: reorder the items of each array
#
# Placeholders count the items of one kind in content order (text.placeholder: "@image2" is the second
# image). Items are sorted by kind, stably, so each kind's items keep their order among themselves and
# every placeholder, in every form the checker reads, still points at the same media: none needs a new
# number. (tests/test_fix_request.py checks this for every form and any permutation.)


def _reorder(out: dict, request: Request, findings: list[Finding], rules: dict[str, Rule],
             edits: list[RequestEdit], skipped: list[Skipped]) -> None:
    rule = rules[findings[0].rule]
    rank = {t: n for n, t in enumerate((rule.options or {}).get("order", ()))}
    items = list(request.items)
    # Items of one array change places among the slots ranked items hold; others (prompt fields, items
    # of unknown type) stay. Each array's items are contiguous in the request's item order.
    arrays: dict[str, list[int]] = {}  # array pointer → positions in ``items`` of its ranked items
    for n, item in enumerate(items):
        parent, _, last = item.pointer.rpartition("/")
        if last.isdigit() and item.type in rank and isinstance(_get(out, parent), list):
            arrays.setdefault(parent, []).append(n)
    new_items = list(items)
    for positions in arrays.values():
        ranked = sorted((items[n] for n in positions), key=lambda i: rank[i.type])  # stable within a kind
        for n, item in zip(positions, ranked):
            new_items[n] = item
    moves = [(slot, moved) for slot, moved in zip(items, new_items) if slot is not moved]  # moved → slot's place
    left = _out_of_order(new_items, rank)
    for item in left:
        skipped.append(Skipped(item.pointer, rule.id, f"{where(item.pointer)} ({item.type}) cannot move before "
                                                      "items of another field without changing its role"))
    if not moves:
        if not left:
            skipped.extend(Skipped(f.pointer, f.rule, "nothing to reorder") for f in findings)
        return
    # Move the items: each array's new content, taken from its old one.
    for parent, positions in arrays.items():
        array = _get(out, parent)
        assert isinstance(array, list)
        was = list(array)
        for n in positions:
            array[_index(items[n])] = was[_index(new_items[n])]
    for slot, moved in moves:
        edits.append(RequestEdit("reorder", moved.pointer, f"{where(moved.pointer)} moved to {where(slot.pointer)}",
                                 rule.id))


def _index(item: Item) -> int:
    return int(item.pointer.rpartition("/")[2])


def _out_of_order(items: list[Item], rank: dict[str, int]) -> list[Item]:
    """The items the order check reports (an item whose type ranks below one before it)."""
    highest, found = -1, []
    for item in items:
        r = rank.get(item.type)  # type: ignore[arg-type]
        if r is None:
            continue
        if r < highest:
            found.append(item)
        else:
            highest = r
    return found
