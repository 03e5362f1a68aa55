"""Carry a canonical request from one profile to another, and prove nothing was lost on the way.

The dialect renderers (:mod:`prep.dialects`) put each parameter and item where its dialect writes it.
What differs between profiles beyond the shape is decided here, from the rule files only: the model id
(mapped through its model family; a flat API's id carries the resolution), where a parameter lives
(``metadata`` or ``extra_body`` when the target keeps it there), and its JSON type (``seconds`` is a
string on ``/v1/videos``). :func:`differences` then compares the request the target would receive,
parsed back, with the one we meant to send: any item, role or parameter that did not survive is an
error naming it, never a silent drop.
"""

from __future__ import annotations

import json
import re

from ..checks import where
from ..engine import detect_mode
from ..model import MEDIA_TYPES, Item, Param, PrepError, Request
from ..ruleset import Profile, RuleBook

_INT = re.compile(r"-?[0-9]{1,18}")


def label(item: Item, local_name: str | None = None) -> str:
    """How a message names an item: ``content[3] clip.mp4``, ``images[0]``."""
    return f"{where(item.pointer)} {local_name}" if local_name else where(item.pointer)


def map_model(book: RuleBook, source: str, target: str, request: Request) -> Request:
    """``request`` with the model id the target profile uses for the same model (and resolution).

    A model the target already lists is kept. Otherwise its family in the source profile's model table
    picks the target's ids of that family; when those ids carry a resolution (the flat API's
    ``seedance2.0-720p``), the request's ``resolution`` (else the source's default) picks one and the
    parameter is dropped, the id saying it; going the other way the id's resolution becomes a parameter.
    """
    param = request.param("model")
    if param is None or not isinstance(param.value, str):
        return request
    model = param.value
    target_models = book.profile_data(target).get("models", {})
    if model in target_models or source == target:
        return request
    info = book.profile_data(source).get("models", {}).get(model)
    if info is None:
        raise PrepError(f"model '{model}' is not a model id of profile {source}, so it has no known counterpart "
                        f"in {target}; use a {source} model id or write the {target} one")
    family = info["family"]
    candidates = {mid: entry for mid, entry in target_models.items() if entry.get("family") == family}
    if not candidates:
        offered = ", ".join(target_models) or "none"
        raise PrepError(f"model '{model}' ({family}) has no model id in profile {target} (it offers: {offered})")
    params = list(request.params)
    if any(entry.get("resolution") for entry in candidates.values()):
        resolution = request.value("resolution", info.get("resolution"))
        if resolution is None:
            fam = book.family_for(source, model, request.value)
            resolution = book.get(source, fam).data.get("defaults", {}).get("resolution")
        chosen = next((mid for mid, entry in candidates.items() if entry.get("resolution") == resolution), None)
        if chosen is None:
            raise PrepError(f"model '{model}' at resolution {resolution} has no model id in profile {target} "
                            f"(ids of {family}: {', '.join(candidates)})")
        params = [p for p in params if p.name != "resolution"]  # the id says it now
    else:
        chosen = next(iter(candidates))
        resolution = info.get("resolution")
        if resolution is not None and request.param("resolution") is None:
            at = next(i for i, p in enumerate(params) if p is param) + 1
            params.insert(at, Param("resolution", resolution, "resolution", "/resolution"))
    params = [p._replace(value=chosen) if p is param else p for p in params]
    return request._replace(params=tuple(params))


def place(document: dict, profile: Profile, request: Request) -> dict:
    """``document`` (rendered for another profile's request) with each top-level field the target does
    not know moved into the object where it does (``metadata.callback_url``); PrepError naming the
    parameters the target has no place for."""
    rule = profile.rule("param.unknown")
    if rule is None or not rule.options:
        return document
    fields = set(rule.options.get("fields", ()))
    objects = {k: v for k, v in (rule.options.get("objects") or {}).items() if k in fields}
    out: dict = {}
    lost = []
    for key, value in document.items():
        if key in fields:
            if isinstance(out.get(key), dict) and isinstance(value, dict):
                value = {**value, **out[key]}
            out[key] = value
            continue
        home = next((obj for obj, names in objects.items() if key in names), None)
        if home is None:
            lost.append(key)
        elif isinstance(out.setdefault(home, {}), dict):
            out[home][key] = value
        else:
            lost.append(key)
    if lost:
        names = ("parameters " if len(lost) > 1 else "parameter ") + ", ".join(f"'{k}'" for k in lost)
        raise PrepError(f"{names} has no place in profile {profile.name} ({profile.dialect} shape); "
                        "it would be dropped: remove it or build for another profile")
    return out


