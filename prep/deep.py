"""``--deep``: will the service's decoder read this file? Answered by decoding part of it.

The inspector reads headers; a file whose header is sound but whose frames are garbage passes it.
``--deep`` decodes the first second and the last second of a video or audio file with the ffmpeg
binary from imageio-ffmpeg (the same one ``fix`` uses), and a whole image with Pillow's ``load()``.
ffmpeg exits with an error when decoding fails (it tolerates a few damaged packets, as a server's
decoder does): the file's facts then get ``problem`` (media.unreadable) with ffmpeg's first error line.
A file that decodes keeps its facts as they were. A decode that does not finish within the time limit
(``SEEDANCE_PREP_DEEP_TIMEOUT`` seconds, default 20) leaves the file ``unjudged`` (media.unjudged).

Results are memoised per process (by path, size and modification time), not stored across runs:
the facts cache keeps header facts only. Files are decoded in parallel threads (each decode is an
ffmpeg process, or Pillow, which releases the GIL while it decodes).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading

from .model import MediaFacts, PrepError

TIMEOUT_ENV = "SEEDANCE_PREP_DEEP_TIMEOUT"
DEFAULT_TIMEOUT_S = 20.0
_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")
# Image formats Pillow decodes by itself; others (HEIC, AVIF…) need plugins, and image.format rejects them.
PILLOW_FORMATS = frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif", "ppm", "ico"})


def ffmpeg_exe(what: str = "--deep") -> str:
    """The ffmpeg binary imageio-ffmpeg provides; a PrepError saying what to install when there is none
    (``what`` names what needs it: "--deep", "fix")."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise PrepError(f"{what} needs ffmpeg from imageio-ffmpeg, which is not installed: "
                        "pip install 'seedance-prep[fix]' (or imageio-ffmpeg)") from None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # RuntimeError when no binary ships for this platform and none is on PATH
        exe = None
    if not exe or not os.path.isfile(exe):
        raise PrepError(f"{what} needs an ffmpeg binary and imageio-ffmpeg found none: reinstall it "
                        "(pip install --force-reinstall imageio-ffmpeg) or set IMAGEIO_FFMPEG_EXE to an ffmpeg")
    return exe


def timeout_s() -> float:
    """The time limit for decoding one file: ``SEEDANCE_PREP_DEEP_TIMEOUT`` seconds, else 20."""
    text = os.environ.get(TIMEOUT_ENV)
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise PrepError(f"{TIMEOUT_ENV} must be a number of seconds above 0, not {text!r}")
    return value


def _first_error(stderr: str, path: str) -> str:
    """ffmpeg's first error line, without its object addresses and with the file's name for its path."""
    for line in stderr.splitlines():
        line = line.strip()
        if line:
            line = _ADDRESS.sub("]", line).replace(path, os.path.basename(path))
            return line if len(line) <= 200 else line[:199] + "…"
    return ""


def decode_av(path: str, exe: str, timeout: float) -> tuple[str | None, str | None]:
    """Decode the first second and the last second of the first video and audio stream of ``path``.

    Returns ``(problem, unjudged)``: ``problem`` when ffmpeg fails to decode, ``unjudged`` when it did
    not finish within ``timeout`` seconds; both None when it decodes."""
    cmd = [exe, "-hide_banner", "-nostdin", "-v", "error",
           "-t", "1", "-i", path, "-sseof", "-1", "-i", path,
           "-map", "0:v:0?", "-map", "0:a:0?", "-map", "1:v:0?", "-map", "1:a:0?", "-f", "null", "-"]
    try:
        run = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"--deep: ffmpeg did not finish decoding it within {timeout:g} s"
    except OSError as exc:
        raise PrepError(f"--deep: cannot run ffmpeg ({exe}): {exc.strerror or exc}") from None
    if run.returncode == 0:
        return None, None  # error lines with a zero exit are damage the decoder conceals (as a server's does)
    line = _first_error(run.stderr.decode("utf-8", "replace"), path)
    return f"ffmpeg could not decode it: {line or f'exit status {run.returncode}'}", None


def decode_image(path: str) -> tuple[str | None, str | None]:
    """Decode the image at ``path`` with Pillow. Returns ``(problem, unjudged)`` like :func:`decode_av`."""
    try:
        from PIL import Image
    except ImportError:
        return None, "--deep needs Pillow to decode images: pip install pillow"
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and metadata complaints are not decode failures
            with Image.open(path) as im:
                # Past Pillow's decompression-bomb bound (89 megapixels) it does not decode; the image
                # rules reject far smaller images, so --deep does not try (nor spend the memory).
                if Image.MAX_IMAGE_PIXELS and im.width * im.height > Image.MAX_IMAGE_PIXELS:
                    return None, None
                im.load()
    except Image.DecompressionBombError:  # past twice the bound Image.open itself refuses: as above
        return None, None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error… on bad data
        text = " ".join(str(exc).split()) or type(exc).__name__
        return f"Pillow could not decode it: {text[:200]}", None
    return None, None


