"""The formats the API rejects are judged by sniffing; libmediainfo (pymediainfo) fills in the rest in
a worker process bounded in time and memory; a missing library is a finding on the file (issue 8).

Hostile behaviour of the worker (a hang, an allocation past its cap, a crash) is in tests/test_hostile.py.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from media import run_ffmpeg

from prep import inspect as insp
from prep.inspect import _base as base
from prep.inspect import inspect_bytes, inspect_path, inspect_reader, sniff, worker

try:
    from tests.media import has_encoder, heif_bytes, media, wav_bytes
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from media import has_encoder, heif_bytes, media, wav_bytes

__all__ = ["media"]

ROOT = Path(__file__).resolve().parents[1]
ACCEPTED = ("jpeg", "png", "webp", "bmp", "tiff", "gif", "mp4", "mov", "m4a", "wav", "mp3")
REJECTED = ("avi", "flac", "ogg", "mkv", "webm", "ppm", "ico", "heic", "avif", "aiff", "aac")


@pytest.fixture
def fresh_worker():
    """No worker before the test and none left after it (each test sees its own start)."""
    worker._drop()
    worker._unavailable = None
    yield
    worker._drop()
    worker._unavailable = None


@pytest.fixture
def without_pymediainfo(monkeypatch, fresh_worker):
    monkeypatch.setitem(sys.modules, "pymediainfo", None)  # importing or finding it now fails


def rejected_files(media) -> dict[str, tuple[Path, str, str]]:
    """name → (file, kind, format) for one file of each rejected format this machine can make."""
    from PIL import Image

    files = {
        "mkv": (media.video(container="mkv", audio=True), "video", "mkv"),
        "webm": (media.video(container="webm", codec="libvpx-vp9"), "video", "webm"),
        "avi": (media.video(container="avi", codec="mpeg4"), "video", "avi"),
        "mkv-audio-only": (media.audio_only_container("mkv"), "audio", "mkv"),
        "flac": (media.audio(container="flac", seconds=2.0), "audio", "flac"),
        "ogg": (media.audio(container="ogg"), "audio", "ogg"),
        "aiff": (media.audio(container="aiff", codec="pcm_s16be"), "audio", "aiff"),
        "aac": (media.audio(container="adts", codec="aac"), "audio", "aac"),
        "ppm": (media.image(fmt="ppm"), "image", "ppm"),
        "ico": (media.image(fmt="ico", size=(32, 32)), "image", "ico"),
        "heic": (media.write("x.heic", heif_bytes(640, 480)), "image", "heic"),
    }
    if has_encoder("libopus"):
        files["webm-audio-only"] = (media.audio_only_container("webm"), "audio", "webm")
    try:
        avif = media.root / "x.avif"
        Image.new("RGB", (40, 30)).save(avif)
        files["avif"] = (avif, "image", "avif")
    except (KeyError, OSError):
        pass
    return files


# -- the dispatch ----------------------------------------------------------------------------------


HEADER_SIZED = {"ppm", "sgi", "qoi", "pcx"}


def test_only_accepted_formats_have_a_hand_written_parser():
    assert set(ACCEPTED) <= set(insp._PARSERS)
    assert not set(REJECTED) & set(insp._PARSERS)


def test_rejected_formats_get_their_kind_and_format_from_the_sniff_alone(media, without_pymediainfo):
    for name, (path, kind, fmt) in rejected_files(media).items():
        f = inspect_path(path)
        assert (f.kind, f.format, f.problem) == (kind, fmt, None), name
        if fmt in HEADER_SIZED:  # the size is in a few header fields, read by prep/inspect/headers.py
            assert f.unjudged is None and f.width and f.height, name
        else:
            assert f.unjudged == "pymediainfo is not installed: pip install pymediainfo", name
        assert f.bytes == path.stat().st_size
        assert (f.has_video, f.has_audio) == (kind == "video", kind == "audio"), name  # never "no video track"
        assert worker._worker is None


def test_rejected_formats_get_the_rest_from_mediainfo(media, fresh_worker):
    for name, (path, kind, fmt) in rejected_files(media).items():
        f = inspect_path(path)
        assert (f.kind, f.format, f.problem, f.unjudged) == (kind, fmt, None, None), name
    mkv = inspect_path(media.video(container="mkv", audio=True, size="80x48", seconds=2.0))
    assert (mkv.codec, mkv.audio_codec, mkv.width, mkv.height, mkv.fps, mkv.has_audio) == ("h264", "aac", 80, 48,
                                                                                          10.0, True)
    assert 2.0 <= mkv.duration_s <= 2.25
    flac = inspect_path(media.audio(container="flac", seconds=2.0))
    assert (flac.codec, flac.sample_rate, flac.channels, flac.duration_s) == ("flac", 8000, 1, 2.0)
    heic = inspect_path(media.write("y.heic", heif_bytes(4032, 3024)))
    assert (heic.width, heic.height) == (4032, 3024)


@pytest.mark.parametrize("encoder, codec", [("mp2", "mp2"), ("libmp3lame", "mp3")])
def test_mpeg_audio_layers_are_named_as_ffmpeg_names_them(media, fresh_worker, encoder, codec):
    # MediaInfo says "MPEG Audio" for every layer; its format profile tells layer II (mp2) from III.
    path = media.root / f"layer-{codec}.mkv"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1", "-c:a", encoder, str(path))
    f = inspect_path(path)
    assert (f.kind, f.format, f.codec, f.audio_codec) == ("audio", "mkv", codec, codec)


def test_a_non_mp3_payload_behind_an_id3_tag_is_judged_by_its_own_format(media, without_pymediainfo):
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x20" + b"\x00" * 32
    f = inspect_bytes(tag + media.audio(container="flac").read_bytes(), "tagged.flac")
    assert (f.kind, f.format, f.problem) == ("audio", "flac", None) and f.unjudged


# -- the sniff: Matroska track types ---------------------------------------------------------------


def _ebml(eid: int, body: bytes) -> bytes:
    n = (eid.bit_length() + 7) // 8
    return eid.to_bytes(n, "big") + (len(body) | 1 << 56).to_bytes(8, "big") + body


def _matroska(*tracks: int, doctype: bytes = b"matroska", before_tracks: bytes = b"") -> bytes:
    header = _ebml(0x1A45DFA3, _ebml(0x4282, doctype))
    entries = b"".join(_ebml(0xAE, _ebml(0xD7, b"\x01") + _ebml(0x83, bytes([t]))) for t in tracks)
    return header + _ebml(0x18538067, before_tracks + _ebml(0x1654AE6B, entries) + _ebml(0x1F43B675, b"\x00" * 8))


@pytest.mark.parametrize("tracks, kind", [((1,), "video"), ((2,), "audio"), ((2, 2), "audio"), ((2, 1), "video"),
                                          ((2, 0x11), "audio"), ((3,), "video"), ((0x11,), "video"), ((), "video")])
def test_matroska_kind_comes_from_its_track_types(tracks, kind):
    assert sniff(_matroska(*tracks)) == (kind, "mkv")
    assert sniff(_matroska(*tracks, doctype=b"webm")) == (kind, "webm")


def test_matroska_tracks_past_the_first_64_kib_are_not_looked_for():
    void = _ebml(0xEC, b"\x00" * 70_000)
    assert sniff(_matroska(2, before_tracks=_ebml(0x114D9B74, b"") + void)) == ("video", "mkv")
    assert sniff(_matroska(2, before_tracks=_ebml(0xEC, b"\x00" * 1000))) == ("audio", "mkv")


def test_real_audio_only_matroska_is_audio(media):
    data = media.audio_only_container("mkv").read_bytes()
    assert sniff(data[: base._HEAD]) == ("audio", "mkv")
    assert sniff(media.video(container="mkv", audio=True).read_bytes()[: base._HEAD]) == ("video", "mkv")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 3))
def test_hostile_matroska_headers_never_raise(body, cut):
    kind, fmt = sniff(b"\x1aE\xdf\xa3" + body[: max(0, len(body) - cut)])
    assert kind in ("video", "audio") and fmt in ("mkv", "webm")


def test_sizes_claimed_by_matroska_elements_are_never_read():
    huge = b"\x1aE\xdf\xa3\x01\xff\xff\xff\xff\xff\xff\xfe" + b"\x42\x82\x84webm"  # an EBML header of 2^56 bytes
    assert sniff(huge) == ("video", "webm")  # its doc type is read from the bytes there are


def test_many_id3_tags_in_a_row_are_sniffed_without_recursion():
    tags = b"ID3\x04\x00\x00\x00\x00\x00\x00" * 410
    assert sniff(tags + b"fLaC\x00\x00\x00\x22") == ("audio", "mp3")  # past the sniff window: assumed MP3
    assert sniff(tags[:200] + b"fLaC\x00\x00\x00\x22") == ("audio", "flac")


# -- bounded reads ---------------------------------------------------------------------------------


def test_no_read_is_larger_than_the_cap():
    asked: list[int] = []

    def read(offset: int, n: int) -> bytes:
        asked.append(n)
        return bytes(min(n, 16))

    src = base._Source(read, 3 << 30, "sparse")
    with pytest.raises(base._Corrupt, match="claims"):
        src.at(100, 2 << 30)
    assert max(asked) <= base._HEAD
    assert src.at((3 << 30) - 10, 2 << 30) == bytes(10)  # a claim past the end reads only what is there


def test_a_run_of_id3_tags_is_a_problem_not_a_loop(media):
    f = inspect_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" * 1000 + b"\xff\xfb\x90\x64" * 100, "tags.mp3")
    assert f.problem and "ID3 tags in a row" in f.problem


# -- non-finite facts ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -1.0])
def test_a_non_finite_or_negative_duration_is_a_problem(monkeypatch, value):
    monkeypatch.setitem(insp._PARSERS, "wav", lambda src, kind, fmt: base._facts(src, kind, fmt, duration_s=value,
                                                                                    fps=value))
    f = inspect_bytes(wav_bytes(b"\x00\x00" * 100))
    assert f.duration_s is None and f.problem and "duration" in f.problem
    json.dumps(f._asdict(), allow_nan=False)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_matroska_with_a_broken_duration_gives_strict_json(media, fresh_worker, value, tmp_path):
    data = media.video(container="mkv").read_bytes()
    at = data.find(b"\x44\x89\x88")  # Info/Duration, an 8-byte float
    assert at > 0
    path = tmp_path / "broken.mkv"
    path.write_bytes(data[: at + 3] + struct.pack(">d", value) + data[at + 11 :])
    f = inspect_path(path)
    assert f.duration_s is None or 0 <= f.duration_s < math.inf
    json.dumps(f._asdict(), allow_nan=False)


# -- the worker ------------------------------------------------------------------------------------


def test_one_worker_serves_every_file_of_a_run(media, fresh_worker):
    assert inspect_path(media.video(container="mkv")).problem is None
    running = worker._worker
    assert running is not None
    for path in (media.audio(container="flac"), media.audio(container="ogg"), media.video()):
        assert inspect_path(path).problem is None
    assert worker._worker is running and running.proc.poll() is None


def test_a_worker_killed_between_files_is_replaced(media, fresh_worker):
    inspect_path(media.video(container="mkv"))
    first = worker._worker
    first.proc.kill()
    first.proc.wait()
    f = inspect_path(media.audio(container="flac"))
    assert (f.format, f.duration_s, f.unjudged) == ("flac", 1.0, None), f.unjudged
    assert worker._worker is not first


def test_content_without_a_path_is_served_to_the_worker_range_by_range(media, fresh_worker):
    data = media.video(container="mkv", audio=True, seconds=2.0).read_bytes()
    asked: list[tuple[int, int]] = []

    def read(offset: int, n: int) -> bytes:
        asked.append((offset, n))
        return data[offset : offset + n]

    lazy = inspect_reader(read, len(data), "remote.mkv")
    assert lazy == inspect_path(media.video(container="mkv", audio=True, seconds=2.0))._replace(source="remote.mkv")
    assert max(n for _, n in asked) <= worker._SERVE_CHUNK
    assert inspect_bytes(data, "mem.mkv") == lazy._replace(source="mem.mkv")


def test_the_bytes_served_to_the_worker_are_capped(media, fresh_worker, monkeypatch):
    data = media.video(container="mkv", audio=True, seconds=2.0).read_bytes()
    monkeypatch.setattr(worker, "_SERVE_BYTES", 1024)
    served: list[int] = []

    def read(offset: int, n: int) -> bytes:
        served.append(n)
        return data[offset : offset + n]

    f = inspect_reader(read, len(data), "remote.mkv")
    assert (f.kind, f.format) == ("video", "mkv")
    assert sum(served) <= base._HEAD + 1024 + worker._SERVE_CHUNK


def test_an_error_while_serving_a_read_stops_the_worker_and_propagates(media, fresh_worker):
    from prep.model import PrepError

    data = media.video(container="mkv", size="320x240", seconds=2.0, audio=True).read_bytes()
    assert len(data) > base._HEAD

    def read(offset: int, n: int) -> bytes:
        if offset + n > base._HEAD:  # the worker asks for bytes the sniffer did not read
            raise PrepError("the server went away")
        return data[offset : offset + n]

    inspect_path(media.audio(container="flac"))
    running = worker._worker
    with pytest.raises(PrepError, match="went away"):
        inspect_reader(read, len(data), "remote.mkv")
    assert worker._worker is None and running.proc.returncode is not None  # stopped and reaped


@pytest.mark.parametrize("value, expected", [("3", 3.0), ("0", 10.0), ("-1", 10.0), ("nan", 10.0), ("x", 10.0)])
def test_the_timeout_is_settable(monkeypatch, value, expected):
    monkeypatch.setenv("SEEDANCE_PREP_MEDIAINFO_TIMEOUT", value)
    assert worker.timeout_s() == expected


def test_the_memory_limit_is_settable(monkeypatch):
    monkeypatch.setenv("SEEDANCE_PREP_MEDIAINFO_MEMORY_MB", "300")
    assert worker.memory_mib() == 300
    monkeypatch.delenv("SEEDANCE_PREP_MEDIAINFO_MEMORY_MB")
    assert worker.memory_mib() == worker.MEMORY_MIB == 1024


# -- in a fresh process: cost, exit, missing library -------------------------------------------------

_RUN = """
import json, os, sys
{setup}
from prep.inspect import inspect_path, worker
facts = [inspect_path(p)._asdict() for p in sys.argv[1:]]
print(json.dumps({{"facts": facts, "worker": worker._worker.proc.pid if worker._worker else None,
                  "imported": [m for m in ("pymediainfo", "subprocess", "threading") if m in sys.modules]}}))
