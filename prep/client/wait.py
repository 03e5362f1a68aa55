"""Waiting for a task: polling with a growing interval, and the one-line progress display for a terminal.

The clock and sleep are injected, so tests run a ten-minute wait in no time. Ctrl-C is not caught:
the task keeps running at the provider and the CLI prints the command that resumes the wait.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any, Self

from .errors import WaitTimeout
from .task import Task

GROWTH = 1.5  # each poll waits this much longer than the last, up to the cap


def wait(get: Callable[[str], Task], task_id: str, *, timeout: float | None = None, interval: float = 2.0,
         max_interval: float = 15.0, on_update: Callable[[Task], None] | None = None,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Task:
    """Poll ``get(task_id)`` until the task is terminal and return it.

    The pause between polls starts at ``interval`` and grows to ``max_interval``. ``on_update(task)``
    is called with the first answer and with each one whose status or progress changed. At ``timeout``
    seconds (None: no limit) it polls one last time and raises :class:`WaitTimeout` with the last task.
    """
    if interval <= 0 or max_interval <= 0:
        raise ValueError("poll intervals are positive numbers of seconds")
    start = clock()
    deadline = None if timeout is None else start + max(0.0, timeout)
    delay = interval
    seen: tuple[Any, ...] | None = None
    while True:
        task = get(task_id)
        state = (task.status, task.provider_status, task.progress)
        if state != seen:
            seen = state
            if on_update is not None:
                on_update(task)
        if task.terminal:
            return task
        now = clock()
        if deadline is not None and now >= deadline:
            progress = f", {task.progress}%" if task.progress is not None else ""
            raise WaitTimeout(f"task {task.id} is still {task.status}{progress} after {format_elapsed(now - start)}; "
                              "it goes on at the provider", task)
        pause = delay if deadline is None else min(delay, deadline - now)
        sleep(max(0.0, pause))
        delay = min(max_interval, delay * GROWTH)


def format_elapsed(seconds: float) -> str:
    """``42 s``, ``3m 05s``, ``1h 02m``: short, for a status line."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def status_line(task: Task, elapsed: float) -> str:
    """``cgt-…  running  1m 05s  40%``: what the display shows for one task."""
    parts = [task.id, task.status, format_elapsed(elapsed)]
    if task.progress is not None:
        parts.append(f"{task.progress}%")
    if task.status == "failed" and (task.error_code or task.error_message):
        parts.append(": ".join(x for x in (task.error_code, task.error_message) if x))
    return "  ".join(parts)


class ProgressLine:
    """An ``on_update`` for :meth:`Tasks.wait` that shows the task's state.

    On a terminal: one line rewritten in place (``\\r``), ended when the task is terminal or the
    display is closed. Elsewhere (a log, CI): one plain line per status change. Use it as a context
    manager so a Ctrl-C leaves the cursor on a fresh line.
    """

    def __init__(self, stream: IO[str] | None = None, *, clock: Callable[[], float] = time.monotonic,
                 tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = clock()
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty()) if tty is None else tty
        self._width = 0
        self._open = False
        self._status: str | None = None

    def __call__(self, task: Task) -> None:
        line = status_line(task, self.clock() - self.start)
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
            self._open = True
            if task.terminal:
                self.close()
        elif task.status != self._status:
            self.stream.write(line + "\n")
        self._status = task.status
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line, if one is showing."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._width = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
