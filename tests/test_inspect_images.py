"""prep.inspect on images (issue 8): each verdict the image oracle (tests/oracle/test_oracle_images.py)
settled, pinned on a small file. A file Pillow or ffmpeg decodes is never a ``problem``; one neither
decodes is; where they disagree the file is readable and ``unjudged`` says which would fail."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from media import tiff_with

from prep.inspect import inspect_bytes, inspect_reader

# -- builders --------------------------------------------------------------------------------------


def _saved(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB", **options) -> bytes:
    from PIL import Image

    orientation = options.pop("orientation", None)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    frames = options.pop("frames", 1)
    pictures = [Image.new(mode, size, (40 * i % 256, 90, 150)[: len(mode)] if mode != "L" else 90)
                for i in range(frames)]
    if frames > 1:
        options.update(save_all=True, append_images=pictures[1:], duration=100)
    buf = io.BytesIO()
    pictures[0].save(buf, format=fmt.upper(), **options)
    return buf.getvalue()


def _chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def _png(ihdr_fields=(8, 2, 0, 0, 0), size=(4, 3), before_idat: bytes = b"", after_idat: bytes = b"",
         idat: bytes | None = None, iend: bool = True) -> bytes:
    depth, colour = ihdr_fields[0], ihdr_fields[1]
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 3)
    raw = (b"\x00" + bytes((size[0] * depth * samples + 7) // 8)) * size[1]
    body = zlib.compress(raw) if idat is None else idat
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">II", *size) + bytes(ihdr_fields)) + before_idat
            + (_chunk(b"IDAT", body) if body else b"") + after_idat)
    return data + (_chunk(b"IEND", b"") if iend else b"")


def _jpeg_seg(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _jpeg(*, precision: int = 8, sof: int = 0xC0, width: int = 8, height: int = 8, app: bytes = b"") -> bytes:
    """A grey 8×8 JPEG of one flat block (Huffman: DC difference 0, end of block; arithmetic: an empty scan)."""
    one_code = bytes([1] + [0] * 15) + b"\x00"
    if sof in (0xC9, 0xCA, 0xCB):
        tables, data = _jpeg_seg(0xCC, b"\x00\x10\x10\x05"), b""
    else:
        tables, data = _jpeg_seg(0xC4, b"\x00" + one_code + b"\x10" + one_code), b"\x3f"
    return (b"\xff\xd8" + app + _jpeg_seg(0xDB, b"\x00" + b"\x01" * 64)
            + _jpeg_seg(sof, struct.pack(">BHHB", precision, height, width, 1) + b"\x01\x11\x00") + tables
            + _jpeg_seg(0xDA, b"\x01\x01\x00\x00\x3f\x00") + data + b"\xff\xd9")


def _exif(orientation: int, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    return (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "IHHHIHH", 8, 1, 0x0112, 3, 1, orientation, 0) \
        + b"\x00\x00\x00\x00"


def _bmp(*, width=6, height=4, bits=24, compression=0, header=40, masks=None, payload=None) -> bytes:
    rows = abs(height)
    palette = b"".join(bytes([i % 256, 80, 160, 0]) for i in range(1 << bits)) if 0 < bits <= 8 else b""
    pixels = payload if payload is not None else bytes((abs(width) * bits + 31) // 32 * 4 * rows)
    info = struct.pack("<IiiHHIIiiII", header, width, height, 1, bits, compression, len(pixels), 0, 0, 0, 0)
    extra = b""
    if header == 16:
        info = info[:16]
    elif masks is not None and header == 40:
        extra = struct.pack("<III", *masks[:3])
    elif header > 40:
        info += struct.pack("<IIII", *(list(masks or ()) + [0] * 4)[:4])
    info = (info + bytes(header))[:header] + extra
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def _pillow_decodes(data: bytes) -> bool:
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the damage these files carry on purpose
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
        except Exception:  # noqa: BLE001
            return False
    return True


# -- BMP -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression, payload_fmt", [(4, "jpeg"), (5, "png")])
def test_bmp_holding_a_jpeg_or_png_is_unreadable(compression, payload_fmt):
    data = _bmp(bits=0, compression=compression, payload=_saved(payload_fmt, (6, 4)))
    facts = inspect_bytes(data)
    assert facts.problem and payload_fmt.upper() in facts.problem
    assert not _pillow_decodes(data)


@pytest.mark.parametrize("kwargs, words", [
    ({"bits": 2}, "2 bits per pixel"),
    ({"bits": 0}, "0 bits per pixel"),
    ({"header": 16}, "16 bytes"),
    ({"bits": 32, "compression": 6, "header": 56, "masks": (0xFF0000, 0xFF00, 0xFF, 0xFF000000)}, "compression 6"),
    ({"bits": 16, "compression": 3, "masks": (0x30, 0xE, 0x1)}, "bit fields"),
    ({"bits": 32, "compression": 3, "masks": (0x3FF00000, 0xFFC00, 0x3FF)}, "bit fields"),
    ({"width": -6}, "-6×4"),
    ({"height": 0}, "6×0"),
])
def test_bmp_no_decoder_reads_is_unreadable(kwargs, words):
    data = _bmp(**kwargs)
    facts = inspect_bytes(data)
    assert facts.problem and words in facts.problem, facts.problem
    assert not _pillow_decodes(data)


@pytest.mark.parametrize("kwargs", [
    {"bits": 16, "compression": 3, "masks": (0xF800, 0x7E0, 0x1F)},
    {"bits": 16, "compression": 3, "masks": (0x7C00, 0x3E0, 0x1F)},
    {"bits": 16, "compression": 3, "masks": (0xF00, 0xF0, 0xF)},  # ffmpeg reads 4-4-4; Pillow does not
    {"bits": 32, "compression": 3, "masks": (0xFF0000, 0xFF00, 0xFF)},
    {"bits": 32, "compression": 3, "header": 124, "masks": (0xFF, 0xFF00, 0xFF0000, 0xFF000000)},
    {"bits": 24, "compression": 3, "masks": (0xFF, 0xFF00, 0xFF0000)},  # ffmpeg ignores 24-bit masks
    {"bits": 24, "height": -4},  # top-down
    {"bits": 8, "header": 52},  # Pillow reads the V2 header; ffmpeg does not
])
def test_bmp_one_decoder_reads_is_readable(kwargs):
    facts = inspect_bytes(_bmp(**kwargs))
    assert facts.problem is None, facts.problem
    assert (facts.format, facts.width, facts.height) == ("bmp", 6, 4)


# -- TIFF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, name", [(50001, "WebP"), (50002, "JPEG XL"), (52546, "JPEG XL"), (34887, "LERC"),
                                        (34712, "JPEG 2000"), (12345, "unknown")])
def test_tiff_compressed_with_a_codec_no_decoder_has_is_unreadable(code, name):
    data = tiff_with(_saved("tiff"), 259, code)
    facts = inspect_bytes(data)
    assert facts.problem and f"compression {code} ({name})" in facts.problem
    assert not _pillow_decodes(data)


@pytest.mark.parametrize("compression", ["zstd", "lzma", "jpeg", "tiff_lzw", "packbits", "tiff_adobe_deflate"])
def test_tiff_compressions_pillow_writes_are_readable(compression):
    facts = inspect_bytes(_saved("tiff", compression=compression))
    assert facts.problem is None and (facts.width, facts.height) == (40, 30)


def test_tiff_size_is_stored_pixels_whatever_its_orientation():
    # Pillow turns a TIFF's size for orientations 5-8; the facts are stored pixels plus a rotation.
    facts = inspect_bytes(_saved("tiff", (64, 48), orientation=6))
    assert (facts.width, facts.height, facts.rotation) == (64, 48, 90)


def test_tiff_strip_byte_count_larger_than_the_file_is_readable_when_the_rows_are_there():
    data = _saved("tiff", (20, 10))
    wrong = tiff_with(data, 279, 10_000_000)  # libtiff and Pillow read the rows the geometry needs
    assert inspect_bytes(wrong).problem is None
    assert _pillow_decodes(wrong)


def test_tiff_cut_inside_its_uncompressed_rows_is_truncated():
    data = _saved("tiff", (20, 10))
    assert data.endswith(bytes([90, 150]))  # Pillow writes the rows last: cutting the end cuts them
    cut = data[:-200]
    facts = inspect_bytes(cut)
    assert facts.problem and "truncated" in facts.problem
    assert not _pillow_decodes(cut)


# -- PNG -------------------------------------------------------------------------------------------


# IHDR fields the PNG spec forbids: libpng (libvips, browsers) and Go's image/png refuse every one of
# them. Pillow ignores the compression byte and ffmpeg decodes a few invalid bit depths (colour type
# 2 at 4 bits) by accident; a server decoder built on libpng does not, so these are problems.
@pytest.mark.parametrize("fields, words, pillow_reads", [
    ((8, 2, 1, 0, 0), "compression method 1", True),
    ((8, 2, 0, 1, 0), "filter method 1", False),
    ((8, 2, 0, 0, 2), "interlace method 2", False),
    ((4, 2, 0, 0, 0), "colour type 2 with bit depth 4", False),
    ((16, 3, 0, 0, 0), "colour type 3 with bit depth 16", False),
    ((8, 5, 0, 0, 0), "colour type 5", False),
    ((3, 0, 0, 0, 0), "bit depth 3", False),
])
def test_png_header_fields_the_spec_forbids_are_unreadable(fields, words, pillow_reads):
    data = _png(fields)
    facts = inspect_bytes(data)
    assert facts.problem and words in facts.problem, facts.problem
    assert _pillow_decodes(data) == pillow_reads


@pytest.mark.parametrize("size", [(0, 3), (4, 0)])
def test_png_of_zero_pixels_is_unreadable(size):
    facts = inspect_bytes(_png(size=size))
    assert facts.problem and "0" in facts.problem and facts.width is None


def test_png_colour_profile_with_an_unknown_compression_is_unreadable():
    iccp = _chunk(b"iCCP", b"profile\x00\x01" + zlib.compress(b"x" * 100))
    data = _png(before_idat=iccp)
    assert "iCCP" in inspect_bytes(data).problem
    assert not _pillow_decodes(data)
    assert inspect_bytes(_png(before_idat=_chunk(b"iCCP", b"profile\x00\x00" + zlib.compress(b"x")))).problem is None


def test_png_without_image_data_is_unreadable():
    data = _png(before_idat=_chunk(b"acTL", struct.pack(">II", 0, 0)), idat=b"")
    assert "no image data" in inspect_bytes(data).problem
    assert not _pillow_decodes(data)


def test_apng_with_zero_frames_and_a_default_image_is_readable():
    data = _png(before_idat=_chunk(b"acTL", struct.pack(">II", 0, 0)))
    facts = inspect_bytes(data)
    assert facts.problem is None and facts.frames is None
    assert _pillow_decodes(data)


def test_apng_frame_data_before_any_frame_control_is_unreadable():
    fdat = _chunk(b"fdAT", struct.pack(">I", 0) + zlib.compress(bytes(4 * 13)))
    data = _png(before_idat=_chunk(b"acTL", struct.pack(">II", 1, 0)), after_idat=fdat)
    assert "fcTL" in inspect_bytes(data).problem
    assert not _pillow_decodes(data)


@pytest.mark.parametrize("tail", [b"", b"\x00\x00", b"\x00\x00\x00\x00IE"])
def test_png_without_iend_after_its_whole_image_is_readable_but_unjudged(tail):
    data = _png(size=(30, 20), iend=False) + tail
    facts = inspect_bytes(data)
    assert facts.problem is None and "IEND" in facts.unjudged and "ffmpeg" in facts.unjudged
    assert _pillow_decodes(data)


def test_png_whose_image_data_stops_early_is_truncated():
    raw = (b"\x00" + bytes(90)) * 20
    data = _png(size=(30, 20), idat=zlib.compress(raw)[:-30], iend=False)
    assert "truncated" in inspect_bytes(data).problem
    assert not _pillow_decodes(data)


def test_png_chunk_cut_after_the_image_is_truncated():
    data = _png(size=(30, 20), iend=False) + struct.pack(">I", 500) + b"tEXt" + b"abc"
    assert "truncated" in inspect_bytes(data).problem
    assert not _pillow_decodes(data)


def test_png_exif_read_is_bounded_whatever_the_chunk_claims():
    exif = _chunk(b"eXIf", _exif(6))
    claimed = exif[:0] + struct.pack(">I", 0x7FFF0000) + exif[4:]  # the length field claims 2 GiB
    data = _png(before_idat=claimed)
    reads: list[int] = []

    def read(off, n):
        reads.append(n)
        return data[off : off + n]

    facts = inspect_reader(read, len(data), "claims.png")
    assert max(reads) <= 64 * 1024 and facts.problem


# -- WebP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation, rotation", [(1, 0), (3, 180), (6, 90), (8, 270), (5, 270)])
@pytest.mark.parametrize("options", [{}, {"lossless": True}, {"frames": 2}])
def test_webp_exif_orientation_is_rotation(orientation, rotation, options):
    facts = inspect_bytes(_saved("webp", (40, 30), orientation=orientation, **options))
    assert (facts.problem, facts.width, facts.height, facts.rotation) == (None, 40, 30, rotation)


def test_webp_exif_with_the_jpeg_prefix_and_big_endian():
    data = _saved("webp", (40, 30), orientation=1)
    at = data.index(b"EXIF")
    size = struct.unpack_from("<I", data, at + 4)[0]
    body = b"Exif\x00\x00" + _exif(6, big_endian=True)
    patched = data[:at] + b"EXIF" + struct.pack("<I", len(body)) + body + data[at + 8 + size + (size & 1):]
    patched = patched[:4] + struct.pack("<I", len(patched) - 8) + patched[8:]
    assert inspect_bytes(patched).rotation == 90


# -- JPEG ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"sof": 0xC5}, {"sof": 0xC7}, {"sof": 0xCD}, {"precision": 0}, {"width": 0},
                                    {"height": 0}])
def test_jpeg_no_decoder_reads_is_unreadable(kwargs):
    data = _jpeg(**kwargs)
    assert inspect_bytes(data).problem
    assert not _pillow_decodes(data)


@pytest.mark.parametrize("kwargs, words", [({"sof": 0xC9}, "arithmetic"), ({"precision": 12, "sof": 0xC1}, "12-bit"),
                                           ({"precision": 12}, "12-bit")])
def test_jpeg_only_some_decoders_read_is_readable_but_unjudged(kwargs, words):
    facts = inspect_bytes(_jpeg(**kwargs))
    assert facts.problem is None and (facts.width, facts.height) == (8, 8)
    assert words in facts.unjudged


@pytest.mark.parametrize("kwargs", [{}, {"sof": 0xC1}])
def test_jpeg_every_decoder_reads_is_judged(kwargs):
    data = _jpeg(**kwargs)
    facts = inspect_bytes(data)
    assert (facts.problem, facts.unjudged) == (None, None)
    assert _pillow_decodes(data)


@pytest.mark.parametrize("mode", ["CMYK", "L"])
def test_jpeg_cmyk_and_grey_are_readable(mode):
    facts = inspect_bytes(_saved("jpeg", mode=mode))
    assert (facts.problem, facts.unjudged, facts.width) == (None, None, 40)


def test_jpeg_ycck_is_readable():
    data = _saved("jpeg", mode="CMYK")
    at = data.index(b"Adobe")
    ycck = data[: at + 11] + b"\x02" + data[at + 12 :]  # APP14 transform 2: YCCK
    assert inspect_bytes(ycck).problem is None
    assert _pillow_decodes(ycck)


def test_jpeg_exif_orientation_in_a_later_app1_after_xmp():
    xmp = _jpeg_seg(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")
    exif = _jpeg_seg(0xE1, b"Exif\x00\x00" + _exif(6))
    assert inspect_bytes(_jpeg(app=xmp + exif)).rotation == 90


def test_jpeg_first_exif_segment_wins():
    first, second = (_jpeg_seg(0xE1, b"Exif\x00\x00" + _exif(o)) for o in (1, 8))
    assert inspect_bytes(_jpeg(app=first + second)).rotation == 0
    from PIL import Image

    with Image.open(io.BytesIO(_jpeg(app=first + second))) as im:
        assert im.getexif().get(0x0112) == 1


def test_jpeg_endless_fill_bytes_are_bounded():
    data = b"\xff\xd8" + b"\xff" * 200_000 + _jpeg()[2:]
    facts = inspect_bytes(data)
    assert facts.problem and "markers" in facts.problem


# -- every accepted format: zero sizes are problems --------------------------------------------------


def test_gif_of_zero_width_is_unreadable():
    data = bytearray(_saved("gif"))
    data[6:8] = b"\x00\x00"
    facts = inspect_bytes(bytes(data))
    assert facts.problem and "0×30" in facts.problem


def test_tiff_of_zero_height_is_unreadable():
    facts = inspect_bytes(tiff_with(_saved("tiff"), 257, 0))
    assert facts.problem and facts.height is None


def test_tiff_pages_are_counted_and_a_directory_loop_ends():
    assert inspect_bytes(_saved("tiff", frames=3)).frames == 3
    data = bytearray(_saved("tiff"))
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    struct.pack_into("<I", data, ifd + 2 + 12 * count, ifd)  # the next directory is this one
    facts = inspect_bytes(bytes(data))
    assert facts.problem is None and facts.frames is None


def test_tiff_directory_chain_is_walked_a_bounded_number_of_steps():
    data = bytearray(_saved("tiff"))
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    struct.pack_into("<I", data, ifd + 2 + 12 * count, len(data))
    for _ in range(10_000):  # empty directories, each pointing at the next
        data += struct.pack("<HI", 0, len(data) + 6)
    reads: list[int] = []

    def read(off, n):
        reads.append(n)
        return bytes(data[off : off + n])

    facts = inspect_reader(read, len(data), "chain.tif")
    assert facts.frames == 4096 and len(reads) < 3 * 4096 + 100


# -- WebP / JPEG: reads bounded whatever a header claims ----------------------------------------------


def test_webp_exif_chunk_claiming_gigabytes_reads_64_kib():
    data = _saved("webp", (40, 30), orientation=6)
    at = data.index(b"EXIF")
    claimed = data[:at + 4] + struct.pack("<I", 0x7FFFFFF0) + data[at + 8:]
    reads: list[int] = []

    def read(off, n):
        reads.append(n)
        return claimed[off : off + n]

    facts = inspect_reader(read, len(claimed), "claims.webp")
    assert max(reads) <= 64 * 1024 and facts.rotation == 90


# -- animations cut after their first frame -----------------------------------------------------------


def _noisy(fmt: str, frames: int = 3) -> bytes:
    import random

    from PIL import Image

    rng = random.Random(7)
    pictures = [Image.frombytes("RGB", (40, 30), rng.randbytes(40 * 30 * 3)) for _ in range(frames)]
    buf = io.BytesIO()
    pictures[0].save(buf, format=fmt.upper(), save_all=True, append_images=pictures[1:], duration=100)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["gif", "png"])
def test_animation_cut_after_its_first_frame_is_readable_but_unjudged(fmt):
    data = _noisy(fmt)
    cut = data[: int(len(data) * 0.8)]
    facts = inspect_bytes(cut)
    assert facts.problem is None and "cut short" in facts.unjudged and facts.width == 40
    assert _pillow_decodes(cut)  # its first frame, which is what an image decoder shows


@pytest.mark.parametrize("fmt", ["gif", "png"])
def test_animation_cut_inside_its_first_frame_is_truncated(fmt):
    data = _noisy(fmt)
    cut = data[: int(len(data) * 0.2)]
    facts = inspect_bytes(cut)
    assert facts.problem and "truncated" in facts.problem
    assert not _pillow_decodes(cut)


def test_tiff_reads_only_the_tags_it_needs_however_large_the_others():
    from PIL import Image, TiffImagePlugin

    extra = TiffImagePlugin.ImageFileDirectory_v2()
    extra[37724] = b"\x00" * (8 << 20)  # a Photoshop layer block of 8 MiB
    extra.tagtype[37724] = 7
    buf = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buf, format="TIFF", tiffinfo=extra)
    data = buf.getvalue()
    reads: list[int] = []

    def read(off, n):
        reads.append(n)
        return data[off : off + n]

    facts = inspect_reader(read, len(data), "layers.tif")
    assert (facts.problem, facts.width, facts.height) == (None, 64, 48)
    assert sum(reads) < 200_000


@pytest.mark.parametrize("mode, tag, value, words", [("RGB", 277, 9, "9 samples"), ("L", 258, 0, "0 bits"),
                                                     ("L", 256, 0, "0×30")])
def test_tiff_pixel_layouts_no_decoder_reads_are_unreadable(mode, tag, value, words):
    data = tiff_with(_saved("tiff", mode=mode), tag, value)  # grey: its one bit count sits in the entry
    facts = inspect_bytes(data)
    assert facts.problem and words in facts.problem, facts.problem
    assert not _pillow_decodes(data)


# -- colour mode and animation, held to Pillow ----------------------------------------------------------


def _pillow_color_mode(im, fmt: str) -> str:
    """The inspector's colour-mode name for what Pillow opened (its mode and ``info["transparency"]``)."""
    mode, transparent = im.mode, "transparency" in im.info
    if fmt in ("BMP", "GIF") and mode in ("1", "L"):  # Pillow expands a grey palette; the file is indexed
        return "palette+alpha" if transparent else "palette"
    names = {"1": "gray", "L": "gray", "I": "gray", "I;16": "gray", "I;16B": "gray", "F": "gray", "LA": "graya",
             "RGB": "rgb", "RGBX": "rgb", "YCbCr": "rgb", "RGBA": "rgba", "P": "palette", "PA": "palette+alpha",
             "CMYK": "cmyk", "LAB": "lab"}
    name = names[mode]
    if transparent and name in ("gray", "rgb", "palette"):
        name = {"gray": "graya", "rgb": "rgba", "palette": "palette+alpha"}[name]
    return name


