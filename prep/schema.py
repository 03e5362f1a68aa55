"""JSON Schema (draft 2020-12) of a profile's request, generated from its rule options.

A JSON Schema can only say what is structurally valid; the rules that compare items with each other
(modes, placeholders, totals) stay with ``check``. The schema is for editors and other validators.
A profile that sells several model families gets one ``if``/``then`` branch per family, chosen by the
model id (and a variant's parameter, such as ``draft: true``), with that family's values.
"""

from __future__ import annotations

from .ruleset import Profile, RuleBook

_JSON_TYPES = {"string", "integer", "number", "boolean", "array", "object", "null"}


def _opts(profile: Profile, rule_id: str) -> dict | None:
    rule = profile.rule(rule_id)
    return rule.options if rule is not None else None


def _type_schema(spec) -> dict:
    if isinstance(spec, dict):
        out = {"type": spec["type"]}
        if "max_length" in spec:
            out["maxLength"] = spec["max_length"]
        return out
    return {"type": spec if isinstance(spec, str) else list(spec)}


def _set(props: dict, key: str, schema: dict) -> None:
    """Merge ``schema`` into the property at dotted ``key`` (creating nested objects)."""
    parts = key.split(".")
    node = props
    for part in parts[:-1]:
        holder = node.setdefault(part, {"type": "object", "properties": {}})
        node = holder.setdefault("properties", {})
    node.setdefault(parts[-1], {}).update(schema)


def _written(profile: Profile, name: str) -> list[str]:
    """The keys a canonical parameter is written under in this profile's dialect."""
    if profile.dialect == "video-generations":
        return {"ratio": ["aspect_ratio"], "seed": ["extra_body.seed"], "generate_audio": ["extra_body.generate_audio"],
                "watermark": ["extra_body.watermark"], "return_last_frame": ["extra_body.return_last_frame"]}.get(name, [name])
    if profile.dialect == "openai-videos":
        return {"duration": ["seconds", "duration"]}.get(name, [name])
    return [name]


def _item_schemas(profile: Profile) -> list[dict]:
    roles = (_opts(profile, "content.role-invalid") or {}).get("roles", {})
    item_opts = _opts(profile, "content.item") or {}
    types = item_opts.get("types", ["text", "image_url", "video_url", "audio_url"])
    payloads = item_opts.get("payloads", {})
    out = []
    for t in types:
        if t in payloads:  # e.g. {"type": "draft_task", "draft_task": {"id": "cgt-…"}}
            keys = payloads[t]
            out.append({"type": "object", "required": ["type", t], "properties": {
                "type": {"const": t}, t: {"type": "object", "required": keys,
                                          "properties": {k: {"type": "string", "minLength": 1} for k in keys}}}})
        elif t == "text":
            out.append({"type": "object", "required": ["type", "text"],
                        "properties": {"type": {"const": "text"}, "text": {"type": "string"}}})
        else:
            props = {"type": {"const": t},
                     t: {"type": "object", "required": ["url"], "properties": {"url": {"type": "string", "minLength": 1}}}}
            if t in roles:
                props["role"] = {"enum": roles[t]}
            out.append({"type": "object", "required": ["type", t], "properties": props})
    return out


def _count_constraints(profile: Profile, item_type_of_kind: dict) -> list[dict]:
    out = []
    for rid in ("count.images", "count.videos", "count.audios"):
        o = _opts(profile, rid)
        if o and len(o["kinds"]) == 1 and o["kinds"][0] in item_type_of_kind:
            t = item_type_of_kind[o["kinds"][0]]
            out.append({"contains": {"properties": {"type": {"const": t}}, "required": ["type"]},
                        "minContains": 0, "maxContains": o["max"]})
    return out


