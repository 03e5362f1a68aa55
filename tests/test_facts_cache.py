"""prep.facts_cache: hits only for unchanged files, survives any damage, works for many processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prep import facts_cache as fc
from prep import paths
from prep.facts_cache import FactsCache, default_cache_root
from prep.inspect import inspect_path
from prep.model import MediaFacts

try:
    from tests.media import image_bytes, media
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from media import image_bytes, media

__all__ = ["media"]

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


class Counting:
    def __init__(self):
        self.calls = 0

    def __call__(self, path):
        self.calls += 1
        return inspect_path(path)


def no_inspection(path):
    raise AssertionError(f"inspected {path} despite a warm cache")


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "a.png"
    path.write_bytes(image_bytes("png", (30, 20)))
    return path


def pngs(folder: Path, count: int) -> list[Path]:
    """``count`` PNG files in ``folder``, file ``i`` ``i + 1`` pixels wide."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        out.append(folder / f"{i}.png")
        out[-1].write_bytes(image_bytes("png", (i + 1, 3)))
    return out


def query(root: Path, sql: str, *args) -> list[tuple]:
    """Run ``sql`` on the cache's database as any other SQLite client would."""
    db = sqlite3.connect(root / fc._DB_NAME, isolation_level=None)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def stored_paths(root: Path) -> list[str]:
    return sorted(row[0] for row in query(root, "SELECT path FROM facts"))


def integrity(root: Path) -> str:
    return query(root, "PRAGMA integrity_check")[0][0]


READER = """
import sys
from prep.facts_cache import FactsCache
facts = FactsCache(sys.argv[1]).get(sys.argv[2])
print(None if facts is None else facts.width)
"""

WRITER = """
import sys
from prep.facts_cache import FactsCache
FactsCache(sys.argv[1]).cached_inspect(sys.argv[2])  # no close(): the exit hook writes
"""


def in_other_process(script: str, *args) -> str:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# -- hits and misses -------------------------------------------------------------------------------


def test_round_trip_and_source_is_the_path_asked_for(tmp_path, png, monkeypatch):
    cache = FactsCache(tmp_path / "c")
    facts = inspect_path(png)
    cache.put(png, facts)
    assert cache.get(png) == facts
    cache.close()  # read back from disk as well as from memory
    assert cache.get(str(png)) == facts._replace(source=str(png))
    monkeypatch.chdir(png.parent)
    relative = cache.get("a.png")
    assert relative.source == "a.png" and relative.width == 30
    assert cache.get(f"../{png.parent.name}/./a.png").width == 30
    assert cache.get(png).source == str(png)
    assert cache.get(os.fsencode(png)).source == os.fsencode(png)  # reported as asked for


def test_cached_inspect_inspects_once_and_persists(tmp_path, png):
    counting = Counting()
    first = FactsCache(tmp_path / "c").cached_inspect(png, counting)
    again = FactsCache(tmp_path / "c")  # same process: shares what the first one holds
    assert again.cached_inspect(png, counting) == first
    again.close()  # written, and forgotten in memory: the next lookup reads the disk
    assert FactsCache(tmp_path / "c").cached_inspect(png, counting) == first
    assert counting.calls == 1
    assert in_other_process(READER, tmp_path / "c", png) == "30"


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_changed_file_is_a_miss(tmp_path, png, where):
    cache = FactsCache(tmp_path / "c")

    def remembered():
        if where == "disk":
            cache.close()
        return cache.get(png)

    cache.cached_inspect(png)
    assert remembered().width == 30
    png.write_bytes(image_bytes("png", (31, 20)))  # same path, new content and size
    assert remembered() is None
    assert cache.cached_inspect(png).width == 31
    st_ = png.stat()
    os.utime(png, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1))  # same bytes, new mtime
    assert remembered() is None
    cache.cached_inspect(png)
    st_ = png.stat()
    twin = png.with_name("twin.png")  # same bytes and mtime, new inode
    twin.write_bytes(png.read_bytes())
    os.utime(twin, ns=(st_.st_atime_ns, st_.st_mtime_ns))
    os.replace(twin, png)
    assert png.stat().st_ino != st_.st_ino and png.stat().st_mtime_ns == st_.st_mtime_ns
    assert remembered() is None
    png.unlink()
    assert remembered() is None


