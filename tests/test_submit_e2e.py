"""submit, the task commands and the journal end to end, over real HTTP against the emulator on 127.0.0.1.

Every profile goes fix → build → submit → wait → download; every status path (failed with the
provider's error, cancelled, expired, a result link that expired and was refreshed) is reached through
the emulator's prompt directives and clock; a 30% fault rate over 50 submissions makes exactly 50 tasks;
a unique key never shows up anywhere but the API's Authorization header; ``--dry-run`` sends nothing;
Ctrl-C during ``--wait`` keeps the journal entry and ``status ID --wait`` resumes it. Nothing here
really waits: tasks take 0 s of emulator time unless a test moves the clock itself.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from prep.emulator import Emulator
from prep.inspect import inspect_path

SUBMIT_JOB = ROOT / "fixtures" / "submit-job" / "request.json"
KEY = "sk-e2e-" + os.urandom(6).hex()  # unique: searched for everywhere it must not be
PROFILES = ("ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos")
KEY_VARS = ("ARK_API_KEY", "APIYI_API_KEY", "SEEDANCE_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(scope="module")
def emulator():
    with Emulator(task_seconds=0, seed=7, api_key=KEY) as emu:  # only KEY opens it; its stats see KEY anywhere
        emu.start()
        yield emu


@pytest.fixture
def env(monkeypatch, tmp_path, emulator):
    """A fresh journal home and every profile's key variable set to KEY."""
    home = tmp_path / "home"
    monkeypatch.setenv("SEEDANCE_PREP_HOME", str(home))
    for name in KEY_VARS:
        monkeypatch.setenv(name, KEY)
    monkeypatch.delenv("SEEDANCE_PREP_BASE_URL", raising=False)
    emulator.reset()
    emulator.faults.configure(0.0)
    return home


def request(tmp_path: Path, name: str = "request.json", prompt: str | None = None, **params) -> Path:
    """The submit-job request (two images, one needing a pad), fixed into ``tmp_path`` by `fix`."""
    from prep.fix import fix

    doc = json.loads(SUBMIT_JOB.read_text())
    for item in doc["content"]:
        if item["type"] == "image_url":
            item["image_url"]["url"] = str((SUBMIT_JOB.parent / item["image_url"]["url"]).resolve())
    if prompt is not None:
        doc["content"][0]["text"] = prompt
    doc.update(params)
    src = tmp_path / f"src-{name}"
    src.write_text(json.dumps(doc))
    out = tmp_path / f"fixed-{Path(name).stem}"
    result = fix(str(src), str(out))
    assert result.remaining == ()
    return out / "request.json"


def journal_rows(home: Path) -> list[dict]:
    db = sqlite3.connect(home / "journal.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM tasks ORDER BY local_id")]
    finally:
        db.close()


def files_under(folder: Path):
    return [p for p in folder.rglob("*") if p.is_file()]


# -- every profile --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_end_to_end(cli, env, emulator, tmp_path, profile):
    req = request(tmp_path)
    out = tmp_path / "video.mp4"
    run = cli("submit", req, "--profile", profile, "--base-url", emulator.base_url(profile), "--download", out)
    assert run.code == 0, run.out + run.err
    assert emulator.stats["creations"].get(profile) == 1
    facts = inspect_path(out)
    assert facts.kind == "video" and facts.format == "mp4" and facts.problem is None
    [row] = journal_rows(env)
    assert row["status"] == "succeeded" and row["profile"] == profile and row["download_path"] == str(out)
    assert row["task_id"] in run.out and row["base_url"] == emulator.base_url(profile)
    status = cli("status", row["task_id"][:8], "--format", "json")  # a prefix finds it
    assert status.code == 0 and status.json()["task_id"] == row["task_id"]


def test_build_then_submit_the_built_body_is_what_the_server_gets(cli, env, emulator, tmp_path):
    req = request(tmp_path)
    body = tmp_path / "body.json"
    built = cli("build", req, "--to", "openai-videos", "--out", body)
    assert built.code == 0, built.err
    doc = json.loads(body.read_text())
    assert doc["seconds"] == "5" and doc["prompt"].startswith("The product")
    assert all(c["image_url"]["url"].startswith("data:image/") for c in doc["metadata"]["content"]
               if c["type"] == "image_url")


# -- status paths -----------------------------------------------------------------------------------


