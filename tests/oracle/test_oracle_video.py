"""Oracle: ``prep.inspect`` on MP4, MOV, M4A and 3GP against ffmpeg and pymediainfo.

Two sets of files, each file its own test id:

- a grid made at test time with the imageio-ffmpeg ffmpeg (once per session, in a tmp folder). It varies
  one or two axes at a time from a small base clip: codec (h264 with and without B-frames, hevc as
  hev1 and hvc1, mpeg4, vvc, and the other codecs ffmpeg muxes) × container (mp4, mov, m4a, 3gp);
  frame rates 15–120 including the NTSC ones, and a variable one; sizes one below, at and one above
  every pixel, side and ratio limit of ``rules/seedance-2.*.toml`` (clips of two frames); the moov at
  the start, at the end, empty (fragmented) or holding the first fragment (partly fragmented); a cut
  by stream copy (an edit list); display rotations; AAC in 1–7 channels and at 8–96 kHz, PCM, ALAC,
  MP3, AC-3, E-AC-3, AMR, Opus, FLAC; durations around every duration limit (tiny frames);
- every MP4-family file of mutagen's test corpus (``oracles.corpus("mutagen")``).

The references: ffmpeg's decode (``oracles.decode``: the duration where the decoded stream ends, the
decoded frames, decode errors), ffmpeg's stream list (``oracles.probe``: codec names, sizes, channel
layouts, display matrix) and pymediainfo (container, sizes, frame rate, channel counts). Where they
disagree, ffmpeg wins: the providers validate with ffmpeg-based tools.
"""

from __future__ import annotations

import os
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import pytest
from oracles import corpus, decode, ffmpeg, make, probe

from prep.inspect import inspect_path, sniff

# -- the grid --------------------------------------------------------------------------------------


class Clip(NamedTuple):
    """One generated file: a test pattern (or a flat colour for size cases) and optional AAC tone."""

    codec: str = "h264"
    size: str = "64x48"
    fps: str = "25"
    seconds: float = 1.0
    container: str = "mp4"
    channels: int = 0  # audio channels; 0 = no audio track
    acodec: str = "aac"  # the audio encoder
    movflags: str = ""
    rotate: int = 0  # display matrix, degrees anticlockwise (ffmpeg's -display_rotation)
    video: bool = True
    flat: bool = False  # a flat colour (size cases: big frames encode in no time)
    rate: int = 48000  # audio sample rate
    layout: str = ""  # an AAC channel layout other than the default for ``channels``
    vfr: bool = False  # frames 3-5 dropped, timestamps kept (a variable frame rate)
    cut: float = 0.0  # then cut by stream copy from this second on (an edit list skips the lead-in)

    @property
    def id(self) -> str:
        parts = [self.container, self.codec if self.video else "audio-only"]
        if self.video:
            parts += [self.size, f"{float(Fraction(self.fps)):g}fps"]
        parts.append(f"{self.seconds}s")
        if self.channels:
            parts.append(f"{self.acodec}{self.layout or self.channels}ch{'' if self.rate == 48000 else self.rate}")
        if self.vfr:
            parts.append("vfr")
        if self.cut:
            parts.append(f"cut{self.cut}")
        if self.movflags:
            parts.append(self.movflags.strip("+").replace("+", "_"))
        if self.rotate:
            parts.append(f"rot{self.rotate}")
        return "-".join(parts)

    def args(self) -> list[str]:
        args = []
        if self.video:
            if self.rotate:
                args += ["-noautorotate", "-display_rotation", str(self.rotate)]
            pattern = "color=c=gray:" if self.flat else "testsrc2="
            args += ["-f", "lavfi", "-i", f"{pattern}s={self.size}:r={self.fps}:d={self.seconds}"]
        if self.channels:
            layout = self.layout or {1: "mono", 2: "stereo", 6: "5.1"}[self.channels]
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={self.rate}:duration={self.seconds}",
                     "-af", f"aformat=channel_layouts={layout}", "-c:a", self.acodec]
        if self.video:
            width, height = (int(n) for n in self.size.split("x"))
            odd = width % 2 or height % 2
            args += {
                "h264": ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p" if odd else "yuv420p"],
                # B-frames: composition offsets and an edit list that starts the picture at its first frame
                "h264b": ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-pix_fmt", "yuv420p"],
                "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none"],
                "hvc1": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none",
                         "-tag:v", "hvc1"],
                "mpeg4": ["-c:v", "mpeg4"],
                **{c: ["-c:v", c] for c in ("mpeg2video", "mpeg1video", "mjpeg", "png", "h263")},
                "prores": ["-c:v", "prores_ks"],
                "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
                "av1": ["-c:v", "libaom-av1", "-cpu-used", "8"],
                "vvc": ["-c:v", "libvvenc", "-preset", "faster"],
            }[self.codec]
            args += ["-g", str(max(1, round(float(Fraction(self.fps)))))]
            if self.vfr:
                args += ["-vf", "select='not(between(n,3,5))'", "-fps_mode", "passthrough"]
        if self.movflags:
            args += ["-movflags", self.movflags]
        return args + ["-f", {"m4a": "ipod"}.get(self.container, self.container)]


