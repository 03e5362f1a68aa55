"""Result files behind signed-style URLs, like the object storage the providers hand out links to.

A link is ``/files/<task>.mp4?expires=<unix s>&signature=<hmac>`` on the emulator itself. It stops
working at ``expires`` (403), and, like S3 or TOS, a request that also carries an ``Authorization``
header is refused (400 "Only one auth mechanism allowed"): a client must never send its API key there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import cache
from importlib import resources
from urllib.parse import parse_qs

PREFIX = "/files/"
# What each file kind is, and the packaged file the emulator serves for it.
FILES = {"mp4": ("video/mp4", "result.mp4"), "png": ("image/png", "last_frame.png")}
_NAME = re.compile(r"^/files/([A-Za-z0-9_-]{1,100})\.(mp4|png)$")


@cache
def media(kind: str) -> bytes:
    """The bytes of the packaged result file of ``kind`` (``mp4`` or ``png``)."""
    return resources.files(__package__).joinpath("media", FILES[kind][1]).read_bytes()


class Storage:
    """Signs and verifies result links with a key of its own (new for every emulator)."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or os.urandom(32)

    def _sign(self, path: str, expires: int) -> str:
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, server_url: str, task_id: str, kind: str, expires: int) -> str:
        """The signed link to ``task_id``'s result of ``kind``, valid until ``expires``."""
        path = f"{PREFIX}{task_id}.{kind}"
        return f"{server_url}{path}?expires={expires}&signature={self._sign(path, expires)}"

    def check(self, path: str, query: str, now: float) -> tuple[int, str, str] | str:
        """The file kind a storage request may have, or (status, code, message) saying why not."""
        m = _NAME.match(path)
        if m is None:
            return 404, "NoSuchKey", "The specified key does not exist."
        args = parse_qs(query)
        expires, signature = args.get("expires", [""])[0], args.get("signature", [""])[0]
        if not expires.isdigit() or not hmac.compare_digest(signature, self._sign(path, int(expires))):
            return 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
        if now >= int(expires):
            return 403, "AccessDenied", "Request has expired"
        return m.group(2)


def error_xml(code: str, message: str) -> bytes:
    """An S3-style XML error body."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"</Error>").encode()


AUTH_REFUSED = ("InvalidArgument", ("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                                    "Signature query string parameter or the Authorization header should be specified"))
