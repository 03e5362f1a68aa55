"""Check kinds over media URLs: schemes, and data: URLs against their decoded content."""

from __future__ import annotations

import re

from . import HTTP_URL as _URL
from . import attr_gate, check, show, where

# ---------------------------------------------------------------------------------------------------
# URLs

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


@check("url_scheme", options={"schemes": ("list[str]", True), "local_paths": ("bool", False)}, fields=("detail",),
       gate=attr_gate("media"))
def _url_scheme(ctx, o):
    schemes = o["schemes"]
    for item in ctx.media:
        url = item.url
        if not isinstance(url, str):
            continue
        detail = None
        if not url.strip():
            detail = "the URL is empty"
        elif url != url.strip():
            detail = "the URL has leading or trailing white space"
        else:
            m = _SCHEME.match(url)
            scheme = m.group(1).lower() if m else None
            if scheme is None:
                if not o.get("local_paths"):
                    detail = f"'{url}' is a local path; give an http(s) URL, a data: URL or an asset:// id"
            elif scheme not in schemes:
                detail = f"unsupported URL scheme '{scheme}'; use one of {show(s + ':' for s in schemes)}"
            elif scheme in ("http", "https") and not _URL.match(url):
                detail = f"'{url[:80]}' is not a well-formed {scheme} URL"
            elif scheme == "asset" and (not url.startswith("asset://") or not url[len("asset://"):].strip("/")):
                detail = "an asset URL is asset://<asset id>"
        if detail:
            yield item.value_pointer, url[:200], schemes, {"where": where(item.pointer), "detail": detail}


@check("no_data_uri", options={"kinds": ("list[str]", True)}, fields=("kind",), gate=attr_gate("media"))
def _no_data_uri(ctx, o):
    for item in ctx.media:
        if item.kind in o["kinds"] and isinstance(item.url, str) and item.url[:5].lower() == "data:":
            yield item.value_pointer, item.url[:40], None, {"where": where(item.pointer), "kind": item.kind}


@check("data_uri", options={"media_types": ("table[table[str]]", True)}, fields=("detail",),
       gate=attr_gate("media"))
def _data_uri(ctx, o):
    table = o["media_types"]
    for item in ctx.media:
        url = item.url
        if item.kind not in table or not isinstance(url, str) or url[:5].lower() != "data:":
            continue
        import binascii

        detail = data_url_problem(url, item.kind, table, binascii)
        if detail is None:
            facts = ctx.facts.get(item.pointer)
            declared = url[5:url.find(",")].split(";")[0].strip().lower()
            want = table[item.kind].get(declared)
            fmt = getattr(facts, "format", None)
            if fmt and want and fmt != want and not getattr(facts, "problem", None):
                detail = f"declares {declared} but the content is {fmt}"
        if detail:
            yield item.value_pointer, url[:40], None, {"where": where(item.pointer), "detail": detail}


def data_url_problem(url: str, kind: str, table: dict, binascii) -> str | None:
    """Why a data: URL is malformed for an item of ``kind``, or None when it is well formed."""
    comma = url.find(",")
    if comma < 0:
        return "a data: URL needs a comma before its payload: data:<type>;base64,<data>"
    header = url[5:comma].split(";")
    media_type = header[0].strip().lower()
    if "base64" not in (h.strip().lower() for h in header[1:]):
        return "the data: URL is not base64 (missing ';base64')"
    allowed = table[kind]
    if media_type not in allowed:
        other = next((k for k, types in table.items() if media_type in types), None)
        if other and other != kind:
            return f"declares {media_type} (an {other}) in a {kind} item"
        return f"media type '{media_type or '(none)'}' is not accepted; use one of {show(allowed)}"
    payload = url[comma + 1:]
    if not payload:
        return "the data: URL has no payload"
    try:
        binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        return f"invalid base64 payload ({exc})"
    return None
