"""prep.inspect on MP4/MOV/M4A: the cases the oracle suite (tests/oracle/test_oracle_video.py) and issue 8
found, each on a file made here: by ffmpeg, or an ffmpeg file with a few header bytes changed.

ffmpeg is the reference (``ffmpeg -i`` for what it sees in the headers, its decode for what plays).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import struct
import subprocess
from pathlib import Path

import pytest
from media import Media, ffmpeg_exe, has_encoder, inspect_with_peak, run_ffmpeg

from prep.inspect import boxes, inspect_bytes, inspect_path, isobmff, sample_entries

# -- helpers: making files and editing their boxes -------------------------------------------------


class Maker(Media):
    @functools.cache  # noqa: B019  (one maker per module)
    def clip(self, *, video: str | None = "libx264", audio: str | None = None, container: str = "mp4",
             seconds: float = 1.0, extra: tuple[str, ...] = ()) -> Path:
        """A tiny clip: ``video`` encoder (or none), ``audio`` an AAC channel layout (or none)."""
        name = "-".join(filter(None, [video, audio, str(seconds), *extra])).replace("/", "_")
        path = self.root / f"{name}.{container}"
        inputs, codecs = [], []
        if video:
            inputs += ["-f", "lavfi", "-i", f"testsrc2=s=64x48:r=25:d={seconds}"]
            codecs += ["-c:v", video, *{
                "libx264": ["-preset", "ultrafast"], "libvvenc": ["-preset", "faster"],
                "libx265": ["-preset", "ultrafast", "-x265-params", "log-level=none", "-tag:v", "hvc1"],
            }.get(video, [])]
        if audio:
            inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
            codecs += ["-af", f"aformat=channel_layouts={audio}", "-c:a", "aac"]
        run_ffmpeg(*inputs, *codecs, *extra, "-f", {"m4a": "ipod"}.get(container, container), str(path))
        return path


@pytest.fixture(scope="module")
def make(tmp_path_factory) -> Maker:
    return Maker(tmp_path_factory.mktemp("isobmff"))


def probe(path: Path) -> str:
    """What ``ffmpeg -i`` says about the file (its streams)."""
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                          text=True, check=False).stderr


def decode_errors(path: Path) -> tuple[int, list[str]]:
    """ffmpeg's decode of every stream: (packets decoded, error lines)."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-stats_period", "100",
                          "-progress", "pipe:1", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, check=False)
    frames = re.findall(r"^frame=(\d+)", run.stdout, re.MULTILINE)
    return int(frames[-1]) if frames else 0, [line for line in run.stderr.splitlines() if line.strip()]


# Payload offsets past each box's header, for the boxes we walk into.
_SKIP = {b"stsd": 8, b"mp4a": 28, b"enca": 28}
_SKIP.update(dict.fromkeys([b"avc1", b"hvc1", b"hev1", b"encv", b"dvh1"], 78))


def find(data: bytes | bytearray, *path: bytes) -> list[int]:
    """Offsets of the boxes along ``path`` (e.g. moov, trak, mdia, mdhd), outermost first."""
    offsets, start, end = [], 0, len(data)
    for name in path:
        i = start
        while i + 8 <= end:
            size, typ = struct.unpack_from(">I4s", data, i)
            if typ == name:
                break
            i += size
        else:
            raise KeyError(name)
        offsets.append(i)
        start, end = i + 8 + _SKIP.get(name, 0), i + size
    return offsets


def insert(data: bytes, box: bytes, *path: bytes) -> bytes:
    """``data`` with ``box`` appended inside the box at ``path`` (every enclosing size grown)."""
    out = bytearray(data)
    chain = find(out, *path)
    last = chain[-1]
    at = last + struct.unpack_from(">I", out, last)[0]
    out[at:at] = box
    for off in chain:
        struct.pack_into(">I", out, off, struct.unpack_from(">I", out, off)[0] + len(box))
    return bytes(out)


