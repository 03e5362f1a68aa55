"""Check request files: read → parse → (inspect) → evaluate → locate. The library behind ``check``.

``Checker.check_bytes`` checks one document; ``iter_sources`` expands paths, folders and ``-`` into
what to read. Files that cannot be read are reported apart from files that break a rule.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable

from .dialects import infer_profile, parse
from .document import locate, parse_json
from .engine import evaluate
from .model import SEVERITY_RANK, Finding, PrepError, Record, Result, record
from .paths import describe_os_error
from .resolve import needs_inspection
from .ruleset import DEFAULT_PROFILE, Profile, RuleBook, select

STDIN = "-"


@record
class ReadError(Record):
    """A path that could not be checked at all (missing, unreadable, not a file)."""

    path: str
    message: str


class Analysis:
    """What :meth:`Checker.analyse` learned about one request document."""

    __slots__ = ("document", "text", "diagnostics", "request", "profile", "facts", "findings", "mode",
                 "_estimate", "remote_skipped", "skipped")

    def __init__(self, document, text, diagnostics, request, profile, facts, findings, mode=None,
                 estimate=None, remote_skipped=0, skipped=None):
        self.document, self.text, self.diagnostics = document, text, diagnostics
        self.request, self.profile, self.facts, self.findings = request, profile, facts, findings
        self.mode, self._estimate, self.remote_skipped, self.skipped = mode, estimate, remote_skipped, skipped

    @property
    def estimate(self):
        """The cost estimate (computed when first asked for: text reports never show it)."""
        return self._estimate() if self._estimate is not None else None


class Checker:
    """Checks requests against one profile (``profile``) or the profile inferred from each request."""

    def __init__(self, book: RuleBook, *, profile: str | None = None, select_ids: list[str] | None = None,
                 ignore_ids: list[str] | None = None, severity: dict[str, str] | None = None,
                 max_tokens: int | None = None, locate_findings: bool = True, inspect_media: bool = True,
                 remote: bool = False, allow_private_hosts: bool = False, estimate: bool | str = True,
                 per_file_ignores: dict[str, list[str]] | None = None, skip_non_requests: bool = False,
                 debug: bool = False, deep=None):
        self.book = book
        self.deep = deep  # a prep.deep.Deep (--deep): media is decoded, not only its headers read
        self.debug = debug  # let an internal error propagate (with its traceback) instead of isolating it
        self.skip_non_requests = skip_non_requests
        # True: every result carries its cost estimate; "findings": those with findings; False: none
        self.want_estimate = estimate
        self.inspect_media = inspect_media
        self.remote = remote
        self._resolver = None
        self._allow_private_hosts = allow_private_hosts
        self.fixed_profile = profile
        self.max_tokens = max_tokens
        self.locate_findings = locate_findings
        self._selection = (select_ids, ignore_ids, severity)
        self._profiles: dict[tuple[str, str | None], Profile] = {}
        self._limits: dict[str, int | None | bool] = {}
        self._models = {name: book.profile_data(name).get("models", {}) for name in book.names}
        # Resolve eagerly so a bad --profile / --select fails before any file is read.
        self.profile_for(profile or DEFAULT_PROFILE)
        self._per_file = [(glob, rule_ids(book, ids)) for glob, ids in (per_file_ignores or {}).items()]

    def profile_for(self, name: str, family: str | None = None) -> Profile:
        """Profile ``name`` with the user's rule selection, for model family ``family`` (default: the
        profile's own)."""
        key = (name, family)
        prof = self._profiles.get(key)
        if prof is None:
            s, i, sev = self._selection
            prof = self._profiles[key] = select(self.book.get(name, family), select=s, ignore=i, severity=sev)
        return prof

    def _body_limit(self, profile: Profile) -> int | None:
        limit = self._limits.get(profile.name, False)
        if limit is False:
            rule = self.book.get(profile.name).rule("request.body-size")
            limit = self._limits[profile.name] = (rule.options or {}).get("max_bytes") if rule else None
        return limit

    def close(self) -> None:
        """Flush the facts cache; call when a process that checked media is about to end."""
        if self._resolver is not None:
            self._resolver.close()

    def resolver(self):
        if self._resolver is None:
            from .resolve import MediaResolver

            self._resolver = MediaResolver(remote=self.remote, allow_private_hosts=self._allow_private_hosts,
                                           deep=self.deep)
        return self._resolver

    def check_bytes(self, data: bytes, path: str, base_dir: str | os.PathLike | None = None) -> Result:
        """Check one request document given as bytes; ``path`` names it in the result and relative
        media paths are read from ``base_dir`` (default: the folder of ``path``, or the cwd)."""
        seen = self.analyse(data, path, base_dir)
        if seen.skipped:
            return Result(path, None, None, (), None, None, skipped=seen.skipped)
        findings = seen.findings
        if findings and self._per_file:
            ignored = set().union(*(ids for glob, ids in self._per_file if _path_matches(path, glob)))
            findings = [f for f in findings if f.rule not in ignored]
        if findings and self.locate_findings:
            findings = self._locate(seen.text, findings, seen.diagnostics, seen.document)
        want = self.want_estimate is True or (self.want_estimate == "findings" and findings)
        return Result(path, seen.profile.name, seen.mode, tuple(findings), seen.estimate if want else None,
                      seen.profile.family, remote_skipped=seen.remote_skipped)

    def analyse(self, data: bytes, path: str, base_dir: str | os.PathLike | None = None) -> Analysis:
        """Everything a check of one request document learns (its request, profile, media facts and
        findings, unlocated), for ``check`` and for ``fix``, which plans from it."""
        document, diagnostics, text = parse_json(data)
        if document is None and diagnostics and data[:1] not in (b"{", b"[", b" ", b"\n"):
            diagnostics = _media_instead(data, diagnostics)
        # --skip-non-requests: an object with no request key, or JSON that is no object at all, is some
        # other JSON file (package.json, a report); a broken object may be a request and is checked.
        if self.skip_non_requests and (not REQUEST_KEYS & document.keys() if document is not None
                                       else text.lstrip()[:1] not in ("{", "")):
            return Analysis(document, text, diagnostics, None, self.profile_for(DEFAULT_PROFILE), None, [],
                            skipped="not a Seedance request")
        if self.fixed_profile:
            name = self.fixed_profile
        elif document is not None:
            name = infer_profile(document, self._models)
        else:
            name = DEFAULT_PROFILE
        request = None
        facts = None
        if document is not None:
            data_of = self.book.profile_data(name)
            checked = _without_nulls(document) if data_of.get("null_is_absent") else document
            request = parse(checked, data_of.get("dialect", "content"))
            model = next((p.value for p in request.params if p.pointer == "/model"), None)  # as written on top
            family = self.book.family_for(name, model, request.value)
            profile = self.profile_for(name, family)
        else:
            profile = self.profile_for(name)
        remote_skipped = 0
        if request is not None:
            if self.inspect_media and not self.remote:
                remote_skipped = sum(1 for i in request.items if i.kind in ("image", "video", "audio")
                                     and isinstance(i.url, str) and i.url[:8].lower().startswith(("http://", "https://")))
            if self.inspect_media:
                if needs_inspection(request, self.remote):
                    from pathlib import Path

                    folder = Path(base_dir) if base_dir is not None else (
                        Path(path).parent if path != "<stdin>" else Path.cwd())
                    facts = self.resolver().facts_for(request, folder)
        findings, ctx = evaluate(request, profile, diagnostics=diagnostics, source_bytes=len(data),
                                 facts=facts, max_tokens=self.max_tokens)
        return Analysis(document, text, diagnostics, request, profile, facts, findings, ctx.mode,
                        (lambda: ctx.estimate), remote_skipped)

    @staticmethod
    def _locate(text: str, findings: list[Finding], diagnostics, document) -> list[Finding]:
        """Findings with line and column from the source text (document problems carry their own)."""
        parsed = not any(d[0] == "syntax" for d in diagnostics)
        wanted = {f.pointer for f in findings if f.line is None}
        positions = locate(text, wanted, document) if parsed and wanted else {}
        out = []
        for f in findings:
            if f.line is None:
                line, column = positions.get(f.pointer, (1, 1))
                f = Finding(f.rule, f.severity, f.pointer, f.message, f.expected, f.actual, f.fixable, line, column)
            out.append(f)
        out.sort(key=lambda f: (f.line, f.column))
        return out

    def inspect_file(self, path: str, family: str | None = None) -> MediaReport | ReadError:
        """The facts of one media file and the findings of the profile's media rules about it (as model
        family ``family`` sees them; default: the profile's own)."""
        from pathlib import Path

        from .model import Item, MediaMissing, Request
        from .resolve import MediaResolver

        resolver = self._resolver or MediaResolver()
        facts = resolver.local(Path(path), path)
        if isinstance(facts, MediaMissing):
            return ReadError(path, facts.reason)
        if self.deep is not None:
            facts = self.deep.check(path, facts)
        # The file name is the claim to check the content against (a .png that is an MP4 is reported).
        claimed = _EXTENSION_KIND.get(Path(path).suffix.lower()) or facts.kind
        item_type = {"video": "video_url", "audio": "audio_url"}.get(claimed or "", "image_url")
        role = "reference_" + item_type.split("_")[0]
        pointer = "/content/0"
        item = Item(type=item_type, pointer=pointer, role=role, url=path, value_pointer=f"{pointer}/{item_type}/url",
                    role_pointer=f"{pointer}/role")
        request = Request("content", (), (item,), {})
        profile = self.profile_for(self.fixed_profile or DEFAULT_PROFILE, family)
        media_only = _profile_subset(profile, "media", skip_checks=("fact_total",))
        findings, _ = evaluate(request, media_only, facts={pointer: facts}, labels={pointer: path})
        # A lone file has no place in a request: its findings point at the file itself.
        return MediaReport(path, facts, tuple(Finding(f.rule, f.severity, "", f.message, f.expected, f.actual,
                                                      f.fixable) for f in findings))

    def check_too_big(self, path: str, size: int) -> Result | None:
        """A result without reading the file when it is far beyond any body the API accepts."""
        profile = self.profile_for(self.fixed_profile or DEFAULT_PROFILE)
        limit = self._body_limit(profile)
        if limit is None or size <= 2 * limit:
            return None
        rule = profile.rule("request.body-size")
        if rule is None:
            return None
        from .checks import MB

        finding = Finding(rule.id, rule.severity, "", f"request body is {size / MB:.1f} MB; the API accepts at most "
                          f"{limit / MB:g} MB (file not parsed)", limit, size, rule.fixable, 1, 1)
        return Result(path, profile.name, None, (finding,), None)

    def check_source(self, source: str) -> Result | ReadError:
        """Check one path (or ``-`` for standard input). An internal error on one file is that file's
        error entry, never the end of the batch (``debug`` lets it propagate)."""
        try:
            return self._check_source(source)
        except Exception as exc:  # noqa: BLE001 - isolate one file's failure from the batch
            if self.debug:
                raise
            return ReadError(source if source != STDIN else "<stdin>",
                             f"internal error: {type(exc).__name__}: {exc} (please report it; --debug shows where)")

    def _check_source(self, source: str) -> Result | ReadError:
        if source == STDIN:
            data = sys.stdin.buffer.read() if sys.stdin is not None else b""
            return self.check_bytes(data, "<stdin>")
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then turns it away.
            fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return ReadError(source, "not a regular file")
                big = self.check_too_big(source, st.st_size)
                if big is not None:
                    return big
                data = os.read(fd, st.st_size + 1)
                if len(data) != st.st_size:  # a short read, or the file grew since fstat: read to the end
                    chunks = [data]
                    while chunks[-1]:
                        chunks.append(os.read(fd, 1 << 20))
                    data = b"".join(chunks)
                    del chunks  # one copy of the bytes alive while the file is checked
            finally:
                os.close(fd)
        except OSError as exc:
            return ReadError(source, describe_os_error(exc))
        return self.check_bytes(data, source)


