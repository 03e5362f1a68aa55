"""A persistent cache of :class:`~prep.model.MediaFacts` for local files.

An entry is keyed by the file's absolute path and checked against its size, modification time
(nanoseconds), inode and device, so any rewrite of the file is a miss. Entries live in one SQLite
database, ``facts.db`` under :func:`prep.paths.cache_dir`, in WAL mode: readers never wait for a
writer, and SQLite's locks let several processes write at once without losing or tearing entries.
A run reads a folder's entries with one query when it first asks about a file there; a lookup is
then a dict lookup, one ``stat()`` and one tuple copy into a MediaFacts. SQLite is imported at the
first lookup, so a run with no local media never pays for it.

Writes are batched: ``put`` keeps entries in memory and writes them in one transaction when many
are waiting, at ``close()`` and at interpreter exit. Every :class:`FactsCache` on the same root in
one process shares those entries, so a second instance sees what the first put before either wrote.

The cache is an accelerator, never a source of truth. The database's ``user_version`` stamps the
schema (:data:`INSPECTOR_REVISION` and the MediaFacts fields): another schema's entries are dropped.
Rows are type-checked as they are read: a value of the wrong type is a miss, never a crash later. A
database that is corrupt, stays locked past the busy timeout, or cannot be written turns caching off
for the rest of the run; a corrupt one is deleted, so the next run starts a new one.
"""

from __future__ import annotations

import atexit
import os
from _thread import allocate_lock  # threading.Lock itself, without importing threading (~1 ms)
from binascii import crc32
from collections.abc import Callable
from math import isnan
from time import time_ns

from prep import paths
from prep.model import MediaFacts

TYPE_CHECKING = False  # true for type checkers only: importing typing costs ~5 ms
if TYPE_CHECKING:
    from sqlite3 import Connection
    from typing import Any

__all__ = ["FactsCache", "default_cache_root"]

# Bump when the inspector starts reporting different facts for the same bytes.
INSPECTOR_REVISION = 10
_FIELDS = MediaFacts._fields
assert _FIELDS[-1] == "source"  # not stored: an entry's source is its key
_DB_NAME = "facts.db"
_BATCH = 256  # waiting entries that trigger a write before close() or exit
_BUSY_S = 2.0  # how long a statement waits for another process's lock before the cache gives up
_MAX_BYTES = 64 << 20  # past this, a write drops the older half of the entries
_LEGACY_FILES = ("facts.sqlite3", "facts.sqlite3-wal", "facts.sqlite3-shm", "facts.sqlite3-journal")
_LEGACY_BUCKETS = "facts"  # the folder of the marshal bucket files this database replaced
_I64 = 1 << 63
_U64 = (1 << 64) - 1
_TYPE_NAMES = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "None": (type(None),)}


def _schema_version(revision: int, fields: tuple[str, ...]) -> int:
    """The database's ``user_version`` for this schema: positive, below 2**31, never 0 (a new file)."""
    return crc32(f"facts/{revision}/{','.join(fields)}".encode()) % 0x7FFFFFFF + 1


def _allowed_types(annotation: str) -> tuple[type, ...]:
    out: tuple[type, ...] = ()
    for part in annotation.split("|"):
        out += _TYPE_NAMES.get(part.strip(), ())
    return out


_VERSION = _schema_version(INSPECTOR_REVISION, _FIELDS)
# The exact types ``put`` lets each field hold, and what SQLite gives back for them (bool as int).
_TYPES = tuple(_allowed_types(str(MediaFacts.__annotations__[name])) for name in _FIELDS)
_BOOLS = tuple(i for i, t in enumerate(_TYPES) if t == (bool,))
# A row of _SELECT: path, size, mtime_ns, ino, dev, then every field but source.
_READ_TYPES = ((str,), (int,), (int,), (int,), (int,), *((int,) if t == (bool,) else t for t in _TYPES[:-1]))
_PUT_OK: set[tuple[type, ...]] = set()  # type signatures already checked: one set lookup each
_READ_OK: set[tuple[type, ...]] = set()
_new: Callable[..., Any] = tuple.__new__  # tuple.__new__(MediaFacts, values): a record without binding 19 arguments

_COLUMNS = ", ".join(f'"{name}"' for name in _FIELDS[:-1])  # untyped: SQLite keeps int, float, text, NULL
_CREATE = (f"CREATE TABLE facts (dir TEXT NOT NULL, path TEXT NOT NULL, size INTEGER, mtime_ns INTEGER, "
           f"ino INTEGER, dev INTEGER, written INTEGER, {_COLUMNS}, PRIMARY KEY (dir, path)) WITHOUT ROWID")
