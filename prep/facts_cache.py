"""A persistent cache of :class:`~prep.model.MediaFacts` for local files.

An entry is keyed by the file's absolute path and checked against its size, modification time
(nanoseconds), inode and device, so any rewrite of the file is a miss. Entries live in ``facts/``
under :func:`prep.paths.cache_dir`, spread over at most 256 bucket files by the file's folder: a run
reads only the buckets of the folders it touches, each with one read, one CRC and one
``marshal.loads`` that yields every entry as a plain tuple, and then a lookup is a dict lookup, one
``stat()`` and one tuple copy into a :class:`~prep.model.MediaFacts`. Nothing is locked, decoded,
validated, queried or imported per lookup. (No SQLite: importing ``sqlite3`` alone costs more than a
warm lookup of a whole folder of 200 files.)

Writes are batched: ``put`` keeps entries in memory and writes them when many are waiting, at
``close()`` and at interpreter exit. Every :class:`FactsCache` on the same root in one process
shares those entries, so a second instance sees what the first put before either wrote.

The cache is an accelerator, never a source of truth: each bucket file carries the schema (bumped
with :data:`INSPECTOR_REVISION` and :data:`FORMAT_REVISION`) and a CRC-32 of its content, and a file
that is damaged, truncated, of another schema or of another shape is ignored whole and replaced at
the next write. A file that passes the CRC and the schema is what this version's ``put`` wrote, and
``put`` keeps only values of the exact types :class:`~prep.model.MediaFacts` declares, so entries
are used as read, unchecked. Writers hold an exclusive lock (``flock``) while they merge
their entries with what is on disk and replace the file atomically, so processes sharing the cache
lose nothing and readers never see half a file. A cache directory that cannot be written means no
caching.
"""

from __future__ import annotations

import atexit
import marshal
import os
from _thread import allocate_lock  # threading.Lock itself, without importing threading (~1 ms)
from binascii import crc32
from collections.abc import Callable

from prep import paths
from prep.model import MediaFacts

__all__ = ["FactsCache", "default_cache_root"]

# Bump when the inspector starts reporting different facts for the same bytes.
INSPECTOR_REVISION = 6
# Bump when the layout of a bucket file changes (2: entries as tuples in the bucket's one payload).
FORMAT_REVISION = 2
_FIELDS = MediaFacts._fields
_SOURCE = _FIELDS.index("source")  # stored as the entry's own key: a hit by that key needs no edit
# Stored in every bucket file; any difference (new MediaFacts field, new revision) rebuilds the cache.
_SCHEMA = f"facts/{INSPECTOR_REVISION}.{FORMAT_REVISION}/" + ",".join(_FIELDS)
_MAGIC = b"SDPFACT\n"
_MARSHAL_VERSION = 4  # pinned, so every Python that reads version 4 shares the cache
_BUCKETS = 256
_BATCH = 256  # waiting entries that trigger a write before close() or exit
_BUCKET_CAP = 20_000  # entries per bucket file; the least recently written go first
_LOCK_WAIT_S = 2.0
_LEGACY_FILES = ("facts.sqlite3", "facts.sqlite3-wal", "facts.sqlite3-shm", "facts.sqlite3-journal")
_TYPE_NAMES = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,), "None": (type(None),)}


def _allowed_types(annotation: str) -> tuple[type, ...]:
    out: tuple[type, ...] = ()
    for part in annotation.split("|"):
        out += _TYPE_NAMES.get(part.strip(), ())
    return out


# An entry is the tuple (size, mtime_ns, ino, dev, values): the file's stamp, then every MediaFacts
# field in order as a plain tuple, source being the entry's key. These are the exact types ``put``
# lets each field hold, so whatever it keeps marshal writes, and reads back alike.
_VALUE_TYPES = tuple(_allowed_types(str(MediaFacts.__annotations__[name])) for name in _FIELDS)
_GOOD_SIGNATURES: set[tuple[type, ...]] = set()  # type signatures already checked: one set lookup each
_new = tuple.__new__  # tuple.__new__(MediaFacts, values): a record without binding 17 arguments


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
        self._store = _store_for(os.path.abspath(os.path.join(self._root, "facts")))
        self._rows = self._store.rows

    @property
    def root(self) -> os.PathLike:
        """The cache folder (default :func:`default_cache_root`)."""
        from pathlib import Path

        return Path(self._root)

    @property
    def path(self) -> os.PathLike:
        """The folder of bucket files, ``facts/`` under :attr:`root`."""
        from pathlib import Path

        return Path(self._root, "facts")

    @property
    def enabled(self) -> bool:
        """False when the cache cannot work (its directory cannot be written...)."""
        with self._store.lock:
            return self._store.ready_locked()

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
        """Remember ``facts`` for ``path`` as it is now (or as ``stat_result`` describes it)."""
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
            from prep.inspect import inspect_path as inspect_fn
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
        """Write waiting entries and forget what was read, so the next use reads the disk again.
        Acts for every instance on the same root in this process."""
        self._store.close()

    def __enter__(self) -> FactsCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- lookup ------------------------------------------------------------------------------------

    def _get_slow(self, name: str | bytes) -> MediaFacts | None:
        """A lookup by a path that is not literally a key: relative, not normal, or in a bucket not
        read yet."""
        key = os.path.abspath(os.fsdecode(name))
        store = self._store
        bucket = _bucket_of(key)
        if bucket not in store.loaded:
            with store.lock:
                if not store.ready_locked():
                    return None
                if bucket not in store.loaded:
                    store.load_locked(bucket)
        if key not in self._rows:
            return None
        facts = self.get(key)  # now a lookup by the key itself
        return facts if facts is None or name == key else facts._replace(source=name)