"""


def _fresh(*paths, setup: str = "", env: dict | None = None) -> dict:
    """Inspect ``paths`` in a new interpreter with no terminal on stdin or stdout; its report."""
    out = subprocess.run([sys.executable, "-c", _RUN.format(setup=setup), *map(str, paths)],
                         stdin=subprocess.DEVNULL, check=False, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_run_of_accepted_formats_never_starts_the_worker(media):
    report = _fresh(media.video(), media.image(fmt="png"), media.audio(container="wav"),
                    media.audio(container="mp3"), media.image(fmt="jpeg"))
    assert all(f["problem"] is None and f["unjudged"] is None for f in report["facts"])
    assert report["worker"] is None and report["imported"] == []


def test_the_worker_is_closed_at_exit(media):
    report = _fresh(media.video(container="mkv"), media.audio(container="flac"))
    assert [f["format"] for f in report["facts"]] == ["mkv", "flac"]
    assert report["worker"] and "pymediainfo" not in report["imported"]  # imported by the worker only
    assert _gone(report["worker"])  # ended and reaped before the interpreter exited: no orphan, no zombie


def test_missing_pymediainfo_in_a_fresh_process(media):
    report = _fresh(media.video(container="mkv"), media.video(), media.write("junk.bin", b"\x01\x02" * 300),
                    setup="sys.modules['pymediainfo'] = None")
    mkv, mp4, junk = report["facts"]
    assert (mkv["kind"], mkv["format"], mkv["problem"]) == ("video", "mkv", None)
    assert mkv["unjudged"] == junk["unjudged"] == "pymediainfo is not installed: pip install pymediainfo"
    assert (mp4["format"], mp4["duration_s"], mp4["unjudged"]) == ("mp4", 1.0, None)
    assert report["worker"] is None


def _fake_pymediainfo(folder: Path, can_parse: bool) -> Path:
    package = folder / "pymediainfo"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "class MediaInfo:\n"
        f"    can_parse = staticmethod(lambda: {can_parse})\n")
    return folder


def test_a_libmediainfo_that_cannot_load_is_a_finding(media, tmp_path):
    fake = _fake_pymediainfo(tmp_path / "fake", can_parse=False)
    report = _fresh(media.video(container="mkv"), media.audio(container="flac"),
                    env={"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"})
    for f in report["facts"]:
        assert f["problem"] is None
        assert f["unjudged"] == "pymediainfo cannot load libmediainfo: install the MediaInfo library (libmediainfo)"
    assert report["worker"] is None


def _cli(*args, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prep", *map(str, args)], stdin=subprocess.DEVNULL, check=False,
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} in the output")

    return json.loads(text, parse_constant=refuse)


def test_check_without_pymediainfo_reports_every_item(media, tmp_path):
    """Issue 8: a file needing the fallback made the whole run exit 2 and dropped the other files."""
    for name, path in (("a.mkv", media.video(container="mkv")), ("b.png", media.image(fmt="png")),
                       ("c.mp4", media.video()), ("d.bin", media.write("d.bin", b"\x01\x02" * 300))):
        (tmp_path / name).write_bytes(path.read_bytes())
    request = tmp_path / "r.json"
    request.write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "a cat"},
        {"type": "video_url", "video_url": {"url": "a.mkv"}, "role": "reference_video"},
        {"type": "image_url", "image_url": {"url": "b.png"}, "role": "reference_image"},
        {"type": "video_url", "video_url": {"url": "c.mp4"}, "role": "reference_video"},
        {"type": "video_url", "video_url": {"url": "d.bin"}, "role": "reference_video"}]}))
    code = "import sys; sys.modules['pymediainfo'] = None; from prep.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run([sys.executable, "-c", code, "check", "--format", "json", str(request)],
                         stdin=subprocess.DEVNULL, check=False, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 1, run.stderr  # findings, not a failed run
    [result] = _strict(run.stdout)["results"]
    by_pointer: dict[str, set] = {}
    for f in result["findings"]:
        by_pointer.setdefault("/".join(f["pointer"].split("/")[:3]), set()).add(f["rule"])
    assert {"/content/1", "/content/4"} <= set(by_pointer), by_pointer
    assert "video.format" in by_pointer["/content/1"]  # mkv: rejected by its sniffed format
    assert "media.unjudged" in by_pointer["/content/1"]
    assert by_pointer["/content/4"]  # not recognised: no reader to say more, still a finding
    run = _cli("inspect", "--format", "json", *(tmp_path / n for n in ("a.mkv", "b.png", "c.mp4")),
               env={"PYTHONPATH": f"{_fake_pymediainfo(tmp_path / 'fake', can_parse=False)}{os.pathsep}{ROOT}"})
    files = _strict(run.stdout)["files"]
    assert [(f["facts"]["format"], f["facts"]["unjudged"] is None) for f in files] == [
        ("mkv", False), ("png", True), ("mp4", True)]


# -- the sniff: rejected formats by their magic ----------------------------------------------------


@pytest.mark.parametrize("head, expected", [
    (b"8BPS\x00\x01", ("image", "psd")), (b"qoif\x00\x00", ("image", "qoi")), (b"DDS |\x00", ("image", "dds")),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00", ("image", "jpeg2000")), (b"\xffO\xffQ\x00", ("image", "jpeg2000")),
    (b"\x01\xda\x01\x01\x00\x03", ("image", "sgi")), (b"\x0a\x05\x01\x08\x00\x00", ("image", "pcx")),
    (b"Pf\n4 4\n-1\n", ("image", "ppm")), (b"P7\nWIDTH 4\n", ("image", "ppm")),
    (b"#define x_width 8\n#define x_height 8\n", ("image", "xbm")), (b"MAC \x96\x0f", ("audio", "ape")),
    (b"wvpk\x00\x00", ("audio", "wv")), (b"FLV\x01\x05\x00", ("video", "flv")), (b"FLV\x01\x04\x00", ("audio", "flv")),
    (b"\x00\x00\x01\xba\x44\x00", ("video", "mpeg")), (b"\x00\x00\x00\x20ftypavis\x00\x00\x00\x00avisavif", ("video", "avif")),
])
def test_rejected_formats_are_named_by_their_magic(head, expected):
    assert sniff(head + bytes(32)) == expected


def test_asf_is_video_only_with_a_video_stream():
    asf = b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c" + bytes(100)
    video = b"\xc0\xef\x19\xbc\x4d\x5b\xcf\x11\xa8\xfd\x00\x80\x5f\x5c\x44\x2b"
    assert sniff(asf) == ("audio", "asf")
    assert sniff(asf + video) == ("video", "asf")


def test_a_sniffed_guess_its_parser_cannot_confirm_yields(media, fresh_worker, monkeypatch):
    """The sniff's MP3 is a guess from four bytes (a layer I/II header looks like any FLIC size field);
    when the MP3 parser finds no audio, libmediainfo's container name wins, and without libmediainfo
    the file has no format at all (never an accepted one it may not be)."""
    def undecided(src, kind, fmt):
        raise base._Undecided

    monkeypatch.setattr(insp, "sniff", lambda head: ("audio", "mp3"))
    monkeypatch.setitem(insp._PARSERS, "mp3", undecided)
    data = media.video(container="mkv").read_bytes()
    f = inspect_bytes(data, "guess")
    assert (f.kind, f.format, f.problem, f.width) == ("video", "mkv", None, 64)
    monkeypatch.setitem(sys.modules, "pymediainfo", None)
    worker._drop()
    f = inspect_bytes(data, "guess")
    assert (f.kind, f.format, f.problem) == (None, None, None) and f.unjudged
