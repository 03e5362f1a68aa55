"""Image headers: JPEG, PNG, GIF, WebP, BMP and TIFF (accepted), PPM and ICO (rejected)."""

from __future__ import annotations

import struct

from prep.model import MediaFacts, PrepError

from ._base import _Corrupt, _facts, _Source, _u16be, _u16le, _u32be, _u32le
from .riff import _check_riff_size

# --------------------------------------------------------------------------------------------------
# Images


_EXIF_ROTATION = {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}
# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC share the range but are not frames).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(src: _Source, kind: str, fmt: str) -> MediaFacts:
    off, width, height, rotation, scan = 2, None, None, 0, None
    while off < src.size:
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
        if code == 0xE1 and rotation == 0:
            seg = src.exact(off + 4, length - 2, "JPEG EXIF segment")
            if seg[:6] == b"Exif\x00\x00":
                rotation = _EXIF_ROTATION.get(_exif_orientation(seg[6:]), 0)
        elif code in _SOF:
            sof = src.exact(off + 4, 5, "JPEG frame header")
            height, width = _u16be(sof, 1), _u16be(sof, 3)
        elif code == 0xDA:
            scan = off
            break
        off += 2 + length
    if width is None or scan is None:
        raise _Corrupt("JPEG has no frame header or no image data (truncated?)")
    if not _jpeg_ends(src, scan):
        raise _Corrupt("JPEG has no end-of-image marker (truncated)")
    return _facts(src, kind, fmt, width=width, height=height, rotation=rotation)


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


def _exif_orientation(tiff: bytes) -> int:
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
            return struct.unpack_from(e + "H", tiff, p + 8)[0] if typ == 3 else 1
    return 1


def _png(src: _Source, kind: str, fmt: str) -> MediaFacts:
    ihdr = src.exact(8, 25, "PNG header")
    if ihdr[4:8] != b"IHDR":
        raise _Corrupt("PNG does not start with an IHDR chunk")
    width, height = _u32be(ihdr, 8), _u32be(ihdr, 12)
    rotation, frames = 0, None
    off = 8
    for _ in range(256):  # chunks before the image data: acTL (animation), eXIf
        hdr = src.at(off, 8)
        if len(hdr) < 8:
            break
        length, ctype = _u32be(hdr, 0), hdr[4:8]
        if ctype in (b"IDAT", b"IEND"):
            break
        if ctype == b"acTL":
            frames = _u32be(src.exact(off + 8, 4, "PNG acTL chunk"), 0)
        elif ctype == b"eXIf":
            rotation = _EXIF_ROTATION.get(_exif_orientation(src.exact(off + 8, length, "PNG eXIf")), 0)
        off += 12 + length
    if b"IEND" not in src.at(max(0, src.size - 4096), 4096) and not _png_has_iend(src, off):
        raise _Corrupt("PNG has no IEND chunk (truncated)")
    return _facts(src, kind, fmt, width=width, height=height, rotation=rotation, frames=frames)


def _png_has_iend(src: _Source, off: int) -> bool:
    # Bytes appended after IEND are ignored by decoders: walk the chunk headers to find it.
    while off + 8 <= src.size:
        hdr = src.at(off, 8)
        if hdr[4:8] == b"IEND":
            return True
        off += 12 + _u32be(hdr, 0)
    return False


def _gif(src: _Source, kind: str, fmt: str) -> MediaFacts:
    lsd = src.exact(6, 7, "GIF screen descriptor")
    if src.at(src.size - 1, 1) != b";" and not _gif_blocks_complete(src, lsd[4]):
        raise _Corrupt("GIF ends inside a block, before its trailer byte (truncated)")
    return _facts(src, kind, fmt, width=_u16le(lsd, 0), height=_u16le(lsd, 2))


def _gif_blocks_complete(src: _Source, flags: int) -> bool:
    """True when the blocks reach the trailer, or the file ends between blocks after an image.

    Decoders ignore bytes after the trailer and, like Pillow, read a file that stops after a
    whole image without one; only a file that ends inside a block is cut short.
    """
    off = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    images = 0
    while off < src.size:
        intro = src.at(off, 1)
        if intro == b";":
            return True
        if intro == b"!":
            off += 2
        elif intro == b",":
            desc = src.exact(off, 10, "GIF image descriptor")
            off += 10 + ((3 << ((desc[9] & 7) + 1)) if desc[9] & 0x80 else 0) + 1  # + LZW code size
            images += 1
        else:
            return images > 0  # stray bytes after the images: decoders stop at the last image
        while True:  # data sub-blocks, each a length byte then that many bytes, up to a zero length
            length = src.at(off, 1)
            if not length:
                return False
            off += 1 + length[0]
            if not length[0]:
                break
        if off > src.size:
            return False
    return images > 0


def _webp(src: _Source, kind: str, fmt: str) -> MediaFacts:
    _check_riff_size(src)
    chunk = src.exact(12, 30, "WebP header")
    ctype = chunk[:4]
    if ctype == b"VP8 ":
        if chunk[11:14] != b"\x9d\x01\x2a":
            raise _Corrupt("WebP VP8 frame has no start code")
        width, height = _u16le(chunk, 14) & 0x3FFF, _u16le(chunk, 16) & 0x3FFF
    elif ctype == b"VP8L":
        if chunk[8] != 0x2F:
            raise _Corrupt("WebP lossless stream has no signature")
        bits = _u32le(chunk, 9)
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif ctype == b"VP8X":
        width = 1 + int.from_bytes(chunk[12:15], "little")
        height = 1 + int.from_bytes(chunk[15:18], "little")
    else:
        raise _Corrupt(f"WebP has an unknown first chunk {ctype!r}")
    return _facts(src, kind, fmt, width=width, height=height)