class _Store:
    """What one process knows of one cache folder; shared by every FactsCache on it.

    ``rows`` maps a path to its entry ``(size, mtime_ns, ino, dev, values)``, as read from disk or
    put; ``pending`` holds the entries not written yet. Entries are never changed in place, only
    replaced whole. ``lock`` guards setup, loading and writing; lookups take no lock.
    """

    def __init__(self, folder: str):
        self.folder = folder
        self.rows: dict[str, tuple] = {}
        self.pending: dict[str, tuple] = {}
        self.loaded: set[int] = set()
        self.lock = allocate_lock()
        self.ready = False
        self.disabled = False
        self.lock_fd: int | None = None
        self.lock_pid = 0
        self.written = 0  # entries in the buckets written last: bigger buckets wait for bigger batches

    def ready_locked(self) -> bool:
        """Open (creating the folder if need be) the lock file once; False, caching off, if that fails."""
        if self.ready:
            return not self.disabled
        self.ready = True
        lock = os.path.join(self.folder, "lock")
        try:
            try:
                self.lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, 0o644)
            except FileNotFoundError:
                os.makedirs(self.folder, exist_ok=True)
                _remove_legacy(os.path.dirname(self.folder))
                self.lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, 0o644)
            self.lock_pid = os.getpid()
        except OSError:
            self.disabled = True
        return not self.disabled

    def bucket_path(self, bucket: int) -> str:
        return os.path.join(self.folder, f"{bucket:02x}.bin")

    def load_locked(self, bucket: int) -> None:
        self.loaded.add(bucket)
        disk = _read_bucket(self.bucket_path(bucket))
        if not disk:
            return
        if self.rows.keys().isdisjoint(disk):
            self.rows.update(disk)
        else:
            for key, row in disk.items():
                self.rows.setdefault(key, row)  # what this process put is at least as new

    def put(self, key: str, stamp: tuple[int, int, int, int], facts: MediaFacts) -> None:
        values = tuple(facts)
        if len(values) != len(_FIELDS):
            return
        values = values[:_SOURCE] + (key,) + values[_SOURCE + 1:]
        if not _valid(values):
            return  # not facts the inspector makes (a foreign number type...): not ours to keep
        row = stamp + (values,)
        with self.lock:
            if not self.ready_locked():
                return
            self.rows[key] = self.pending[key] = row
            if len(self.pending) >= max(_BATCH, self.written // 2):
                self.flush_locked()

    def flush_locked(self) -> None:
        """Merge the waiting entries into their bucket files under the inter-process lock."""
        if not self.pending or self.disabled:
            return
        pending, self.pending = self.pending, {}
        by_bucket: dict[int, dict[str, tuple]] = {}
        for key, row in pending.items():
            by_bucket.setdefault(_bucket_of(key), {})[key] = row
        if not self._lock_file():
            return  # another process held the lock too long: these entries stay in memory only
        try:
            written = 0
            for bucket, rows in by_bucket.items():
                path = self.bucket_path(bucket)
                current = _read_bucket(path) or {}  # a damaged file is replaced, not merged
                for key in rows:
                    current.pop(key, None)  # re-inserted at the end, so the cap drops the oldest
                current.update(rows)
                if len(current) > _BUCKET_CAP:
                    for key in list(current)[: len(current) - _BUCKET_CAP]:
                        del current[key]
                _replace_file(path, _encode_bucket(current))
                written += len(current)
                self.rows.update(current)  # mine, merged with what other processes wrote meanwhile
                self.loaded.add(bucket)
            self.written = written
        except OSError:
            pass  # a full disk or a vanished folder costs only speed
        finally:
            self._unlock_file()

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()
            self.rows.clear()
            self.loaded.clear()
            if not self.ready_locked() or not self._lock_file():
                return
            try:
                for name in os.listdir(self.folder):
                    if name.endswith((".bin", ".tmp")):
                        _unlink(os.path.join(self.folder, name))
            except OSError:
                pass
            finally:
                self._unlock_file()

    def close(self) -> None:
        with self.lock:
            self.flush_locked()
            self.rows.clear()
            self.loaded.clear()
            self.written = 0
            if self.lock_fd is not None:
                os.close(self.lock_fd)
                self.lock_fd = None
            self.ready = self.disabled = False

    def _lock_file(self) -> bool:
        if _fcntl is None:
            return True  # no flock here: two writers may drop each other's entries, never corrupt them
        if self.lock_pid != os.getpid():  # a forked child must not share its parent's lock
            if self.lock_fd is not None:
                os.close(self.lock_fd)  # the parent's own descriptor keeps its lock
            self.ready = self.disabled = False
            self.lock_fd = None
            if not self.ready_locked():
                return False
        import time

        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                _fcntl.flock(self.lock_fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.002)
            except OSError:
                return False

    def _unlock_file(self) -> None:
        if _fcntl is not None and self.lock_fd is not None:
            try:
                _fcntl.flock(self.lock_fd, _fcntl.LOCK_UN)
            except OSError:
                pass


try:
    import fcntl as _fcntl
except ImportError:  # Windows
    _fcntl = None
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

_STORES: dict[str, _Store] = {}
_STORES_LOCK = allocate_lock()


def _store_for(folder: str) -> _Store:
    store = _STORES.get(folder)
    if store is None:
        with _STORES_LOCK:
            store = _STORES.get(folder)
            if store is None:
                if not _STORES:
                    atexit.register(_flush_all)
                store = _STORES[folder] = _Store(folder)
    return store


def _flush_all() -> None:
    """At exit: write what every cache in this process still holds."""
    for store in list(_STORES.values()):
        if not store.lock.acquire(timeout=_LOCK_WAIT_S):
            continue  # a thread is still inside the cache: skip rather than hang the exit
        try:
            store.flush_locked()
        except Exception:  # noqa: BLE001 (exit must not fail because of an accelerator)
            pass
        finally:
            store.lock.release()


# -- encoding ----------------------------------------------------------------------------------------


def _bucket_of(key: str) -> int:
    return crc32(os.fsencode(os.path.dirname(key))) % _BUCKETS


def _encode_bucket(rows: dict[str, tuple]) -> bytes:
    payload = marshal.dumps((_SCHEMA, rows), _MARSHAL_VERSION)
    return _MAGIC + crc32(payload).to_bytes(4, "big") + payload


def _decode_bucket(data: bytes) -> dict[str, tuple] | None:
    """The entries of a bucket file, or None unless it is intact and of this schema. Entries are not
    checked one by one: a file that passes the CRC and the schema is what this version's ``put`` wrote
    (one forged to pass both could lie in well-formed entries anyway), and checking the shape of every
    entry costs 20-40 µs per 200 entries in a new process, some 5% of a warm lookup of them all."""
    if len(data) < 12 or data[:8] != _MAGIC:
        return None
    payload = memoryview(data)[12:]
    if crc32(payload) != int.from_bytes(data[8:12], "big"):
        return None
    try:
        schema, rows = marshal.loads(payload)
    except Exception:  # noqa: BLE001 (whatever marshal makes of bad bytes, the answer is "no entries")
        return None
    return rows if schema == _SCHEMA and type(rows) is dict else None


def _read_bucket(path: str) -> dict[str, tuple] | None:
    try:
        with open(path, "rb", buffering=0) as fh:
            data = fh.readall()
    except OSError:
        return None
    return _decode_bucket(data)


def _valid(values: tuple) -> bool:
    """Whether ``values`` (every field of a MediaFacts, in order) hold exactly the types the fields
    declare: what marshal writes and reads back unchanged."""
    signature = tuple(map(type, values))
    if signature in _GOOD_SIGNATURES:
        return True
    if len(signature) == len(_VALUE_TYPES) and all(t in ok for t, ok in zip(signature, _VALUE_TYPES)):
        _GOOD_SIGNATURES.add(signature)
        return True
    return False


def _replace_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so readers see the old file
    or the new one. No fsync (unlike :func:`prep.paths.write_atomic`): a file torn by a crash fails its
    CRC and is rebuilt, and a run should not wait on the disk for an accelerator."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _remove_legacy(root: str) -> None:
    """Delete the SQLite cache of earlier versions (nothing reads it any more)."""
    for name in _LEGACY_FILES:
        _unlink(os.path.join(root, name))