# Objects whose members are parameters (the flat API's extra_body, the OpenAI-style metadata).
_PARAMETER_OBJECTS = ("extra_body", "metadata")


def _without_nulls(document: dict) -> dict:
    """``document`` less its parameters written as null (top level and in parameter objects): a profile
    with ``null_is_absent`` takes null as "not given", as its API does."""
    if not any(v is None or (k in _PARAMETER_OBJECTS and isinstance(v, dict) and None in v.values())
               for k, v in document.items()):
        return document
    return {k: ({kk: vv for kk, vv in v.items() if vv is not None} if k in _PARAMETER_OBJECTS and isinstance(v, dict)
                else v) for k, v in document.items() if v is not None}


def _media_instead(data: bytes, diagnostics: list) -> list:
    """When a file given to ``check`` is a media file, say so instead of "invalid UTF-8"."""
    from .inspect import sniff

    kind, fmt = sniff(data[:64])
    if kind is None:
        return diagnostics
    detail = (f"this is {'an' if kind[0] in 'aeiou' else 'a'} {kind} file ({fmt}), not a request: check reads "
              "request JSON files; use `seedance-prep inspect` for media")
    return [(d[0], d[1], detail, (1, 1)) if d[0] == "syntax" else d for d in diagnostics]


# A JSON object with none of these keys is not a Seedance request (``--skip-non-requests``).
REQUEST_KEYS = frozenset({"model", "content", "prompt"})


