"""The task journal: every task this machine creates, in SQLite, so an interrupted ``submit`` resumes.

A row is written BEFORE the create request is sent (status ``creating``), then given its task id when
the provider answers, then kept up to date from each poll. A row still ``creating`` after its process
ended is an interrupted creation (:meth:`Journal.pending`): the provider may or may not have the task.

The file lives at ``$SEEDANCE_PREP_HOME/journal.db``, else ``$XDG_STATE_HOME/seedance-prep/journal.db``,
else ``~/.local/state/seedance-prep/journal.db``. WAL mode, a busy timeout and one short transaction per
write make it safe for several processes at once. The API key is never a column and never passed in.
Only the standard library is used here (no httpx): ``tasks`` lists the journal without the client.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Self, TypeVar

from ..model import PrepError

_T = TypeVar("_T")

SCHEMA_VERSION = 1
CREATING = "creating"  # written before the create call; a row left in it is an interrupted creation
NOT_CREATED = "not_created"  # the create call failed and the provider provably has no task
BUSY_TIMEOUT_MS = 30_000
MIN_PREFIX = 6  # shortest task-id prefix ``get`` accepts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    local_id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT UNIQUE,
    profile TEXT NOT NULL,
    base_url TEXT NOT NULL,
    model TEXT,
    request_path TEXT,
    request_sha256 TEXT,
    body_sha256 TEXT,
    estimate_tokens INTEGER,
    status TEXT NOT NULL,
    provider_status TEXT,
    progress REAL,
    video_url TEXT,
    last_frame_url TEXT,
    tokens INTEGER,
    error_code TEXT,
    error_message TEXT,
    download_path TEXT,
    last_frame_path TEXT,
    submitted_at TEXT NOT NULL,
    created_at TEXT,
    updated_at TEXT NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE INDEX IF NOT EXISTS tasks_profile ON tasks (profile, base_url);
"""


@dataclass(frozen=True)
class Entry:
    """One journaled task. Times are ISO 8601 UTC strings (``2026-12-01T15:13:11Z``): ``submitted_at``
    when this machine began the creation, ``created_at`` the provider's creation time, ``updated_at``
    the last time this row changed."""

    local_id: int
    task_id: str | None
    profile: str
    base_url: str
    model: str | None
    request_path: str | None
    request_sha256: str | None
    body_sha256: str | None
    estimate_tokens: int | None
    status: str
    provider_status: str | None
    progress: float | None
    video_url: str | None
    last_frame_url: str | None
    tokens: int | None
    error_code: str | None
    error_message: str | None
    download_path: str | None
    last_frame_path: str | None
    submitted_at: str
    created_at: str | None
    updated_at: str
    note: str | None

    def to_json(self) -> dict:
        """The entry as a plain dict (what ``tasks --format json`` prints, one object per task)."""
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(Entry))
# What update() may change: the task's state as the provider reports it, and a free note.
UPDATABLE = ("status", "provider_status", "progress", "video_url", "last_frame_url", "tokens", "error_code",
             "error_message", "created_at", "model", "note")
_TIMES = ("created_at",)
_KEPT = ("model", "created_at", "video_url", "last_frame_url", "tokens")