def _merge(facts: MediaFacts, problem: str | None, unjudged: str | None) -> MediaFacts:
    if problem:
        return facts._replace(problem=problem)
    if unjudged:
        return facts._replace(unjudged=f"{facts.unjudged}; {unjudged}" if facts.unjudged else unjudged)
    return facts


class Deep:
    """Decodes media files to confirm they are readable; one per run (it memoises its answers).

    ``jobs`` is how many files decode at once (default: one per CPU); ``timeout`` the seconds allowed
    per file (default: :func:`timeout_s`). Creating one finds ffmpeg, so a run asking for ``--deep``
    without it stops at once with a PrepError."""

    def __init__(self, jobs: int | None = None, timeout: float | None = None):
        self.exe = ffmpeg_exe()
        self.timeout = timeout if timeout is not None else timeout_s()
        self.jobs = max(1, jobs) if jobs is not None else (os.cpu_count() or 1)
        self._memo: dict[tuple, tuple[str | None, str | None]] = {}
        self._lock = threading.Lock()

    def verdict(self, path: str | os.PathLike, kind: str | None,
                fmt: str | None = None) -> tuple[str | None, str | None]:
        """``(problem, unjudged)`` for the file at ``path`` decoded as ``kind`` (memoised). An image in a
        format Pillow does not decode is not decoded (its header facts stand)."""
        if kind == "image" and fmt not in PILLOW_FORMATS:
            return None, None
        path = os.fspath(path)
        try:
            st = os.stat(path)
        except OSError:
            return None, None  # gone since it was inspected: media.not-found is the inspector's to say
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, kind == "image")
        with self._lock:
            found = self._memo.get(key)
        if found is None:
            found = decode_image(path) if kind == "image" else decode_av(path, self.exe, self.timeout)
            with self._lock:
                self._memo[key] = found
        return found

    def check(self, path: str | os.PathLike, facts: MediaFacts) -> MediaFacts:
        """``facts`` of the file at ``path``, with ``problem`` set when it does not decode (or ``unjudged``
        when decoding ran out of time). Facts already unreadable, or of no known kind, are returned as
        they are."""
        if facts.problem is not None or facts.kind not in ("image", "video", "audio"):
            return facts
        return _merge(facts, *self.verdict(path, facts.kind, facts.format))

    def check_many(self, pairs: list) -> list[MediaFacts]:
        """:meth:`check` over ``(path, facts)`` pairs, ``jobs`` at a time; results in the same order."""
        if len(pairs) <= 1 or self.jobs <= 1:
            return [self.check(path, facts) for path, facts in pairs]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(self.jobs, len(pairs))) as pool:
            return list(pool.map(lambda pair: self.check(*pair), pairs))

    def check_bytes(self, data: bytes, facts: MediaFacts) -> MediaFacts:
        """:meth:`check` for content held in memory (a ``data:`` URL): decoded from a temporary file."""
        if facts.problem is not None or facts.kind not in ("image", "video", "audio") or (
                facts.kind == "image" and facts.format not in PILLOW_FORMATS):
            return facts
        import tempfile

        fd, name = tempfile.mkstemp(prefix="seedance-prep-deep-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            problem, unjudged = (decode_image(name) if facts.kind == "image"
                                 else decode_av(name, self.exe, self.timeout))
        finally:
            os.unlink(name)
        if problem:
            problem = problem.replace(os.path.basename(name), "the data: URL")
        return _merge(facts, problem, unjudged)

    def warm(self, paths: list) -> None:
        """Decode the media files among ``paths`` in parallel ahead of :meth:`check` (which then answers
        from memory). The kind is sniffed from each file's first bytes."""
        from concurrent.futures import ThreadPoolExecutor

        from .inspect import sniff

        def one(path) -> None:
            try:
                with open(path, "rb") as fh:
                    head = fh.read(4096)
            except OSError:
                return
            kind, fmt = sniff(head)
            if kind in ("image", "video", "audio"):
                self.verdict(path, kind, fmt)

        if self.jobs <= 1 or len(paths) <= 1:
            for path in paths:
                one(path)
            return
        with ThreadPoolExecutor(min(self.jobs, len(paths))) as pool:
            list(pool.map(one, paths))