def test_exceptions_propagate_and_nothing_is_stored(tmp_path):
    cache = FactsCache(tmp_path / "c")
    with pytest.raises(FileNotFoundError):
        cache.cached_inspect(tmp_path / "missing.png")
    assert cache.get(tmp_path / "missing.png") is None
    assert cache._store.pending == {}


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
    assert FactsCache().path == tmp_path / "home" / "cache" / "facts.db"
    monkeypatch.delenv("SEEDANCE_PREP_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "seedance-prep"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_cache_root() == tmp_path / "user" / ".cache" / "seedance-prep"
    assert default_cache_root() == Path(paths.cache_dir())


def test_a_hit_is_a_full_media_facts_record(tmp_path, png):
    cache = FactsCache(tmp_path / "c")
    expected = inspect_path(png)._replace(source=str(png))
    cache.put(png, expected)
    cache.close()
    got = cache.get(str(png))
    assert type(got) is MediaFacts and got == expected and len(got) == len(MediaFacts._fields)
    assert (got.kind, got.format, got.width, got.height, got.source) == ("image", "png", 30, 20, str(png))
    assert type(got.has_video) is bool and type(got.variable_fps) is bool  # not SQLite's 0 and 1
    assert got._replace(width=1).width == 1 and got._asdict()["height"] == 20


def _field_values(types: tuple[type, ...]):
    choices = {str: st.text(max_size=12), int: st.integers(-(2 ** 63), 2 ** 63 - 1),
               float: st.floats(allow_nan=False), bool: st.booleans(), type(None): st.none()}
    return st.one_of(*(choices[t] for t in types))


# Every field of MediaFacts, whatever its declared types allow (a new field is covered as declared).
facts_values = st.tuples(*(_field_values(types) for types in fc._TYPES)).map(lambda v: MediaFacts(*v))


def _exactly(facts: MediaFacts) -> list:
    return [(type(v), repr(v)) for v in facts]  # 1 is not True, 24 is not 24.0, -0.0 is not 0.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facts_values)
def test_facts_round_trip_exactly(tmp_path, png, facts):
    facts = facts._replace(unjudged=None)  # facts with a reason they are incomplete are not kept (below)
    cache = FactsCache(tmp_path / "c")
    cache.put(png, facts)
    cache.close()  # written, then read back from the database
    got = cache.get(png)
    assert got is not None and _exactly(got) == _exactly(facts._replace(source=str(png)))


def test_incomplete_facts_are_inspected_again_next_run(tmp_path, png):
    # "pymediainfo is not installed" or "ran out of time" may not hold next run: never remembered.
    calls = []

    def incomplete(path):
        calls.append(path)
        return inspect_path(path)._replace(unjudged="pymediainfo is not installed: pip install pymediainfo")

    first = FactsCache(tmp_path / "c")
    assert first.cached_inspect(png, incomplete).unjudged is not None
    first.close()
    assert FactsCache(tmp_path / "c").cached_inspect(png, Counting()).unjudged is None
    assert len(calls) == 1


@pytest.mark.parametrize("change", [
    {"width": "30"}, {"width": True}, {"width": 30.0}, {"fps": "24"}, {"kind": b"image"}, {"bytes": None},
    {"duration_s": [2.0]}, {"variable_fps": 0}, {"problem": ("bad",)},
    # values SQLite would not give back as they are
    {"duration_s": float("nan")}, {"frames": 2 ** 63}, {"bytes": -(2 ** 63) - 1}, {"problem": "bad \udcff"},
])
def test_facts_that_would_not_round_trip_are_not_stored(tmp_path, png, change):
    cache = FactsCache(tmp_path / "c")
    cache.put(png, inspect_path(png)._replace(**change))
    assert cache.get(png) is None and cache._store.pending == {}
    cache.close()
    assert stored_paths(tmp_path / "c") == []


def test_foreign_values_are_not_stored(tmp_path, png):
    class Width(int):
        pass

    cache = FactsCache(tmp_path / "c")
    cache.put(png, inspect_path(png)._replace(width=Width(30)))
    assert cache.get(png) is None and cache._store.pending == {}
    cache.put(png, inspect_path(png)._replace(fps=24))  # an int where a float is declared is fine
    assert cache.get(png).fps == 24


def test_a_file_name_that_is_not_utf8_is_simply_not_cached(tmp_path):
    folder = tmp_path / os.fsdecode(b"caf\xe9")  # a Latin-1 folder name: surrogates in Python
    path = pngs(folder, 1)[0]
    cache = FactsCache(tmp_path / "c")
    counting = Counting()
    assert cache.cached_inspect(path, counting).width == 1
    cache.close()
    assert cache.cached_inspect(path, counting).width == 1 and counting.calls == 2
    assert cache.enabled  # the rest of the run is still cached


def test_inode_and_device_numbers_past_63_bits_fit_sqlite():
    # overlayfs (xino) and some network file systems give inode numbers with the top bit set
    for number in (0, 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1):
        stored = fc._signed(number)
        assert -(2 ** 63) <= stored < 2 ** 63 and stored & fc._U64 == number


# -- schema ----------------------------------------------------------------------------------------


def test_the_schema_version_follows_the_revision_and_the_fields():
    version = fc._schema_version(fc.INSPECTOR_REVISION, fc._FIELDS)
    assert version == fc._VERSION and 0 < version < 2 ** 31
    assert fc._schema_version(fc.INSPECTOR_REVISION + 1, fc._FIELDS) != version
    assert fc._schema_version(fc.INSPECTOR_REVISION, fc._FIELDS + ("new_fact",)) != version
    assert fc._schema_version(fc.INSPECTOR_REVISION, fc._FIELDS[::-1]) != version


def test_entries_of_another_schema_are_dropped(tmp_path, png, monkeypatch):
    root = tmp_path / "c"
    FactsCache(root).cached_inspect(png)
    FactsCache(root).close()
    assert stored_paths(root) == [str(png)]
    # The next inspector revision (or a new MediaFacts field) opens the same database.
    monkeypatch.setattr(fc, "_VERSION", fc._schema_version(fc.INSPECTOR_REVISION + 1, fc._FIELDS))
    counting = Counting()
    cache = FactsCache(root)
    assert cache.cached_inspect(png, counting).width == 30 and counting.calls == 1  # a miss
    cache.close()
    assert query(root, "PRAGMA user_version") == [(fc._VERSION,)]
    assert FactsCache(root).cached_inspect(png, counting).width == 30 and counting.calls == 1  # then a hit


def test_a_database_of_another_layout_is_replaced(tmp_path, png):
    root = tmp_path / "c"
    root.mkdir()
    query(root, "CREATE TABLE facts (path TEXT PRIMARY KEY, facts TEXT)")  # e.g. one JSON column, version 0
    query(root, "INSERT INTO facts VALUES (?, ?)", str(png), "[1, 2, 3]")
    counting = Counting()
    assert FactsCache(root).cached_inspect(png, counting).width == 30
    FactsCache(root).close()
    assert FactsCache(root).cached_inspect(png, counting).width == 30 and counting.calls == 1
    assert stored_paths(root) == [str(png)] and integrity(root) == "ok"


def test_the_database_is_in_wal_mode(tmp_path, png):
    root = tmp_path / "c"
    FactsCache(root).cached_inspect(png)
    FactsCache(root).close()
    assert query(root, "PRAGMA journal_mode") == [("wal",)]


@pytest.mark.parametrize("damage", ["width as text", "stamp as bytes", "bool as text"])
def test_rows_of_the_wrong_types_are_misses(tmp_path, png, damage):
    root = tmp_path / "c"
    FactsCache(root).cached_inspect(png)
    FactsCache(root).close()
    column, value = {"width as text": ("width", "30"), "stamp as bytes": ("size", str(png.stat().st_size).encode()),
                     "bool as text": ("has_audio", "no")}[damage]
    query(root, f'UPDATE facts SET "{column}" = ?', value)
    counting = Counting()
    cache = FactsCache(root)
    assert cache.get(png) is None
    assert cache.cached_inspect(png, counting).width == 30 and counting.calls == 1
    cache.close()
    assert FactsCache(root).cached_inspect(png, counting).width == 30 and counting.calls == 1  # rewritten


def test_the_old_layouts_are_removed_once(tmp_path, png):
    root = tmp_path / "c"
    buckets = root / "facts"
    buckets.mkdir(parents=True)
    for name in ("00.bin", "7f.bin", "lock", "7f.bin.123.tmp"):  # the marshal bucket files
        (buckets / name).write_bytes(b"SDPFACT\n")
    for name in fc._LEGACY_FILES:  # the SQLite cache before the buckets
        (root / name).write_bytes(b"SQLite format 3\x00")
    FactsCache(root).cached_inspect(png)
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith("facts.db")) == []
    FactsCache(root).close()
    buckets.mkdir()
    (buckets / "00.bin").write_bytes(b"")  # written by an old version after the database existed
    FactsCache(root).cached_inspect(png)
    assert (buckets / "00.bin").exists()  # not looked for again: that costs every run a listdir


