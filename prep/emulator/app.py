"""The emulator's decisions: what each request gets back, without any socket in sight.

``App`` holds the state (tasks, clock, signing key, faults, counters) and answers each endpoint with a
:class:`Reply`; ``handler.py`` does the HTTP. Endpoints and shapes come from each profile's
``[profile.api]`` table, so a profile is served as the client reads it.
"""

from __future__ import annotations

import hmac
import json
import random
import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import parse_qs

from ..model import PrepError, Request
from ..ruleset import RuleBook
from . import routes
from .faults import KINDS, Faults, Stats
from .shapes import created_body, error_body, list_body, status_names, task_body
from .storage import Storage, media
from .tasks import Clock, Task, TaskStore, new_id, pick, state
from .validate import Rejection, Validator

# `#emulate:fail=CODE`, `#emulate:expire`, `#emulate:slow` in a prompt (see the package docstring).
DIRECTIVE = re.compile(r"#emulate:(fail=([A-Za-z0-9_.-]{1,100})|expire\b|slow\b)")
# Task id style per dialect (Ark `cgt-…`, OpenAI `video_…`, the flat API's `task_…`).
_ID_STYLES = {"content": "ark", "openai-videos": "openai", "video-generations": "flat"}
CONTROL = "/_emulator/"


class Reply(NamedTuple):
    status: int
    body: dict | bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def directive(request: Request) -> tuple[str, str | None]:
    """The outcome a request's prompt asks for: (``succeed``|``fail``|``expire``|``slow``, fail code)."""
    for item in request.items:
        if item.type == "text" and isinstance(item.text, str):
            m = DIRECTIVE.search(item.text)
            if m:
                return ("fail", m.group(2)) if m.group(2) else (m.group(1), None)
    return "succeed", None


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class App:
    """Everything the emulator knows; every method is safe to call from many request threads."""

    def __init__(self, book: RuleBook, profiles: list[str], *, task_seconds: float, url_seconds: float | None,
                 clock: Clock, faults: Faults, api_key: str | None):
        self.book, self.profiles = book, profiles
        self.data = {name: book.profile_data(name) for name in profiles}
        self.table = routes.routes(book, profiles)
        self.validator = Validator(book)
        self.store, self.storage, self.stats = TaskStore(), Storage(), Stats()
        self.clock, self.faults, self.api_key = clock, faults, api_key
        self.task_seconds, self.url_seconds = float(task_seconds), url_seconds
        self.server_url = ""  # set once the server listens

    # -- helpers ---------------------------------------------------------------------------------

    def dialect(self, profile: str) -> str:
        return self.data[profile].get("dialect", "content")

    def error(self, profile: str, status: int, code: str, message: str, param: str | None = None,
              headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        return Reply(status, error_body(self.dialect(profile), status, code, message, param), headers=headers)

    def authorized(self, header: str | None) -> bool:
        """A bearer key is present (and is ``api_key``, when one was set)."""
        scheme, _, key = (header or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return False
        return self.api_key is None or hmac.compare_digest(key.encode(), self.api_key.encode())

    def unauthorized(self, profile: str) -> Reply:
        return self.error(profile, 401, "AuthenticationError",
                          "The API key in the request is missing or invalid.")

    def render(self, task: Task, now: float, *, listing: bool = False) -> dict:
        """``task`` in its profile's shape, with fresh signed links when the old ones have expired."""
        data = self.data[task.profile]
        st = state(task, now)
        urls: dict[str, str] = {}
        expires = None
        if st.status == "succeeded":
            ttl = self.url_seconds if self.url_seconds is not None else float(data["download_ttl_hours"]) * 3600
            expires = self.store.renew_urls(task, now, ttl)
            urls = {"video_url": self.storage.url(self.server_url, task.id, "mp4", expires),
                    "last_frame_url": self.storage.url(self.server_url, task.id, "png", expires)}
        return task_body(task, st, data, urls, expires, listing=listing)

    def _missing(self, profile: str, task_id: str) -> Reply:
        return self.error(profile, 404, "ResourceNotFound", f"The specified task {task_id} is not found.", "id")

    # -- endpoints -------------------------------------------------------------------------------

    def create(self, profile: str, body: bytes) -> Reply:
        verdict = self.validator.judge(profile, body)
        if isinstance(verdict, Rejection):
            return self.error(profile, verdict.status, verdict.code, verdict.message, verdict.param)
        request, estimate = verdict
        data = self.data[profile]
        defaults, model = data.get("defaults", {}), str(request.value("model"))
        outcome, code = directive(request)
        resolution = str(request.value("resolution") or data.get("models", {}).get(model, {}).get("resolution")
                         or defaults.get("resolution"))
        width, height = int(estimate.get("width", 0)), int(estimate.get("height", 0))
        ratio = str(request.value("ratio") or defaults.get("ratio"))
        if ratio in ("adaptive", "auto"):  # the answer reports the ratio the video got
            table = data.get("pixels", {}).get(resolution.lower(), {})
            ratio = next((name for name, size in table.items() if list(size) == [width, height]), ratio)
        seed = request.value("seed")
        # PROVIDER-FACTS "Parameters": generate_audio defaults to true (Volcengine/APIYI docs) where the
        # profile's defaults do not say
        audio = request.value("generate_audio", defaults.get("generate_audio", True))
        now = self.clock.now()

        def make() -> Task:
            return Task(
                id=new_id(_ID_STYLES.get(self.dialect(profile), "flat"), now), profile=profile, model=model,
                created=now, run_seconds=self.task_seconds, outcome=outcome, fail_code=code,
                tokens=int(estimate.get("tokens", 0)), width=width, height=height,
                seconds=int(estimate.get("seconds", 0)), resolution=resolution, ratio=ratio,
                seed=seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
                else random.randrange(2**31),
                generate_audio=_truthy(audio), return_last_frame=_truthy(request.value("return_last_frame")),
                fps=int(data["cost"]["fps"]))

        task = self.store.add(make)
        self.stats.add("creations", profile)
        return Reply(200, created_body(self.dialect(profile), self.render(task, now)))

    def get(self, profile: str, task_id: str) -> Reply:
        task = self.store.get(profile, task_id)
        if task is None:
            return self._missing(profile, task_id)
        return Reply(200, self.render(task, self.clock.now()))

    def cancel(self, profile: str, task_id: str) -> Reply:
        outcome = self.store.cancel(profile, task_id, self.clock.now())
        if outcome == "missing":
            return self._missing(profile, task_id)
        if outcome == "running":
            return self.error(profile, 400, "InvalidParameter",
                              f"The task {task_id} is running and cannot be cancelled; only a queued task can be.", "id")
        return Reply(200, {})

    def list(self, profile: str, query: str) -> Reply:
        data, now = self.data[profile], self.clock.now()
        api = data["api"]
        args = parse_qs(query, keep_blank_values=True)
        size_arg, top = api["list_limit"]["param"], int(api["list_limit"]["max"])
        content = self.dialect(profile) == "content"
        try:  # no page size given: up to the documented maximum (the rules hold no provider default)
            size = int(args.get(size_arg, [str(top)])[0])
            page = int(args.get("page_num", ["1"])[0])
        except ValueError:
            return self.error(profile, 400, "InvalidParameter", f"{size_arg} and page_num must be integers", size_arg)
        if not 1 <= size <= top or page < 1:
            return self.error(profile, 400, "InvalidParameter",
                              f"{size_arg} must be between 1 and {top}, page_num at least 1", size_arg)
        names = {provider: canonical for provider, canonical in api.get("statuses", {}).items()}
        wanted = [s for value in args.get("filter.status", []) for s in value.split(",") if s]
        if any(s not in names for s in wanted):
            return self.error(profile, 400, "InvalidParameter",
                              f"filter.status must be one of {', '.join(status_names(api).values())}", "filter.status")
        ids = {i for value in args.get("filter.task_ids", []) for i in value.split(",") if i}
        tasks = pick(self.store.listing(profile), now, statuses={names[s] for s in wanted} or None, ids=ids or None,
                     model=args.get("filter.model", [""])[0] or None)
        if not content:  # OpenAI: newest first unless order=asc, `after` an id
            if args.get("order", ["desc"])[0] == "asc":
                tasks.reverse()
            after = args.get("after", [""])[0]
            if after:
                at = next((i for i, t in enumerate(tasks) if t.id == after), None)
                tasks = tasks[at + 1:] if at is not None else []
            page_tasks, more = tasks[:size], len(tasks) > size
        else:
            page_tasks, more = tasks[(page - 1) * size: page * size], len(tasks) > page * size
        items = [self.render(t, now, listing=True) for t in page_tasks]
        return Reply(200, list_body(self.dialect(profile), api, items, len(tasks), more))

    def content(self, profile: str, task_id: str, query: str) -> Reply:
        """The OpenAI-style ``/content`` download, straight from the API (with the bearer key)."""
        task = self.store.get(profile, task_id)
        if task is None:
            return self._missing(profile, task_id)
        st = state(task, self.clock.now())
        if st.status != "succeeded":
            name = status_names(self.data[profile]["api"]).get(st.status, st.status)
            return self.error(profile, 400, "InvalidParameter",
                              f"The video {task_id} is not ready: its status is {name}.", "id")
        kind = "png" if parse_qs(query).get("variant", ["video"])[0] == "thumbnail" else "mp4"
        return Reply(200, media(kind), "video/mp4" if kind == "mp4" else "image/png")

    def dispatch(self, route: routes.Route, task_id: str | None, query: str, body: bytes) -> Reply:
        """The answer of one API endpoint (the caller has checked the key)."""
        if route.action == "create":
            return self.create(route.profile, body)
        if route.action == "list":
            return self.list(route.profile, query)
        assert task_id is not None
        if route.action == "get":
            return self.get(route.profile, task_id)
        if route.action == "cancel":
            return self.cancel(route.profile, task_id)
        return self.content(route.profile, task_id, query)

    # -- control ---------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes) -> Reply:
        """``/_emulator/``: GET stats, POST clock {"advance": s}, POST reset, POST faults
        {"rate", "kinds", "slow_factor", "retry_after"}."""
        name = path[len(CONTROL):].strip("/")
        if method == "GET" and name == "stats":
            return Reply(200, {**self.stats.snapshot(), "now": self.clock.now(), "tasks": len(self.store)})
        if method != "POST" or name not in ("clock", "reset", "faults"):
            return Reply(404, {"error": f"no control endpoint {method} {path}"})
        try:
            args = json.loads(body or b"{}")
            if not isinstance(args, dict):
                raise TypeError("a JSON object is expected")
            if name == "clock":
                advance = args.get("advance")
                if isinstance(advance, bool) or not isinstance(advance, (int, float)) or advance < 0:
                    raise ValueError('give {"advance": seconds}, a number ≥ 0')
                return Reply(200, {"now": self.clock.advance(float(advance))})
            if name == "reset":
                self.store.clear()
                self.stats.reset()
                return Reply(200, {})
            self.configure_faults(float(args.get("rate", self.faults.rate)), args.get("kinds", self.faults.kinds))
            if "slow_factor" in args:
                self.faults.slow_factor = float(args["slow_factor"])
            if "retry_after" in args:
                self.faults.retry_after = int(args["retry_after"])
            return Reply(200, {"rate": self.faults.rate, "kinds": list(self.faults.kinds),
                               "slow_factor": self.faults.slow_factor, "retry_after": self.faults.retry_after})
        except (ValueError, TypeError, PrepError) as exc:
            return Reply(400, {"error": str(exc)})

    def configure_faults(self, rate: float, kinds: Iterable[str] | None) -> None:
        self.faults.configure(rate, KINDS if kinds is None else kinds)
