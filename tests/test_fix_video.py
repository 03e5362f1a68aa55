"""The video executor (prep.fix.video) and the ffmpeg runner (prep.fix.ffmpeg).

Every output is measured again by readers that are not the project's: pymediainfo (container, codec,
sizes, frame rate, durations, tracks) and ffmpeg's own decode (frames, pixels), and by the inspector for
the facts the rules judge. Originals are byte-identical afterwards; a killed or interrupted ffmpeg leaves
no file behind.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from media import ffmpeg_exe, has_encoder, media  # noqa: F401  (media is a fixture)

from prep.fix import ffmpeg as runner
from prep.fix.model import VideoTarget
from prep.fix.video import budget, filter_graph, fix_video, fps_text, output_frames
from prep.inspect import inspect_path
from prep.model import MediaFacts, PrepError

pytest.importorskip("pymediainfo")

# -- independent readers ---------------------------------------------------------------------------


def tracks(path) -> dict:
    """pymediainfo's tracks by type (the first of each)."""
    from pymediainfo import MediaInfo

    found: dict = {}
    for track in MediaInfo.parse(str(path)).tracks:
        found.setdefault(track.track_type, track)
    return found


def decoded_frames(path, *extra: str) -> int:
    """How many video frames ffmpeg decodes from ``path``."""
    out = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", *extra, "-i", str(path), "-map", "0:v:0",
                          "-f", "framecrc", "-"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line and not line.startswith("#"))


def packet_hashes(path, stream: str = "v") -> list[str]:
    """The MD5 of every packet of the first ``stream`` track, as stored (no decoding)."""
    out = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", f"0:{stream}:0",
                          "-c", "copy", "-f", "framemd5", "-"], capture_output=True, text=True, check=True).stdout
    return [line.split(",")[5].strip() for line in out.splitlines() if line and not line.startswith("#")]


def frame_rgb(path, at_s: float = 0.0, squash: tuple[int, int] | None = None) -> tuple[int, int, bytes]:
    """One decoded frame as RGB bytes, with its size: turned by the display matrix, as players do, or
    (``squash``) stored pixels scaled to that size without turning."""
    facts = tracks(path)["Video"]
    w, h = int(facts.width), int(facts.height)
    if str(getattr(facts, "rotation", "0") or "0").split(".")[0] in ("90", "270", "-90"):
        w, h = h, w
    extra = ["-noautorotate"] if squash else []
    scale = ["-vf", f"scale={squash[0]}:{squash[1]}"] if squash else []
    if squash:
        w, h = squash
    data = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", *extra, "-ss", str(at_s), "-i", str(path),
                           *scale, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                          capture_output=True, check=True).stdout
    return w, h, data


