"""The image executor: one source image and an :class:`~prep.fix.model.ImageTarget` → one output file.

Pillow does the work, imported only here. The order keeps big downscales fast and light: a JPEG decodes at
the smallest DCT scale (``draft``: 1/2, 1/4, 1/8) that is at least the target or falls short of it by at most
3% a side (then the final resize is a slight upscale: a 48-megapixel photo decodes at 1/4 for a 2048-px
target, 2.4% short of it, instead of at 1/2 — the fast path bench/bench_fix_images.py measures, and whose picture
tests/test_fix_images.py holds above 35 dB PSNR against a full decode and LANCZOS), ``reduce()`` box-averages
by whole factors down to about twice the target, and a final LANCZOS resize (BICUBIC for the slight upscale
after a draft) gives the exact size. Rotation
(the EXIF orientation tag, read as the inspector reads it) is applied to that small result, which is the
same picture as rotating first and cheaper; the target's sizes are in upright pixels.

The output never carries an orientation tag other than 1 (its pixels are upright), keeps the source's ICC
profile when it still describes the output's colours (a CMYK profile is used to convert to sRGB, not
copied), and keeps the rest of the EXIF block. Animated GIF/WebP/PNG keep their frames when the output is one
of those formats; any other output takes the first frame (the planner says so in the job's steps).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ..model import PrepError
from .files import atomic_output, size_text
from .model import ImageTarget

if TYPE_CHECKING:
    from PIL import Image

_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF", "gif": "GIF"}
_ANIMATED_OUTPUTS = {"gif", "webp", "png"}
_QUALITY = 90  # JPEG/WebP quality of a first encode: visually lossless for photos
_QUALITY_FLOOR = 10  # below this a re-encode under max_bytes is not worth delivering
_QUALITY_STEPS = 8  # binary-search steps over [floor, quality): enough to land within one step
# A DCT scale whose picture falls short of the target by at most this much a side is decoded, and upscaled
# by ≤ 3.1% (BICUBIC, below). Measured on test-pattern JPEGs against a full decode and LANCZOS: 38.6–41.1 dB PSNR
# (44–48 dB on luma) from 48 megapixels to 2048 px, 36.7–38.0 dB from 3 megapixels to 512 px, against 28–34 dB for a
# 2× upscale (visibly soft) and 30.6 dB for the output's own quality-90 encode: the shortcut changes the
# picture less than the JPEG output does. On a very noisy source (bench --noise 30) it is 32 dB (37.5 on
# luma: the noise is averaged differently) against 29.1 dB for that encode.
_DRAFT_SHORTFALL = 0.03
# An upscale by at most this factor (the draft's shortfall, rounded up) is BICUBIC: a third faster than
# LANCZOS (30 vs 45 ms for 2000×1500 → 2048×1536), and at a 2.4% stretch the two differ by less than the
# JPEG output's own encoding (bench/bench_fix_images.py prints the PSNR).
_SLIGHT_UPSCALE = 1.04
_REDUCE_GAP = 2  # reduce() stops at about twice the target, so LANCZOS still has pixels to filter
_BAND_ROWS = 256  # a big downscale is resized this many output rows at a time
_BAND_FACTOR = 1.25  # ... when the source has at least this many times the output's rows
_BLUR_SIDE = 256  # the blurred backdrop is computed this small, then scaled up (it is a blur anyway)
_ORIENTATION = 0x0112
_TRANSPOSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
              7: "TRANSVERSE", 8: "ROTATE_90"}


def fix_image(source: str, target: ImageTarget, out: str) -> None:
    """Write ``source`` conformed to ``target`` at ``out`` (atomically: complete, or no file at all).

    The source is only read. Unreadable or over-large sources, an output that cannot get under
    ``target.max_bytes`` and a failed write raise :class:`PrepError` with one line.
    """
    from PIL import Image

    fmt = target.format.lower()
    if fmt not in _PIL_FORMATS:
        raise ValueError(f"ImageTarget.format {target.format!r} is not one of {sorted(_PIL_FORMATS)}")
    _check_geometry(target)
    name = os.path.basename(source)
    if os.path.exists(out) and os.path.exists(source) and os.path.samefile(source, out):
        raise PrepError(f"{source}: the output would overwrite the original; choose another output folder")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning (checked below), EXIF complaints
            with Image.open(source) as im:
                frames, durations, loop, meta = _read(im, target, fmt, name)
    except Image.DecompressionBombError as exc:
        raise PrepError(f"{name}: {_one_line(exc)}; not decoded") from None
    except PrepError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise PrepError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, struct.error… on bad data
        raise PrepError(f"{name}: Pillow could not decode it: {_one_line(exc)}") from None

    frames = [_output_mode(f, fmt) for f in frames]
    meta["icc_profile"] = _icc_for(meta.get("icc_profile"), frames[0].mode)
    encode = _encoder(frames, durations, loop, meta, fmt)
    _write(encode, target, fmt, name, out)


# -- reading: decode small, rotate upright, scale, fit --------------------------------------------


def _read(im: Image.Image, target: ImageTarget, fmt: str, name: str) -> tuple[list, list, int, dict]:
    """The output's frames (fitted to ``target.size``), their durations, the loop count and metadata."""
    from PIL import Image

    w, h = im.size
    limit = Image.MAX_IMAGE_PIXELS
    orientation = _orientation(im)
    swap = orientation in (5, 6, 7, 8)
    stored = (target.scale_to[1], target.scale_to[0]) if swap else target.scale_to
    animated = (getattr(im, "is_animated", False) and im.format in ("GIF", "PNG", "WEBP")
                and fmt in _ANIMATED_OUTPUTS and not target.still)
    if im.format in ("JPEG", "MPO") and stored[0] < w and stored[1] < h:
        im.draft(None, _draft_request((w, h), stored))
    if limit and im.size[0] * im.size[1] > limit:
        raise PrepError(f"{name}: image is {w}×{h} ({w * h / 1e6:.0f} megapixels), past Pillow's "
                        f"decompression-bomb bound of {limit / 1e6:.0f} megapixels; not decoded")
    meta = {"exif": _exif_without_orientation(im, target.size)}
    n = getattr(im, "n_frames", 1)
    if not animated or (limit and n * target.size[0] * target.size[1] > limit):  # all frames are held until saved
        scaled = _scaled(im, stored, orientation)
        meta["icc_profile"] = scaled.info.get("icc_profile")  # the source's, or sRGB after a CMYK conversion
        if scaled is not im:
            im.close()  # frees the decoded source before the canvas of a pad is made
        return [_fit(scaled, target)], [], 0, meta
    meta["icc_profile"] = im.info.get("icc_profile")
    frames, durations = [], []
    for i in range(n):
        im.seek(i)
        durations.append(int(im.info.get("duration", 100) or 100))
        frames.append(_fit(_scaled(im.convert("RGBA"), stored, orientation), target))
    return frames, durations, int(im.info.get("loop", 0) or 0), meta