def family_schema(profile: Profile) -> dict:
    """The JSON Schema of a request for ``profile`` as one model family sees it."""
    props: dict = {}
    required = ["model"]
    types = (_opts(profile, "param.type") or {}).get("types", {})
    for key, spec in types.items():
        _set(props, key, _type_schema(spec))
    models = list(profile.data.get("models", {}))
    if models:
        _set(props, "model", {"enum": models})
    for rid in ("param.duration", "param.seed", "param.expires"):
        o = _opts(profile, rid)
        if not o:
            continue
        for key in _written(profile, o["param"]):
            rng = {"type": "integer", "minimum": o["min"], "maximum": o["max"]}
            also = [{"const": a} for a in o.get("also", [])]
            choices = [rng, *also]
            if o.get("strings"):
                pattern = "^-?[0-9]+$"
                choices.append({"type": "string", "pattern": pattern})
            schema = {"anyOf": choices} if len(choices) > 1 else rng
            current = _get(props, key)
            if current is not None:
                current.pop("type", None)
            _set(props, key, schema)
    ratio = _opts(profile, "param.ratio")
    if ratio:
        for key in _written(profile, ratio["param"]):
            _set(props, key, {"enum": ratio["values"]})
    res = _opts(profile, "param.resolution")
    if res and "resolution" in types:
        judged = profile.data.get("family_info") or {}
        own = [m for m in profile.data.get("models", {}).values() if m.get("family") == judged.get("id")]
        allowed = sorted({r for m in own for r in m.get("resolutions", [])} or judged.get("resolutions") or [])
        if allowed:
            _set(props, "resolution", {"enum": allowed})
    cb = _opts(profile, "param.callback-url")
    if cb and "callback_url" in types:
        _set(props, "callback_url", {"pattern": "^(" + "|".join(cb["schemes"]) + ")://"})
    not_any = []
    unsupported = _opts(profile, "param.unsupported") or {}
    for key in unsupported.get("fields", {}):
        if "." not in key:
            not_any.append({"required": [key]})
    for key, allowed in unsupported.get("values", {}).items():
        if "." not in key:
            _set(props, key, {"enum": allowed})
    kinds = {"image": "image_url", "video": "video_url", "audio": "audio_url"}
    schema: dict = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://seedance-prep.invalid/schema/{profile.name}.json",
        "title": f"Seedance request — {profile.title}",
        "type": "object",
        "properties": props,
    }
    if profile.dialect == "content":
        required.append("content")
        items = _item_schemas(profile)
        content = {"type": "array", "minItems": 1, "items": {"oneOf": items}}
        counts = _count_constraints(profile, kinds)
        if counts:
            content["allOf"] = counts
        props["content"] = content
        tool = _opts(profile, "tools.web-search")
        if tool and "tools" in props:
            props["tools"]["items"] = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
    else:
        if (_opts(profile, "content.empty") or {}).get("prompt_required"):
            required.append("prompt")
        for rid, key in (("count.images", "images"), ("count.videos", "videos"), ("count.audios", "audios")):
            o = _opts(profile, rid)
            if o and key in props:
                props[key].update({"maxItems": o["max"], "items": {"type": "string", "minLength": 1}})
        if profile.dialect == "openai-videos" and "metadata" in props:
            meta = props["metadata"].setdefault("properties", {})
            meta["content"] = {"type": "array", "items": {"oneOf": _item_schemas(profile)}}
    schema["required"] = required
    if not_any:
        schema["not"] = {"anyOf": not_any}
    return schema


def _get(props: dict, key: str) -> dict | None:
    node = props
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.get(part, {}).get("properties", {})
    return node.get(parts[-1])


_HEADER = ("$schema", "$id", "title")


def request_schema(book: RuleBook, name: str) -> dict:
    """The JSON Schema of a request for profile ``name``, every family it sells included."""
    families = book.families_of(name)
    default = book.get(name)
    if len(families) == 1:
        return family_schema(default)
    models = default.data.get("models", {})
    ids = {f: [m for m, info in models.items() if info["family"] == f] for f in families}
    variants = {v["family"]: (f, v) for f in families for v in book.families[f]["variants"] if v["family"] in families}
    branches = []
    for family in families:
        parent, variant = variants.get(family, (family, None))
        chosen = ids[parent]
        if not chosen:
            continue
        cond: dict = {"properties": {"model": {"enum": chosen}}, "required": ["model"]}
        if variant is not None:  # e.g. draft: true turns 2.5 into its draft family
            cond["properties"][variant["param"]] = {"const": variant["equals"]}
            cond["required"].append(variant["param"])
        else:
            own = [v for v in book.families[family]["variants"] if v["family"] in families]
            if own:
                cond["not"] = {"anyOf": [{"properties": {v["param"]: {"const": v["equals"]}}, "required": [v["param"]]}
                                         for v in own]}
        body = {k: v for k, v in family_schema(book.get(name, family)).items() if k not in _HEADER}
        branches.append({"if": cond, "then": body, "$comment": f"model family {family}"})
    base = family_schema(default)
    return {**{k: base[k] for k in _HEADER}, "type": "object", "required": ["model"],
            "properties": {"model": {"enum": list(models)}}, "allOf": branches}
