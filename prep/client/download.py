"""Downloading a finished task's video (and last frame): streamed, checked, written atomically.

The bytes go to a temp file beside the target and are renamed over it only once complete: as long
as ``Content-Length`` promised, and starting like a video (or, for the last frame, an image). A
cut-off transfer is fetched again from the start; an expired signed link (403/404/410 from storage)
sends the client back to the task for a fresh one. Signed links get no key and no key-bearing
header; only a documented API path (OpenAI-style ``/v1/videos/{id}/content``) carries the key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx

from ..paths import atomic_writer
from .errors import DownloadError
from .http import short_url, transient
from .retry import backoff, retry_delay
from .task import Task

if TYPE_CHECKING:
    from .http import Core
    from .task import TaskAPI

MAX_REFRESHES = 2  # fresh links asked of the task after an expired one
SNIFF_BYTES = 64 * 1024  # enough for every container the sniffer knows (Matroska needs the most)
VIDEO_FORMATS = ("mp4", "mov", "webm")  # what a generated video may be
_EXPIRED = (403, 404, 410)
_EXTENSIONS = {"jpeg": "jpg"}


class _Expired(Exception):
    """Storage said the link is no longer good."""


class _Short(Exception):
    """The transfer ended before the promised length (or broke off): worth one more try from scratch."""


def download(core: Core, api: TaskAPI, get: Callable[[str], Task], task: Task, path: str | os.PathLike[str], *,
             last_frame_path: str | os.PathLike[str] | None = None) -> str:
    """Write ``task``'s video to ``path`` (a file, or a folder to put ``<id>.<ext>`` in) and return
    the path written; with ``last_frame_path``, the last frame too when the task has one."""
    if task.status != "succeeded":
        task = get(task.id)  # the record given may be older than the task
    if task.status != "succeeded":
        raise DownloadError(f"task {task.id} is {task.status}: only a succeeded task has a video to download")
    written = _fetch(core, api, get, task, "video_url", os.fspath(path), kind="video")
    if last_frame_path is not None:
        if not task.last_frame_url:
            raise DownloadError(f"task {task.id} has no last frame (was return_last_frame set?)")
        _fetch(core, api, get, task, "last_frame_url", os.fspath(last_frame_path), kind="image")
    return written


def _fetch(core: Core, api: TaskAPI, get: Callable[[str], Task], task: Task, field: str, path: str, *,
           kind: str) -> str:
    """Try the task's link, then fresh links from the task, then the API's content endpoint (video only)."""
    tried: list[str] = []
    refreshes = 0
    current = task
    while True:
        source = _next_source(core, api, current, field, kind, tried)
        if source is None:
            if not tried:
                raise DownloadError(f"task {task.id} names no {field.replace('_', ' ')} to download")
        else:
            url, with_key = source
            tried.append(url)
            try:
                return _stream_to_file(core, url, with_key, path, kind=kind, task_id=task.id)
            except _Expired:
                pass
        if refreshes >= MAX_REFRESHES:
            raise DownloadError(f"the link to task {task.id}'s {kind} expired and the task has no fresh one")
        refreshes += 1
        current = get(task.id)


def _next_source(core: Core, api: TaskAPI, task: Task, field: str, kind: str,
                 tried: list[str]) -> tuple[str, bool] | None:
    url = getattr(task, field)
    if url and url not in tried:
        return url, False
    if kind == "video" and api.content is not None:
        content = str(core.api.build_request(api.content.method, api.content.url_path(task.id)).url)
        if content not in tried:
            return content, True
    return None


def _stream_to_file(core: Core, url: str, with_key: bool, path: str, *, kind: str, task_id: str) -> str:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download task {task_id}'s {kind} from a {scheme or 'relative'} link: "
                            "only http(s) links are fetched")
    attempt = 0
    while True:
        try:
            with core.stream(url, with_key=with_key) as resp:
                from_storage = not (with_key and core.is_api_url(resp.url))
                if resp.status_code in _EXPIRED and from_storage:
                    raise _Expired()
                if (resp.status_code == 429 or resp.status_code >= 500) and attempt < core.max_retries:
                    resp.read()
                    core.sleep(retry_delay(attempt, resp.headers, core.rng, core.wall_clock()))
                    attempt += 1
                    continue
                if resp.status_code >= 400:
                    resp.read()
                    err = core.error_from(resp)
                    raise DownloadError(f"downloading task {task_id}'s {kind} from {short_url(resp.url)}: {err}",
                                        status_code=resp.status_code, code=err.code) from None
                return _write(resp, path, kind=kind, task_id=task_id)
        except (_Short, httpx.RequestError) as exc:
            if isinstance(exc, httpx.RequestError) and not transient(exc):
                raise DownloadError(f"downloading task {task_id}'s {kind} from {short_url(url)}: "
                                    f"{type(exc).__name__}") from None
            if attempt >= core.max_retries:
                what = str(exc) if isinstance(exc, _Short) else type(exc).__name__
                raise DownloadError(f"downloading task {task_id}'s {kind} from {short_url(url)} failed "
                                    f"{attempt + 1} times; the last: {what}") from None
            core.sleep(backoff(attempt, core.rng))
            attempt += 1


def _write(resp: httpx.Response, path: str, *, kind: str, task_id: str) -> str:
    """Stream the answer into a temp file beside ``path`` and rename it over ``path`` once checked."""
    expected = _content_length(resp)
    chunks = resp.iter_bytes()
    head = _read_head(chunks)
    fmt = _check_kind(head, kind, task_id, short_url(resp.url))
    if os.path.isdir(path):
        path = os.path.join(path, f"{task_id}.{_EXTENSIONS.get(fmt, fmt)}")
    with atomic_writer(path) as fh:  # removed on any error, Ctrl-C included; renamed once complete
        written = fh.write(head)
        for chunk in chunks:
            written += fh.write(chunk)
        # Content-Length counts the bytes as sent: compressed ones are counted by httpx as they arrive.
        encoded = resp.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        got = resp.num_bytes_downloaded if encoded else written
        if expected is not None and got != expected:
            raise _Short(f"got {got} of the {expected} bytes promised")
    return path


def _read_head(chunks: Iterator[bytes]) -> bytes:
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return bytes(head)


def _check_kind(head: bytes, kind: str, task_id: str, where: str) -> str:
    """The format of what came back, or DownloadError when it is not the ``kind`` expected."""
    from ..inspect.sniff import sniff

    found_kind, fmt = sniff(head)
    ok = found_kind == kind and fmt is not None and (kind != "video" or fmt in VIDEO_FORMATS)
    if not ok or fmt is None:
        looks = "nothing" if not head else f"{found_kind} ({fmt})" if fmt else _describe(head)
        raise DownloadError(f"what {where} sent for task {task_id}'s {kind} is not a{'n' if kind == 'image' else ''} "
                            f"{kind}: it is {looks}")
    return fmt


def _describe(head: bytes) -> str:
    text = head[:64].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if text.startswith((b"{", b"[")):
        return "JSON"
    if text.startswith((b"<?xml", b"<error")):
        return "XML (a storage error page?)"
    return "not a format it knows"


def _content_length(resp: httpx.Response) -> int | None:
    """The promised length of the body as sent, or None."""
    try:
        number = int(resp.headers.get("content-length", "").strip())
    except ValueError:
        return None
    return number if number >= 0 else None