def rule_ids(book: RuleBook, entries: list[str]) -> frozenset[str]:
    """The rule ids that ``entries`` (ids, prefixes or ALL, as --select takes them) name, over every
    profile and model family; PrepError for an entry that names none."""
    every = sorted({r.id for name in book.names for fam in book.families_of(name) for r in book.get(name, fam).rules})
    found = set()
    for entry in entries:
        prefix = entry.strip().rstrip(".")
        hit = set(every) if prefix.upper() == "ALL" else {i for i in every if i == prefix or i.startswith(prefix + ".")}
        if not hit:
            raise PrepError(f"unknown rule or prefix '{entry}' (see `seedance-prep rules`)")
        found |= hit
    return frozenset(found)


def _path_matches(path: str, glob: str) -> bool:
    """Whether a request path matches a per-file glob: as given, relative to the cwd, or by its name."""
    from fnmatch import fnmatch

    norm = os.path.normpath(path)
    return fnmatch(norm, glob) or fnmatch(os.path.basename(norm), glob) or (
        os.path.isabs(norm) and fnmatch(os.path.relpath(norm), glob))


@record
class MediaReport(Record):
    """What ``inspect`` learned about one media file."""

    path: str
    facts: object  # MediaFacts
    findings: tuple[Finding, ...]


