"""wait(): polls with a growing interval on an injected clock, stops at every dialect's terminal
statuses and at its timeout; the progress display rewrites one line on a terminal."""

from __future__ import annotations

import io

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_client import Clock, Recorder, Sleeps, make_client

from prep.client import ProgressLine, Task, WaitTimeout
from prep.client.wait import format_elapsed, wait


def polled(profile, answers, **kw):
    """A client whose get answers ``answers`` in turn (the last one repeats), on a fake clock."""
    answers = list(answers)
    clock = Clock(0.0)
    sleeps = Sleeps(clock)

    def answer(request):
        return httpx.Response(200, json=answers.pop(0) if len(answers) > 1 else answers[0])

    client, rec = make_client(profile, Recorder(answer), sleeps=sleeps, clock=clock, **kw)
    return client, rec, sleeps, clock


def test_wait_follows_an_ark_task_to_success_reporting_each_change_once():
    answers = [{"id": "c", "status": "queued"}, {"id": "c", "status": "queued"}, {"id": "c", "status": "running"},
               {"id": "c", "status": "running"}, {"id": "c", "status": "succeeded",
                                                   "content": {"video_url": "https://s.test/v.mp4"}}]
    client, rec, sleeps, _ = polled("ark", answers)
    seen = []
    task = client.tasks.wait("c", on_update=seen.append)
    assert task.status == "succeeded" and task.video_url == "https://s.test/v.mp4"
    assert [t.status for t in seen] == ["queued", "running", "succeeded"]
    assert len(rec.requests) == 5 and sleeps == [2.0, 3.0, 4.5, 6.75]


def test_intervals_grow_to_the_cap():
    client, _, sleeps, _ = polled("ark", [{"id": "c", "status": "running"}] * 12 + [{"id": "c", "status": "failed"}])
    assert client.tasks.wait("c", interval=1.0, max_interval=5.0).status == "failed"
    assert sleeps[:5] == [1.0, 1.5, 2.25, 3.375, 5.0] and max(sleeps) == 5.0


@pytest.mark.parametrize(("profile", "names", "final"), [
    ("openai-videos", ["queued", "in_progress", "completed"], "succeeded"),
    ("openai-videos", ["in_progress", "failed"], "failed"),
    ("video-generations", ["pending", "processing", "completed"], "succeeded"),
    ("ark", ["queued", "expired"], "expired"),
    ("gateway", ["queued", "cancelled"], "cancelled"),
])
def test_every_dialects_terminal_status_ends_the_wait(profile, names, final):
    client, rec, _, _ = polled(profile, [{"id": "t", "status": n, "progress": 10 * i} for i, n in enumerate(names)])
    assert client.tasks.wait("t").status == final and len(rec.requests) == len(names)


def test_progress_changes_are_updates_too():
    answers = [{"id": "v", "status": "in_progress", "progress": p} for p in (0, 0, 30, 60, 60)]
    client, _, _, _ = polled("openai-videos", [*answers, {"id": "v", "status": "completed", "progress": 100}])
    seen = []
    client.tasks.wait("v", on_update=seen.append)
    assert [t.progress for t in seen] == [0, 30, 60, 100]


def test_the_timeout_raises_with_the_last_task_and_sleeps_no_further():
    client, _, sleeps, clock = polled("ark", [{"id": "c", "status": "rendering_v2"}])  # unknown: still running
    with pytest.raises(WaitTimeout) as err:
        client.tasks.wait("c", timeout=30.0)
    assert err.value.task.status == "rendering_v2" and err.value.exit_code == 2
    assert clock.now == 30.0 and sum(sleeps) == 30.0
    assert str(err.value) == "task c is still rendering_v2 after 30 s; it goes on at the provider"


def test_ctrl_c_propagates_from_the_wait():
    def interrupted(_seconds):
        raise KeyboardInterrupt

    client, _ = make_client("ark", lambda r: httpx.Response(200, json={"id": "c", "status": "queued"}),
                            sleeps=interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.tasks.wait("c")


TERMINAL = ["succeeded", "failed", "cancelled", "expired"]


@given(st.lists(st.sampled_from(["queued", "running", "weird"]), max_size=20), st.sampled_from(TERMINAL))
def test_any_sequence_ends_at_its_terminal_status(path, last):
    answers = [Task(id="t", status=s) for s in [*path, last]]
    clock = Clock(0.0)
    seen = []
    got = wait(lambda _id: answers.pop(0), "t", on_update=seen.append, clock=clock, sleep=Sleeps(clock))
    assert got.status == last and answers == []
    changes = [s for i, s in enumerate([*path, last]) if i == 0 or s != [*path, last][i - 1]]
    assert [t.status for t in seen] == changes


# --------------------------------------------------------------------------------------------------
# The display


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_one_line_is_rewritten_and_ended():
    clock = Clock(0.0)
    out = TTY()
    show = ProgressLine(out, clock=clock)
    show(Task(id="cgt-1", status="queued"))
    clock.now = 65.0
    show(Task(id="cgt-1", status="running", progress=40))
    clock.now = 130.0
    show(Task(id="cgt-1", status="succeeded", progress=100))
    text = out.getvalue()
    assert text == ("\rcgt-1  queued  0 s\rcgt-1  running  1m 05s  40%"
                    "\rcgt-1  succeeded  2m 10s  100%\n")


def test_elsewhere_one_plain_line_per_status_change():
    out = io.StringIO()
    clock = Clock(0.0)
    show = ProgressLine(out, clock=clock)
    for progress in (10, 20):
        show(Task(id="c", status="running", progress=progress))
    show(Task(id="c", status="failed", error_code="OutputVideoSensitiveContentDetected", error_message="blocked"))
    assert out.getvalue().splitlines() == ["c  running  0 s  10%",
                                           "c  failed  0 s  OutputVideoSensitiveContentDetected: blocked"]


def test_the_display_ends_its_line_when_the_wait_is_interrupted():
    out = TTY()
    with pytest.raises(KeyboardInterrupt), ProgressLine(out, clock=Clock(0.0)) as show:
        show(Task(id="c", status="running"))
        raise KeyboardInterrupt
    assert out.getvalue().endswith("running  0 s\n")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (59.9, "59 s"), (60, "1m 00s"), (3599, "59m 59s"),
                                               (3600, "1h 00m"), (-3, "0 s")])
def test_elapsed_reads_short(seconds, text):
    assert format_elapsed(seconds) == text
