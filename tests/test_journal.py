"""The task journal: rows written before the create call, safe with several processes, found by prefix."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from types import SimpleNamespace

import pytest

from prep.client.journal import (
    CREATING,
    NOT_CREATED,
    SCHEMA_VERSION,
    Journal,
    default_path,
)
from prep.model import PrepError


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SEEDANCE_PREP_HOME", str(tmp_path))
    return tmp_path


def _begin(journal: Journal, profile: str = "ark", base_url: str = "http://127.0.0.1:1/api/v3"):
    return journal.begin(profile, base_url, "doubao-seedance-2-0-260128", "requests/req.json", "a" * 64, "b" * 64, 108900)


def test_the_journal_lives_under_seedance_prep_home_in_wal_mode(home):
    with Journal() as journal:
        _begin(journal)
        assert journal.path == str(home / "journal.db") == default_path()
        assert journal.journal_mode() == "wal"
    assert sorted(p.name for p in home.iterdir() if not p.name.startswith("journal.db")) == []  # no temp left


def test_default_path_without_home_follows_xdg_state(monkeypatch, tmp_path):
    monkeypatch.delenv("SEEDANCE_PREP_HOME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == str(tmp_path / "state" / "seedance-prep" / "journal.db")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert default_path() == str(tmp_path / "h" / ".local" / "state" / "seedance-prep" / "journal.db")


def test_begin_writes_a_creating_row_before_the_task_id_is_known(home):
    with Journal() as journal:
        entry = _begin(journal)
        # a second connection (another process would see the same) reads it before any attach
        with Journal() as other:
            (seen,) = other.pending()
        assert seen == entry and seen.status == CREATING and seen.task_id is None
        attached = journal.attach(entry.local_id, "cgt-20261201-abcdef", "queued", 1764601991)
        assert attached.task_id == "cgt-20261201-abcdef" and attached.status == "queued"
        assert attached.created_at == "2025-12-01T15:13:11Z"
        assert journal.pending() == []
        updated = journal.update("cgt-20261201-abcdef", status="succeeded", provider_status="succeeded", progress=100,
                                 video_url="https://s.example/v.mp4?sig=1", tokens=108900)
        assert (updated.status, updated.video_url, updated.tokens) == ("succeeded", "https://s.example/v.mp4?sig=1",
                                                                       108900)
        done = journal.set_download("cgt-20261201-abcdef", "out/v.mp4", "out/v.png")
        assert (done.download_path, done.last_frame_path) == ("out/v.mp4", "out/v.png")
        assert done.to_json()["request_sha256"] == "a" * 64 and done.to_json()["local_id"] == entry.local_id


def test_update_from_a_task_record_and_unknown_fields(home):
    with Journal() as journal:
        entry = _begin(journal)
        journal.attach(entry.local_id, "task-123456789", "running")
        task = SimpleNamespace(id="task-123456789", status="failed", provider_status="failed", progress=None,
                               video_url=None, last_frame_url=None, tokens=None,
                               error=SimpleNamespace(code="InputImageSensitiveContentDetected", message="no"))
        got = journal.update_from(task)
        assert (got.status, got.error_code, got.error_message) == ("failed", "InputImageSensitiveContentDetected", "no")
        later = SimpleNamespace(id="task-123456789", status="failed", model=None, created_at=None, tokens=None)
        kept = journal.update_from(later)  # a poll that omits what was known keeps it
        assert (kept.model, kept.error_code) == ("doubao-seedance-2-0-260128", "InputImageSensitiveContentDetected")
        assert journal.note(entry.local_id, "answer lost").note == "answer lost"
        with pytest.raises(TypeError, match="api_key"):
            journal.update("task-123456789", api_key="sk-secret")


def test_a_failed_creation_is_no_longer_pending(home):
    with Journal() as journal:
        entry = _begin(journal)
        failed = journal.mark_failed_create(entry.local_id, "401 Unauthorized")
        assert failed.status == NOT_CREATED and failed.error_message == "401 Unauthorized" and journal.pending() == []


def test_get_by_id_unique_prefix_or_local_id(home):
    with Journal() as journal:
        a, b, c = (_begin(journal) for _ in range(3))
        journal.attach(a.local_id, "cgt-20261201aaaa1", "queued")
        journal.attach(b.local_id, "cgt-20261201aaaa2", "queued")
        journal.attach(c.local_id, "cgt-20261201bbbb3", "queued")
        assert journal.get("cgt-20261201aaaa2").local_id == b.local_id
        assert journal.get("cgt-20261201b").local_id == c.local_id
        assert journal.get(str(a.local_id)).task_id == "cgt-20261201aaaa1"
        assert journal.get(c.local_id).task_id == "cgt-20261201bbbb3"
        with pytest.raises(PrepError, match="matches 2 tasks"):
            journal.get("cgt-20261201aaaa")
        with pytest.raises(PrepError, match="at least 6"):
            journal.get("cgt-2")  # a prefix too short to be trusted
        with pytest.raises(PrepError, match="no task 'nope-nope'"):
            journal.get("nope-nope")
        with pytest.raises(PrepError, match="already in the journal"):
            journal.attach(a.local_id, "cgt-20261201aaaa2", "queued")


def test_list_newest_first_by_profile_and_known_ids(home):
    with Journal() as journal:
        first = _begin(journal, "ark")
        second = _begin(journal, "openai-videos", "http://127.0.0.1:1")
        third = _begin(journal, "ark")
        journal.attach(first.local_id, "t-ark-000001", "queued")
        journal.attach(second.local_id, "t-oai-000001", "queued")
        assert [e.local_id for e in journal.list()] == [third.local_id, second.local_id, first.local_id]
        assert [e.local_id for e in journal.list(profile="ark")] == [third.local_id, first.local_id]
        assert [e.local_id for e in journal.list(limit=1)] == [third.local_id]
        assert journal.known_ids("ark", "http://127.0.0.1:1/api/v3") == {"t-ark-000001"}
        assert journal.known_ids("ark", "http://elsewhere") == set()


def test_no_column_can_hold_a_key(home):
    with Journal() as journal:
        _begin(journal)
    columns = [r[1] for r in sqlite3.connect(home / "journal.db").execute("PRAGMA table_info(tasks)")]
    assert columns and not [c for c in columns if "key" in c or "auth" in c or "token" == c]


def test_a_newer_schema_is_refused_and_garbage_is_one_line(home):
    Journal().close()
    db = sqlite3.connect(home / "journal.db")
    db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(PrepError, match="newer seedance-prep"):
        Journal()
    (home / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(PrepError, match="not readable") as err:
        Journal(home / "junk.db")
    assert "\n" not in str(err.value)


def _writer(path: str, tag: str, count: int, out) -> None:
    errors = []
    with Journal(path) as journal:
        for i in range(count):
            try:
                entry = _begin(journal)
                journal.attach(entry.local_id, f"{tag}-{i:06d}", "queued")
            except Exception as exc:  # noqa: BLE001 - the parent asserts none escaped
                errors.append(repr(exc))
    out.put(errors)


def test_two_processes_writing_at_once_lose_nothing(home):
    path = str(home / "journal.db")  # not there yet: both processes create it at once
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, tag, 200, out)) for tag in ("p1", "p2")]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [[], []]  # no "database is locked" escaped
    with Journal(path) as journal:
        entries = journal.list()
        assert len(entries) == 400 and journal.pending() == []
        assert len({e.task_id for e in entries}) == 400


def _crash_after_begin(path: str) -> None:
    journal = Journal(path)
    _begin(journal)
    os.kill(os.getpid(), signal.SIGKILL)  # the create call never returns


def test_a_creation_killed_after_begin_is_pending(home):
    path = str(home / "journal.db")
    proc = multiprocessing.get_context("fork").Process(target=_crash_after_begin, args=(path,))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL
    with Journal(path) as journal:
        (entry,) = journal.pending()
        assert entry.status == CREATING and entry.task_id is None and entry.body_sha256 == "b" * 64


def test_a_new_journal_appears_with_its_tables(home, monkeypatch):
    seen = []
    real_link = os.link

    def link(src, dst):  # the moment the file appears at its name, it is complete
        db = sqlite3.connect(src)
        seen.append((os.path.exists(dst), db.execute("SELECT version FROM schema_version").fetchall(),
                     db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]))
        db.close()
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link)
    with Journal() as journal:
        assert journal.journal_mode() == "wal"
    assert seen == [(False, [(SCHEMA_VERSION,)], 0)]
    assert sorted(p.name for p in home.iterdir()) == ["journal.db"]  # no temp file left