_EXTENSION_KIND = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif",
                     ".ppm", ".pgm", ".pbm", ".ico"), "image"),
    **dict.fromkeys((".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp"), "video"),
    **dict.fromkeys((".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff"), "audio"),
}


def _profile_subset(profile: Profile, scope: str, skip_checks: tuple[str, ...] = ()) -> Profile:
    from .ruleset import _profile

    rules = tuple(r for r in profile.rules if r.scope == scope and r.check not in skip_checks)
    return _profile(profile.name, profile.title, profile.data, rules, profile.family)


# Below this many files, starting worker processes costs more than it saves.
PARALLEL_MIN = 400
_worker_checker: Checker | None = None
_worker_encode: Callable | None = None


def _check_chunk(paths: list[str]) -> tuple[list, str | None]:
    # In a forked worker: the parent's Checker (rules loaded and compiled) is inherited, not pickled.
    assert _worker_checker is not None
    out = [_worker_checker.check_source(path) for path in paths]
    _worker_checker.close()  # pool workers end with os._exit: no atexit writes the facts cache
    return out, (_worker_encode(out) if _worker_encode is not None else None)


@record
class Batch(Record):
    """The outcomes of a batch in source order, and (when workers encoded them) their encodings."""

    outcomes: list
    encoded: list | None = None


def check_all(checker: Checker, sources: list, jobs: int | None = None) -> list:
    """Check every source (paths, ``-``, or ReadErrors passed through) and return the outcomes in order.

    Large batches are spread over ``jobs`` worker processes (default: one per CPU) where the platform
    forks cheaply; results are the same either way.
    """
    return run_batch(checker, sources, jobs).outcomes


def run_batch(checker: Checker, sources: list, jobs: int | None = None, encode=None) -> Batch:
    """``check_all``, and when the batch runs in workers and ``encode`` is given, each worker's
    ``encode(outcomes)`` too (a report format's serialisation, done in parallel)."""
    import gc

    # Checking allocates many short-lived containers and keeps every result: the default collector
    # thresholds make it scan the growing heap over and over (half the run time on 10,000 files).
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], 20_000), max(saved[1], 20), max(saved[2], 20))
    try:
        return _run(checker, sources, jobs, encode)
    finally:
        gc.set_threshold(*saved)


