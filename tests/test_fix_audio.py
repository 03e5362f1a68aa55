"""The audio executor (prep.fix.audio).

Outputs are measured by readers that are not the project's: pymediainfo (format, codec, channels, bit
depth, duration) and ffmpeg's decode (the exact number of samples), and by the inspector for what the
rules judge. Originals are byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from media import ffmpeg_exe, media, wav_bytes  # noqa: F401  (media is a fixture)

from prep.fix.audio import (
    fix_audio,
    mp3_bitrate,
    mp3_frame_s,
    mp3_rate,
    parse_wav_layout,
    wav_frames,
    wav_pcm_codec,
)
from prep.fix.model import AudioTarget
from prep.inspect import inspect_path
from prep.model import PrepError

pytest.importorskip("pymediainfo")


def audio_track(path):
    from pymediainfo import MediaInfo

    return next(t for t in MediaInfo.parse(str(path)).tracks if t.track_type == "Audio")


def decoded(path) -> tuple[float, int, int]:
    """``(seconds, channels, sample rate)`` of what ffmpeg decodes, counted in samples."""
    info = audio_track(path)
    rate, channels = int(info.sampling_rate), int(info.channel_s)
    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-f", "s16le", "-ac", str(channels), "-ar", str(rate), "-"],
                         capture_output=True, check=True).stdout
    return len(raw) / (2 * channels) / rate, channels, rate


def samples(path, from_s: float) -> list[int]:
    """The decoded 16-bit samples (first channel) from ``from_s`` to the end."""
    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", str(from_s), "-i", str(path),
                          "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-"], capture_output=True, check=True).stdout
    return list(struct.unpack(f"<{len(raw) // 2}h", raw))


def packet_hashes(path) -> list[str]:
    out = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy",
                          "-f", "framemd5", "-"], capture_output=True, text=True, check=True).stdout
    return [line.split(",")[5].strip() for line in out.splitlines() if line and not line.startswith("#")]


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fixed(source, target: AudioTarget, tmp_path, name: str | None = None) -> Path:
    before = sha(source)
    out = tmp_path / (name or f"out.{target.format}")
    fix_audio(str(source), target, str(out))
    assert sha(source) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left
    return out


def is_mp3(path) -> None:
    info = audio_track(path)
    assert info.format == "MPEG Audio" and info.format_profile == "Layer 3"
    facts = inspect_path(path)
    assert (facts.format, facts.codec, facts.problem) == ("mp3", "mp3", None)


def test_wav_stays_wav_trimmed_to_the_sample(media, tmp_path):
    source = media.audio(seconds=3, rate=8000, channels=2, container="wav")
    out = fixed(source, AudioTarget(format="wav", duration_s=1.2345, copy=True), tmp_path)
    info = audio_track(out)
    assert info.format == "PCM" and int(info.bit_depth) == 16 and int(info.channel_s) == 2
    seconds, channels, rate = decoded(out)
    assert (channels, rate) == (2, 8000)
    assert 1.2345 - 1 / 8000 <= seconds <= 1.2345
    assert inspect_path(out).duration_s == pytest.approx(seconds, abs=1e-9)
    assert inspect_path(out).format == "wav"


def test_a_24_bit_wav_keeps_its_depth(media, tmp_path):
    source = media.audio(seconds=2, rate=8000, container="wav", codec="pcm_s24le")
    out = fixed(source, AudioTarget(format="wav", duration_s=1.0, copy=True), tmp_path)
    assert int(audio_track(out).bit_depth) == 24
    assert decoded(out)[0] == pytest.approx(1.0, abs=1 / 8000)


def test_a_conforming_file_is_copied_byte_for_byte(media, tmp_path):
    source = media.audio(seconds=1, rate=44100, container="mp3")
    out = fixed(source, AudioTarget(format="mp3", copy=True), tmp_path)
    assert out.read_bytes() == Path(source).read_bytes()


def pcm(path) -> bytes:
    """Every sample ffmpeg decodes, as signed 16-bit (all channels)."""
    return subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le",
                           "-"], capture_output=True, check=True).stdout


def _copy_file_range_fails_midway(real):
    """A copy_file_range that copies one block, then fails as across filesystems (EXDEV)."""
    calls = []

    def fake(src, dst, count, offset_src=None, offset_dst=None):
        calls.append(count)
        if len(calls) == 1:
            return real(src, dst, min(count, 4096), offset_src, offset_dst)
        raise OSError(18, "Invalid cross-device link")
    return fake


@pytest.mark.parametrize(("channels", "codec", "kernel"), [
    (1, "pcm_s16le", "yes"), (2, "pcm_s24le", "yes"), (6, "pcm_s16le", "yes"), (2, "pcm_f32le", "yes"),
    (1, "pcm_u8", "yes"), (2, "pcm_s16le", "absent"), (2, "pcm_s16le", "fails midway")])
def test_a_wav_is_cut_in_python_sample_for_sample(media, tmp_path, monkeypatch, channels, codec, kernel):
    """The samples are copied exactly, by the kernel's copy_file_range, by hand where the system has none,
    and by hand from where the kernel copy stopped when it fails partway."""
    import os

    if kernel == "absent":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    elif kernel == "fails midway":
        if not hasattr(os, "copy_file_range"):
            pytest.skip("no copy_file_range on this system")
        monkeypatch.setattr(os, "copy_file_range", _copy_file_range_fails_midway(os.copy_file_range))
    source = tmp_path.parent / f"{tmp_path.name}-noise.wav"  # noise: no shift of it looks like another
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "anoisesrc=d=2:r=8000:seed=7",
                    "-ac", str(channels), "-c:a", codec, str(source)], check=True)
    monkeypatch.setattr("prep.fix.ffmpeg.run", lambda *a, **k: pytest.fail("a plain WAV needs no ffmpeg run"))
    out = fixed(source, AudioTarget(format="wav", start_s=0.5, duration_s=1.0, copy=True), tmp_path)
    whole, cut = pcm(source), pcm(out)
    frame = 2 * channels
    assert cut == whole[4000 * frame:12000 * frame]  # frames 4000–11999, exactly those
    assert audio_track(out).channel_s == channels
    assert inspect_path(out).duration_s == 1.0


def test_unsigned_8_bit_silence_is_0x80(media, tmp_path):
    source = media.audio(seconds=1, rate=8000, container="wav", codec="pcm_u8")
    out = fixed(source, AudioTarget(format="wav", pad_to_s=2.0), tmp_path)
    assert decoded(out)[0] == 2.0
    assert max(abs(s) for s in samples(out, 1.0)) == 0  # 0x80 decodes to 0; 0x00 would be full scale


def test_wav_tags_are_kept(media, tmp_path):
    plain = media.audio(seconds=1, rate=8000, container="wav")
    tagged = tmp_path.parent / f"{tmp_path.name}-tagged.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-metadata", "title=Bells",
                    str(tagged)], check=True)
    out = fixed(tagged, AudioTarget(format="wav", duration_s=0.5, copy=True), tmp_path)
    from pymediainfo import MediaInfo

    assert MediaInfo.parse(str(out)).general_tracks[0].title == "Bells"
    assert decoded(out)[0] == 0.5


def test_an_rf64_wav_goes_through_ffmpeg_exactly(media, tmp_path):
    plain = media.audio(seconds=2, rate=8000, container="wav")
    rf64 = tmp_path.parent / f"{tmp_path.name}-rf64.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-rf64", "always",
                    str(rf64)], check=True)
    out = fixed(rf64, AudioTarget(format="wav", duration_s=1.0, copy=True), tmp_path)
    assert pcm(out) == pcm(plain)[:16000]


@pytest.mark.parametrize("container", ["m4a", "flac", "ogg"])
def test_other_formats_become_mp3(media, tmp_path, container):
    source = media.audio(seconds=1.5, rate=44100, channels=2, container=container)
    out = fixed(source, AudioTarget(format="mp3"), tmp_path)
    is_mp3(out)
    seconds, channels, rate = decoded(out)
    assert (channels, rate) == (2, 44100)
    assert seconds == pytest.approx(decoded(source)[0], abs=mp3_frame_s(44100))


def test_a_high_sample_rate_is_brought_to_one_mp3_takes(media, tmp_path):
    source = media.audio(seconds=1, rate=96000, container="flac")
    out = fixed(source, AudioTarget(format="mp3"), tmp_path)
    assert int(audio_track(out).sampling_rate) == 48000


@pytest.mark.parametrize("start", [0.0, 1.0])
def test_mp3_trimmed_by_stream_copy_never_lasts_longer(media, tmp_path, start):
    source = media.audio(seconds=4, rate=44100, container="mp3")
    out = fixed(source, AudioTarget(format="mp3", start_s=start, duration_s=2.0, copy=True), tmp_path)
    is_mp3(out)
    frame = mp3_frame_s(44100)
    seconds = decoded(out)[0]
    assert 2.0 - frame <= seconds <= 2.0
    assert 2.0 - frame <= inspect_path(out).duration_s <= 2.0
    # pymediainfo counts every frame, the encoder's delay and padding included, which players drop: the
    # output keeps no more of them than the source has.
    assert audio_track(out).duration / 1000 - seconds <= audio_track(source).duration / 1000 - decoded(source)[0] + 0.002
    kept, whole = packet_hashes(out), packet_hashes(source)
    at = whole.index(kept[0])  # the source's own frames, one after another: nothing re-encoded
    assert whole[at:at + len(kept)] == kept
    assert abs(at * frame - start) <= frame


@pytest.mark.parametrize("rate, seconds, cut", [(8000, 2.3, 2.153), (8000, 4.0, 2.1), (22050, 3.0, 2.1),
                                                (44100, 17.0, 14.9)])
def test_an_mp3_copy_cut_lasts_what_was_asked_once_played(media, tmp_path, rate, seconds, cut):
    """Frames were counted by their raw length, but players drop the encoder delay and the LAME padding:
    at 8 kHz (72 ms frames, 138 ms delay) a 2.153 s cut of a 2.3 s MP3 played 1.95 s, under the 2 s
    minimum the plan aimed 0.1 s above. Now it plays at most one frame less than asked, never more."""
    source = media.audio(seconds=seconds, rate=rate, container="mp3")
    out = fixed(source, AudioTarget(format="mp3", duration_s=cut, copy=True), tmp_path)
    frame = mp3_frame_s(rate)
    assert cut - frame <= decoded(out)[0] <= cut + 1e-6
    assert cut - frame <= inspect_path(out).duration_s <= cut + 1e-6
    kept, whole = packet_hashes(out), packet_hashes(source)
    assert whole[:len(kept)] == kept  # still the source's own frames


@pytest.mark.parametrize("rate", [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000])
def test_an_mp3_copy_cut_takes_one_ffmpeg_run_and_every_frame_that_fits(media, tmp_path, monkeypatch, rate):
    """At every MPEG-1/2/2.5 rate the cut is aimed at what a player drops (LAME's delay) and lands in one
    ffmpeg run: as long as ffmpeg's decoder plays it, never longer than asked, less than a frame short."""
    from prep.fix import ffmpeg

    runs = []
    real = ffmpeg.run
    monkeypatch.setattr(ffmpeg, "run", lambda *a, **k: (runs.append(a), real(*a, **k))[1])
    source = media.audio(seconds=3, rate=rate, container="mp3")
    out = fixed(source, AudioTarget(format="mp3", duration_s=2.05, copy=True), tmp_path)
    played = decoded(out)[0]
    assert 2.05 - mp3_frame_s(rate) < played <= 2.05 + 1e-6 and len(runs) == 1


def test_mp3_trim_without_copy_is_exact(media, tmp_path):
    source = media.audio(seconds=3, rate=44100, container="mp3")
    out = fixed(source, AudioTarget(format="mp3", duration_s=1.5), tmp_path)
    assert inspect_path(out).duration_s == pytest.approx(1.5, abs=1 / 44100)
    assert decoded(out)[0] == pytest.approx(1.5, abs=1 / 44100)


def test_a_short_clip_is_padded_with_silence(media, tmp_path):
    source = media.audio(seconds=1, rate=44100, container="wav")
    out = fixed(source, AudioTarget(format="mp3", pad_to_s=2.5), tmp_path)
    is_mp3(out)
    assert decoded(out)[0] == pytest.approx(2.5, abs=mp3_frame_s(44100))
    assert inspect_path(out).duration_s == pytest.approx(2.5, abs=mp3_frame_s(44100))
    assert max(abs(s) for s in samples(out, 1.2)) < 200  # the added part is silence
    assert max(abs(s) for s in samples(out, 0.2)[:4410]) > 2000  # the tone (lavfi sine: amplitude 1/8) is still there


def test_a_short_wav_is_padded_to_the_sample(media, tmp_path):
    source = media.audio(seconds=1, rate=8000, container="wav")
    out = fixed(source, AudioTarget(format="wav", pad_to_s=2.0), tmp_path)
    assert decoded(out)[0] == 2.0
    assert audio_track(out).format == "PCM"


def test_trim_then_pad(media, tmp_path):
    source = media.audio(seconds=3, rate=8000, container="wav")
    out = fixed(source, AudioTarget(format="wav", start_s=2.5, pad_to_s=2.0), tmp_path)
    assert decoded(out)[0] == 2.0
    assert max(abs(s) for s in samples(out, 0.6)) == 0


def test_max_bytes_picks_a_bit_rate_under_the_limit(media, tmp_path):
    source = media.audio(seconds=10, rate=44100, channels=2, container="wav")
    limit = 100_000
    free = fixed(source, AudioTarget(format="mp3"), tmp_path, "free.mp3")
    assert free.stat().st_size >= limit  # without the limit it would not fit
    free.unlink()
    out = fixed(source, AudioTarget(format="mp3", max_bytes=limit), tmp_path)
    assert out.stat().st_size < limit
    is_mp3(out)
    assert decoded(out)[0] == pytest.approx(10.0, abs=mp3_frame_s(44100))


def test_an_impossible_budget_is_one_line_and_no_output(media, tmp_path):
    source = media.audio(seconds=10, rate=44100, container="wav")
    with pytest.raises(PrepError) as err:
        fix_audio(str(source), AudioTarget(format="mp3", max_bytes=5_000), str(tmp_path / "out.mp3"))
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unsupported_format_is_refused(media, tmp_path):
    source = media.audio(seconds=1, container="wav")
    with pytest.raises(PrepError, match="mp3 or wav"):
        fix_audio(str(source), AudioTarget(format="ogg"), str(tmp_path / "out.ogg"))
    assert list(tmp_path.iterdir()) == []


def test_a_broken_source_is_one_line_and_no_output(media, tmp_path):
    broken = media.write("broken.flac", b"fLaC" + b"\x00" * 100)
    with pytest.raises(PrepError) as err:
        fix_audio(str(broken), AudioTarget(format="mp3"), str(tmp_path / "out.mp3"))
    assert "broken.flac" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_line_and_no_output(media, tmp_path, monkeypatch):
    import errno
    import shutil

    def full(src, dst):
        Path(dst).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    source = media.audio(seconds=1, rate=44100, container="mp3")
    with pytest.raises(PrepError, match="No space left on device") as err:
        fix_audio(str(source), AudioTarget(format="mp3", copy=True), str(tmp_path / "out.mp3"))
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


# -- the pure decisions ----------------------------------------------------------------------------


@given(st.integers(1, 8), st.sampled_from([8, 16, 24, 32]), st.integers(0, 500), st.integers(0, 3))
def test_a_plain_wav_layout_is_read(channels, bits, frames, cut):
    width = (bits + 7) // 8
    data = bytes(frames * channels * width)
    head = bytearray(wav_bytes(data, rate=8000, channels=channels))
    struct.pack_into("<HIIHH", head, 22, channels, 8000, 8000 * channels * width, channels * width, bits)
    whole = bytes(head)[:len(head) - cut] if cut < len(data) else bytes(head)
    layout = parse_wav_layout(whole, len(whole))
    assert layout is not None
    assert layout.frames == (len(whole) - 44) // (channels * width)
    assert layout.data_offset == 44 and layout.silence == (0x80 if bits == 8 else 0)
    first, kept, padded = wav_frames(layout, AudioTarget(format="wav", duration_s=0.01, pad_to_s=0.05))
    assert first == 0 and kept == min(layout.frames, 80) and kept + padded == 400


def test_other_wavs_are_left_to_ffmpeg():
    head = bytearray(wav_bytes(b"\x00" * 64))
    assert parse_wav_layout(bytes(head), len(head)) is not None
    adpcm = bytearray(head)
    struct.pack_into("<H", adpcm, 20, 2)
    assert parse_wav_layout(bytes(adpcm), len(adpcm)) is None
    assert parse_wav_layout(b"RF64" + bytes(head[4:]), len(head)) is None
    assert parse_wav_layout(bytes(head[:36]), 36) is None  # no data chunk in sight


@given(st.integers(20_000, 50_000_000), st.floats(0.5, 600), st.sampled_from([8000, 22050, 44100, 48000]))
def test_the_chosen_bit_rate_fits(max_bytes, duration, rate):
    try:
        bps = mp3_bitrate(max_bytes, duration, rate)
    except PrepError:
        assert (max_bytes * 0.95 - 8192) * 8 / duration < 32_000
        return
    assert bps * duration / 8 + 8192 <= max_bytes * 0.95
    assert bps <= 192_000


@given(st.integers(1, 400_000))
def test_mp3_rates_are_ones_lame_takes(rate):
    assert mp3_rate(rate) in (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    assert mp3_rate(rate) >= min(rate, 48000)


@pytest.mark.parametrize(("tag", "bits", "codec"), [(1, 8, "pcm_u8"), (1, 16, "pcm_s16le"), (1, 24, "pcm_s24le"),
                                                    (1, 32, "pcm_s32le"), (3, 32, "pcm_f32le"), (3, 64, "pcm_f64le"),
                                                    (6, 8, "pcm_s16le")])
def test_the_wav_sample_format_is_kept(tag, bits, codec):
    head = bytearray(wav_bytes(b"\x00" * 16))
    struct.pack_into("<H", head, 20, tag)
    struct.pack_into("<H", head, 34, bits)
    assert wav_pcm_codec(bytes(head)) == codec
    assert wav_pcm_codec(b"RIFF") == "pcm_s16le"
