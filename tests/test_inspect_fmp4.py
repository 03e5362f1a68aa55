"""prep.inspect on fragmented MP4 (``moov`` plus ``moof`` fragments): durations that count the fragments.

ffmpeg is the oracle: the frames it decodes, and the duration ``ffmpeg -i`` prints (centiseconds).
Files are made at test time with ffmpeg's fragmenting options.
"""

from __future__ import annotations

import functools
import re
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
from prep.inspect import _base as base
from prep.inspect import inspect_bytes, inspect_path, isobmff

SIZE = (64, 48)


def decoded_frames(path: Path) -> int:
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
                           "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray",
                           "-"], capture_output=True, check=True)
    return len(done.stdout) // (SIZE[0] * SIZE[1])


def ffmpeg_duration_s(path: Path) -> float:
    """The container duration ``ffmpeg -i`` prints (to the centisecond)."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                         text=True, check=False).stderr  # exits 1: no output file was named
    h, m, sec = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", out).groups()
    return int(h) * 3600 + int(m) * 60 + float(sec)


class Maker(Media):
    """The shared media maker (``Media.write`` for hand-built files), plus this module's files."""

    @functools.cache  # noqa: B019  (one maker per module)
    def mp4(self, movflags: str, *, seconds: float = 3.0, audio: bool = False, extra: tuple[str, ...] = (),
            size: str = "64x48") -> Path:
        path = self.root / f"{movflags.replace('+', '_')}-{seconds}-{int(audio)}-{'_'.join(extra)}-{size}.mp4"
        args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=10:d={seconds}"]
        if audio:
            tone = f"sine=frequency=440:sample_rate=8000:duration={seconds}"
            args += ["-f", "lavfi", "-i", tone, "-c:a", "aac"]
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "10", *extra, "-movflags", movflags]
        run_ffmpeg(*args, "-f", "mp4", str(path))
        return path


@pytest.fixture(scope="module")
def make(tmp_path_factory) -> Maker:
    return Maker(tmp_path_factory.mktemp("fmp4"))


FRAGMENTED = [
    ("frag_keyframe+empty_moov", ()),  # an empty moov, every sample in fragments
    ("frag_keyframe", ()),  # the first fragment's samples in the moov, the rest in moofs
    ("frag_keyframe+empty_moov+default_base_moof", ()),
    ("empty_moov+separate_moof", ("-frag_duration", "500000")),
    ("frag_keyframe+empty_moov", ("-frag_duration", "500000")),
]


@pytest.mark.parametrize("audio", [False, True], ids=["video", "video+audio"])
@pytest.mark.parametrize("movflags, extra", FRAGMENTED,
                         ids=lambda v: "_".join(v) if isinstance(v, tuple) else v)
def test_fragments_count_toward_duration_and_frames(make, movflags, extra, audio):
    path = make.mp4(movflags, audio=audio, extra=extra)
    f = inspect_path(path)
    assert f.problem is None, f.problem
    assert (f.kind, f.format, f.codec, f.width, f.height, f.has_video, f.has_audio) == (
        "video", "mp4", "h264", *SIZE, True, audio)
    assert f.frames == decoded_frames(path) == 30
    assert abs(f.duration_s - ffmpeg_duration_s(path)) <= 0.01
    if not audio:  # alone, the video track is the whole movie: exactly frames / rate
        assert (f.duration_s, f.fps, f.variable_fps) == (3.0, 10.0, False)


def test_a_3_s_clip_with_samples_in_moov_and_moofs_reads_3_s(make):
    f = inspect_path(make.mp4("frag_keyframe"))  # read 1.0 s: only the samples the moov lists
    assert (f.duration_s, f.frames, f.fps) == (3.0, 30, 10.0)


def with_mehd(data: bytes, seconds: float) -> bytes:
    """``data`` (made with default_base_moof) with an ``mvex/mehd`` box claiming ``seconds``."""
    data = bytearray(data)
    moov, mvex = data.find(b"moov") - 4, data.find(b"mvex") - 4
    timescale = struct.unpack_from(">I", data, data.find(b"mvhd") + 16)[0]
    mehd = struct.pack(">I4sII", 16, b"mehd", 0, round(seconds * timescale))
    # data offsets are moof-relative with default_base_moof, so growing the moov moves nothing
    data[mvex + 8 : mvex + 8] = mehd
    for at in (moov, mvex):
        struct.pack_into(">I", data, at, struct.unpack_from(">I", data, at)[0] + len(mehd))
    return bytes(data)


@pytest.mark.parametrize("claim", [2.0, 3.0, 5.0])
def test_the_samples_not_mehd_give_the_duration_as_in_ffmpeg(make, claim):
    # ffmpeg ignores mehd: a fragment-duration claim that the samples contradict is not the duration.
    plain = make.mp4("frag_keyframe+empty_moov+default_base_moof").read_bytes()
    path = make.write(f"mehd{claim}.mp4", with_mehd(plain, claim))
    f = inspect_path(path)
    assert (f.problem, f.duration_s, f.frames) == (None, 3.0, 30)
    assert abs(f.duration_s - ffmpeg_duration_s(path)) <= 0.01


def test_an_init_segment_has_no_samples(make):
    data = make.mp4("frag_keyframe+empty_moov", audio=True).read_bytes()
    init = data[: data.find(b"moof") - 4]
    f = inspect_bytes(init, "init.mp4")
    assert f.problem == "no samples: an init segment without media"
    assert (f.kind, f.format, f.has_video) == ("video", "mp4", True)


def test_fragment_headers_are_read_but_not_the_media(make):
    data = make.mp4("frag_keyframe+empty_moov", seconds=10.0, size="320x240").read_bytes()
    asked: list[int] = []

    def read(offset: int, n: int) -> bytes:
        asked.append(n)
        return data[offset : offset + n]

    f = insp.inspect_reader(read, len(data), "lazy.mp4")
    assert f.problem is None and f.frames == 100 and f.duration_s == 10.0
    assert sum(asked) < len(data) // 4 and max(asked) <= base._HEAD


def test_a_moof_too_large_to_read_is_a_problem(make, monkeypatch):
    monkeypatch.setattr(isobmff, "_MOOF_MAX", 64)
    f = inspect_path(make.mp4("frag_keyframe+empty_moov"))
    assert f.problem and "'moof' box" in f.problem


def test_a_cut_fragmented_file_is_truncated(make):
    data = make.mp4("frag_keyframe+empty_moov").read_bytes()
    f = inspect_bytes(data[: int(len(data) * 0.6)], "cut.mp4")
    assert f.problem and "truncated" in f.problem


def test_unfragmented_files_never_read_fragments(make, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the fragment reader ran on a file without fragments")

    monkeypatch.setattr(isobmff, "_add_fragments", boom)
    path = make.mp4("+faststart")
    f = inspect_path(path)
    assert (f.problem, f.duration_s, f.frames) == (None, 3.0, 30)


def test_fragmented_files_do_not_need_pymediainfo(make, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pymediainfo", None)  # import pymediainfo now fails
    f = inspect_path(make.mp4("frag_keyframe+empty_moov", audio=True))
    assert f.problem is None and f.frames == 30
