"""``submit``: check → build → estimate → journal → create → wait → download, losing nothing.

Every step that costs money is guarded: the request is checked first and refused on errors (unless
``force``) or over the token budget; the task is written to the journal (:mod:`prep.client.journal`)
BEFORE the create request leaves, so a crash, a lost answer or Ctrl-C always leaves a row to resume
from; and a create is never sent twice blindly (the client looks for a task a lost create made, and
an earlier run of the same request that was cut off before the provider answered is looked for in the
provider's task list before anything is sent again).

From Python::

    import prep
    result = prep.submit("request.json", profile="ark", wait=True, download="out.mp4")
    result.task.status, result.video
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._callable import make_callable
from .model import Finding, PrepError

if TYPE_CHECKING:
    from .build import Built
    from .client import Client, Task
    from .client.journal import Entry, Journal
    from .ruleset import RuleBook

__all__ = ["SubmitResult", "TaskFailed", "submit"]


class TaskFailed(PrepError):
    """The task ended without a video (failed, cancelled or expired): one line, exit 2."""

    def __init__(self, task: Task) -> None:
        why = f": {task.error_code}: {task.error_message}" if task.error_code or task.error_message else ""
        super().__init__(f"task {task.id} {task.status}{why}")
        self.task = task


@dataclass
class SubmitResult:
    """What a submit did. ``refused`` says why nothing was sent (check errors, budget), with the
    check's ``findings``; ``preview`` is the request a dry run would have sent (key redacted)."""

    path: str
    profile: str
    findings: tuple[Finding, ...] = ()
    refused: str | None = None
    estimate: int | None = None
    built: Built | None = None
    preview: dict | None = None
    task: Task | None = None
    entry: Entry | None = None
    video: str | None = None
    last_frame: str | None = None
    notes: list[str] = field(default_factory=list)


def submit(request_path: str | os.PathLike, *, profile: str | None = None, source_profile: str | None = None,
           wait: bool = False, download: str | os.PathLike | None = None, dry_run: bool = False,
           max_tokens: int | None = None, force: bool = False, base_url: str | None = None,
           api_key_env: str | None = None, api_key: str | None = None, timeout: float | None = None,
           interval: float = 2.0, book: RuleBook | None = None, rules: tuple[str, ...] = (),
           journal: Journal | None = None, client: Client | None = None, transport=None,
           notify: Callable[[str], None] | None = None, on_update: Callable[[Task], None] | None = None,
           on_created: Callable[[Task], None] | None = None) -> SubmitResult:
    """Check, build and send the request file at ``request_path`` to ``profile`` (default: the
    profile the file is written for), journal the task, and with ``wait`` poll it to the end (at most
    ``timeout`` seconds), with ``download`` write its video there (a file, or a folder) — and its last
    frame beside it when the task has one. ``source_profile`` is the profile the file is written for
    (default: inferred from its shape, as ``check`` does). ``client`` / ``transport`` / ``journal`` are
    for tests and embedding. Raises :class:`~prep.model.PrepError` (one line) when it cannot go on;
    a task that ends without a video raises :class:`TaskFailed` after it is journaled.
    """
    from .build import build
    from .lint import Checker, ReadError
    from .ruleset import RuleBook

    path = os.fspath(request_path)
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if notify is not None:
            notify(text)

    book = book or RuleBook(extra_files=list(rules))
    checker = Checker(book, profile=source_profile, max_tokens=max_tokens)
    try:
        checked = checker.check_source(path)
    finally:
        checker.close()
    if isinstance(checked, ReadError):  # missing or unreadable
        raise PrepError(f"{path}: {checked.message}")
    source = checked.profile or source_profile or "ark"
    target = profile or source
    findings = tuple(checked.findings)
    errors = [f for f in findings if f.severity == "error"]
    estimate = (checked.estimate or {}).get("tokens")
    result = SubmitResult(path, target, findings, estimate=estimate, notes=notes)
    if errors and not force:
        result.refused = f"{len(errors)} error(s) in the request: nothing was sent (--force sends it anyway)"
        return result
    built = build(path, profile=source, to=target, book=book, check=not force)
    result.built = built
    estimate = (built.estimate or {}).get("tokens", estimate)
    result.estimate = estimate
    if max_tokens is not None and estimate is not None and estimate > max_tokens and not force:
        result.refused = f"estimated {estimate:,} tokens exceed --max-tokens {max_tokens:,}: nothing was sent"
        return result

    own_client = client is None
    if client is None:
        from .client import Client

        client = Client(target, api_key=api_key, api_key_env=api_key_env, base_url=base_url, transport=transport,
                        book=book, notify=note, require_key=not dry_run)
    try:
        body = _MatchableBody(built)
        if dry_run:
            result.preview = {**client.preview_create(body), "body": built.preview()}
            return result
        own_journal = journal is None
        if journal is None:
            from .client.journal import Journal

            journal = Journal()
        try:
            task = _create(client, journal, body, built, path, target, estimate, force, note, result)
            if on_created is not None:
                on_created(task)
            if not (wait or download is not None):
                return result
            task = _wait(client, journal, task, timeout, interval, on_update)
            result.task = task
            if task.status != "succeeded":
                raise TaskFailed(task)
            if download is not None:
                result.video, result.last_frame = fetch(client, journal, task, download)
            result.entry = journal.get(task.id)
            return result
        finally:
            if own_journal:
                journal.close()
    finally:
        if own_client:
            client.close()