def box(typ: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + typ + body


VIDEO_STBL = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def finite(facts) -> bool:
    """The facts serialise as strict JSON (no NaN or Infinity)."""
    json.dumps(facts._asdict(), allow_nan=False)
    return all(math.isfinite(v) for v in facts if isinstance(v, float))


# -- kind: sound only is audio -------------------------------------------------------------------


def test_quicktime_with_only_sound_is_audio(make):
    # The oracle: ffmpeg lists only an audio stream; the file was called video before.
    path = make.clip(video=None, audio="mono", container="mov")
    assert "Video:" not in probe(path)
    f = inspect_path(path)
    assert (f.kind, f.format, f.codec, f.has_video, f.problem) == ("audio", "mov", "aac", False, None)


# -- channel counts from the AudioSpecificConfig --------------------------------------------------


@pytest.mark.parametrize("layout, channels", [("mono", 1), ("stereo", 2), ("5.1", 6), ("quad", 4),
                                              ("6.1", 7)])
@pytest.mark.parametrize("video", [None, "libx264"], ids=["m4a", "mp4"])
def test_aac_channels_come_from_the_stream_config_not_the_sample_entry(make, layout, channels, video):
    # Many encoders write 2 in the sample entry whatever the stream holds (mutagen's no-tags.3g2: mono);
    # decoders, ffmpeg's included, go by the esds AudioSpecificConfig (quad and 6.1 use its program
    # config element). Here the entry is rewritten to claim 2.
    data = bytearray(make.clip(video=video, audio=layout, container="m4a" if video is None else "mp4")
                     .read_bytes())
    entry = data.find(b"mp4a", data.find(b"stsd")) - 4
    struct.pack_into(">H", data, entry + 24, 2)
    path = make.write(f"entry-says-2-{layout}-{video}.mp4", bytes(data))
    ffmpeg_says = re.search(r"Audio: aac.*?Hz, ([^,]+),", probe(path))[1]
    assert ffmpeg_says.split("(")[0] == {"5.1": "5.1", "quad": "quad", "6.1": "6.1"}.get(layout, layout)
    assert inspect_path(path).channels == channels


def test_audio_specific_configs():
    assert sample_entries._aac_config(b"") == (None, None)  # nothing to read: the entry's numbers stand
    assert sample_entries._aac_config(bytes([0x12, 0x10])) == (2, 44100)  # AAC LC, 44.1 kHz, 2 channels
    assert sample_entries._aac_config(bytes([0x11, 0x88])) == (1, 48000)  # AAC LC, 48 kHz, mono
    assert sample_entries._aac_config(bytes([0x10, 0x08])) == (1, 96000)  # AAC LC, 96 kHz, mono
    # HE-AAC (SBR, type 5): 22.05 kHz core, 44.1 kHz out, stereo; HE-AAC v2 (PS, type 29): mono core, stereo out
    assert sample_entries._aac_config(bytes([0x2B, 0x92, 0x08, 0x00])) == (2, 44100)
    assert sample_entries._aac_config(bytes([0xEB, 0x8A, 0x08, 0x00])) == (2, 44100)


def test_a_96_khz_rate_comes_from_the_stream_config(make):
    # the entry's 16.16 rate field tops out at 65535 Hz; ffmpeg reads 96000 from the config
    path = make.clip(video=None, audio="mono", container="m4a", extra=("-ar", "96000"))
    assert "96000 Hz" in probe(path)
    assert inspect_path(path).sample_rate == 96000


# -- media the index points to is not in the file ---------------------------------------------------


@pytest.mark.parametrize("video", [None, "libx264"], ids=["m4a", "mp4"])
def test_an_index_whose_media_is_missing_is_a_problem(make, video):
    # mutagen's nero-chapters.m4b: a 47-hour index over an empty 'mdat'; ffmpeg decodes nothing.
    data = make.clip(video=video, audio="stereo", container="mp4", extra=("-movflags", "+faststart")).read_bytes()
    mdat = data.find(b"mdat") - 4
    path = make.write(f"no-media-{video}.mp4", data[:mdat] + box(b"mdat", b""))
    assert decode_errors(path)[0] == 0
    f = inspect_path(path)
    assert f.problem and "beyond the end of the file" in f.problem


# -- edit lists: a cut by stream copy --------------------------------------------------------------------


@pytest.mark.parametrize("encoder", [("libx264", "-preset", "ultrafast"), ("libx264", "-bf", "3")],
                         ids=["no-reordering", "b-frames"])
def test_frames_of_a_stream_copy_cut_are_the_frames_shown(make, encoder):
    # `ffmpeg -ss 1.3 -i clip.mp4 -c copy` starts at the keyframe before 1.3 s and writes an edit list
    # that hides the frames before it: every sample is in the index, only 50 are shown (read 83).
    whole = make.root / f"whole-{encoder[-1]}.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=4", "-c:v", *encoder, "-g", "100", str(whole))
    cut = make.root / f"cut-{encoder[-1]}.mp4"
    run_ffmpeg("-ss", "1.3", "-i", str(whole), "-c", "copy", str(cut))
    shown = decode_errors(cut)
    assert shown == (67, [])  # 4 s - 1.3 s at 25 fps
    f = inspect_path(cut)
    assert (f.frames, f.fps, f.problem) == (67, 25.0, None)
    assert abs(f.duration_s - 67 / 25) <= 1 / 25