def _draft_request(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The size to ask a JPEG's ``draft()`` for so that it decodes at the smallest DCT scale 1/a (a = 8, 4, 2)
    whose picture, ``ceil(size / a)``, is at least ``target`` less :data:`_DRAFT_SHORTFALL` on each side;
    ``size`` itself (no scaling) when none is. Pillow picks a = min(w // rw, h // rh) rounded down to 8, 4, 2
    or 1, and ``(w // a, h // a)`` gives each quotient in [a, 2a): that very a."""
    (w, h), (W, H) = size, target
    for a in (8, 4, 2):
        if w >= a and h >= a and -(-w // a) >= (1 - _DRAFT_SHORTFALL) * W and \
                -(-h // a) >= (1 - _DRAFT_SHORTFALL) * H:
            return w // a, h // a
    return w, h


def _scaled(im: Image.Image, stored: tuple[int, int], orientation: int) -> Image.Image:
    """``im`` in a working mode, resized to ``stored`` (the target in stored orientation), then upright."""
    from PIL import Image

    im.load()
    if im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "RGBX"):
        im = _working_mode(im)  # P, 1, I;16… cannot be box-reduced or filtered as they are
    fx, fy = im.size[0] // (stored[0] * _REDUCE_GAP), im.size[1] // (stored[1] * _REDUCE_GAP)
    if fx > 1 or fy > 1:
        im = im.reduce((max(fx, 1), max(fy, 1)))
    im = _working_mode(im)  # CMYK → RGB after reducing: fewer pixels to convert
    if im.size != stored:
        im = _resize(im, stored)
    if orientation in _TRANSPOSE:
        im = im.transpose(Image.Transpose[_TRANSPOSE[orientation]])
    return im


def _resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """LANCZOS to ``size``; a big downscale goes in bands of output rows, without the full-height intermediate
    image Pillow's two-pass resize holds. The picture is the same; a pixel may differ by a level or so, as
    each band's kernel positions are rounded a little differently."""
    from PIL import Image

    (w, h), (W, H) = im.size, size
    if w <= W <= w * _SLIGHT_UPSCALE and h <= H <= h * _SLIGHT_UPSCALE:
        return im.resize(size, Image.Resampling.BICUBIC)  # the few % after a DCT-scaled decode
    # Alpha modes premultiply the whole image per call; small downscales save little: bands for big ones.
    if im.mode not in ("L", "RGB") or h < _BAND_FACTOR * H or H <= _BAND_ROWS:
        return im.resize(size, Image.Resampling.LANCZOS)
    out = Image.new(im.mode, size)
    step = h / H
    for y0 in range(0, H, _BAND_ROWS):
        y1 = min(H, y0 + _BAND_ROWS)
        out.paste(im.resize((W, y1 - y0), Image.Resampling.LANCZOS, box=(0, y0 * step, w, y1 * step)), (0, y0))
    out.info = im.info
    return out


def _fit(im: Image.Image, target: ImageTarget) -> Image.Image:
    """The upright, scaled picture centred on ``target.size``: padded, cropped, or as it is."""
    from PIL import Image

    W, H = target.size
    w, h = im.size
    if (w, h) == (W, H):
        return im
    if w > W or h > H:  # crop (centred) whatever overhangs
        left, top = max(0, (w - W) // 2), max(0, (h - H) // 2)
        im = im.crop((left, top, left + min(w, W), top + min(h, H)))
        w, h = im.size
        if (w, h) == (W, H):
            return im
    offset = ((W - w) // 2, (H - h) // 2)
    if target.fill.strip().lower() == "blur":
        back = _blurred_cover(im, (W, H))
        if im.mode in ("LA", "RGBA"):
            front = im.convert("RGBA")
            back = back.convert("RGBA")
            back.alpha_composite(front, offset)
            return back.convert("RGB")
        back.paste(im.convert("RGB"), offset)
        return back
    colour = _colour(target.fill)
    mode = im.mode
    if mode in ("L", "LA") and len(set(colour)) > 1:  # a coloured pad on a grey picture: go colour
        mode = "RGB" if mode == "L" else "RGBA"
        im = im.convert(mode)
    fill: Any = colour if mode == "RGB" else (*colour, 255) if mode == "RGBA" else colour[0] if mode == "L" \
        else (colour[0], 255)
    canvas = Image.new(mode, (W, H), fill)
    canvas.paste(im, offset)  # no mask: the picture's own transparency is kept
    return canvas


def _blurred_cover(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The picture scaled to cover ``size`` (centre-cropped), heavily blurred, opaque RGB."""
    from PIL import Image, ImageFilter

    W, H = size
    w, h = im.size
    scale = max(W / w, H / h)
    bw, bh = min(w, W / scale), min(h, H / scale)  # the part of the picture that covers the canvas
    box = ((w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2)
    k = max(1.0, max(W, H) / _BLUR_SIDE)
    small_size = (max(1, round(W / k)), max(1, round(H / k)))
    base = im
    if im.mode in ("LA", "RGBA"):
        base = Image.new("RGB", im.size, (0, 0, 0))
        base.paste(im.convert("RGBA"), (0, 0), im.convert("RGBA"))
    small = base.convert("RGB").resize(small_size, Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
    small = small.filter(ImageFilter.GaussianBlur(radius=max(2.0, max(small_size) / 24)))
    return small.resize((W, H), Image.Resampling.BICUBIC)


def _working_mode(im: Image.Image) -> Image.Image:
    """L, LA, RGB or RGBA: palettes expanded, CMYK through its ICC profile to sRGB, 16-bit scaled to 8."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return im
    if mode == "RGBX":
        return im.convert("RGB")
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode.startswith("I") or mode == "F":
        lo, hi = cast("tuple[float, float]", im.getextrema())
        grey = im.convert("I") if mode.startswith("I;16") else im
        if lo >= 0 and hi <= 255:
            return grey.convert("L")
        if lo >= 0 and hi <= 65535:
            return grey.point(lambda v: v / 257).convert("L")
        span = (hi - lo) or 1
        return grey.point(lambda v: (v - lo) * 255 / span).convert("L")
    if mode in ("La", "RGBa"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    return im.convert("RGBA" if "A" in mode else "RGB")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK → sRGB through the embedded profile when there is one (else Pillow's plain formula)."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            srgb = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB")
            if out is not None:
                out.info["icc_profile"] = ImageCms.ImageCmsProfile(srgb).tobytes()
                return out
        except Exception:  # noqa: BLE001, S110 - a broken or unusable profile: the plain conversion below
            pass
    return im.convert("RGB")


# -- writing: output mode, metadata, encoding, size limit -----------------------------------------


def _output_mode(im: Image.Image, fmt: str) -> Image.Image:
    """Modes each format holds: JPEG and BMP have no alpha (flattened onto white); WebP has no grey."""
    from PIL import Image

    if fmt in ("jpeg", "bmp") and im.mode in ("LA", "RGBA"):
        flat = Image.new("RGB" if im.mode == "RGBA" else "L", im.size, (255, 255, 255) if im.mode == "RGBA" else 255)
        flat.paste(im, (0, 0), im.getchannel("A"))
        im = flat
    elif fmt == "webp" and im.mode in ("L", "LA"):
        im = im.convert("RGB" if im.mode == "L" else "RGBA")
    im.info = {}  # nothing of the source's info reaches the encoder but what _encoder passes
    return im


def _icc_for(icc: bytes | None, mode: str) -> bytes | None:
    """The profile only if it describes the output's colour space (a CMYK or grey profile on RGB would lie)."""
    if not icc or len(icc) < 20:
        return None
    space = icc[16:20]
    if mode in ("RGB", "RGBA") and space == b"RGB ":
        return icc
    if mode in ("L", "LA") and space == b"GRAY":
        return icc
    return None


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag exactly as the inspector reads it (so geometry agrees with the plan)."""
    from prep.inspect.images import _exif_orientation

    exif = im.info.get("exif")
    if isinstance(exif, bytes | bytearray):
        return _exif_orientation(bytes(exif))
    tags = getattr(im, "tag_v2", None)
    if im.format == "TIFF" and hasattr(im, "_tile_size"):
        return 1  # this Pillow turns a TIFF upright itself as it loads (and reports the upright size)
    if im.format == "TIFF" and tags is not None:
        value = tags.get(274, 1)
        return value if isinstance(value, int) else 1
    return 1


def _exif_without_orientation(im: Image.Image, size: tuple[int, int]) -> bytes | None:
    """The source's EXIF block (not a TIFF's own tags) with the orientation tag gone and the size updated."""
    from PIL import Image

    raw = im.info.get("exif")
    if not isinstance(raw, bytes | bytearray) or not raw:
        return None
    try:
        exif = Image.Exif()
        exif.load(bytes(raw))
        exif.pop(_ORIENTATION, None)
        sub = exif.get_ifd(0x8769)
        for tag, value in ((0xA002, size[0]), (0xA003, size[1])):  # PixelX/YDimension
            if tag in sub:
                sub[tag] = value
        data = exif.tobytes()
    except Exception:  # noqa: BLE001 - an EXIF block Pillow cannot rewrite is dropped, never copied with its orientation
        return None
    return data if len(data) < 65000 else None  # a JPEG APP1 segment holds at most 64 kB


def _encoder(frames: list, durations: list, loop: int, meta: dict, fmt: str) -> Callable[[Any, int | None], None]:
    """``encode(fp, quality)`` writes the output in ``fmt`` (quality: JPEG/WebP only; None: the default)."""
    first = frames[0]
    pil = _PIL_FORMATS[fmt]
    base: dict[str, Any] = {}
    if fmt in ("jpeg", "png", "webp", "tiff") and meta.get("icc_profile"):
        base["icc_profile"] = meta["icc_profile"]
    if fmt in ("jpeg", "png", "webp") and meta.get("exif"):
        base["exif"] = meta["exif"]
    if fmt in ("jpeg", "png"):
        base["optimize"] = True
    if fmt == "webp":
        base["method"] = 4
    if fmt == "tiff":
        base["compression"] = "tiff_lzw"
    if len(frames) > 1:
        base.update(save_all=True, append_images=frames[1:], duration=durations, loop=loop)
        if fmt == "gif":
            base["disposal"] = 2  # each frame is a whole picture (Pillow gives composited frames)

    def encode(fp: Any, quality: int | None) -> None:
        kwargs = dict(base)
        if fmt in ("jpeg", "webp"):
            kwargs["quality"] = quality or _QUALITY
        first.save(fp, format=pil, **kwargs)

    return encode


def _write(encode: Callable[[Any, int | None], None], target: ImageTarget, fmt: str, name: str, out: str) -> None:
    """Encode to ``out`` through a temp file; under ``target.max_bytes`` by lowering the quality if need be."""
    limit = target.max_bytes
    try:
        with atomic_output(out) as tmp:
            if limit is None:
                encode(tmp, None)
                return
            data = _under(encode, limit, fmt, name)
            with open(tmp, "wb") as fh:
                fh.write(data)
    except PrepError:
        raise
    except OSError as exc:  # a full disk, a read-only folder…
        raise PrepError(f"{name}: cannot write {out}: {exc.strerror or _one_line(exc)}") from None
    except (ValueError, TypeError, KeyError) as exc:  # Pillow refusing something about this picture
        raise PrepError(f"{name}: Pillow could not write it as {fmt.upper()}: {_one_line(exc)}") from None


def _under(encode: Callable[[Any, int | None], None], limit: int, fmt: str, name: str) -> bytes:
    """The best encoding smaller than ``limit`` bytes: the default, else the highest quality that fits."""

    def at(quality: int | None) -> bytes:
        buf = io.BytesIO()
        encode(buf, quality)
        return buf.getvalue()

    data = at(None)
    if len(data) < limit:
        return data
    if fmt not in ("jpeg", "webp"):
        raise PrepError(f"{name}: the {fmt.upper()} output is {size_text(len(data))} even optimised; it must be under "
                        f"{size_text(limit)} (a JPEG output would be smaller)")
    best, lo, hi = None, _QUALITY_FLOOR, _QUALITY - 1
    for _ in range(_QUALITY_STEPS):
        if lo > hi:
            break
        mid = (lo + hi) // 2
        trial = at(mid)
        if len(trial) < limit:
            best, lo = trial, mid + 1
        else:
            hi = mid - 1
    if best is None:
        raise PrepError(f"{name}: the {fmt.upper()} output is still over {size_text(limit)} at quality {_QUALITY_FLOOR}; "
                        "a smaller size (--max-side) would fit")
    return best


# -- small helpers ---------------------------------------------------------------------------------


def _check_geometry(target: ImageTarget) -> None:
    """The target is the planner's contract: pad only grows, crop only shrinks, none changes nothing."""
    (W, H), (w, h) = target.size, target.scale_to
    if min(W, H, w, h) < 1:
        raise ValueError(f"ImageTarget sizes must be positive: {target}")
    ok = {"none": (w, h) == (W, H), "pad": w <= W and h <= H, "crop": w >= W and h >= H}.get(target.fit)
    if not ok:
        raise ValueError(f"ImageTarget fit {target.fit!r} cannot turn {w}×{h} into {W}×{H}")


def _colour(fill: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        rgb = ImageColor.getrgb(fill.strip())
    except ValueError:
        raise PrepError(f"pad colour {fill!r} is not a colour: use #RRGGBB or blur") from None
    return rgb[0], rgb[1], rgb[2]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
