"""Which listed task, if any, is the one a lost create made: a pure decision, tested on its own.

After a create whose answer never arrived (a read timeout, a reset, a 5xx, a cut-off body) the
server may or may not have made the task. Sending the request again could bill the user twice, so
the client lists recent tasks and keeps those that could be it: created no earlier than the send
time minus a clock skew, with the same model, not an id the caller already knows, and echoing no
parameter that contradicts what was sent. Exactly one such task is adopted; none (from a listing
that worked) proves the create was not taken; several means the user must look.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .task import Task

CLOCK_SKEW = 10.0  # seconds the provider's clock may run behind ours

# The parameters a listing may echo, under each dialect's names (content array, flat, OpenAI-style).
_ECHOED = {
    "resolution": ("resolution",),
    "ratio": ("ratio", "aspect_ratio"),
    "duration": ("duration", "seconds"),
    "seed": ("seed",),
    "generate_audio": ("generate_audio",),
    "size": ("size",),
}
# Values that ask the model to choose: the echo then holds what it chose, which contradicts nothing.
_CHOSEN_BY_MODEL = {"ratio": {"adaptive", "auto"}, "duration": {"-1"}, "seed": {"-1"}}
# Objects in which a dialect nests those parameters (OpenAI-style `metadata`, the flat API's `extra_body`).
_NESTED = ("metadata", "extra_body")


def sent_fields(params: Mapping[str, Any] | None) -> dict[str, str]:
    """The comparable parameters of what was sent, by canonical name, as normalised text."""
    return _collect(params or {})


def echoed_fields(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """The comparable parameters a listed task echoes, by canonical name, as normalised text."""
    return _collect(raw or {})


def _collect(data: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    layers = [data] + [data[k] for k in _NESTED if isinstance(data.get(k), Mapping)]
    for name, keys in _ECHOED.items():
        for layer in layers:
            value = next((layer[k] for k in keys if k in layer and layer[k] is not None), None)
            if value is not None and not isinstance(value, (Mapping, list)):
                found[name] = _norm(value)
                break
    return found


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def contradicts(sent: Mapping[str, str], echoed: Mapping[str, str]) -> list[str]:
    """The names of parameters both sides give with different values (a chosen-by-model value is no contradiction)."""
    return [name for name, value in sent.items()
            if name in echoed and echoed[name] != value and value not in _CHOSEN_BY_MODEL.get(name, ())]


def candidates(listed: Iterable[Task], *, params: Mapping[str, Any] | None, sent_at: float,
               known_ids: Collection[str]) -> list[Task]:
    """The listed tasks that could be the one sent at ``sent_at`` (unix seconds) with ``params``.

    A task with no creation time is kept (it cannot be ruled out), so doubt leads to asking the user,
    never to a second paid task.
    """
    sent = sent_fields(params)
    model = params.get("model") if params else None
    found = []
    for task in listed:
        if task.id in known_ids:
            continue
        if task.created_at is not None and task.created_at < sent_at - CLOCK_SKEW:
            continue
        if model and task.model and str(model) != task.model:
            continue
        if contradicts(sent, echoed_fields(task.raw)):
            continue
        found.append(task)
    return found