# -- a file a few bytes short ----------------------------------------------------------------------------


def test_pcm_a_few_bytes_short_is_read_with_a_warning(make):
    # PCM samples are a few bytes each, and ffmpeg reads a chunk of them as one packet: cutting 10 bytes
    # cuts one packet (ffmpeg drops it and goes on), not "more than the last sample".
    data = make.clip(audio="stereo", container="mov", extra=("-c:a", "pcm_s16le", "-movflags", "+faststart"))\
        .read_bytes()
    path = make.write("pcm-short.mov", data[:-10])
    run = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, check=False)
    assert run.returncode == 0
    f = inspect_path(path)
    assert (f.problem, f.audio_codec, f.channels, f.duration_s) == (None, "pcm", 2, 1.0)
    assert f.unjudged and "cut short" in f.unjudged
    f = inspect_bytes(data[: len(data) // 2], "pcm-half.mov")  # half the media gone: truncated
    assert f.problem and "truncated" in f.problem


def test_a_huge_uniform_sample_count_is_counted_not_listed(make):
    data = bytearray(make.clip(video=None, audio="stereo", container="mov",
                               extra=("-c:a", "pcm_s16le", "-movflags", "+faststart")).read_bytes())
    stsz = data.find(b"stsz") - 4
    struct.pack_into(">I", data, stsz + 16, 0x7FFFFFFF)  # sample count: two billion 4-byte samples
    f, peak = inspect_with_peak(make.write("pcm-claims.mov", bytes(data[:-10])))
    assert f.problem is None or "truncated" in f.problem
    assert peak < 4 << 20


def test_no_box_index_outlives_its_file_and_no_fragment_is_indexed(make, monkeypatch):
    # The box indexes are a cache over the bytes of one file's 'moov': a fragment ('moof', up to 16 MiB
    # each, thousands per file) must never be indexed, and nothing is kept after the file.
    real = boxes._walk
    seen_sizes: list[int] = []
    monkeypatch.setattr(boxes, "_walk", lambda buf, start, end: seen_sizes.append(len(buf)) or real(buf, start, end))
    path = make.clip(video="libx264", audio="mono", container="mp4", seconds=3.0,
                     extra=("-g", "25", "-movflags", "frag_keyframe"))
    data = path.read_bytes()
    assert data.count(b"moof") >= 2  # the moov holds the first fragment, 'moof' boxes the rest
    moov_size = struct.unpack(">I", data[data.find(b"moov") - 4 : data.find(b"moov")])[0] - 8
    f = inspect_path(path)
    assert f.problem is None and f.duration_s
    assert seen_sizes and set(seen_sizes) == {moov_size}  # only the moov's bytes were indexed
    assert boxes._indexes.buf is None and not boxes._indexes.spans


# -- an init segment -------------------------------------------------------------------------------------


@pytest.mark.parametrize("video, audio", [("libx264", "stereo"), (None, "mono")])
def test_an_init_segment_has_no_media(make, video, audio):
    data = make.clip(video=video, audio=audio, container="mp4",
                     extra=("-movflags", "frag_keyframe+empty_moov")).read_bytes()
    path = make.write(f"init-{video}.mp4", data[: data.find(b"moof") - 4])
    assert decode_errors(path)[0] == 0  # ffmpeg opens it and decodes nothing
    f = inspect_path(path)
    assert f.problem == "no samples: an init segment without media"


# -- encrypted tracks ---------------------------------------------------------------------------------

KEY, KID = "76a6c65c5ea762046bd749a2e632ccbb", "a7e61c373e219033c21091fa607bf3b8"
ENCRYPT = ("-encryption_scheme", "cenc-aes-ctr", "-encryption_key", KEY, "-encryption_kid", KID)


@pytest.mark.parametrize("video, audio", [("libx264", "mono"), (None, "stereo"), ("libx264", None)])
def test_an_encrypted_mp4_is_a_problem(make, video, audio):
    path = make.clip(video=video, audio=audio, container="mp4", extra=ENCRYPT)
    errors = decode_errors(path)[1]
    assert errors  # without the key, ffmpeg decodes noise
    f = inspect_path(path)
    assert f.problem == "encrypted (DRM, 'cenc' scheme): no decoder can read it without the key"
    # the codecs are named from the format before encryption ('frma'), as ffmpeg names them
    assert (f.codec, f.audio_codec) == ("h264" if video else "aac", "aac" if audio else None)


def test_a_protection_box_in_a_plain_entry_is_encrypted_too(make):
    data = make.clip().read_bytes()  # the moov is at the end: growing it moves no media
    sinf = box(b"sinf", box(b"frma", b"avc1") + box(b"schm", b"\0\0\0\0cbcs\0\1\0\0"))
    f = inspect_bytes(insert(data, sinf, *VIDEO_STBL, b"stsd", b"avc1"), "sinf.mp4")
    assert f.problem == "encrypted (DRM, 'cbcs' scheme): no decoder can read it without the key"
    assert f.codec == "h264"


# -- codecs: VVC and Dolby Vision -----------------------------------------------------------------------


@pytest.mark.skipif(not has_encoder("libvvenc"), reason="this ffmpeg has no VVC encoder")
@pytest.mark.parametrize("fourcc", [b"vvc1", b"vvi1"])
def test_vvc(make, fourcc):
    data = make.clip(video="libvvenc").read_bytes()
    at = data.find(b"vvc1", data.find(b"stsd"))
    path = make.write(f"{fourcc.decode()}.mp4", data[:at] + fourcc + data[at + 4 :])
    assert re.search(r"Video: vvc \(" + fourcc.decode(), probe(path))
    f = inspect_path(path)
    assert (f.codec, f.width, f.height, f.frames, f.problem) == ("vvc", 64, 48, 25, None)


@pytest.mark.parametrize("encoder, container, codec", [
    ("mpeg2video", "mp4", "mpeg2video"), ("mpeg1video", "mp4", "mpeg1video"), ("mjpeg", "mp4", "mjpeg"),
    ("mpeg2video", "mov", "mpeg2video"), ("mpeg1video", "mov", "mpeg1video"), ("mpeg4", "mp4", "mpeg4"),
])
def test_video_codecs_are_named_as_ffmpeg_names_them(make, encoder, container, codec):
    # in MP4, ffmpeg writes MPEG-1/2 and MJPEG under an 'mp4v' entry whose esds names the codec (read as
    # mpeg4 before); in QuickTime, MPEG-2 is 'm2v1' and MPEG-1 'm1v ' (read as "m2v1", "m1v")
    path = make.clip(video=encoder, container=container)
    assert re.search(rf"Video: {codec}\b", probe(path))
    assert inspect_path(path).codec == codec


def dovi(profile: int, compatibility: int) -> bytes:
    """A Dolby Vision configuration record (dvcC up to profile 7, dvvC after): version 1.0, level 6,
    RPU and base layer present, no enhancement layer."""
    flags = profile << 9 | 6 << 3 | 0b101
    body = bytes([1, 0]) + struct.pack(">H", flags) + bytes([compatibility << 4]) + bytes(19)
    return box(b"dvcC" if profile <= 7 else b"dvvC", body)


def dolby_vision(make, entry: bytes, profile: int, compatibility: int) -> Path:
    """The HEVC (or, for dvav/dva1, H.264) clip with sample entry ``entry`` and a DV record."""
    plain = make.clip(video="libx264" if entry in (b"dvav", b"dva1") else "libx265").read_bytes()
    base = b"avc1" if entry in (b"dvav", b"dva1") else b"hvc1"
    at = plain.find(base, plain.find(b"stsd"))
    data = insert(plain, dovi(profile, compatibility), *VIDEO_STBL, b"stsd", base)
    data = data[:at] + entry + data[at + 4 :]
    return make.write(f"dv-{entry.decode()}-{profile}-{compatibility}.mp4", data)


@pytest.mark.parametrize("entry, profile, compatibility, codec", [
    (b"dvh1", 5, 0, "dolby_vision"),  # IPT-PQ-c2: no HEVC decoder but Dolby's shows it right
    (b"dvhe", 5, 0, "dolby_vision"),
    (b"dvh1", 8, 1, "hevc"),  # 8.1: an HDR10 base layer any HEVC decoder shows
    (b"hvc1", 8, 1, "hevc"),
    (b"hvc1", 8, 4, "hevc"),  # 8.4: HLG
    (b"dvav", 9, 2, "h264"),  # 9.2: an SDR AVC base layer
    (b"dva1", 9, 2, "h264"),
])
def test_dolby_vision(make, entry, profile, compatibility, codec):
    path = dolby_vision(make, entry, profile, compatibility)
    seen = probe(path)
    # ffmpeg reads the record as written, and names the base layer's codec whatever the profile
    assert re.search(rf"profile: {profile}\b.*compatibility id: {compatibility}\b", seen, re.DOTALL), seen
    assert re.search(r"Video: (hevc|h264) \(", seen)
    assert decode_errors(path) == (25, [])
    f = inspect_path(path)
    # profile 5 decodes without an error into the wrong colours; we name it for the codec rule
    assert (f.codec, f.problem, f.frames) == (codec, None, 25)


# -- bounded reads ------------------------------------------------------------------------------------


def sparse(tmp_path: Path, name: str, head: bytes, size: int) -> Path:
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.write(head)
    os.truncate(path, size)
    return path


@pytest.mark.parametrize("claim", [2 << 30, (64 << 20) + 9, (1 << 32) - 1])
def test_a_moov_claiming_gigabytes_is_not_read(tmp_path, claim):
    ftyp = box(b"ftyp", b"isom\0\0\2\0isomiso2mp41")
    path = sparse(tmp_path, "huge-moov.mp4", ftyp + struct.pack(">I4s", claim, b"moov"),
                  len(ftyp) + claim)
    f, peak = inspect_with_peak(path)
    assert f.problem and "'moov' box" in f.problem and "not read" in f.problem
    assert peak < 4 << 20  # the cap is 64 MiB; nothing near it (nor the claim) was allocated


def test_a_64_bit_moov_size_is_bounded_too(tmp_path):
    ftyp = box(b"ftyp", b"isom\0\0\2\0isomiso2mp41")
    claim = 3 << 30
    path = sparse(tmp_path, "huge-moov64.mp4", ftyp + struct.pack(">I4sQ", 1, b"moov", claim),
                  len(ftyp) + claim)
    f, peak = inspect_with_peak(path)
    assert f.problem and "not read" in f.problem
    assert peak < 4 << 20


def test_a_moov_packed_with_tiny_boxes_is_not_walked(make):
    # a hostile moov of 8-byte boxes (8 million in 64 MiB) would cost seconds per pass over it
    data = make.clip().read_bytes()  # moov at the end
    moov = data.rfind(b"moov") - 4
    mvhd = data[moov + 8 : moov + 8 + struct.unpack_from(">I", data, moov + 8)[0]]
    body = mvhd + box(b"free", b"") * 100_000
    f = inspect_bytes(data[:moov] + box(b"moov", body), "packed.mp4")
    assert f.problem and "boxes in one box" in f.problem


def test_a_moov_under_the_cap_is_read(make, monkeypatch):
    path = make.clip()
    monkeypatch.setattr(isobmff, "_MOOV_MAX", 64)  # the same file with a tiny cap is refused
    assert "not read" in (inspect_path(path).problem or "")
    monkeypatch.undo()
    assert inspect_path(path).problem is None


# -- absurd numbers in the headers ----------------------------------------------------------------------


def patched(data: bytes, path: tuple[bytes, ...], at: int, fmt: str, *values) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, find(out, *path)[-1] + at, *values)
    return bytes(out)


MVHD = (b"moov", b"mvhd")
MDHD = (b"moov", b"trak", b"mdia", b"mdhd")
TKHD = (b"moov", b"trak", b"tkhd")
# version-0 field offsets from the box start: timescale and duration
TIMESCALE, DURATION = 8 + 12, 8 + 16


def test_a_zero_timescale_leaves_duration_and_rate_unknown(make):
    data = make.clip().read_bytes()
    data = patched(patched(data, MVHD, TIMESCALE, ">I", 0), MDHD, TIMESCALE, ">I", 0)
    f = inspect_bytes(data, "timescale0.mp4")
    assert (f.problem, f.duration_s, f.fps, f.frames, f.width) == (None, None, None, 25, 64)
    assert finite(f)


@pytest.mark.parametrize("duration", [0, 0xFFFFFFFF])
def test_an_unknown_duration_is_missing_not_huge(make, duration):
    data = make.clip().read_bytes()
    data = patched(patched(data, MVHD, DURATION, ">I", duration), MDHD, DURATION, ">I", duration)
    f = inspect_bytes(data, "unknown-duration.mp4")
    assert (f.problem, f.duration_s, f.fps) == (None, None, 25.0)
    assert finite(f)


def test_a_64_bit_duration_of_all_ones_is_unknown():
    assert isobmff._seconds(0xFFFFFFFFFFFFFFFF, 1000) is None
    assert isobmff._seconds(0xFFFFFFFF, 1000) is None
    assert isobmff._seconds(5000, 0) is None
    assert isobmff._seconds(5000, 1000) == 5.0


def test_zero_sides_are_missing(make):
    data = make.clip().read_bytes()
    entry = (*VIDEO_STBL, b"stsd", b"avc1")
    data = patched(data, entry, 32, ">HH", 0, 0)  # the sample entry's width and height
    data = patched(data, TKHD, 8 + 76, ">II", 0, 0)  # and the track header's
    f = inspect_bytes(data, "zero-sides.mp4")
    assert (f.problem, f.width, f.height, f.duration_s) == (None, None, None, 1.0)


def test_a_nan_sample_rate_is_missing(make):
    data = bytearray(make.clip(video=None, audio="mono", container="m4a").read_bytes())
    entry = data.find(b"mp4a", data.find(b"stsd")) - 4
    # a version-2 QuickTime sound description whose 64-bit float rate is NaN
    struct.pack_into(">H", data, entry + 16, 2)
    struct.pack_into(">dI", data, entry + 40, math.nan, 1)
    f = inspect_bytes(bytes(data), "nan-rate.m4a")
    assert (f.problem, f.sample_rate, f.channels) == (None, None, 1)
    assert finite(f)
