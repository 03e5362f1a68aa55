"""Where each profile lives on the emulator: a prefix per profile, and its endpoints from the rules.

A profile's prefix is ``/<profile>`` followed by the path of its documented ``api_base`` (ark →
``/ark/api/v3``, apiyi → ``/apiyi/seedance/api/v3``); a profile whose docs give no base is served at
``/<profile>`` plus ``/api/v3`` when it speaks the content-array dialect (gateway → ``/gateway/api/v3``)
and at ``/<profile>`` alone otherwise (its paths start with ``/v1``). Ark is also mounted at the bare
path of its base (``/api/v3``), so an SDK pointed at ``http://127.0.0.1:PORT/api/v3`` works unchanged.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from ..ruleset import RuleBook

# The profile an SDK reaches without a profile prefix.
BARE_PROFILE = "ark"
# The actions of `[profile.api]` the emulator serves, in the order routes are tried.
ACTIONS = ("create", "list", "get", "cancel", "content")


class Route(NamedTuple):
    method: str
    pattern: re.Pattern
    profile: str
    action: str


def prefix(profile: str, data: dict) -> str:
    """The path under which ``profile`` (with profile data ``data``) is served."""
    base = data.get("api_base")
    if base:
        path = urlsplit(base).path.rstrip("/")
    else:  # no documented base: an Ark-compatible gateway looks like Ark, the /v1 APIs sit at the root
        path = "/api/v3" if data.get("dialect", "content") == "content" else ""
    return f"/{profile}{path}"


def base_url(server_url: str, profile: str, book: RuleBook | None = None) -> str:
    """The API base URL a client of ``profile`` uses against the emulator at ``server_url``
    (what the provider documents as its base: ark ``…/api/v3``, openai-videos the host root)."""
    book = book or RuleBook()
    return server_url.rstrip("/") + prefix(profile, book.profile_data(profile))


def routes(book: RuleBook, profiles: list[str]) -> list[Route]:
    """Every endpoint of ``profiles``, plus Ark's at the bare path of its base when Ark is served."""
    mounts = [(name, prefix(name, book.profile_data(name))) for name in profiles]
    if BARE_PROFILE in profiles:
        mounts.append((BARE_PROFILE, prefix(BARE_PROFILE, book.profile_data(BARE_PROFILE))[len(BARE_PROFILE) + 1:]))
    out = []
    for name, mount in mounts:
        api = book.profile_data(name).get("api", {})
        for action in ACTIONS:
            if action not in api:
                continue
            method, path = api[action].split(" ", 1)
            regex = re.escape(mount + path).replace(re.escape("{id}"), "(?P<id>[A-Za-z0-9_.-]{1,128})")
            out.append(Route(method.upper(), re.compile(f"^{regex}$"), name, action))
    return out


def match(table: list[Route], method: str, path: str) -> tuple[Route | None, str | None, bool]:
    """The route for ``method`` ``path`` and the task id in it; the bool says whether the path exists
    under another method (a 405 rather than a 404)."""
    other = False
    for route in table:
        m = route.pattern.match(path)
        if m is None:
            continue
        if route.method == method:
            return route, m.groupdict().get("id"), False
        other = True
    return None, None, other