def top_level_boxes(path) -> list[bytes]:
    data = Path(path).read_bytes()
    boxes, off = [], 0
    while off + 8 <= len(data):
        size = int.from_bytes(data[off:off + 4], "big")
        boxes.append(data[off + 4:off + 8])
        if size == 1:
            size = int.from_bytes(data[off + 8:off + 16], "big")
        if size < 8:
            break
        off += size
    return boxes


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fixed(source, target, tmp_path, **kwargs) -> Path:
    """``fix_video`` into ``tmp_path``; asserts the source is untouched and nothing else was left there."""
    before = sha(source)
    out = tmp_path / "out.mp4"
    fix_video(str(source), target, str(out), **kwargs)
    assert sha(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    return out


def assert_mp4_h264(out, width: int, height: int) -> dict:
    found = tracks(out)
    assert found["General"].format == "MPEG-4"
    assert found["Video"].format == "AVC"
    assert (int(found["Video"].width), int(found["Video"].height)) == (width, height)
    assert width % 2 == 0 and height % 2 == 0
    assert found["Video"].color_space == "YUV" and found["Video"].chroma_subsampling == "4:2:0"
    assert top_level_boxes(out).index(b"moov") < top_level_boxes(out).index(b"mdat")  # +faststart
    facts = inspect_path(out)
    assert (facts.format, facts.codec, facts.width, facts.height, facts.rotation) == ("mp4", "h264", width,
                                                                                       height, 0)
    assert facts.problem is None
    return found


# -- remux -----------------------------------------------------------------------------------------


def test_remux_copies_the_streams_into_mp4(media, tmp_path):
    source = media.video(size="64x48", seconds=1, container="mkv", audio=True)
    out = fixed(source, VideoTarget(remux_only=True), tmp_path)
    found = tracks(out)
    assert found["General"].format == "MPEG-4"
    assert found["Video"].format == "AVC"
    assert packet_hashes(out) == packet_hashes(source)  # the very same packets: copied, not re-encoded
    assert decoded_frames(out) == decoded_frames(source) == 10
    assert found["Audio"].format == "AAC"  # Vorbis is not an MP4 audio codec players take: re-encoded
    assert top_level_boxes(out).index(b"moov") < top_level_boxes(out).index(b"mdat")
    assert inspect_path(out).format == "mp4"


@pytest.mark.parametrize("fps, seconds, bframes", [(24, 2.0, False), (24, 2.0, True), (30000 / 1001, 2.002, True),
                                                   (60, 2.0, False)])
def test_remux_of_millisecond_times_keeps_the_duration(media, tmp_path, fps, seconds, bframes):
    """Matroska keeps whole milliseconds: copied as they are, a 2.000 s clip at 24 fps lasted 1.999 s in MP4
    (its last frame 41 ms long), under a 2 s minimum the source met."""
    extra = ("-preset", "medium") if bframes else ()
    source = media.video(size="64x48", fps=fps, seconds=seconds, container="mkv", extra=extra)
    out = fixed(source, VideoTarget(remux_only=True), tmp_path)
    assert packet_hashes(out) == packet_hashes(source)
    assert decoded_frames(out) == decoded_frames(source) == round(fps * seconds)
    assert round(float(tracks(out)["Video"].duration)) == round(seconds * 1000)  # pymediainfo: ms
    assert inspect_path(out).duration_s == pytest.approx(seconds, abs=0.0005)


def test_remux_copies_aac_audio_and_reencodes_what_mp4_players_do_not_take(media, tmp_path):
    aac = media.video(size="64x48", seconds=1, container="mov", audio=True)
    out = fixed(aac, VideoTarget(remux_only=True), tmp_path)
    assert packet_hashes(out, "a") == packet_hashes(aac, "a")
    opus = media.video(size="64x48", seconds=1, container="webm", codec="libvpx-vp9", audio=True)
    (tmp_path / "out.mp4").unlink()
    out = fixed(opus, VideoTarget(remux_only=True), tmp_path)
    assert tracks(out)["Audio"].format == "AAC"
    assert packet_hashes(out) == packet_hashes(opus)


def test_remux_of_hevc_writes_the_hvc1_sample_entry(media, tmp_path):
    if not has_encoder("libx265"):
        pytest.skip("this ffmpeg has no libx265")
    source = media.video(size="64x48", seconds=1, codec="libx265", container="mkv")
    out = fixed(source, VideoTarget(remux_only=True), tmp_path)
    assert tracks(out)["Video"].codec_id == "hvc1"
    assert packet_hashes(out) == packet_hashes(source)
    assert inspect_path(out).codec == "hevc"


# -- one re-encoding pass --------------------------------------------------------------------------


def test_scale_into_a_pixel_range_keeps_aspect_and_even_sides(media, tmp_path):
    source = media.video(size="64x48", seconds=1)
    out = fixed(source, VideoTarget(size=(90, 68), scale_to=(90, 68)), tmp_path)
    assert_mp4_h264(out, 90, 68)
    assert abs(90 / 68 - 64 / 48) / (64 / 48) < 0.01
    assert decoded_frames(out) == 10


def test_an_odd_source_becomes_even_without_a_size(media, tmp_path):
    source = media.sized_video(63, 47)
    out = fixed(source, VideoTarget(fps=24), tmp_path)
    assert_mp4_h264(out, 62, 46)


def test_pad_to_a_ratio_with_a_colour(media, tmp_path):
    source = media.video(size="64x48", seconds=1)
    out = fixed(source, VideoTarget(size=(64, 64), scale_to=(64, 48), fit="pad", fill="#FF0000"), tmp_path)
    assert_mp4_h264(out, 64, 64)
    w, h, rgb = frame_rgb(out, 0.5)
    for x, y in ((0, 0), (w - 1, 2), (w // 2, h - 1)):  # the bands above and below are the fill
        r, g, b = rgb[3 * (y * w + x): 3 * (y * w + x) + 3]
        assert r > 200 and g < 60 and b < 60, (x, y, r, g, b)
    middle = 3 * ((h // 2) * w + w // 2)
    assert rgb[middle:middle + 3] != rgb[0:3]  # the picture is in the middle


def test_pad_with_a_blurred_copy_behind(media, tmp_path):
    source = media.video(size="64x48", seconds=1)
    out = fixed(source, VideoTarget(size=(64, 80), scale_to=(64, 48), fit="pad", fill="blur"), tmp_path)
    assert_mp4_h264(out, 64, 80)
    w, _, rgb = frame_rgb(out, 0.5)
    top = [rgb[3 * x: 3 * x + 3] for x in range(w)]
    assert len(set(top)) > 4  # not a flat fill: the picture, blurred
    assert max(max(px) for px in top) > 40  # and not black


def test_crop_to_a_ratio(media, tmp_path):
    source = media.video(size="64x48", seconds=1)
    out = fixed(source, VideoTarget(size=(48, 48), scale_to=(64, 48), fit="crop"), tmp_path)
    assert_mp4_h264(out, 48, 48)
    assert decoded_frames(out) == 10


def test_15_fps_becomes_24(media, tmp_path):
    source = media.video(size="64x48", fps=15, seconds=2)
    out = fixed(source, VideoTarget(fps=24), tmp_path)
    found = assert_mp4_h264(out, 64, 48)
    assert float(found["Video"].frame_rate) == 24.0
    assert found["Video"].frame_rate_mode == "CFR"
    assert decoded_frames(out) == 48
    assert inspect_path(out).fps == 24.0


def test_trim_20_s_to_14_9_s_never_lasts_longer(media, tmp_path):
    source = media.video(size="64x48", fps=15, seconds=20, audio=True)
    target = VideoTarget(size=(64, 48), scale_to=(64, 48), fps=24, duration_s=14.9)
    out = fixed(source, target, tmp_path, progress=lambda done, total: None)
    found = assert_mp4_h264(out, 64, 48)
    frame = 1 / 24
    for seconds in (found["General"].duration / 1000, found["Video"].duration / 1000,
                    found["Audio"].duration / 1000, inspect_path(out).duration_s,
                    decoded_frames(out) / 24):
        assert 14.9 - frame - 0.001 <= seconds <= 14.9, seconds
    assert found["Audio"].format == "AAC"
    assert inspect_path(out).has_audio


def test_trim_from_a_start_takes_the_frames_from_there(media, tmp_path):
    source = media.video(size="64x48", fps=10, seconds=3)
    out = fixed(source, VideoTarget(start_s=1.0, duration_s=1.5), tmp_path)
    assert decoded_frames(out) == 15
    _, _, first = frame_rgb(out, 0)
    _, _, at_one = frame_rgb(source, 1.0)
    _, _, at_zero = frame_rgb(source, 0)
    diff = sum(abs(a - b) for a, b in zip(first, at_one, strict=True)) / len(first)
    assert diff < sum(abs(a - b) for a, b in zip(first, at_zero, strict=True)) / len(first)
    assert diff < 8


def test_a_size_budget_keeps_the_output_under_max_bytes(media, tmp_path):
    source = media.video(size="64x48", fps=10, seconds=3, extra=("-vf", "noise=alls=80:allf=t"))
    free = fixed(source, VideoTarget(size=(128, 96), scale_to=(128, 96)), tmp_path).stat().st_size
    limit = free // 2
    (tmp_path / "out.mp4").unlink()
    out = fixed(source, VideoTarget(size=(128, 96), scale_to=(128, 96), max_bytes=limit), tmp_path)
    assert out.stat().st_size < limit
    assert_mp4_h264(out, 128, 96)
    assert decoded_frames(out) == 30


def test_a_rotated_source_comes_out_upright(media, tmp_path):
    source = media.rotated_video(90)  # 64×48 stored, shown 48×64
    assert inspect_path(source).rotation in (90, 270)
    out = fixed(source, VideoTarget(size=(48, 64), scale_to=(48, 64)), tmp_path)
    found = assert_mp4_h264(out, 48, 64)
    assert float(getattr(found["Video"], "rotation", 0) or 0) == 0
    _, _, upright = frame_rgb(source, 0.5)  # ffmpeg turns the source as a player would
    _, _, squashed = frame_rgb(source, 0.5, squash=(48, 64))
    _, _, got = frame_rgb(out, 0.5)
    turned = sum(abs(a - b) for a, b in zip(got, upright, strict=True)) / len(got)
    assert turned < 10
    assert turned < sum(abs(a - b) for a, b in zip(got, squashed, strict=True)) / len(got)


def test_a_source_without_audio_gives_an_output_without_audio(media, tmp_path):
    source = media.video(size="64x48", seconds=1, audio=False)
    out = fixed(source, VideoTarget(fps=24), tmp_path)
    assert "Audio" not in tracks(out)
    assert not inspect_path(out).has_audio


def test_audio_false_drops_the_track(media, tmp_path):
    source = media.video(size="64x48", seconds=1, audio=True)
    out = fixed(source, VideoTarget(fps=24, audio=False), tmp_path)
    assert "Audio" not in tracks(out)


def test_a_kept_audio_track_is_aac(media, tmp_path):
    source = media.video(size="64x48", seconds=2, container="webm", codec="libvpx-vp9", audio=True)
    out = fixed(source, VideoTarget(fps=24), tmp_path)
    found = assert_mp4_h264(out, 64, 48)
    assert found["Audio"].format == "AAC"
    assert abs(found["Audio"].duration / 1000 - 2.0) < 0.05


# -- failures leave nothing ------------------------------------------------------------------------


def test_an_unreadable_source_is_one_line_and_no_output(media, tmp_path):
    broken = media.write("broken.mkv", b"\x1aE\xdf\xa3" + b"\x00" * 200)
    with pytest.raises(PrepError) as err:
        fix_video(str(broken), VideoTarget(fps=24), str(tmp_path / "out.mp4"))
    assert "broken.mkv" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_without_imageio_ffmpeg_it_says_what_to_install(media, tmp_path, monkeypatch):
    source = media.video(size="64x48", seconds=1)
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    with pytest.raises(PrepError, match=r"^fixing video and audio needs ffmpeg .*pip install .*imageio-ffmpeg"):
        fix_video(str(source), VideoTarget(fps=24), str(tmp_path / "out.mp4"))
    assert list(tmp_path.iterdir()) == []


class _SlowPopen(subprocess.Popen):
    """ffmpeg reading its input at the media's own pace (``-re``), so a test can act while it runs."""

    started: ClassVar[list] = []

    def __init__(self, cmd, *args, **kwargs):
        at = cmd.index("-i")
        cmd = [*cmd[:at], "-re", *cmd[at:]]
        super().__init__(cmd, *args, **kwargs)
        _SlowPopen.started.append(self)


@pytest.fixture
def slow_ffmpeg(monkeypatch):
    _SlowPopen.started = []
    monkeypatch.setattr(runner.subprocess, "Popen", _SlowPopen)
    return _SlowPopen.started


def test_a_killed_ffmpeg_leaves_no_output(media, tmp_path, slow_ffmpeg):
    source = media.video(size="64x48", fps=10, seconds=3)
    alive = []

    def kill(done: float, total: float | None) -> None:
        if not alive:
            alive.append(slow_ffmpeg[-1].poll() is None)
            slow_ffmpeg[-1].kill()

    before = sha(source)
    with pytest.raises(PrepError) as err:
        fix_video(str(source), VideoTarget(fps=24), str(tmp_path / "out.mp4"), progress=kill)
    assert alive == [True]  # it was killed mid-run
    assert "signal" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []
    assert sha(source) == before


def test_ctrl_c_kills_ffmpeg_and_leaves_no_output(media, tmp_path, slow_ffmpeg):
    source = media.video(size="64x48", fps=10, seconds=3)

    def interrupt(done: float, total: float | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fix_video(str(source), VideoTarget(fps=24), str(tmp_path / "out.mp4"), progress=interrupt)
    assert slow_ffmpeg[-1].returncode is not None and slow_ffmpeg[-1].returncode < 0  # killed, and reaped
    assert list(tmp_path.iterdir()) == []


def test_a_run_past_the_time_limit_is_stopped(media, tmp_path, slow_ffmpeg):
    source = media.video(size="64x48", fps=10, seconds=3)
    with pytest.raises(PrepError, match="did not finish within 0.3 s"):
        fix_video(str(source), VideoTarget(fps=24), str(tmp_path / "out.mp4"), timeout=0.3)
    assert slow_ffmpeg[-1].returncode is not None
    assert list(tmp_path.iterdir()) == []


def test_progress_reports_seconds_written(media, tmp_path, slow_ffmpeg):
    source = media.video(size="64x48", fps=10, seconds=2)
    seen: list = []
    fixed(source, VideoTarget(fps=24), tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert seen and all(total == 2.0 for _, total in seen)
    assert 0 < max(done for done, _ in seen) <= 2.0 + 1e-6
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# -- the pure decisions ----------------------------------------------------------------------------


@given(st.floats(0.1, 600), st.sampled_from([23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60]))
def test_trimmed_frames_never_outlast_the_target(duration, fps):
    frames = output_frames(duration, fps)
    assert frames / fps <= duration + 1e-9 or frames == 1
    assert frames / fps > duration - 1 / fps - 1e-9


@given(st.sampled_from([23.976, 24, 25, 29.97, 30, 59.94, 60, 15, 12.5]))
def test_fps_text_is_exact(fps):
    num, _, den = fps_text(fps).partition("/")
    assert abs(int(num) / int(den or 1) - fps) < 0.001


@given(st.integers(200_000, 500_000_000), st.floats(0.5, 60), st.booleans())
def test_the_budget_fits_the_limit(max_bytes, duration, audio):
    try:
        video_bps, audio_bps = budget(max_bytes, duration, audio)
    except PrepError:
        assert max_bytes * 8 / duration < 200_000  # only hopeless budgets are refused
        return
    assert video_bps > 0 and (audio_bps > 0) == audio
    # the video may run at its cap for the whole duration plus one full rate-control buffer
    assert video_bps * (duration + 1) + audio_bps * duration <= max_bytes * 8 * 0.95 + 1


@given(st.integers(1, 4000), st.integers(1, 4000), st.sampled_from(["pad", "crop"]))
def test_the_graph_always_ends_even_and_square_pixeled(w, h, fit):
    size = (w + w % 2, h + h % 2)
    graph = filter_graph(VideoTarget(size=size, scale_to=(w, h), fit=fit), 24.0, slower=False)
    assert graph.startswith("[0:v:0]") and graph.endswith("setsar=1[v]")
    assert ("pad=" in graph) == (fit == "pad" and (w, h) != size)
    assert ("crop=" in graph) == (fit == "crop" and (w, h) != size)


def test_a_bad_fill_colour_is_a_prep_error():
    with pytest.raises(PrepError, match="#RRGGBB"):
        filter_graph(VideoTarget(size=(64, 64), scale_to=(64, 48), fit="pad", fill="red"), None, False)


def test_seconds_round_down_to_the_microsecond():
    assert runner.seconds(14.875) == "14.875"
    assert runner.seconds(2 / 3) == "0.666666"
    assert runner.seconds(0) == "0"
    assert math.isclose(float(runner.seconds(446 / 29.97)), 446 / 29.97, abs_tol=1e-6)
    assert float(runner.seconds(446 / 29.97)) <= 446 / 29.97


def test_facts_without_fps_trim_by_time_only():
    from prep.fix.video import encode_args

    facts = MediaFacts(kind="video", format="mp4", bytes=1, duration_s=10.0, has_video=True)
    args = encode_args("in.mp4", facts, VideoTarget(duration_s=5.0), video_bps=None, audio_bps=0)
    assert args[args.index("-t") + 1] == "5" and "-frames:v" not in args
