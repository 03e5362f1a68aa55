"""Test media made at test time: ffmpeg (from imageio-ffmpeg) for audio/video, Pillow for images.

Every maker memoises on its arguments, so a test session makes each file once. Clips are tiny
(small frames, 10 fps, ultrafast presets) because the inspector only reads headers; sizes matter
only where a test is about sizes.

Use the ``media`` fixture in tests (``from media import media``), or ``Media(folder)`` elsewhere.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def has_encoder(name: str) -> bool:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True)
    return any(line.split()[1:2] == [name] for line in out.stdout.splitlines() if line.strip())


def run_ffmpeg(*args: str) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{done.stderr}")


class Media:
    """Makes media files under ``root`` on demand, once per distinct request."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._made: dict[str, Path] = {}

    def _once(self, key: str, suffix: str, make) -> Path:
        if key in self._made:
            return self._made[key]
        path = self.root / f"m{len(self._made):04d}{suffix}"
        tmp = path.with_name(path.name + ".part" + suffix)
        make(tmp)
        os.replace(tmp, path)
        self._made[key] = path
        return path

    # -- video -------------------------------------------------------------------------------------

    def video(self, *, size: str = "64x64", fps: float = 10, seconds: float = 1.0, codec: str = "libx264",
              container: str = "mp4", pix_fmt: str = "yuv420p", source: str = "testsrc2",
              audio: bool = False, faststart: bool = False, extra: tuple[str, ...] = ()) -> Path:
        """A clip of exactly ``round(seconds * fps)`` frames (pick values where that is whole)."""
        key = repr(("video", size, fps, seconds, codec, container, pix_fmt, source, audio, faststart, extra))

        def make(out: Path) -> None:
            sep = ":" if "=" in source else "="
            args = ["-f", "lavfi", "-i", f"{source}{sep}s={size}:r={fps}:d={seconds}"]
            if audio:
                args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=8000:duration={seconds}"]
            args += ["-c:v", codec, "-pix_fmt", pix_fmt]
            if codec in ("libx264", "libx265"):
                args += ["-preset", "ultrafast"]
            if codec == "libx265":
                args += ["-x265-params", "log-level=none"]
                if container in ("mp4", "mov"):
                    args += ["-tag:v", "hvc1"]
            if codec == "libvpx-vp9":
                args += ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"]
            if audio:
                args += ["-c:a", {"webm": "libopus", "avi": "libmp3lame"}.get(container, "aac")]
                if container == "webm":
                    args += ["-ar", "48000"]
            if faststart:
                args += ["-movflags", "+faststart"]
            run_ffmpeg(*args, *extra, "-f", _MUXERS.get(container, container), str(out))

        return self._once(key, "." + container, make)

    def sized_video(self, width: int, height: int) -> Path:
        """One frame of H.264 at any size, odd sides included (4:4:4 chroma has no even-size rule)."""
        return self.video(size=f"{width}x{height}", seconds=0.1, pix_fmt="yuv444p", source="color=c=gray")

    def rotated_video(self, degrees_anticlockwise: int) -> Path:
        """A clip whose track matrix asks players to turn it (ffmpeg's convention: anticlockwise)."""
        plain = self.video(size="64x48")
        key = repr(("rotated", degrees_anticlockwise))
        return self._once(key, ".mp4", lambda out: run_ffmpeg(
            "-display_rotation", str(degrees_anticlockwise), "-i", str(plain), "-c", "copy", "-f", "mp4",
            str(out)))

    def variable_fps_video(self) -> Path:
        """20 frames at 10 fps with frames 3–5 dropped and timestamps kept: 17 frames over 2 s."""
        return self.video(seconds=2.0, extra=("-vf", "select='not(between(n,3,5))'", "-fps_mode", "passthrough"))

    def audio_only_container(self, container: str) -> Path:
        """A video container (mov, mkv, mp4…) holding one audio track and no video track."""
        key = repr(("audio-only", container))
        codec = {"mkv": "libvorbis", "webm": "libopus"}.get(container, "aac")
        return self._once(key, "." + container, lambda out: run_ffmpeg(
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1", "-c:a", codec,
            "-f", _MUXERS.get(container, container), str(out)))

    # -- audio -------------------------------------------------------------------------------------

    def audio(self, *, seconds: float = 1.0, rate: int = 8000, channels: int = 1, container: str = "wav",
              codec: str | None = None) -> Path:
        """A sine tone. ``wav``/``flac`` are sample-exact; lossy formats round to whole frames."""
        key = repr(("audio", seconds, rate, channels, container, codec))
        default = {"mp3": "libmp3lame", "ogg": "libvorbis", "m4a": "aac", "flac": "flac", "wav": "pcm_s16le",
                   "opus": "libopus"}
        fmt = {"m4a": "ipod", "opus": "ogg"}.get(container, container)

        def make(out: Path) -> None:
            src = f"sine=frequency=440:sample_rate={rate}:duration={seconds}"
            run_ffmpeg("-f", "lavfi", "-i", src, "-ac", str(channels), "-c:a", codec or default[container],
                       "-f", fmt, str(out))

        return self._once(key, "." + container, make)

    # -- images ------------------------------------------------------------------------------------

    def image(self, *, fmt: str = "png", size: tuple[int, int] = (64, 48), mode: str = "RGB",
              exif_orientation: int | None = None, frames: int = 1) -> Path:
        """A flat-colour image saved by Pillow (``fmt`` is a Pillow format name, lower case)."""
        key = repr(("image", fmt, size, mode, exif_orientation, frames))
        suffix = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, "." + fmt)

        def make(out: Path) -> None:
            from PIL import Image

            colour = {"CMYK": (0, 128, 255, 0), "I;16": 40000, "L": 128, "RGBA": (10, 20, 30, 255)}
            pictures = [Image.new(mode, size, colour.get(mode, (i * 60 % 256, 100, 150))) for i in range(frames)]
            kwargs: dict = {}
            if exif_orientation is not None:
                exif = Image.Exif()
                exif[0x0112] = exif_orientation
                kwargs["exif"] = exif
            if fmt == "ico":
                kwargs["sizes"] = [size]
            if frames > 1:
                kwargs.update(save_all=True, append_images=pictures[1:], duration=100, loop=0)
            with open(out, "wb") as fh:
                pictures[0].save(fh, format=fmt.upper(), **kwargs)

        return self._once(key, suffix, make)

    def write(self, name: str, data: bytes) -> Path:
        """``data`` saved under ``name`` (for hand-built and hostile files)."""
        path = self.root / "raw" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    def truncated(self, path: Path, keep: int | float, name: str | None = None) -> Path:
        """A copy of ``path`` cut to ``keep`` bytes (an int) or that fraction of its size (a float)."""
        data = Path(path).read_bytes()
        cut = keep if isinstance(keep, int) else int(len(data) * keep)
        return self.write(name or f"cut{cut}-{Path(path).name}", data[:cut])