def test_a_foreign_file_among_the_buckets_is_kept(tmp_path, png):
    root = tmp_path / "c"
    (root / "facts").mkdir(parents=True)
    (root / "facts" / "00.bin").write_bytes(b"")
    (root / "facts" / "notes.txt").write_text("mine")
    FactsCache(root).cached_inspect(png)
    assert [p.name for p in (root / "facts").iterdir()] == ["notes.txt"]


# -- one query per folder, one transaction per write -----------------------------------------------


def test_a_folder_is_read_with_one_query_and_written_in_one_transaction(tmp_path):
    root = tmp_path / "c"
    files = pngs(tmp_path / "one", 200) + pngs(tmp_path / "two", 3)
    cache = FactsCache(root)
    assert cache.enabled
    statements: list[str] = []
    cache._store.db.set_trace_callback(statements.append)
    for f in files:
        cache.cached_inspect(f)
    cache.close()
    assert sum(s.startswith("INSERT") for s in statements) == len(files)  # one executemany...
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]

    cache = FactsCache(root)
    assert cache.enabled
    statements.clear()
    cache._store.db.set_trace_callback(statements.append)
    assert [cache.cached_inspect(f, no_inspection).width for f in files] == [*range(1, 201), 1, 2, 3]
    assert [s.split(" WHERE ")[1] for s in statements] == [f"dir = '{tmp_path / 'one'}'", f"dir = '{tmp_path / 'two'}'"]
    cache.close()


