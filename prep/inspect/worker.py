"""libmediainfo (pymediainfo) run in a worker process bounded in time and memory, for :mod:`.mediainfo`.

The rejected formats (Matroska, AVI, FLAC, Ogg, HEIF, ...) and content the sniffer does not know come
here. libmediainfo is C++ that reads whatever a file claims: a hostile 1 kB file has made it run for
minutes and allocate 12 GB. So it never runs in this process. One worker per process, started on the
first file that needs it (a run that never does pays nothing: no process, no import of pymediainfo),
reused for the files after, closed at exit. A file the worker cannot answer within ``TIMEOUT_S``
seconds, or that kills it (its address space is capped at ``MEMORY_MIB``), gets the sniffed kind and
format with ``unjudged`` saying why; the worker is restarted for the next file. A worker that cannot
start (pymediainfo or libmediainfo missing) is a finding on the file too, never an error for the run.

The worker opens a local file by its path. Content without one (bytes, ``data:`` URLs, remote
files) is served to it on request, range by range, from the same reader the parsers use.
"""

from __future__ import annotations

import math
import os
import sys
import time
from _thread import allocate_lock

from ._base import _one_line, _Source

# Normal files take about a millisecond (median over the Pillow and mutagen corpora; the slowest,
# a PNG decompression bomb, 0.6 s) and the worker peaks near 180 MB of address space, 40 MB of
# which are the interpreter and the library. 10 s and 1 GiB leave 15x and 5x headroom on a loaded
# machine and still stop the hostile files (76 s, 12.6 GB) early. Tests and users may set both.
TIMEOUT_S = 10.0  # env SEEDANCE_PREP_MEDIAINFO_TIMEOUT (seconds)
MEMORY_MIB = 1024  # env SEEDANCE_PREP_MEDIAINFO_MEMORY_MB (MiB; address space, where the OS caps it)
_START_TIMEOUT_S = 30.0  # an interpreter start and a library load on a busy machine
_NEAR_LIMIT = 0.9  # a worker whose address space peaked this close to the cap has hit it
_RESTART_AT = 0.5  # and one past half of it is restarted before the next file
_SERVE_BYTES = 256 << 20  # at most this much of a file without a path is handed to the worker
_SERVE_CHUNK = 1 << 20  # and at most this much per read it asks for

NOT_INSTALLED = "pymediainfo is not installed: pip install pymediainfo"
NO_LIBRARY = "pymediainfo cannot load libmediainfo: install the MediaInfo library (libmediainfo)"


# What the worker sends back: these fields of the General track and of the first Video, Audio and
# Image track, as MediaInfo's strings. The worker is this script, run by the same interpreter with
# -I (no current folder, no PYTHON* variables on its path) plus pymediainfo's own folder.
_FIELDS = ("format", "format_profile", "duration", "istruncated", "width", "height", "frame_rate",
           "frame_rate_mode", "frame_count", "rotation", "sampling_rate", "channel_s")
_WORKER = r"""
import json, os, struct, sys
cfg = json.loads(sys.argv[1])
inp = os.fdopen(os.dup(0), "rb", buffering=0)
out = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(os.open(os.devnull, os.O_RDWR), 0)
os.dup2(2, 1)  # a stray print from any library cannot garble the replies


def recv():
    head = inp.read(4)
    while head and len(head) < 4:
        more = inp.read(4 - len(head))
        if not more:
            break
        head += more
    if len(head) < 4:
        sys.exit(0)  # the parent closed the pipe or is gone
    n, body = struct.unpack(">I", head)[0], b""
    while len(body) < n:
        more = inp.read(n - len(body))
        if not more:
            sys.exit(0)
        body += more
    return body


def send(obj):
    data = json.dumps(obj).encode()
    data = memoryview(struct.pack(">I", len(data)) + data)
    while data:
        data = data[out.write(data) :]


sys.path.insert(0, cfg["where"])
try:
    from pymediainfo import MediaInfo
except ImportError:
    send({"unavailable": "not installed"})
    sys.exit(0)
if not MediaInfo.can_parse():
    send({"unavailable": "no library"})
    sys.exit(0)
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (cfg["memory"], cfg["memory"]))
except (ImportError, ValueError, OSError, AttributeError):
    pass  # no address-space cap on this platform: the parent's timeout still bounds the worker
send({"ready": True})


def vm_peak():
    # The peak address space so far (Linux): libmediainfo swallows some failed allocations and
    # answers with less, so a peak near the cap is how the parent tells that the cap was hit.
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmPeak:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Remote:
    # The parent's content, read on request (for content without a path).
    mode = "rb"

    def __init__(self, size):
        self.size, self.pos = size, 0

    def seek(self, offset, whence=0):
        self.pos = max(0, (0, self.pos, self.size)[whence] + offset)
        return self.pos

    def tell(self):
        return self.pos

    def read(self, n=-1):
        n = self.size - self.pos if n is None or n < 0 else min(n, self.size - self.pos)
        if n <= 0:
            return b""
        send({"read": [self.pos, n]})
        data = recv()
        self.pos += len(data)
        return data


while True:
    request = json.loads(recv())
    try:
        info = MediaInfo.parse(request["path"] if "path" in request else Remote(request["size"]))
        reply = {}
        for track in info.tracks:
            if track.track_type in ("General", "Video", "Audio", "Image") and track.track_type not in reply:
                reply[track.track_type] = {k: None if getattr(track, k, None) is None else str(getattr(track, k))
                                           for k in cfg["fields"]}
        del info
    except MemoryError:
        reply = {"memory": True}
    except Exception as exc:
        reply = {"failed": (type(exc).__name__ + ": " + str(exc))[:300]}
    reply["peak"] = vm_peak()
    send(reply)
"""


