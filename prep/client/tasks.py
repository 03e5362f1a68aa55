"""``client.tasks``: create, get, list, cancel and wait, in whichever dialect the profile speaks.

A create is the one call that costs money, so it is the one that is never sent twice blindly: it is
sent again only when the server provably did not take it (429, or the connection never opened), or
after a listing of recent tasks proved that the lost attempt created nothing. A lost attempt that
did create a task is found in that listing and adopted; when the client cannot tell, it raises
:class:`~prep.client.errors.AmbiguousCreateError` and sends nothing more.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from ..model import PrepError
from .body import Body, as_body, params_of
from .errors import AmbiguousCreateError, APIError
from .recovery import candidates
from .retry import backoff
from .task import Task, TaskAPI, parse_task

if TYPE_CHECKING:
    from .http import Core, CreateOutcome

DEFAULT_LIST_LIMIT = 20


class Tasks:
    """The task resource of a :class:`~prep.client.Client` (``client.tasks``)."""

    def __init__(self, core: Core, api: TaskAPI, notify: Callable[[str], None],
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._core, self._api, self._notify = core, api, notify
        self._clock, self._sleep = clock, sleep
        self._created: set[str] = set()  # ids this client made or adopted: never adopted twice

    # ----------------------------------------------------------------------------------------------

    def create(self, body: Mapping[str, Any] | bytes | Body, *, known_ids: Collection[str] = ()) -> Task:
        """Create a task from a request body (a dict, JSON bytes or a streamed :class:`Body`) and
        return it (``queued`` until polled, when the answer holds only the id).

        ``known_ids`` are ids of tasks that already exist for other requests (the journal's): a lost
        create is never matched to them. A task found after a lost answer comes back with
        ``adopted=True``; every such decision is also told through ``notify``.
        Raises :class:`AmbiguousCreateError` when a task may exist but cannot be identified.
        """
        body = as_body(body)
        params = params_of(body)
        known = set(known_ids)
        first_sent: float | None = None
        attempt = 0
        while True:
            sent_at = self._core.wall_clock()
            outcome = self._core.create_once(self._api.create.method, self._api.create.url_path(), body)
            if outcome.kind == "created":
                try:
                    task = parse_task(self._api, outcome.data)
                except ValueError:
                    outcome = outcome._replace(kind="ambiguous", error=APIError(
                        "the create answer held no task id"))
                else:
                    self._created.add(task.id)
                    return task
            error = outcome.error
            assert error is not None
            if outcome.kind == "not_taken":
                if attempt >= self._core.max_retries:
                    raise error
                delay = outcome.delay or backoff(attempt, self._core.rng)
                self._notify(f"the create was not taken ({error}): sending it again in {delay:.1f} s")
                self._sleep(delay)
                attempt += 1
                continue
            first_sent = sent_at if first_sent is None else first_sent
            found = self._recover(error, params, first_sent, known | self._created, attempt, outcome)
            if found is not None:
                self._created.add(found.id)
                return found
            if attempt >= self._core.max_retries:
                tries = f"{attempt + 1} tries" if attempt else "1 try"
                raise type(error)(f"no task was created after {tries}; the last: {error.message}",
                                  status_code=error.status_code, code=error.code)
            self._notify(f"the create failed ({error}) and the task list shows no task made from it: "
                         "sending it again")
            attempt += 1

    def _recover(self, error: APIError, params: Mapping[str, Any] | None, sent_at: float,
                 known: Collection[str], attempt: int, outcome: CreateOutcome) -> Task | None:
        """After an answer was lost: the task the lost create made (adopted), or None when a listing
        proves it made none. Raises :class:`AmbiguousCreateError` when neither can be shown."""
        lead = f"the create may have reached the provider ({error})"
        if self._api.list is None:
            raise AmbiguousCreateError(
                f"{lead}, and profile {self._api.profile} has no task list to look for it: check the provider's "
                "console before sending the request again", status_code=error.status_code, code=error.code)
        # Give the server a moment to finish what it may be doing with the request before looking.
        self._sleep(outcome.delay or backoff(attempt, self._core.rng))
        try:
            listed = self.list(limit=self._api.list_limit_max or DEFAULT_LIST_LIMIT)
        except APIError as exc:
            raise AmbiguousCreateError(
                f"{lead}, and listing recent tasks to find it failed too ({exc}): check the provider's console "
                "before sending the request again", status_code=error.status_code, code=error.code) from None
        # sent_at is on our clock; the listing's Date header says how far the provider's is from it.
        found = candidates(listed, params=params, sent_at=sent_at + (self._core.server_offset or 0.0), known_ids=known)
        if len(found) == 1:
            task = found[0]._replace(adopted=True)
            when = time.strftime("%H:%M:%S", time.localtime(task.created_at)) if task.created_at else "an unknown time"
            self._notify(f"the create's answer was lost ({error}); found task {task.id} created at {when} "
                         "matching what was sent: adopting it")
            return task
        if found:
            ids = ", ".join(t.id for t in found)
            raise AmbiguousCreateError(
                f"{lead}, and {len(found)} recent tasks match what was sent ({ids}): check which is yours in the "
                "provider's console before sending the request again",
                candidates=tuple(t.id for t in found), status_code=error.status_code, code=error.code)
        return None

    # ----------------------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        """The task as the provider sees it now."""
        _check_id(task_id)
        ep = self._api.get
        data = self._core.read(ep.method, ep.url_path(task_id))
        return self._parse(data, task_id)

    def list(self, limit: int = DEFAULT_LIST_LIMIT, ids: Collection[str] | None = None) -> builtins.list[Task]:
        """Recent tasks, newest first as the provider orders them, at most ``limit`` (capped by the
        profile's page size). With ``ids``, only those tasks (filtered by the provider when it can)."""
        ep = self._api.list
        if ep is None:
            raise PrepError(f"profile {self._api.profile} does not document a list endpoint: "
                            "look tasks up one by one (status ID)")
        params: list[tuple[str, str]] = []
        wanted = set(ids) if ids is not None else None
        cap = self._api.list_limit_max or int(limit)
        # Ids the provider cannot filter on are looked for in the largest page it gives.
        page = cap if wanted and not self._api.list_ids_param else max(int(limit), len(wanted or ()))
        if self._api.list_limit_param:
            params.append((self._api.list_limit_param, str(max(1, min(page, cap)))))
        if wanted and self._api.list_ids_param:
            params.extend((self._api.list_ids_param, i) for i in sorted(wanted))
        data = self._core.read(ep.method, ep.url_path(), params=params or None)
        items = data.get(self._api.list_items) if isinstance(data, Mapping) else data
        if not isinstance(items, list):
            raise APIError(f"the task list of profile {self._api.profile} has no '{self._api.list_items}' array")
        tasks = [self._parse(item) for item in items if isinstance(item, Mapping)]
        return [t for t in tasks if wanted is None or t.id in wanted][: max(1, int(limit))]

    def cancel(self, task_id: str) -> None:
        """Cancel a queued task (Ark also deletes a finished one). Retried like a read: it is idempotent."""
        _check_id(task_id)
        ep = self._api.cancel
        if ep is None:
            raise PrepError(f"profile {self._api.profile} does not document a cancel endpoint: "
                            "cancel the task in the provider's console")
        self._core.read(ep.method, ep.url_path(task_id), json_body={} if ep.method in ("POST", "DELETE") else None)

    def wait(self, task_id: str, *, timeout: float | None = None, interval: float = 2.0,
             max_interval: float = 15.0, on_update: Callable[[Task], None] | None = None) -> Task:
        """Poll until the task is terminal and return it (see :func:`prep.client.wait.wait`)."""
        from .wait import wait

        return wait(self.get, task_id, timeout=timeout, interval=interval, max_interval=max_interval,
                    on_update=on_update, clock=self._clock, sleep=self._sleep)

    def _parse(self, data: Any, task_id: str | None = None) -> Task:
        if not isinstance(data, Mapping):
            raise APIError(f"the provider answered {type(data).__name__}, not a task object")
        try:
            return parse_task(self._api, data, task_id=task_id)
        except ValueError:
            raise APIError("the provider's answer holds no task id") from None


def _check_id(task_id: str) -> None:
    if not isinstance(task_id, str) or not task_id.strip() or any(c in task_id for c in "/?#\r\n"):
        raise PrepError(f"{task_id!r} is not a task id")
