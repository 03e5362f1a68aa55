"""prep.fix.images.fix_image (issue 9): every kind of image target, each output read back by Pillow (an
independent reader: format, size, mode, no orientation tag) AND by the project's inspector (no problem,
the facts the target asks for). Every source is byte-identical afterwards; a failed write leaves nothing."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from media import png_claiming

from prep.fix.images import fix_image
from prep.fix.model import ImageTarget
from prep.inspect import inspect_path
from prep.model import PrepError

PIL_NAME = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF", "gif": "GIF"}
INVERSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_90",
           7: "TRANSVERSE", 8: "ROTATE_270"}  # stored = INVERSE[o](upright): what a camera writes


# -- helpers ---------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(src: Path, target: ImageTarget, out: Path):
    """fix_image, then the source must be unchanged and the output must read back as the target says."""
    from PIL import Image

    before = _digest(src)
    fix_image(str(src), target, str(out))
    assert _digest(src) == before, "the source was modified"
    assert not [p for p in out.parent.iterdir() if ".part" in p.name], "a temp file was left behind"
    im = Image.open(out)
    im.load()
    assert im.format == PIL_NAME[target.format]
    assert im.size == target.size
    assert im.getexif().get(0x0112, 1) == 1, "an orientation tag other than 1 was written"
    facts = inspect_path(out)
    assert facts.problem is None, facts.problem
    assert (facts.kind, facts.format) == ("image", target.format)
    assert (facts.width, facts.height, facts.rotation) == (*target.size, 0)
    return im


def save(path: Path, im, fmt: str | None = None, **options) -> Path:
    im.save(path, format=fmt, **options)
    return path


def flat(size, colour=(200, 60, 30), mode="RGB"):
    from PIL import Image

    return Image.new(mode, size, colour)


def noise(size, seed: int = 1):
    from PIL import Image

    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))


def near(a, b, tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def quadrant_marked(size):
    """Blue, with the top-left quadrant red: shows which way is up after a rotation."""
    im = flat(size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    return im


# -- resize ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "scale_to"), [
    ((1200, 900), (600, 450)),  # a plain downscale
    ((4000, 3000), (500, 375)),  # exactly a JPEG DCT scale of 1/8
    ((4000, 3000), (2048, 1536)),  # draft 1/1 then LANCZOS
    ((3001, 2001), (1001, 667)),  # odd sizes, reduce() by 1×1 then LANCZOS
])
def test_resize_down_jpeg(tmp_path, source, scale_to):
    src = save(tmp_path / "a.jpg", quadrant_marked(source), "JPEG", quality=92)
    im = run(src, ImageTarget(size=scale_to, scale_to=scale_to, format="jpeg"), tmp_path / "out" / "a.jpg")
    assert im.mode == "RGB"
    w, h = scale_to
    assert near(im.getpixel((w // 4, h // 4)), (255, 0, 0), 40)  # the picture is scaled, not cropped
    assert near(im.getpixel((3 * w // 4, 3 * h // 4)), (0, 0, 255), 40)


def test_upscale_tiny_png(tmp_path):
    src = save(tmp_path / "tiny.png", quadrant_marked((40, 30)), "PNG")
    target = ImageTarget(size=(400, 300), scale_to=(400, 300), format="png", upscale=True)
    im = run(src, target, tmp_path / "out" / "tiny.png")
    assert near(im.convert("RGB").getpixel((50, 50)), (255, 0, 0), 8)
    assert near(im.convert("RGB").getpixel((350, 250)), (0, 0, 255), 8)


def test_big_jpeg_downscale_matches_plain_lanczos(tmp_path):
    """draft + reduce give what a full-size LANCZOS gives, near enough to be the same picture."""
    from PIL import Image, ImageChops, ImageStat

    src = save(tmp_path / "big.jpg", quadrant_marked((4000, 3000)).resize((4000, 3000)), "JPEG", quality=95)
    out = tmp_path / "out" / "small.png"
    run(src, ImageTarget(size=(640, 480), scale_to=(640, 480), format="png"), out)
    plain = Image.open(src).convert("RGB").resize((640, 480), Image.Resampling.LANCZOS)
    diff = ImageStat.Stat(ImageChops.difference(plain, Image.open(out).convert("RGB"))).mean
    assert max(diff) < 3, diff


# dB at the target size against a full decode + LANCZOS. The fast path measured 36.7–38.0 dB here (2000×1500
# test pattern, with and without noise) and 38.8–41.1 dB at 8000×6000 (bench/bench_fix_images.py); every 2×
# upscale from 1/8, a visibly soft picture, 28.3–34.0 dB. The floor sits between.
PSNR_FLOOR = 35.0


def _psnr(a, b) -> float:
    import math

    from PIL import ImageChops, ImageStat

    rms = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).rms
    mse = sum(r * r for r in rms) / len(rms)
    return 10 * math.log10(255**2 / mse) if mse else math.inf


@pytest.mark.parametrize("noise_strength", [0, 10])
def test_draft_short_of_the_target_then_upscaled_is_close_to_full_decode(tmp_path, noise_strength):
    """A 2000×1500 photo to 512×384 decodes at 1/4 (500×375, 2.3% short) and is upscaled: its picture stays
    above PSNR_FLOOR against a full decode + LANCZOS, where a 2× upscale from 1/8 (a soft picture) falls below."""
    from media import run_ffmpeg
    from PIL import Image

    from prep.fix.images import _draft_request

    src = tmp_path / "photo.jpg"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=s=2000x1500", "-vf", f"noise=alls={noise_strength}:allf=t",
               "-frames:v", "1", "-q:v", "3", str(src))
    size = (512, 384)
    assert _draft_request((2000, 1500), size) == (500, 375)  # the fast path is the one taken
    out = tmp_path / "out" / "small.png"
    run(src, ImageTarget(size=size, scale_to=size, format="png"), out)
    reference = Image.open(src).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    assert _psnr(reference, Image.open(out)) > PSNR_FLOOR
    soft = Image.open(src)
    soft.draft("RGB", (250, 187))
    assert soft.size == (250, 188)
    assert _psnr(reference, soft.resize(size, Image.Resampling.LANCZOS)) < PSNR_FLOOR  # the floor tells them apart


@st.composite
def _downscales(draw):
    """A source size and a target strictly smaller on both sides: drawn so, not filtered (hypothesis's
    filter_too_much health check fails a run that discards most of its inputs)."""
    w, h = draw(st.integers(2, 20000)), draw(st.integers(2, 20000))
    return w, h, draw(st.integers(1, w - 1)), draw(st.integers(1, h - 1))


@given(sizes=_downscales())
def test_draft_request_picks_the_smallest_scale_within_the_shortfall(sizes):
    """What Pillow's draft() does with the request (its formula) is the smallest DCT scale whose picture is at
    least the target less 3% a side, or no scaling."""
    from prep.fix.images import _DRAFT_SHORTFALL, _draft_request

    w, h, tw, th = sizes
    rw, rh = _draft_request((w, h), (tw, th))
    assert 1 <= rw <= w and 1 <= rh <= h
    chosen = min(w // rw, h // rh)
    scale = next(a for a in (8, 4, 2, 1) if chosen >= a)  # JpegImageFile.draft

    def fits(a: int) -> bool:
        return w >= a and h >= a and -(-w // a) >= (1 - _DRAFT_SHORTFALL) * tw and \
            -(-h // a) >= (1 - _DRAFT_SHORTFALL) * th

    assert fits(scale)
    assert not any(fits(a) for a in (8, 4, 2) if a > scale)
    assert -(-w // scale) >= 0.97 * tw and -(-h // scale) >= 0.97 * th  # at most a 3.1% upscale follows


# -- fit -------------------------------------------------------------------------------------------


def test_pad_colour(tmp_path):
    src = save(tmp_path / "banner.png", flat((600, 150), (10, 200, 10)), "PNG")
    target = ImageTarget(size=(600, 240), scale_to=(600, 150), fit="pad", fill="#ff00ff", format="png")
    im = run(src, target, tmp_path / "out" / "banner.png").convert("RGB")
    assert im.getpixel((300, 5)) == (255, 0, 255)  # top band: (240 - 150) // 2 = 45 rows
    assert im.getpixel((300, 234)) == (255, 0, 255)  # bottom band
    assert im.getpixel((300, 120)) == (10, 200, 10)
    assert im.getpixel((300, 45)) == (10, 200, 10) and im.getpixel((300, 44)) == (255, 0, 255)


def test_pad_grey_picture_with_a_colour_goes_rgb(tmp_path):
    src = save(tmp_path / "grey.png", flat((300, 100), 128, "L"), "PNG")
    target = ImageTarget(size=(300, 200), scale_to=(300, 100), fit="pad", fill="#0000ff", format="png")
    im = run(src, target, tmp_path / "out" / "grey.png")
    assert im.mode == "RGB"
    assert im.getpixel((5, 5)) == (0, 0, 255) and im.getpixel((150, 100)) == (128, 128, 128)


def test_pad_blur(tmp_path):
    src = save(tmp_path / "wide.jpg", quadrant_marked((900, 300)), "JPEG")
    target = ImageTarget(size=(900, 600), scale_to=(900, 300), fit="pad", fill="blur", format="jpeg")
    im = run(src, target, tmp_path / "out" / "wide.jpg")
    top = im.crop((0, 0, 900, 150))
    assert len(top.getcolors(1 << 20) or ()) > 20, "the backdrop is flat, not a blurred picture"
    r, _, b = top.getpixel((10, 10))
    assert r > b, "the backdrop's top-left comes from the picture's red corner"
    assert near(im.getpixel((100, 200)), (255, 0, 0), 40)  # the picture itself, sharp in the middle


def test_crop_centred(tmp_path):
    picture = flat((900, 300), (0, 0, 255))
    picture.paste((255, 255, 0), (0, 0, 50, 300))  # yellow edges that the crop removes
    picture.paste((255, 255, 0), (850, 0, 900, 300))
    picture.paste((255, 0, 0), (440, 140, 460, 160))  # a red dot in the centre
    src = save(tmp_path / "strip.png", picture, "PNG")
    target = ImageTarget(size=(750, 300), scale_to=(900, 300), fit="crop", format="png")
    im = run(src, target, tmp_path / "out" / "strip.png").convert("RGB")
    assert (255, 255, 0) not in {c for _, c in im.getcolors(1 << 16)}
    assert im.getpixel((375, 150)) == (255, 0, 0)


def test_target_contract_is_checked(tmp_path):
    src = save(tmp_path / "a.png", flat((100, 100)), "PNG")
    with pytest.raises(ValueError):
        fix_image(str(src), ImageTarget(size=(100, 100), scale_to=(200, 100), fit="pad"), str(tmp_path / "o.jpg"))
    with pytest.raises(ValueError):
        fix_image(str(src), ImageTarget(size=(100, 100), scale_to=(50, 100), fit="crop"), str(tmp_path / "o.jpg"))
    assert not (tmp_path / "o.jpg").exists()


def test_bad_pad_colour_is_one_line(tmp_path):
    src = save(tmp_path / "a.png", flat((100, 50)), "PNG")
    with pytest.raises(PrepError, match="pad colour") as info:
        fix_image(str(src), ImageTarget(size=(100, 100), scale_to=(100, 50), fit="pad", fill="nope"),
                  str(tmp_path / "o.jpg"))
    assert "\n" not in str(info.value)


# -- formats and modes -----------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb_jpeg(tmp_path):
    src = save(tmp_path / "print.jpg", flat((320, 240), (0, 128, 255, 0), "CMYK"), "JPEG")
    im = run(src, ImageTarget(size=(320, 240), scale_to=(320, 240), format="jpeg"), tmp_path / "out" / "p.jpg")
    assert im.mode == "RGB"
    assert near(im.getpixel((100, 100)), (255, 127, 0), 12)  # no ICC profile: Pillow's plain CMYK → RGB


def test_cmyk_with_icc_profile_is_converted_not_copied(tmp_path):
    from PIL import Image, ImageCms

    rgb = flat((200, 100), (30, 160, 90))
    # a CMYK profile is not shipped with Pillow; an sRGB one on a CMYK picture is still a CMYK source
    # whose profile must not be copied onto an RGB output
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = save(tmp_path / "c.jpg", rgb.convert("CMYK"), "JPEG", icc_profile=srgb)
    im = run(src, ImageTarget(size=(200, 100), scale_to=(200, 100), format="jpeg"), tmp_path / "out" / "c.jpg")
    assert im.mode == "RGB"
    icc = im.info.get("icc_profile")
    assert icc is None or icc[16:20] == b"RGB "
    assert isinstance(Image.open(src).info.get("icc_profile"), bytes)


def test_icc_profile_is_kept(tmp_path):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = save(tmp_path / "p.jpg", flat((800, 600)), "JPEG", icc_profile=srgb)
    for fmt in ("jpeg", "png", "webp", "tiff"):
        im = run(src, ImageTarget(size=(400, 300), scale_to=(400, 300), format=fmt), tmp_path / "out" / f"p.{fmt}")
        assert im.info.get("icc_profile") == srgb, fmt


def test_rgba_png_keeps_alpha(tmp_path):
    src = save(tmp_path / "logo.png", flat((60, 40), (10, 20, 30, 100), "RGBA"), "PNG")
    target = ImageTarget(size=(450, 450), scale_to=(450, 300), fit="pad", fill="#ffffff", format="png", upscale=True)
    im = run(src, target, tmp_path / "out" / "logo.png")
    assert im.mode == "RGBA"
    assert im.getpixel((225, 225)) == (10, 20, 30, 100)
    assert im.getpixel((5, 5)) == (255, 255, 255, 255)


def test_rgba_to_jpeg_flattens_onto_white(tmp_path):
    src = save(tmp_path / "logo.png", flat((400, 300), (0, 0, 0, 0), "RGBA"), "PNG")
    im = run(src, ImageTarget(size=(400, 300), scale_to=(400, 300), format="jpeg"), tmp_path / "out" / "l.jpg")
    assert im.mode == "RGB" and near(im.getpixel((200, 150)), (255, 255, 255), 3)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "bmp", "tiff", "gif"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_every_output_format_from_every_mode(tmp_path, fmt, mode):
    picture = quadrant_marked((360, 300))
    if mode == "RGBA":
        picture.putalpha(200)
    elif mode in ("L", "P"):
        picture = picture.convert(mode)
    src = save(tmp_path / "src.png", picture, "PNG")
    im = run(src, ImageTarget(size=(300, 250), scale_to=(300, 250), format=fmt), tmp_path / "out" / f"o.{fmt}")
    if fmt in ("jpeg", "bmp"):
        assert im.mode in ("RGB", "L")
    if fmt in ("png", "tiff", "webp") and mode == "RGBA":
        assert im.mode == "RGBA"


@pytest.mark.parametrize(("fmt", "suffix", "mode"), [
    ("PPM", "ppm", "RGB"), ("ICO", "ico", "RGBA"), ("TIFF", "tif", "CMYK"), ("AVIF", "avif", "RGB"),
    ("TIFF", "tif", "I;16"), ("GIF", "gif", "P"), ("JPEG2000", "jp2", "RGB"),
])
def test_other_formats_convert(tmp_path, fmt, suffix, mode):
    from PIL import features

    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    colour = {"CMYK": (0, 128, 255, 0), "I;16": 40000, "RGBA": (10, 20, 30, 255), "P": 3}.get(mode, (200, 60, 30))
    options = {"sizes": [(256, 256)]} if fmt == "ICO" else {}
    src = save(tmp_path / f"src.{suffix}", flat((256, 256), colour, mode), fmt, **options)
    out_fmt = "png" if mode == "RGBA" else "jpeg"
    im = run(src, ImageTarget(size=(300, 300), scale_to=(300, 300), format=out_fmt, upscale=True),
             tmp_path / "out" / f"o.{out_fmt}")
    if mode == "I;16":  # 16-bit grey is scaled to 8 bits, not clipped to white
        assert im.mode == "L" and abs(im.getpixel((150, 150)) - 40000 // 257) <= 2


def test_heic_converts_when_a_plugin_reads_it(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    src = save(tmp_path / "phone.heic", noise((640, 480)), "HEIF")
    run(src, ImageTarget(size=(640, 480), scale_to=(640, 480), format="jpeg"), tmp_path / "out" / "p.jpg")


# -- orientation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_upright_output(tmp_path, container, orientation):
    from PIL import Image, ImageOps

    upright = quadrant_marked((400, 300))
    stored = upright.transpose(Image.Transpose[INVERSE[orientation]]) if orientation > 1 else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    extra = {"tiffinfo": {0x0112: orientation}} if container == "TIFF" else {"exif": exif}
    src = save(tmp_path / f"cam.{container.lower()}", stored, container, **extra)
    # Pillow's own reading of the source agrees that this is the upright picture
    assert ImageOps.exif_transpose(Image.open(src)).size == (400, 300)
    facts = inspect_path(src)
    assert facts.rotation == {1: 0, 2: 0, 3: 180, 4: 180, 5: 270, 6: 90, 7: 90, 8: 270}[orientation]
    target = ImageTarget(size=(200, 150), scale_to=(200, 150), format="jpeg")
    im = run(src, target, tmp_path / "out" / "cam.jpg")
    assert near(im.getpixel((40, 30)), (255, 0, 0), 40), "top-left is not the upright top-left"
    assert near(im.getpixel((160, 120)), (0, 0, 255), 40)
    assert near(im.getpixel((160, 30)), (0, 0, 255), 40)


def test_exif_other_than_orientation_is_kept(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "CameraMaker"
    src = save(tmp_path / "cam.jpg", flat((400, 300)), "JPEG", exif=exif)
    im = run(src, ImageTarget(size=(300, 400), scale_to=(300, 400), format="jpeg"), tmp_path / "out" / "c.jpg")
    assert im.getexif().get(0x010F) == "CameraMaker"
    assert 0x0112 not in im.getexif()


# -- size limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_max_bytes_reencodes_lower(tmp_path, fmt):
    src = save(tmp_path / "noisy.png", noise((600, 400)), "PNG")
    plain = tmp_path / "out" / f"plain.{fmt}"
    run(src, ImageTarget(size=(600, 400), scale_to=(600, 400), format=fmt), plain)
    limit = plain.stat().st_size // 2
    small = tmp_path / "out" / f"small.{fmt}"
    run(src, ImageTarget(size=(600, 400), scale_to=(600, 400), format=fmt, max_bytes=limit), small)
    assert small.stat().st_size < limit
    assert small.stat().st_size > limit // 3, "the search should land near the limit, not at the floor"


def test_max_bytes_already_met_is_the_plain_encoding(tmp_path):
    src = save(tmp_path / "flat.png", flat((600, 400)), "PNG")
    a, b = tmp_path / "out" / "a.jpg", tmp_path / "out" / "b.jpg"
    run(src, ImageTarget(size=(600, 400), scale_to=(600, 400), format="jpeg"), a)
    run(src, ImageTarget(size=(600, 400), scale_to=(600, 400), format="jpeg", max_bytes=10**7), b)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("fmt", ["jpeg", "png", "bmp"])
def test_max_bytes_out_of_reach_is_one_line_and_no_file(tmp_path, fmt):
    src = save(tmp_path / "noisy.png", noise((400, 300)), "PNG")
    out = tmp_path / "out" / f"o.{fmt}"
    with pytest.raises(PrepError) as info:
        fix_image(str(src), ImageTarget(size=(400, 300), scale_to=(400, 300), format=fmt, max_bytes=300), str(out))
    message = str(info.value)
    assert "\n" not in message and ("under" in message or "over" in message)
    assert list(out.parent.iterdir()) == []


# -- animation -------------------------------------------------------------------------------------


def _animated_gif(path: Path, frames: int = 4) -> Path:
    pictures = [flat((120, 90), (60 * i % 256, 100, 200)) for i in range(frames)]
    pictures[0].save(path, format="GIF", save_all=True, append_images=pictures[1:], duration=80, loop=0)
    return path


def test_animated_gif_keeps_its_frames(tmp_path):
    src = _animated_gif(tmp_path / "anim.gif")
    target = ImageTarget(size=(400, 400), scale_to=(400, 300), fit="pad", format="gif", upscale=True)
    im = run(src, target, tmp_path / "out" / "anim.gif")
    assert im.n_frames == 4
    im.seek(2)
    assert near(im.convert("RGB").getpixel((200, 200)), (120, 100, 200), 16)


def test_animated_gif_to_jpeg_is_its_first_frame(tmp_path):
    src = _animated_gif(tmp_path / "anim.gif")
    target = ImageTarget(size=(400, 300), scale_to=(400, 300), format="jpeg", upscale=True)
    im = run(src, target, tmp_path / "out" / "anim.jpg")
    assert near(im.getpixel((200, 150)), (0, 100, 200), 16)


# -- bad input and failures ------------------------------------------------------------------------


def test_unreadable_source_is_one_line(tmp_path):
    src = tmp_path / "junk.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    for path in (src, tmp_path / "missing.png"):
        with pytest.raises(PrepError) as info:
            fix_image(str(path), ImageTarget(size=(300, 300), scale_to=(300, 300)), str(tmp_path / "out" / "o.jpg"))
        assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("size", [(10000, 9000), (20000, 20000)])  # past the bound; past twice the bound
def test_decompression_bomb_is_one_line(tmp_path, size):
    src = tmp_path / "bomb.png"
    src.write_bytes(png_claiming(*size))
    before = _digest(src)
    with pytest.raises(PrepError) as info:
        fix_image(str(src), ImageTarget(size=(300, 300), scale_to=(300, 300)), str(tmp_path / "o.jpg"))
    assert "\n" not in str(info.value) and "bomb" in str(info.value)
    assert _digest(src) == before and not (tmp_path / "o.jpg").exists()


def test_big_jpeg_past_the_bound_decodes_small_through_draft(tmp_path, monkeypatch):
    from PIL import Image

    src = save(tmp_path / "big.jpg", quadrant_marked((1600, 1200)), "JPEG")
    png = save(tmp_path / "big.png", quadrant_marked((1600, 1200)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_500_000)  # 1.92 MP is past it, 1/8 of it is not
    run(src, ImageTarget(size=(200, 150), scale_to=(200, 150), format="jpeg"), tmp_path / "out" / "s.jpg")
    with pytest.raises(PrepError, match="megapixels"):
        fix_image(str(png), ImageTarget(size=(200, 150), scale_to=(200, 150)), str(tmp_path / "out" / "p.jpg"))


def test_output_never_overwrites_the_source(tmp_path):
    src = save(tmp_path / "a.jpg", flat((400, 300)), "JPEG")
    before = _digest(src)
    with pytest.raises(PrepError, match="overwrite"):
        fix_image(str(src), ImageTarget(size=(200, 150), scale_to=(200, 150)), str(src))
    assert _digest(src) == before


@pytest.mark.parametrize("max_bytes", [None, 10**7])
def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch, max_bytes):
    from PIL import Image

    src = save(tmp_path / "a.jpg", noise((400, 300)), "JPEG")
    before = _digest(src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real_save = Image.Image.save

    def failing_save(self, fp, format=None, **params):
        real_save(self, fp, format=format, **params)  # a partial file first: then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(PrepError, match="No space left") as info:
        fix_image(str(src), ImageTarget(size=(200, 150), scale_to=(200, 150), max_bytes=max_bytes),
                  str(out_dir / "a.jpg"))
    assert "\n" not in str(info.value)
    assert list(out_dir.iterdir()) == []
    assert _digest(src) == before


def test_interrupt_mid_write_leaves_nothing(tmp_path, monkeypatch):
    from PIL import Image

    src = save(tmp_path / "a.jpg", noise((400, 300)), "JPEG")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "a.jpg").write_bytes(b"an older output")

    def interrupted(self, fp, format=None, **params):
        Path(fp).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fix_image(str(src), ImageTarget(size=(200, 150), scale_to=(200, 150)), str(out_dir / "a.jpg"))
    assert [p.name for p in out_dir.iterdir()] == ["a.jpg"]
    assert (out_dir / "a.jpg").read_bytes() == b"an older output"


# -- property: resize + pad keeps the aspect and gives the exact size ------------------------------


@st.composite
def _pad_frames(draw):
    """A source of 20..900 px a side and a box of 120..700 px a side it fits into with at least 120 px a side
    (so the picture is measurable): drawn so, not filtered."""
    w = draw(st.integers(20, 900))
    h = draw(st.integers(max(20, -(-w * 120 // 700)), min(900, w * 700 // 120)))
    short = min(w, h)
    box_w = draw(st.integers(-(-w * 120 // short), 700))
    box_h = draw(st.integers(-(-h * 120 // short), 700))
    return w, h, box_w, box_h


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(frame=_pad_frames(), orientation=st.integers(1, 8), source_fmt=st.sampled_from(["PNG", "JPEG"]))
def test_property_resize_pad_exact_size_and_aspect(tmp_path_factory, frame, orientation, source_fmt):
    """A planner-like target for any upright source size: fit inside box_w×box_h, pad to it. The output is
    exactly the box; the picture inside it (white on a black pad, found by Pillow) keeps its aspect."""
    from PIL import Image

    w, h, box_w, box_h = frame
    scale = min(box_w / w, box_h / h)
    scale_to = (min(box_w, max(1, round(w * scale))), min(box_h, max(1, round(h * scale))))
    assume(min(scale_to) >= 120)
    tmp = tmp_path_factory.mktemp("prop")
    upright = flat((w, h), (255, 255, 255))
    stored = upright.transpose(Image.Transpose[INVERSE[orientation]]) if orientation > 1 else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = save(tmp / f"src.{source_fmt.lower()}", stored, source_fmt, exif=exif)
    target = ImageTarget(size=(box_w, box_h), scale_to=scale_to, fit="none" if scale_to == (box_w, box_h) else "pad",
                         fill="#000000", format="png", upscale=scale > 1)
    im = run(src, target, tmp / "out" / "o.png")
    bbox = im.convert("L").point(lambda v: 255 if v > 127 else 0).getbbox()
    assert bbox is not None
    cw, ch = bbox[2] - bbox[0], bbox[3] - bbox[1]
    assert (cw, ch) == scale_to
    assert abs((cw / ch) / (w / h) - 1) <= 0.01
    # centred: the pad on each side differs by at most one pixel
    assert abs(bbox[0] - (box_w - bbox[2])) <= 1 and abs(bbox[1] - (box_h - bbox[3])) <= 1
    os.remove(src)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_banded_resize_gives_the_picture_of_one_resize(mode):
    """The executor resizes big downscales in bands of rows (less memory). Each band's kernel positions
    are rounded a little differently, so pixels may move by a level or so, never by a visible amount."""
    import math

    from PIL import Image, ImageChops, ImageStat

    from prep.fix.images import _resize

    texture = noise((375, 275), seed=7).resize((1500, 1100), Image.Resampling.BICUBIC).convert(mode)
    for size in ((750, 550), (768, 563), (700, 513), (1200, 800), (333, 260), (1000, 860)):
        banded = _resize(texture, size)
        plain = texture.resize(size, Image.Resampling.LANCZOS)
        assert banded.size == size and banded.mode == mode
        mse = max(ImageStat.Stat(ImageChops.difference(banded, plain).point(lambda v: v * v)).mean)
        assert mse == 0 or 10 * math.log10(255**2 / mse) > 45, (size, mse)


@pytest.mark.parametrize("kind", ["progressive", "mpo", "grey"])
def test_phone_jpeg_variants(tmp_path, kind):
    """Progressive JPEGs, MPO (what many phones write: a JPEG plus a second picture) and grey JPEGs go
    through the same draft/reduce path."""
    picture = quadrant_marked((2400, 1800))
    if kind == "progressive":
        src = save(tmp_path / "p.jpg", picture, "JPEG", progressive=True)
    elif kind == "mpo":
        src = save(tmp_path / "p.jpg", picture, "MPO", save_all=True, append_images=[flat((2400, 1800))])
    else:
        src = save(tmp_path / "p.jpg", picture.convert("L"), "JPEG")
    im = run(src, ImageTarget(size=(600, 450), scale_to=(600, 450), format="jpeg"), tmp_path / "out" / "p.jpg")
    assert im.mode == ("L" if kind == "grey" else "RGB")
    if kind != "grey":
        assert near(im.getpixel((100, 100)), (255, 0, 0), 40)
