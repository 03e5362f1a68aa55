"""Answers in each dialect's shape: task objects, lists and error bodies.

Where a field lives, what each status is called and the unit of times all come from the profile's
``[profile.api]`` table (``fields``, ``statuses``, ``time_unit``), so the emulator answers what the client
reads. What the table does not say (Ark's ``usage.completion_tokens`` and echoed parameters, the
``object`` names of the OpenAI-style shapes, ``seconds`` and ``size``) is added per dialect below, from
the providers' docs (seeds 000–004, PROVIDER-FACTS "Task API").
"""

from __future__ import annotations

from .tasks import State, Task

# The `type` of an error body per HTTP status: Ark's names and the OpenAI-style ones.
_ARK_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
              429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable"}
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "invalid_request_error", 405: "invalid_request_error", 429: "rate_limit_error"}
# The error code of each injected server error.
SERVER_CODES = {500: "InternalServiceError", 502: "BadGateway", 503: "ServiceUnavailable"}


def error_body(dialect: str, status: int, code: str, message: str, param: str | None = None) -> dict:
    """The provider's error body: Ark's ``{"error": {code, message, param, type}}`` for the content
    dialect, ``{"error": {message, type, code, param}}`` for the OpenAI-style ones (same codes)."""
    if dialect == "content":
        return {"error": {"code": code, "message": message, "param": param or "",
                          "type": _ARK_TYPES.get(status, "InternalServerError")}}
    return {"error": {"message": message, "type": _OPENAI_TYPES.get(status, "server_error"), "code": code,
                      "param": param}}


def param_of(pointer: str) -> str:
    """An RFC 6901 pointer as a parameter name: ``/content/10/image_url/url`` → ``content[10].image_url.url``."""
    out = ""
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def status_names(api: dict) -> dict[str, str]:
    """Canonical status → the provider's name for it (the first one the table lists)."""
    names: dict[str, str] = {}
    for provider, canonical in api.get("statuses", {}).items():
        names.setdefault(canonical, provider)
    return names


def _put(doc: dict, path: str, value: object) -> None:
    *parents, last = path.split(".")
    for key in parents:
        doc = doc.setdefault(key, {})
    doc[last] = value


def _time(seconds: float, unit: str) -> int:
    return int(seconds * 1000) if unit == "ms" else int(seconds)


def task_body(task: Task, now_state: State, data: dict, urls: dict[str, str], url_expires: int | None, *,
              listing: bool = False) -> dict:
    """``task`` as the profile's get (or list item, ``listing``) answers it. ``urls`` holds the signed
    ``video_url`` and ``last_frame_url`` of a succeeded task (empty otherwise)."""
    dialect, api = data.get("dialect", "content"), data["api"]
    fields, unit = api["fields"], api.get("time_unit", "s")
    names = status_names(api)
    status = now_state.status
    error = None
    if status == "failed":
        error = {"code": task.fail_code, "message": f"the emulator failed this task as its prompt asked "
                                                    f"(#emulate:fail={task.fail_code})"}
    name = names.get(status)
    if name is None:  # a status this dialect has no name for (openai-videos: expired) reads as a failure
        name, error = names["failed"], {"code": status, "message": f"the task {status}"}
    doc: dict = {}
    _put(doc, fields["id"], task.id)
    _put(doc, fields["model"], task.model)
    _put(doc, fields["status"], name)
    if "progress" in fields:
        _put(doc, fields["progress"], now_state.progress)
    succeeded = status == "succeeded"
    if succeeded:
        _put(doc, fields["video_url"], urls["video_url"])
        if task.return_last_frame and "last_frame_url" in fields and "last_frame_url" in urls:
            _put(doc, fields["last_frame_url"], urls["last_frame_url"])
        if "tokens" in fields:
            _put(doc, fields["tokens"], task.tokens)
    _put(doc, fields["error"], error)
    _put(doc, fields["created_at"], _time(task.created, unit))
    if dialect == "content":
        _put(doc, fields["updated_at"], _time(now_state.updated, unit))
    else:  # the OpenAI-style shapes only say when a task completed
        _put(doc, fields["updated_at"], _time(now_state.updated, unit) if now_state.terminal else None)
    _EXTRAS.get(dialect, _no_extras)(doc, task, succeeded, url_expires, unit, listing)
    return doc


def _content_extras(doc: dict, task: Task, succeeded: bool, url_expires: int | None, unit: str,
                    listing: bool) -> None:
    if succeeded:
        doc.setdefault("usage", {})["completion_tokens"] = task.tokens
    # duration is a string in Get and an integer in List (PROVIDER-FACTS "Task API")
    doc.update(seed=task.seed, resolution=task.resolution, ratio=task.ratio,
               duration=task.seconds if listing else str(task.seconds), framespersecond=task.fps,
               generate_audio=task.generate_audio)


def _flat_extras(doc: dict, task: Task, succeeded: bool, url_expires: int | None, unit: str,
                 listing: bool) -> None:
    doc["task_id"] = task.id
    doc["object"] = "video.generation.job"


def _openai_extras(doc: dict, task: Task, succeeded: bool, url_expires: int | None, unit: str,
                   listing: bool) -> None:
    doc["object"] = "video"
    doc["seconds"] = str(task.seconds)
    doc["size"] = f"{task.width}x{task.height}"
    doc["expires_at"] = _time(url_expires, unit) if succeeded and url_expires is not None else None
    doc.setdefault("metadata", {})


def _no_extras(*args: object) -> None:
    return None


_EXTRAS = {"content": _content_extras, "video-generations": _flat_extras, "openai-videos": _openai_extras}


def created_body(dialect: str, task_doc: dict) -> dict:
    """The answer to a create: Ark answers the id alone, the OpenAI-style APIs the task object."""
    return {"id": task_doc["id"]} if dialect == "content" else task_doc


def list_body(dialect: str, api: dict, items: list[dict], total: int, has_more: bool) -> dict:
    """A list answer: Ark's ``{total, items[]}``, OpenAI's ``{object: list, data[], has_more}``."""
    key = api.get("list_items", "items")
    if dialect == "content":
        return {"total": total, key: items}
    return {"object": "list", key: items, "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": has_more}
