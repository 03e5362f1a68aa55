"""prep.inspect on MP3: durations as ffmpeg's decoder plays them (issue 8).

ffmpeg is the oracle: it drops LAME's encoder delay (+ 529 decoder samples) and end padding when the
Xing/Info frame carries a LAME tag, decodes every frame otherwise, and ignores tags at either end.
Each file is made at test time with libmp3lame and decoded to count its samples.
"""

from __future__ import annotations

import functools
import random
import struct
import subprocess
from pathlib import Path

import pytest
from media import (  # tests/ is on sys.path (as for every test)
    Media,
    ffmpeg_exe,
    run_ffmpeg,
)

from prep import inspect as insp
from prep.inspect import inspect_path, mp3

MPEG1, MPEG2, MPEG25 = (44100, 48000), (22050, 24000, 16000), (11025, 12000, 8000)


def frame_s(rate: int) -> float:
    """One layer III frame: 1152 samples in MPEG-1, 576 in MPEG-2 and 2.5."""
    return (1152 if rate >= 32000 else 576) / rate


def oracle_s(path: Path, rate: int) -> float:
    """Seconds of audio ffmpeg decodes from ``path`` (its samples over the stream's rate)."""
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                           "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-c:a", "pcm_s16le", "-f", "s16le",
                           "-"], capture_output=True, check=True)
    return len(done.stdout) / 2 / rate


def ape_tag(payload: int = 40) -> bytes:
    """An APEv2 tag (header, one text item, footer) as taggers append it."""
    value = b"x" * payload
    items = struct.pack("<II", len(value), 0) + b"Comment\x00" + value
    size = len(items) + 32
    header = b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, 0xA0000000) + bytes(8)
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, 0x80000000) + bytes(8)
    return header + items + footer


def id3v2_tag(body_size: int) -> bytes:
    """An ID3v2.3 tag with one comment-like frame of ``body_size`` bytes."""
    frame = b"TXXX" + struct.pack(">I", body_size) + b"\x00\x00" + b"\x00" + b"p" * (body_size - 1)
    n = len(frame)
    syncsafe = bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frame


class Maker(Media):
    """The shared media maker (``Media.write`` for hand-built files), plus this module's files."""

    @functools.cache  # noqa: B019  (one maker per session)
    def mp3(self, *, rate: int = 44100, channels: int = 2, seconds: float = 3.0, vbr: bool = False,
            xing: bool = True, id3v2: bool = False, id3v1: bool = False, ape: int = 0) -> Path:
        flags = f"{'v' if vbr else 'c'}{int(xing)}{int(id3v2)}{int(id3v1)}"
        name = f"r{rate}c{channels}s{seconds}{flags}a{ape}.mp3"
        path = self.root / name
        args = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}",
                "-ac", str(channels), "-c:a", "libmp3lame", *(["-q:a", "4"] if vbr else ["-b:a", "128k"])]
        if not xing:
            args += ["-write_xing", "0"]
        if id3v2:
            args += ["-id3v2_version", "3", "-metadata", "title=a tone", "-metadata", "comment=" + "c" * 2000]
        else:
            args += ["-id3v2_version", "0"]
        if id3v1:
            args += ["-write_id3v1", "1", "-metadata", "title=a tone"]
        run_ffmpeg(*args, "-f", "mp3", str(path))
        if ape:
            data = path.read_bytes()
            tail = data[-128:] if id3v1 else b""
            path.write_bytes(data[: len(data) - len(tail)] + ape_tag(ape) + tail)
        return path


@pytest.fixture(scope="module")
def make(tmp_path_factory) -> Maker:
    return Maker(tmp_path_factory.mktemp("mp3"))


def clean(path: Path):
    f = inspect_path(path)
    assert f.problem is None, f.problem
    assert (f.kind, f.format, f.codec) == ("audio", "mp3", "mp3")
    return f


# -- every MPEG version, rate, channel count and bit-rate mode, with and without a Xing frame --------


