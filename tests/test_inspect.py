"""prep.inspect: facts from real files made at test time, and every broken file we can think of."""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media import (  # tests/ is on sys.path (as for every test)
    has_encoder,
    heif_bytes,
    image_bytes,
    inspect_with_peak,
    media,
    png_claiming,
    wav_bytes,
)

from prep import inspect as insp
from prep.inspect import _base as base
from prep.inspect import (
    inspect_bytes,
    inspect_data_url,
    inspect_path,
    mediainfo,
    parse_data_url,
    sniff,
    worker,
)
from prep.model import MediaFacts

__all__ = ["media"]  # the fixture, imported so pytest finds it


def clean(facts: MediaFacts) -> MediaFacts:
    assert facts.problem is None, facts.problem
    return facts


# -- images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(299, 300), (300, 299), (300, 300), (6000, 300), (6001, 300), (300, 6001)])
def test_image_sides_are_exact_on_both_sides_of_the_limits(media, size):
    f = clean(inspect_path(media.image(fmt="png", size=size)))
    assert (f.kind, f.format, f.width, f.height) == ("image", "png", *size)


@pytest.mark.parametrize("size", [(390, 1000), (400, 1000), (1000, 400), (1004, 400)])
def test_image_ratios_near_the_limits_keep_exact_sides(media, size):
    f = clean(inspect_path(media.image(fmt="jpeg", size=size)))
    assert (f.width, f.height) == size
    assert f.bytes == media.image(fmt="jpeg", size=size).stat().st_size


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "bmp", "tiff", "gif", "ppm", "ico", "avif"])
def test_each_image_format_reports_kind_format_and_size(media, fmt):
    size = (48, 32)
    try:
        path = media.image(fmt=fmt, size=size)
    except (KeyError, OSError) as exc:  # Pillow built without this encoder
        pytest.skip(f"Pillow cannot write {fmt}: {exc}")
    f = clean(inspect_path(path))
    assert (f.kind, f.format) == ("image", fmt)
    if fmt not in ("ppm", "ico", "avif"):  # rejected formats: the sniff decides; sides only if MediaInfo reads them
        assert (f.width, f.height) == size
    assert f.bytes == path.stat().st_size and f.source == str(path)


def test_lossless_webp_and_extended_webp_headers(media, tmp_path):
    from PIL import Image

    lossless = tmp_path / "l.webp"
    Image.new("RGB", (301, 299)).save(lossless, lossless=True)
    extended = tmp_path / "x.webp"
    Image.new("RGBA", (333, 222), (0, 0, 0, 10)).save(extended, exif=Image.Exif())
    assert (inspect_path(lossless).width, inspect_path(lossless).height) == (301, 299)
    assert (inspect_path(extended).width, inspect_path(extended).height) == (333, 222)


@pytest.mark.parametrize("orientation, rotation", [(1, 0), (3, 180), (6, 90), (8, 270), (5, 270), (7, 90)])
def test_exif_orientation_becomes_rotation_and_sides_stay_as_stored(media, orientation, rotation):
    f = clean(inspect_path(media.image(fmt="jpeg", size=(60, 40), exif_orientation=orientation)))
    assert (f.width, f.height, f.rotation) == (60, 40, rotation)


def test_png_and_tiff_exif_orientation(media):
    assert inspect_path(media.image(fmt="png", exif_orientation=6)).rotation == 90
    assert inspect_path(media.image(fmt="tiff", exif_orientation=8)).rotation == 270


@pytest.mark.parametrize("mode, fmt", [("CMYK", "jpeg"), ("I;16", "png"), ("L", "jpeg"), ("RGBA", "png"),
                                       ("CMYK", "tiff")])
def test_unusual_pixel_modes(media, mode, fmt):
    f = clean(inspect_path(media.image(fmt=fmt, size=(70, 50), mode=mode)))
    assert (f.format, f.width, f.height) == (fmt, 70, 50)


