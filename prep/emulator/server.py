"""Start and stop the emulator: :class:`Emulator` for tests and programs, :func:`serve` for the CLI."""

from __future__ import annotations

import errno
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Self, TextIO

from ..model import PrepError
from ..ruleset import RuleBook
from . import routes
from .app import App
from .faults import Faults
from .handler import Server
from .tasks import Clock

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_TASK_SECONDS = 5.0


class Emulator:
    """A local emulator of every profile's task API, on 127.0.0.1.

    ``profile``: one profile's endpoints, or ``"all"``. ``task_seconds``: how long a task takes on the
    emulator's clock (0: done at once). ``fault_rate``/``faults``/``seed``: the share of API requests
    that go wrong, the kinds drawn (default: all of ``faults.KINDS``) and the seed of the draw.
    ``url_seconds``: lifetime of result links (default: the profile's ``download_ttl_hours``).
    ``clock``: a callable giving the time in seconds (default: the real time); ``advance`` moves it.
    ``api_key``: the only bearer key accepted (default: any non-empty key).
    """

    def __init__(self, profile: str = "all", task_seconds: float = DEFAULT_TASK_SECONDS, fault_rate: float = 0.0,
                 seed: int | None = None, url_seconds: float | None = None,
                 clock: Callable[[], float] | Clock | None = None, api_key: str | None = None, *,
                 faults: Iterable[str] | None = None, port: int = 0, book: RuleBook | None = None):
        self.book = book or RuleBook()
        if profile != "all" and profile not in self.book.names:
            raise PrepError(f"unknown profile {profile!r}; known: all, {', '.join(self.book.names)}")
        if task_seconds < 0:
            raise PrepError(f"task seconds must be 0 or more, not {task_seconds}")
        profiles = list(self.book.names) if profile == "all" else [profile]
        self.port = port
        self.app = App(self.book, profiles, task_seconds=task_seconds, url_seconds=url_seconds,
                       clock=clock if isinstance(clock, Clock) else Clock(clock),
                       faults=Faults(fault_rate, faults, seed), api_key=api_key)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def profiles(self) -> list[str]:
        return list(self.app.profiles)

    @property
    def url(self) -> str:
        """The server's root URL (``http://127.0.0.1:PORT``); empty before :meth:`start`."""
        return self.app.server_url

    def start(self) -> str:
        """Listen (``port`` 0 picks a free one) and serve from a background thread; returns :attr:`url`."""
        if self._server is not None:
            return self.url
        try:
            server = Server((HOST, self.port), self.app)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PrepError(f"port {self.port} on {HOST} is in use; choose another with --port "
                                f"(0 picks a free one)") from None
            raise PrepError(f"cannot listen on {HOST}:{self.port}: {exc.strerror or exc}") from None
        self._server = server
        self.app.server_url = f"http://{HOST}:{server.server_port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="seedance-prep-emulator", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, end open connections and free the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def base_url(self, profile: str) -> str:
        """The API base URL of ``profile`` on this emulator (what a client's ``base_url`` should be)."""
        return routes.base_url(self.url, profile, self.book)

    @property
    def stats(self) -> dict:
        """Counters: requests, creations per profile, faults per kind, responses per status, downloads,
        storage requests, Authorization headers seen on storage links, storage requests holding the key."""
        return self.app.stats.snapshot()

    @property
    def faults(self) -> Faults:
        """The fault settings: ``configure(rate, kinds)``, ``slow_factor``, ``retry_after``."""
        return self.app.faults

    @property
    def clock(self) -> Clock:
        return self.app.clock

    def advance(self, seconds: float) -> float:
        """Move the emulator's clock forward; returns the new time."""
        return self.app.clock.advance(seconds)

    def reset(self) -> None:
        """Forget every task and zero the counters (the clock keeps its time)."""
        self.app.store.clear()
        self.app.stats.reset()


def serve(port: int = DEFAULT_PORT, profile: str = "all", task_seconds: float = DEFAULT_TASK_SECONDS,
          fault_rate: float = 0.0, seed: int | None = None, *, api_key: str | None = None,
          out: TextIO | None = None) -> int:
    """Run the emulator in the foreground until Ctrl-C: prints each profile's base URL first."""
    out = out or sys.stdout
    emulator = Emulator(profile, task_seconds, fault_rate, seed, api_key=api_key, port=port)
    url = emulator.start()
    previous = None
    try:
        faults = f", {fault_rate:g} of requests faulted" if fault_rate else ""
        print(f"seedance-prep emulator on {url} (tasks take {task_seconds:g} s{faults})", file=out)
        width = max(len(name) for name in emulator.profiles)
        for name in emulator.profiles:
            also = f"   (also {url}{routes.prefix(name, emulator.book.profile_data(name))[len(name) + 1:]})" \
                if name == routes.BARE_PROFILE else ""
            print(f"  {name:<{width}}  {emulator.base_url(name)}{also}", file=out)
        print("Any bearer key is accepted." if api_key is None else "Only the configured key is accepted.", file=out)
        print(f"Control: GET {url}/_emulator/stats, POST {url}/_emulator/clock {{\"advance\": SECONDS}}, "
              f"POST {url}/_emulator/reset", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        if threading.current_thread() is threading.main_thread():  # a terminate() stops it as cleanly
            previous = signal.signal(signal.SIGTERM, _interrupt)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("emulator stopped", file=out, flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