@pytest.mark.parametrize("xing", [True, False], ids=["xing", "no-xing"])
@pytest.mark.parametrize("vbr", [False, True], ids=["cbr", "vbr"])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("rate", MPEG1 + MPEG2 + MPEG25)
def test_duration_agrees_with_ffmpeg(make, rate, channels, vbr, xing):
    path = make.mp3(rate=rate, channels=channels, vbr=vbr, xing=xing)
    f = clean(path)
    assert (f.sample_rate, f.channels) == (rate, channels)
    oracle = oracle_s(path, rate)
    assert abs(f.duration_s - oracle) <= frame_s(rate)
    if xing:  # the LAME tag gives exact numbers: ffmpeg's to the sample
        assert abs(f.duration_s - oracle) <= 0.002


@pytest.mark.parametrize("vbr", [False, True], ids=["cbr", "vbr"])
def test_a_15_s_mp3_with_a_lame_tag_reads_15_s(make, vbr):
    path = make.mp3(seconds=15.0, vbr=vbr)
    assert abs(clean(path).duration_s - 15.0) <= 0.002
    assert abs(oracle_s(path, 44100) - 15.0) <= 0.002


def test_vbr_without_a_xing_frame_is_not_timed_by_its_first_frame(make):
    # The first frame's bit rate gave 1.58 s for 9 s of audio: the frames must be counted.
    path = make.mp3(seconds=9.0, vbr=True, xing=False)
    assert abs(clean(path).duration_s - oracle_s(path, 44100)) <= frame_s(44100)


@pytest.mark.parametrize("rate", MPEG2 + MPEG25)
def test_mpeg2_and_25_frames_hold_576_samples(make, rate):
    path = make.mp3(rate=rate, seconds=9.0, xing=False)
    f = clean(path)
    assert abs(f.duration_s - oracle_s(path, rate)) <= frame_s(rate)
    assert f.duration_s == pytest.approx(9.0, rel=0.02)


def test_a_xing_frame_without_a_lame_tag_has_no_gapless_trim(make):
    # ffmpeg trusts the delay/padding only from LAME, Lavf and Lavc tags; others play every frame.
    data = bytearray(make.mp3(seconds=5.0).read_bytes())
    tag = data.find(b"Lavc", 0, 400) if data.find(b"LAME", 0, 400) < 0 else data.find(b"LAME", 0, 400)
    assert tag > 0
    data[tag : tag + 4] = b"Xenc"
    path = make.write("xing-no-lame.mp3", bytes(data))
    assert abs(clean(path).duration_s - oracle_s(path, 44100)) <= 0.002


def test_a_vbri_frame_gives_the_frame_count(make):
    # Fraunhofer's VBRI header (ffmpeg cannot write one): 32 bytes after the first frame's header.
    data = bytearray(make.mp3(seconds=5.0, xing=False).read_bytes())
    frames, i = 0, 0
    while (frame := mp3._mp3_frame(data, i)) is not None:
        frames, i = frames + 1, i + frame[0]
    first = mp3._mp3_frame(data, 0)[0]
    data[4:first] = bytes(first - 4)
    data[36:40] = b"VBRI"
    struct.pack_into(">HHHII", data, 40, 1, 0, 75, len(data), frames - 1)
    path = make.write("vbri.mp3", bytes(data))
    f = clean(path)
    assert f.duration_s == (frames - 1) * 1152 / 44100
    assert abs(f.duration_s - oracle_s(path, 44100)) <= 0.002


# -- tags at either end are not audio ------------------------------------------------------------


TAGS = [dict(id3v2=True), dict(id3v1=True), dict(ape=40), dict(ape=20000), dict(id3v1=True, ape=20000),
        dict(id3v2=True, id3v1=True, ape=20000)]


@pytest.mark.parametrize("xing", [True, False], ids=["xing", "no-xing"])
@pytest.mark.parametrize("tags", TAGS, ids=lambda t: "+".join(f"{k}{v}" for k, v in t.items()))
def test_tags_are_not_counted_as_audio(make, tags, xing):
    path = make.mp3(seconds=15.0, xing=xing, **tags)
    oracle = oracle_s(path, 44100)
    assert abs(clean(path).duration_s - oracle) <= (0.002 if xing else frame_s(44100))