def default_path() -> str:
    """Where the journal lives when no path is given (see the module docstring)."""
    from ..paths import home

    root = home()
    if root is not None:
        return os.path.join(root, "journal.db")
    xdg = os.environ.get("XDG_STATE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "seedance-prep", "journal.db")


def iso_time(value: object) -> str | None:
    """A time as an ISO 8601 UTC string: from epoch seconds, a datetime, or a string (kept as given)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, _dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        when = _dt.datetime.fromtimestamp(value, _dt.UTC)
    else:
        raise TypeError(f"not a time: {value!r}")
    return when.astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _now() -> str:
    return iso_time(time.time()) or ""


def _create(path: str) -> None:
    """A new journal, complete (WAL mode, tables, schema version) before it appears at ``path``: made
    under a temp name and hard-linked into place, so a reader never finds a file without its tables and
    two processes creating it at once keep one (the second link fails, its copy is dropped)."""
    tmp = f"{path}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")  # recorded in the file's header: every connection uses it
            db.execute("BEGIN")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            db.execute("COMMIT")
        finally:
            db.close()  # the last connection checkpoints the WAL into the file and removes it
        os.chmod(tmp, 0o600)  # result URLs are signed: readable by this user only
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # a file system without hard links: the first connection creates the tables
            pass
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


class Journal:
    """The task journal (a context manager). Each write is one short transaction of its own."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = os.fspath(path) if path is not None else default_path()
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            if not os.path.exists(self.path):
                _create(self.path)
            # isolation_level=None: no implicit transactions; writes open their own BEGIN IMMEDIATE.
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise PrepError(f"cannot open the task journal {self.path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._retry(self._setup)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise PrepError(f"the task journal {self.path} is not readable ({exc}); move it away to start a "
                            "new one") from None
        except PrepError:
            self._db.close()
            raise

    # -- set-up -------------------------------------------------------------------------------------

    def _setup(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA journal_mode = WAL")  # persistent in the file; readers never block the writer
        db.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable at each checkpoint, never corrupt
        with self._write() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = cur.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0]
            if version is None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise PrepError(f"the task journal {self.path} was written by a newer seedance-prep (schema "
                                f"v{version}; this version reads v{SCHEMA_VERSION}): upgrade seedance-prep")

    def _write(self) -> _Transaction:
        return _Transaction(self._db)

    def _retry(self, work: Callable[[], _T]) -> _T:
        """Run ``work``; when SQLite still says "locked" after its busy timeout (a checkpoint or a lock
        upgrade it does not wait for), wait briefly and try again, up to the busy timeout once more."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.005
        while True:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def journal_mode(self) -> str:
        """SQLite's journal mode for this file (``wal``)."""
        return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes -------------------------------------------------------------------------------------

    def begin(self, profile: str, base_url: str, model: str | None, request_path: str | None,
              request_sha256: str | None, body_sha256: str | None, estimate_tokens: int | None) -> Entry:
        """Record a creation about to be sent (status ``creating``, no task id yet). Call it BEFORE the
        create request: a crash between the two leaves this row in :meth:`pending`."""
        now = _now()
        values = (profile, base_url, model, request_path, request_sha256, body_sha256, estimate_tokens, CREATING,
                  now, now)

        def insert() -> int:
            with self._write() as cur:
                cur.execute("INSERT INTO tasks (profile, base_url, model, request_path, request_sha256, body_sha256,"
                            " estimate_tokens, status, submitted_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            values)
                return int(cur.lastrowid or 0)

        return self._by_local_id(self._retry(insert))

    def attach(self, local_id: int, task_id: str, status: str, created_at: object = None) -> Entry:
        """Give the row begun as ``local_id`` the task id the provider answered with, and its status."""
        self._change("local_id = ?", local_id, {"task_id": task_id, "status": status,
                                                "created_at": iso_time(created_at)})
        return self._by_local_id(local_id)

    def update(self, task_id: str, **changes: object) -> Entry:
        """Record what a poll of ``task_id`` said (any of :data:`UPDATABLE`: status, provider_status,
        progress, video_url, last_frame_url, tokens, error_code, error_message, created_at, model, note).
        None values are written as given (a field the provider stopped reporting is cleared)."""
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise TypeError(f"Journal.update() got unknown fields {unknown}; it takes {', '.join(UPDATABLE)}")
        values = {k: iso_time(v) if k in _TIMES else v for k, v in changes.items()}
        self._change("task_id = ?", task_id, values)
        return self.get(task_id)

    def update_from(self, task: object) -> Entry:
        """:meth:`update` from a client Task record (its attributes named as the columns; ``id`` is the
        task id; ``error_code``/``error_message`` or an ``error`` with ``code``/``message``)."""
        task_id = str(task.id)  # type: ignore[attr-defined]
        changes = {k: getattr(task, k) for k in UPDATABLE if k != "note" and hasattr(task, k)}
        # a poll that does not report what was known (the model, the creation time, a result) keeps it
        changes = {k: v for k, v in changes.items() if v is not None or k not in _KEPT}
        error = getattr(task, "error", None)
        if error is not None and "error_code" not in changes:
            changes["error_code"] = getattr(error, "code", None)
            changes["error_message"] = getattr(error, "message", None) or str(error)
        return self.update(task_id, **changes)

    def set_download(self, task_id: str, path: str, last_frame_path: str | None = None) -> Entry:
        """Record where the video (and its last frame) of ``task_id`` was saved."""
        values: dict[str, object] = {"download_path": path}
        if last_frame_path is not None:
            values["last_frame_path"] = last_frame_path
        self._change("task_id = ?", task_id, values)
        return self.get(task_id)

    def mark_failed_create(self, local_id: int, message: str) -> Entry:
        """The creation begun as ``local_id`` provably made no task: status ``not_created`` with why."""
        self._change("local_id = ?", local_id, {"status": NOT_CREATED, "error_message": message})
        return self._by_local_id(local_id)

    def note(self, local_id: int, text: str) -> Entry:
        """Attach a note to the row begun as ``local_id`` (its status unchanged): why a creation is still
        ``creating`` — its answer was lost, or the submit was interrupted."""
        self._change("local_id = ?", local_id, {"note": text})
        return self._by_local_id(local_id)

    def _change(self, where: str, key: object, values: dict[str, object]) -> None:
        values = {**values, "updated_at": _now()}
        sets = ", ".join(f"{name} = ?" for name in values)

        def run() -> int:
            with self._write() as cur:
                return cur.execute(f"UPDATE tasks SET {sets} WHERE {where}", (*values.values(), key)).rowcount

        try:
            changed = self._retry(run)
        except sqlite3.IntegrityError:
            raise PrepError(f"task {values.get('task_id')} is already in the journal") from None
        if not changed:
            raise PrepError(f"no task {key} in the journal {self.path}")

    # -- reads --------------------------------------------------------------------------------------

    def get(self, ref: str | int) -> Entry:
        """The entry for a task id, a unique task-id prefix of at least 6 characters, or a local id;
        PrepError when none or several match."""
        text = str(ref).strip()
        rows = self._select("task_id = ?", (text,))
        if rows:
            return rows[0]
        found: dict[int, Entry] = {}
        if text.isdigit():
            found.update((e.local_id, e) for e in self._select("local_id = ?", (int(text),)))
        if len(text) >= MIN_PREFIX:
            found.update((e.local_id, e) for e in self._select("substr(task_id, 1, ?) = ?", (len(text), text)))
        if len(found) == 1:
            return next(iter(found.values()))
        if not found:
            hint = f" (a prefix needs at least {MIN_PREFIX} characters)" if 0 < len(text) < MIN_PREFIX else ""
            raise PrepError(f"no task '{text}' in the journal{hint}; `seedance-prep tasks` lists them")
        names = ", ".join(e.task_id or f"local #{e.local_id}" for e in list(found.values())[:5])
        raise PrepError(f"'{text}' matches {len(found)} tasks ({names}); give more of the task id")

    def list(self, limit: int | None = None, profile: str | None = None) -> builtins.list[Entry]:
        """Entries newest first, optionally of one profile and at most ``limit`` of them."""
        where, args = ("profile = ?", (profile,)) if profile is not None else ("1", ())
        tail = " LIMIT ?" if limit is not None else ""
        return self._select(where + " ORDER BY local_id DESC" + tail, (*args, limit) if limit is not None else args)

    def known_ids(self, profile: str, base_url: str) -> set[str]:
        """Task ids already journaled for this API (a lookup after an ambiguous create excludes them)."""
        rows = self._db.execute("SELECT task_id FROM tasks WHERE profile = ? AND base_url = ? AND task_id IS NOT NULL",
                                (profile, base_url)).fetchall()
        return {r[0] for r in rows}

    def pending(self) -> builtins.list[Entry]:
        """Creations begun but never answered (status ``creating``), oldest first: interrupted submits."""
        return self._select("status = ? ORDER BY local_id", (CREATING,))

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.list())

    def _by_local_id(self, local_id: int) -> Entry:
        rows = self._select("local_id = ?", (local_id,))
        if not rows:
            raise PrepError(f"no task #{local_id} in the journal {self.path}")
        return rows[0]

    def _select(self, where: str, args: tuple) -> builtins.list[Entry]:
        cols = ", ".join(COLUMNS)
        rows = self._retry(lambda: self._db.execute(f"SELECT {cols} FROM tasks WHERE {where}", args).fetchall())
        return [Entry(*row) for row in rows]


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error): the write lock is taken up front, so two
    writers wait for each other instead of deadlocking on a read-to-write upgrade."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Cursor:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db.cursor()

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if kind is not None:
            self._db.execute("ROLLBACK")
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")  # never leave a transaction open: the retry begins a new one
            raise

