"""The commands that talk to a provider's API: ``build``, ``submit``, ``tasks``, ``status``, ``cancel``,
``download`` and ``emulate``. Argument parsing and printing only; the work is in :mod:`prep.build`,
:mod:`prep.submit`, :mod:`prep.client` and :mod:`prep.emulator`. Imported only when one of them runs
(``check`` never pays for httpx)."""

from __future__ import annotations

import json
import sys

from .model import PrepError

API_COMMANDS = ("build", "submit", "tasks", "status", "cancel", "download", "emulate")
PROG = "seedance-prep"


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, 0 or more")
    return value


def add_parsers(sub, only: str | None, common, non_negative_int) -> None:
    """Add the API commands' parsers to ``sub`` (only ``only``'s when given)."""
    def want(name: str) -> bool:
        return only in (None, name)

    def key_flags(p, *, timeout: bool = False) -> None:
        p.add_argument("--base-url", metavar="URL", help="the API base (default: $SEEDANCE_PREP_BASE_URL, else the "
                                                         "profile's documented one)")
        p.add_argument("--api-key-env", metavar="NAME", help="read the key from this environment variable (default: "
                                                             "the profile's, e.g. ARK_API_KEY)")
        if timeout:
            p.add_argument("--timeout", type=_seconds, metavar="S", help="stop waiting after S seconds (the task goes on)")

    if want("build"):
        p = sub.add_parser("build", parents=[common("the profile the request is written for (default: inferred)")],
                           help="write the submit-ready request body for a profile's API",
                           description="Inline local images and audio as data: URLs and render the request in the "
                                       "target profile's dialect; the result is checked under that profile.")
        p.add_argument("request", metavar="REQUEST")
        p.add_argument("--out", required=True, metavar="FILE", help="where to write the body (- for stdout)")
        p.add_argument("--to", metavar="PROFILE", help="the API to build for (default: the request's own profile)")
        p.set_defaults(func=cmd_build)

    if want("submit"):
        p = sub.add_parser("submit", parents=[common("the API to send to (default: the request's own profile)",
                                                     quiet="no progress display")],
                           help="check, estimate, create, journal, wait and download a task",
                           description="Check the request (refusing on errors), build it, show the token estimate, "
                                       "journal the task before it is created, and optionally wait and download.")
        p.add_argument("request", metavar="REQUEST")
        p.add_argument("--wait", action="store_true", help="poll the task until it ends")
        p.add_argument("--download", metavar="PATH", help="write the video here (a file or a folder); implies --wait")
        p.add_argument("--dry-run", action="store_true", help="print the HTTP request (key redacted) and send nothing")
        p.add_argument("--max-tokens", type=non_negative_int, metavar="N", help="refuse when the estimate exceeds N")
        p.add_argument("--force", action="store_true", help="send even when check finds errors")
        p.add_argument("--format", choices=("text", "json"), default="text")
        key_flags(p, timeout=True)
        p.set_defaults(func=cmd_submit)

    if want("tasks"):
        p = sub.add_parser("tasks", parents=[common("only tasks sent to this profile")],
                           help="list the task journal (newest first)")
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument("--refresh", action="store_true", help="ask the provider for the state of unfinished tasks")
        p.add_argument("--limit", type=non_negative_int, metavar="N", help="at most N tasks")
        p.add_argument("--api-key-env", metavar="NAME", help="with --refresh: the key's variable")
        p.set_defaults(func=cmd_tasks)

    for name, text in (("status", "show a task (from the journal, refreshed from the provider)"),
                       ("cancel", "cancel a queued task (Ark also deletes a finished one)"),
                       ("download", "download a succeeded task's video (and last frame)")):
        if not want(name):
            continue
        p = sub.add_parser(name, parents=[common("for a task not in the journal: its profile")], help=text)
        p.add_argument("task_id", metavar="ID", help="a task id (or a unique prefix of one in the journal)")
        key_flags(p, timeout=name == "status")
        if name == "status":
            p.add_argument("--wait", action="store_true", help="poll until the task ends")
            p.add_argument("--download", metavar="PATH", help="then download its video here")
            p.add_argument("--format", choices=("text", "json"), default="text")
        if name == "download":
            p.add_argument("--out", metavar="PATH", default=".", help="file or folder (default: ./<id>.mp4)")
        p.set_defaults(func={"status": cmd_status, "cancel": cmd_cancel, "download": cmd_download}[name])

    if want("emulate"):
        p = sub.add_parser("emulate", help="run a local emulator of the provider APIs (offline tests and demos)",
                           description="Serve every profile's task API on 127.0.0.1 with the providers' shapes, "
                                       "status names and errors; results are a small real mp4.")
        p.add_argument("--port", type=non_negative_int, default=None, metavar="N", help="port (0: a free one)")
        p.add_argument("--profile", default="all", metavar="NAME", help="serve one profile, or all (default)")
        p.add_argument("--task-seconds", type=_seconds, default=None, metavar="S", help="how long a task runs")
        p.add_argument("--fault-rate", type=float, default=0.0, metavar="F",
                       help="share of API requests answered with an injected fault (429, 5xx, reset, slow, truncated)")
        p.add_argument("--seed", type=int, metavar="N", help="seed for the faults (reproducible runs)")
        p.add_argument("--api-key", metavar="KEY", help="accept only this bearer key (default: any)")
        p.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
        p.set_defaults(func=cmd_emulate, rules=[], config=None)


