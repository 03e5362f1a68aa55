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
