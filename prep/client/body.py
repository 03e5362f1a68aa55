"""What ``tasks.create`` sends: a JSON object, or a streamed :class:`Body` that is never all in memory.

A built request with inlined media can weigh hundreds of megabytes; ``build`` produces it as a
:class:`Body` whose bytes are generated chunk by chunk, and the client sends it with its exact
``Content-Length``. ``iter_bytes`` is called once per attempt, so it must start over on every call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Body(Protocol):
    """A request body produced in chunks: ``length`` bytes in all, the same bytes on every ``iter_bytes()``.

    A body may also have ``params``: the request's small top-level fields (``model``, ``resolution``,
    ``ratio``, ``duration``/``seconds``, ``seed``, ``generate_audio``… media left out) as a mapping.
    After a create whose answer was lost, the client matches recent tasks against them; without them
    it can only match on time and the ids it already knows.
    """

    length: int

    def iter_bytes(self) -> Iterator[bytes]: ...


class JSONBody:
    """A small JSON object as a :class:`Body` (encoded once; its ``params`` are the object itself)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.params: Mapping[str, Any] = document
        self.data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.length = len(self.data)

    def iter_bytes(self) -> Iterator[bytes]:
        yield self.data


def as_body(body: Mapping[str, Any] | bytes | Body) -> Body:
    """Any accepted create body as a :class:`Body`: a mapping is encoded as compact JSON, bytes are
    sent as they are (their ``params`` read back from the JSON when it parses)."""
    if isinstance(body, Mapping):
        return JSONBody(body)
    if isinstance(body, (bytes, bytearray, memoryview)):
        return _BytesBody(bytes(body))
    if isinstance(body, Body):
        return body
    raise TypeError(f"a create body is a dict, bytes or a Body (length and iter_bytes()), not {type(body).__name__}")


class _BytesBody:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        self.params: Mapping[str, Any] | None = parsed if isinstance(parsed, dict) else None

    def iter_bytes(self) -> Iterator[bytes]:
        yield self.data


def params_of(body: Body) -> Mapping[str, Any] | None:
    """The fields a lost create is matched on (see :class:`Body`), or None when the body has none."""
    params = getattr(body, "params", None)
    return params if isinstance(params, Mapping) else None
