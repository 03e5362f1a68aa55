"""The emulator as a server: lists, control endpoints, injected faults, 200 concurrent clients,
stop and the foreground ``serve``. Real HTTP on 127.0.0.1; nothing sleeps for real but the `slow` fault
(scaled to milliseconds)."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from prep.emulator import FAULT_KINDS, Emulator, base_url
from prep.inspect import inspect_path
from prep.model import PrepError

START = 1_780_000_000.0
AUTH = {"Authorization": "Bearer k"}
ARK_BODY = {"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}]}
MEDIA = Path(__file__).resolve().parent.parent / "prep" / "emulator" / "media"


def tasks_url(emu: Emulator, profile: str = "ark") -> str:
    return emu.base_url(profile) + "/contents/generations/tasks"


def test_packaged_results_are_real_media():
    video, frame = inspect_path(MEDIA / "result.mp4"), inspect_path(MEDIA / "last_frame.png")
    assert (video.kind, video.format, video.codec, video.problem) == ("video", "mp4", "h264", None)
    assert (frame.kind, frame.format, frame.problem) == ("image", "png", None)
    assert video.bytes < 16_000 and frame.bytes < 16_000


def test_base_url_follows_the_documented_bases():
    root = "http://127.0.0.1:9"
    assert base_url(root, "ark") == root + "/ark/api/v3"
    assert base_url(root, "apiyi") == root + "/apiyi/seedance/api/v3"
    assert base_url(root, "gateway") == root + "/gateway/api/v3"
    assert base_url(root, "openai-videos") == root + "/openai-videos"


def test_ark_list_filters_pages_and_orders_newest_first():
    clock = [START]
    with Emulator(task_seconds=10, clock=lambda: clock[0]) as emu, httpx.Client(headers=AUTH) as client:
        ids = []
        for n in range(5):
            model = "doubao-seedance-2-0-fast-260128" if n == 4 else ARK_BODY["model"]
            ids.append(client.post(tasks_url(emu), json={**ARK_BODY, "model": model}).json()["id"])
            emu.advance(3)
        everything = client.get(tasks_url(emu), params={"page_size": 500}).json()
        assert everything["total"] == 5 and [t["id"] for t in everything["items"]] == ids[::-1]
        assert isinstance(everything["items"][0]["duration"], int)
        page = client.get(tasks_url(emu), params={"page_num": 2, "page_size": 2}).json()
        assert [t["id"] for t in page["items"]] == [ids[2], ids[1]] and page["total"] == 5
        done = client.get(tasks_url(emu), params={"filter.status": "succeeded"}).json()
        assert {t["id"] for t in done["items"]} == set(ids[:2])  # created 15 s and 12 s ago
        picked = client.get(tasks_url(emu) + f"?filter.task_ids={ids[0]}&filter.task_ids={ids[3]}").json()
        assert {t["id"] for t in picked["items"]} == {ids[0], ids[3]}
        fast = client.get(tasks_url(emu), params={"filter.model": "doubao-seedance-2-0-fast-260128"}).json()
        assert [t["id"] for t in fast["items"]] == [ids[4]]
        assert client.get(tasks_url(emu), params={"page_size": 501}).status_code == 400
        assert client.get(tasks_url(emu), params={"filter.status": "done"}).status_code == 400


def test_openai_list():
    with Emulator(task_seconds=0) as emu, httpx.Client(headers=AUTH) as client:
        url = emu.base_url("openai-videos") + "/v1/videos"
        ids = [client.post(url, json={"model": "doubao-seedance-2-0-260128", "prompt": "a cat", "seconds": "5"})
               .json()["id"] for _ in range(3)]
        first = client.get(url, params={"limit": 2}).json()
        assert first["object"] == "list" and first["has_more"] is True
        assert [v["id"] for v in first["data"]] == ids[::-1][:2]
        rest = client.get(url, params={"limit": 2, "after": first["last_id"]}).json()
        assert [v["id"] for v in rest["data"]] == [ids[0]] and rest["has_more"] is False


def test_control_endpoints_move_the_clock_count_and_reset():
    with Emulator(task_seconds=10, clock=lambda: START) as emu, httpx.Client(headers=AUTH) as client:
        task_id = client.post(tasks_url(emu), json=ARK_BODY).json()["id"]
        moved = httpx.post(emu.url + "/_emulator/clock", json={"advance": 10}).json()
        assert moved["now"] == START + 10
        assert client.get(tasks_url(emu) + "/" + task_id).json()["status"] == "succeeded"
        stats = httpx.get(emu.url + "/_emulator/stats").json()
        assert stats["creations"] == {"ark": 1} and stats["requests"] == 2 and stats["tasks"] == 1
        assert httpx.post(emu.url + "/_emulator/clock", json={"advance": "soon"}).status_code == 400
        assert httpx.post(emu.url + "/_emulator/reset").status_code == 200
        assert client.get(tasks_url(emu) + "/" + task_id).status_code == 404
        assert httpx.get(emu.url + "/_emulator/stats").json()["creations"] == {}


def forced(kind: str, **kw) -> Emulator:
    emu = Emulator(task_seconds=0, fault_rate=1.0, faults=[kind], seed=7, **kw)
    emu.faults.slow_factor = 0.01
    return emu


def test_rate_limit_fault_answers_429_with_retry_after_and_creates_nothing():
    with forced("rate_limit") as emu:
        answer = httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH)
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) >= 0
        assert answer.json()["error"]["code"].startswith("RateLimitExceeded")
        assert emu.stats["creations"] == {} and emu.stats["faults"] == {"rate_limit": 1}


def test_server_error_fault():
    with forced("server_error") as emu:
        statuses = {httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH).status_code for _ in range(12)}
        assert statuses <= {500, 502, 503} and len(statuses) > 1
        assert emu.stats["creations"] == {} and emu.stats["faults"] == {"server_error": 12}


def test_reset_before_processing_creates_nothing():
    with forced("reset_before") as emu:
        with pytest.raises(httpx.TransportError):
            httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH)
        assert emu.stats["creations"] == {} and emu.stats["faults"] == {"reset_before": 1}


def test_reset_after_processing_keeps_the_task_the_client_never_heard_of():
    with forced("reset_after") as emu:
        with pytest.raises(httpx.TransportError):
            httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH)
        assert emu.stats["creations"] == {"ark": 1}
        emu.faults.configure(0.0)
        listing = httpx.get(tasks_url(emu), headers=AUTH).json()
        assert listing["total"] == 1 and listing["items"][0]["status"] == "succeeded"


def test_slow_fault_still_answers():
    with forced("slow") as emu:
        answer = httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH)
        assert answer.status_code == 200 and emu.stats["faults"] == {"slow": 1}


def test_truncated_fault_sends_less_than_it_promises():
    with forced("truncated") as emu:
        connection = http.client.HTTPConnection("127.0.0.1", int(emu.url.rsplit(":", 1)[1]), timeout=10)
        connection.request("GET", "/ark/api/v3/contents/generations/tasks", headers=AUTH)
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()
        connection.close()


def test_downloads_are_truncated_too():
    with Emulator(task_seconds=0) as emu:
        task_id = httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH).json()["id"]
        url = httpx.get(tasks_url(emu) + "/" + task_id, headers=AUTH).json()["content"]["video_url"]
        emu.faults.configure(1.0, ["truncated"])
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url)
        assert emu.stats["downloads"] == 0 and emu.stats["faults"] == {"truncated": 1}


def test_control_endpoints_are_never_faulted():
    with Emulator(fault_rate=1.0, faults=["rate_limit"]) as emu, httpx.Client() as client:
        for _ in range(20):
            assert client.get(emu.url + "/_emulator/stats").status_code == 200
        assert client.get(tasks_url(emu), headers=AUTH).status_code == 429
        assert emu.stats["faults"] == {"rate_limit": 1}


def test_the_same_seed_draws_the_same_faults():
    def run() -> dict:
        with Emulator(task_seconds=0, fault_rate=0.5, faults=["rate_limit", "server_error"], seed=42) as emu, \
                httpx.Client(headers=AUTH) as client:
            for _ in range(40):
                client.get(tasks_url(emu))
            return emu.stats["faults"]

    first = run()
    assert first == run() and 5 < sum(first.values()) < 35


def test_faults_are_configurable_over_http():
    with Emulator() as emu:
        assert httpx.post(emu.url + "/_emulator/faults", json={"rate": 1, "kinds": ["rate_limit"]}).status_code == 200
        assert httpx.get(tasks_url(emu), headers=AUTH).status_code == 429
        assert httpx.post(emu.url + "/_emulator/faults", json={"kinds": ["lightning"]}).status_code == 400
    with pytest.raises(PrepError, match="lightning"):
        Emulator(faults=["lightning"])
    assert "truncated" in FAULT_KINDS


def test_200_concurrent_clients_are_all_answered():
    with Emulator(task_seconds=0) as emu:
        task_id = httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH).json()["id"]
        port = int(emu.url.rsplit(":", 1)[1])
        barrier = threading.Barrier(200)
        answers: list[int] = []
        lock = threading.Lock()

        def client() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            barrier.wait()
            for _ in range(3):  # keep-alive: one connection, several requests
                connection.request("GET", f"/ark/api/v3/contents/generations/tasks/{task_id}", headers=AUTH)
                response = connection.getresponse()
                status = response.status if json.loads(response.read())["id"] == task_id else -1
                with lock:
                    answers.append(status)
            connection.close()

        threads = [threading.Thread(target=client) for _ in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert answers == [200] * 600


def test_an_oversized_body_is_refused_without_reading_it():
    with Emulator() as emu:
        port = int(emu.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /ark/api/v3/contents/generations/tasks HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: Bearer k\r\nContent-Length: 999999999999\r\n\r\n")
            head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head


def test_a_chunked_body_is_read():
    with Emulator() as emu:
        answer = httpx.post(tasks_url(emu), content=iter([json.dumps(ARK_BODY).encode()]), headers=AUTH)
        assert answer.status_code == 200 and answer.json()["id"].startswith("cgt-")


def test_head_answers_carry_no_body_and_keep_the_connection_usable():
    with Emulator(task_seconds=0) as emu, httpx.Client(headers=AUTH) as client:
        task_id = client.post(tasks_url(emu), json=ARK_BODY).json()["id"]
        url = client.get(tasks_url(emu) + "/" + task_id).json()["content"]["video_url"]
        with httpx.Client() as plain:
            head = plain.head(url)
            assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 1000
            assert plain.head(tasks_url(emu)).status_code == 405
            assert plain.get(url).status_code == 200
        assert emu.stats["downloads"] == 1


def test_stop_frees_the_port():
    emu = Emulator()
    port = int(emu.start().rsplit(":", 1)[1])
    idle = socket.create_connection(("127.0.0.1", port))  # an open keep-alive connection does not hold it
    emu.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
    idle.close()
    with Emulator(port=port) as reused:
        assert reused.url.endswith(f":{port}")
        with pytest.raises(PrepError, match="in use"):
            Emulator(port=port).start()


def test_unknown_profile_is_a_prep_error():
    with pytest.raises(PrepError, match="unknown profile"):
        Emulator(profile="nope")


def test_one_profile_only():
    with Emulator(profile="openai-videos") as emu:
        assert httpx.post(tasks_url(emu), json=ARK_BODY, headers=AUTH).status_code == 404


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_the_base_urls_and_stops_cleanly(stop):
    code = "from prep.emulator import serve; raise SystemExit(serve(port=0, task_seconds=0))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    try:
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        ark = next(line.split()[1] for line in lines if line.split()[:1] == ["ark"])
        assert ark.endswith("/ark/api/v3")
        created = httpx.post(ark + "/contents/generations/tasks", json=ARK_BODY, headers=AUTH)
        assert created.status_code == 200
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped" in out and "Traceback" not in err