NTSC = {"23.976": "24000/1001", "29.97": "30000/1001", "59.94": "60000/1001"}
BASE = Clip()

GRID: list[Clip] = [
    # codec × container
    *[BASE._replace(codec=c, container=k) for c in ("h264", "hevc", "hvc1", "mpeg4") for k in ("mp4", "mov")],
    BASE._replace(codec="vvc"),
    # other codecs ffmpeg muxes: their names (an 'mp4v' entry says MPEG-2, MJPEG... in its esds)
    *[BASE._replace(codec=c, container=k, seconds=0.2) for c in ("mpeg2video", "mpeg1video", "mjpeg", "png")
      for k in ("mp4", "mov")],
    *[BASE._replace(codec=c, container=k, seconds=0.2) for c, k in (("prores", "mov"), ("vp9", "mp4"),
                                                                     ("av1", "mp4"))],
    BASE._replace(codec="h263", container="mov", size="128x96", seconds=0.2),
    *[BASE._replace(codec="h264b", container=k, seconds=2.0, channels=c) for k in ("mp4", "mov") for c in (0, 2)],
    BASE._replace(codec="hvc1", channels=2, movflags="+faststart"),
    BASE._replace(codec="mpeg4", channels=1, container="mov"),
    BASE._replace(container="3gp", channels=1),
    BASE._replace(codec="mpeg4", container="3gp"),
    # frame rates (2 s of tiny frames)
    *[BASE._replace(fps=NTSC.get(r, r), seconds=2.0) for r in
      ("23.976", "24", "25", "29.97", "30", "50", "59.94", "60", "15", "120")],
    BASE._replace(fps=NTSC["29.97"], seconds=2.0, container="mov"),
    BASE._replace(fps=NTSC["59.94"], seconds=2.0, codec="hvc1"),
    BASE._replace(fps=NTSC["23.976"], seconds=2.0, codec="mpeg4"),
    # sizes at the pixel, side and ratio limits (two frames of flat colour)
    *[BASE._replace(size=s, seconds=0.08, flat=True) for s in (
        "638x642", "640x640", "642x640",  # 409,600 pixels (2.0 minimum)
        "832x1112", "834x1112", "836x1112",  # 927,408 pixels (2.0 maximum)
        "664x613", "664x614", "664x615",  # 407,696 pixels (2.5's enforced minimum)
        "299x400", "300x400", "301x400",  # 300 px sides
        "6000x300", "6001x300",  # 6000 px sides
        "748x300", "750x300", "752x300",  # ratio 2.5
        "300x748", "300x750", "300x752",  # ratio 0.4
        "1280x720", "1920x1080", "3840x2160",
    )],
    BASE._replace(size="834x1112", seconds=0.08, flat=True, codec="mpeg4"),
    BASE._replace(size="640x640", seconds=0.08, flat=True, codec="hvc1", container="mov"),
    # where the index sits: start, end, nowhere (fragmented), part in the moov and part in fragments
    *[BASE._replace(seconds=3.0, movflags=m, channels=a) for m in (
        "+faststart", "frag_keyframe+empty_moov", "frag_keyframe", "frag_keyframe+empty_moov+default_base_moof",
    ) for a in (0, 2)],
    BASE._replace(seconds=3.0, channels=2),  # moov at the end
    BASE._replace(seconds=3.0, movflags="frag_keyframe", container="mov"),
    BASE._replace(seconds=3.0, movflags="frag_keyframe+empty_moov", codec="hvc1"),
    # cut by stream copy: an edit list starts the picture after the keyframe the copy starts at
    *[BASE._replace(seconds=4.0, cut=1.3, codec=c, container=k, channels=a) for c, k, a in (
        ("h264", "mp4", 0), ("h264", "mp4", 2), ("h264b", "mp4", 0), ("h264", "mov", 1), ("hvc1", "mp4", 0))],
    # a variable frame rate
    BASE._replace(seconds=2.0, vfr=True),
    BASE._replace(seconds=2.0, vfr=True, container="mov", movflags="+faststart"),
    # display rotations
    *[BASE._replace(rotate=r) for r in (90, 180, 270, -90)],
    BASE._replace(rotate=270, codec="hvc1"),
    BASE._replace(rotate=90, container="mov"),
    # audio: AAC channel counts, with video and alone
    *[BASE._replace(channels=n) for n in (1, 2, 6)],
    *[BASE._replace(channels=n, container="mov") for n in (1, 6)],
    *[BASE._replace(channels=n, video=False, container="m4a") for n in (1, 2, 6)],
    *[BASE._replace(channels=n, layout=name, video=False, container="m4a") for n, name in ((4, "quad"), (7, "6.1"))],
    *[BASE._replace(channels=1, video=False, container="m4a", rate=r) for r in (8000, 22050, 44100, 96000)],
    BASE._replace(channels=2, video=False, container="m4a", movflags="frag_keyframe+empty_moov"),
    # other audio codecs: PCM in QuickTime (its sound description v2 for many channels), ALAC, MP3, AC-3
    *[BASE._replace(channels=n, acodec=c, container="mov") for n in (1, 2, 6) for c in ("pcm_s16le", "pcm_s24be")],
    BASE._replace(channels=2, acodec="pcm_f32le", container="mov", video=False),
    *[BASE._replace(channels=n, acodec="alac", container="m4a", video=False) for n in (1, 2, 6)],
    BASE._replace(channels=2, acodec="libmp3lame", container="mp4"),
    BASE._replace(channels=6, acodec="ac3", container="mp4"),
    BASE._replace(channels=6, acodec="eac3", container="mov"),
    BASE._replace(channels=1, acodec="libopencore_amrnb", rate=8000, container="3gp"),
    *[BASE._replace(channels=n, acodec=c, container="mp4", video=False) for c in ("libopus", "flac") for n in (1, 6)],
    BASE._replace(channels=1, video=False, container="mov"),
    BASE._replace(channels=6, video=False, container="3gp"),
    # durations around every duration limit (tiny frames)
    *[BASE._replace(size="32x32", seconds=s) for s in (1.8, 1.9, 2.0, 4.0, 15.0, 15.2, 30.0, 30.2)],
    *[BASE._replace(size="32x32", seconds=s, channels=2) for s in (1.8, 2.0, 15.0, 15.2)],
    BASE._replace(size="32x32", seconds=15.2, fps=NTSC["29.97"]),
    BASE._replace(size="32x32", seconds=15.0, fps="24", movflags="frag_keyframe"),
    *[BASE._replace(seconds=s, channels=1, video=False, container="m4a") for s in (1.8, 2.0, 15.0, 15.2)],
]