_SELECT = f"SELECT path, size, mtime_ns, ino, dev, {_COLUMNS} FROM facts WHERE dir = ?"
_INSERT = f"INSERT OR REPLACE INTO facts VALUES ({', '.join('?' * (len(_FIELDS) + 6))})"
_PRUNE = ("DELETE FROM facts WHERE (dir, path) IN (SELECT dir, path FROM facts ORDER BY written "
          "LIMIT (SELECT count(*) / 2 FROM facts))")


def default_cache_root() -> os.PathLike:
    """Where the cache lives when no root is given: :func:`prep.paths.cache_dir`."""
    from pathlib import Path

    return Path(paths.cache_dir())


class FactsCache:
    """Facts for local files, remembered across runs.

    ``get(path)`` returns the remembered facts when the file is unchanged, else None;
    ``put(path, facts)`` remembers them; ``cached_inspect(path)`` does both around an inspection.
    Every method is safe to call from several threads, and never raises for cache trouble.
    """

    def __init__(self, root: os.PathLike | str | None = None):
        # Plain strings: importing pathlib costs more than a warm lookup of a whole folder.
        self._root = os.fsdecode(root) if root is not None else paths.cache_dir()
        self._store = _store_for(os.path.abspath(self._root))
        self._rows = self._store.rows

    @property
    def root(self) -> os.PathLike:
        """The cache folder (default :func:`default_cache_root`)."""
        from pathlib import Path

        return Path(self._root)

    @property
    def path(self) -> os.PathLike:
        """The database file, ``facts.db`` under :attr:`root`."""
        from pathlib import Path

        return Path(self._root, _DB_NAME)

    @property
    def enabled(self) -> bool:
        """False when the cache cannot work (its database cannot be created, is locked or corrupt...)."""
        with self._store.lock:
            return self._store.connect_locked() is not None

    # -- public API --------------------------------------------------------------------------------

    def get(self, path: str | os.PathLike) -> MediaFacts | None:
        """The remembered facts for ``path`` if the file is unchanged since they were stored."""
        name = os.fspath(path)
        row = self._rows.get(name)  # keys are absolute and normal, as most callers' paths already are
        if row is None:
            return self._get_slow(name)
        try:
            st = os.stat(name)
        except (OSError, ValueError):
            return None
        if row[0] != st.st_size or row[1] != st.st_mtime_ns or row[2] != st.st_ino or row[3] != st.st_dev:
            return None  # rewritten, touched or replaced since
        return _new(MediaFacts, row[4])  # found by its key, so the stored source is ``name`` already

    def put(self, path: str | os.PathLike, facts: MediaFacts, stat_result: os.stat_result | None = None) -> None:
        """Remember ``facts`` for ``path`` as it is now (or as ``stat_result`` describes it). Facts with
        ``unjudged`` set are not kept: why they are incomplete (a missing library, a reader out of time)
        may be gone by the next run."""
        if facts.unjudged is not None:
            return
        key = os.path.abspath(os.fsdecode(path))
        try:
            st = os.stat(key)
        except (OSError, ValueError):
            return
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
        if stat_result is not None and stamp != (stat_result.st_size, stat_result.st_mtime_ns,
                                                 stat_result.st_ino, stat_result.st_dev):
            return  # the file changed while it was being inspected
        self._store.put(key, stamp, facts)

    def cached_inspect(self, path: str | os.PathLike,
                       inspect_fn: Callable[[str | os.PathLike], MediaFacts] | None = None) -> MediaFacts:
        """``inspect_fn(path)`` (default :func:`prep.inspect.inspect_path`), answered from the cache
        when the file is unchanged. Exceptions of ``inspect_fn`` propagate and nothing is stored."""
        facts = self.get(path)
        if facts is not None:
            return facts
        if inspect_fn is None:
            from prep.inspect import inspect_path

            inspect_fn = inspect_path
        try:
            before = os.stat(path)
        except (OSError, ValueError):
            before = None
        facts = inspect_fn(path)
        if before is not None:
            self.put(path, facts, stat_result=before)
        return facts

    def clear(self) -> None:
        """Forget every entry, in this process and on disk."""
        self._store.clear()

    def close(self) -> None:
        """Write waiting entries, forget what was read and close the database; the next use opens it
        again. Acts for every instance on the same root in this process."""
        self._store.close()

    def __enter__(self) -> FactsCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _get_slow(self, name: str | bytes) -> MediaFacts | None:
        """A lookup by a path that is not literally a key: relative, not normal, or in a folder not
        read yet."""
        key = os.path.abspath(os.fsdecode(name))
        store = self._store
        folder = os.path.dirname(key)
        if folder not in store.loaded:
            with store.lock:
                if folder not in store.loaded:
                    store.load_locked(folder)
        if key not in self._rows:
            return None
        facts = self.get(key)  # now a lookup by the key itself
        return facts if facts is None or name == key else facts._replace(source=name)