def test_writes_wait_for_close_and_then_reach_other_processes(tmp_path, png):
    root = tmp_path / "c"
    cache = FactsCache(root)
    cache.cached_inspect(png)
    assert stored_paths(root) == []
    assert in_other_process(READER, root, png) == "None"
    cache.close()
    assert in_other_process(READER, root, png) == "30"


def test_exit_writes_what_was_not_closed(tmp_path, png):
    in_other_process(WRITER, tmp_path / "c", png)
    assert in_other_process(READER, tmp_path / "c", png) == "30"


def test_a_full_batch_is_written_without_close(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_BATCH", 5)
    cache = FactsCache(tmp_path / "c")
    files = pngs(tmp_path / "f", 5)
    for i, f in enumerate(files):
        cache.cached_inspect(f)
        if i == 3:
            assert stored_paths(tmp_path / "c") == []
    assert stored_paths(tmp_path / "c") == sorted(str(f) for f in files)


def test_instances_in_one_process_share_waiting_entries(tmp_path, png):
    counting = Counting()
    FactsCache(tmp_path / "c").cached_inspect(png, counting)  # never closed, like a CLI run in-process
    assert FactsCache(tmp_path / "c").cached_inspect(png, counting).width == 30
    assert counting.calls == 1


def test_writers_merge_with_each_other(tmp_path):
    x, y = pngs(tmp_path / "f", 2)
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(x)  # waiting in this process...
    in_other_process(WRITER, tmp_path / "c", y)  # ...while another one writes the same folder
    cache.close()
    assert [in_other_process(READER, tmp_path / "c", f) for f in (x, y)] == ["1", "2"]


def test_the_oldest_entries_go_when_the_database_is_too_big(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_MAX_BYTES", 1)  # every write prunes the older half
    files = pngs(tmp_path / "f", 4)
    cache = FactsCache(tmp_path / "c")
    for f in files[:2]:
        cache.cached_inspect(f)
    cache.close()  # 2 entries, written together: one of them goes
    assert len(stored_paths(tmp_path / "c")) == 1
    for f in files[2:]:
        cache.cached_inspect(f)
    cache.close()  # 3 entries: the one written before goes
    assert stored_paths(tmp_path / "c") == sorted(str(f) for f in files[2:])
    assert integrity(tmp_path / "c") == "ok"


def test_clear_forgets_memory_and_disk(tmp_path, png):
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(png)
    cache.close()
    assert cache.get(png) is not None
    cache.clear()
    assert cache.get(png) is None
    assert stored_paths(tmp_path / "c") == []
    assert in_other_process(READER, tmp_path / "c", png) == "None"


# -- damage ----------------------------------------------------------------------------------------


def _damaged(data: bytes, damage: str) -> bytes:
    if damage == "garbage":
        return b"\x13\x37 not a cache " * 500
    if damage == "zeros":
        return b"\x00" * len(data)
    if damage == "header only":
        return data[:100]
    if damage == "truncated":
        return data[: len(data) // 2]
    assert damage == "pages scrambled"  # SQLite's header intact, every page after the first reversed
    return data[:4096] + bytes(reversed(data[4096:]))


@pytest.mark.parametrize("damage", ["garbage", "zeros", "header only", "truncated", "pages scrambled"])
def test_a_corrupt_database_never_fails_a_run_and_is_made_anew(tmp_path, png, damage):
    root = tmp_path / "c"
    files = pngs(tmp_path / "f", 200)
    cache = FactsCache(root)
    for f in files:
        cache.cached_inspect(f)
    cache.close()
    query(root, "PRAGMA wal_checkpoint(TRUNCATE)")  # every entry in the main file
    data = (root / "facts.db").read_bytes()
    assert len(data) > 3 * 4096
    (root / "facts.db").write_bytes(_damaged(data, damage))

    fresh = FactsCache(root)
    got = [fresh.cached_inspect(f).width for f in files[::20]]  # no exception, and right
    assert got == [int(f.stem) + 1 for f in files[::20]]
    assert fresh.cached_inspect(png).width == 30
    assert not (root / "facts.db").exists()  # found corrupt and deleted, caching off for the run
    fresh.close()

    counting = Counting()
    for _ in range(2):  # the run after the damage was found starts a new database
        cache = FactsCache(root)
        assert [cache.cached_inspect(f, counting).width for f in files[:3]] == [1, 2, 3]
        cache.close()
    assert counting.calls <= 3  # inspected once at most, then hits
    assert FactsCache(root).cached_inspect(files[0], no_inspection).width == 1
    assert integrity(root) == "ok"


def test_corruption_found_while_reading_turns_caching_off(tmp_path, png):
    root = tmp_path / "c"
    FactsCache(root).cached_inspect(png)
    FactsCache(root).close()
    (root / "facts.db").write_bytes(b"\x00" * 8192)
    cache = FactsCache(root)
    assert cache.cached_inspect(png).width == 30
    assert cache.enabled is False and not (root / "facts.db").exists()  # deleted: the next run starts afresh
    assert cache.get(png) is None


def test_check_reports_the_same_with_a_corrupt_cache(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDANCE_PREP_HOME", str(tmp_path / "home"))
    (tmp_path / "tiny.png").write_bytes(image_bytes("png", (40, 40)))  # below every model's minimum side
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "a cat"}, {"type": "image_url", "image_url": {"url": "tiny.png"}}]}))
    first = cli("check", request, "--format", "json")
    assert first.code == 1 and "image.dimensions" in first.out  # the image was read
    FactsCache().close()  # the run's entries written, as at the end of a CLI process
    database_file = tmp_path / "home" / "cache" / "facts.db"
    database_file.write_bytes(b"\x00" * database_file.stat().st_size)
    again = cli("check", request, "--format", "json")
    assert (again.code, again.json()) == (first.code, first.json())
    assert not database_file.exists()  # found corrupt, so the next run starts a new one


