"""prep.inspect: files every decoder reads are not "unreadable" (issue 8) — extra bytes after the end
of an image, a wrong BMP file-size field, an MP4 whose last sample is cut by a few bytes — while a
file cut short is still reported. Each verdict is checked against the reference reader."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from prep.inspect import inspect_path

try:
    from tests.media import ffmpeg_exe, run_ffmpeg
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from media import ffmpeg_exe, run_ffmpeg


def _image(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    from PIL import Image

    pixels = bytes((i * 2654435761 >> 7) & 255 for i in range(size[0] * size[1] * 3))
    buf = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buf, format=fmt.upper())
    return buf.getvalue()


def _pillow_reads(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["gif", "png"])
@pytest.mark.parametrize("extra", [b"\x00", b"junk" * 3, b"\x00" * 5000, bytes(range(256)) * 40])
def test_bytes_after_the_gif_or_png_trailer_are_readable(tmp_path, fmt, extra):
    path = _write(tmp_path, f"tail.{fmt}", _image(fmt) + extra)
    facts = inspect_path(path)
    assert facts.problem is None, facts.problem
    assert (facts.format, facts.width, facts.height) == (fmt, 40, 30)
    assert _pillow_reads(path)


@pytest.mark.parametrize("extra", [b"", b"junk", b"\x00" * 9])
def test_gif_that_stops_after_a_whole_image_without_its_trailer_is_readable(tmp_path, extra):
    data = _image("gif")
    assert data.endswith(b"\x00;")  # the last image's terminator, then the trailer
    path = _write(tmp_path, "notrailer.gif", data[:-1] + extra)
    assert inspect_path(path).problem is None
    assert _pillow_reads(path)


@pytest.mark.parametrize("fmt", ["gif", "png"])
def test_gif_or_png_cut_inside_its_image_data_is_still_truncated(tmp_path, fmt):
    data = _image(fmt, (200, 150))
    path = _write(tmp_path, f"cut.{fmt}", data[: len(data) * 2 // 3] + b"\x00" * 10)
    facts = inspect_path(path)
    assert facts.problem and "truncated" in facts.problem
    assert not _pillow_reads(path)


@pytest.mark.parametrize("delta", [+1, +4096, -1, -1000])
def test_bmp_with_a_wrong_file_size_field_is_readable(tmp_path, delta):
    data = bytearray(_image("bmp"))
    struct.pack_into("<I", data, 2, len(data) + delta)
    path = _write(tmp_path, "size.bmp", bytes(data))
    facts = inspect_path(path)
    assert facts.problem is None, facts.problem
    assert (facts.format, facts.width, facts.height) == ("bmp", 40, 30)
    assert _pillow_reads(path)


def test_bmp_with_a_zero_file_size_field_and_extra_bytes_is_readable(tmp_path):
    data = bytearray(_image("bmp") + b"\x00" * 7)
    struct.pack_into("<I", data, 2, 0)
    path = _write(tmp_path, "zero.bmp", bytes(data))
    assert inspect_path(path).problem is None
    assert _pillow_reads(path)


@pytest.mark.parametrize("cut", [1, 50])
def test_bmp_missing_pixel_bytes_is_truncated_as_pillow_says(tmp_path, cut):
    data = bytearray(_image("bmp"))
    struct.pack_into("<I", data, 2, len(data) - cut)  # a size field that agrees with the cut file
    path = _write(tmp_path, "short.bmp", bytes(data[:-cut]))
    facts = inspect_path(path)
    assert facts.problem and "truncated" in facts.problem
    assert not _pillow_reads(path)


# -- MP4 -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faststart_mp4(tmp_path_factory) -> dict[str, bytes]:
    """Clips whose 'mdat' is the last box (moov first), with and without an audio track."""
    root = tmp_path_factory.mktemp("trailing")
    out = {}
    for name, audio in (("video", []), ("av", ["-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                                               "-c:a", "aac"])):
        path = root / f"{name}.mp4"
        run_ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", *audio,
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path))
        out[name] = path.read_bytes()
    return out


def _ffmpeg_decodes(path: Path) -> bool:
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("name", ["video", "av"])
@pytest.mark.parametrize("cut", [1, 3])
def test_mp4_whose_last_sample_lacks_a_few_bytes_is_readable(tmp_path, faststart_mp4, name, cut):
    data = faststart_mp4[name]
    assert data.rfind(b"mdat") > data.find(b"moov")  # the cut falls in the media, not the index
    path = _write(tmp_path, f"short-{name}.mp4", data[:-cut])
    facts = inspect_path(path)
    assert facts.problem is None, facts.problem
    assert (facts.format, facts.width, facts.height) == ("mp4", 64, 48)
    assert facts.duration_s == pytest.approx(1.0, abs=0.05)
    assert _ffmpeg_decodes(path)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_mp4_cut_by_more_than_its_last_sample_is_still_truncated(tmp_path, faststart_mp4, keep):
    data = faststart_mp4["av"]
    facts = inspect_path(_write(tmp_path, "cut.mp4", data[: int(len(data) * keep)]))
    assert facts.problem and "'mdat' box" in facts.problem and "truncated" in facts.problem


def test_mp4_without_its_index_is_still_truncated(tmp_path, faststart_mp4):
    data = faststart_mp4["video"]
    facts = inspect_path(_write(tmp_path, "noindex.mp4", data[: data.find(b"moov") + 100]))
    assert facts.problem and "truncated" in facts.problem