# ---------------------------------------------------------------------------------------------------


def _book(args, config):
    from .ruleset import RuleBook

    return RuleBook([*config.rules, *args.rules], aliases=config.aliases or None)


def cmd_build(args, config) -> int:
    from .build import build

    built = build(args.request, profile=args.profile or config.profile, to=args.to, book=_book(args, config))
    if args.out == "-":
        for chunk in built.iter_bytes():
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    else:
        built.write(args.out)
    inlined = f", {len(built.inlined)} file(s) inlined" if built.inlined else ""
    where = "stdout" if args.out == "-" else args.out
    report = sys.stderr if args.out == "-" else sys.stdout  # stdout is the body's when it goes there
    print(f"{args.request} → {where} (profile {built.profile}, {built.length:,} bytes{inlined})", file=report)
    for finding in built.findings:
        print(f"  {finding.severity}: {finding.rule} {finding.message}", file=report)
    return 0


def _notify(args):
    quiet = getattr(args, "quiet", False)
    return (lambda text: None) if quiet else (lambda text: print(f"note: {text}", file=sys.stderr))


def _display(args):
    from .client import ProgressLine

    if getattr(args, "quiet", False) or getattr(args, "format", "text") == "json":
        return None
    return ProgressLine(sys.stderr)


def _resume(task_id: str, download: str | None) -> str:
    """The command that picks a task up again (after Ctrl-C or a wait's timeout)."""
    import shlex

    extra = f" --download {shlex.quote(download)}" if download else ""
    return f"Resume with: {PROG} status {task_id} --wait{extra}"


def _resume_hint(task_id: str, download: str | None) -> str:
    return f"{PROG}: interrupted; task {task_id} goes on at the provider. {_resume(task_id, download)}"


def _timed_out(exc, download: str | None) -> PrepError:
    """A wait that gave up: the task goes on; the message says how to pick it up again."""
    task = getattr(exc, "task", None)
    return exc if task is None else PrepError(f"{exc}. {_resume(task.id, download)}")


def cmd_submit(args, config) -> int:
    from .client import WaitTimeout
    from .submit import submit

    display = _display(args)
    created: list[str] = []
    try:
        result = submit(args.request, profile=args.profile or config.profile, wait=args.wait or bool(args.download),
                        download=args.download, dry_run=args.dry_run, max_tokens=args.max_tokens, force=args.force,
                        base_url=args.base_url, api_key_env=args.api_key_env, timeout=args.timeout,
                        book=_book(args, config), notify=_notify(args), on_update=display,
                        on_created=lambda task: created.append(task.id))
    except KeyboardInterrupt:
        if display is not None:
            display.close()
        if created:
            print(_resume_hint(created[0], args.download), file=sys.stderr)
            return 130
        raise
    except WaitTimeout as exc:
        raise _timed_out(exc, args.download) from None
    finally:
        if display is not None:
            display.close()
    if args.format == "json":
        print(json.dumps(_submit_json(result), ensure_ascii=False, indent=2))
        return 1 if result.refused else 0
    out = sys.stdout
    for f in result.findings:
        print(f"{result.path}: {f.severity} {f.rule} {f.message}", file=out)
    if result.refused:
        print(f"{result.path}: {result.refused}", file=out)
        return 1
    estimate = f", estimate {result.estimate:,} tokens" if result.estimate is not None else ""
    model = f" ({result.built.model})" if result.built is not None and result.built.model else ""
    print(f"{result.path} → {result.profile}{model}{estimate}", file=out)
    if result.preview is not None:
        preview = result.preview
        print(f"dry run: nothing sent\n{preview['method']} {preview['url']}", file=out)
        for name, value in preview["headers"].items():
            print(f"{name}: {value}", file=out)
        print(f"\n{preview['body']}", file=out)
        return 0
    task = result.task
    assert task is not None
    adopted = " (adopted: the create's answer was lost)" if task.adopted else ""
    journal = f" (journal #{result.entry.local_id})" if result.entry is not None else ""
    print(f"task {task.id} {task.status}{adopted}{journal}", file=out)
    if result.video:
        frame = f" (last frame → {result.last_frame})" if result.last_frame else ""
        print(f"video → {result.video}{frame}", file=out)
    elif not args.wait:
        print(f"follow it with: {PROG} status {task.id} --wait", file=out)
    return 0


