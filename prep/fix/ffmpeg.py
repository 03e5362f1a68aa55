"""Running the ffmpeg binary (from imageio-ffmpeg) for the video and audio executors.

Every run is ``ffmpeg -hide_banner -nostdin -v error -y ARGS``; the output goes to a temporary file from
:func:`prep.fix.files.atomic_output`, renamed only when ffmpeg succeeded (and the caller's own check
passed). A failure is one line: ffmpeg's first error line, or what stopped it (a signal, the time limit).
Ctrl-C, a killed ffmpeg or a run past the time limit leave no output: the child is killed and waited for,
and the temporary file is removed.

With a ``progress`` callback ffmpeg reports with ``-progress pipe:1``; each ``out_time_us`` it writes
becomes ``progress(done_s, total_s)`` (``total_s`` is what the caller expects the output to last, or None).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence

from ..model import PrepError
from .files import atomic_output

Progress = Callable[[float, float | None], None]

# Seconds allowed for one run: this much, plus PER_SECOND_S per second of media it reads or writes.
BASE_TIMEOUT_S = 120.0
PER_SECOND_S = 30.0
_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")


def prepare(source: str, timeout: float | None):
    """What every ffmpeg job starts from: the source's facts, the words that name the job in a message,
    the file name ffmpeg's messages should show for the source, and the job's time limit."""
    from ..inspect import inspect_path

    facts = inspect_path(source)
    limit = timeout if timeout is not None else timeout_for(facts.duration_s)
    return facts, f"fix {os.path.basename(source)}", {source: os.path.basename(source)}, limit


def timeout_for(duration_s: float | None) -> float:
    """The time limit for a run over ``duration_s`` seconds of media (generous: slow machines, 4K sources)."""
    return BASE_TIMEOUT_S + PER_SECOND_S * max(0.0, duration_s or 0.0)


def seconds(value: float) -> str:
    """A time for ffmpeg's command line, to the microsecond (its resolution), rounded down (a trim must
    not outlast its target)."""
    text = f"{math.floor(value * 1e6 + 1e-6) / 1e6:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def first_error(stderr: str, names: dict[str, str]) -> str:
    """ffmpeg's first non-empty stderr line, without object addresses, each path in ``names`` replaced."""
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        line = _ADDRESS.sub("]", line)
        for path, name in sorted(names.items(), key=lambda item: -len(item[0])):
            line = line.replace(path, name)
        return line if len(line) <= 200 else line[:199] + "…"
    return ""


def exe() -> str:
    """The ffmpeg binary (:func:`prep.deep.ffmpeg_exe`), or a PrepError saying what ``fix`` needs installed."""
    from ..deep import ffmpeg_exe

    try:
        return ffmpeg_exe()
    except PrepError as exc:  # its message names --deep, the first command that needed ffmpeg
        raise PrepError(str(exc).replace("--deep needs", "fixing video and audio needs", 1)) from None


def run(args: Sequence[str], *, what: str, timeout: float, progress: Progress | None = None,
        total_s: float | None = None, names: dict[str, str] | None = None) -> None:
    """Run ffmpeg with ``args`` (inputs, options and the output path); raise a one-line PrepError
    naming ``what`` when it fails (``names`` maps paths in ffmpeg's message to what the user sees).
    The child never outlives this call (Ctrl-C, the time limit, any error)."""
    cmd = [exe(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    if progress is not None:
        cmd += ["-progress", "pipe:1", "-nostats"]
    cmd += list(args)
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty ffmpeg can never block on it
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=err,
                                    stdout=subprocess.PIPE if progress is not None else subprocess.DEVNULL)
        except OSError as exc:
            raise PrepError(f"{what}: cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}") from None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, stop)
        timer.daemon = True
        timer.start()
        try:
            if progress is not None:
                assert proc.stdout is not None
                for line in _lines(proc.stdout):
                    if line.startswith("out_time_us=") and line[12:].strip().isdigit():
                        progress(int(line[12:]) / 1e6, total_s)
            returncode = proc.wait()
        except BaseException:  # Ctrl-C, or the progress callback failed: the child goes too
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
            if proc.stdout is not None:
                proc.stdout.close()
        if returncode == 0 and not timed_out.is_set():
            return
        if timed_out.is_set():
            raise PrepError(f"{what}: ffmpeg did not finish within {timeout:g} s")
        err.seek(0)
        line = first_error(err.read().decode("utf-8", "replace"), names or {})
        if returncode < 0:
            raise PrepError(f"{what}: ffmpeg was stopped by signal {-returncode}" + (f" ({line})" if line else ""))
        raise PrepError(f"{what}: ffmpeg failed: {line or f'exit status {returncode}'}")


def _lines(stream) -> Iterator[str]:
    for raw in stream:
        yield raw.decode("ascii", "replace")


def write(args: Sequence[str], out: str, fmt: str, *, what: str, timeout: float,
          progress: Progress | None = None, total_s: float | None = None, names: dict[str, str] | None = None) -> None:
    """Run ffmpeg with ``args`` followed by ``-f fmt`` and a temporary output, renamed to ``out`` on success."""
    names = names or {}
    with atomic_output(out) as tmp:
        run([*args, "-f", fmt, tmp], what=what, timeout=timeout, progress=progress, total_s=total_s,
            names={**names, tmp: os.path.basename(out)})