def test_unwritable_cache_directory_disables_caching(tmp_path, png):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    cache = FactsCache(blocker / "cache")
    assert cache.enabled is False
    assert cache.get(png) is None
    cache.put(png, inspect_path(png))
    assert cache.cached_inspect(png).width == 30
    assert cache.get(png) is None
    cache.close()


def test_database_path_taken_by_a_folder_disables_caching(tmp_path, png):
    (tmp_path / "c" / "facts.db").mkdir(parents=True)
    cache = FactsCache(tmp_path / "c")
    assert cache.cached_inspect(png).width == 30 and cache.get(png) is None
    assert cache.enabled is False


RUN = """
import json, sys
from prep.facts_cache import FactsCache
from prep.inspect import inspect_path
inspected = []
def counting(path):
    inspected.append(path)
    return inspect_path(path)
cache = FactsCache(sys.argv[1])
widths = [cache.cached_inspect(f, counting).width for f in sys.argv[2:]]
cache.close()
print(json.dumps({"widths": widths, "inspected": inspected}))
"""


def _without_file_permission_override() -> None:
    """In a child of a test run as root: drop the capabilities that ignore file permissions (from the
    bounding set, so the program it executes never has them), and read-only means read-only."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(root: Path, *files: Path) -> dict:
    """One run of the cache in a process that file permissions apply to (even when tests run as root)."""
    privileged = os.geteuid() == 0
    if privileged and not sys.platform.startswith("linux"):
        pytest.skip("root writes anywhere")
    try:
        done = subprocess.run([sys.executable, "-c", RUN, str(root), *map(str, files)], env=ENV, timeout=60,
                              capture_output=True, text=True, check=False,
                              preexec_fn=_without_file_permission_override if privileged else None)
    except subprocess.SubprocessError:
        pytest.skip("root, and cannot drop CAP_DAC_OVERRIDE here")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_read_only_cache_directory_disables_caching(tmp_path, png):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        assert run_unprivileged(root, png, png) == {"widths": [30, 30], "inspected": [str(png)] * 2}
        assert list(root.iterdir()) == []
    finally:
        root.chmod(0o700)


def test_read_only_database_never_fails_a_run(tmp_path, png):
    root = tmp_path / "c"
    FactsCache(root).cached_inspect(png)
    FactsCache(root).close()
    other = pngs(tmp_path / "f", 1)[0]
    for p in root.iterdir():
        p.chmod(0o444)
    root.chmod(0o500)
    try:
        got = run_unprivileged(root, png, other)
    finally:
        root.chmod(0o700)
        for p in root.iterdir():
            p.chmod(0o644)
    assert got["widths"] == [30, 1] and str(other) in got["inspected"]  # png: a hit or a miss, never an error
    assert integrity(root) == "ok" and stored_paths(root) == [str(png)]


HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    db.execute("PRAGMA locking_mode = EXCLUSIVE")  # not even readers get in
db.execute("BEGIN EXCLUSIVE")
db.execute("DELETE FROM facts WHERE path = 'nothing'")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.mark.parametrize("lock", ["write", "exclusive"])
def test_a_database_held_locked_by_another_process(tmp_path, png, monkeypatch, lock):
    root = tmp_path / "c"
    FactsCache(root).cached_inspect(png)
    FactsCache(root).close()
    other = pngs(tmp_path / "f", 1)[0]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root / "facts.db"), lock], env=ENV, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(fc, "_BUSY_S", 0.2)
        counting = Counting()
        results = []

        def run():
            cache = FactsCache(root)
            results.extend([cache.cached_inspect(png, counting).width, cache.cached_inspect(other, counting).width])
            cache.close()  # the write waits out the busy timeout, then gives up
            results.append(cache.get(other))
            cache.close()  # the run ends

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(timeout=30)  # hangs only if the lock is waited for without end
        assert not worker.is_alive()
        assert results == [30, 1, None]
        assert counting.calls == (1 if lock == "write" else 2)  # WAL readers pass a writer's lock
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert integrity(root) == "ok" and stored_paths(root) == [str(png)]  # nothing written, nothing torn
    cache = FactsCache(root)
    cache.cached_inspect(other)
    cache.close()
    assert stored_paths(root) == sorted([str(png), str(other)])  # the next run writes again


# -- many writers ----------------------------------------------------------------------------------


def test_threads_share_one_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_BATCH", 7)  # writes while other threads read
    files = pngs(tmp_path / "f", 20)
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
    cache.close()
    assert all(cache.get(f).width == i + 1 for i, f in enumerate(files))


def _write_all(root: str, files: list[str], start: multiprocessing.synchronize.Barrier) -> None:
    fc._BATCH = 4  # many small transactions, interleaved with the other writers'
    cache = FactsCache(root)
    start.wait(timeout=60)
    for f in files:
        assert cache.cached_inspect(f).width == int(Path(f).stem) + 1
    cache.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_processes_writing_at_once_lose_nothing(tmp_path):
    root = tmp_path / "c"
    shared = pngs(tmp_path / "shared", 10)
    own = [pngs(tmp_path / f"own{i}", 30) for i in range(4)]
    cache = FactsCache(root)
    cache.cached_inspect(shared[0])
    cache.close()
    assert cache.get(shared[0]) is not None  # this process has the database open when it forks...
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    workers = [ctx.Process(target=_write_all, args=(str(root), [str(f) for f in files + shared], start))
               for files in own]
    for w in workers:
        w.start()
    for f in shared[1:]:  # ...and keeps using it while the children write
        cache.cached_inspect(f)
    cache.close()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * 4
    assert integrity(root) == "ok"
    everything = [f for files in own for f in files] + shared
    assert stored_paths(root) == sorted(str(f) for f in everything)
    fresh = FactsCache(root)
    assert all(fresh.cached_inspect(f, no_inspection).width == int(f.stem) + 1 for f in everything)


WORKER = """
import sys
from pathlib import Path
from prep.facts_cache import FactsCache
root, folder, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
files = sorted(folder.glob("*.png"))
for r in range(rounds):
    cache = FactsCache(root)
    for i, f in enumerate(files):
        facts = cache.cached_inspect(f)
        assert facts.width == int(f.stem) + 1, (f, facts)
    cache.close()  # written, and read again from disk next round, like separate CLI runs
