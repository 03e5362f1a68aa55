"""prep.facts_cache: hits only for unchanged files, survives any damage, works for two processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prep import facts_cache as fc
from prep.facts_cache import FactsCache, default_cache_root
from prep.inspect import inspect_path
from prep.model import MediaFacts

try:
    from tests.media import image_bytes, media
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from media import image_bytes, media

__all__ = ["media"]

ROOT = Path(__file__).resolve().parents[1]


class Counting:
    def __init__(self):
        self.calls = 0

    def __call__(self, path):
        self.calls += 1
        return inspect_path(path)


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "a.png"
    path.write_bytes(image_bytes("png", (30, 20)))
    return path


def test_round_trip_and_source_is_the_path_asked_for(tmp_path, png, monkeypatch):
    cache = FactsCache(tmp_path / "c")
    facts = inspect_path(png)
    cache.put(png, facts)
    assert cache.get(png) == facts
    monkeypatch.chdir(png.parent)
    relative = cache.get("a.png")
    assert relative.source == "a.png" and relative.width == 30


def test_cached_inspect_inspects_once_and_persists(tmp_path, png):
    counting = Counting()
    first = FactsCache(tmp_path / "c").cached_inspect(png, counting)
    again = FactsCache(tmp_path / "c")  # a new process would start like this
    assert again.cached_inspect(png, counting) == first
    assert again.cached_inspect(png, counting) == first
    assert counting.calls == 1


def test_changed_file_is_a_miss(tmp_path, png):
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(png)
    png.write_bytes(image_bytes("png", (31, 20)))  # same path, new content
    assert cache.get(png) is None
    assert cache.cached_inspect(png).width == 31
    st_ = png.stat()
    os.utime(png, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1))  # same bytes, new mtime
    assert cache.get(png) is None


def test_exceptions_propagate_and_nothing_is_stored(tmp_path):
    cache = FactsCache(tmp_path / "c")
    with pytest.raises(FileNotFoundError):
        cache.cached_inspect(tmp_path / "missing.png")
    assert cache.get(tmp_path / "missing.png") is None


def test_file_changing_during_inspection_is_not_stored(tmp_path, png):
    cache = FactsCache(tmp_path / "c")

    def inspect_then_touch(path):
        facts = inspect_path(path)
        png.write_bytes(image_bytes("png", (99, 20)))
        return facts

    assert cache.cached_inspect(png, inspect_then_touch).width == 30
    assert cache.cached_inspect(png).width == 99


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEEDANCE_PREP_HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path / "home" / "cache"
    assert FactsCache().path == tmp_path / "home" / "cache" / "facts.sqlite3"
    monkeypatch.delenv("SEEDANCE_PREP_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "seedance-prep"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_cache_root() == tmp_path / "user" / ".cache" / "seedance-prep"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "zeros"])
def test_damaged_database_is_rebuilt(tmp_path, png, damage):
    root = tmp_path / "c"
    cache = FactsCache(root)
    for i in range(200):  # enough rows for several pages, so truncation cuts real data
        (tmp_path / f"{i}.png").write_bytes(image_bytes("png", (i + 1, 5)))
        cache.cached_inspect(tmp_path / f"{i}.png")
    cache.close()
    fc._unlink_db(root / "facts.sqlite3-wal")  # keep only the main file, then damage it
    db = root / "facts.sqlite3"
    data = db.read_bytes()
    db.write_bytes({"garbage": b"\x13\x37 not sqlite " * 500, "truncated": data[: len(data) // 2],
                    "empty": b"", "zeros": b"\x00" * len(data)}[damage])
    fresh = FactsCache(root)
    for i in (0, 150, 199):
        got = fresh.get(tmp_path / f"{i}.png")
        assert got is None or got.width == i + 1  # never wrong, at worst forgotten
    counting = Counting()
    assert fresh.cached_inspect(png, counting).width == 30
    assert FactsCache(root).cached_inspect(png, counting).width == 30
    assert counting.calls == 1  # caching works again after the rebuild


def test_other_schema_is_rebuilt(tmp_path, png):
    root = tmp_path / "c"
    root.mkdir()
    with sqlite3.connect(root / "facts.sqlite3") as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema', 'facts/0/kind,format')")
        db.execute("CREATE TABLE facts (path TEXT PRIMARY KEY, blob BLOB)")
        db.execute("INSERT INTO facts VALUES (?, 'x')", (str(png),))
    cache = FactsCache(root)
    assert cache.get(png) is None
    cache.cached_inspect(png)
    assert FactsCache(root).get(png).width == 30


@pytest.mark.parametrize("stored", ["not json", "[]", '{"kind": "image"}', "null",
                                    json.dumps(["image", "png", "12"] + [None] * 14),
                                    json.dumps(["image", "png", 12, None, True] + [None] * 12)])
def test_bad_rows_are_misses(tmp_path, png, stored):
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(png)
    cache.close()
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE facts SET facts = ?", (stored,))
    again = FactsCache(tmp_path / "c")
    assert again.get(png) is None
    assert again.cached_inspect(png).width == 30


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=20), max_leaves=40))
def test_decode_never_raises(value):
    got = fc._decode(json.dumps(value))
    assert got is None or isinstance(got, MediaFacts)


def test_decode_accepts_what_put_writes():
    facts = MediaFacts("video", "mp4", 10, codec="h264", width=2, height=2, duration_s=2.0, fps=24.0,
                       frames=48, has_video=True, problem=None, source="x")
    assert fc._decode(json.dumps([getattr(facts, f) for f in fc._FIELDS])) == facts


def test_unwritable_cache_directory_disables_caching(tmp_path, png):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    cache = FactsCache(blocker / "cache")
    assert cache.enabled is False
    assert cache.get(png) is None
    cache.put(png, inspect_path(png))
    assert cache.cached_inspect(png).width == 30


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_cache_directory_disables_caching(tmp_path, png):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    cache = FactsCache(root)
    assert cache.cached_inspect(png).width == 30 and cache.get(png) is None


def test_threads_share_one_cache(tmp_path):
    files = []
    for i in range(20):
        path = tmp_path / f"{i}.png"
        path.write_bytes(image_bytes("png", (i + 1, 3)))
        files.append(path)
    cache = FactsCache(tmp_path / "c")
    errors = []

    def work():
        try:
            for _ in range(5):
                for i, path in enumerate(files):
                    assert cache.cached_inspect(path).width == i + 1
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


WORKER = """
import sys
from pathlib import Path
from prep.facts_cache import FactsCache
root, folder, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
files = sorted(folder.glob("*.png"))
for r in range(rounds):
    cache = FactsCache(root)  # a new connection each round, like separate CLI runs
    for i, f in enumerate(files):
        facts = cache.cached_inspect(f)
        assert facts.width == int(f.stem) + 1, (f, facts)
    cache.close()
print("ok")
"""


def test_two_processes_at_once(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i}.png").write_bytes(image_bytes("png", (i + 1, 3)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "c"), str(folder), "8"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(out.strip() == "ok" for out, _ in outs)
    cache = FactsCache(tmp_path / "c")
    assert sum(cache.get(f) is not None for f in folder.glob("*.png")) == 40


def test_warm_lookup_is_at_least_20x_faster_than_cold_inspection_on_the_general_path(tmp_path, media):
    # MPEG-TS has no fast parser, so cold inspection is a full pymediainfo parse.
    clip = media.video(container="mpegts", seconds=2.0)
    cold_facts = inspect_path(clip)
    assert (cold_facts.kind, cold_facts.format, cold_facts.width) == ("video", "ts", 64)
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(clip)
    warm_cache = FactsCache(tmp_path / "c")  # fresh instance: no in-process memo

    def best(fn, n=15):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn(clip)
            times.append(time.perf_counter() - t)
        return min(times)

    def warm_get(path):
        warm_cache._memo.clear()  # measure the database path, not the in-process memo
        return warm_cache.get(path)

    cold = best(inspect_path)
    warm = best(warm_get)
    assert warm_cache.get(clip) == cold_facts
    assert cold / warm >= 20, (cold, warm)
