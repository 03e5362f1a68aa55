"""Pieces the flat dialects share: items written as bare URL strings or as a ``prompt`` field."""

from __future__ import annotations

from ..model import Item


def url_item(value: object, pointer: str, item_type: str, role: str) -> Item:
    """An item whose field name implies its type and role (``images[0]`` is a reference image)."""
    if isinstance(value, str):
        return Item(type=item_type, pointer=pointer, role=role, url=value, value_pointer=pointer,
                    role_pointer=pointer, role_implied=True)
    return Item(type=item_type, pointer=pointer, role=role, role_pointer=pointer, role_implied=True,
                payload_ok=False, problem="expected a URL string")


def prompt_item(document: dict) -> Item | None:
    """The text item of a ``prompt`` field, or None when there is none."""
    if "prompt" not in document:
        return None
    prompt = document["prompt"]
    if isinstance(prompt, str):
        return Item(type="text", pointer="/prompt", text=prompt, value_pointer="/prompt")
    return Item(type="text", pointer="/prompt", payload_ok=False, problem="'prompt' must be a string")


def set_path(out: dict, path: list[str], value: object) -> None:
    """``out[path[0]][path[1]]… = value``, creating the objects on the way."""
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