def _run(checker: Checker, sources: list, jobs: int | None, encode) -> Batch:
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    todo = [s for s in sources if isinstance(s, str) and s != STDIN]
    # Workers are forked (cheap, and they inherit the loaded rules): Linux only, where fork is safe.
    if jobs <= 1 or len(todo) < PARALLEL_MIN or not sys.platform.startswith("linux"):
        return Batch([s if isinstance(s, ReadError) else checker.check_source(s) for s in sources])
    import multiprocessing

    global _worker_checker, _worker_encode
    _worker_checker = checker
    # Encodings stand in for results only when every result comes from a worker (no stdin).
    _worker_encode = encode if STDIN not in sources else None
    size = max(64, len(todo) // (jobs * 8))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    outcomes, encoded = [], []
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            # imap: the parent takes in finished chunks while the workers go on with the rest.
            for chunk, text in pool.imap(_check_chunk, chunks):
                outcomes.extend(chunk)
                encoded.append(text)
    finally:
        _worker_checker = _worker_encode = None
    done = iter(outcomes)
    ordered = [s if isinstance(s, ReadError) else checker.check_source(s) if s == STDIN else next(done)
               for s in sources]
    return Batch(ordered, encoded if encode is not None and STDIN not in sources else None)


DEFAULT_EXCLUDE = (".*", "node_modules", "__pycache__")


def _excluded(rel: str, name: str, full: str, patterns) -> bool:
    from fnmatch import fnmatch

    return any(fnmatch(full, p) if os.path.isabs(p) else (fnmatch(name, p) or fnmatch(rel, p)) for p in patterns)


def iter_sources(paths: list[str], exclude=DEFAULT_EXCLUDE):
    """Expand the command-line paths: files as given, folders recursively to their ``*.json`` files
    (symlinked folders not followed; files and folders matching an ``exclude`` glob, by name or by path
    relative to the folder given, skipped: by default hidden ones, ``node_modules``, ``__pycache__``),
    ``-`` for standard input. Yields the path to check, or a ReadError for one that does not exist."""
    for raw in paths:
        if raw == STDIN:
            yield STDIN
            continue
        try:
            is_dir = os.path.isdir(raw)
        except (OSError, ValueError) as exc:
            yield ReadError(raw, describe_os_error(exc) if isinstance(exc, OSError) else str(exc))
            continue
        if not is_dir:
            if not os.path.lexists(raw):
                yield ReadError(raw, "no such file or directory")
            else:
                yield raw
            continue
        found = []
        for folder, dirs, files in os.walk(raw, onerror=None, followlinks=False):
            rel_folder = os.path.relpath(folder, raw)
            rel = (lambda n: n) if rel_folder == "." else (lambda n: os.path.join(rel_folder, n))
            full = os.path.abspath(folder)
            dirs[:] = sorted(d for d in dirs if not _excluded(rel(d), d, os.path.join(full, d), exclude))
            for name in files:
                if name.lower().endswith(".json") and not _excluded(rel(name), name, os.path.join(full, name), exclude):
                    found.append(os.path.normpath(os.path.join(folder, name)))
        yield from sorted(found)


def iter_media(paths: list[str], exclude=DEFAULT_EXCLUDE):
    """``inspect``'s paths: files as given, folders recursively to their files with a media extension."""
    for raw in paths:
        if not os.path.isdir(raw):
            yield raw
            continue
        found = []
        for folder, dirs, files in os.walk(raw, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not _excluded(d, d, os.path.abspath(os.path.join(folder, d)), exclude))
            found += [os.path.normpath(os.path.join(folder, n)) for n in files
                      if os.path.splitext(n)[1].lower() in _EXTENSION_KIND]
        yield from sorted(found)


def exit_code(results, fail_on: str = "error", exit_zero: bool = False) -> int:
    """0 when nothing is at or above ``fail_on`` (or ``exit_zero``), 1 when something is, 2 when a path
    could not be read or checked."""
    if any(isinstance(r, ReadError) for r in results):
        return 2
    if exit_zero:
        return 0
    floor = SEVERITY_RANK[fail_on]
    for r in results:
        if any(SEVERITY_RANK[f.severity] >= floor for f in r.findings):
            return 1
    return 0

