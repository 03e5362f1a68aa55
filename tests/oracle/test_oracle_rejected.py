"""Oracle: every file of Pillow's and mutagen's test corpora in a format the API rejects, as the references
name it, is inspected as that kind of media in a rejected format: never an accepted one, never a crash.

The reference name of a file is Pillow's (``Image.open(...).format``), else pymediainfo's container when
it finds a stream, else the demuxer ffmpeg opens it with (``oracles.probe``). A file none of them names
is not media and not in this test. Accepted means the formats of ``rules/seedance-2.0.toml``: JPEG, PNG,
WebP, BMP, TIFF and GIF images, MP4/MOV video, MP3 and WAV audio. The rejected ones are checked twice:
with libmediainfo (the bounded worker) and without it (the sniff alone, as on ARM/Alpine, where
pymediainfo has no wheel). Hanging is bounded by the worker's time limit (10 s a file), never timed here.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from pathlib import Path

import pytest
from oracles import corpus, probe

from prep.inspect import inspect_path, worker

ACCEPTED = {"image": {"jpeg", "png", "webp", "bmp", "tiff", "gif"}, "video": {"mp4", "mov"}, "audio": {"mp3", "wav"}}
# The references' names for the accepted formats (a JPEG with more pictures is Pillow's MPO).
ACCEPTED_PILLOW = {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"}
ACCEPTED_MEDIAINFO = {"image": {"JPEG", "PNG", "WebP", "Bitmap", "TIFF", "GIF"}, "video": {"MPEG-4", "QuickTime"},
                      "audio": {"MPEG Audio", "Wave"}}
ACCEPTED_FFMPEG = {"video": {"mov,mp4,m4a,3gp,3g2,mj2"}, "audio": {"mp3", "wav"},
                   "image": {"mjpeg", "png", "webp", "bmp", "tiff", "gif"}}  # an image's codec, not its demuxer
_INPUT = re.compile(r"^Input #0, ([^,\s]+(?:,[^,\s]+)*), from", re.MULTILINE)


def _pillow(path: Path) -> str | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return im.format
    except Exception:  # noqa: BLE001  (anything Pillow cannot open has no Pillow name)
        return None


def _mediainfo(path: Path) -> tuple[str | None, str | None]:
    from pymediainfo import MediaInfo

    try:
        tracks = MediaInfo.parse(str(path)).tracks
    except Exception:  # noqa: BLE001
        return None, None
    kinds = {t.track_type for t in tracks}
    kind = "video" if "Video" in kinds else "audio" if "Audio" in kinds else "image" if "Image" in kinds else None
    general = next((t.format for t in tracks if t.track_type == "General"), None)
    return (general, kind) if kind else (None, None)


def _ffmpeg(path: Path) -> tuple[str | None, str | None]:
    text = probe(path)
    found = _INPUT.search(text)
    if not found or "Stream #0" not in text:
        return None, None
    streams = re.findall(r"Stream #0:\d+.*?: (Video|Audio): (\w+)(.*)", text)
    video = [codec for kind, codec, rest in streams if kind == "Video" and "attached pic" not in rest]
    if found.group(1).startswith("image2") or found.group(1).endswith("_pipe"):  # a still image
        return (video[0] if video else found.group(1)), "image"
    return found.group(1), ("video" if video else "audio" if streams else None)


def reference(path: Path) -> tuple[str, str, str, bool] | None:
    """``(reference, name, kind, accepted)`` for a media file, or None when no reference names it.
    Where Pillow and pymediainfo disagree on the kind (FLI, AVIF sequences: images to Pillow, videos to
    MediaInfo), ffmpeg decides, as everywhere in the oracle suite; when ffmpeg cannot open the file
    either, both kinds are right ("image|video")."""
    name = _pillow(path)
    if name:
        kind = "image"
        other = _mediainfo(path)[1]
        if other not in (None, "image"):
            kind = _ffmpeg(path)[1] or f"image|{other}"
        return "Pillow", name, kind, name in ACCEPTED_PILLOW
    name, kind = _mediainfo(path)
    if name and kind:
        if name == "MPEG-4" and kind == "audio":
            return "pymediainfo", name, kind, False  # M4A: MP4's container, rejected for audio
        return "pymediainfo", name, kind, name in ACCEPTED_MEDIAINFO[kind]
    name, kind = _ffmpeg(path)
    if name and kind:
        return "ffmpeg", name, kind, name in ACCEPTED_FFMPEG.get(kind, set())
    return None


@pytest.fixture(scope="module")
def rejected() -> list[tuple[Path, str, str, str]]:
    """Every corpus file in a rejected format: (path, corpus, reference name, reference kind)."""
    out = []
    for name in ("pillow", "mutagen"):
        for path in sorted(p for p in corpus(name).rglob("*") if p.is_file()):
            ref = reference(path)
            if ref is not None and not ref[3]:
                out.append((path, name, f"{ref[0]}:{ref[1]}", ref[2]))
    return out


def _judge(rejected, facts_of) -> tuple[list[str], Counter]:
    wrong: list[str] = []
    table: Counter = Counter()
    for path, name, ref, kind in rejected:
        f = facts_of(path)
        where = f"{name}/{path.name} ({ref}, {kind})"
        # A file with a problem is an error in `check` whatever its format: only a readable one must be
        # rejected by its format, and be the kind of media it is.
        if f.problem and "internal error" in f.problem:
            wrong.append(f"{where}: {f.problem}")
        elif f.problem is None and any(f.format in ACCEPTED.get(k, ()) for k in (*kind.split("|"), f.kind)):
            wrong.append(f"{where}: read as {f.kind}/{f.format}, an accepted format")
        elif f.kind is None and not (f.problem or f.unjudged):
            wrong.append(f"{where}: no kind, no problem and no reason")
        elif f.problem is None and f.kind is not None and f.kind not in kind.split("|"):
            wrong.append(f"{where}: read as {f.kind}/{f.format}")
        table[(kind, "unreadable" if f.problem else "kind and format" if f.kind else "not recognised")] += 1
    return wrong, table


def test_rejected_formats_are_never_read_as_accepted_ones(rejected):
    assert len(rejected) > 300  # both corpora hold hundreds (Pillow's PPM, DDS, TGA...; mutagen's Ogg, FLAC...)
    wrong, table = _judge(rejected, inspect_path)
    print("\nwith pymediainfo:", dict(table), file=sys.stderr)
    assert not wrong, "\n".join(wrong)
    assert table[("image", "kind and format")] > 200 and table[("audio", "kind and format")] > 30


def test_rejected_formats_without_pymediainfo(rejected, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymediainfo", None)
    monkeypatch.setattr(worker, "_worker", None)
    monkeypatch.setattr(worker, "_unavailable", None)
    wrong, table = _judge(rejected, inspect_path)
    print("\nsniff alone:", dict(table), file=sys.stderr)
    assert not wrong, "\n".join(wrong)
    assert table[("image", "kind and format")] > 150 and table[("audio", "kind and format")] > 30


_HEADER_SIZED = {"ppm": {"PPM", "PFM"}, "sgi": {"SGI"}, "qoi": {"QOI"}, "pcx": {"PCX"}}


def test_header_sizes_of_rejected_images_agree_with_pillow(rejected):
    """PPM/PBM/PGM/PAM/PFM, SGI, QOI and PCX sizes are read from their headers (fix plans their
    conversion from them): wherever Pillow opens the file, the size is Pillow's, with and without
    pymediainfo (the header read comes first)."""
    from PIL import Image

    compared: Counter = Counter()
    wrong = []
    for path, _name, ref, _kind in rejected:
        pillow_name = ref.split(":", 1)[1] if ref.startswith("Pillow:") else None
        fmt = next((f for f, names in _HEADER_SIZED.items() if pillow_name in names), None)
        if fmt is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                expected = im.size
        facts = inspect_path(path)
        if facts.format is None:  # a fuzzed header the sniff does not recognise (the test above covers it)
            continue
        compared[fmt] += 1
        if (facts.format, (facts.width, facts.height)) != (fmt, expected):
            wrong.append(f"{path.name}: {facts.format} {facts.width}×{facts.height}, Pillow {expected}")
    print("\nheader sizes compared:", dict(compared), file=sys.stderr)
    assert not wrong, "\n".join(wrong)
    assert compared["ppm"] >= 10 and compared["sgi"] >= 5 and compared["qoi"] >= 2 and compared["pcx"] >= 5