def _picture(mode: str, frames: int, fmt: str, **options) -> bytes:
    """``frames`` different pictures in ``mode`` (converted from a half-transparent RGBA picture, which keeps
    a transparent palette entry where the mode has one), saved as ``fmt``."""
    from PIL import Image

    pictures = []
    for i in range(frames):
        if mode in ("1", "I;16", "F", "LAB", "YCbCr"):
            pictures.append(Image.new(mode, (40, 30)))
        else:
            pictures.append(Image.new("RGBA", (40, 30), (40 * i % 256, 90, 150, 200 - 70 * i)).convert(mode))
    if frames > 1:
        options.update(save_all=True, append_images=pictures[1:], duration=100)
    buf = io.BytesIO()
    pictures[0].save(buf, format=fmt, **options)
    return buf.getvalue()


_MODE_CASES = [
    *(("JPEG", mode, 1, {}) for mode in ("L", "RGB", "CMYK")),
    *(("PNG", mode, 1, {}) for mode in ("1", "L", "I;16", "LA", "RGB", "RGBA", "P")),
    ("PNG", "L", 1, {"transparency": 5}), ("PNG", "RGB", 1, {"transparency": (1, 2, 3)}),
    ("PNG", "P", 1, {"bits": 4}), ("PNG", "RGB", 2, {}), ("PNG", "RGBA", 3, {}), ("PNG", "RGB", 1, {"save_all": True}),
    *(("GIF", mode, 1, {}) for mode in ("P", "L", "RGB")),
    ("GIF", "P", 1, {"transparency": 0}), ("GIF", "RGB", 3, {}), ("GIF", "RGBA", 2, {}),
    ("GIF", "P", 2, {"transparency": 1}),
    *(("WEBP", mode, frames, options) for mode in ("RGB", "RGBA") for frames, options in
      ((1, {}), (1, {"lossless": True}), (2, {}), (2, {"lossless": True}), (1, {"save_all": True}))),
    *(("BMP", mode, 1, {}) for mode in ("1", "L", "P", "RGB", "RGBA")),
    *(("TIFF", mode, 1, {}) for mode in ("1", "L", "LA", "I;16", "F", "RGB", "RGBA", "P", "CMYK", "LAB", "YCbCr")),
    ("TIFF", "RGB", 1, {"compression": "jpeg"}), ("TIFF", "RGBA", 1, {"compression": "tiff_lzw"}),
]


