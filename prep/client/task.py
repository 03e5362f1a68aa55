"""The one ``Task`` record every dialect's answer becomes, and the profile's task API read from its rules.

Which endpoint does what, which status names mean what and where each result field sits are provider
facts: they live in ``[profile.api]`` of the profile's rules file and are read here by
:meth:`TaskAPI.from_profile`. :func:`parse_task` is pure: a decoded answer in, a :class:`Task` out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..model import PrepError, Record, record

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


@record
class Endpoint(Record):
    """One ``"METHOD /path"`` of the task API; ``{id}`` in the path is the task id."""

    method: str
    path: str

    def url_path(self, task_id: str | None = None) -> str:
        if task_id is None:
            return self.path
        from urllib.parse import quote

        return self.path.replace("{id}", quote(task_id, safe=""))


@record
class TaskAPI(Record):
    """A profile's task API as its rules file describes it (``[profile.api]``)."""

    profile: str
    create: Endpoint
    get: Endpoint
    list: Endpoint | None
    cancel: Endpoint | None
    content: Endpoint | None
    list_items: str
    list_limit_param: str | None
    list_limit_max: int
    list_ids_param: str | None
    time_unit: str
    statuses: Mapping[str, str]
    fields: Mapping[str, str]

    @classmethod
    def from_profile(cls, profile: str, data: Mapping[str, Any]) -> TaskAPI:
        """Read ``[profile.api]`` from a profile's data; a missing create or get is a broken rules file."""
        api = data.get("api")
        if not isinstance(api, Mapping) or "create" not in api or "get" not in api:
            raise PrepError(f"profile {profile} describes no task API ([profile.api] with create and get)")

        def endpoint(name: str) -> Endpoint | None:
            value = api.get(name)
            if value is None:
                return None
            method, _, path = str(value).partition(" ")
            if not method or not path.startswith("/"):
                raise PrepError(f"profile {profile}: api.{name} is {value!r}; expected \"METHOD /path\"")
            return Endpoint(method.upper(), path)

        limit = api.get("list_limit") or {}
        create, get = endpoint("create"), endpoint("get")
        assert create is not None and get is not None
        return cls(profile=profile, create=create, get=get, list=endpoint("list"), cancel=endpoint("cancel"),
                   content=endpoint("content"), list_items=str(api.get("list_items", "items")),
                   list_limit_param=limit.get("param"), list_limit_max=int(limit.get("max", 0)),
                   list_ids_param=api.get("list_ids"), time_unit=str(api.get("time_unit", "s")),
                   statuses=dict(api.get("statuses", {})), fields=dict(api.get("fields", {})))

    def normalise(self, provider_status: str | None) -> str:
        """One of :data:`STATUSES` for a provider's status name.

        A status the rules do not name stays as given and counts as still running: a new provider
        state must not end a wait early, and ``wait``'s timeout still bounds it.
        """
        if provider_status is None:
            return "queued"
        return self.statuses.get(provider_status, self.statuses.get(provider_status.lower(), provider_status))

    def seconds(self, value: Any) -> float | None:
        """A timestamp of this API as float unix seconds (``time_unit`` ms is divided by 1000)."""
        number = _finite(value)
        if number is None:
            return None
        return number / 1000.0 if self.time_unit == "ms" else number


@record
class Task(Record):
    """A video-generation task, the same whichever API answered.

    ``status`` is one of queued/running/succeeded/failed/cancelled/expired, or the provider's own
    name when the rules do not know it (then the task counts as still running); ``provider_status``
    is the name as the provider sent it. Times are float unix seconds. ``adopted`` is true when
    ``create`` did not get an answer but found this task in the provider's list and took it as the
    one it sent (see ``Tasks.create``). ``raw`` is the decoded answer, as received.
    """

    id: str
    status: str
    provider_status: str | None = None
    progress: int | None = None
    video_url: str | None = None
    last_frame_url: str | None = None
    tokens: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    model: str | None = None
    raw: Mapping[str, Any] | None = None
    adopted: bool = False

    @property
    def terminal(self) -> bool:
        """True once the task can change no more (succeeded, failed, cancelled or expired)."""
        return self.status in TERMINAL


def dig(data: Any, dotted: str | None) -> Any:
    """The value at a dotted path (``content.video_url``) of a decoded answer, or None."""
    if not dotted:
        return None
    for part in dotted.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def parse_task(api: TaskAPI, data: Mapping[str, Any], *, task_id: str | None = None) -> Task:
    """A :class:`Task` from one decoded task object of ``api``'s dialect.

    A create answer often holds only the id: the task is then ``queued`` (every API starts a task
    there). ``task_id`` fills in the id when the answer lacks it (a get by id).
    """
    from .errors import parse_error_object

    f = api.fields
    tid = dig(data, f.get("id", "id")) or task_id
    if not tid:
        raise ValueError("the answer holds no task id")
    provider_status = dig(data, f.get("status", "status"))
    provider_status = None if provider_status is None else str(provider_status)
    error = dig(data, f.get("error"))
    code, message, _ = parse_error_object(error) if error not in (None, {}, "") else (None, None, None)
    return Task(id=str(tid), status=api.normalise(provider_status), provider_status=provider_status,
                progress=_int(dig(data, f.get("progress"))), video_url=_str(dig(data, f.get("video_url"))),
                last_frame_url=_str(dig(data, f.get("last_frame_url"))), tokens=_int(dig(data, f.get("tokens"))),
                error_code=code, error_message=message, created_at=api.seconds(dig(data, f.get("created_at"))),
                updated_at=api.seconds(dig(data, f.get("updated_at"))), model=_str(dig(data, f.get("model"))),
                raw=dict(data))


def _finite(value: Any) -> float | None:
    """A number (or numeric string) as a finite float; None for anything else, booleans included."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _finite(value)
    return None if number is None else int(number)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