def _create(client: Client, journal: Journal, body: _MatchableBody, built: Built, path: str, profile: str,
            estimate: int | None, force: bool, note: Callable[[str], None], result: SubmitResult) -> Task:
    """Journal, then create (or adopt the task an interrupted earlier run of this request made)."""
    from .client import APIError, AmbiguousCreateError

    request_sha = _file_sha256(path)
    known = journal.known_ids(profile, client.base_url)
    adopted = _adopt_interrupted(client, journal, request_sha, profile, body, known, force, note)
    if adopted is not None:
        entry, task = adopted
    else:
        entry = journal.begin(profile, client.base_url, built.model, os.path.abspath(path), request_sha,
                              built.sha256, estimate)
        try:
            task = client.tasks.create(body, known_ids=known)
        except AmbiguousCreateError as exc:
            journal.note(entry.local_id, f"answer lost: {exc.message}")
            raise
        except APIError as exc:
            journal.mark_failed_create(entry.local_id, str(exc))
            raise
        except KeyboardInterrupt:
            journal.note(entry.local_id, "interrupted while creating: the next submit of this request looks for "
                                         "the task before sending again")
            raise
    entry = journal.attach(entry.local_id, task.id, task.status, task.created_at)
    result.task, result.entry = task, journal.update_from(task)
    return task


def _adopt_interrupted(client: Client, journal: Journal, request_sha: str, profile: str, body: _MatchableBody,
                       known: set[str], force: bool, note: Callable[[str], None]) -> tuple[Entry, Task] | None:
    """An earlier submit of the same request to the same API that was cut off before the provider
    answered may have made a task: find it in the provider's list and take it, rather than pay twice."""
    from .client import AmbiguousCreateError
    from .client.recovery import candidates

    earlier = [e for e in journal.pending() if e.request_sha256 == request_sha and e.profile == profile
               and e.base_url == client.base_url]
    if not earlier:
        return None
    entry = earlier[0]
    if client.api.list is None:
        if force:
            note(f"an earlier submit of this request (journal #{entry.local_id}) was cut off before the provider "
                 "answered; --force: sending it again")
            journal.mark_failed_create(entry.local_id, "superseded by a forced submit")
            return None
        raise AmbiguousCreateError(
            f"an earlier submit of this request (journal #{entry.local_id}, {entry.submitted_at}) was cut off before "
            f"the provider answered, and profile {profile} has no task list to look for the task it may have made: "
            "check the provider's console, then submit with --force to send it again")
    listed = client.tasks.list(limit=client.api.list_limit_max or 100)
    found = candidates(listed, params=body.params, sent_at=_unix(entry.submitted_at) + (client.server_offset or 0.0),
                       known_ids=known)
    if len(found) > 1 and not force:
        raise AmbiguousCreateError(
            f"an earlier submit of this request (journal #{entry.local_id}) was cut off, and {len(found)} recent "
            f"tasks match it ({', '.join(t.id for t in found)}): check which is yours before sending it again",
            candidates=tuple(t.id for t in found))
    if len(found) == 1:
        note(f"an earlier submit of this request (journal #{entry.local_id}) was cut off before the provider "
             f"answered; found its task {found[0].id} in the task list: resuming it")
        return entry, found[0]._replace(adopted=True)
    note(f"an earlier submit of this request (journal #{entry.local_id}) was cut off before the provider answered, "
         "and the task list shows no task made from it: sending it now")
    journal.mark_failed_create(entry.local_id, "not created (the provider's task list shows none)")
    return None


def _wait(client: Client, journal: Journal, task: Task, timeout: float | None, interval: float,
          on_update: Callable[[Task], None] | None) -> Task:
    from .client import WaitTimeout

    def update(current: Task) -> None:
        journal.update_from(current)
        if on_update is not None:
            on_update(current)

    if task.terminal:
        return task
    try:
        final = client.tasks.wait(task.id, timeout=timeout, interval=interval, on_update=update)
    except WaitTimeout as exc:
        last = getattr(exc, "task", None)
        if last is not None:
            journal.update_from(last)
        raise
    journal.update_from(final)
    return final


def fetch(client: Client, journal: Journal, task: Task, where: str | os.PathLike) -> tuple[str, str | None]:
    """Download ``task``'s video to ``where`` (a file, or an existing folder for ``<id>.mp4``), and its
    last frame beside it (``<name>.last-frame.png``) when it has one; journal both paths."""
    target = os.fspath(where)
    if os.path.isdir(target):
        target = os.path.join(target, f"{task.id}.mp4")
    stem = os.path.splitext(target)[0]
    frame = f"{stem}.last-frame.png" if task.last_frame_url else None
    video = client.download(task, target, last_frame_path=frame)
    journal.set_download(task.id, os.path.abspath(video), os.path.abspath(frame) if frame else None)
    return video, frame


class _MatchableBody:
    """A built request as the client's streamed body, with its small top-level fields as ``params``
    (what a lost create is matched on in the provider's task list; data: URLs are left out)."""

    def __init__(self, built: Built) -> None:
        self._built = built
        self.length = built.length
        self.params: Mapping[str, Any] = {k: v for k, v in built.document.items()
                                          if not isinstance(v, list) and k != "content"}

    def iter_bytes(self):
        return self._built.iter_bytes()


def _unix(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


make_callable(__name__, "submit")