@pytest.mark.parametrize(("fmt", "mode", "frames", "options"), _MODE_CASES,
                         ids=[f"{f}-{m}-{n}-{'-'.join(o)}" for f, m, n, o in _MODE_CASES])
def test_color_mode_and_animation_agree_with_pillow(fmt, mode, frames, options):
    from PIL import Image

    data = _picture(mode, frames, fmt, **options)
    facts = inspect_bytes(data)
    assert facts.problem is None, facts.problem
    with Image.open(io.BytesIO(data)) as im:
        assert facts.color_mode == _pillow_color_mode(im, fmt), im.mode
        if fmt != "TIFF":  # a TIFF's pages are no animation (Pillow calls them frames too)
            assert facts.animated is getattr(im, "is_animated", False)
        assert facts.animated is (frames > 1 and fmt != "TIFF")


def test_color_mode_of_a_ycck_jpeg():
    from PIL import Image

    data = _saved("jpeg", mode="CMYK")
    assert inspect_bytes(data).color_mode == "cmyk"
    at = data.index(b"Adobe")
    ycck = data[: at + 11] + b"\x02" + data[at + 12 :]  # APP14 transform 2: YCCK
    assert inspect_bytes(ycck).color_mode == "ycck"
    assert Image.open(io.BytesIO(ycck)).mode == "CMYK"  # what libjpeg decodes it to


