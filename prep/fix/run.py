"""Carry out a fix: check each request, plan, run the media jobs, write the request, check the result.

Originals are never modified: every output goes to the output folder through a temporary file renamed
into place. A media file that already conforms is copied, not re-encoded, so fixing a fixed request
changes no media byte. The same source fixed the same way for several requests is processed once.
"""

from __future__ import annotations

import binascii
import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..model import SEVERITY_RANK, Finding, PrepError, Record, record
from .files import atomic_output, write_bytes_atomic
from .model import FixOptions, MediaJob, Plan, Skipped

# A data: URL's media type → the suffix its decoded bytes are written under (for the tools that read them).
_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/bmp": ".bmp",
             "image/tiff": ".tiff", "image/gif": ".gif", "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
             "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav"}
_SUFFIX_FORMATS = {".jpg": "jpeg", ".tif": "tiff", ".wave": "wav"}


def _media_type(profile, kind: str, name: str) -> str:
    """The media type a ``data:`` URL of the output ``name`` declares: the first type the profile's
    ``url.data-uri`` rule accepts for ``kind`` whose content format is the file's (so a ``--rules``
    overlay that narrows or renames the accepted types moves it too)."""
    suffix = Path(name).suffix.lower()
    fmt = _SUFFIX_FORMATS.get(suffix, suffix[1:])
    rule = profile.rule("url.data-uri")
    accepted = ((rule.options or {}).get("media_types") or {}).get(kind, {}) if rule is not None else {}
    for media_type, content_format in accepted.items():
        if content_format == fmt:
            return media_type
    return f"{kind}/{fmt}"


@record
class FixResult(Record):
    """One request's fix: its plan, where the output went ('' with --diff) and what still fails."""

    source: str
    out: str
    plan: Plan
    remaining: tuple[Finding, ...] = ()
    before: tuple[Finding, ...] = ()
    diff: str = ""  # with --diff: the request's JSON, before and after, as a unified diff


def fix_requests(paths: list[str], out_dir: str | None, options: FixOptions, checker, *, diff: bool = False,
                 jobs: int | None = None, cache: bool = True, progress=None) -> list[FixResult]:
    """Fix each request file of ``paths`` into ``out_dir`` (one request: the folder itself; several: one
    sub-folder each, named after the request file). ``checker`` is a prep.lint.Checker (profile, rules,
    selection). With ``diff`` nothing is written. ``cache``: reuse (and keep) outputs of jobs already
    done, by content hash (:mod:`prep.fix.cache`). ``progress``: a :class:`prep.fix.report.Progress`
    (or anything with its ``start``/``update``/``finish`` methods) told about each media job."""
    if not paths:
        raise PrepError("no request files to fix")
    outs = _output_folders(paths, out_dir) if not diff else {p: "" for p in paths}
    done: dict[tuple, str] = {}  # (source, target) → an output already made this run
    results = []
    store = None
    if cache and not diff:
        from .cache import FixCache

        store = FixCache()
    ctx = _RunContext(store, progress)
    try:
        for path in paths:
            results.append(_fix_one(path, outs[path], options, checker, diff=diff, jobs=jobs, done=done, ctx=ctx))
    finally:
        if store is not None:
            store.close()
    return results


class _RunContext:
    """What every request of one run shares: the output cache and the progress display."""

    def __init__(self, cache, progress) -> None:
        self.cache = cache
        self.progress = progress or _NoProgress()
        self.next_id = 0


class _NoProgress:
    def start(self, job_id: int, name: str, what: str) -> None:
        pass

    def update(self, job_id: int, done_s: float, total_s: float | None) -> None:
        pass

    def finish(self, job_id: int, *, cached: bool = False) -> None:
        pass


def _output_folders(paths: list[str], out_dir: str | None) -> dict[str, str]:
    if not out_dir:
        raise PrepError("fix needs --out DIR (or --diff to only show the plan)")
    if len(paths) == 1:
        return {paths[0]: out_dir}
    outs: dict[str, str] = {}
    taken: set[str] = set()
    for path in paths:
        stem = Path(path).stem or "request"
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name)
        outs[path] = os.path.join(out_dir, name)
    return outs