def _submit_json(result) -> dict:
    task = result.task
    return {
        "path": result.path, "profile": result.profile, "refused": result.refused, "estimate": result.estimate,
        "findings": [{"rule": f.rule, "severity": f.severity, "pointer": f.pointer, "message": f.message}
                     for f in result.findings],
        "dry_run": result.preview, "task": _task_json(task) if task is not None else None,
        "journal": result.entry.to_json() if result.entry is not None else None,
        "video": result.video, "last_frame": result.last_frame, "notes": result.notes,
    }


def _task_json(task) -> dict:
    return {k: getattr(task, k) for k in ("id", "status", "provider_status", "progress", "video_url",
                                          "last_frame_url", "tokens", "error_code", "error_message",
                                          "created_at", "updated_at", "model", "adopted")}


# ---------------------------------------------------------------------------------------------------
# The journal's commands


def _client_for(entry, args, book, profile: str | None):
    from .client import Client

    name = entry.profile if entry is not None else (profile or "ark")
    base = getattr(args, "base_url", None) or (entry.base_url if entry is not None else None)
    return Client(name, base_url=base, api_key_env=getattr(args, "api_key_env", None), book=book,
                  notify=_notify(args))


def _lookup(journal, ref: str):
    """The journal entry for ``ref``, or None when the journal does not know it (then it is taken as a
    task id of the profile given)."""
    try:
        return journal.get(ref)
    except PrepError as exc:
        if str(exc).startswith("no task"):
            return None
        raise


def cmd_tasks(args, config) -> int:
    from .client.journal import Journal

    with Journal() as journal:
        entries = journal.list(limit=args.limit or None, profile=args.profile)
        if args.refresh:
            entries = _refresh(journal, entries, args, _book(args, config))
    if args.format == "json":
        print(json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2))
        return 0
    if not entries:
        print("no tasks in the journal", file=sys.stderr)
        return 0
    for e in entries:
        where = f"  → {e.download_path}" if e.download_path else ""
        tokens = f"  {e.tokens:,} tokens" if e.tokens else ""
        error = f"  {e.error_code}: {e.error_message}" if e.error_code or e.error_message else ""
        print(f"{e.task_id or '#' + str(e.local_id)}  {e.status:<9}  {e.profile}  {e.model or '?'}  "
              f"{e.submitted_at}{tokens}{error}{where}")
    return 0


def _refresh(journal, entries, args, book) -> list:
    """Ask the provider about each unfinished task (one client per profile and base URL)."""
    from .client import APIError

    clients: dict = {}
    fresh = []
    try:
        for e in entries:
            if e.task_id is None or e.status in ("succeeded", "failed", "cancelled", "expired"):
                fresh.append(e)
                continue
            key = (e.profile, e.base_url)
            if key not in clients:
                clients[key] = _client_for(e, args, book, None)
            try:
                fresh.append(journal.update_from(clients[key].tasks.get(e.task_id)))
            except APIError as exc:
                print(f"{e.task_id}: {exc}", file=sys.stderr)
                fresh.append(e)
    finally:
        for client in clients.values():
            client.close()
    return fresh


