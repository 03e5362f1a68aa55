"""prep.remote against a real HTTP server on 127.0.0.1 (and a mock transport for non-loopback hosts).

No test ever connects to anything but 127.0.0.1: refusals of private hosts happen before connecting,
and "public" hosts exist only behind httpx.MockTransport.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from prep import remote
from prep.inspect import inspect_path
from prep.remote import RemoteRefused, RemoteTooLarge, RemoteUnreachable, inspect_url

try:
    from tests.media import image_bytes, media, png_claiming
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from media import image_bytes, media, png_claiming

__all__ = ["media"]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str | None]] = []  # (path, Range header)
        self.sent = 0
        self.stop = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def sent_for(self, path: str) -> list[str | None]:
        return [r for p, r in self.log if p == path]


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv, path = self.server, self.path
        srv.log.append((path, self.headers.get("Range")))
        if path.startswith("/files/"):
            return self._file(srv.files[path[len("/files/"):]], ranged=True)
        if path.startswith("/norange/"):
            return self._file(srv.files[path[len("/norange/"):]], ranged=False)
        if path == "/missing":
            return self._plain(404, b"not here")
        if path == "/broken":
            return self._plain(500, b"oops")
        if path.startswith("/redirect?to="):
            return self._redirect(path[len("/redirect?to="):])
        if path == "/loop":
            return self._redirect("/loop")
        if path == "/slow":
            srv.stop.wait(5)
            return self._plain(200, b"late")
        if path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(200):
                if srv.stop.wait(0.05):
                    return
                self.wfile.write(b"\x00")
                self.wfile.flush()
            return
        if path in ("/huge", "/huge-nolength"):
            return self._huge(with_length=path == "/huge")
        return self._plain(404, b"?")

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, to: str) -> None:
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _file(self, data: bytes, ranged: bool) -> None:
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if ranged and m:
            first = int(m.group(1))
            last = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if first >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[first : last + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.sent += len(body)

    def _huge(self, with_length: bool) -> None:
        self.send_response(200)  # ignores Range
        if with_length:
            self.send_header("Content-Length", str(10 * 1024**3))
        self.end_headers()
        chunk = png_claiming(4000, 3000)[:-12] + b"\x00" * 65536
        try:
            while not self.server.stop.is_set():
                self.wfile.write(chunk)
                self.server.sent += len(chunk)
                if self.server.sent > 512 * 1024 * 1024:  # safety net: the test failed long ago
                    return
        except OSError:
            return


@pytest.fixture(scope="module")
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def fresh(server):
    server.log.clear()
    server.sent = 0
    return server


def local(url: str, **kw):
    return inspect_url(url, allow_private_hosts=True, **kw)


def same_facts(a, b) -> bool:
    return {**a._asdict(), "source": None} == {**b._asdict(), "source": None}


# -- fetching only what is needed ------------------------------------------------------------------


@pytest.mark.parametrize("faststart", [False, True])
def test_mp4_facts_from_range_requests(fresh, media, faststart):
    path = media.video(seconds=15.0, size="160x120", faststart=faststart)
    data = path.read_bytes()
    fresh.files["clip.mp4"] = data
    facts = local(f"{fresh.base}/files/clip.mp4")
    assert same_facts(facts, inspect_path(path)) and facts.source == f"{fresh.base}/files/clip.mp4"
    assert facts.duration_s == 15.0
    assert fresh.sent < len(data) // 2, "fetched more than needed"
    ranges = fresh.sent_for("/files/clip.mp4")
    assert ranges[0] == "bytes=0-65535"
    assert (len(ranges) >= 2) is (not faststart)  # moov at the end needs a second range request


def test_image_and_audio_over_http(fresh, media):
    fresh.files["a.jpg"] = media.image(fmt="jpeg", size=(640, 480)).read_bytes()
    fresh.files["a.wav"] = media.audio(seconds=2.0).read_bytes()
    jpg, wav = local(f"{fresh.base}/files/a.jpg"), local(f"{fresh.base}/files/a.wav")
    assert (jpg.kind, jpg.format, jpg.width, jpg.height, jpg.problem) == ("image", "jpeg", 640, 480, None)
    assert (wav.format, wav.duration_s, wav.bytes) == ("wav", 2.0, len(fresh.files["a.wav"]))


def test_server_without_range_support(fresh, media):
    path = media.video(seconds=2.0)
    fresh.files["plain.mp4"] = path.read_bytes()
    facts = local(f"{fresh.base}/norange/plain.mp4")
    assert same_facts(facts, inspect_path(path))


def test_truncated_remote_file_is_a_problem_not_an_error(fresh, media):
    fresh.files["cut.mp4"] = media.video(seconds=2.0).read_bytes()[:5000]
    facts = local(f"{fresh.base}/files/cut.mp4")
    assert facts.format == "mp4" and "truncated" in facts.problem


def test_empty_remote_file(fresh):
    fresh.files["empty.png"] = b""
    assert local(f"{fresh.base}/files/empty.png").problem == "file is empty"


# -- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, status", [("/missing", 404), ("/broken", 500)])
def test_http_errors_report_the_status(fresh, path, status):
    with pytest.raises(RemoteUnreachable, match=f"HTTP status {status}") as info:
        local(fresh.base + path)
    assert info.value.status == status and info.value.url == fresh.base + path


def test_slow_server_times_out(fresh):
    start = time.monotonic()
    with pytest.raises(RemoteUnreachable, match="timed out") as info:
        local(f"{fresh.base}/slow", timeout=(1.0, 0.3))
    assert time.monotonic() - start < 2.0 and info.value.status is None


def test_trickling_server_hits_the_total_time_limit(fresh):
    start = time.monotonic()
    with pytest.raises(RemoteUnreachable, match="total time limit"):
        local(f"{fresh.base}/trickle", timeout=(1.0, 1.0), total_timeout=0.5)
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("path", ["/huge", "/huge-nolength"])
def test_byte_cap_holds_on_an_endless_response(fresh, path):
    cap = 256 * 1024
    start = time.monotonic()
    with pytest.raises(RemoteTooLarge, match="cap") as info:
        local(fresh.base + path, max_bytes=cap)
    assert info.value.received <= cap + 65536
    assert time.monotonic() - start < 5.0
    assert fresh.sent < 64 * 1024 * 1024  # the server was cut off, not drained


def test_byte_cap_holds_with_range_requests(fresh, media):
    path = media.video(seconds=15.0, size="320x240")  # moov at the end, far past the cap
    fresh.files["big.mp4"] = path.read_bytes()
    with pytest.raises(RemoteTooLarge) as info:
        local(f"{fresh.base}/files/big.mp4", max_bytes=65_600)
    assert info.value.received <= 65_600


def test_unresolvable_host(monkeypatch):
    def fail(host, port):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(remote, "_resolve", fail)
    with pytest.raises(RemoteUnreachable, match="cannot resolve host nowhere.invalid"):
        inspect_url("https://nowhere.invalid/x.png")


def test_connection_refused(fresh):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RemoteUnreachable, match="cannot connect"):
        local(f"http://127.0.0.1:{port}/x.png", timeout=(1.0, 1.0))


# -- where we are willing to go --------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x.png", "http://localhost:9/x.png", "http://10.0.0.1/x.png",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]:9/x.png",
                                 "http://[::ffff:192.168.0.1]/x.png", "http://0.0.0.0/x.png",
                                 "http://100.64.0.1/x.png", "http://224.0.0.1/x.png"])
def test_private_hosts_are_refused_before_connecting(url):
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))
    with pytest.raises(RemoteRefused, match="refusing"):
        inspect_url(url, transport=transport)
    assert seen == []


def test_loopback_server_is_refused_by_default_and_never_contacted(fresh, media):
    fresh.files["a.png"] = image_bytes("png")
    with pytest.raises(RemoteRefused, match="127.0.0.1"):
        inspect_url(f"{fresh.base}/files/a.png")
    assert fresh.log == []


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https(url):
    with pytest.raises(RemoteRefused, match="only http and https"):
        inspect_url(url)


def test_redirect_to_loopback_is_followed_when_allowed(fresh, media):
    fresh.files["r.png"] = image_bytes("png", (33, 44))
    target = f"{fresh.base}/files/r.png"
    facts = local(f"{fresh.base}/redirect?to={target}")
    assert (facts.format, facts.width, facts.height) == ("png", 33, 44)
    assert [p for p, _ in fresh.log] == [f"/redirect?to={target}", "/files/r.png"]


def test_redirect_loop_stops(fresh):
    with pytest.raises(RemoteUnreachable, match="too many redirects"):
        local(f"{fresh.base}/loop")
    assert len(fresh.log) == remote.MAX_REDIRECTS + 1


class PublicCdn:
    """A mock 'public' host: media.example resolves to a public address; nothing real is contacted."""

    def __init__(self, redirect_to: str, body: bytes):
        self.redirect_to, self.body, self.requests = redirect_to, body, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers["host"] == "media.example":
            return httpx.Response(302, headers={"Location": self.redirect_to})
        return httpx.Response(206, headers={"Content-Range": f"bytes 0-{len(self.body) - 1}/{len(self.body)}"},
                              content=self.body)


@pytest.mark.parametrize("target", ["http://10.0.0.1/a.png", "http://127.0.0.1/a.png",
                                    "http://internal.example/a.png"])
def test_redirect_to_a_private_host_is_refused_by_default(monkeypatch, target):
    addresses = {"media.example": ["93.184.216.34"], "internal.example": ["93.184.216.35", "10.1.2.3"]}
    monkeypatch.setattr(remote, "_resolve", lambda host, port: addresses.get(host) or [host])
    cdn = PublicCdn(target, image_bytes("png"))
    with pytest.raises(RemoteRefused, match="refusing"):
        inspect_url("https://media.example/a.png", transport=httpx.MockTransport(cdn))
    assert len(cdn.requests) == 1  # the redirect target was never requested
    first = cdn.requests[0]
    assert first.url.host == "93.184.216.34" and first.extensions["sni_hostname"] == "media.example"
    assert first.headers["range"] == "bytes=0-65535" and first.headers["accept-encoding"] == "identity"


def test_redirect_to_a_private_host_is_followed_when_allowed(monkeypatch):
    monkeypatch.setattr(remote, "_resolve", lambda host, port: ["93.184.216.34"] if host == "media.example" else [host])
    cdn = PublicCdn("http://10.0.0.1/a.png", image_bytes("png", (21, 12)))
    facts = inspect_url("https://media.example/a.png", allow_private_hosts=True, transport=httpx.MockTransport(cdn))
    assert (facts.width, facts.height) == (21, 12)
    assert [r.url.host for r in cdn.requests] == ["93.184.216.34", "10.0.0.1"]  # mock only: no socket


def test_connection_goes_to_the_vetted_address(monkeypatch):
    # A resolver that answers differently the second time (DNS rebinding) cannot redirect the socket.
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(remote, "_resolve", lambda host, port: next(answers))
    seen = []

    def handler(request):
        seen.append(request.url.host)
        body = image_bytes("png")
        return httpx.Response(206, headers={"Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}"}, content=body)

    inspect_url("https://media.example/a.png", transport=httpx.MockTransport(handler))
    assert seen == ["93.184.216.34"]


@pytest.mark.parametrize("address, public", [("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False),
                                             ("10.0.0.1", False), ("172.16.0.1", False), ("192.168.1.1", False),
                                             ("169.254.1.1", False), ("::1", False), ("fe80::1", False),
                                             ("fc00::1", False), ("::ffff:127.0.0.1", False), ("240.0.0.1", False),
                                             ("not-an-ip", False)])
def test_public_address_classification(address, public):
    assert remote._is_public(address) is public