_MUXERS = {"mkv": "matroska", "m4a": "ipod"}


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Media:
    """Session-wide media maker; files are made on first use and shared by every test."""
    return Media(tmp_path_factory.mktemp("media"))


# -- hand-built bytes ------------------------------------------------------------------------------


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims ``width``×``height`` but whose pixel data is tiny."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def _box(typ: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + typ + body


def _full_box(typ: bytes, version: int, body: bytes) -> bytes:
    return _box(typ, bytes([version, 0, 0, 0]) + body)


def heif_bytes(width: int, height: int, brand: bytes = b"heic", irot: int | None = None) -> bytes:
    """A minimal HEIF/AVIF container (ftyp + meta with pitm/ispe/ipma + empty mdat).

    Neither Pillow nor this ffmpeg writes HEIC, and the inspector reads only the container, so a
    hand-built container tests exactly the code that runs on real phone photos.
    """
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x00\x00" + b"mif1" + brand)
    thumb = _full_box(b"ispe", 0, struct.pack(">II", 160, 120))
    props = [_full_box(b"ispe", 0, struct.pack(">II", width, height)), thumb]
    if irot is not None:
        props.append(_box(b"irot", bytes([irot])))
    ipco = _box(b"ipco", b"".join(props))
    assoc = bytes([1] + ([3] if irot is not None else []))
    ipma = _full_box(b"ipma", 0, struct.pack(">IHB", 2, 1, len(assoc)) + assoc
                     + struct.pack(">HBB", 2, 1, 2))
    meta = _full_box(b"meta", 0, _full_box(b"hdlr", 0, b"\x00" * 4 + b"pict" + b"\x00" * 13)
                     + _full_box(b"pitm", 0, struct.pack(">H", 1)) + _box(b"iprp", ipco + ipma))
    return ftyp + meta + _box(b"mdat", b"\x00" * 32)


def wav_bytes(samples: bytes, rate: int = 8000, channels: int = 1, claim: int | None = None) -> bytes:
    """A 16-bit PCM WAV; ``claim`` overrides the data chunk's declared size."""
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    size = len(samples) if claim is None else claim
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def image_bytes(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, format=fmt.upper())
    return buf.getvalue()


def inspect_with_peak(path) -> tuple:
    """``(inspect_path(path), peak bytes Python allocated meanwhile)``: for tests that a header
    claiming gigabytes costs no memory."""
    import tracemalloc

    from prep.inspect import inspect_path

    tracemalloc.start()
    try:
        facts = inspect_path(path)
        return facts, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def tiff_with(data: bytes, tag: int, value: int) -> bytes:
    """A little-endian TIFF with the SHORT/LONG value of ``tag`` in its first IFD replaced."""
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    out = bytearray(data)
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        p = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, p)[0] == tag:
            typ = struct.unpack_from("<H", data, p + 2)[0]
            struct.pack_into("<H" if typ == 3 else "<I", out, p + 8, value)
            return bytes(out)
    raise AssertionError(f"tag {tag} not in the first IFD")


# --------------------------------------------------------------------------------------------------
# Pillow-written images
