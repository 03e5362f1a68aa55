"""The references the oracle suite compares ``prep.inspect`` with, and the corpora it runs on.

- :func:`corpus` downloads a pinned source distribution from the package index at test time (into a
  cache, checked against its sha256) and returns the folder of test files it ships: Pillow's
  ``Tests/images`` and mutagen's ``tests/data``. Nothing is vendored.
- :func:`decode` runs ffmpeg's own decode (``ffmpeg -i FILE -map 0:a:0|0:v:0 -f null -``), the
  semantics of the providers' validators: gapless MP3 delay and padding applied, every frame read.
- :func:`ffmpeg` is the binary from imageio-ffmpeg (the same one ``fix`` uses).

Set ``SEEDANCE_PREP_ORACLE_CACHE`` to keep the downloads somewhere else (default: the user cache
folder), ``SEEDANCE_PREP_INDEX`` to use another index speaking the JSON simple API (PEP 691).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from pathlib import Path

# name → (sdist file name, sha256, the folder of test media inside it)
CORPORA = {
    "pillow": ("pillow-13.0.0.tar.gz", "cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510",
               "pillow-13.0.0/Tests/images"),
    "mutagen": ("mutagen-1.48.1.tar.gz", "8f95637ab9f6f305cec6bd1294e197debe207998e3e068596563c74f86b0a173",
                "mutagen-1.48.1/tests/data"),
}


def cache_root() -> Path:
    env = os.environ.get("SEEDANCE_PREP_ORACLE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "seedance-prep-oracle"


def corpus(name: str) -> Path:
    """The extracted test-media folder of corpus ``name`` (downloaded once, then cached)."""
    filename, sha256, inner = CORPORA[name]
    root = cache_root()
    target = root / filename.removesuffix(".tar.gz")
    if (target / ".complete").exists():
        return target / inner
    root.mkdir(parents=True, exist_ok=True)
    archive = root / filename
    if not archive.exists() or _sha256(archive) != sha256:
        _download(name, filename, sha256, archive)
    work = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        top = inner.split("/")[0] + "/"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(top + inner.split("/", 1)[1] + "/")
                       and (m.isfile() or m.isdir())]
            tar.extractall(work, members=members, filter="data")
        (work / ".complete").write_text(sha256)
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / inner


def _download(name: str, filename: str, sha256: str, dest: Path) -> None:
    index = os.environ.get("SEEDANCE_PREP_INDEX", "https://pypi.org/simple").rstrip("/")
    req = urllib.request.Request(f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        files = json.load(resp)["files"]
    url = next(f["url"] for f in files if f["filename"] == filename)
    tmp = dest.with_suffix(".part")
    with urllib.request.urlopen(url, timeout=300) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out, 1 << 20)
    got = _sha256(tmp)
    if got != sha256:
        tmp.unlink()
        raise RuntimeError(f"{filename}: sha256 {got} is not the pinned {sha256}")
    os.replace(tmp, dest)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


_PROGRESS = re.compile(r"^(\w+)=(.*)$", re.M)
_STREAM = re.compile(r"Stream #0:(\d+)[^:]*: (Video|Audio): (\w+)")


def decode(path: str | os.PathLike, stream: str = "a", timeout: float = 120) -> dict | None:
    """ffmpeg's decode of the first ``stream`` ("a" or "v") of ``path``: ``{"duration_s", "frames",
    "errors"}``, or None when ffmpeg cannot open the file or finds no such stream.

    ``duration_s`` is where the decoded stream ends (ffmpeg's ``out_time`` after the last frame);
    ``frames`` the number of decoded video frames (or audio packets); ``errors`` the error lines
    ffmpeg printed while decoding (empty for a file it fully decodes).
    """
    cmd = [ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-stats_period", "100", "-progress", "pipe:1",
           "-i", os.fspath(path), "-map", f"0:{stream}:0", "-f", "null", "-"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    fields = dict(_PROGRESS.findall(run.stdout))
    if run.returncode != 0 and "out_time_us" not in fields:
        return None
    us = fields.get("out_time_us", "N/A")
    frames = fields.get("frame")
    return {
        "duration_s": int(us) / 1e6 if us.lstrip("-").isdigit() else None,
        "frames": int(frames) if frames and frames.isdigit() else None,
        "errors": [line for line in run.stderr.splitlines() if line.strip()],
    }


def probe(path: str | os.PathLike) -> str:
    """ffmpeg's description of the file (``ffmpeg -i``'s stderr): streams, codecs, sizes, rates."""
    run = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-i", os.fspath(path)],
                         capture_output=True, text=True, errors="replace", timeout=60)
    return run.stderr


def make(args: list[str], out: Path, timeout: float = 120) -> Path:
    """Run ``ffmpeg -y ARGS OUT`` (quiet) and return ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y", *args, str(out)],
                   check=True, capture_output=True, timeout=timeout)
    return out