@pytest.fixture(scope="session")
def grid_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("oracle-video")


def _made(folder: Path, clip: Clip) -> Path:
    out = folder / f"{clip.id}.{clip.container}"
    if not out.exists():
        if clip.codec == "vvc" and not _has_encoder("libvvenc"):
            pytest.skip("this ffmpeg has no VVC encoder")
        args = clip.args()
        if clip.cut:
            whole = _made(folder, clip._replace(cut=0.0))
            args = ["-ss", str(clip.cut), "-i", str(whole), "-c", "copy", "-f", args[-1]]
        try:
            make(args, out)
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"ffmpeg could not make {clip.id}: {exc.stderr.decode(errors='replace')}")
    return out


_ENCODERS: dict[str, bool] = {}


def _has_encoder(name: str) -> bool:
    if name not in _ENCODERS:
        out = subprocess.run([ffmpeg(), "-hide_banner", "-encoders"], capture_output=True, text=True,
                             check=False).stdout
        _ENCODERS[name] = any(line.split()[1:2] == [name] for line in out.splitlines() if line.strip())
    return _ENCODERS[name]


# -- the references --------------------------------------------------------------------------------

_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (Video|Audio): (\w+)(.*)$", re.MULTILINE)
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 4, "quad": 4, "4.0": 4, "4.1": 5, "5.0": 5, "5.1": 6,
            "6.0": 6, "6.1": 7, "7.0": 7, "7.1": 8}