def _bmp(src: _Source, kind: str, fmt: str) -> MediaFacts:
    h = src.exact(0, 26, "BMP header")
    if _u32le(h, 14) == 12:
        width, height = _u16le(h, 18), _u16le(h, 20)
        bits, compression, image_size = _u16le(h, 24), 0, 0
    else:
        width, height = struct.unpack_from("<ii", h, 18)
        bits, compression, image_size = struct.unpack_from("<HII", src.exact(28, 10, "BMP header"))
    # Decoders ignore the file-size field and read the pixels from their offset: judge those bytes.
    if compression in (0, 3, 6):  # uncompressed (plain or with bit masks): rows padded to 4 bytes
        needed = _u32le(h, 10) + (abs(width) * bits + 31) // 32 * 4 * abs(height)
    else:
        needed = _u32le(h, 10) + image_size if image_size else _u32le(h, 2)
    if needed > src.size:
        raise _Corrupt(f"BMP header claims {needed} bytes of header and pixels but the file has "
                       f"{src.size} (truncated)")
    return _facts(src, kind, fmt, width=abs(width), height=abs(height))


def _ppm(src: _Source, kind: str, fmt: str) -> MediaFacts:
    head = src.head[:4096]
    tokens: list[bytes] = []
    pos, need = 2, (2 if head[1:2] in b"14" else 3)
    while len(tokens) < need:
        while pos < len(head) and head[pos : pos + 1] in b" \t\r\n#":
            if head[pos : pos + 1] == b"#":
                end = head.find(b"\n", pos)
                pos = len(head) if end < 0 else end
            pos += 1
        start = pos
        while pos < len(head) and head[pos : pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise _Corrupt("PPM header is incomplete")
        tokens.append(head[start:pos])
    width, height = int(tokens[0]), int(tokens[1])
    raster = pos + 1  # exactly one whitespace byte ends the header of a binary PNM
    variant = head[1:2]
    if variant in b"456":
        if variant == b"4":
            expected = (width + 7) // 8 * height
        else:
            depth = 2 if int(tokens[2]) > 255 else 1
            expected = width * height * depth * (3 if variant == b"6" else 1)
        if src.size < raster + expected:
            raise _Corrupt(f"PPM pixel data is {src.size - raster} bytes, header needs {expected} "
                           "(truncated)")
    return _facts(src, kind, fmt, width=width, height=height)


def _ico(src: _Source, kind: str, fmt: str) -> MediaFacts:
    count = _u16le(src.head, 4)
    table = src.exact(6, 16 * count, "ICO directory")
    best = None
    for i in range(count):
        e = 16 * i
        w, h = table[e] or 256, table[e + 1] or 256
        size, offset = _u32le(table, e + 8), _u32le(table, e + 12)
        if offset + size > src.size:
            raise _Corrupt(f"ICO image {i + 1} runs past the end of the file (truncated)")
        sig = src.at(offset, 24)
        if sig[:8] == b"\x89PNG\r\n\x1a\n":
            w, h = _u32be(sig, 16), _u32be(sig, 20)
        if best is None or w * h > best[0] * best[1]:
            best = (w, h)
    if best is None:
        raise _Corrupt("ICO has no images")
    return _facts(src, kind, fmt, width=best[0], height=best[1])


def _tiff(src: _Source, kind: str, fmt: str) -> MediaFacts:
    TiffImagePlugin = _pillow_plugin("TiffImagePlugin")
    # The plugin class reads only the first IFD; calling it directly (not Image.open) skips the
    # decompression-bomb check, which is about decoding, and we never decode.
    import warnings

    # Pillow warns (on stderr) about damaged tags; the damage is ours to report, once, as `problem`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            im = TiffImagePlugin.TiffImageFile(src.file())
        except (SyntaxError, OSError, ValueError, struct.error) as exc:
            raise _Corrupt(f"cannot read the TIFF header: {exc}") from None
        tags = im.tag_v2
        offsets = tags.get(273) or tags.get(324) or ()
        counts = tags.get(279) or tags.get(325) or ()
        if isinstance(offsets, int):
            offsets, counts = (offsets,), (counts,)
        ends = [o + c for o, c in zip(offsets, counts, strict=False)]
        if ends and max(ends) > src.size:
            raise _Corrupt(f"TIFF image data runs past the end of the file ({max(ends)} > {src.size} bytes; "
                           "truncated)")
        rotation = _EXIF_ROTATION.get(int(tags.get(274, 1) or 1), 0)
        frames = getattr(im, "n_frames", 1)  # walks the directory chain only, not the pixels
    return _facts(src, kind, fmt, width=im.size[0], height=im.size[1], rotation=rotation,
                  frames=frames if frames and frames > 1 else None)


def _pillow_plugin(name: str):
    try:
        import importlib

        return importlib.import_module(f"PIL.{name}")
    except ImportError:
        raise PrepError("Pillow is not installed: pip install pillow") from None