@pytest.mark.parametrize("directive, status, code", [
    ("#emulate:fail=OutputVideoSensitiveContentDetected", "failed", "OutputVideoSensitiveContentDetected"),
    ("#emulate:expire", "expired", None),
])
def test_a_task_that_ends_without_a_video_is_exit_2_and_journaled(cli, env, emulator, tmp_path, directive, status,
                                                                 code):
    req = request(tmp_path, prompt=f"The product from @image1 on @image2 {directive}")
    run = cli("submit", req, "--base-url", emulator.base_url("ark"), "--wait")
    assert run.code == 2 and f"{status}" in run.err and (code is None or code in run.err), run.out + run.err
    [row] = journal_rows(env)
    assert row["status"] == status and row["error_code"] == code


def test_cancel_a_queued_task(cli, env, emulator, tmp_path):
    emulator.app.task_seconds = 3600  # stays queued/running until cancelled
    try:
        req = request(tmp_path)
        run = cli("submit", req, "--base-url", emulator.base_url("ark"))
        assert run.code == 0, run.err
        [row] = journal_rows(env)
        cancel = cli("cancel", row["task_id"])
        assert cancel.code == 0, cancel.err
        assert journal_rows(env)[0]["status"] == "cancelled"
        listed = cli("tasks", "--format", "json")
        assert [e["status"] for e in listed.json()] == ["cancelled"]
    finally:
        emulator.app.task_seconds = 0


def test_an_expired_result_link_is_refreshed_from_the_task(env, emulator, tmp_path):
    from prep.build import build
    from prep.client import Client

    client = Client("ark", base_url=emulator.base_url("ark"), sleep=lambda s: None)
    with client:
        task = client.tasks.create(build(request(tmp_path)))
        done = client.tasks.get(task.id)
        assert done.status == "succeeded"
        emulator.advance(25 * 3600)  # past the 24 h link lifetime: the link in `done` answers 403
        before = emulator.stats
        path = client.download(done, tmp_path / "late.mp4")
    after = emulator.stats
    assert inspect_path(path).format == "mp4"
    # the stale link (403), then the fresh one from one more get of the task
    assert after["storage_requests"] - before["storage_requests"] == 2
    assert after["downloads"] - before["downloads"] == 1
    # at least one get of the task for the fresh link (a keep-alive connection the server closed as the
    # answer went out is read again: idempotent, and counted twice by the server)
    assert after["responses"]["200"] - before["responses"]["200"] >= 1


# -- faults -----------------------------------------------------------------------------------------


def test_thirty_percent_faults_fifty_submissions_fifty_tasks(env, emulator, tmp_path):
    """Every fault kind (429, 5xx, resets before and after a create, slow and truncated answers) at 30%:
    every submission ends with its own task and a complete, verified video, and the server made exactly
    50 tasks — no lost create was sent twice."""
    import prep
    from prep.client import Client

    emulator.faults.configure(0.3)
    emulator.faults.slow_factor = 0.01
    base = req_base = request(tmp_path)
    doc = json.loads(req_base.read_text())
    seen: set[str] = set()
    notes: list[str] = []
    for i in range(50):
        doc["seed"] = 1000 + i  # distinct requests, as distinct users' would be
        path = base.parent / f"r{i}.json"
        path.write_text(json.dumps(doc))
        # The emulator's clock may run ahead of real time (other tests move it): the client dates what it
        # sends on the same clock, as it would on a real provider's.
        client = Client("ark", base_url=emulator.base_url("ark"), sleep=lambda s: None, notify=notes.append,
                        max_retries=8, timeout=5, wall_clock=emulator.clock.now)
        with client:
            result = prep.submit(path, client=client, download=tmp_path / f"v{i}.mp4", interval=0.01)
        assert result.task is not None and result.task.status == "succeeded"
        seen.add(result.task.id)
        video = tmp_path / f"v{i}.mp4"
        assert inspect_path(video).problem is None and video.stat().st_size == len(
            (ROOT / "prep" / "emulator" / "media" / "result.mp4").read_bytes())
    stats = emulator.stats
    assert len(seen) == 50 and stats["creations"]["ark"] == 50
    assert sum(stats["faults"].values()) >= 30  # the faults really happened
    assert stats["faults"].get("reset_after", 0) > 0 and any("adopting" in n for n in notes)
    rows = journal_rows(env)
    assert len(rows) == 50 and {r["task_id"] for r in rows} == seen and {r["status"] for r in rows} == {"succeeded"}


# -- secrets and dry runs ---------------------------------------------------------------------------


