"""Image headers: JPEG, PNG, GIF, WebP and BMP (TIFF is in :mod:`.tiff`).

What "readable" means here: a file that Pillow (libjpeg-turbo, zlib, libtiff) or ffmpeg decodes is not
a ``problem``; a file neither decodes is, even when its header looks sane (a BMP that holds a JPEG, a
TIFF compressed with WebP, a hierarchical JPEG). Where the two disagree (an arithmetic-coded or 12-bit
JPEG, a PNG without its IEND chunk) the file is readable and ``unjudged`` says which decoder would
fail. tests/oracle/test_oracle_images.py holds these verdicts against both, file by file.

Every read is bounded: a segment or chunk is read only up to what its header fields need (EXIF is
read up to 64 KiB), and chunk walks stop after a fixed number of steps.

``color_mode`` is what the header says the pixels are (JPEG components and Adobe transform, PNG colour type
and tRNS, GIF palette and transparency, WebP alpha flag or hint, BMP bit count and alpha mask, TIFF
photometric interpretation and samples); ``animated`` says a GIF has a second image, an APNG's acTL more
than one frame, a WebP a second ANMF frame. tests/test_inspect_images.py holds both to Pillow's ``mode``,
``info["transparency"]`` and ``is_animated``.
"""

from __future__ import annotations

import struct
import zlib

from prep.model import MediaFacts

from ._base import _Corrupt, _facts, _fourcc, _Source, _u16be, _u16le, _u32be, _u32le
from .riff import _check_riff_size

# --------------------------------------------------------------------------------------------------
# Shared


_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
_EXIF_READ = 64 * 1024  # the orientation tag sits in the first IFD, near the start of the EXIF block