def test_animated_gif_and_png(media):
    gif = clean(inspect_path(media.image(fmt="gif", size=(40, 30), frames=3)))
    assert (gif.format, gif.width, gif.height) == ("gif", 40, 30)
    apng = clean(inspect_path(media.image(fmt="png", size=(40, 30), frames=3)))
    assert (apng.format, apng.frames) == ("png", 3)


@pytest.mark.parametrize("brand, fmt", [(b"heic", "heic"), (b"avif", "avif")])
def test_heif_container_size_comes_from_the_primary_item(media, brand, fmt):
    f = clean(inspect_path(media.write(f"x.{fmt}", heif_bytes(4032, 3024, brand))))
    assert (f.kind, f.format, f.width, f.height, f.rotation) == ("image", fmt, 4032, 3024, 0)
    turned = inspect_path(media.write(f"r.{fmt}", heif_bytes(4032, 3024, brand, irot=1)))
    assert (turned.width, turned.height) == (4032, 3024)  # a rejected format: MediaInfo gives no rotation


def test_huge_png_header_reports_dimensions_without_decoding(media):
    path = media.write("bomb.png", png_claiming(100_000, 100_000))
    f, peak = inspect_with_peak(path)
    assert peak < 16 * 1024 * 1024  # decoding would need 10 GB
    assert (f.kind, f.format, f.width, f.height, f.problem) == ("image", "png", 100_000, 100_000, None)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_image_inspection_reads_a_bounded_number_of_bytes(media, monkeypatch, fmt):
    """Cost does not grow with pixels: the inspector reads the header and the tail, never the whole
    image (speed itself is measured in bench/, not here)."""
    big = media.image(fmt=fmt, size=(8000, 6000))
    real = os.pread
    read: list[int] = []

    def counting(fd, n, offset):
        data = real(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", counting)
    facts = clean(inspect_path(big))
    assert (facts.width, facts.height) == (8000, 6000)
    assert sum(read) <= 128 * 1024 < big.stat().st_size


# -- video -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, frames", [(1.9, 19), (2.0, 20), (15.0, 150), (15.1, 151)])
def test_video_duration_is_exact_on_both_sides_of_the_limits(media, seconds, frames):
    f = clean(inspect_path(media.video(seconds=seconds, size="32x32")))
    assert (f.kind, f.format, f.duration_s, f.frames, f.fps) == ("video", "mp4", seconds, frames, 10.0)


@pytest.mark.parametrize("fps", [23, 24, 60, 61])
def test_video_fps_is_exact_on_both_sides_of_the_limits(media, fps):
    f = clean(inspect_path(media.video(fps=fps, seconds=1.0, size="32x32")))
    assert (f.fps, f.frames, f.variable_fps, f.duration_s) == (float(fps), fps, False, 1.0)


def test_ntsc_frame_rate(media):
    f = clean(inspect_path(media.video(fps="24000/1001", seconds=1.001, size="32x32")))
    assert f.fps == pytest.approx(23.976, abs=1e-3) and not f.variable_fps


@pytest.mark.parametrize("width, height", [(639, 641), (640, 640), (834, 1112), (2527, 367)])
def test_video_pixel_counts_either_side_of_the_limits(media, width, height):
    # 639×641 = 409599, 640×640 = 409600, 834×1112 = 927408, 2527×367 = 927409 (7·19·19·367 has no
    # squarer split); odd sides need 4:4:4 chroma, which H.264 allows at any size.
    f = clean(inspect_path(media.sized_video(width, height)))
    assert (f.width, f.height, f.codec) == (width, height, "h264")


@pytest.mark.parametrize("container", ["mp4", "mov"])
@pytest.mark.parametrize("codec, name", [("libx264", "h264"), ("libx265", "hevc")])
def test_mp4_and_mov_with_h264_and_h265(media, container, codec, name):
    if not has_encoder(codec):
        pytest.skip(f"this ffmpeg build has no {codec}")
    f = clean(inspect_path(media.video(container=container, codec=codec, size="96x64", audio=True)))
    assert (f.kind, f.format, f.codec, f.width, f.height) == ("video", container, name, 96, 64)
    assert (f.has_video, f.has_audio, f.sample_rate, f.channels, f.fps) == (True, True, 8000, 1, 10.0)
    assert f.duration_s == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("faststart", [False, True])
def test_moov_at_either_end(media, faststart):
    path = media.video(seconds=2.0, faststart=faststart)
    data = path.read_bytes()
    assert (data.find(b"moov") < data.find(b"mdat")) is faststart  # the file really has that layout
    f = clean(inspect_path(path))
    assert (f.duration_s, f.frames, f.width) == (2.0, 20, 64)


@pytest.mark.parametrize("container, codec, name", [
    ("mkv", "libx264", "h264"), ("webm", "libvpx-vp9", "vp9"), ("avi", "mpeg4", "mpeg4"),
])
def test_other_video_containers(media, container, codec, name):
    f = clean(inspect_path(media.video(container=container, codec=codec, size="80x48", seconds=2.0,
                                       audio=True)))
    assert (f.kind, f.format, f.codec, f.width, f.height) == ("video", container, name, 80, 48)
    assert f.has_audio and f.fps == 10.0
    # Muxers pad: AVI repeats video frames to cover the audio, Matroska ends with the last AAC frame.
    assert 2.0 <= f.duration_s <= 2.25


def _mediainfo_facts(path: Path) -> MediaFacts:
    fd = os.open(path, os.O_RDONLY)
    try:
        src = base._Source(lambda off, n: os.pread(fd, n, off), os.fstat(fd).st_size, str(path), str(path))
        return mediainfo._general(src, None, None)
    finally:
        os.close(fd)


CROSS_CHECK = [
    dict(container="mp4", audio=True), dict(container="mov", audio=True, codec="libx265"),
    dict(container="mkv", audio=True), dict(container="webm", codec="libvpx-vp9", audio=True),
    dict(container="avi", codec="mpeg4", audio=True), dict(container="mp4", faststart=True, fps=60),
]


@pytest.mark.parametrize("spec", CROSS_CHECK, ids=lambda s: "-".join(map(str, s.values())))
def test_fast_video_parsers_agree_with_mediainfo(media, spec):
    path = media.video(size="64x48", seconds=2.0, **spec)
    fast, slow = clean(inspect_path(path)), clean(_mediainfo_facts(path))
    for name in ("kind", "format", "codec", "width", "height", "fps", "variable_fps", "sample_rate",
                 "channels", "has_video", "has_audio", "bytes"):
        assert getattr(fast, name) == getattr(slow, name), name
    assert fast.duration_s == pytest.approx(slow.duration_s, abs=0.0015)
    if fast.frames is not None:
        assert fast.frames == slow.frames


@pytest.mark.parametrize("container", ["wav", "mp3", "flac", "ogg", "opus", "m4a"])
@pytest.mark.parametrize("channels", [1, 2])
def test_fast_audio_parsers_agree_with_mediainfo(media, container, channels):
    rate = 48000 if container == "opus" else 44100
    path = media.audio(container=container, channels=channels, seconds=3.0, rate=rate)
    fast, slow = clean(inspect_path(path)), clean(_mediainfo_facts(path))
    for name in ("kind", "format", "codec", "sample_rate", "channels", "has_video", "has_audio"):
        assert getattr(fast, name) == getattr(slow, name), name
    if container == "mp3":
        # MediaInfo counts LAME's encoder delay and end padding as playing time; ffmpeg (the oracle,
        # tests/test_inspect_mp3.py) and we do not. The difference is under two frames.
        assert 0 < slow.duration_s - fast.duration_s < 2 * 1152 / rate
        return
    # MediaInfo counts Opus pre-skip (the decoder's 6.5 ms warm-up) as playing time; we do not.
    assert fast.duration_s == pytest.approx(slow.duration_s, abs=0.0075 if container == "opus" else 0.0015)


def test_variable_frame_rate(media):
    f = clean(inspect_path(media.variable_fps_video()))
    assert (f.variable_fps, f.frames, f.duration_s, f.fps) == (True, 17, 2.0, 8.5)


@pytest.mark.parametrize("anticlockwise, rotation", [(90, 270), (-90, 90), (180, 180)])
def test_track_matrix_rotation(media, anticlockwise, rotation):
    f = clean(inspect_path(media.rotated_video(anticlockwise)))
    assert (f.width, f.height, f.rotation) == (64, 48, rotation)


@pytest.mark.parametrize("container", ["mov", "mkv"])
def test_video_container_without_a_video_track(media, container):
    f = clean(inspect_path(media.audio_only_container(container)))
    # audio-only Matroska and QuickTime are audio, as ffmpeg sees them (issue 8)
    assert (f.kind, f.format, f.has_video, f.has_audio, f.width) == ("audio", container, False, True, None)


def test_mp4_with_only_audio_is_m4a(media):
    f = clean(inspect_path(media.audio_only_container("mp4")))
    assert (f.kind, f.format, f.codec, f.has_video) == ("audio", "m4a", "aac", False)


# -- audio -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [1.9, 2.0, 15.0, 15.1])
@pytest.mark.parametrize("container", ["wav", "flac"])
def test_lossless_audio_duration_is_exact(media, container, seconds):
    f = clean(inspect_path(media.audio(container=container, seconds=seconds)))
    assert (f.kind, f.format, f.duration_s, f.sample_rate, f.codec) == ("audio", container, seconds, 8000,
                                                                        "pcm" if container == "wav" else "flac")


@pytest.mark.parametrize("container, codec", [("mp3", "mp3"), ("ogg", "vorbis"), ("opus", "opus"),
                                              ("m4a", "aac"), ("wav", "pcm"), ("flac", "flac")])
@pytest.mark.parametrize("channels", [1, 2])
def test_audio_formats_mono_and_stereo(media, container, codec, channels):
    f = clean(inspect_path(media.audio(container=container, channels=channels, seconds=2.0, rate=48000)))
    fmt = "ogg" if container == "opus" else container
    assert (f.kind, f.format, f.codec, f.channels, f.sample_rate) == ("audio", fmt, codec, channels, 48000)
    assert f.has_audio and not f.has_video
    assert f.duration_s == pytest.approx(2.0, abs=0.06)


def test_mp3_duration_near_the_limit_separates_14_9_and_15_1(media):
    short = inspect_path(media.audio(container="mp3", seconds=14.9, rate=44100))
    long = inspect_path(media.audio(container="mp3", seconds=15.1, rate=44100))
    assert 14.9 <= short.duration_s < 15.0 < 15.1 <= long.duration_s < 15.2


# -- content beats names ---------------------------------------------------------------------------


def test_mp4_with_a_png_name_is_a_video(media):
    path = media.write("really-a-video.png", media.video().read_bytes())
    f = clean(inspect_path(path))
    assert (f.kind, f.format) == ("video", "mp4")


def test_png_with_a_jpg_name_is_a_png(media):
    f = clean(inspect_path(media.write("photo.jpg", image_bytes("png"))))
    assert (f.kind, f.format) == ("image", "png")


# -- broken and hostile files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.png", "empty.mp4", "empty.wav", "empty"])
def test_empty_file(media, name):
    f = inspect_path(media.write(name, b""))
    assert (f.kind, f.bytes, f.problem) == (None, 0, "file is empty")


@pytest.mark.parametrize("name", ["garbage.png", "garbage.mp4", "garbage.wav", "garbage.jpg"])
def test_garbage_with_a_media_name(media, name):
    data = bytes((i * 7919 + 13) % 251 for i in range(5000))
    f = inspect_path(media.write(name, data))
    assert f.kind is None and f.format is None
    assert f.problem and "\n" not in f.problem


def test_text_file_is_not_media(media):
    f = inspect_path(media.write("notes.mp4", b"hello, this is not a video\n" * 50))
    assert f.problem == "not a recognised image, video or audio file"


@pytest.mark.parametrize("fmt, keep, expect", [
    ("jpeg", 0.6, "end-of-image"), ("png", 0.6, "IEND"), ("gif", 0.6, "trailer"),
    ("webp", 0.6, "RIFF header claims"), ("bmp", 0.6, "BMP header claims"), ("tiff", 0.5, "TIFF"),
])
def test_truncated_images(media, fmt, keep, expect):
    from PIL import Image  # noqa: F401  (only to fail clearly if Pillow is missing)

    path = media.image(fmt=fmt, size=(300, 200), mode="RGB")
    if fmt in ("jpeg", "png", "webp", "gif"):  # flat images compress to almost nothing; add detail
        path = _noisy_image(media, fmt)
    f = inspect_path(media.truncated(path, keep))
    assert f.kind == "image" and f.format == fmt
    assert f.problem and expect in f.problem


def _noisy_image(media, fmt: str) -> Path:
    from PIL import Image

    im = Image.frombytes("RGB", (200, 150), bytes((i * 2654435761 >> 7) & 255 for i in range(200 * 150 * 3)))
    out = media.root / f"noise.{fmt}"
    if not out.exists():
        im.save(out, format=fmt.upper())
    return out


def test_jpeg_with_data_after_the_end_marker_is_fine(media):
    data = _noisy_image(media, "jpeg").read_bytes() + b"\x00" * 100
    assert clean(inspect_path(media.write("padded.jpg", data))).width == 200
    motion = _noisy_image(media, "jpeg").read_bytes() + media.video().read_bytes()
    assert clean(inspect_path(media.write("motion.jpg", motion))).format == "jpeg"


# With moov first, 0.99 cuts only the last frame, which ffmpeg reads: see test_inspect_trailing.py.
@pytest.mark.parametrize("faststart, keep", [(False, 0.5), (False, 0.9), (False, 0.99), (True, 0.5),
                                             (True, 0.9)])
def test_truncated_mp4(media, faststart, keep):
    path = media.truncated(media.video(seconds=2.0, faststart=faststart), keep)
    f = inspect_path(path)
    assert (f.kind, f.format) == ("video", "mp4")
    assert f.problem and "truncated" in f.problem


def test_mp4_without_moov(media):
    data = media.video(seconds=2.0).read_bytes()
    moov = data.rfind(b"moov") - 4
    f = inspect_bytes(data[:moov], "cut.mp4")
    assert f.problem and "moov" in f.problem


@pytest.mark.parametrize("container", ["mkv", "webm", "avi"])
def test_truncated_other_containers(media, container):
    codec = {"webm": "libvpx-vp9", "avi": "mpeg4"}.get(container, "libx264")
    f = inspect_path(media.truncated(media.video(container=container, codec=codec, seconds=2.0), 0.5))
    assert f.format == container and f.problem and "truncated" in f.problem


def test_truncated_wav_is_as_long_as_the_audio_it_holds(media):
    # ffmpeg decodes what is there (tests/test_inspect_audio.py has the details).
    path = media.truncated(media.audio(container="wav", seconds=2.0), 0.5)
    f = inspect_path(path)
    assert (f.kind, f.format, f.problem) == ("audio", "wav", None)
    data = path.read_bytes()
    assert f.duration_s == (len(data) - data.find(b"data") - 8) // 2 / 8000


def test_wav_claiming_more_than_it_has(media):
    f = inspect_bytes(wav_bytes(b"\x00\x00" * 100, claim=10_000))
    assert (f.problem, f.duration_s) == (None, 100 / 8000)


# A cut MP3 is not here: its frames still play, so it gets the duration they make and no problem
# (tests/test_inspect_mp3.py).
@pytest.mark.parametrize("container", ["flac"])  # Ogg: rejected; MediaInfo does not tell a cut one
def test_truncated_compressed_audio(media, container):
    path = media.audio(container=container, seconds=3.0, rate=44100)
    keep = 0.5 if container != "flac" else 40  # a FLAC cut inside its metadata
    f = inspect_path(media.truncated(path, keep))
    assert f.format == container and f.problem and "truncated" in f.problem


def test_missing_paths_raise_and_directories_raise(tmp_path):
    with pytest.raises(FileNotFoundError):
        inspect_path(tmp_path / "nope.png")
    with pytest.raises(IsADirectoryError):
        inspect_path(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_raises(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(image_bytes("png"))
    path.chmod(0)
    with pytest.raises(PermissionError):
        inspect_path(path)


def test_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert inspect_path(fifo).problem == "not a regular file"


def test_missing_pymediainfo_is_a_finding_on_the_file(monkeypatch, media):
    import sys

    monkeypatch.setitem(sys.modules, "pymediainfo", None)
    monkeypatch.setattr(worker, "_worker", None)  # as in a run that has not started the worker
    f = inspect_path(media.write("junk.bin", b"\x01\x02" * 300))
    assert (f.kind, f.format, f.problem) == (None, None, None)
    assert f.unjudged == "pymediainfo is not installed: pip install pymediainfo"


# -- never a traceback, whatever the bytes ---------------------------------------------------------

SEEDS = ["jpeg", "png", "gif", "webp", "bmp", "tiff", "mp4", "wav", "mkv", "mp3", "flac", "ogg", "avi",
         "heic"]


@pytest.fixture(scope="module")
def seed_files(media) -> dict[str, bytes]:
    out = {fmt: image_bytes(fmt, (40, 30)) for fmt in ("jpeg", "png", "gif", "webp", "bmp", "tiff")}
    out["mp4"] = media.video(size="32x32", audio=True).read_bytes()
    out["mkv"] = media.video(size="32x32", container="mkv").read_bytes()
    out["avi"] = media.video(size="32x32", container="avi", codec="mpeg4").read_bytes()
    for fmt in ("wav", "mp3", "flac", "ogg"):
        out[fmt] = media.audio(container=fmt).read_bytes()
    out["heic"] = heif_bytes(640, 480)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(SEEDS), cut=st.floats(0, 1), flips=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4))
def test_damaged_files_never_raise(seed_files, fmt, cut, flips):
    data = bytearray(seed_files[fmt][: max(1, int(len(seed_files[fmt]) * cut))])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    f = inspect_bytes(bytes(data), f"damaged.{fmt}")
    assert isinstance(f, MediaFacts) and f.bytes == len(data)
    assert f.problem is None or ("\n" not in f.problem and "internal error" not in f.problem)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_sniff_never_raises_and_is_name_blind(head):
    kind, fmt = sniff(head)
    assert (kind is None) == (fmt is None)
    assert kind in (None, "image", "video", "audio")


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif", "webp", "bmp", "tiff"])
def test_sniff_images(fmt):
    assert sniff(image_bytes(fmt)) == ("image", fmt)


def test_sniff_containers():
    assert sniff(heif_bytes(10, 10)) == ("image", "heic")
    assert sniff(heif_bytes(10, 10, b"avif")) == ("image", "avif")
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ") == ("video", "mov")
    assert sniff(b"\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00M4A ") == ("audio", "m4a")
    assert sniff(b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom") == ("video", "mp4")
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == ("audio", "wav")
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") == ("video", "avi")
    assert sniff(b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\x82\x84webm") == ("video", "webm")
    assert sniff(b"OggS\x00\x02" + b"\x00" * 30) == ("audio", "ogg")
    assert sniff(b"fLaC\x00\x00\x00\x22") == ("audio", "flac")
    assert sniff(b"\xff\xfb\x90\x64" + b"\x00" * 10) == ("audio", "mp3")
    assert sniff(b"P6\n3 2\n255\n") == ("image", "ppm")
    assert sniff(b"hello world") == (None, None)
    assert sniff(b"") == (None, None)


# -- bytes and data: URLs --------------------------------------------------------------------------


def test_inspect_bytes_matches_inspect_path(media):
    path = media.video(audio=True)
    from_path = inspect_path(path)
    from_bytes = inspect_bytes(path.read_bytes(), "clip")
    assert from_bytes.source == "clip"
    assert from_bytes == MediaFacts(**{**_fields(from_path), "source": "clip"})


def _fields(f: MediaFacts) -> dict:
    return f._asdict()


def test_data_url_round_trip():
    png = image_bytes("png", (12, 7))
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert parse_data_url(url) == ("image/png", png)
    f = clean(inspect_data_url(url))
    assert (f.format, f.width, f.height, f.bytes, f.source) == ("png", 12, 7, len(png), "data:image/png")


def test_data_url_declared_type_is_not_trusted():
    png = image_bytes("png", (12, 7))
    f = inspect_data_url("data:audio/wav;base64," + base64.b64encode(png).decode())
    assert (f.kind, f.format) == ("image", "png")


@pytest.mark.parametrize("url, reason", [
    ("image/png;base64,AAAA", "not a data: URL"),
    ("data:image/png;base64", "no ','"),
    ("data:image/png;base64,AAA", "invalid base64"),
    ("data:image/png;base64,AA AA", "invalid base64"),
    ("data:image/png;base64,A===", "invalid base64"),
    ("data:image/png;base64,AAAA=AAA", "invalid base64"),
    ("data:image/png;base64,ÄÄÄÄ", "non-ASCII"),
    ("data:png;base64,AAAA", "type/subtype"),
    ("data:image/png;base64;x,AAAA", "name=value"),
])
def test_malformed_data_urls(url, reason):
    with pytest.raises(ValueError, match=reason):
        parse_data_url(url)
    with pytest.raises(ValueError, match=reason):
        inspect_data_url(url)


def test_data_url_without_base64_is_percent_decoded():
    assert parse_data_url("data:,a%20b") == ("text/plain", b"a b")
    assert parse_data_url("data:Image/PNG;name=x.png;base64,AAAA") == ("image/png", b"\x00\x00\x00")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["image/png", "audio/wav", "application/octet-stream"]))
def test_parse_data_url_inverts_base64(data, media_type):
    url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    assert parse_data_url(url) == (media_type, data)


def test_large_data_url_is_decoded_in_slices(monkeypatch, media):
    monkeypatch.setattr(insp, "_DATA_URL_SPOOL_CHARS", 1000)
    monkeypatch.setattr(insp, "_DATA_URL_SLICE_CHARS", 400)
    wav = media.audio(container="wav", seconds=0.5)
    url = "data:audio/wav;base64," + base64.b64encode(wav.read_bytes()).decode()
    f = clean(inspect_data_url(url))
    assert (f.format, f.duration_s, f.bytes) == ("wav", 0.5, wav.stat().st_size)
    with pytest.raises(ValueError, match="invalid base64"):
        inspect_data_url(url[:-2] + "=A")


def test_inspect_reader_reads_only_what_it_needs(media):
    data = media.video(seconds=15.0, size="32x32").read_bytes()
    asked: list[tuple[int, int]] = []

    def read(offset: int, n: int) -> bytes:
        asked.append((offset, n))
        return data[offset : offset + n]

    f = clean(insp.inspect_reader(read, len(data), "lazy.mp4"))
    assert f.duration_s == 15.0
    assert sum(n for _, n in asked) < len(data) // 2 or len(data) < 4 * base._HEAD


def test_module_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, prep.inspect; print(any(m in sys.modules for m in ('PIL', 'pymediainfo', 'httpx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.stdout.strip() == "False", out.stderr


def test_struct_helpers_are_big_and_little_endian():
    assert base._u32be(struct.pack(">I", 7), 0) == 7 and base._u32le(struct.pack("<I", 7), 0) == 7
    assert base._tidy_fps(24000 / 1001) == pytest.approx(23.976, abs=1e-3)
    assert base._tidy_fps(1e9 / 41666666) == 24.0
    assert base._tidy_fps(12.5) == 12.5
