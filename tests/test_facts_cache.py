"""prep.facts_cache: hits only for unchanged files, survives any damage, works for two processes."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import threading
import time
from binascii import crc32
from pathlib import Path

import pytest
from hypothesis import given, settings
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


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "a.png"
    path.write_bytes(image_bytes("png", (30, 20)))
    return path


def bucket_file(root: Path, path: Path) -> Path:
    """The bucket file that holds ``path``'s entry."""
    return root / "facts" / f"{fc._bucket_of(os.path.abspath(path)):02x}.bin"


def stamp(path: Path) -> tuple:
    st_ = path.stat()
    return (st_.st_size, st_.st_mtime_ns, st_.st_ino, st_.st_dev)


def stored_entry(path: Path, values: tuple) -> tuple:
    """A bucket entry as put() writes it: the file's stamp, then every field of its facts."""
    return stamp(path) + (values,)


def png_values(width: int, source: Path) -> tuple:
    """What put() stores for a 20-pixel-high PNG ``width`` wide: every field, source the key."""
    return tuple(MediaFacts("image", "png", 100, width=width, height=20, source=os.path.abspath(source)))


def write_bucket(root: Path, path: Path, rows: dict, schema: str = fc._SCHEMA) -> Path:
    payload = marshal.dumps((schema, rows))
    target = bucket_file(root, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(fc._MAGIC + crc32(payload).to_bytes(4, "big") + payload)
    return target


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
                          text=True, timeout=60)
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
    png.write_bytes(image_bytes("png", (31, 20)))  # same path, new content
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
    assert FactsCache().path == tmp_path / "home" / "cache" / "facts"
    monkeypatch.delenv("SEEDANCE_PREP_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path / "xdg" / "seedance-prep"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_cache_root() == tmp_path / "user" / ".cache" / "seedance-prep"
    assert default_cache_root() == Path(paths.cache_dir())


# -- damage ----------------------------------------------------------------------------------------


def _flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "zeros", "bit-flip", "magic only"])
def test_damaged_bucket_is_rebuilt(tmp_path, png, damage):
    root = tmp_path / "c"
    cache = FactsCache(root)
    for i in range(200):  # one folder, one bucket file of a few kilobytes
        (tmp_path / f"{i}.png").write_bytes(image_bytes("png", (i + 1, 5)))
        cache.cached_inspect(tmp_path / f"{i}.png")
    cache.close()
    bucket = bucket_file(root, png)
    data = bucket.read_bytes()
    assert fc._decode_bucket(data) is not None
    bucket.write_bytes({"garbage": b"\x13\x37 not a cache " * 500, "truncated": data[: len(data) // 2],
                        "empty": b"", "zeros": b"\x00" * len(data), "bit-flip": _flip(data),
                        "magic only": data[:12]}[damage])
    fresh = FactsCache(root)
    assert [fresh.get(tmp_path / f"{i}.png") for i in (0, 150, 199)] == [None] * 3  # never trusted
    counting = Counting()
    assert fresh.cached_inspect(png, counting).width == 30
    fresh.close()
    assert fc._decode_bucket(bucket.read_bytes()) is not None  # rewritten whole
    assert FactsCache(root).cached_inspect(png, counting).width == 30
    assert counting.calls == 1  # caching works again after the rebuild


def test_other_schema_is_ignored_and_replaced(tmp_path, png):
    root = tmp_path / "c"
    lying = {str(png): stored_entry(png, png_values(999, png))}  # fresh stamp, facts of another inspector
    bucket = write_bucket(root, png, lying, schema="facts/1/kind,format")
    cache = FactsCache(root)
    assert cache.get(png) is None
    cache.cached_inspect(png)
    cache.close()
    assert FactsCache(root).get(png).width == 30
    assert fc._decode_bucket(bucket.read_bytes())  # now of this schema


def test_bucket_of_the_previous_format_is_rebuilt(tmp_path, png):
    # Format 1 (schema "facts/2/..."): each entry its own marshal blob of the stamp and every field
    # but source. Intact and of the same fields, but not of this format.
    root = tmp_path / "c"
    old_schema = "facts/2/" + ",".join(MediaFacts._fields)
    assert old_schema != fc._SCHEMA
    blob = marshal.dumps(stamp(png) + png_values(999, png)[:-1], 4)
    bucket = write_bucket(root, png, {str(png): blob}, schema=old_schema)
    counting = Counting()
    cache = FactsCache(root)
    assert cache.get(png) is None
    assert cache.cached_inspect(png, counting).width == 30
    cache.close()
    assert counting.calls == 1
    schema, rows = marshal.loads(bucket.read_bytes()[12:])
    assert schema == fc._SCHEMA and type(rows[str(png)]) is tuple  # rewritten in this format
    assert FactsCache(root).cached_inspect(png, counting).width == 30 and counting.calls == 1


def test_bucket_holds_every_entry_as_a_tuple_in_one_payload(tmp_path, png):
    cache = FactsCache(tmp_path / "c")
    facts = cache.cached_inspect(png)
    cache.close()
    data = bucket_file(tmp_path / "c", png).read_bytes()
    assert data[:8] == fc._MAGIC and int.from_bytes(data[8:12], "big") == crc32(data[12:])
    schema, rows = marshal.loads(data[12:])
    assert schema == fc._SCHEMA
    assert rows == {str(png): stamp(png) + (tuple(facts._replace(source=str(png))),)}
    assert MediaFacts._fields[-1] == "source"  # the stored values are the record's, in its order


def test_a_hit_is_a_full_media_facts_record(tmp_path, png):
    cache = FactsCache(tmp_path / "c")
    expected = inspect_path(png)._replace(source=str(png))
    cache.put(png, expected)
    cache.close()
    got = cache.get(str(png))
    assert type(got) is MediaFacts and got == expected and len(got) == len(MediaFacts._fields)
    assert (got.kind, got.format, got.width, got.height, got.source) == ("image", "png", 30, 20, str(png))
    assert got._replace(width=1).width == 1 and got._asdict()["height"] == 20
    assert cache.get(os.fsencode(png)).source == os.fsencode(png)  # reported as asked for


def test_crafted_bucket_is_read(tmp_path, png):
    # The control for the tests below: a well-formed entry written by hand is a hit.
    write_bucket(tmp_path / "c", png, {str(png): stored_entry(png, png_values(777, png))})
    got = FactsCache(tmp_path / "c").get(png)
    assert type(got) is MediaFacts and got.width == 777 and got.source == str(png)


def test_sqlite_cache_of_earlier_versions_is_removed(tmp_path, png):
    root = tmp_path / "c"
    root.mkdir()
    for name in fc._LEGACY_FILES:
        (root / name).write_bytes(b"SQLite format 3\x00")
    FactsCache(root).cached_inspect(png)
    assert sorted(p.name for p in root.iterdir()) == ["facts"]


@pytest.mark.parametrize("payload", ["rows as list", "rows as none", "no schema", "three items", "not a tuple"])
def test_bucket_of_another_shape_is_ignored(tmp_path, png, payload):
    good = {str(png): stored_entry(png, png_values(777, png))}
    body = {"rows as list": (fc._SCHEMA, list(good.items())), "rows as none": (fc._SCHEMA, None),
            "no schema": (good,), "three items": (fc._SCHEMA, good, good), "not a tuple": good}[payload]
    data = marshal.dumps(body)
    bucket = write_bucket(tmp_path / "c", png, {})
    bucket.write_bytes(fc._MAGIC + crc32(data).to_bytes(4, "big") + data)  # intact, but not a bucket
    cache = FactsCache(tmp_path / "c")
    assert cache.get(png) is None
    assert cache.cached_inspect(png).width == 30
    cache.close()
    assert FactsCache(tmp_path / "c").get(png).width == 30  # replaced by a bucket of this format


@pytest.mark.parametrize("change", [
    dict(width="30"), dict(width=True), dict(width=30.0), dict(fps="24"), dict(kind=b"image"),
    dict(bytes=None), dict(duration_s=[2.0]), dict(variable_fps=0), dict(problem=("bad",)),
])
def test_facts_of_other_types_are_not_stored(tmp_path, png, change):
    # Entries are used as read, so put() is where types are checked: nothing else reaches a bucket.
    cache = FactsCache(tmp_path / "c")
    cache.put(png, inspect_path(png)._replace(**change))
    assert cache.get(png) is None and cache._store.pending == {}
    cache.close()
    assert not bucket_file(tmp_path / "c", png).exists()


def test_foreign_values_are_not_stored(tmp_path, png):
    class Width(int):
        pass

    cache = FactsCache(tmp_path / "c")
    cache.put(png, inspect_path(png)._replace(width=Width(30)))
    assert cache.get(png) is None and cache._store.pending == {}
    cache.put(png, inspect_path(png)._replace(fps=24))  # an int where a float is declared is fine
    assert cache.get(png).fps == 24


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_bucket_decode_never_raises(data):
    got = fc._decode_bucket(fc._MAGIC + crc32(data).to_bytes(4, "big") + data)  # intact, but not ours
    assert got is None or type(got) is dict
    assert fc._decode_bucket(data) is None


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=6) | st.lists(inner, max_size=6).map(tuple)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=30))
def test_bucket_decode_keeps_only_our_schema(rows):
    data = marshal.dumps((fc._SCHEMA, rows))
    got = fc._decode_bucket(fc._MAGIC + crc32(data).to_bytes(4, "big") + data)
    assert got == (rows if type(rows) is dict else None)
    other = marshal.dumps(("facts/0/" + fc._SCHEMA, rows))
    assert fc._decode_bucket(fc._MAGIC + crc32(other).to_bytes(4, "big") + other) is None


