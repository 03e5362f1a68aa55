"""Oracle: the inspector's image facts against Pillow, and against ffmpeg's decode where Pillow cannot
decode a file (issue 8).

Runs ``inspect_path`` on every file of Pillow's own test corpus (``Tests/images`` of the pinned sdist:
every format Pillow reads, and many files broken on purpose) and on a grid generated here with Pillow
and by hand: every accepted format in its modes (JPEG baseline/progressive/CMYK/grey/12-bit/
arithmetic/lossless, PNG palette/alpha/16-bit/interlaced, WebP lossy/lossless/alpha/animated, BMP in
every header, bit count and compression, TIFF in every compression Pillow writes, GIF static and
animated) × EXIF orientations 1–8 × sizes either side of the image-side rule (300–6000 px) ×
trailing bytes × cut short, plus the variants no decoder reads (a BMP holding a JPEG, a TIFF compressed
with WebP, a hierarchical JPEG, PNG headers the spec forbids…).

What must agree (:func:`disagreements`):

- formats the API accepts (JPEG, PNG, WebP, BMP, TIFF, GIF): the format and the stored size are
  Pillow's (Pillow turns a TIFF's size for orientations 5–8; the inspector reports stored pixels);
- a file Pillow fully decodes (``load()``, truncated images not tolerated) never gets ``problem``;
- a file Pillow cannot open or decode gets ``problem`` unless ffmpeg decodes a frame of it; then
  either verdict stands in the corpus (``strict`` in the grid: no problem, except for files cut
  short, whose missing rows ffmpeg conceals). The files where that happens: BMPs with a bad palette
  size and 16-bit 4-4-4 bit fields, a tiled JPEG TIFF with an out-of-range tile, two TIFFs whose pixel
  layout Pillow does not know, a PNG whose text chunks exceed Pillow's own decompression limit,
  JPEGs of 1–16-bit samples other than 8 (all readable for the inspector), and JPEGs cut before
  their end marker (a problem: ffmpeg fills the missing rows with grey, Pillow and libjpeg stop);
- where one reference reads a file and the other does not, the inspector says so in ``unjudged``
  (test_what_one_decoder_reads_is_unjudged_not_a_problem); an animation cut after its first frame is
  readable (Pillow's ``load()`` decodes that frame, ffmpeg the frames before the cut) and unjudged;
- PNG headers the PNG standard forbids (IHDR compression/filter/interlace methods, bit depth and colour
  type combinations) are problems as libpng says, whatever Pillow and ffmpeg do by accident
  (:data:`LIBPNG_REFUSES`);
- rotation: the EXIF orientation where decoders look for it (JPEG's first EXIF APP1, PNG ``eXIf``,
  WebP ``EXIF``, TIFF tag 274). Pillow's ``getexif`` also reads XMP ``tiff:Orientation`` and
  ImageMagick's "Raw profile type exif" text in PNGs (``xmp_tags_orientation*.png``,
  ``exif_imagemagick_orientation.png``); libvips, ffmpeg and browsers do not, nor does the inspector;
- other formats: no exception; kind ``image``, or None with a ``problem`` for the formats the
  inspector does not know (GRIB, IM, MSP, SPIDER… all rejected by the API anyway); FLIC and AVIF
  sequences may be ``video``, as ffmpeg and libmediainfo call them; and the format Pillow names
  where the inspector names one.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from media import tiff_with
from oracles import corpus, decode

from prep.inspect import inspect_path

ACCEPTED = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff",
            "GIF": "gif"}
# Pillow's names of formats the API rejects → the inspector's (where it names them at all).
OTHER_NAMES = {"JPEG2000": "jpeg2000", "DDS": "dds", "PSD": "psd", "FLI": "flic", "ICO": "ico", "CUR": "cur",
               "PPM": "ppm", "PCX": "pcx", "AVIF": "avif", "TGA": "tga"}
ANIMATIONS = {"FLI"}  # kind video, as ffmpeg and libmediainfo see them
# Pillow's TGA reader has no magic number and accepts almost any bytes (pillow.ico opens as a TGA).
WEAK_SNIFF = {"TGA"}
EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}


class Reference(NamedTuple):
    format: str | None
    size: tuple[int, int] | None  # stored pixels, before any orientation
    decodes: bool
    error: str | None
    orientation: int
    frames: int = 1


def pillow(path: Path) -> Reference:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = Image.open(path)
        except Exception as exc:  # noqa: BLE001  (any failure to open is the verdict)
            return Reference(None, None, False, f"open: {type(exc).__name__}: {exc}", 1)
        with im:
            fmt, size = im.format, im.size
            try:
                frames = getattr(im, "n_frames", 1)
            except Exception:  # noqa: BLE001  (a damaged frame index: one frame)
                frames = 1
            tiff_orientation = 1
            if fmt == "TIFF":  # Pillow 13 turns ``size`` for orientations 5–8: take the stored size
                tiff_orientation = int(im.tag_v2.get(274, 1))  # before load(), which may drop the tag
                size = (int(im.tag_v2.get(256, size[0])), int(im.tag_v2.get(257, size[1])))
            try:
                im.load()
            except Exception as exc:  # noqa: BLE001
                return Reference(fmt, size, False, f"load: {type(exc).__name__}: {exc}", 1, frames)
            orientation = 1
            try:
                if fmt == "TIFF":
                    orientation = tiff_orientation
                elif im.info.get("exif"):
                    exif = Image.Exif()
                    exif.load(im.info["exif"])
                    orientation = int(exif.get(0x0112, 1))
            except Exception:  # noqa: BLE001  (a damaged EXIF block: no orientation)
                orientation = 1
    return Reference(fmt, size, True, None, orientation, frames)


@functools.cache
def ffmpeg_reads(path: Path) -> bool:
    result = decode(path, "v", timeout=30)
    return bool(result and result["frames"])


# PNG headers the spec forbids: libpng (libvips, browsers) and Go's image/png refuse them all, so the
# inspector does; Pillow ignores the IHDR compression byte and ffmpeg decodes a few invalid bit
# depths by accident. Their readability is not compared with those two (test_inspect_images.py pins it).
LIBPNG_REFUSES = {"png-ihdr-compression1", "png-ihdr-filter1", "png-ihdr-interlace2", "png-ihdr-rgb4bit",
                  "png-ihdr-grey1-colour1", "png-ihdr-rgba2bit"}


def disagreements(path: Path, strict: bool = False) -> list[str]:
    """What the inspector says of ``path`` that the references contradict (empty: they agree).
    ``strict``: a file is a problem exactly when neither Pillow nor ffmpeg decodes it (the grid's
    files are whole or broken on purpose; the corpus holds files ffmpeg conceals damage in)."""
    facts = inspect_path(path)  # must not raise
    ref = pillow(path)
    ours = (facts.format, facts.width, facts.height, facts.problem)
    found = []
    if facts.format in ACCEPTED.values() or ref.format in ACCEPTED:
        if ref.format and ACCEPTED.get(ref.format) != facts.format:
            found.append(f"format {facts.format}, Pillow {ref.format}")
        elif ref.size and facts.problem is None and (facts.width, facts.height) != ref.size:
            found.append(f"size {facts.width}×{facts.height}, Pillow {ref.size[0]}×{ref.size[1]}")
        if path.name in LIBPNG_REFUSES:
            if not facts.problem:
                found.append("no problem, but libpng refuses this header")
            return [f"{path.name}: {d} (inspector {ours})" for d in found]
        if ref.decodes and facts.problem:
            found.append(f"problem {facts.problem!r}, but Pillow decodes it")
        if not ref.decodes and not facts.problem and not ffmpeg_reads(path):
            found.append(f"no problem, but neither Pillow ({ref.error}) nor ffmpeg decodes it")
        if strict and not ref.decodes and facts.problem and ffmpeg_reads(path):
            found.append(f"problem {facts.problem!r}, but ffmpeg decodes it")
        if ref.decodes and facts.problem is None and facts.rotation != EXIF_ROTATION.get(ref.orientation, 0):
            found.append(f"rotation {facts.rotation}, EXIF orientation {ref.orientation}")
    else:
        animation = ref.format in ANIMATIONS or ref.frames > 1
        if ref.format and facts.kind not in ("image", None) and not (animation and facts.kind == "video"):
            found.append(f"kind {facts.kind} for a {ref.format} image")
        if facts.kind is None and not facts.problem:
            found.append("no kind and no problem")
        named = ref.format in OTHER_NAMES and ref.format not in WEAK_SNIFF
        if named and facts.format and facts.format != OTHER_NAMES[ref.format]:
            found.append(f"format {facts.format}, Pillow {ref.format}")
    return [f"{path.name}: {d} (inspector {ours})" for d in found]


# --------------------------------------------------------------------------------------------------
# Pillow's corpus


def corpus_files() -> list[str]:
    try:
        folder = corpus("pillow")
    except Exception:  # noqa: BLE001  (no index reachable: the test reports it)
        return ["<corpus unavailable>"]
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# Disagreements that belong to code outside this module's reach, each with its reason (none today;
# a strict xfail fails once the disagreement is gone, so the list stays true).
KNOWN: dict[str, str] = {}


def corpus_case(name: str):
    if name in KNOWN:
        return pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN[name], strict=True))
    return name


@pytest.mark.parametrize("name", [corpus_case(n) for n in corpus_files()])
def test_pillow_corpus(name):
    assert name != "<corpus unavailable>", "the Pillow sdist could not be downloaded"
    assert disagreements(corpus("pillow") / name) == []


def test_the_corpus_holds_what_this_module_expects():
    names = set(corpus_files())
    assert len(names) > 1000
    for name in ("hopper_webp.tif", "bmp/q/rgb24jpeg.bmp", "bmp/q/rgb24png.bmp", "unknown_compression_method.png",
                 "hopper_orientation_6.webp", "bmp/g/rgb32bf.bmp", "bmp/q/pal2.bmp", "truncated_end_chunk.png"):
        assert name in names


# --------------------------------------------------------------------------------------------------
# Hand-built bytes: the variants Pillow does not write


def jpeg_bytes(*, precision: int = 8, sof: int = 0xC0, width: int = 8, height: int = 8) -> bytes:
    """A grey JPEG of flat 8×8 blocks: DC difference 0 and end-of-block in every block (Huffman), an
    empty scan (arithmetic coding, SOF9), or all-zero differences (lossless, SOF3)."""

    def seg(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    frame = seg(sof, struct.pack(">BHHB", precision, height, width, 1) + b"\x01\x11\x00")
    one_code = bytes([1] + [0] * 15) + b"\x00"  # one symbol (0) of code length 1
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    if sof == 0xC3:
        tables, scan = seg(0xC4, b"\x00" + one_code), seg(0xDA, b"\x01\x01\x00\x01\x00\x00")
        data = bytes((width * height + 7) // 8)
    elif sof in (0xC9, 0xCA, 0xCB):
        tables, scan, data = seg(0xCC, b"\x00\x10\x10\x05"), seg(0xDA, b"\x01\x01\x00\x00\x3f\x00"), b""
    else:
        tables, scan = seg(0xC4, b"\x00" + one_code + b"\x10" + one_code), seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        bits = "00" * blocks
        bits += "1" * (-len(bits) % 8)
        data = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    return b"\xff\xd8" + seg(0xDB, b"\x00" + b"\x01" * 64) + frame + tables + scan + data + b"\xff\xd9"


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def interlaced_png(width: int, height: int, colour: int = 2, depth: int = 8) -> bytes:
    """An Adam7-interlaced PNG (Pillow does not write them): each pass's rows of a flat colour."""
    samples = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w > 0 and h > 0:
            raw += (b"\x00" + bytes([90]) * ((w * samples * depth + 7) // 8)) * h
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def png_with_header(fields: tuple[int, ...], size: tuple[int, int] = (4, 3)) -> bytes:
    """A PNG of zero pixels whose IHDR has these (bit depth, colour type, compression, filter,
    interlace) fields, valid or not."""
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(fields[1], 3)
    raw = (b"\x00" + bytes((size[0] * fields[0] * samples + 7) // 8)) * size[1]
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">II", *size) + bytes(fields))
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def bmp_bytes(*, width: int = 6, height: int = 4, bits: int = 24, compression: int = 0, header: int = 40,
              masks: tuple[int, ...] | None = None, payload: bytes | None = None) -> bytes:
    """A BMP with any header size, bit count, compression and bit-field masks. A negative ``height``
    is a top-down picture; ``payload`` replaces the pixel data (a JPEG or PNG for compression 4/5)."""
    rows = abs(height)
    palette = b""
    if bits <= 8:
        entry = 3 if header == 12 else 4
        palette = b"".join(bytes([i * 40 % 256, 80, 160, 0][:entry]) for i in range(1 << bits))
    if payload is not None:
        pixels = payload
    elif compression == 1:  # RLE8: one run per row, end of line, end of bitmap
        pixels = (bytes([width, 1, 0, 0]) * rows) + b"\x00\x01"
    elif compression == 2:  # RLE4
        pixels = (bytes([width, 0x12, 0, 0]) * rows) + b"\x00\x01"
    else:
        stride = (width * bits + 31) // 32 * 4
        pixels = bytes((i * 7) % 256 for i in range(stride * rows))
    if header == 12:
        info = struct.pack("<IHHHH", 12, width, rows, 1, bits)
    elif header == 16:
        info = struct.pack("<IiiHH", 16, width, height, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", header, width, height, 1, bits, compression, len(pixels), 2835, 2835,
                           0, 0)
        extra = b""
        if masks is not None and header == 40:
            extra = struct.pack("<III", *masks[:3])  # the three masks follow a 40-byte header
        elif header > 40:
            fields = list(masks or ()) + [0] * 4
            info += struct.pack("<IIII", *fields[:4])[: header - 40]
        info = (info + bytes(header))[:header] + extra
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def saved(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", *, frames: int = 1,
          orientation: int | None = None, **options) -> bytes:
    from PIL import Image

    if size[0] * size[1] <= 100_000:  # detail, so each frame and codec has real data to code
        base = Image.frombytes("RGB", size, random.Random(size[0] * 7919 + size[1]).randbytes(size[0] * size[1] * 3))
    else:  # a gradient: large sizes are about the header, and noise costs seconds to quantise and code
        base = Image.linear_gradient("L").resize(size).convert("RGB")
    pictures = [(base if i == 0 else base.rotate(90 * i)).convert(mode) for i in range(frames)]
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    if frames > 1:
        options.update(save_all=True, append_images=pictures[1:], duration=100, loop=0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pictures[0].save(buf, format=fmt.upper(), **options)
    return buf.getvalue()


def grid() -> dict[str, Callable[[], bytes]]:
    g: dict[str, Callable[[], bytes]] = {}
    # JPEG: modes and codings
    for name, mode, opts in [("baseline", "RGB", {}), ("progressive", "RGB", {"progressive": True}),
                             ("cmyk", "CMYK", {}), ("grey", "L", {}), ("444", "RGB", {"subsampling": 0}),
                             ("optimized", "RGB", {"optimize": True})]:
        g[f"jpeg-{name}"] = functools.partial(saved, "jpeg", mode=mode, **opts)
    for name, kwargs in [("12bit-sof1", {"precision": 12, "sof": 0xC1}), ("12bit-sof0", {"precision": 12}),
                         ("arithmetic-sof9", {"sof": 0xC9}), ("lossless-sof3", {"sof": 0xC3}),
                         ("lossless12-sof3", {"sof": 0xC3, "precision": 12}), ("extended-sof1", {"sof": 0xC1}),
                         ("hierarchical-sof5", {"sof": 0xC5}), ("hierarchical-sof13", {"sof": 0xCD}),
                         ("precision0", {"precision": 0}), ("precision1", {"precision": 1}), ("precision17", {"precision": 17}),
                         ("precision10", {"precision": 10}),
                         ("precision16", {"precision": 16}), ("lossless16-sof3", {"sof": 0xC3, "precision": 16}),
                         ("lossless4-sof3", {"sof": 0xC3, "precision": 4}), ("height0", {"height": 0}),
                         ("width0", {"width": 0})]:
        g[f"jpeg-{name}"] = functools.partial(jpeg_bytes, **kwargs)
    # PNG: modes, interlacing, animation
    for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        g[f"png-{mode.replace(';', '')}"] = functools.partial(saved, "png", mode=mode)
    g["png-P-transparency"] = functools.partial(saved, "png", mode="P", transparency=0)
    g["png-animated"] = functools.partial(saved, "png", frames=3)
    g["png-no-iend"] = lambda: saved("png")[:-12]
    g["png-iend-cut"] = lambda: saved("png")[:-6]
    g["png-interlaced-rgb"] = functools.partial(interlaced_png, 37, 21)
    g["png-interlaced-rgba16"] = functools.partial(interlaced_png, 5, 3, colour=6, depth=16)
    g["png-interlaced-grey1"] = functools.partial(interlaced_png, 9, 9, colour=0, depth=1)
    for name, fields in [("compression1", (8, 2, 1, 0, 0)), ("filter1", (8, 2, 0, 1, 0)),
                         ("interlace2", (8, 2, 0, 0, 2)), ("rgb4bit", (4, 2, 0, 0, 0)),
                         ("grey1-colour1", (1, 1, 0, 0, 0)), ("rgba2bit", (2, 6, 0, 0, 0)),
                         ("palette16bit", (16, 3, 0, 0, 0)), ("colour5", (8, 5, 0, 0, 0)), ("depth3", (3, 0, 0, 0, 0))]:
        g[f"png-ihdr-{name}"] = functools.partial(png_with_header, fields)
    # WebP
    g["webp-lossy"] = functools.partial(saved, "webp")
    g["webp-lossless"] = functools.partial(saved, "webp", lossless=True)
    g["webp-alpha"] = functools.partial(saved, "webp", mode="RGBA")
    g["webp-alpha-lossless"] = functools.partial(saved, "webp", mode="RGBA", lossless=True)
    g["webp-animated"] = functools.partial(saved, "webp", frames=3)
    # GIF
    g["gif-static"] = functools.partial(saved, "gif")
    g["gif-animated"] = functools.partial(saved, "gif", frames=3)
    g["gif-grey"] = functools.partial(saved, "gif", mode="L")
    # BMP: every header, bit count and compression, by hand (Pillow writes only 1/8/24/32-bit)
    for mode in ("1", "L", "P", "RGB", "RGBA"):
        g[f"bmp-pillow-{mode}"] = functools.partial(saved, "bmp", mode=mode)
    for bits in (1, 4, 8, 16, 24, 32):
        for header in (12, 40, 52, 56, 64, 108, 124):
            g[f"bmp-{bits}bit-h{header}"] = functools.partial(bmp_bytes, bits=bits, header=header)
        g[f"bmp-{bits}bit-topdown"] = functools.partial(bmp_bytes, bits=bits, height=-4)
    g["bmp-rle8"] = functools.partial(bmp_bytes, bits=8, compression=1)
    g["bmp-rle4"] = functools.partial(bmp_bytes, bits=4, compression=2)
    g["bmp-rle8-24bit"] = functools.partial(bmp_bytes, bits=24, compression=1)
    g["bmp-rle4-8bit"] = functools.partial(bmp_bytes, bits=8, compression=2)
    g["bmp-rle8-4bit"] = functools.partial(bmp_bytes, bits=4, compression=1)
    g["bmp-rle8-topdown"] = functools.partial(bmp_bytes, bits=8, compression=1, height=-4)
    for name, bits, header, masks in [
        ("565", 16, 40, (0xF800, 0x7E0, 0x1F)), ("555", 16, 40, (0x7C00, 0x3E0, 0x1F)),
        ("444", 16, 40, (0xF00, 0xF0, 0xF)), ("4444", 16, 56, (0xF00, 0xF0, 0xF, 0xF000)),
        ("231", 16, 40, (0x30, 0xE, 0x1)), ("bgrx", 32, 40, (0xFF0000, 0xFF00, 0xFF)),
        ("xbgr", 32, 40, (0xFF000000, 0xFF0000, 0xFF00)), ("bgra-v5", 32, 124, (0xFF0000, 0xFF00, 0xFF, 0xFF000000)),
        ("rgba-v4", 32, 108, (0xFF, 0xFF00, 0xFF0000, 0xFF000000)), ("101010", 32, 40, (0x3FF00000, 0xFFC00, 0x3FF)),
        ("bgr24", 24, 40, (0xFF0000, 0xFF00, 0xFF)), ("rgb24", 24, 40, (0xFF, 0xFF00, 0xFF0000)),
        ("8bit", 8, 40, (0xE0, 0x1C, 0x3)),
    ]:
        g[f"bmp-bitfields-{name}"] = functools.partial(bmp_bytes, bits=bits, header=header, compression=3, masks=masks)
    g["bmp-2bit"] = functools.partial(bmp_bytes, bits=2)
    g["bmp-header16"] = functools.partial(bmp_bytes, header=16)
    g["bmp-jpeg"] = lambda: bmp_bytes(bits=0, compression=4, payload=saved("jpeg", (6, 4)))
    g["bmp-png"] = lambda: bmp_bytes(bits=0, compression=5, payload=saved("png", (6, 4)))
    g["bmp-alphabitfields"] = functools.partial(bmp_bytes, bits=32, compression=6, header=56,
                                                masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))
    g["bmp-negative-width"] = functools.partial(bmp_bytes, width=-6)
    g["bmp-zero-height"] = functools.partial(bmp_bytes, height=0)
    # TIFF: every compression Pillow writes, and codecs no decoder here reads
    for comp in ("raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits", "jpeg", "lzma", "zstd"):
        g[f"tiff-{comp}"] = functools.partial(saved, "tiff", compression=comp)
    for comp in ("group3", "group4", "tiff_ccitt"):
        g[f"tiff-{comp}"] = functools.partial(saved, "tiff", mode="1", compression=comp)
    g["tiff-16bit"] = functools.partial(saved, "tiff", mode="I;16")
    g["tiff-cmyk"] = functools.partial(saved, "tiff", mode="CMYK")
    g["tiff-multipage"] = functools.partial(saved, "tiff", frames=3)
    g["tiff-strips"] = functools.partial(saved, "tiff", (64, 48), strip_size=1024)
    g["tiff-samples9"] = lambda: tiff_with(saved("tiff"), 277, 9)
    g["tiff-bits0"] = lambda: tiff_with(saved("tiff", mode="L"), 258, 0)
    # 12-bit samples claimed over 8-bit rows: the strip is a third short of its rows, a cut file to
    # Pillow and libtiff (ffmpeg decodes what the byte count holds)
    g["tiff-bits12-cut"] = lambda: tiff_with(saved("tiff", mode="L"), 258, 12)
    g["tiff-width0"] = lambda: tiff_with(saved("tiff"), 256, 0)
    g["tiff-bogus-bytecount"] = lambda: tiff_with(saved("tiff"), 279, 1 << 30)
    for code in (50001, 50002, 34887, 34712, 52546):
        g[f"tiff-compression{code}"] = lambda code=code: tiff_with(saved("tiff"), 259, code)
    # EXIF orientations 1–8
    for orientation in range(1, 9):
        for fmt in ("jpeg", "png", "webp", "tiff"):
            g[f"{fmt}-orientation{orientation}"] = functools.partial(saved, fmt, (40, 24), orientation=orientation)
    # sizes either side of the image-side limits (300–6000 px)
    for size in ((299, 300), (300, 299), (300, 300), (6000, 300), (6001, 300), (300, 6001)):
        for fmt in ("jpeg", "png", "webp", "bmp", "tiff", "gif"):
            if fmt == "webp" and max(size) > 16383:
                continue
            g[f"{fmt}-{size[0]}x{size[1]}"] = functools.partial(saved, fmt, size)
    # cut short: every decoder fails or conceals the loss (ffmpeg fills a cut JPEG with grey), so these
    # are compared without ``strict``
    for base in ("jpeg-baseline", "jpeg-progressive", "png-RGB", "png-animated", "webp-lossy", "webp-animated",
                 "bmp-pillow-RGB", "tiff-raw", "tiff-tiff_lzw", "gif-animated"):
        for keep in (0.5, 0.9):
            g[f"{base}-cut{int(keep * 100)}"] = lambda base=base, keep=keep: g[base]()[: int(len(g[base]()) * keep)]
    # trailing bytes
    for fmt in ("jpeg", "png", "webp", "bmp", "tiff", "gif"):
        g[f"{fmt}-trailing-zeros"] = lambda fmt=fmt: saved(fmt) + bytes(1000)
        g[f"{fmt}-trailing-junk"] = lambda fmt=fmt: saved(fmt) + b"not part of the image" * 10
    return g


GRID = grid()


@pytest.fixture(scope="session")
def grid_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("image-grid")
    for name, make in GRID.items():
        (folder / name).write_bytes(make())
    return folder


@pytest.mark.parametrize("name", list(GRID))
def test_generated(grid_folder, name):
    assert disagreements(grid_folder / name, strict="-cut" not in name) == []


# The verdicts the grid must reach (beyond agreeing with the references): these pin each rule, so a
# reference library that changes its mind shows up here, not as a silent change of verdict.
UNREADABLE = ["jpeg-hierarchical-sof5", "jpeg-hierarchical-sof13", "jpeg-precision0", "jpeg-width0", "bmp-2bit",
              "bmp-header16", "bmp-jpeg", "bmp-png", "bmp-alphabitfields", "bmp-bitfields-231",
              "bmp-bitfields-101010", "bmp-negative-width", "bmp-zero-height", "tiff-compression50001",
              "tiff-compression50002", "tiff-compression34887", "tiff-compression34712", "tiff-compression52546",
              "png-ihdr-palette16bit", "png-ihdr-colour5", "png-ihdr-depth3"]
ONE_DECODER = ["jpeg-12bit-sof1", "jpeg-12bit-sof0", "jpeg-arithmetic-sof9", "jpeg-lossless12-sof3", "png-iend-cut"]


@pytest.mark.parametrize("name", UNREADABLE)
def test_what_no_decoder_reads_is_a_problem(grid_folder, name):
    path = grid_folder / name
    assert inspect_path(path).problem
    assert not pillow(path).decodes and not ffmpeg_reads(path)


@pytest.mark.parametrize("name", ONE_DECODER)
def test_what_one_decoder_reads_is_unjudged_not_a_problem(grid_folder, name):
    path = grid_folder / name
    facts = inspect_path(path)
    assert facts.problem is None and facts.unjudged
    assert pillow(path).decodes != ffmpeg_reads(path)


def test_the_grid_covers_every_accepted_format_and_orientation():
    formats = {name.split("-")[0] for name in GRID}
    assert formats == {"jpeg", "png", "webp", "bmp", "tiff", "gif"}
    assert sum(name.endswith("orientation6") for name in GRID) == 4