@pytest.mark.parametrize(("kwargs", "pillow_mode", "color_mode"), [
    ({"bits": 16, "compression": 3, "masks": (0xF800, 0x7E0, 0x1F)}, "RGB", "rgb"),
    ({"bits": 32, "compression": 3, "masks": (0xFF0000, 0xFF00, 0xFF)}, "RGB", "rgb"),
    ({"bits": 32, "compression": 3, "header": 124, "masks": (0xFF, 0xFF00, 0xFF0000, 0xFF000000)}, "RGBA", "rgba"),
    ({"bits": 32, "compression": 3, "header": 124, "masks": (0xFF0000, 0xFF00, 0xFF, 0)}, "RGB", "rgb"),
    ({"bits": 32}, "RGB", "rgb"),
    ({"bits": 8}, "P", "palette"),
])
def test_bmp_color_mode_from_bit_count_and_alpha_mask(kwargs, pillow_mode, color_mode):
    from PIL import Image

    data = _bmp(**kwargs)
    assert inspect_bytes(data).color_mode == color_mode
    assert Image.open(io.BytesIO(data)).mode == pillow_mode


@pytest.mark.parametrize(("extra", "pillow_mode", "color_mode"), [(0, "RGB", "rgb"), (1, "RGBA", "rgba"),
                                                                   (2, "RGBA", "rgba")])