def _fix_one(path: str, out: str, options: FixOptions, checker, *, diff: bool, jobs: int | None,
             done: dict, ctx: _RunContext) -> FixResult:
    from .plan import plan_media
    from .request import edit_request

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        from ..paths import describe_os_error

        raise PrepError(f"{path}: {describe_os_error(exc)}") from None
    seen = checker.analyse(data, path)
    if seen.document is None or seen.request is None:
        first = seen.findings[0].message if seen.findings else "not a request"
        raise PrepError(f"{path}: cannot fix a file that is not a request ({first})")
    base_dir = Path(path).resolve().parent
    media_jobs, skipped = plan_media(seen.request, seen.profile, seen.facts or {}, seen.findings, options, base_dir)
    _, edits, request_skipped = edit_request(seen.document, seen.profile, seen.findings, options)
    plan = Plan(path, seen.profile.name, tuple(media_jobs), tuple(edits), tuple(skipped) + tuple(request_skipped))
    before = tuple(seen.findings)
    if diff:
        planned = _set_urls(seen.document, {j.value_pointer: _new_url(j, options, seen.profile) for j in media_jobs})
        after = edit_request(planned, seen.profile, seen.findings, options)[0]
        return FixResult(path, "", plan, before=before, diff=_json_diff(seen.document, after, path))
    out_json = os.path.join(out, "request.json")
    _refuse_overwriting(path, out_json, media_jobs, out)
    urls, failures = _run_jobs(media_jobs, os.path.join(out, "media"), options, jobs, done, ctx, seen.profile)
    if failures:  # those items keep their media as it was; the check below says what still fails
        plan = plan._replace(skipped=plan.skipped + tuple(failures))
    # URLs are replaced in the document as written (their pointers are the original ones), then the
    # request-level edits run on it: they move items, never rewrite a URL.
    written = _set_urls(seen.document, urls)
    final, _, _ = edit_request(written, seen.profile, seen.findings, options)
    text = json.dumps(final, ensure_ascii=False, indent=2) + "\n"
    write_bytes_atomic(out_json, text.encode("utf-8"))
    result = checker.check_source(out_json)
    remaining = tuple(getattr(result, "findings", ()))
    return FixResult(path, out_json, plan, remaining, before)


def _refuse_overwriting(path: str, out_json: str, jobs: list[MediaJob], out: str) -> None:
    """Never write over an input: not the request, not a media file it points at."""
    inputs = {os.path.realpath(path)} | {os.path.realpath(j.source) for j in jobs if not j.source.startswith("data:")}
    outputs = [out_json] + [os.path.join(out, "media", j.output) for j in jobs]
    for target in outputs:
        if os.path.realpath(target) in inputs:
            raise PrepError(f"--out {out}: writing {target} would overwrite an original; choose another folder")


def _new_url(job: MediaJob, options: FixOptions, profile) -> str:
    if job.source.startswith("data:") and not options.extract:
        return f"data:{_media_type(profile, job.kind, job.output)};base64,…"
    return f"media/{job.output}"


def _run_jobs(jobs: list[MediaJob], media_dir: str, options: FixOptions, workers: int | None,
              done: dict, ctx: _RunContext, profile) -> tuple[dict[str, str], list[Skipped]]:
    """Make every job's output; returns value pointer → the URL to write in the request, and the jobs
    that could not be done (their media is copied as it was, so the request stays whole)."""
    urls: dict[str, str] = {}
    failed: dict[int, str] = {}
    failures: list[Skipped] = []
    work: list[_Work] = []  # the jobs still to run
    temps: list[str] = []
    cache, progress = ctx.cache, ctx.progress
    try:
        for job in jobs:
            source = _materialise(job.source, temps)
            out_path = os.path.join(media_dir, job.output)
            key = (_identity(source), job.target)
            if key in done and os.path.exists(done[key]):
                _copy(done[key], out_path)
            elif job.target is None:
                _copy(source, out_path)
                done[key] = out_path
            else:
                job_id = ctx.next_id
                ctx.next_id += 1
                cache_key = _cache_key(cache, source, job)
                if cache_key is not None and cache.fetch(cache_key, out_path):
                    progress.start(job_id, job.output, _what(job))
                    progress.finish(job_id, cached=True)
                else:
                    work.append(_Work(job_id, job, source, out_path, cache_key))
                done[key] = out_path

        def finished(item: _Work) -> None:
            if item.cache_key is not None:
                cache.store(item.cache_key, item.out_path)

        _execute(work, workers, progress, finished, failed)
        renamed: dict[str, str] = {}  # value pointer → the name a failed job's unchanged copy has
        for item in work:
            if item.job_id in failed:
                # The media stays as it was, under its own kind of name (not the planned format's).
                name = Path(item.job.output).stem + (Path(item.source).suffix or Path(item.job.output).suffix)
                if name != item.job.output and os.path.exists(os.path.join(media_dir, name)):
                    name = Path(item.job.output).stem + f"-original{Path(item.source).suffix}"
                renamed[item.job.value_pointer] = name
                _copy(item.source, os.path.join(media_dir, name))
                done.pop((_identity(item.source), item.job.target), None)
                failures.append(Skipped(item.job.pointer, ", ".join(item.job.rules) or item.job.kind,
                                        f"could not fix: {failed[item.job_id]}"))
        for job in jobs:
            name = renamed.get(job.value_pointer, job.output)
            out_path = os.path.join(media_dir, name)
            if job.source.startswith("data:") and not options.extract:
                media_type = _media_type(profile, job.kind, name)
                import base64

                urls[job.value_pointer] = f"data:{media_type};base64," + base64.b64encode(
                    Path(out_path).read_bytes()).decode("ascii")
                os.unlink(out_path)
            else:
                urls[job.value_pointer] = f"media/{name}"
        if os.path.isdir(media_dir) and not os.listdir(media_dir):
            os.rmdir(media_dir)
    finally:
        for tmp in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return urls, failures