class Reference(NamedTuple):
    kind: str | None
    container: str | None  # mp4 | mov (pymediainfo's view), or None
    codec: str | None  # ffmpeg's name for the first video stream (else the first audio stream)
    audio_codec: str | None
    width: int | None
    height: int | None
    rotation: int
    fps: float | None  # ffmpeg's average rate (frames over duration, as ``ffmpeg -i`` prints it)
    mediainfo_fps: float | None
    mediainfo_size: tuple[int | None, int | None]
    channels: int | None  # ffmpeg's layout, checked against pymediainfo's count
    mediainfo_channels: int | None
    sample_rate: int | None
    video: dict | None  # ffmpeg's decode of the first video stream
    audio: dict | None  # ... and of the first audio stream


def reference(path: Path) -> Reference:
    from pymediainfo import MediaInfo

    text = probe(path)
    videos, audios = [], []
    for kind, codec, rest in _STREAM.findall(text):
        if kind == "Video" and "(attached pic)" not in rest:
            videos.append((codec, rest))
        elif kind == "Audio":
            audios.append((codec, rest))
    width = height = channels = sample_rate = fps = None
    rotation = 0
    if videos:
        size = re.search(r", (\d+)x(\d+)", videos[0][1])
        width, height = (int(size[1]), int(size[2])) if size else (None, None)
        rate = re.search(r", ([\d.]+) fps", videos[0][1])
        fps = float(rate[1]) if rate else None
        turn = re.search(r"rotation of (-?[\d.]+) degrees", text, re.IGNORECASE)
        rotation = round(-float(turn[1])) % 360 if turn else 0
    if audios:
        rest = audios[0][1]
        rate = re.search(r", (\d+) Hz", rest)
        sample_rate = int(rate[1]) if rate else None
        layout = re.search(r" Hz, ([^,]+),", rest)
        if layout:
            name = layout[1].split("(")[0].strip()
            n = re.match(r"(\d+) channels", name)
            channels = int(n[1]) if n else _LAYOUTS.get(name)
    info = MediaInfo.parse(os.fspath(path))
    general = next((t for t in info.tracks if t.track_type == "General"), None)
    mi_video = next((t for t in info.tracks if t.track_type == "Video"), None)
    mi_audio = next((t for t in info.tracks if t.track_type == "Audio"), None)
    container = None
    if general is not None and general.format:
        profile = (general.format_profile or "").lower()
        container = "mov" if general.format == "MPEG-4" and profile == "quicktime" else general.format.lower()
    mi_fps = float(mi_video.frame_rate) if mi_video is not None and mi_video.frame_rate else None
    mi_size = (mi_video.width, mi_video.height) if mi_video is not None else (None, None)
    mi_channels = int(str(mi_audio.channel_s).split()[0]) if mi_audio is not None and mi_audio.channel_s else None
    codec = videos[0][0] if videos else audios[0][0] if audios else None
    return Reference(
        kind="video" if videos else "audio" if audios else None, container=container, codec=codec,
        audio_codec=audios[0][0] if audios else None, width=width, height=height, rotation=rotation, fps=fps,
        mediainfo_fps=mi_fps, mediainfo_size=mi_size,
        channels=channels, mediainfo_channels=mi_channels, sample_rate=sample_rate,
        video=decode(path, "v") if videos else None, audio=decode(path, "a") if audios else None)