def test_tiff_extra_sample_is_alpha_unless_unspecified(extra, pillow_mode, color_mode):
    from PIL import Image

    data = tiff_with(_picture("RGBA", 1, "TIFF"), 338, extra)
    assert inspect_bytes(data).color_mode == color_mode
    assert Image.open(io.BytesIO(data)).mode == pillow_mode


def test_tiff_pages_are_not_an_animation():
    facts = inspect_bytes(_picture("RGB", 3, "TIFF"))
    assert (facts.frames, facts.animated) == (3, False)


def test_gif_walk_crosses_big_first_frames_in_bounded_reads():
    """A second image after a first one of several 64 KiB windows is found; no read is larger than a window."""
    import random

    from PIL import Image

    rng = random.Random(3)
    pictures = [Image.frombytes("RGB", (400, 300), rng.randbytes(400 * 300 * 3)) for _ in range(2)]
    buf = io.BytesIO()
    pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:], duration=100)
    data = buf.getvalue()
    assert len(data) > 3 * 65536
    reads: list[int] = []

    def read(off, n):
        reads.append(n)
        return data[off : off + n]

    facts = inspect_reader(read, len(data), "big.gif")
    assert (facts.problem, facts.color_mode, facts.animated) == (None, "palette", True)
    assert Image.open(io.BytesIO(data)).is_animated
    assert max(reads) <= 65536
    one = io.BytesIO()
    pictures[0].save(one, format="GIF")
    assert inspect_bytes(one.getvalue()).animated is False


def test_tiny_lossless_webp_is_readable():
    data = _picture("RGB", 1, "WEBP", lossless=True)
    assert len(data) < 12 + 30  # shorter than the bytes a VP8X header needs
    facts = inspect_bytes(data)
    assert (facts.problem, facts.width, facts.color_mode) == (None, 40, "rgb")
    assert _pillow_decodes(data)


def test_image_facts_are_strict_json():
    import json

    for fmt, mode, frames, options in _MODE_CASES:
        facts = inspect_bytes(_picture(mode, frames, fmt, **options))
        assert json.loads(json.dumps(facts._asdict(), allow_nan=False))["color_mode"] == facts.color_mode


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF"])
def test_opaque_palette_is_palette(fmt):
    from PIL import Image

    buf = io.BytesIO()
    picture = Image.new("P", (40, 30), 3)
    picture.putpalette([v for i in range(256) for v in (i, 255 - i, 80)])
    picture.save(buf, format=fmt)
    facts = inspect_bytes(buf.getvalue())
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert (im.mode, "transparency" in im.info) == ("P", False)
    assert facts.color_mode == "palette"
