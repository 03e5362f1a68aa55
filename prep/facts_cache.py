"""A persistent cache of :class:`~prep.model.MediaFacts` for local files.

An entry is keyed by the file's absolute path and checked against its size, modification time
(nanoseconds), inode and device, so any rewrite of the file is a miss. Entries live in one SQLite
database (``facts.sqlite3``) under ``$SEEDANCE_PREP_HOME/cache`` when that variable is set, else under
``$XDG_CACHE_HOME/seedance-prep`` (``~/.cache/seedance-prep`` by default).

The cache is an accelerator, never a source of truth: a database that is corrupt, truncated or of
another schema is deleted and rebuilt; a row that does not decode to valid facts is a miss; a cache
directory that cannot be written, or a database another process holds locked for too long, simply
means no caching. SQLite's locking makes two processes sharing the cache safe.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from prep.model import MediaFacts

__all__ = ["FactsCache", "default_cache_root"]

# Bump when the inspector starts reporting different facts for the same bytes.
INSPECTOR_REVISION = 1
_FIELDS = MediaFacts._fields
# Stored in the database; any difference (new MediaFacts field, new revision) rebuilds the cache.
_SCHEMA = f"facts/{INSPECTOR_REVISION}/" + ",".join(_FIELDS)
_MEMO_ENTRIES = 4096
_TYPE_NAMES = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "None": (type(None),)}


def _allowed_types(annotation: str) -> tuple[type, ...]:
    out: tuple[type, ...] = ()
    for part in annotation.split("|"):
        out += _TYPE_NAMES.get(part.strip(), ())
    return out


_TYPES = tuple(_allowed_types(str(MediaFacts.__annotations__[name])) for name in _FIELDS)


def default_cache_root() -> Path:
    """Where the cache lives when no root is given (see the module docstring)."""
    home = os.environ.get("SEEDANCE_PREP_HOME")
    if home:
        return Path(home).expanduser() / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".cache"
    return base / "seedance-prep"


class FactsCache:
    """Facts for local files, remembered across runs.

    ``get(path)`` returns the remembered facts when the file is unchanged, else None;
    ``put(path, facts)`` remembers them; ``cached_inspect(path)`` does both around an inspection.
    Every method is safe to call from several threads, and never raises for cache trouble.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_cache_root()
        self.path = self.root / "facts.sqlite3"
        self._db: sqlite3.Connection | None = None
        self._disabled = False
        self._lock = threading.Lock()
        # Facts already seen by this process: a hit costs one stat() instead of a query and a decode.
        self._memo: dict[str, tuple[tuple[int, int, int, int], MediaFacts]] = {}

    @property
    def enabled(self) -> bool:
        """False once the cache found it cannot work (unwritable directory...)."""
        return not self._disabled and self._connect() is not None

    # -- public API --------------------------------------------------------------------------------

    def get(self, path: str | os.PathLike) -> MediaFacts | None:
        """The remembered facts for ``path`` if the file is unchanged since they were stored."""
        try:
            key, st = _key(path)
        except OSError:
            return None
        stamp = _stamp(st)
        memo = self._memo.get(key)
        if memo is not None and memo[0] == stamp:
            return _with_source(memo[1], os.fspath(path))
        row = self._run("SELECT size, mtime_ns, ino, dev, facts FROM facts WHERE path = ?", (key,), fetch=True)
        if not row or tuple(row[:4]) != stamp:
            return None
        facts = _decode(row[4])
        if facts is None:
            self._run("DELETE FROM facts WHERE path = ?", (key,))
            return None
        self._remember(key, stamp, facts)
        return _with_source(facts, os.fspath(path))

    def put(self, path: str | os.PathLike, facts: MediaFacts, stat_result: os.stat_result | None = None) -> None:
        """Remember ``facts`` for ``path`` as it is now (or as ``stat_result`` describes it)."""
        try:
            key, st = _key(path)
        except OSError:
            return
        if stat_result is not None:
            if _stamp(stat_result) != _stamp(st):
                return  # the file changed while it was being inspected
            st = stat_result
        self._remember(key, _stamp(st), facts)
        values = [getattr(facts, name) for name in _FIELDS]
        self._run("INSERT OR REPLACE INTO facts (path, size, mtime_ns, ino, dev, facts) VALUES (?, ?, ?, ?, ?, ?)",
                  (key, *_stamp(st), json.dumps(values, separators=(",", ":"))))

    def cached_inspect(self, path: str | os.PathLike,
                       inspect_fn: Callable[[str | os.PathLike], MediaFacts] | None = None) -> MediaFacts:
        """``inspect_fn(path)`` (default :func:`prep.inspect.inspect_path`), answered from the cache
        when the file is unchanged. Exceptions of ``inspect_fn`` propagate and nothing is stored."""
        facts = self.get(path)
        if facts is not None:
            return facts
        if inspect_fn is None:
            from prep.inspect import inspect_path as inspect_fn
        try:
            before = os.stat(path)
        except OSError:
            before = None
        facts = inspect_fn(path)
        if before is not None:
            self.put(path, facts, stat_result=before)
        return facts

    def clear(self) -> None:
        """Forget every entry."""
        self._memo.clear()
        self._run("DELETE FROM facts", ())

    def _remember(self, key: str, stamp: tuple[int, int, int, int], facts: MediaFacts) -> None:
        if len(self._memo) >= _MEMO_ENTRIES:
            self._memo.clear()
        self._memo[key] = (stamp, facts)

    def close(self) -> None:
        """Close the database connection; the cache reopens it if used again."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> FactsCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- storage -----------------------------------------------------------------------------------

    def _run(self, sql: str, args: tuple, fetch: bool = False):
        with self._lock:
            for attempt in (1, 2):
                db = self._connect_locked()
                if db is None:
                    return None
                try:
                    cur = db.execute(sql, args)
                    return cur.fetchone() if fetch else None
                except sqlite3.OperationalError as exc:
                    if _is_busy(exc):
                        return None  # another process holds the lock; skip rather than wait
                    self._discard_locked(rebuild=attempt == 1)
                except sqlite3.DatabaseError:
                    self._discard_locked(rebuild=attempt == 1)
            return None

    def _connect(self) -> sqlite3.Connection | None:
        with self._lock:
            return self._connect_locked()

    def _connect_locked(self) -> sqlite3.Connection | None:
        if self._db is not None or self._disabled:
            return self._db
        for attempt in (1, 2):
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None, check_same_thread=False)
            except (OSError, sqlite3.Error):
                self._disabled = True
                return None
            try:
                _prepare(db)
                self._db = db
                return db
            except sqlite3.OperationalError as exc:
                db.close()
                if _is_busy(exc) or "readonly" in str(exc) or "unable to open" in str(exc):
                    self._disabled = True
                    return None
                _unlink_db(self.path)
            except sqlite3.DatabaseError:
                db.close()
                _unlink_db(self.path)
        self._disabled = True
        return None

    def _discard_locked(self, rebuild: bool) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if rebuild:
            _unlink_db(self.path)
        else:
            self._disabled = True


def _prepare(db: sqlite3.Connection) -> None:
    """Check the schema; create it if absent, recreate it if it is another one."""
    db.execute("PRAGMA busy_timeout = 2000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is not None and row[0] == _SCHEMA:
        db.execute("SELECT count(*) FROM facts WHERE path = ''").fetchone()  # table really exists
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and row[0] == _SCHEMA:  # another process created it meanwhile
            db.execute("COMMIT")
            return
        db.execute("DROP TABLE IF EXISTS facts")
        db.execute("CREATE TABLE facts (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
                   " ino INTEGER NOT NULL, dev INTEGER NOT NULL, facts TEXT NOT NULL)")
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (_SCHEMA,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _unlink_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass


def _key(path: str | os.PathLike) -> tuple[str, os.stat_result]:
    key = os.path.abspath(os.fspath(path))
    return key, os.stat(key)


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev


def _decode(text: object) -> MediaFacts | None:
    """Facts from a stored row, or None if the row is anything but what ``put`` wrote."""
    try:
        values = json.loads(text)  # type: ignore[arg-type]
    except (TypeError, ValueError, RecursionError):
        return None
    if type(values) is not list or len(values) != len(_FIELDS):
        return None
    for value, allowed in zip(values, _TYPES):
        if type(value) not in allowed:
            return None
    return MediaFacts(*values)


def _with_source(facts: MediaFacts, source: str) -> MediaFacts:
    if facts.source == source:
        return facts
    values = [getattr(facts, name) for name in _FIELDS]
    values[_FIELDS.index("source")] = source
    return MediaFacts(*values)

