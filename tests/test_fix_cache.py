"""The content-hash cache of ``fix``: a re-run of the same job copies its output instead of running the
executor; a changed source or target, or a damaged entry, is a miss; a cache that cannot be written is
no cache, never an error."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from media import media  # noqa: F401  (the fixture)

MEDIA_JOB = ROOT / "fixtures" / "media-job"


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A SEEDANCE_PREP_HOME of this test's own: an empty cache."""
    folder = tmp_path / "home"
    monkeypatch.setenv("SEEDANCE_PREP_HOME", str(folder))
    return folder


@pytest.fixture
def job(tmp_path, media) -> Path:
    """fixtures/media-job (a 3000×600 banner, a 15 fps clip) and a FLAC tone (a format to convert)."""
    folder = tmp_path / "job"
    shutil.copytree(MEDIA_JOB, folder)
    shutil.copy(media.audio(seconds=3.0, container="flac"), folder / "tone.flac")
    doc = json.loads((folder / "request.json").read_text())
    doc["content"].append({"type": "audio_url", "audio_url": {"url": "tone.flac"}, "role": "reference_audio"})
    (folder / "request.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """Count the executor calls (the jobs run in this process: -j 1)."""
    import prep.fix.audio
    import prep.fix.images
    import prep.fix.video

    counts = {"image": 0, "video": 0, "audio": 0}
    for module, name, kind in ((prep.fix.images, "fix_image", "image"), (prep.fix.video, "fix_video", "video"),
                               (prep.fix.audio, "fix_audio", "audio")):
        original = getattr(module, name)

        def counted(*args, _original=original, _kind=kind, **kwargs):
            counts[_kind] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return counts


def forbid_executors(monkeypatch) -> None:
    import prep.fix.audio
    import prep.fix.images
    import prep.fix.video

    def boom(*args, **kwargs):
        raise AssertionError("an executor ran on a cache hit")

    for module, name in ((prep.fix.images, "fix_image"), (prep.fix.video, "fix_video"), (prep.fix.audio, "fix_audio")):
        monkeypatch.setattr(module, name, boom)


def fix(cli, job: Path, out: Path, *extra: str):
    run = cli("fix", str(job / "request.json"), "--out", str(out), "-j", "1", *extra)
    assert run.code == 0, run.out + run.err
    return run


def test_a_second_run_copies_every_output_from_the_cache(cli, job, home, tmp_path, calls, monkeypatch):
    before = digests(job)
    fix(cli, job, tmp_path / "first")
    assert calls == {"image": 1, "video": 1, "audio": 1}
    forbid_executors(monkeypatch)
    run = fix(cli, job, tmp_path / "second")
    assert digests(tmp_path / "first" / "media") == digests(tmp_path / "second" / "media")
    assert (tmp_path / "first" / "request.json").read_text() == (tmp_path / "second" / "request.json").read_text()
    assert "check: clean" in run.out and digests(job) == before
    # Objects are content-addressed: each is stored under the hash of its own bytes.
    objects = home / "cache" / "fix-cache" / "objects"
    stored = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in objects.iterdir()}
    assert len(stored) == 3 and all(name == digest for name, digest in stored.items())


def test_no_cache_runs_the_executors_again(cli, job, home, tmp_path, calls):
    fix(cli, job, tmp_path / "first")
    fix(cli, job, tmp_path / "second", "--no-cache")
    assert calls == {"image": 2, "video": 2, "audio": 2}


def test_a_source_with_other_bytes_is_a_miss(cli, job, home, tmp_path, calls):
    from PIL import Image

    fix(cli, job, tmp_path / "first")
    with Image.open(job / "banner.png") as im:
        changed = im.convert("RGB")
    changed.putpixel((0, 0), (255, 0, 255))
    changed.save(job / "banner.png")
    fix(cli, job, tmp_path / "second")
    assert calls == {"image": 2, "video": 1, "audio": 1}
    assert digests(tmp_path / "first" / "media") != digests(tmp_path / "second" / "media")


def test_another_target_is_a_miss(cli, job, home, tmp_path, calls):
    fix(cli, job, tmp_path / "first")
    fix(cli, job, tmp_path / "second", "--pad-color", "#ff0000")
    assert calls["image"] == 2  # the banner is padded with another colour
    banner = next(p for p in (tmp_path / "second" / "media").iterdir() if p.name.startswith("banner"))
    from PIL import Image

    with Image.open(banner) as im:
        assert im.convert("RGB").getpixel((0, 0))[0] > 200  # red padding, not the cached black one


@pytest.mark.parametrize("damage", ["object-bytes", "object-truncated", "entry-garbage", "object-missing"])
def test_a_damaged_entry_is_a_miss_and_is_replaced(cli, job, home, tmp_path, calls, damage):
    fix(cli, job, tmp_path / "first")
    cache = home / "cache" / "fix-cache"
    for obj in (cache / "objects").iterdir():
        data = obj.read_bytes()
        if damage == "object-bytes":
            obj.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])
        elif damage == "object-truncated":
            obj.write_bytes(data[: len(data) // 2])
        elif damage == "object-missing":
            obj.unlink()
    if damage == "entry-garbage":
        for entry in (cache / "jobs").iterdir():
            entry.write_bytes(b"\x00{not json")
    fix(cli, job, tmp_path / "second")
    assert calls == {"image": 2, "video": 2, "audio": 2}
    assert digests(tmp_path / "first" / "media") == digests(tmp_path / "second" / "media")
    stored = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (cache / "objects").iterdir()}
    assert len(stored) == 3 and all(name == digest for name, digest in stored.items())  # replaced, whole
    fix(cli, job, tmp_path / "third")  # and hit again
    assert calls == {"image": 2, "video": 2, "audio": 2}


def test_a_cache_that_cannot_be_written_is_no_cache(cli, job, home, tmp_path, calls):
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "fix-cache").write_text("a file where the cache folder should be")
    fix(cli, job, tmp_path / "first")
    run = fix(cli, job, tmp_path / "second")
    assert calls == {"image": 2, "video": 2, "audio": 2} and "check: clean" in run.out
    assert digests(tmp_path / "first" / "media") == digests(tmp_path / "second" / "media")


def test_a_failed_copy_from_the_cache_leaves_no_partial_file(cli, job, home, tmp_path, monkeypatch):
    fix(cli, job, tmp_path / "first")
    for obj in (home / "cache" / "fix-cache" / "objects").iterdir():
        data = obj.read_bytes()
        obj.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the same size: caught only by the hash
    import prep.fix.images
    import prep.fix.video
    from prep.model import PrepError

    def fails(*args, **kwargs):
        raise PrepError("the executor failed")

    monkeypatch.setattr(prep.fix.images, "fix_image", fails)
    monkeypatch.setattr(prep.fix.video, "fix_video", fails)
    out = tmp_path / "second"
    run = cli("fix", str(job / "request.json"), "--out", str(out), "-j", "1")
    # The corrupt entries are misses, the executors then fail: those items are listed as not fixed and
    # copied as they were; nothing partial (no .part file, no bytes of the damaged cache entries) is left.
    assert run.code == 1 and "could not fix: the executor failed" in run.out, run.out + run.err
    left = sorted(p.name for p in (out / "media").iterdir())
    assert not [name for name in left if ".part" in name], left
    originals = {p.name: p.read_bytes() for p in job.iterdir() if p.is_file()}
    for name in left:
        if name in originals:
            assert (out / "media" / name).read_bytes() == originals[name], name


def test_the_cache_is_shared_by_jobs_in_worker_processes(cli, job, home, tmp_path, monkeypatch):
    fix(cli, job, tmp_path / "first")
    forbid_executors(monkeypatch)  # hits never reach a worker: they are copied in this process
    run = cli("fix", str(job / "request.json"), "--out", str(tmp_path / "second"), "-j", "2")
    assert run.code == 0, run.out + run.err
    assert digests(tmp_path / "first" / "media") == digests(tmp_path / "second" / "media")


def test_eviction_drops_the_least_recently_used_objects(tmp_path):
    import os

    from prep.fix.cache import FixCache

    cache = FixCache(str(tmp_path / "c"))
    outs = []
    for i in range(3):
        out = tmp_path / f"out{i}.bin"
        out.write_bytes(bytes([i]) * 1000)
        cache.store(f"{i:064x}", str(out))
        outs.append(out)
    objects = sorted((tmp_path / "c" / "objects").iterdir())
    for n, obj in enumerate(sorted(objects, key=lambda p: p.read_bytes()[0])):
        os.utime(obj, ns=(10**18 + n * 10**9, 10**18 + n * 10**9))  # out0 oldest … out2 newest
    assert cache.fetch(f"{0:064x}", str(tmp_path / "again.bin"))  # a hit makes out0 the newest
    cache.prune(limit=2000)
    left = sorted(p.read_bytes()[0] for p in (tmp_path / "c" / "objects").iterdir())
    assert left == [0, 2]
    assert not cache.fetch(f"{1:064x}", str(tmp_path / "gone.bin")) and not (tmp_path / "gone.bin").exists()


def test_source_hashes_are_memoised_and_rechecked(tmp_path, monkeypatch):
    import prep.fix.cache
    from prep.fix.cache import FixCache, file_sha256

    src = tmp_path / "a.bin"
    src.write_bytes(b"x" * 3_000_000)  # several chunks
    cache = FixCache(str(tmp_path / "c"))
    assert cache.source_hash(str(src)) == hashlib.sha256(src.read_bytes()).hexdigest() == file_sha256(str(src))
    cache.close()
    with monkeypatch.context() as m:
        m.setattr(prep.fix.cache, "file_sha256", lambda path: pytest.fail("an unchanged source was read again"))
        assert FixCache(str(tmp_path / "c")).source_hash(str(src)) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    src.write_bytes(b"y" * 3_000_001)
    again = FixCache(str(tmp_path / "c"))
    assert again.source_hash(str(src)) == hashlib.sha256(b"y" * 3_000_001).hexdigest()
    (tmp_path / "c" / "hashes.json").write_text("[corrupt")
    assert FixCache(str(tmp_path / "c")).source_hash(str(src)) == hashlib.sha256(b"y" * 3_000_001).hexdigest()


_targets = st.builds(
    lambda size, fill, fmt: __import__("prep.fix.model", fromlist=["ImageTarget"]).ImageTarget(
        size=size, scale_to=size, fit="pad", fill=fill, format=fmt),
    st.tuples(st.integers(1, 9000), st.integers(1, 9000)), st.sampled_from(["#000000", "#ffffff", "blur"]),
    st.sampled_from(["jpeg", "png"]))


@given(_targets, _targets, st.sampled_from(["0" * 64, "f" * 64]), st.sampled_from(["0" * 64, "f" * 64]))
def test_job_keys_differ_exactly_when_the_job_differs(a, b, ha, hb):
    from prep.fix.cache import job_key

    assert (job_key(ha, "image", a) == job_key(hb, "image", b)) == (a == b and ha == hb)
    assert job_key(ha, "image", a) != job_key(ha, "video", a)
