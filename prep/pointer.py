"""RFC 6901 JSON pointers: how every finding says where in a request it is."""

from __future__ import annotations


def escape(token: str) -> str:
    """Escape one reference token: ``a/b`` → ``a~1b``, ``t~x`` → ``t~0x``."""
    return token.replace("~", "~0").replace("/", "~1") if ("~" in token or "/" in token) else token


def unescape(token: str) -> str:
    """The key a reference token stands for."""
    return token.replace("~1", "/").replace("~0", "~") if "~" in token else token


def pointer_path(pointer: str) -> list[str]:
    """The reference tokens of a pointer: ``/extra_body/a~1b`` → ``["extra_body", "a/b"]``."""
    return [unescape(t) for t in pointer.split("/")[1:]]


def key_pointer(key: str) -> str:
    """Pointer of a dotted key of rule data, where dots mean nesting: ``extra_body.seed`` →
    ``/extra_body/seed``. A key as written in a document (``"a.b"``) is ``"/" + escape(key)``."""
    return "/" + "/".join(escape(part) for part in key.split("."))