class _Store:
    """What one process knows of one cache folder; shared by every FactsCache on it.

    ``rows`` maps a path to its entry ``(size, mtime_ns, ino, dev, values)``, as read or put;
    ``pending`` holds the entries not written yet; ``loaded`` the folders already read. ``lock``
    guards the connection, loading and writing; lookups take no lock.
    """

    def __init__(self, root: str):
        self.root = root
        self.file = os.path.join(root, _DB_NAME)
        self.rows: dict[str, tuple] = {}
        self.pending: dict[str, tuple] = {}
        self.loaded: set[str] = set()
        self.lock = allocate_lock()
        self.db: Connection | None = None
        self.disabled = False

    def connect_locked(self) -> Connection | None:
        """The open connection, opened (and the database made) at first use; None when caching is off."""
        if self.db is None and not self.disabled:
            try:
                self.db = _open(self.root, self.file)
            except Exception as exc:  # noqa: BLE001 (whatever goes wrong, the answer is "no cache")
                self.fail_locked(exc)
        return self.db

    def fail_locked(self, exc: Exception) -> None:
        """Turn caching off for this run; delete a corrupt database so the next run makes a new one."""
        self.disabled = True
        self.pending.clear()
        self.close_db_locked()
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
            for suffix in ("", "-wal", "-shm"):
                _unlink(self.file + suffix)

    def close_db_locked(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            try:
                db.close()
            except Exception:  # noqa: BLE001
                pass

    def load_locked(self, folder: str) -> None:
        """Read every entry of ``folder``: one query."""
        self.loaded.add(folder)
        db = self.connect_locked()
        if db is None or not _encodable(folder):
            return
        found = {}
        try:
            for row in db.execute(_SELECT, (folder,)):
                entry = _entry(row)
                if entry is not None:
                    found[row[0]] = entry
        except Exception as exc:  # noqa: BLE001
            self.fail_locked(exc)
            return
        if self.rows.keys().isdisjoint(found):
            self.rows.update(found)
        else:
            for key, entry in found.items():
                self.rows.setdefault(key, entry)  # what this process put is at least as new

    def put(self, key: str, stamp: tuple[int, int, int, int], facts: MediaFacts) -> None:
        values = tuple(facts)
        if len(values) != len(_FIELDS):
            return
        values = values[:-1] + (key,)
        if not _storable(values):
            return  # not facts the inspector makes, or not what SQLite stores exactly: not ours to keep
        with self.lock:
            if self.connect_locked() is None:
                return
            self.rows[key] = self.pending[key] = stamp + (values,)
            if len(self.pending) >= _BATCH:
                self.flush_locked()

    def flush_locked(self) -> None:
        """Write the waiting entries in one transaction."""
        db = self.connect_locked() if self.pending else None
        if db is None:
            return
        pending, self.pending = self.pending, {}
        written = time_ns()
        rows = [(os.path.dirname(key), key, size, mtime_ns, _signed(ino), _signed(dev), written, *values[:-1])
                for key, (size, mtime_ns, ino, dev, values) in pending.items()]
        try:
            with db:  # commits, or rolls back on an error
                db.execute("BEGIN IMMEDIATE")  # waits up to _BUSY_S for other writers
                db.executemany(_INSERT, rows)
            if os.stat(self.file).st_size > _MAX_BYTES:
                db.execute(_PRUNE)
                db.execute("PRAGMA incremental_vacuum")
        except Exception as exc:  # noqa: BLE001 (a full disk or a stuck lock costs only speed)
            self.fail_locked(exc)

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()
            self.rows.clear()
            self.loaded.clear()
            db = self.connect_locked()
            if db is None:
                return
            try:
                db.execute("DELETE FROM facts")
            except Exception as exc:  # noqa: BLE001
                self.fail_locked(exc)

    def close(self) -> None:
        with self.lock:
            self.flush_locked()
            self.rows.clear()
            self.loaded.clear()
            self.close_db_locked()
            self.disabled = False


def _open(root: str, file: str) -> Connection:
    """A connection to the database at ``file``, made (in WAL mode, with this schema) if need be."""
    try:
        from _sqlite3 import connect  # the C module alone: without sqlite3's datetime adapters, ~1 ms sooner
    except ImportError:
        from sqlite3 import connect

    if not os.path.exists(file):
        os.makedirs(root, exist_ok=True)
        _remove_legacy(root)
    db = connect(file, timeout=_BUSY_S, isolation_level=None, check_same_thread=False)
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table: pruning shrinks the file
            db.execute("PRAGMA journal_mode = WAL")
            with db:
                db.execute("BEGIN IMMEDIATE")
                if db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:  # not made meanwhile
                    db.execute("DROP TABLE IF EXISTS facts")  # another schema's entries
                    db.execute(_CREATE)
                    db.execute(f"PRAGMA user_version = {_VERSION}")
        db.execute("PRAGMA synchronous = NORMAL")  # no fsync per write: a crash loses entries, never the file
    except BaseException:
        db.close()
        raise
    return db


_STORES: dict[str, _Store] = {}
_STORES_LOCK = allocate_lock()


def _store_for(root: str) -> _Store:
    store = _STORES.get(root)
    if store is None:
        with _STORES_LOCK:
            store = _STORES.get(root)
            if store is None:
                if not _STORES:
                    atexit.register(_each_store, _Store.flush_locked)  # write what is still waiting
                    if hasattr(os, "register_at_fork"):  # a child must never use its parent's connection
                        os.register_at_fork(before=lambda: _each_store(_Store.close_db_locked))
                store = _STORES[root] = _Store(root)
    return store


def _each_store(action: Callable[[_Store], None]) -> None:
    for store in list(_STORES.values()):
        if store.lock.acquire(timeout=_BUSY_S):  # a thread still inside the cache: skip, never hang
            try:
                action(store)
            finally:
                store.lock.release()


# -- values ------------------------------------------------------------------------------------------


def _typed(values: tuple, types: tuple[tuple[type, ...], ...], seen: set) -> bool:
    """Whether each of ``values`` is of exactly one of its ``types`` (``seen``: signatures that were)."""
    signature = tuple(map(type, values))
    if signature in seen:
        return True
    if len(signature) == len(types) and all(t in ok for t, ok in zip(signature, types)):
        seen.add(signature)
        return True
    return False


def _entry(row: tuple) -> tuple | None:
    """``(size, mtime_ns, ino, dev, values)`` from a row of ``_SELECT``, or None if it does not hold
    the types put() writes (a damaged database)."""
    if not _typed(row, _READ_TYPES, _READ_OK):
        return None
    path, size, mtime_ns, ino, dev, *values = row
    for i in _BOOLS:
        values[i] = values[i] != 0
    values.append(path)
    return size, mtime_ns, ino & _U64, dev & _U64, tuple(values)


def _storable(values: tuple) -> bool:
    """Whether ``values`` (every field of a MediaFacts, in order) hold exactly the types the fields
    declare, and values SQLite gives back unchanged (64-bit ints, no NaN, text that is UTF-8)."""
    if not _typed(values, _TYPES, _PUT_OK):
        return False
    for value in values:
        kind = type(value)
        if kind is int and not -_I64 <= value < _I64 or kind is float and isnan(value):
            return False
        if kind is str and not _encodable(value):
            return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a file name that is not UTF-8 (os.fsdecode's surrogates)
        return False
    return True


def _signed(number: int) -> int:
    """An inode or device number as SQLite's signed 64-bit integer (read back with ``& _U64``)."""
    return number - (1 << 64) if number >= _I64 else number


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _remove_legacy(root: str) -> None:
    """Delete the caches of earlier versions: a SQLite file of another layout, then marshal buckets."""
    for name in _LEGACY_FILES:
        _unlink(os.path.join(root, name))
    folder = os.path.join(root, _LEGACY_BUCKETS)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.endswith((".bin", ".tmp")) or name == "lock":
            _unlink(os.path.join(folder, name))
    try:
        os.rmdir(folder)
    except OSError:
        pass