def _image(src: _Source, kind: str, fmt: str, width: int, height: int, **fields) -> MediaFacts:
    if width <= 0 or height <= 0:
        raise _Corrupt(f"{fmt.upper()} header gives a size of {width}×{height} pixels")
    return _facts(src, kind, fmt, width=width, height=height, **fields)


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag (1–8) of an EXIF block (a TIFF header and its first IFD), else 1."""
    if tiff[:6] == b"Exif\x00\x00":
        tiff = tiff[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    e = "<" if tiff[:2] == b"II" else ">"
    ifd = struct.unpack_from(e + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return 1
    count = struct.unpack_from(e + "H", tiff, ifd)[0]
    for i in range(min(count, 512)):
        p = ifd + 2 + 12 * i
        if p + 12 > len(tiff):
            break
        tag, typ = struct.unpack_from(e + "HH", tiff, p)
        if tag == 0x0112:
            if typ == 3:  # SHORT, as the standard says
                return struct.unpack_from(e + "H", tiff, p + 8)[0]
            return struct.unpack_from(e + "I", tiff, p + 8)[0] if typ == 4 else 1
    return 1


def _rotation(exif: bytes) -> int:
    return _EXIF_ROTATION.get(_exif_orientation(exif), 0)


# --------------------------------------------------------------------------------------------------
# JPEG

# Start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SOF_HIERARCHICAL = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF}  # libjpeg and ffmpeg decode none of them
_SOF_ARITHMETIC = {0xC9, 0xCA, 0xCB}  # libjpeg-turbo (Pillow, libvips) decodes them; ffmpeg does not
_SOF_LOSSLESS = {0xC3, 0xCB}
_JPEG_SEGMENTS = 100_000  # markers and fill bytes before the first scan (real files have a few dozen)


def _jpeg(src: _Source, kind: str, fmt: str) -> MediaFacts:
    off, frame, rotation, scan, exif_seen, adobe = 2, None, 0, None, False, None
    for _ in range(_JPEG_SEGMENTS):
        if off >= src.size:
            break
        marker = src.exact(off, 4, "JPEG marker")
        if marker[0] != 0xFF:
            # Stray bytes between segments are common and harmless (decoders skip them).
            skip = src.at(off, 256).find(b"\xff")
            if skip < 0:
                raise _Corrupt(f"JPEG marker expected at byte {off}")
            off += skip
            continue
        code = marker[1]
        if code == 0xFF:  # fill byte
            off += 1
            continue
        if code in (0x01,) or 0xD0 <= code <= 0xD7:
            off += 2
            continue
        if code == 0xD9:
            break
        length = _u16be(marker, 2)
        if code == 0xE1 and not exif_seen:
            # Decoders take the first EXIF segment; other APP1 segments (XMP) may come before it.
            seg = src.exact(off + 4, length - 2, "JPEG EXIF segment")
            if seg[:6] == b"Exif\x00\x00":
                exif_seen, rotation = True, _rotation(seg[6:])
        elif code == 0xEE and length >= 14:  # APP14 "Adobe": its transform says how 3 or 4 components are coded
            seg = src.exact(off + 4, 12, "JPEG Adobe segment")
            if seg[:5] == b"Adobe":
                adobe = seg[11]  # libjpeg keeps the last one it sees
        elif code in _SOF and frame is None:
            sof = src.exact(off + 4, 6, "JPEG frame header")
            frame = (code, sof[0], _u16be(sof, 3), _u16be(sof, 1), sof[5])  # marker, precision, size, components
        elif code == 0xDA:
            scan = off
            break
        off += 2 + length
    else:
        raise _Corrupt(f"JPEG has more than {_JPEG_SEGMENTS} markers before its image data")
    if frame is None or scan is None:
        raise _Corrupt("JPEG has no frame header or no image data (truncated?)")
    code, precision, width, height, components = frame
    unjudged = _jpeg_frame_verdict(code, precision)
    if not _jpeg_ends(src, scan):
        raise _Corrupt("JPEG has no end-of-image marker (truncated)")
    return _image(src, kind, fmt, width, height, rotation=rotation, unjudged=unjudged,
                  color_mode=_jpeg_color_mode(components, adobe))


def _jpeg_color_mode(components: int, adobe: int | None) -> str | None:
    """libjpeg's reading (jdapimin.c): 1 component is grey, 3 are RGB (YCbCr or not: decoded to RGB), 4 are
    CMYK, or YCCK when an Adobe segment gives a transform other than 0."""
    if components == 4:
        return "ycck" if adobe else "cmyk"
    return {1: "gray", 3: "rgb"}.get(components)


def _jpeg_frame_verdict(code: int, precision: int) -> str | None:
    """None for a frame every decoder reads, a note when only some do; raises when none does."""
    if code in _SOF_HIERARCHICAL:
        raise _Corrupt(f"hierarchical JPEG (SOF{code - 0xC0}): neither libjpeg (Pillow) nor ffmpeg decodes it")
    if not 1 <= precision <= 16:  # ffmpeg reads 1–16 bits, Pillow 8
        raise _Corrupt(f"JPEG frame has a sample precision of {precision} bits")
    notes = []
    if code == 0xCB:
        notes.append("lossless arithmetic-coded JPEG (SOF11): ffmpeg does not decode it, and few libjpeg builds do")
    elif code in _SOF_ARITHMETIC:
        notes.append(f"arithmetic-coded JPEG (SOF{code - 0xC0}): libjpeg-turbo (Pillow, libvips) decodes it, "
                     "ffmpeg does not")
    if precision != 8:
        notes.append(f"{precision}-bit JPEG: ffmpeg decodes it, Pillow and 8-bit libjpeg builds do not")
    return "; ".join(notes) or None


def _jpeg_ends(src: _Source, scan: int) -> bool:
    tail = src.at(max(scan, src.size - 4096), 4096).rstrip(b"\x00\xff\r\n\t ")
    if tail.endswith(b"\xff\xd9"):
        return True
    # Data appended after the image (motion photos, vendor trailers): look for the end marker
    # anywhere after the first scan; entropy-coded data never contains FF D9.
    pos, chunk = scan, 1 << 20
    while pos < src.size:
        block = src.at(pos, chunk + 1)
        if b"\xff\xd9" in block:
            return True
        pos += chunk
    return False


# --------------------------------------------------------------------------------------------------
# PNG

# Bit depths allowed for each colour type (PNG spec, 11.2.2 IHDR) and samples per pixel.
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_MODES = {0: "gray", 2: "rgb", 3: "palette", 4: "graya", 6: "rgba"}
_PNG_MODES_TRNS = {0: "graya", 2: "rgba", 3: "palette+alpha"}  # a tRNS chunk gives a transparent colour
_PNG_CHUNKS = 1 << 16  # chunk headers walked when the IEND chunk is not in the last 4 KiB
_PNG_INFLATE_MAX = 512 << 20  # raw image bytes inflated, at most, to tell a complete image from a cut one


def _png(src: _Source, kind: str, fmt: str) -> MediaFacts:
    ihdr = src.exact(8, 25, "PNG header")
    if ihdr[4:8] != b"IHDR":
        raise _Corrupt("PNG does not start with an IHDR chunk")
    width, height = _u32be(ihdr, 8), _u32be(ihdr, 12)
    depth, colour, compression, filtering, interlace = ihdr[16:21]
    # Header fields the spec forbids: libpng (libvips, browsers) refuses them all. Pillow ignores the
    # compression byte and ffmpeg decodes a few invalid bit depths, by accident (test_inspect_images).
    if depth not in _PNG_DEPTHS.get(colour, ()):
        raise _Corrupt(f"PNG colour type {colour} with bit depth {depth} is not a valid combination")
    if compression or filtering or interlace > 1:
        raise _Corrupt(f"PNG header gives compression method {compression}, filter method {filtering}, "
                       f"interlace method {interlace}; the PNG standard (and libpng) knows only 0, 0 and 0–1")
    if width > 0x7FFFFFFF or height > 0x7FFFFFFF:
        raise _Corrupt(f"PNG header gives a size of {width}×{height} pixels (at most 2^31-1 each)")
    rotation, frames, frame_control, trns = 0, None, False, False
    off = 8
    for _ in range(256):  # chunks before the image data: acTL (animation), fcTL, eXIf, iCCP
        hdr = src.at(off, 8)
        if len(hdr) < 8:
            break
        length, ctype = _u32be(hdr, 0), hdr[4:8]
        if ctype == b"IDAT":
            break
        if ctype == b"IEND":
            raise _Corrupt("PNG has no image data (no IDAT chunk before IEND)")
        if ctype == b"acTL":
            frames = _u32be(src.exact(off + 8, 4, "PNG acTL chunk"), 0) or None
        elif ctype == b"fcTL":
            frame_control = True
        elif ctype == b"tRNS":
            trns = True
        elif ctype == b"eXIf":
            rotation = _rotation(src.exact(off + 8, min(length, _EXIF_READ), "PNG eXIf chunk"))
        elif ctype == b"iCCP":
            body = src.exact(off + 8, min(length, 81), "PNG iCCP chunk")
            name_end = body.find(b"\x00")
            if 0 <= name_end < len(body) - 1 and body[name_end + 1]:
                raise _Corrupt(f"PNG colour profile (iCCP) has compression method {body[name_end + 1]}; "
                               "Pillow and ffmpeg refuse it")
        off += 12 + length
    if frames and not frame_control:
        _apng_first_frame(src, off)
    unjudged = None
    if b"IEND" not in src.at(max(0, src.size - 4096), 4096):
        unjudged = _png_without_iend(src, off, width, height, depth, colour, interlace == 1, bool(frames))
    color_mode = (_PNG_MODES_TRNS if trns and colour in _PNG_MODES_TRNS else _PNG_MODES)[colour]
    return _image(src, kind, fmt, width, height, rotation=rotation, frames=frames, unjudged=unjudged,
                  color_mode=color_mode, animated=bool(frames and frames > 1))


def _apng_first_frame(src: _Source, off: int) -> None:
    """An animation whose default image is not a frame starts with a frame control chunk (fcTL)
    after the image data; frame data (fdAT) without one is refused by Pillow and ffmpeg."""
    for _ in range(_PNG_CHUNKS):
        hdr = src.at(off, 8)
        if len(hdr) < 8 or hdr[4:8] in (b"fcTL", b"IEND"):
            return
        if hdr[4:8] == b"fdAT":
            raise _Corrupt("APNG frame data (fdAT) comes before any frame control chunk (fcTL)")
        off += 12 + _u32be(hdr, 0)


def _png_without_iend(src: _Source, off: int, width: int, height: int, depth: int, colour: int,
                      interlaced: bool, animated: bool) -> str | None:
    """Bytes after IEND are ignored by decoders: walk the chunk headers to find it. Without it, Pillow
    reads a file whose chunks are whole and whose image data inflates to the whole image (ffmpeg
    does not: a note), and an animation cut after its first frame (its first frame; ffmpeg the frames
    before the cut: a note). A static image with a chunk cut short, or image data that stops early,
    is a problem."""
    idat: list[tuple[int, int]] = []
    cut, next_frame = None, False
    for _ in range(_PNG_CHUNKS):
        hdr = src.at(off, 8)
        if len(hdr) < 8:
            break  # the file ends between chunks (or inside a chunk's length and type)
        if hdr[4:8] == b"IEND":
            return None
        end = off + 12 + _u32be(hdr, 0)
        if end > src.size:
            cut = f"its {_fourcc(hdr[4:8])!r} chunk at byte {off} runs past the end of the file"
            break
        if hdr[4:8] == b"IDAT":
            idat.append((off + 8, end - off - 12))
        next_frame = next_frame or (animated and bool(idat) and hdr[4:8] == b"fcTL")
        off = end
    else:
        raise _Corrupt(f"PNG has more than {_PNG_CHUNKS} chunks and no IEND chunk")
    if cut and not next_frame:
        raise _Corrupt(f"PNG has no IEND chunk: {cut} (truncated)")
    raw = _png_raw_size(width, height, depth * _PNG_SAMPLES[colour], interlaced)
    if not (idat and raw <= _PNG_INFLATE_MAX and _zlib_complete(src, idat, raw)):
        raise _Corrupt("PNG has no IEND chunk and its image data is cut short (truncated)")
    if cut:
        return ("the animated PNG is cut short after its first frame: decoders read the frames before the cut "
                "(Pillow's first frame, ffmpeg's frames)")
    return "the PNG ends without a whole IEND chunk: Pillow reads it, ffmpeg reports an error or refuses it"


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, bits: int, interlaced: bool) -> int:
    """Bytes of the inflated image: each row of each pass has a filter byte before its pixels."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w > 0 and h > 0:
            total += h * (1 + (w * bits + 7) // 8)
    return total


def _zlib_complete(src: _Source, chunks: list[tuple[int, int]], raw: int) -> bool:
    """True when the zlib stream spread over ``chunks`` (offset, length) inflates to the ``raw`` bytes
    of the whole image before the file or the stream ends (Pillow stops at the last row). Inflates in
    1 MiB steps and discards the output."""
    d, produced = zlib.decompressobj(), 0
    try:
        for start, length in chunks:
            pos, end = start, min(start + length, src.size)
            while pos < end:
                data = src.at(pos, min(1 << 20, end - pos))
                pos += len(data)
                while data:
                    produced += len(d.decompress(data, 1 << 20))
                    if produced >= raw:
                        return True
                    if d.eof:
                        return False
                    data = d.unconsumed_tail
    except zlib.error:
        return False
    return False


# --------------------------------------------------------------------------------------------------
# GIF


def _gif(src: _Source, kind: str, fmt: str) -> MediaFacts:
    lsd = src.exact(6, 7, "GIF screen descriptor")
    unjudged = None
    if src.at(src.size - 1, 1) != b";":
        ends, whole = _gif_blocks(src, lsd[4])
        if not ends and not whole:
            raise _Corrupt("GIF ends before its first image is whole, without its trailer byte (truncated)")
        if not ends:
            unjudged = (f"the GIF is cut short inside image {whole + 1}: decoders read the {whole} whole "
                        f"image{'s' if whole > 1 else ''} before the cut (Pillow's first frame, ffmpeg's frames)")
    transparent, images = _gif_start(src, lsd[4])
    return _image(src, kind, fmt, _u16le(lsd, 0), _u16le(lsd, 2), unjudged=unjudged,
                  color_mode="palette+alpha" if transparent else "palette", animated=images > 1)


_GIF_WINDOW = 1 << 16  # bytes read at once while walking sub-blocks
_GIF_STEPS = 1 << 18  # blocks and sub-blocks walked, at most, looking for a second image (~64 MiB of data)


def _gif_start(src: _Source, flags: int) -> tuple[bool, int]:
    """``(transparent, images)``: whether the first image's graphic control extension gives a transparent
    colour (Pillow's ``info["transparency"]``), and how many image descriptors the walk meets, counting to 2
    (an animation). The walk reads 64 KiB windows and stops at the trailer, bad data, the end of the file or
    after :data:`_GIF_STEPS` blocks (a first image over ~64 MiB: counted as one)."""
    off = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    transparent, images, base, window = False, 0, -1, b""
    for _ in range(_GIF_STEPS):
        if not base <= off < base + len(window) - 1:  # need the byte at off and the next one
            base, window = off, src.at(off, _GIF_WINDOW)
            if len(window) < 2:
                break
        p = off - base
        intro = window[p]
        if intro == 0x2C:  # image descriptor
            images += 1
            if images > 1:
                break
            desc = src.at(off, 10)
            if len(desc) < 10:
                break
            off += 10 + ((3 << ((desc[9] & 7) + 1)) if desc[9] & 0x80 else 0) + 1  # + LZW code size
        elif intro == 0x21:  # extension: label, then sub-blocks
            if window[p + 1] == 0xF9 and not images:
                gce = src.at(off + 2, 2)
                transparent = len(gce) == 2 and gce[0] >= 4 and bool(gce[1] & 1)
            off += 2
        else:  # the trailer, or bytes that are no block
            break
        while True:  # data sub-blocks up to a zero length
            if not base <= off < base + len(window):
                base, window = off, src.at(off, _GIF_WINDOW)
                if not window:
                    return transparent, images
            length = window[off - base]
            off += 1 + length
            if not length:
                break
    return transparent, images


def _gif_blocks(src: _Source, flags: int) -> tuple[bool, int]:
    """``(ends cleanly, whole images)``: whether the blocks reach the trailer, stray bytes or the end
    of the file between blocks after an image (decoders ignore bytes after the trailer and, like
    Pillow, read a file that stops after a whole image without one), and how many images are whole
    before a block that the end of the file cuts."""
    off = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    images = 0
    while off < src.size:
        intro = src.at(off, 1)
        if intro == b";":
            return True, images
        if intro == b"!":
            off += 2
        elif intro == b",":
            desc = src.exact(off, 10, "GIF image descriptor")
            off += 10 + ((3 << ((desc[9] & 7) + 1)) if desc[9] & 0x80 else 0) + 1  # + LZW code size
        else:
            return images > 0, images  # stray bytes after the images: decoders stop at the last image
        while True:  # data sub-blocks, each a length byte then that many bytes, up to a zero length
            length = src.at(off, 1)
            if not length:
                return False, images
            off += 1 + length[0]
            if not length[0]:
                break
        if off > src.size:
            return False, images
        images += intro == b","
    return images > 0, images


# --------------------------------------------------------------------------------------------------
# WebP

_WEBP_CHUNKS = 1 << 16  # chunks walked to find the EXIF chunk (after the frames of an animation)


def _webp(src: _Source, kind: str, fmt: str) -> MediaFacts:
    _check_riff_size(src)
    chunk = src.at(12, 30)  # a tiny lossless picture is shorter than 30 bytes: each kind checks what it reads
    ctype, rotation, alpha, animated = chunk[:4], 0, False, False
    if len(chunk) < {b"VP8 ": 18, b"VP8L": 13, b"VP8X": 18}.get(ctype, 8):
        raise _Corrupt(f"WebP header is cut short at byte {src.size} (truncated)")
    if ctype == b"VP8 ":
        if chunk[11:14] != b"\x9d\x01\x2a":
            raise _Corrupt("WebP VP8 frame has no start code")
        width, height = _u16le(chunk, 14) & 0x3FFF, _u16le(chunk, 16) & 0x3FFF
    elif ctype == b"VP8L":
        if chunk[8] != 0x2F:
            raise _Corrupt("WebP lossless stream has no signature")
        bits = _u32le(chunk, 9)
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        alpha = bool(bits >> 28 & 1)  # the alpha_is_used hint
    elif ctype == b"VP8X":
        width = 1 + int.from_bytes(chunk[12:15], "little")
        height = 1 + int.from_bytes(chunk[15:18], "little")
        alpha = bool(chunk[8] & 0x10)  # the alpha flag
        if chunk[8] & 0x0A:  # the EXIF or animation flag
            rotation, animated = _webp_walk(src, bool(chunk[8] & 0x08), bool(chunk[8] & 0x02))
    else:
        raise _Corrupt(f"WebP has an unknown first chunk {ctype!r}")
    return _image(src, kind, fmt, width, height, rotation=rotation, color_mode="rgba" if alpha else "rgb",
                  animated=animated)


def _webp_walk(src: _Source, exif: bool, animation: bool) -> tuple[int, bool]:
    """``(rotation, animated)``: the EXIF chunk's orientation, and whether an animation has a second frame
    (ANMF chunk); the walk reads chunk headers only and stops once it knows both."""
    off, rotation, frames = 12, 0, 0
    for _ in range(_WEBP_CHUNKS):
        hdr = src.at(off, 8)
        if len(hdr) < 8:
            break
        size = _u32le(hdr, 4)
        if hdr[:4] == b"EXIF" and exif:
            rotation, exif = _rotation(src.at(off + 8, min(size, _EXIF_READ))), False
        elif hdr[:4] == b"ANMF" and animation:
            frames += 1
            animation = frames < 2
        if not exif and not animation:
            break
        off += 8 + size + (size & 1)
    return rotation, frames > 1


# --------------------------------------------------------------------------------------------------
# BMP: what Pillow or ffmpeg decodes (neither reads JPEG or PNG inside a BMP, 2-bit pixels, the
# 16-byte OS/2 header or bit fields other than the usual channel layouts).

_BMP_HEADERS = (12, 40, 52, 56, 64, 108, 124)
_BMP_BITS = (1, 4, 8, 16, 24, 32)
_BMP_COMPRESSION = {0: "none", 1: "RLE8", 2: "RLE4", 3: "bit fields", 4: "JPEG", 5: "PNG",
                    6: "alpha bit fields", 11: "CMYK", 12: "CMYK RLE8", 13: "CMYK RLE4"}
# Channel masks (red, green, blue, alpha) of BI_BITFIELDS pixels that Pillow or ffmpeg decode.
_BMP_MASKS_RGBA = {  # 32-bit, Pillow (with the alpha mask)
    (0xFF0000, 0xFF00, 0xFF, 0), (0xFF000000, 0xFF0000, 0xFF00, 0), (0xFF000000, 0xFF00, 0xFF, 0),
    (0xFF000000, 0xFF0000, 0xFF00, 0xFF), (0xFF, 0xFF00, 0xFF0000, 0xFF000000),
    (0xFF0000, 0xFF00, 0xFF, 0xFF000000), (0xFF000000, 0xFF00, 0xFF, 0xFF0000), (0, 0, 0, 0),
}
_BMP_MASKS_RGB = {
    32: {(0xFF000000, 0xFF0000, 0xFF00), (0xFF0000, 0xFF00, 0xFF), (0xFF00, 0xFF0000, 0xFF000000)},  # ffmpeg
    16: {(0xF800, 0x7E0, 0x1F), (0x7C00, 0x3E0, 0x1F), (0xF00, 0xF0, 0xF)},  # 565, 555 (both), 444 (ffmpeg)
}


def _bmp(src: _Source, kind: str, fmt: str) -> MediaFacts:
    h = src.exact(0, 26, "BMP header")
    header = _u32le(h, 14)
    if header not in _BMP_HEADERS:
        raise _Corrupt(f"BMP info header of {header} bytes: neither Pillow nor ffmpeg reads it")
    if header == 12:
        width, height = _u16le(h, 18), _u16le(h, 20)
        bits, compression, image_size = _u16le(h, 24), 0, 0
    else:
        width, height = struct.unpack_from("<ii", h, 18)
        bits, compression, image_size = struct.unpack_from("<HII", src.exact(28, 10, "BMP header"))
    if width <= 0 or height == 0:  # a negative height is a top-down picture; a negative width is nothing
        raise _Corrupt(f"BMP header gives a size of {width}×{height} pixels")
    if compression not in (0, 1, 2, 3):
        name = _BMP_COMPRESSION.get(compression, "unknown")
        raise _Corrupt(f"BMP compression {compression} ({name}): neither Pillow nor ffmpeg decodes it")
    if bits not in _BMP_BITS:
        raise _Corrupt(f"BMP has {bits} bits per pixel; decoders read 1, 4, 8, 16, 24 or 32")
    if compression == 3 and bits in (16, 32):  # ffmpeg ignores the masks of other bit counts
        rgb = struct.unpack("<III", src.exact(54, 12, "BMP bit fields"))
        alpha = _u32le(src.exact(66, 4, "BMP bit fields"), 0) if header >= 56 else 0
        if rgb not in _BMP_MASKS_RGB.get(bits, ()) and not (bits == 32 and (*rgb, alpha) in _BMP_MASKS_RGBA):
            masks = " ".join(f"{m:X}" for m in (*rgb, alpha))
            raise _Corrupt(f"BMP bit fields {masks} for {bits}-bit pixels: neither Pillow nor ffmpeg decodes them")
    # Decoders ignore the file-size field and read the pixels from their offset: judge those bytes.
    if compression in (0, 3):  # uncompressed (plain or with bit masks): rows padded to 4 bytes
        needed = _u32le(h, 10) + (width * bits + 31) // 32 * 4 * abs(height)
    else:
        needed = _u32le(h, 10) + image_size if image_size else _u32le(h, 2)
    if needed > src.size:
        raise _Corrupt(f"BMP header claims {needed} bytes of header and pixels but the file has "
                       f"{src.size} (truncated)")
    if bits <= 8:
        color_mode = "palette"
    elif bits == 32 and compression == 3 and header >= 56 and _u32le(src.exact(66, 4, "BMP bit fields"), 0):
        color_mode = "rgba"  # Pillow reads an alpha mask (and only with bit fields); plain 32-bit pixels are BGRX
    else:
        color_mode = "rgb"
    return _image(src, kind, fmt, width, abs(height), color_mode=color_mode)
