"""The emulator's tasks: a clock tests can move, one record per task, and the store that holds them.

A task's status is never stored: it is computed from the clock (queued for the first fifth of
``task_seconds``, running with rising progress until ``task_seconds``, then its outcome), so moving the
clock is all a test does to walk a task through its life. Only a cancellation is an event.
"""

from __future__ import annotations

import dataclasses
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable

# The share of the run a task spends queued before it starts running.
QUEUED_SHARE = 0.2
# `#emulate:slow` keeps a task running until the clock passes this many times task_seconds.
SLOW_FACTOR = 10

_ALNUM = string.ascii_lowercase + string.digits


class Clock:
    """Seconds since the epoch, from ``base`` (default: the real time) plus whatever was advanced."""

    def __init__(self, base: Callable[[], float] | None = None):
        self._base = base or time.time
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._base() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward ``seconds`` and return the new time."""
        with self._lock:
            self._offset += seconds
        return self.now()


def new_id(style: str, now: float) -> str:
    """A task id in the provider's style: ``ark`` (cgt-YYYYMMDDhhmmss-xxxxx), ``openai`` (video_…) or
    ``flat`` (task_…). Random from the OS, never from the fault seed: two emulators must not collide."""
    if style == "openai":
        return "video_" + secrets.token_hex(16)
    if style == "flat":
        return "task_" + "".join(secrets.choice(_ALNUM) for _ in range(24))
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    return f"cgt-{stamp}-" + "".join(secrets.choice(_ALNUM) for _ in range(5))


@dataclasses.dataclass
class Task:
    """One generation task as the emulator knows it (status comes from :func:`state`)."""

    id: str
    profile: str
    model: str
    created: float
    run_seconds: float
    outcome: str = "succeed"  # succeed | fail | expire | slow
    fail_code: str | None = None
    tokens: int = 0
    width: int = 0
    height: int = 0
    seconds: int = 0
    resolution: str | None = None
    ratio: str | None = None
    seed: int = 0
    generate_audio: bool = True
    return_last_frame: bool = False
    fps: int = 0
    seq: int = 0
    cancelled_at: float | None = None
    url_expires: int | None = None  # when the current signed result URLs stop working (unix s)


@dataclasses.dataclass(frozen=True)
class State:
    """Where a task is at one moment: a canonical status (queued, running, succeeded, failed, cancelled,
    expired), its progress in percent, and when it last changed."""

    status: str
    progress: int
    updated: float

    @property
    def terminal(self) -> bool:
        return self.status not in ("queued", "running")


def state(task: Task, now: float) -> State:
    """The state of ``task`` at time ``now``."""
    if task.cancelled_at is not None:
        return State("cancelled", 0, task.cancelled_at)
    span = task.run_seconds * (SLOW_FACTOR if task.outcome == "slow" else 1)
    started = task.created + task.run_seconds * QUEUED_SHARE
    finished = task.created + span
    if now >= finished:
        status = {"fail": "failed", "expire": "expired"}.get(task.outcome, "succeeded")
        return State(status, 100, finished)
    if now < started:
        return State("queued", 0, task.created)
    progress = int(100 * (now - started) / (finished - started))
    return State("running", min(99, max(1, progress)), started)


class TaskStore:
    """Every task by id, behind one lock held only for dictionary work (never during I/O)."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def add(self, make: Callable[[], Task]) -> Task:
        """Store the task ``make`` builds, drawing again in the unlikely case its id is taken."""
        with self._lock:
            task = make()
            while task.id in self._tasks:
                task = make()
            self._seq += 1
            task.seq = self._seq
            self._tasks[task.id] = task
            return task

    def get(self, profile: str, task_id: str) -> Task | None:
        """The task ``task_id`` if it was created under ``profile`` (another profile's task is unknown)."""
        with self._lock:
            task = self._tasks.get(task_id)
        return task if task is not None and task.profile == profile else None

    def cancel(self, profile: str, task_id: str, now: float) -> str:
        """Ark's DELETE: cancel a queued task, delete a finished one. Returns ``cancelled``,
        ``deleted``, ``running`` (refused) or ``missing``."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.profile != profile:
                return "missing"
            status = state(task, now).status
            if status == "queued":
                task.cancelled_at = now
                return "cancelled"
            if status == "running":
                return "running"
            del self._tasks[task_id]
            return "deleted"

    def renew_urls(self, task: Task, now: float, ttl: float) -> int:
        """The expiry of ``task``'s result URLs, issuing new ones when the old have expired."""
        with self._lock:
            if task.url_expires is None or now >= task.url_expires:
                task.url_expires = int(now + ttl)
            return task.url_expires

    def listing(self, profile: str) -> list[Task]:
        """``profile``'s tasks, newest first."""
        with self._lock:
            tasks = [t for t in self._tasks.values() if t.profile == profile]
        tasks.sort(key=lambda t: (t.created, t.seq), reverse=True)
        return tasks

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)

    def clear(self) -> None:
        with self._lock:
            self._tasks.clear()


def pick(tasks: Iterable[Task], now: float, *, statuses: set[str] | None = None, ids: set[str] | None = None,
         model: str | None = None) -> list[Task]:
    """The tasks matching a list filter (canonical statuses, ids, model); each filter is optional."""
    out = []
    for t in tasks:
        if ids and t.id not in ids or model and t.model != model:
            continue
        if statuses and state(t, now).status not in statuses:
            continue
        out.append(t)
    return out
