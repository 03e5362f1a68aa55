"""A content-hash cache of fix outputs: the same source bytes fixed the same way give the same output,
so a re-run copies it instead of running the executor.

Layout, under ``<cache_dir>/fix-cache/`` (:func:`prep.paths.cache_dir`, i.e. ``$SEEDANCE_PREP_HOME/cache``):

- ``objects/<sha256>``: an output file, stored once under the hash of its own bytes (content-addressed:
  two jobs with the same output share it);
- ``jobs/<key>.json``: ``{"object": <sha256>, "size": <bytes>}`` where ``key`` is the sha256 of the
  source's content hash, the job's kind, its target record's repr (records are named tuples of plain
  values, so the repr is canonical) and :data:`FIX_REVISION`;
- ``hashes.json``: a memo of source hashes, realpath → [size, mtime_ns, ctime_ns, inode, sha256], so an
  unchanged source is not read again (any rewrite changes its ctime at least: a miss).

Sources and outputs are hashed in 1 MiB chunks, never whole in memory. Every write goes through a
temporary file and a rename, so a reader sees a whole entry or none. An object is hashed again while it
is copied out of the cache and the copy is kept only if the hash matches: a corrupt or truncated entry is
a miss (deleted, then replaced by the run), never an error. Any OS error (a read-only or full disk, the
cache path being a file) turns the cache off for the rest of the run: the fix itself never fails for it.

Size: the objects are bounded by ``SEEDANCE_PREP_FIX_CACHE_MB`` (default 2048 MB); :meth:`FixCache.prune`
(at the end of a run) deletes the least recently used objects (a hit refreshes an object's mtime) until
the total is under the bound. Job entries whose object is gone are misses, and are pruned with it when
they are over :data:`_MAX_JOBS`. The hash memo keeps at most :data:`_MAX_HASHES` paths (the oldest half
goes first).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

from .. import paths
from .files import atomic_output

# Bump when an executor starts writing different bytes for the same source and target. The key also
# holds a hash of the executors' own source files, Pillow's version and the ffmpeg binary's name and size
# (:func:`code_revision`), so an edited executor or an upgraded encoder never reuses an old output.
FIX_REVISION = 1
_EXECUTORS = ("images.py", "video.py", "audio.py", "ffmpeg.py", "files.py")
_CHUNK = 1 << 20
_DEFAULT_MB = 2048
_MAX_JOBS = 20000
_MAX_HASHES = 20000


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


_REVISION: list[str] = []


def code_revision() -> str:
    """:data:`FIX_REVISION`, the executors' source and the encoders' versions, hashed (once a process)."""
    if not _REVISION:
        h = hashlib.sha256(f"fix/{FIX_REVISION}".encode())
        here = os.path.dirname(os.path.abspath(__file__))
        for name in _EXECUTORS:
            try:
                with open(os.path.join(here, name), "rb") as fh:
                    h.update(fh.read())
            except OSError:
                h.update(b"?")
        h.update(_encoders().encode("utf-8", "replace"))
        _REVISION.append(h.hexdigest())
    return _REVISION[0]


def _encoders() -> str:
    """Pillow's version and which ffmpeg binary runs (imageio-ffmpeg's, by name and size, or
    IMAGEIO_FFMPEG_EXE), found without importing imageio-ffmpeg (30 ms) on a run that may not need it."""
    parts = []
    try:
        from PIL import __version__ as pillow

        parts.append(f"pillow={pillow}")
    except ImportError:
        parts.append("pillow=?")
    parts.append(f"exe={os.environ.get('IMAGEIO_FFMPEG_EXE', '')}")
    try:
        from importlib.util import find_spec

        spec = find_spec("imageio_ffmpeg")
        for folder in (spec.submodule_search_locations or []) if spec else []:
            binaries = os.path.join(folder, "binaries")
            for name in sorted(os.listdir(binaries)):
                if name.startswith("ffmpeg"):
                    parts.append(f"{name}:{os.path.getsize(os.path.join(binaries, name))}")
    except (ImportError, OSError, ValueError):
        parts.append("ffmpeg=?")
    return "\0".join(parts)


def job_key(source_hash: str, kind: str, target) -> str:
    text = f"{code_revision()}\0{source_hash}\0{kind}\0{type(target).__name__}{target!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _limit_bytes() -> int:
    try:
        return max(0, int(float(os.environ.get("SEEDANCE_PREP_FIX_CACHE_MB", _DEFAULT_MB)) * (1 << 20)))
    except ValueError:
        return _DEFAULT_MB << 20


class FixCache:
    """One run's view of the cache. Every method is safe to call when the cache is off (a no-op or a miss)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = root or os.path.join(paths.cache_dir(), "fix-cache")
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._hashes: dict[str, list] | None = None
        self._hashes_dirty = False
        try:
            os.makedirs(os.path.join(self.root, "objects"), exist_ok=True)
            os.makedirs(os.path.join(self.root, "jobs"), exist_ok=True)
        except OSError:
            self.enabled = False

    # --- source hashes -------------------------------------------------------------------------

    def source_hash(self, path: str, *, memo: bool = True) -> str | None:
        """The sha256 of ``path``'s bytes (memoised by size, mtime, ctime and inode unless ``memo`` is false:
        a temporary file, e.g. a decoded data: URL, is never seen again); None if unreadable."""
        if not memo:
            try:
                return file_sha256(path)
            except OSError:
                return None
        try:
            st = os.stat(path)
            real = os.path.realpath(path)
        except OSError:
            return None
        table = self._memo()
        seen = table.get(real)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        if isinstance(seen, list) and len(seen) == 5 and seen[:4] == stamp and isinstance(seen[4], str):
            return seen[4]
        try:
            digest = file_sha256(path)
        except OSError:
            return None
        table.pop(real, None)
        table[real] = [*stamp, digest]
        self._hashes_dirty = True
        return digest

    def _memo(self) -> dict[str, list]:
        if self._hashes is None:
            self._hashes = {}
            if self.enabled:
                try:
                    with open(os.path.join(self.root, "hashes.json"), "rb") as fh:
                        data = json.load(fh)
                    if isinstance(data, dict):
                        self._hashes = data
                except (OSError, ValueError):
                    pass
        return self._hashes

    # --- entries --------------------------------------------------------------------------------

    def _entry_path(self, key: str) -> str:
        return os.path.join(self.root, "jobs", f"{key}.json")

    def _object_path(self, digest: str) -> str:
        return os.path.join(self.root, "objects", digest)

    def fetch(self, key: str, out_path: str) -> bool:
        """Copy the cached output of job ``key`` to ``out_path`` (atomically); False on a miss."""
        if not self.enabled:
            return False
        entry = self._entry_path(key)
        try:
            with open(entry, "rb") as fh:
                data = json.load(fh)
            digest, size = data["object"], data["size"]
            if not (isinstance(digest, str) and len(digest) == 64 and isinstance(size, int)):
                raise ValueError("bad entry")
            obj = self._object_path(digest)
            if os.path.getsize(obj) != size:
                raise ValueError("bad size")
            with atomic_output(out_path) as tmp:
                h = hashlib.sha256()
                with open(obj, "rb") as src, open(tmp, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        dst.write(chunk)
                if h.hexdigest() != digest:
                    raise _Corrupt(obj)
        except FileNotFoundError:
            self.misses += 1
            return False
        except _Corrupt as exc:  # the object's bytes changed: drop it, the run makes it again
            self._forget(entry, str(exc))
            self.misses += 1
            return False
        except (OSError, ValueError, KeyError, TypeError):
            self._forget(entry, None)
            self.misses += 1
            return False
        try:
            os.utime(obj)  # recently used: the last to be evicted
        except OSError:
            pass
        self.hits += 1
        return True

    def store(self, key: str, out_path: str) -> None:
        """Remember ``out_path`` (a finished output) as job ``key``'s output."""
        if not self.enabled:
            return
        try:
            digest = file_sha256(out_path)
            size = os.path.getsize(out_path)
            obj = self._object_path(digest)
            if not (os.path.exists(obj) and os.path.getsize(obj) == size):
                with atomic_output(obj) as tmp:
                    shutil.copyfile(out_path, tmp)
            with atomic_output(self._entry_path(key)) as tmp, open(tmp, "w") as fh:
                json.dump({"object": digest, "size": size}, fh)
        except OSError:
            self.enabled = False

    def _forget(self, entry: str, obj: str | None) -> None:
        for path in (entry, obj):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    # --- end of run ---------------------------------------------------------------------------

    def close(self) -> None:
        """Write the hash memo and keep the cache within its bounds."""
        if not self.enabled:
            return
        try:
            if self._hashes_dirty and self._hashes is not None:
                memo = self._hashes
                if len(memo) > _MAX_HASHES:  # insertion order: the oldest first
                    memo = dict(list(memo.items())[len(memo) // 2:])
                with atomic_output(os.path.join(self.root, "hashes.json")) as tmp, open(tmp, "w") as fh:
                    json.dump(memo, fh)
                self._hashes_dirty = False
            self.prune()
        except OSError:
            self.enabled = False

    def prune(self, limit: int | None = None) -> None:
        """Delete the least recently used objects until their total is at most ``limit`` bytes."""
        limit = _limit_bytes() if limit is None else limit
        objects = []
        total = 0
        with os.scandir(os.path.join(self.root, "objects")) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                try:
                    st = e.stat()
                except OSError:
                    continue
                objects.append((st.st_mtime_ns, e.path, st.st_size))
                total += st.st_size
        if total > limit:
            for _, path, size in sorted(objects):
                try:
                    os.unlink(path)
                except OSError:
                    continue
                total -= size
                if total <= limit:
                    break
        jobs_dir = os.path.join(self.root, "jobs")
        names = os.listdir(jobs_dir)
        if len(names) > _MAX_JOBS:
            present = {os.path.basename(p) for _, p, _ in objects if os.path.exists(p)}
            for name in names:
                entry = os.path.join(jobs_dir, name)
                try:
                    with open(entry, "rb") as fh:
                        if json.load(fh).get("object") in present:
                            continue
                except (OSError, ValueError, AttributeError):
                    pass
                try:
                    os.unlink(entry)
                except OSError:
                    pass


class _Corrupt(Exception):
    pass