def _same_codec(ours: str | None, ffmpegs: str | None) -> bool:
    return ours == ffmpegs or (ours == "pcm" and (ffmpegs or "").startswith("pcm_"))


def compare(path: Path) -> None:
    """Assert that ``inspect_path(path)`` agrees with the references (the oracle's rules)."""
    f = inspect_path(path)
    ref = reference(path)
    decodes = [d for d in (ref.video, ref.audio) if d is not None]
    readable = bool(decodes) and all(not d["errors"] and d["duration_s"] for d in decodes)
    if not readable:  # ffmpeg cannot read it whole: we must not call it fine without a reason
        if not decodes or not any(d["duration_s"] for d in decodes):
            assert f.problem, f"ffmpeg decodes nothing from this file, inspect says {f}"
        return
    assert f.problem is None, f"ffmpeg decodes the file without an error, inspect says {f.problem!r}"
    # container and kind
    assert f.kind == ref.kind
    assert ref.container in ("mpeg-4", "mov", "kddi"), ref.container  # KDDI: a 3GPP2 brand
    if ref.container == "mov":
        assert f.format == "mov"
    else:
        assert f.format in ("mp4", "m4a", "3gp")
        assert (f.format == "m4a") == (ref.kind == "audio")
    # codecs, as ffmpeg names them
    assert _same_codec(f.codec, ref.codec), (f.codec, ref.codec)
    assert _same_codec(f.audio_codec, ref.audio_codec), (f.audio_codec, ref.audio_codec)
    assert (f.has_video, f.has_audio) == (ref.video is not None, ref.audio is not None)
    # duration: where ffmpeg's decode of the longest stream ends, within one frame
    tolerance = 0.0
    if ref.video is not None:
        assert (f.width, f.height, f.rotation) == (ref.width, ref.height, ref.rotation)
        assert (f.width, f.height) == ref.mediainfo_size
        # ffmpeg prints the rate to two decimals; pymediainfo's, where it differs, is its nominal rate
        assert ref.fps is not None and f.fps is not None
        assert f.fps == pytest.approx(ref.fps, rel=1e-3, abs=0.005)
        assert f.frames == ref.video["frames"]
        tolerance = max(tolerance, 1 / f.fps)
    if ref.audio is not None:
        assert f.channels == ref.channels
        assert ref.mediainfo_channels in (f.channels, None)  # pymediainfo gives no count for Opus in MP4
        assert f.sample_rate == ref.sample_rate
        tolerance = max(tolerance, 1024 / f.sample_rate)
    expected = max(d["duration_s"] for d in decodes)
    assert f.duration_s is not None
    assert abs(f.duration_s - expected) <= tolerance + 1e-6, (f.duration_s, expected)


@pytest.mark.parametrize("clip", GRID, ids=[c.id for c in GRID])
def test_generated_grid(grid_folder, clip):
    compare(_made(grid_folder, clip))


# -- the mutagen corpus ----------------------------------------------------------------------------

_MP4_SUFFIXES = (".mp4", ".m4a", ".m4b", ".m4v", ".3gp", ".3g2", ".mov")
# The MP4-family files of mutagen 1.48.1's tests/data (the corpus is pinned; the test below checks the list).
MUTAGEN = ["64bit.mp4", "alac.m4a", "covr-with-name.m4a", "ep7.m4b", "ep9.m4b", "has-tags.m4a",
           "nero-chapters.m4b", "no-tags.3g2", "no-tags.m4a", "truncated-64bit.mp4"]


def _is_mp4_family(path: Path) -> bool:
    if path.suffix.lower() in _MP4_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        return sniff(fh.read(4096))[1] in ("mp4", "mov", "m4a", "3gp")


def test_the_mutagen_list_is_every_mp4_family_file_of_the_corpus():
    folder = corpus("mutagen")
    assert sorted(p.name for p in folder.iterdir() if p.is_file() and _is_mp4_family(p)) == MUTAGEN


@pytest.mark.parametrize("name", MUTAGEN)
def test_mutagen_corpus(name):
    compare(corpus("mutagen") / name)