@record
class _Work(Record):
    job_id: int
    job: MediaJob
    source: str
    out_path: str
    cache_key: str | None


def _cache_key(cache, source: str, job: MediaJob) -> str | None:
    if cache is None or not cache.enabled:
        return None
    from .cache import job_key

    digest = cache.source_hash(source, memo=not job.source.startswith("data:"))
    return None if digest is None else job_key(digest, job.kind, job.target)


def _what(job: MediaJob) -> str:
    return "; ".join(job.steps) or f"fix {job.kind}"


def _execute(work: list[_Work], workers: int | None, progress, finished: Callable[[_Work], None],
             failed: dict[int, str]) -> None:
    """Run the jobs that change media: in parallel processes when there are several (bounded by the
    cores), else here. The jobs are plain records: another executor could take them as they are.
    Worker processes send their progress back on a queue the parent drains while it waits. A job that
    cannot be done (a PrepError: a size no encoding reaches, a file the encoder refuses) goes into
    ``failed`` (job id → its one-line reason) and the others go on; anything else stops the run."""
    if not work:
        return
    n = min(len(work), workers or os.cpu_count() or 1)
    if n <= 1:
        for item in work:
            progress.start(item.job_id, item.job.output, _what(item.job))
            _outcome(item, lambda: run_job(item.job.kind, item.source, item.job.target, item.out_path,
                                           progress=functools.partial(progress.update, item.job_id)),
                     progress, finished, failed)
        return
    import multiprocessing
    import queue as queues
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    mp = multiprocessing.get_context()
    events = mp.Queue()
    pool = ProcessPoolExecutor(max_workers=n, mp_context=mp, initializer=_worker_init, initargs=(events,))

    def drain() -> None:
        while True:
            try:
                event = events.get_nowait()
            except (queues.Empty, OSError, ValueError, EOFError):
                return
            if event[0] == "start":
                begin(by_id.get(event[1]))
            elif event[0] == "progress" and event[1] in started:
                progress.update(event[1], event[2], event[3])

    def begin(item: _Work | None) -> None:
        if item is not None and item.job_id not in started:
            started.add(item.job_id)
            progress.start(item.job_id, item.job.output, _what(item.job))

    by_id = {item.job_id: item for item in work}
    started: set[int] = set()
    try:
        futures = {pool.submit(_worker_job, item.job_id, item.job.kind, item.source, item.job.target,
                               item.out_path): item for item in work}
        pending = set(futures)
        while pending:
            ready, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            drain()
            for future in ready:
                item = futures[future]
                begin(item)  # its start event may still be on its way
                _outcome(item, future.result, progress, finished, failed)  # written, or never (atomically)
        drain()
    except BaseException:  # an error, or Ctrl-C: stop everything now, never wait for the rest
        _stop_pool(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        events.close()
        events.cancel_join_thread()


def _outcome(item: _Work, result: Callable[[], object], progress, finished: Callable[[_Work], None],
             failed: dict[int, str]) -> None:
    """Wait for one job's ``result``: done (its output goes to the cache), or a PrepError recorded in
    ``failed``; anything else propagates and stops the run."""
    try:
        result()
    except PrepError as exc:
        failed[item.job_id] = str(exc)
        progress.finish(item.job_id)
        return
    progress.finish(item.job_id)
    finished(item)


def _stop_pool(pool) -> None:
    """Cancel what has not started, interrupt what has (its ffmpeg goes with it), and shut down."""
    import signal

    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        try:
            os.kill(proc.pid, signal.SIGINT)  # a running job kills its ffmpeg child on the way out
        except (OSError, ValueError, TypeError):
            pass
    for proc in processes:
        try:
            proc.join(timeout=3.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1.0)
        except (OSError, ValueError, AssertionError):
            pass


# In a worker process: the queue progress goes back on, whether a job is running (Ctrl-C only
# interrupts a job; an idle worker waits to be stopped by the parent, without a traceback) and whether
# Ctrl-C came (a job already queued to this worker then stops before it starts).
_EVENTS: list = []
_BUSY: list[bool] = [False]
_STOPPING: list[bool] = [False]


def _worker_init(events) -> None:
    import signal

    _EVENTS[:] = [events]

    def on_sigint(signum, frame) -> None:
        _STOPPING[0] = True
        if _BUSY[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def _worker_job(job_id: int, kind: str, source: str, target, out_path: str) -> None:
    events = _EVENTS[0] if _EVENTS else None
    sent = [0.0, -1.0]  # time and percent of the last progress event sent

    def report(done_s: float, total_s: float | None) -> None:
        if events is None:
            return
        now = time.monotonic()
        pct = round(100 * done_s / total_s) if total_s else -1.0
        if pct != sent[1] and now - sent[0] >= 0.1:
            sent[:] = [now, pct]
            events.put(("progress", job_id, done_s, total_s))

    if _STOPPING[0]:
        raise KeyboardInterrupt
    if events is not None:
        events.put(("start", job_id))
    _BUSY[0] = True
    try:
        run_job(kind, source, target, out_path, progress=report)
    finally:
        _BUSY[0] = False


def run_job(kind: str, source: str, target, out_path: str, *, progress=None) -> None:
    """Make one output (in whichever process runs it). ``progress(done_s, total_s)``: ffmpeg's progress."""
    if kind == "image":
        from .images import fix_image

        fix_image(source, target, out_path)
    elif kind == "video":
        from .video import fix_video

        fix_video(source, target, out_path, progress=progress)
    elif kind == "audio":
        from .audio import fix_audio

        fix_audio(source, target, out_path, progress=progress)
    else:
        raise PrepError(f"no fix for {kind} media")


def _materialise(source: str, temps: list[str]) -> str:
    """A path to the source's bytes: the path itself, or a data: URL decoded into a temporary file."""
    if not source.startswith("data:"):
        return source
    from ..inspect import parse_data_url

    try:
        media_type, payload = parse_data_url(source)
    except (ValueError, binascii.Error) as exc:
        raise PrepError(f"cannot decode a data: URL: {exc}") from None
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix="seedance-prep-", suffix=_SUFFIXES.get(media_type, ".bin"))
    temps.append(tmp)
    with os.fdopen(fd, "wb") as fh:
        fh.write(payload)
    return tmp


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns)


def _copy(source: str, out_path: str) -> None:
    with atomic_output(out_path) as tmp:
        shutil.copyfile(source, tmp)


def _set_urls(document: dict, urls: dict[str, str]) -> dict:
    """A copy of ``document`` with the string at each JSON pointer of ``urls`` replaced."""
    from ..pointer import unescape

    doc = json.loads(json.dumps(document))
    for pointer, url in urls.items():
        parts = [unescape(p) for p in pointer.split("/")[1:]]
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = url
        else:
            node[last] = url
    return doc


def _json_diff(before: dict, after: dict, path: str) -> str:
    import difflib

    a = json.dumps(before, ensure_ascii=False, indent=2).splitlines(keepends=True)
    b = json.dumps(after, ensure_ascii=False, indent=2).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=path, tofile=f"{path} (fixed)"))


def failing(findings, fail_on: str = "error") -> list[Finding]:
    """The findings at or above ``fail_on``."""
    rank = SEVERITY_RANK[fail_on]
    return [f for f in findings if SEVERITY_RANK.get(f.severity, 0) >= rank]