def test_decode_accepts_what_put_writes(tmp_path, png):
    facts = MediaFacts("video", "mp4", 10, codec="h264", width=2, height=2, duration_s=2.0, fps=24.0,
                       frames=48, has_video=True, problem=None, source="x")
    cache = FactsCache(tmp_path / "c")
    cache.put(png, facts)
    cache.close()
    assert cache.get(png) == facts._replace(source=str(png))


# -- writing ---------------------------------------------------------------------------------------


def test_writes_wait_for_close_and_then_reach_other_processes(tmp_path, png):
    root = tmp_path / "c"
    cache = FactsCache(root)
    cache.cached_inspect(png)
    assert not bucket_file(root, png).exists()
    assert in_other_process(READER, root, png) == "None"
    cache.close()
    assert in_other_process(READER, root, png) == "30"


def test_exit_writes_what_was_not_closed(tmp_path, png):
    in_other_process(WRITER, tmp_path / "c", png)
    assert in_other_process(READER, tmp_path / "c", png) == "30"


def test_a_full_batch_is_written_without_close(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_BATCH", 5)
    cache = FactsCache(tmp_path / "c")
    files = []
    for i in range(5):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(image_bytes("png", (i + 1, 5)))
        cache.cached_inspect(files[-1])
        if i == 3:
            assert not bucket_file(tmp_path / "c", files[0]).exists()
    assert sorted(fc._decode_bucket(bucket_file(tmp_path / "c", files[0]).read_bytes())) == sorted(
        str(f) for f in files)


def test_instances_in_one_process_share_waiting_entries(tmp_path, png):
    counting = Counting()
    FactsCache(tmp_path / "c").cached_inspect(png, counting)  # never closed, like a CLI run in-process
    assert FactsCache(tmp_path / "c").cached_inspect(png, counting).width == 30
    assert counting.calls == 1


def test_writers_merge_with_each_other(tmp_path):
    files = [tmp_path / "x.png", tmp_path / "y.png"]
    for i, f in enumerate(files):
        f.write_bytes(image_bytes("png", (i + 10, 5)))
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(files[0])  # waiting in this process...
    in_other_process(WRITER, tmp_path / "c", files[1])  # ...while another one writes the same bucket
    cache.close()
    assert [in_other_process(READER, tmp_path / "c", f) for f in files] == ["10", "11"]


def test_a_write_picks_up_what_another_process_wrote_meanwhile(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_BATCH", 1)  # every put writes at once
    x, y = tmp_path / "x.png", tmp_path / "y.png"
    x.write_bytes(image_bytes("png", (10, 5)))
    y.write_bytes(image_bytes("png", (11, 5)))
    cache = FactsCache(tmp_path / "c")
    assert cache.get(x) is None  # the bucket is read (empty) once...
    in_other_process(WRITER, tmp_path / "c", y)  # ...then another process writes y into it
    assert cache.get(y) is None  # not read again on its own
    cache.cached_inspect(x)  # the write merges y from disk, and this process learns it
    assert cache.get(y).width == 11


def test_bucket_keeps_the_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_BUCKET_CAP", 3)
    cache = FactsCache(tmp_path / "c")
    files = [tmp_path / f"{i}.png" for i in range(4)]
    for i, f in enumerate(files[:3]):
        f.write_bytes(image_bytes("png", (i + 1, 5)))
        cache.cached_inspect(f)
        cache.close()
    files[0].write_bytes(image_bytes("png", (50, 5)))  # rewritten: its entry becomes the newest
    cache.cached_inspect(files[0])
    cache.close()
    files[3].write_bytes(image_bytes("png", (4, 5)))
    cache.cached_inspect(files[3])
    cache.close()
    kept = fc._decode_bucket(bucket_file(tmp_path / "c", files[0]).read_bytes())
    assert sorted(kept) == sorted(str(files[i]) for i in (0, 2, 3))
    assert cache.get(files[0]).width == 50


@pytest.mark.skipif(fc._fcntl is None, reason="no flock on this platform")
def test_writer_waits_for_the_lock_and_gives_up_in_time(tmp_path, png, monkeypatch):
    monkeypatch.setattr(fc, "_LOCK_WAIT_S", 0.3)
    cache = FactsCache(tmp_path / "c")
    assert cache.enabled
    other = os.open(tmp_path / "c" / "facts" / "lock", os.O_RDWR)  # as another process would hold it
    try:
        fc._fcntl.flock(other, fc._fcntl.LOCK_EX)
        cache.cached_inspect(png)
        started = time.monotonic()
        cache.close()
        assert time.monotonic() - started >= 0.3
        assert not bucket_file(tmp_path / "c", png).exists()  # skipped, not written unlocked
        monkeypatch.setattr(fc, "_LOCK_WAIT_S", 5.0)
        cache.cached_inspect(png)
        threading.Timer(0.2, fc._fcntl.flock, (other, fc._fcntl.LOCK_UN)).start()
        cache.close()
        assert bucket_file(tmp_path / "c", png).exists()  # waited, then wrote
    finally:
        os.close(other)


def test_clear_forgets_memory_and_disk(tmp_path, png):
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(png)
    cache.close()
    assert cache.get(png) is not None
    cache.clear()
    assert cache.get(png) is None
    assert not bucket_file(tmp_path / "c", png).exists()
    assert in_other_process(READER, tmp_path / "c", png) == "None"


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


def test_cache_folder_taken_by_a_file_disables_caching(tmp_path, png):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "facts").write_text("not a folder")
    cache = FactsCache(tmp_path / "c")
    assert cache.cached_inspect(png).width == 30 and cache.get(png) is None
    assert cache.enabled is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_cache_directory_disables_caching(tmp_path, png):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    cache = FactsCache(root)
    assert cache.cached_inspect(png).width == 30 and cache.get(png) is None


def test_threads_share_one_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(fc, "_BATCH", 7)  # flushes while other threads read
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
    cache.close()
    assert all(cache.get(f).width == i + 1 for i, f in enumerate(files))


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


def test_two_processes_at_once(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i}.png").write_bytes(image_bytes("png", (i + 1, 3)))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "c"), str(folder), "8"],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(out.strip() == "ok" for out, _ in outs)
    cache = FactsCache(tmp_path / "c")
    assert sum(cache.get(f) is not None for f in folder.glob("*.png")) == 40


def test_warm_lookup_on_the_general_path_never_inspects_again(tmp_path, media, monkeypatch):
    # MPEG-TS has no fast parser, so a cold inspection is a full pymediainfo parse; warm must skip it.
    # (How much faster that is, is measured in bench/bench_inspect.py, not asserted here.)
    clip = media.video(container="mpegts", seconds=2.0)
    cold_facts = inspect_path(clip)
    assert (cold_facts.kind, cold_facts.format, cold_facts.width) == ("video", "ts", 64)
    cache = FactsCache(tmp_path / "c")
    cache.cached_inspect(clip)
    cache.close()

    def no_inspection(path):
        raise AssertionError("inspected despite a warm cache")

    assert FactsCache(tmp_path / "c").cached_inspect(clip, no_inspection) == cold_facts