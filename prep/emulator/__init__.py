"""A local emulator of the Seedance task APIs, so clients are tested over real HTTP and offline.

One server on 127.0.0.1 serves every profile at once, each under its own prefix (``base_url``):
``/ark/api/v3``, ``/byteplus/api/v3``, ``/apiyi/seedance/api/v3``, ``/gateway/api/v3``,
``/video-generations`` and ``/openai-videos`` (then the profile's documented paths, e.g.
``/openai-videos/v1/videos/{id}/content``). Ark is also at the bare ``/api/v3``, so the official Ark SDK
works with ``base_url="http://127.0.0.1:PORT/api/v3"``. Endpoints, status names, result fields and time
units come from each profile's ``[profile.api]`` rules; create bodies are judged by the project's own
rule sets (first error → the provider's 400); a bearer key is required (401 otherwise); an unknown model
is a 404. Tasks move queued → running → succeeded over ``task_seconds`` of the emulator's clock, and the
result is a small real mp4 (and PNG last frame) behind a signed link that expires and refuses requests
carrying ``Authorization``.

Outcome directives, written anywhere in the prompt, reach every status path deterministically:

- ``#emulate:fail=CODE``: the task ends ``failed`` with ``error: {code: CODE, message}``;
- ``#emulate:expire``: it ends ``expired``, with no error block (openai-videos, which has no such
  status, answers ``failed`` with error code ``expired``);
- ``#emulate:slow``: it stays ``running`` until the clock passes 10 × ``task_seconds``.

Control endpoints (never faulted, no key needed): ``GET /_emulator/stats``; ``POST /_emulator/clock``
``{"advance": seconds}``; ``POST /_emulator/reset`` (forget tasks, zero counters); ``POST
/_emulator/faults`` ``{"rate", "kinds", "slow_factor", "retry_after"}``.

Result links: ``/files/<task>.mp4?expires=<unix s>&signature=<hmac>`` (``.png`` for the last frame).
After expiry they answer 403, and getting the task again hands out fresh ones.
"""

from __future__ import annotations

from .faults import KINDS as FAULT_KINDS
from .routes import base_url
from .server import DEFAULT_PORT, Emulator, serve

__all__ = ["DEFAULT_PORT", "FAULT_KINDS", "Emulator", "base_url", "serve"]
