"""Parse each API's request shape into the canonical content-array Request, and render it back.

Three shapes cover the six profiles: the content array (``ark``, ``byteplus``, ``apiyi``,
``gateway``), the flat ``/v1/video/generations`` body and the OpenAI/Sora-style ``/v1/videos`` body.
Parsing never fails on a JSON object: structural problems are kept on the items (``Item.problem``)
for the rules to report, and every item and parameter keeps the JSON pointer where it was written.
"""

from __future__ import annotations

from ..model import Request
from . import content, flat, openai

MODULES = {"content": content, "video-generations": flat, "openai-videos": openai}


def parse(document: dict, dialect: str) -> Request:
    """The canonical Request of ``document`` written in ``dialect``."""
    return MODULES[dialect].parse(document)


def render(request: Request, dialect: str) -> dict:
    """``request`` as a JSON object in ``dialect``. Rendering into the dialect it was parsed from
    puts every parameter back where it was written, so parse → render → parse is lossless."""
    return MODULES[dialect].render(request)


def infer_profile(document: dict, models_by_profile: dict[str, dict]) -> str:
    """Guess the profile from the shape of ``document`` (and its model id, when one profile knows it).

    ``content`` → a content-array profile (``ark`` unless the model id belongs to another one);
    ``prompt`` with ``seconds``/``metadata``/``size`` → ``openai-videos``; ``prompt`` with
    ``extra_body``/``images``/``videos``/``audios``/``aspect_ratio`` → ``video-generations``.
    """
    model = document.get("model")

    def owner(candidates: tuple[str, ...], default: str) -> str:
        if isinstance(model, str):
            for name in candidates:
                if model in models_by_profile.get(name, {}):
                    return name
        return default

    if "content" in document:
        return owner(("ark", "byteplus", "gateway", "apiyi"), "ark")
    if any(k in document for k in ("seconds", "metadata", "size")):
        return "openai-videos"
    if any(k in document for k in ("extra_body", "images", "videos", "audios", "aspect_ratio", "last_image")):
        return "video-generations"
    if "prompt" in document:
        return owner(("video-generations", "openai-videos"), "video-generations")
    return "ark"
