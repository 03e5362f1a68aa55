"""The HTTP side of the emulator: parse a request, inject its fault, write the answer.

Keep-alive HTTP/1.1 on a thread per connection. No lock is held while a request sleeps (``slow``) or
a file is written, so 200 concurrent clients are answered side by side.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import cast
from urllib.parse import urlsplit

from . import storage
from .app import CONTROL, App, Reply
from .routes import match
from .shapes import SERVER_CODES

_SMALL_BODY = 1 << 20  # the most a request other than a create may carry


class Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections (so ``stop`` can end idle keep-alives)."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App):
        self.app = app
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall without DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Shut every open connection down (their threads then end)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # a client hanging up is not worth a word; a bug is
            print(f"seedance-prep emulator: internal error: {exc!r}", file=sys.stderr)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "seedance-prep-emulator"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this many seconds

    @property
    def app(self) -> App:
        return cast(Server, self.server).app

    def setup(self) -> None:
        super().setup()
        cast(Server, self.server).track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            cast(Server, self.server).track(self.connection, False)

    def log_message(self, format: str, *args) -> None:  # quiet: requests may carry keys and data
        return None

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header on the emulator's clock (which tests move), as a provider's is on its own:
        clients read the provider's time from it."""
        return super().date_time_string(self.app.clock.now() if timestamp is None else timestamp)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # -- dispatch --------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        try:
            if split.path.startswith(CONTROL):
                body = self._read_body(_SMALL_BODY)
                if body is None:
                    return self._send(Reply(413, {"error": "body too large"}), close=True)
                return self._send(self.app.control(method, split.path, body))
            if split.path.startswith(storage.PREFIX):
                return self._storage(method, split.path, split.query)
            return self._api(method, split.path, split.query)
        except OSError:  # the client went away mid-request
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug: answer 500 rather than drop the connection without a word
            print(f"seedance-prep emulator: internal error on {method} {split.path}: {exc!r}", file=sys.stderr)
            self._send(Reply(500, {"error": {"code": "InternalServiceError", "message": "emulator bug"}}), close=True)

    def _api(self, method: str, path: str, query: str) -> None:
        app = self.app
        app.stats.add("requests")
        route, task_id, other = match(app.table, method, path)
        if route is None:
            body = self._read_body(_SMALL_BODY)
            profile = next((name for name in app.profiles if path.startswith(f"/{name}/")), app.profiles[0])
            status = 405 if other else 404
            code = "MethodNotAllowed" if other else "InvalidEndpoint.NotFound"
            return self._send(app.error(profile, status, code, f"no endpoint {method} {path}"), close=body is None)
        fault = app.faults.draw()
        if fault is not None:
            app.stats.add("faults", fault)
        if fault == "reset_before":
            return self._reset()
        limit = app.validator.body_limit(route.profile) if route.action == "create" else _SMALL_BODY
        body = self._read_body(limit or _SMALL_BODY)
        if body is None:
            return self._send(app.error(route.profile, 400, "InvalidParameter",
                                        f"the request body is over the {limit or _SMALL_BODY}-byte limit"), close=True)
        if fault == "rate_limit":
            app.stats.add("responses", "429")
            return self._send(app.error(route.profile, 429, "RateLimitExceeded.EndpointRPMExceeded",
                                        "Too many requests: the endpoint's request rate limit was exceeded.",
                                        headers=(("Retry-After", str(app.faults.retry_after)),)))
        if fault == "server_error":
            status = app.faults.server_status()
            app.stats.add("responses", str(status))
            return self._send(app.error(route.profile, status, SERVER_CODES[status],
                                        "The service encountered an unexpected internal error."))
        if fault == "slow":
            time.sleep(app.faults.delay())
        if not app.authorized(self.headers.get("Authorization")):
            reply = app.unauthorized(route.profile)
        else:
            reply = app.dispatch(route, task_id, query, body)
        if fault == "reset_after":
            return self._reset()
        sent = self._write(reply, truncate=fault == "truncated")
        app.stats.add("responses", str(reply.status))
        if sent and reply.status == 200 and isinstance(reply.body, bytes):
            app.stats.add("downloads")

    def _storage(self, method: str, path: str, query: str) -> None:
        app = self.app
        app.stats.add("storage_requests")
        if self._read_body(_SMALL_BODY) is None:
            return self._send_xml(400, "MaxMessageLengthExceeded", "Your request was too big.", close=True)
        key = app.api_key
        if key and (key in self.path or any(key in value for value in self.headers.values())):
            app.stats.add("storage_key_seen")
        if "Authorization" in self.headers:
            app.stats.add("storage_authorization")
            return self._send_xml(400, *storage.AUTH_REFUSED)
        if method not in ("GET", "HEAD"):
            return self._send_xml(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        verdict = app.storage.check(path, query, app.clock.now())
        if isinstance(verdict, tuple):
            return self._send_xml(*verdict)
        truncate = method == "GET" and app.faults.draw_download()
        if truncate:
            app.stats.add("faults", "truncated")
        reply = Reply(200, storage.media(verdict), storage.FILES[verdict][0])
        if self._write(reply, truncate=truncate, head=method == "HEAD") and method == "GET":
            app.stats.add("downloads")

    # -- I/O -------------------------------------------------------------------------------------

    def _read_body(self, limit: int) -> bytes | None:
        """The request body (b"" when there is none), or None when it is over ``limit`` bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            return None
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise ConnectionResetError("the client sent less than its Content-Length")
        return data

    def _read_chunked(self, limit: int) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        self._write(reply, close=close)

    def _write(self, reply: Reply, *, truncate: bool = False, close: bool = False, head: bool = False) -> bool:
        """Write ``reply``; with ``truncate`` only half of the promised body. True when all was sent."""
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body, ensure_ascii=False).encode()
        self.send_response(reply.status)
        content_type = reply.content_type + ("; charset=utf-8" if reply.content_type == "application/json" else "")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head or self.command == "HEAD":  # a HEAD answer has headers only
            return True
        if truncate:  # promise len(body), send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return False
        self.wfile.write(body)
        return True

    def _send_xml(self, status: int, code: str, message: str, close: bool = False) -> None:
        self._send(Reply(status, storage.error_xml(code, message), "application/xml"), close=close)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0): the client hears no answer at all."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True