class _Gone(Exception):
    """The worker stopped answering: it timed out (``timed_out``) or died."""

    def __init__(self, timed_out: bool):
        self.timed_out = timed_out


class _Worker:
    """One worker process and a thread that reads its replies (a pipe cannot wait with a timeout
    on every platform; a queue can)."""

    def __init__(self, where: str, memory_mib: int):
        import queue
        import subprocess
        import threading

        self.memory_mib = memory_mib
        config = {"where": where, "memory": memory_mib << 20, "fields": _FIELDS}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER, _json(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, bufsize=0, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.replies: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._empty = queue.Empty
        threading.Thread(target=self._pump, args=(self.stdout, self.replies), daemon=True,
                         name="mediainfo-replies").start()

    @staticmethod
    def _pump(pipe, replies) -> None:
        # This thread alone reads and closes the pipe: were another thread to close it while this one
        # is about to read, the descriptor could be reused by the next worker's pipe and read from here.
        try:
            while True:
                head = _read_exactly(pipe, 4)
                body = _read_exactly(pipe, int.from_bytes(head, "big")) if head is not None else None
                if body is None:
                    break
                replies.put(body)
        except (OSError, ValueError):
            pass
        finally:
            pipe.close()
        replies.put(None)

    def send(self, payload: bytes) -> None:
        data = memoryview(len(payload).to_bytes(4, "big") + payload)
        try:
            while data:
                data = data[self.stdin.write(data) or 0 :]
        except (OSError, ValueError):
            raise _Gone(timed_out=False) from None

    def receive(self, timeout: float) -> dict:
        import json

        try:
            body = self.replies.get(timeout=max(0.0, timeout))
        except self._empty:
            raise _Gone(timed_out=True) from None
        if body is None:
            raise _Gone(timed_out=False)
        return json.loads(body)

    def stop(self) -> None:
        """Kill the worker now and reap it (after a timeout, or when its state is unknown)."""
        try:
            self.proc.kill()
        except OSError:
            pass
        self._reap()

    def close(self) -> None:
        """Let the worker end on its own (its input closes), or kill it after a second."""
        import subprocess

        try:
            self.stdin.close()
            self.proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            self.stop()
        self._reap()

    def _reap(self) -> None:
        import subprocess

        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover  (SIGKILL is not ignored)
            pass
        try:
            self.stdin.close()  # the reply pipe is closed by its reader, at the end of file
        except OSError:
            pass

    def death(self) -> str:
        """Why the worker died, in a few words."""
        import signal

        code = self.proc.returncode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"


def _read_exactly(pipe, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        more = pipe.read(n - len(data))
        if not more:
            return None
        data += more
    return data


def _json(obj) -> str:
    import json

    return json.dumps(obj)


def timeout_s() -> float:
    """The worker's time per file: ``SEEDANCE_PREP_MEDIAINFO_TIMEOUT`` or :data:`TIMEOUT_S`."""
    return _setting("SEEDANCE_PREP_MEDIAINFO_TIMEOUT", TIMEOUT_S)


def memory_mib() -> int:
    """The worker's address space: ``SEEDANCE_PREP_MEDIAINFO_MEMORY_MB`` or :data:`MEMORY_MIB`."""
    return max(1, int(_setting("SEEDANCE_PREP_MEDIAINFO_MEMORY_MB", MEMORY_MIB)))


def _setting(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


_worker: _Worker | None = None
_unavailable: str | None = None  # why no worker can start in this process (the library is missing)
_lock = allocate_lock()  # one file at a time through the worker


def _ask(src: _Source) -> dict | str:
    """The worker's reply for ``src`` (a dict), or why there is none (a one-line reason)."""
    with _lock:
        for attempt in range(2):
            worker = _running()
            if isinstance(worker, str):
                return worker
            reply = _exchange(worker, src)
            if not isinstance(reply, _Crashed):
                break
            # Once more with a new worker: this one may have died before the file reached it (killed
            # from outside between files). A file that kills it kills the next one too.
        return reply


class _Crashed(str):
    """The reason given when the worker died on a file."""


def _running() -> _Worker | str:
    """The worker for this process, started if need be; or why it cannot run."""
    global _worker, _unavailable
    if _worker is not None and _worker.proc.poll() is not None:
        _drop(kill=True)  # it died between files (killed from outside): start another
    if _worker is not None and _worker.memory_mib != memory_mib():
        _drop()  # the limit changed (tests set it): a new worker takes it
    if _worker is not None:
        return _worker
    if _unavailable is not None:
        return _unavailable
    import importlib.util

    try:
        spec = importlib.util.find_spec("pymediainfo")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return NOT_INSTALLED
    if not sys.executable:
        return "cannot start the pymediainfo worker: no Python executable to run it with"
    where = os.path.dirname(os.path.dirname(spec.origin))
    try:
        worker = _Worker(where, memory_mib())
    except OSError as exc:
        return _one_line(f"cannot start the pymediainfo worker: {exc}")
    wait = max(_START_TIMEOUT_S, timeout_s())
    try:
        hello = worker.receive(wait)
    except _Gone as exc:
        worker.stop()
        return (f"the pymediainfo worker did not start within {wait:g} s" if exc.timed_out
                else f"the pymediainfo worker failed to start ({worker.death()})")
    if "unavailable" in hello:
        worker.close()
        _unavailable = NOT_INSTALLED if hello["unavailable"] == "not installed" else NO_LIBRARY
        return _unavailable
    _worker = worker
    _at_exit()
    return worker


def _exchange(worker: _Worker, src: _Source) -> dict | str:
    """Send one file to ``worker``, serve the reads it asks for, and return its reply. The time
    limit counts the worker's own time, not the time spent fetching bytes for it."""
    healthy = False
    budget = timeout_s()
    served = 0
    try:
        worker.send(_json({"path": src.path} if src.path else {"size": src.size}).encode())
        while True:
            start = time.monotonic()
            reply = worker.receive(budget)
            budget -= time.monotonic() - start
            if "read" not in reply:
                break
            offset, n = reply["read"]
            data = src.at(int(offset), min(int(n), _SERVE_CHUNK)) if served < _SERVE_BYTES else b""
            served += len(data)
            worker.send(data)
        peak = reply.get("peak") or 0
        limit = worker.memory_mib << 20
        if peak >= _NEAR_LIMIT * limit:
            reply["memory"] = True  # the cap was hit: libmediainfo may have given up on part of the file
        # After a MemoryError the worker may be in any state; after a big file its peak stays high
        # (it never falls), which would make the next file look as if it hit the cap: restart it.
        healthy = peak < _RESTART_AT * limit and not reply.get("memory")
    except _Gone as exc:
        _drop(kill=True)
        if exc.timed_out:
            return f"libmediainfo (the fallback reader) gave no answer within {timeout_s():g} s and was stopped"
        return _Crashed(f"libmediainfo (the fallback reader) crashed on this file ({worker.death()}; "
                        f"it may have run past its {worker.memory_mib} MiB memory limit)")
    finally:
        if not healthy:
            _drop(kill=True)  # stopped mid-file (an exception while serving a read) or out of memory
    if reply.get("memory"):
        return f"libmediainfo (the fallback reader) ran past its {worker.memory_mib} MiB memory limit on this file"
    return reply


def _drop(kill: bool = False) -> None:
    """Forget the worker; stop it (at once with ``kill``, else by closing its input)."""
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        worker.stop() if kill else worker.close()


_exit_hooked = False


def _at_exit() -> None:
    global _exit_hooked
    if not _exit_hooked:
        import atexit

        atexit.register(_drop)
        _exit_hooked = True


_inherited: list[_Worker] = []


def _after_fork() -> None:
    # A forked child (lint's --jobs workers) inherits the parent's worker object and its pipes: it
    # closes its copies of the pipes, never signals the parent's worker, and starts its own if need be.
    global _worker, _lock
    _lock = allocate_lock()  # one held by another thread at the fork would never be released here
    worker, _worker = _worker, None
    if worker is not None:
        for pipe in (worker.stdin, worker.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        _inherited.append(worker)  # kept alive, so that no finaliser waits for a process not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