def order_items(request: Request, profile: Profile) -> Request:
    """Items in the order the target's ``content.order`` rule asks for (text, image, video, audio), each
    type keeping its own order, so ``@image1``-style references still count the same items."""
    rule = profile.rule("content.order")
    order = (rule.options or {}).get("order") if rule is not None and rule.severity != "off" else None
    if not order:
        return request
    rank = {t: n for n, t in enumerate(order)}
    items = sorted(request.items, key=lambda i: rank.get(i.type or "", len(order)))
    return request._replace(items=tuple(items))


def convert_types(document: dict, profile: Profile) -> dict:
    """Integers the target writes as strings (``"seconds": "5"``) and integer strings it writes as
    numbers, per the target's ``param.type`` table; anything else is left for the check to judge."""
    rule = profile.rule("param.type")
    types = (rule.options or {}).get("types", {}) if rule is not None else {}
    if not types:
        return document

    def convert(key: str, value: object) -> object:
        spec = types.get(key)
        if isinstance(spec, dict):
            spec = spec.get("type")
        allowed = {spec} if isinstance(spec, str) else set(spec or ())
        if type(value) is int and "string" in allowed and "integer" not in allowed:
            return str(value)
        if isinstance(value, str) and _INT.fullmatch(value) and "integer" in allowed and "string" not in allowed:
            return int(value)
        return value

    out: dict = {}
    for key, value in document.items():
        if isinstance(value, dict):
            value = {sub: convert(f"{key}.{sub}", v) for sub, v in value.items()}
        out[key] = convert(key, value)
    return out


def _effective_role(item: Item, mode: str | None) -> object:
    """The role an item has once the API reads it: its own, else what its type and the mode imply."""
    if item.role is not None:
        return item.role
    if item.type == "image_url":
        return "first_frame" if mode in ("first_frame", "first_last_frame") else "reference_image"
    return {"video_url": "reference_video", "audio_url": "reference_audio"}.get(item.type or "")


def _comparable_value(value: object) -> str:
    # An integer and its string ("5" for 5) are the same value: convert_types writes one as the other.
    if type(value) is int:
        value = str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def differences(meant: Request, sent: Request, target: str, names: dict[str, str] | None = None) -> list[str]:
    """What of ``meant`` (the translated canonical request) is not in ``sent`` (the built document parsed
    back in the target dialect): one line per item, role or parameter, naming it. Empty when lossless."""
    names = names or {}
    problems: list[str] = []
    meant_params = _params(meant)
    sent_params = _params(sent)
    for name in dict.fromkeys([*meant_params, *sent_params]):
        if meant_params.get(name) != sent_params.get(name):
            if name not in sent_params:
                problems.append(f"parameter '{name}' cannot be expressed in profile {target}")
            elif name not in meant_params:
                problems.append(f"parameter '{name}' would appear in {target} though the request has none")
            else:
                problems.append(f"parameter '{name}' would change its value in {target}")
    meant_mode, sent_mode = detect_mode(meant), detect_mode(sent)
    meant_text = "\n\n".join(i.text or "" for i in meant.items if i.type == "text")
    sent_text = "\n\n".join(i.text or "" for i in sent.items if i.type == "text")
    if meant_text != sent_text:
        texts = ", ".join(where(i.pointer) for i in meant.items if i.type == "text") or "the prompt"
        problems.append(f"{texts}: the text cannot be carried over to {target} as written")
    for item_type in (*MEDIA_TYPES, None):
        left = [(i, _key(i, meant_mode)) for i in meant.items if _same_group(i, item_type)]
        right = [_key(i, sent_mode) for i in sent.items if _same_group(i, item_type)]
        if [k for _, k in left] == right:
            continue
        missing = [i for i, k in left if k not in right]
        for item in missing or [i for i, _ in left][:1] or []:
            if item.type not in MEDIA_TYPES:
                what = f"an item of type '{item.type}'"
            elif item.role is None:
                what = f"this {item.type} item without a role"
            else:
                what = f"a {item.type} item with role '{item.role}'"
            problems.append(f"{label(item, names.get(item.pointer))}: profile {target} cannot express {what} "
                            "as written")
        if not left:
            problems.append(f"profile {target} would receive media the request does not have")
    return problems


def _same_group(item: Item, item_type: str | None) -> bool:
    if item.type == "text":
        return False
    return item.type == item_type if item_type is not None else item.type not in MEDIA_TYPES


def _key(item: Item, mode: str | None) -> tuple:
    if item.type in MEDIA_TYPES:
        return (item.type, _effective_role(item, mode), item.url)
    return (item.type, _comparable_value(item.payload), _comparable_value(item.role))


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in request.params:
        out.setdefault(p.name, []).append(_comparable_value(p.value))
    return out
