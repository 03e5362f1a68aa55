"""The OpenAI/Sora-style ``POST /v1/videos`` shape: ``prompt``, ``seconds`` (or legacy ``duration``),
``resolution``, ``ratio``, ``size``, ``image``/``images`` (and, on new-api-style resellers, ``videos``/
``audios``), and ``metadata`` (with ``metadata.content`` for items that need explicit roles)."""

from __future__ import annotations

from ..pointer import escape, pointer_path
from ..model import Item, Param, Request
from .common import prompt_item, set_path, url_item
from .content import parse_items, render_item

RENAMED = {"seconds": "duration"}  # written name → canonical name
# Top-level arrays of URL strings → (item type, the role the field implies), in canonical item order.
ARRAYS = {"images": ("image_url", "reference_image"), "videos": ("video_url", "reference_video"),
          "audios": ("audio_url", "reference_audio")}
META = "metadata"


def parse(document: dict) -> Request:
    top: list[Param] = []
    nested: list[Param] = []
    items: list[Item] = []
    for key, value in document.items():
        if key in ("prompt", "image") or key in ARRAYS:
            continue
        if key == META and isinstance(value, dict):
            for sub, v in value.items():
                if sub != "content":
                    nested.append(Param(RENAMED.get(sub) or sub, v, f"{META}.{sub}", f"/{META}/{escape(sub)}"))
            continue
        top.append(Param(RENAMED.get(key, key), value, key, "/" + escape(key)))
    prompt = prompt_item(document)
    if prompt is not None:
        items.append(prompt)
    if "image" in document:
        items.append(url_item(document["image"], "/image", "image_url", "first_frame"))
    for key, (item_type, role) in ARRAYS.items():  # new-api-style resellers also take videos/audios here
        if isinstance(document.get(key), list):
            items.extend(url_item(v, f"/{key}/{i}", item_type, role) for i, v in enumerate(document[key]))
    meta = document.get(META)
    if isinstance(meta, dict):
        items.extend(parse_items(meta.get("content"), f"/{META}/content"))
    return Request("openai-videos", tuple(top + nested), tuple(items), document)


def render(request: Request) -> dict:
    out: dict = {}
    same = request.dialect == "openai-videos"
    written = {v: k for k, v in RENAMED.items()}
    for p in request.params:
        path = pointer_path(p.pointer) if same else [written.get(p.name, p.name)]
        if not same and "." in p.name:
            continue  # a nested field of another dialect that has no place here
        set_path(out, path, p.value)
        if path == ["model"]:
            out["prompt"] = None
    content = []
    prompt_done = False
    by_role = {role: key for key, (_, role) in ARRAYS.items()}
    for item in request.items:
        if item.problem is not None:
            continue
        if same:
            from_meta = item.pointer.startswith(f"/{META}/content")
        else:
            from_meta = item.type != "text" and not item.role_implied
        if item.type == "text" and not prompt_done and not from_meta:
            out["prompt"], prompt_done = item.text, True
        elif item.role_implied and item.role == "first_frame" and not from_meta:
            out["image"] = item.url
        elif item.role_implied and not from_meta and isinstance(item.role, str) and item.role in by_role:
            out.setdefault(by_role[item.role], []).append(item.url)
        else:
            content.append(render_item(item))
    if out.get("prompt", 0) is None:
        del out["prompt"]
    if content:
        out.setdefault(META, {})["content"] = content
    return out
