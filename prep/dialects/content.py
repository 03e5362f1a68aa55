"""The canonical content-array shape (Volcengine Ark, BytePlus ModelArk, APIYI, gateways)."""

from __future__ import annotations

from ..pointer import escape, pointer_path
from ..model import MEDIA_TYPES, Item, Param, Request


def parse_item(value: object, pointer: str) -> Item:
    """One content-array item written at ``pointer``; shape problems go to ``Item.problem``."""
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else type(value).__name__.replace("str", "a string")
        return Item(type=None, pointer=pointer, payload_ok=False, problem=f"an item must be an object, not {kind}")
    t = value.get("type")
    role = value.get("role")
    role_pointer = pointer + "/role"
    if not isinstance(t, str):
        problem = "the item has no 'type'" if t is None else "'type' must be a string"
        return Item(type=None, pointer=pointer, role=role, role_pointer=role_pointer, payload_ok=False, problem=problem)
    if t == "text":
        text = value.get("text")
        if not isinstance(text, str):
            problem = "a text item needs a 'text' string" if text is None else "'text' must be a string"
            return Item(type=t, pointer=pointer, role=role, role_pointer=role_pointer, payload_ok=False, problem=problem)
        return Item(type=t, pointer=pointer, role=role, role_pointer=role_pointer, text=text,
                    value_pointer=pointer + "/text")
    if t in MEDIA_TYPES:
        payload = value.get(t)
        if not isinstance(payload, dict):
            other = next((k for k in MEDIA_TYPES if k != t and k in value), None)
            if other:
                problem = f"a {t} item carries '{other}'; its payload must be under '{t}'"
            else:
                problem = f"a {t} item needs {{\"{t}\": {{\"url\": …}}}}"
            return Item(type=t, pointer=pointer, role=role, role_pointer=role_pointer, payload_ok=False, problem=problem)
        url = payload.get("url")
        if not isinstance(url, str):
            problem = f"'{t}.url' is missing" if url is None else f"'{t}.url' must be a string"
            return Item(type=t, pointer=pointer, role=role, role_pointer=role_pointer, payload_ok=False, problem=problem)
        return Item(type=t, pointer=pointer, role=role, role_pointer=role_pointer, url=url,
                    value_pointer=f"{pointer}/{t}/url")
    return Item(type=t, pointer=pointer, role=role, role_pointer=role_pointer, payload=value.get(t))


def parse_items(value: object, pointer: str) -> tuple[Item, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(parse_item(v, f"{pointer}/{i}") for i, v in enumerate(value))


def render_item(item: Item) -> dict:
    """An Item as a content-array object (roles implied by a flat dialect's field are written out)."""
    out: dict = {"type": item.type}
    if item.type == "text":
        out["text"] = item.text
    elif item.type in MEDIA_TYPES:
        out[item.type] = {"url": item.url}
    elif item.payload is not None:
        out[item.type] = item.payload
    if item.role is not None:
        out["role"] = item.role
    return out


def parse(document: dict) -> Request:
    params = []
    for key, value in document.items():
        if key != "content":
            params.append(Param(key, value, key, "/" + escape(key)))
    items = parse_items(document.get("content"), "/content")
    return Request("content", tuple(params), items, document)


def render(request: Request) -> dict:
    out: dict = {}
    same = request.dialect == "content"
    for p in request.params:
        key = pointer_path(p.pointer)[0] if same else p.name
        if "." in key and not same:
            continue  # a nested field of another dialect that has no place here
        out[key] = p.value
        if key == "model":
            out["content"] = None  # the content array right after the model, as the API docs write it
    out["content"] = [render_item(i) for i in request.items if i.problem is None]
    return out