print("ok")
"""


def test_two_cli_like_processes_at_once(tmp_path):
    folder = tmp_path / "files"
    pngs(folder, 40)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "c"), str(folder), "8"],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(out.strip() == "ok" for out, _ in outs)
    cache = FactsCache(tmp_path / "c")
    assert sum(cache.get(f) is not None for f in folder.glob("*.png")) == 40
    assert integrity(tmp_path / "c") == "ok"


# -- start-up and the CLI --------------------------------------------------------------------------

IMPORTS = """
import json, sys
from prep.cli import main
rc = main(["check", sys.argv[1], "--format", "json"])
print(json.dumps({"rc": rc, "sqlite3": "_sqlite3" in sys.modules, "cache": "prep.facts_cache" in sys.modules}),
      file=sys.stderr)
"""


def test_sqlite3_is_imported_only_when_there_is_local_media_to_look_up(tmp_path, png):
    def check(content: list) -> dict:
        req = tmp_path / "r.json"
        req.write_text(json.dumps({"model": "doubao-seedance-2-0-260128",
                                   "content": [{"type": "text", "text": "a cat"}, *content]}))
        done = subprocess.run([sys.executable, "-c", IMPORTS, str(req)], capture_output=True, text=True,
                              env={**ENV, "SEEDANCE_PREP_HOME": str(tmp_path / "home")}, timeout=60, check=False)
        return json.loads(done.stderr.strip().splitlines()[-1])

    remote = {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}
    no_local_media = check([remote])
    assert no_local_media["rc"] in (0, 1) and not no_local_media["sqlite3"] and not no_local_media["cache"]
    local = {"type": "image_url", "image_url": {"url": str(png)}}
    assert check([local])["sqlite3"] is True  # the control: the same probe sees the import
    probe = ("import sys; from prep.facts_cache import FactsCache; FactsCache(sys.argv[1]); "
             "print([m for m in ('_sqlite3', 'typing', 'pathlib') if m in sys.modules])")
    assert in_other_process(probe, tmp_path / "c") == "[]"  # imported with no file to look up: nothing heavy


def test_warm_lookup_on_the_general_path_never_inspects_again(tmp_path, media):
    # MPEG-TS has no fast parser, so a cold inspection is a full pymediainfo parse; warm must skip it.
    # (How fast a warm run is, is measured in bench/bench_inspect.py, not asserted here.)
    clip = media.video(container="mpegts", seconds=2.0)
    cold_facts = inspect_path(clip)
    assert (cold_facts.kind, cold_facts.format) == ("video", "ts")
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(clip)
    cache.close()
    assert FactsCache(tmp_path / "c").cached_inspect(clip, no_inspection) == cold_facts