def test_the_key_never_leaves_the_api_header(cli, env, emulator, tmp_path):
    req = request(tmp_path)
    runs = [cli("submit", req, "--base-url", emulator.base_url("ark"), "--download", tmp_path / "v.mp4"),
            cli("submit", req, "--base-url", emulator.base_url("ark"), "--dry-run"),
            cli("tasks", "--format", "json"), cli("tasks", "--refresh")]
    row = journal_rows(env)[0]
    runs += [cli("status", row["task_id"], "--format", "json"), cli("download", row["task_id"], "--out", tmp_path)]
    for run in runs:
        assert run.code == 0, run.out + run.err
        assert KEY not in run.out and KEY not in run.err
    for path in files_under(env):  # the journal, its WAL, caches
        assert KEY.encode() not in path.read_bytes(), path
    stats = emulator.stats
    assert stats["storage_requests"] >= 2 and stats["storage_authorization"] == 0 and stats["storage_key_seen"] == 0


def test_dry_run_sends_nothing(cli, env, emulator, tmp_path):
    req = request(tmp_path)
    before = emulator.stats["requests"]
    run = cli("submit", req, "--base-url", emulator.base_url("ark"), "--dry-run")
    assert run.code == 0 and "nothing sent" in run.out and "Bearer ***" in run.out and KEY not in run.out
    assert "/contents/generations/tasks" in run.out and "base64 characters of" in run.out
    assert emulator.stats["requests"] == before and not (env / "journal.db").exists()


def test_refusals_send_nothing(cli, env, emulator, tmp_path):
    req = request(tmp_path)
    before = emulator.stats["requests"]
    over = cli("submit", req, "--base-url", emulator.base_url("ark"), "--max-tokens", "1000")
    assert over.code == 1 and "cost.budget" in over.out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(req.read_text()), "duration": 99}))
    refused = cli("submit", bad, "--base-url", emulator.base_url("ark"))
    assert refused.code == 1 and "nothing was sent" in refused.out
    assert emulator.stats["requests"] == before


# -- Ctrl-C -----------------------------------------------------------------------------------------


