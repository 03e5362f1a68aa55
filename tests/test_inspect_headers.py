"""Sizes and colour modes of the rejected image formats read from their headers (PPM family, SGI, QOI,
PCX): what `fix` plans their conversion from. Files are written by Pillow; Pillow reads them back as the
reference (tests/oracle/test_oracle_rejected.py does the same on Pillow's own corpus)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from prep.inspect import inspect_bytes

CASES = [  # (Pillow mode, format, extension, the mode the inspector reports)
    ("RGB", "PPM", "ppm", "rgb"), ("L", "PPM", "pgm", "gray"), ("1", "PPM", "pbm", "gray"),
    ("RGB", "SGI", "sgi", "rgb"), ("RGBA", "SGI", "sgi", "rgba"), ("L", "SGI", "bw", "gray"),
    ("RGB", "QOI", "qoi", "rgb"), ("RGBA", "QOI", "qoi", "rgba"),
    ("RGB", "PCX", "pcx", None), ("P", "PCX", "pcx", None),
]


@pytest.mark.parametrize("mode,fmt,ext,expected_mode", CASES)
@pytest.mark.parametrize("size", [(1, 1), (299, 7), (6001, 300)])
def test_header_size_matches_pillow(mode, fmt, ext, expected_mode, size):
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, fmt)
    facts = inspect_bytes(buf.getvalue(), f"x.{ext}")
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert (facts.width, facts.height) == im.size == size
    assert facts.kind == "image" and facts.format == {"PPM": "ppm"}.get(fmt, fmt.lower())
    assert facts.color_mode == expected_mode and facts.problem is None


@pytest.mark.parametrize("header,size,mode", [
    (b"P6\n# a comment\n640 # inline\n480\n255\n", (640, 480), "rgb"),
    (b"P5 12\t34 255 ", (12, 34), "gray"),
    (b"P7\nWIDTH 320\nHEIGHT 200\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n", (320, 200), "rgba"),
    (b"PF\n800 600\n-1.0\n", (800, 600), "rgb"),
])
def test_pnm_headers(header, size, mode):
    facts = inspect_bytes(header + bytes(64), "x.ppm")
    assert (facts.width, facts.height, facts.color_mode) == (*size, mode)


@pytest.mark.parametrize("header", [b"P6\n640\n", b"P6\n-3 4 255\n", b"P6\n" + b"9" * 20 + b" 4 255\n",
                                    b"P7\nWIDTH x\nHEIGHT 2\nENDHDR\n"])
def test_a_header_without_a_size_gives_no_size(header):
    """Cut, negative, absurdly long or non-numeric fields: no size is made up (the fallback decides,
    and the format is still the rejected one)."""
    facts = inspect_bytes(header, "x.ppm")
    assert (facts.kind, facts.format, facts.width, facts.height) == ("image", "ppm", None, None)


def test_fix_converts_them_keeping_alpha_where_there_is_some(tmp_path, cli):
    for name, mode in (("solid.qoi", "RGB"), ("clear.qoi", "RGBA"), ("scan.pgm", "L"), ("scan.pcx", "RGB")):
        Image.new(mode, (640, 480)).save(tmp_path / name, name.rsplit(".")[1].replace("pgm", "ppm").upper())
    (tmp_path / "r.json").write_text(json.dumps({"model": "doubao-seedance-2-0-260128", "content": [
        {"type": "text", "text": "x"}] + [{"type": "image_url", "image_url": {"url": n}, "role": "reference_image"}
                                           for n in ("solid.qoi", "clear.qoi", "scan.pgm", "scan.pcx")]}))
    run = cli("fix", str(tmp_path / "r.json"), "--out", str(tmp_path / "out"))
    assert run.code == 0, run.out + run.err
    urls = [c["image_url"]["url"] for c in json.loads((tmp_path / "out" / "request.json").read_text())["content"][1:]]
    assert [u.rsplit(".", 1)[1] for u in urls] == ["jpg", "png", "jpg", "jpg"]
    for url in urls:
        with Image.open(tmp_path / "out" / url) as im:
            assert im.size == (640, 480)
