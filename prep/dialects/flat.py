"""The flat ``POST /v1/video/generations`` shape: ``prompt``, ``image``/``last_image``,
``images``/``videos``/``audios`` arrays of URL strings, ``aspect_ratio`` and ``extra_body``."""

from __future__ import annotations

from ..pointer import escape, pointer_path
from ..model import Item, Param, Request
from .common import prompt_item, set_path, url_item

# Field → (item type, role the field implies), in the canonical item order.
SINGLE = {"image": ("image_url", "first_frame"), "last_image": ("image_url", "last_frame")}
ARRAYS = {"images": ("image_url", "reference_image"), "videos": ("video_url", "reference_video"),
          "audios": ("audio_url", "reference_audio")}
RENAMED = {"aspect_ratio": "ratio"}  # written name → canonical name
EXTRA = "extra_body"
EXTRA_NAMES = ("generate_audio", "seed", "watermark", "camera_fixed", "return_last_frame", "operation")


def parse(document: dict) -> Request:
    params: list[Param] = []
    for key, value in document.items():
        if key == "prompt" or key in SINGLE or key in ARRAYS:
            continue
        if key == EXTRA and isinstance(value, dict):
            for sub, v in value.items():
                name = sub if sub in EXTRA_NAMES else f"{EXTRA}.{sub}"
                params.append(Param(name, v, f"{EXTRA}.{sub}", f"/{EXTRA}/{escape(sub)}"))
            continue
        params.append(Param(RENAMED.get(key, key), value, key, "/" + escape(key)))
    prompt = prompt_item(document)
    items: list[Item] = [prompt] if prompt is not None else []
    for key, (item_type, role) in SINGLE.items():
        if key in document:
            items.append(url_item(document[key], "/" + key, item_type, role))
    for key, (item_type, role) in ARRAYS.items():
        value = document.get(key)
        if isinstance(value, list):
            items.extend(url_item(v, f"/{key}/{i}", item_type, role) for i, v in enumerate(value))
    return Request("video-generations", tuple(params), tuple(items), document)


def render(request: Request) -> dict:
    out: dict = {}
    same = request.dialect == "video-generations"
    written = {v: k for k, v in RENAMED.items()}
    for p in request.params:
        if same:
            path = pointer_path(p.pointer)
        elif p.name in EXTRA_NAMES:
            path = [EXTRA, p.name]
        else:
            path = [written.get(p.name, p.name)]
        set_path(out, path, p.value)
        if path == ["model"]:
            out["prompt"] = None  # the prompt right after the model
    texts = [i.text for i in request.items if i.type == "text" and i.problem is None and i.text is not None]
    if texts:
        out["prompt"] = "\n\n".join(texts)
    else:
        out.pop("prompt", None)
    by_role = {role: key for key, (_, role) in SINGLE.items()}
    arrays = {role: key for key, (_, role) in ARRAYS.items()}
    for item in request.items:
        if item.type == "text" or item.problem is not None or item.url is None:
            continue
        role = item.role if isinstance(item.role, str) else None
        role = role or ("first_frame" if item.type == "image_url" else
                        next(r for k, (t, r) in ARRAYS.items() if t == item.type))
        if role in by_role:
            out[by_role[role]] = item.url
        elif role in arrays:
            out.setdefault(arrays[role], []).append(item.url)
    return out