def test_an_id3v2_tag_larger_than_the_first_read(make):
    plain = make.mp3(seconds=5.0).read_bytes()
    path = make.write("big-id3.mp3", id3v2_tag(200_000) + plain)
    assert abs(clean(path).duration_s - oracle_s(path, 44100)) <= 0.002


# -- cut short, or junk inside -------------------------------------------------------------------


CUT = [dict(), dict(vbr=True), dict(rate=22050, channels=1), dict(rate=8000, vbr=True)]


@pytest.mark.parametrize("keep", [0.3, 0.5, 0.77, 0.999])
@pytest.mark.parametrize("spec", CUT, ids=["cbr", "vbr", "mpeg2", "mpeg25"])
def test_a_cut_mp3_is_as_long_as_the_frames_it_holds(make, spec, keep):
    # The Xing frame claims more frames than the file holds: the frames present still play.
    data = make.mp3(seconds=9.0, **spec).read_bytes()
    path = make.write(f"cut{keep}-{'-'.join(map(str, spec.values()))}.mp3", data[: int(len(data) * keep)])
    rate = spec.get("rate", 44100)
    f = clean(path)
    assert abs(f.duration_s - oracle_s(path, rate)) <= frame_s(rate)
    assert f.duration_s < 9.0 * keep + 0.2


def test_junk_between_frames_is_skipped(make):
    data = make.mp3(seconds=9.0, vbr=True, xing=False).read_bytes()
    junk = bytes(random.Random(8).randrange(256) for _ in range(3000)).replace(b"\xff", b"\x00")
    path = make.write("junk-inside.mp3", data[:40_000] + junk + data[40_000:])
    assert abs(clean(path).duration_s - oracle_s(path, 44100)) <= 2 * frame_s(44100)


def test_the_frame_walk_is_bounded_and_extrapolates(make, monkeypatch):
    path = make.mp3(seconds=120.0, vbr=True, xing=False)
    data = path.read_bytes()
    monkeypatch.setattr(mp3, "_MP3_WALK_BYTES", 100_000)
    asked: list[int] = []

    def read(offset: int, n: int) -> bytes:
        asked.append(n)
        return data[offset : offset + n]

    f = insp.inspect_reader(read, len(data), "long.mp3")
    assert f.problem is None and sum(asked) < len(data) // 2
    assert f.duration_s == pytest.approx(oracle_s(path, 44100), rel=0.1)


# -- not MP3 behind an ID3 tag -------------------------------------------------------------------


def test_ac3_behind_an_id3_tag_is_not_mp3(make):
    raw = make.root / "tone.ac3"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=5", "-ac", "2",
               "-c:a", "ac3", "-f", "ac3", str(raw))
    path = make.write("ac3-behind-id3.mp3", id3v2_tag(300) + raw.read_bytes())
    f = inspect_path(path)
    assert (f.kind, f.format, f.codec, f.problem) == ("audio", "ac3", "ac3", None)
    assert (f.sample_rate, f.channels) == (48000, 2)
    assert abs(f.duration_s - oracle_s(path, 48000)) <= 1536 / 48000


def test_unknown_audio_behind_an_id3_tag_is_not_mp3(make):
    path = make.write("junk-behind-id3.mp3", id3v2_tag(300) + bytes(range(255)) * 40)
    f = inspect_path(path)
    assert (f.kind, f.format) == ("audio", None) and f.problem and "ID3" in f.problem


@pytest.mark.parametrize("junk", [b"\xff", b"\xff\xfb\x00\x00", b"\xff\xfb\x90\x00"],
                         ids=["ff", "near", "headers"])
def test_header_like_junk_costs_a_bounded_time(make, junk):
    import time

    head = make.mp3(seconds=1.0, xing=False).read_bytes()[:4000]
    data = head + junk * ((4 << 20) // len(junk))
    began = time.perf_counter()
    f = insp.inspect_bytes(data, "junk.mp3")
    assert time.perf_counter() - began < 1.0
    assert f.format == "mp3" and f.problem is None and f.duration_s < 0.5