def cmd_status(args, config) -> int:
    from .client import WaitTimeout
    from .client.journal import Journal
    from .submit import TaskFailed, fetch

    book = _book(args, config)
    with Journal() as journal:
        entry = _lookup(journal, args.task_id)
        task_id = entry.task_id if entry is not None else args.task_id
        if entry is not None and task_id is None:
            raise PrepError(f"journal #{entry.local_id} has no task id: its create was cut off before the provider "
                            f"answered; submit {entry.request_path} again (it looks for the task first)")
        with _client_for(entry, args, book, args.profile or config.profile) as client:
            display = _display(args) if args.wait or args.download else None
            try:
                task = client.tasks.get(task_id)
                if entry is not None:
                    journal.update_from(task)
                if args.wait or args.download:
                    task = client.tasks.wait(task_id, timeout=args.timeout, on_update=_journaled(journal, entry,
                                                                                                display))
            except KeyboardInterrupt:
                print(_resume_hint(task_id, args.download), file=sys.stderr)
                return 130
            except WaitTimeout as exc:
                raise _timed_out(exc, args.download) from None
            finally:
                if display is not None:
                    display.close()
            if args.download:
                if task.status != "succeeded":
                    raise TaskFailed(task)
                if entry is None:
                    raise PrepError(f"task {task_id} is not in the journal: use download {task_id} --out PATH")
                fetch(client, journal, task, args.download)
        entry = journal.get(task_id) if entry is not None else None
    if args.format == "json":
        print(json.dumps(entry.to_json() if entry is not None else _task_json(task), ensure_ascii=False, indent=2))
    else:
        progress = f" {task.progress}%" if task.progress is not None and not task.terminal else ""
        print(f"{task.id}  {task.status}{progress}")
        for label, value in (("video", task.video_url and _short(task.video_url)),
                             ("last frame", task.last_frame_url and _short(task.last_frame_url)),
                             ("tokens", task.tokens), ("error", task.error_code and f"{task.error_code}: "
                                                                                    f"{task.error_message}"),
                             ("downloaded", entry.download_path if entry is not None else None)):
            if value:
                print(f"  {label}: {value}")
    return 0 if task.status not in ("failed", "cancelled", "expired") else 2


def _journaled(journal, entry, display):
    def update(task) -> None:
        if entry is not None:
            journal.update_from(task)
        if display is not None:
            display(task)
    return update


def _short(url: str) -> str:
    return url.split("?", 1)[0] + ("?…" if "?" in url else "")


def cmd_cancel(args, config) -> int:
    from .client import NotFoundError
    from .client.journal import Journal

    with Journal() as journal:
        entry = _lookup(journal, args.task_id)
        task_id = entry.task_id if entry is not None and entry.task_id else args.task_id
        with _client_for(entry, args, _book(args, config), args.profile or config.profile) as client:
            client.tasks.cancel(task_id)
            try:
                task = client.tasks.get(task_id)
            except NotFoundError:  # Ark deletes a finished task (and, after 24 h, a cancelled one)
                task = None
            if entry is not None:
                if task is not None:
                    journal.update_from(task)
                else:
                    journal.update(task_id, note="deleted at the provider")
    if task is None or task.status != "cancelled":
        print(f"{task_id}: deleted at the provider (its journal entry stays)")
    else:
        print(f"{task_id}: cancelled")
    return 0


def cmd_download(args, config) -> int:
    from .client.journal import Journal
    from .submit import fetch

    with Journal() as journal:
        entry = _lookup(journal, args.task_id)
        task_id = entry.task_id if entry is not None and entry.task_id else args.task_id
        with _client_for(entry, args, _book(args, config), args.profile or config.profile) as client:
            task = client.tasks.get(task_id)
            if entry is None:
                path = client.download(task, args.out)
                frame = None
            else:
                journal.update_from(task)
                path, frame = fetch(client, journal, task, args.out)
    print(f"{task_id} → {path}" + (f" (last frame → {frame})" if frame else ""))
    return 0


def cmd_emulate(args, config) -> int:
    from .emulator import DEFAULT_PORT, serve

    kwargs = {} if args.task_seconds is None else {"task_seconds": args.task_seconds}
    if not 0 <= args.fault_rate <= 1:
        raise PrepError(f"--fault-rate {args.fault_rate}: give a share between 0 and 1")
    return serve(DEFAULT_PORT if args.port is None else args.port, args.profile, fault_rate=args.fault_rate,
                 seed=args.seed, api_key=args.api_key, **kwargs)