def test_ctrl_c_during_wait_keeps_the_entry_and_status_resumes(cli, env, emulator, tmp_path):
    emulator.app.task_seconds = 3600
    try:
        req = request(tmp_path)
        environ = {**os.environ, "PYTHONPATH": str(ROOT), "SEEDANCE_PREP_HOME": str(env)}
        proc = subprocess.Popen([sys.executable, "-m", "prep", "submit", str(req), "--wait",
                                 "--base-url", emulator.base_url("ark")], env=environ,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the task is journaled (then it is being waited on)
            if (env / "journal.db").exists() and any(r["task_id"] for r in journal_rows(env)):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        [row] = journal_rows(env)
        assert proc.returncode == 130, err.decode()
        assert f"status {row['task_id']} --wait" in err.decode()
        assert row["status"] in ("queued", "running")
        emulator.advance(3600)
        resumed = cli("status", row["task_id"], "--wait", "--download", tmp_path / "v.mp4")
        assert resumed.code == 0, resumed.out + resumed.err
        [row] = journal_rows(env)
        assert row["status"] == "succeeded" and row["download_path"] == str(tmp_path / "v.mp4")
    finally:
        emulator.app.task_seconds = 0


# -- a submit cut off between journaling and the provider's answer ----------------------------------


def _cut_off_submit(req: Path, base_url: str, profile: str = "ark", *, reached: bool) -> None:
    """What a submit killed mid-create leaves: the journal row (status creating, no id) and, when the
    request had reached the provider, the task it made there."""
    import hashlib

    import httpx

    from prep.build import build
    from prep.client.journal import Journal

    built = build(req, to=profile)
    with Journal() as journal:
        journal.begin(profile, base_url, built.model, str(req.resolve()), hashlib.sha256(req.read_bytes()).hexdigest(),
                      built.sha256, None)
    if reached:
        path = {"ark": "/contents/generations/tasks", "video-generations": "/v1/video/generations"}[profile]
        answer = httpx.post(base_url + path, content=b"".join(built.iter_bytes()),
                            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        assert answer.status_code == 200


@pytest.mark.parametrize("reached", [True, False])
def test_submitting_again_after_a_cut_off_create_adopts_its_task_or_sends_it_once(cli, env, emulator, tmp_path,
                                                                                   reached):
    req = request(tmp_path)
    base = emulator.base_url("ark")
    _cut_off_submit(req, base, reached=reached)
    run = cli("submit", req, "--base-url", base, "--wait")
    assert run.code == 0, run.out + run.err
    assert emulator.stats["creations"]["ark"] == 1  # one task, whichever run made it
    rows = journal_rows(env)
    if reached:
        assert "found its task" in run.err and len(rows) == 1 and rows[0]["status"] == "succeeded"
    else:
        assert "shows no task made from it" in run.err
        assert [r["status"] for r in rows] == ["not_created", "succeeded"]


def test_without_a_task_list_a_cut_off_create_is_not_sent_again_unless_forced(cli, env, emulator, tmp_path):
    req = request(tmp_path)
    base = emulator.base_url("video-generations")
    _cut_off_submit(req, base, "video-generations", reached=True)
    refused = cli("submit", req, "--profile", "video-generations", "--base-url", base)
    assert refused.code == 2 and "console" in refused.err and "--force" in refused.err
    assert emulator.stats["creations"]["video-generations"] == 1
    forced = cli("submit", req, "--profile", "video-generations", "--base-url", base, "--force")
    assert forced.code == 0 and emulator.stats["creations"]["video-generations"] == 2, forced.err


# -- the task commands --------------------------------------------------------------------------------


def test_wait_timeout_leaves_the_task_going_and_says_how_to_resume(cli, env, emulator, tmp_path):
    emulator.app.task_seconds = 3600
    try:
        req = request(tmp_path)
        run = cli("submit", req, "--base-url", emulator.base_url("ark"), "--wait", "--timeout", "0.5")
        assert run.code == 2 and len(run.err.strip().splitlines()) >= 1, run.out + run.err
        [row] = journal_rows(env)
        assert row["status"] in ("queued", "running") and f"status {row['task_id']} --wait" in run.err
        emulator.advance(3600)
        listed = cli("tasks", "--refresh", "--format", "json")  # the provider says it finished meanwhile
        assert listed.code == 0 and [e["status"] for e in listed.json()] == ["succeeded"]
        assert journal_rows(env)[0]["status"] == "succeeded"
    finally:
        emulator.app.task_seconds = 0


def test_provider_errors_are_one_line_and_exit_2(cli, env, emulator, tmp_path, monkeypatch):
    req = request(tmp_path)
    monkeypatch.setenv("ARK_API_KEY", "sk-wrong")
    auth = cli("submit", req, "--base-url", emulator.base_url("ark"))
    assert auth.code == 2 and "AuthenticationError" in auth.err and len(auth.err.strip().splitlines()) == 1
    assert "sk-wrong" not in auth.err + auth.out
    [row] = journal_rows(env)
    assert row["status"] == "not_created" and row["task_id"] is None  # provably not created: no resume needed
    monkeypatch.delenv("ARK_API_KEY")
    missing = cli("submit", req, "--base-url", emulator.base_url("ark"))
    assert missing.code == 2 and "ARK_API_KEY" in missing.err
    monkeypatch.setenv("MY_KEY", KEY)
    other = cli("submit", req, "--base-url", emulator.base_url("ark"), "--api-key-env", "MY_KEY")
    assert other.code == 0, other.err
    unknown = cli("status", "cgt-20990101000000-zzzzz", "--base-url", emulator.base_url("ark"), "--api-key-env",
                  "MY_KEY")
    assert unknown.code == 2 and "NotFound" in unknown.err and len(unknown.err.strip().splitlines()) == 1


def test_status_and_download_of_a_task_the_journal_does_not_know(cli, env, emulator, tmp_path):
    from prep.build import build
    from prep.client import Client

    with Client("openai-videos", base_url=emulator.base_url("openai-videos")) as client:
        task = client.tasks.create(build(request(tmp_path), to="openai-videos"))
    base = emulator.base_url("openai-videos")
    status = cli("status", task.id, "--profile", "openai-videos", "--base-url", base, "--format", "json")
    assert status.code == 0 and status.json()["status"] == "succeeded", status.err
    got = cli("download", task.id, "--profile", "openai-videos", "--base-url", base, "--out", tmp_path)
    assert got.code == 0 and inspect_path(tmp_path / f"{task.id}.mp4").format == "mp4", got.err


def test_cancel_of_a_finished_ark_task_deletes_it_and_keeps_the_entry(cli, env, emulator, tmp_path):
    req = request(tmp_path)
    assert cli("submit", req, "--base-url", emulator.base_url("ark"), "--wait").code == 0
    [row] = journal_rows(env)
    gone = cli("cancel", row["task_id"])
    assert gone.code == 0 and "deleted at the provider" in gone.out, gone.err
    [row] = journal_rows(env)
    assert row["status"] == "succeeded" and row["note"] == "deleted at the provider"


@pytest.mark.parametrize("args", [("submit", "x.json", "--timeout", "-1"), ("submit", "x.json", "--timeout", "nan"),
                                  ("status", "cgt-1", "--timeout", "inf"), ("emulate", "--task-seconds", "-5"),
                                  ("emulate", "--fault-rate", "2")])
def test_bad_numbers_are_one_line_and_exit_2(cli, args):
    run = cli(*args)
    assert run.code == 2 and len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err
