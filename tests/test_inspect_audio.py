"""prep.inspect on WAV and on audio behind an ID3 tag: the cases the audio oracle found (issue 8).

Each file is built by hand (a few hundred bytes) unless ffmpeg has to write it; the expected numbers
are those of ffmpeg's wav demuxer and decoders (tests/oracle/test_oracle_audio.py checks the same
files against ffmpeg itself, and the generated grid).
"""

from __future__ import annotations

import math
import struct
import subprocess
from pathlib import Path

import pytest
from media import Media, ffmpeg_exe, run_ffmpeg

from prep.inspect import inspect_bytes, inspect_path

# -- WAV, built by hand -------------------------------------------------------------------------


def chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    return cid + struct.pack("<I", len(body) if size is None else size) + body + b"\0" * (len(body) & 1)


def fmt_pcm(channels: int = 2, rate: int = 8000, bits: int = 16, tag: int = 1, block: int | None = None,
            byte_rate: int | None = None) -> bytes:
    block = channels * ((bits + 7) // 8) if block is None else block
    byte_rate = rate * block if byte_rate is None else byte_rate
    return struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block, bits)


def extensible(channels: int, rate: int, bits: int, valid: int, tag: int = 1) -> bytes:
    block = channels * bits // 8
    guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, valid, 3) + guid


def riff(*chunks: bytes, form: bytes = b"RIFF", size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return form + struct.pack("<I", len(body) if size is None else size) + body


def pcm(seconds: float, rate: int = 8000, block: int = 4) -> bytes:
    return bytes(round(seconds * rate) * block)


def facts(data: bytes):
    return inspect_bytes(data, "test.wav")


def test_a_plain_wav():
    f = facts(riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(2.0))))
    assert (f.kind, f.format, f.codec, f.problem) == ("audio", "wav", "pcm", None)
    assert (f.sample_rate, f.channels, f.duration_s) == (8000, 2, 2.0)


@pytest.mark.parametrize("fmt, why", [
    (fmt_pcm(rate=0), "0 Hz"),
    (fmt_pcm(channels=0, block=4), "0 channels"),
    (fmt_pcm(channels=513, block=4), "513 channels"),  # ffmpeg opens at most 512 (FF_SANE_NB_CHANNELS)
    (fmt_pcm(rate=1 << 31, byte_rate=0), "2147483648 Hz"),  # ffmpeg's sample rate is a signed 32-bit number
    (fmt_pcm(bits=0, block=4), "0 bits"),
    (fmt_pcm(bits=40), "40 bits"),  # 5-byte samples: no PCM decoder
    (fmt_pcm(bits=16, tag=3), "float with 16 bits"),  # float is 32 or 64 bits
], ids=["rate-0", "channels-0", "channels-513", "rate-2^31", "bits-0", "bits-40", "float16"])
def test_a_wav_no_decoder_plays_is_a_problem(fmt, why):
    f = facts(riff(chunk(b"fmt ", fmt), chunk(b"data", pcm(2.0))))
    assert (f.kind, f.format) == ("audio", "wav")
    assert f.problem and why in f.problem and "no decoder" in f.problem


@pytest.mark.parametrize("fmt", [fmt_pcm(block=0), fmt_pcm(byte_rate=0), fmt_pcm(block=0, byte_rate=0),
                                 fmt_pcm(bits=12, block=4)], ids=["block-0", "byte-rate-0", "both-0", "12-bit"])
def test_numbers_ffmpeg_does_without_are_no_problem(fmt):
    # ffmpeg's PCM decoders take the sample size from the bits (rounded up to bytes) and the channels.
    f = facts(riff(chunk(b"fmt ", fmt), chunk(b"data", pcm(2.0))))
    assert (f.problem, f.duration_s) == (None, 2.0)


@pytest.mark.parametrize("bits, block", [(8, 1), (16, 2), (24, 3), (32, 4), (64, 8)])
def test_pcm_sample_sizes(bits, block):
    f = facts(riff(chunk(b"fmt ", fmt_pcm(channels=1, bits=bits)), chunk(b"data", pcm(3.0, block=block))))
    assert (f.problem, f.duration_s) == (None, 3.0)


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0, 10**9], ids=["ffffffff", "zero", "past-the-end"])
def test_a_streamed_wav_plays_to_the_end_of_the_file(size):
    # A writer that could not seek back leaves 0 or 0xFFFFFFFF; ffmpeg reads to the end of the file.
    f = facts(riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(15.0), size=size), size=0xFFFFFFFF))
    assert (f.problem, f.duration_s) == (None, 15.0)


def test_a_cut_wav_is_as_long_as_its_whole_samples():
    data = riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(3.0)))
    f = facts(data[: len(data) - 6])  # one whole 4-byte sample block and half of another gone
    assert (f.problem, f.duration_s) == (None, (3 * 8000 - 2) / 8000)


def test_a_data_chunk_with_no_audio_is_a_problem():
    f = facts(riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", b"")[:8]))
    assert f.problem and "no audio" in f.problem


def test_chunks_after_the_data_are_not_audio():
    f = facts(riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(2.0)), chunk(b"LIST", b"INFO" + bytes(5000))))
    assert (f.problem, f.duration_s) == (None, 2.0)


def test_a_format_chunk_after_the_data():
    # ffmpeg reads a seekable file's chunks past the data chunk to find its format.
    f = facts(riff(chunk(b"data", pcm(2.0)), chunk(b"fmt ", fmt_pcm())))
    assert (f.problem, f.sample_rate, f.duration_s) == (None, 8000, 2.0)


def test_a_wavevformat_chunk_of_14_bytes_is_8_bit():
    f = facts(riff(chunk(b"fmt ", fmt_pcm(channels=1, bits=8)[:14]), chunk(b"data", pcm(2.0, block=1))))
    assert (f.problem, f.duration_s) == (None, 2.0)


def test_wave_format_extensible_uses_its_subformat_and_valid_bits():
    f = facts(riff(chunk(b"fmt ", extensible(6, 48000, 24, 24)), chunk(b"data", pcm(2.0, 48000, 18))))
    assert (f.codec, f.channels, f.duration_s, f.problem) == ("pcm", 6, 2.0, None)
    f = facts(riff(chunk(b"fmt ", extensible(2, 48000, 32, 32, tag=3)), chunk(b"data", pcm(2.0, 48000, 8))))
    assert (f.codec, f.duration_s) == ("pcm", 2.0)
    f = facts(riff(chunk(b"fmt ", extensible(2, 48000, 16, 16)[:30]), chunk(b"data", pcm(2.0, 48000, 4))))
    assert f.problem and "extensible" in f.problem


def ds64(data_size: int, samples: int = 0) -> bytes:
    return chunk(b"ds64", struct.pack("<QQQI", 0, data_size, samples, 0))


def test_rf64_takes_the_data_size_from_its_ds64_chunk():
    # The data chunk's own size is 0xFFFFFFFF; the ds64 chunk's ends the audio before the LIST chunk.
    audio = pcm(4.0)
    f = facts(riff(ds64(len(audio)), chunk(b"fmt ", fmt_pcm()), chunk(b"data", audio, size=0xFFFFFFFF),
                   chunk(b"LIST", b"INFO" + bytes(4000)), form=b"RF64", size=0xFFFFFFFF))
    assert (f.format, f.problem, f.duration_s) == ("wav", None, 4.0)


def test_rf64_with_an_absurd_ds64_size_plays_to_the_end():
    f = facts(riff(ds64(2**64 - 1), chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(2.0), size=0xFFFFFFFF),
                   form=b"RF64"))
    assert (f.problem, f.duration_s) == (None, 2.0)
    assert math.isfinite(f.duration_s)


def test_rf64_without_ds64_is_a_problem():
    f = facts(riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(2.0), size=0xFFFFFFFF), form=b"RF64"))
    assert f.problem and "ds64" in f.problem


def test_compressed_wav_duration_from_its_fact_chunk():
    fmt = struct.pack("<HHIIHHH", 2, 1, 8000, 4096, 256, 4, 0)
    fact = chunk(b"fact", struct.pack("<I", 16000))
    data = riff(chunk(b"fmt ", fmt), fact, chunk(b"data", bytes(256 * 32)))
    f = facts(data)
    assert (f.codec, f.problem, f.duration_s) == ("adpcm_ms", None, 2.0)
    f = facts(data[: len(data) - 256 * 16])  # half the data cut off: half the samples
    assert (f.problem, f.duration_s) == (None, 1.0)


def test_no_absurd_numbers_make_nan_or_infinity():
    for rate in (1, 0x7FFFFFFF):
        for channels in (1, 512):
            f = facts(riff(chunk(b"fmt ", fmt_pcm(channels=channels, rate=rate, block=0, byte_rate=0)),
                           chunk(b"data", bytes(4096), size=0xFFFFFFFE)))
            assert f.problem is None and math.isfinite(f.duration_s) and f.duration_s > 0


# -- against ffmpeg -----------------------------------------------------------------------------


def ffmpeg_samples(path: Path, rate: int = 8000) -> int:
    """Samples ffmpeg decodes from ``path`` (one channel, at ``rate``)."""
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0",
                           "-ac", "1", "-ar", str(rate), "-c:a", "pcm_s16le", "-f", "s16le", "-"],
                          capture_output=True, check=True)
    return len(done.stdout) // 2


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Media:
    return Media(tmp_path_factory.mktemp("audio"))


@pytest.mark.parametrize("name, data", [
    ("streamed.wav", riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(3.0), size=0xFFFFFFFF), size=0xFFFFFFFF)),
    ("cut.wav", riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(3.0)))[:-7]),
    ("fmt-last.wav", riff(chunk(b"data", pcm(3.0)), chunk(b"fmt ", fmt_pcm()))),
    ("block-0.wav", riff(chunk(b"fmt ", fmt_pcm(block=0, byte_rate=0)), chunk(b"data", pcm(3.0)))),
])
def test_ffmpeg_agrees(made, name, data):
    path = made.write(name, data)
    assert inspect_path(path).duration_s * 8000 == ffmpeg_samples(path)


# -- behind an ID3 tag: the payload's own format, never mp3 ---------------------------------------


def id3v2(body: int) -> bytes:
    """An ID3v2.3 tag of about ``body`` bytes (one TXXX frame)."""
    frame = b"TXXX" + struct.pack(">I", body) + b"\0\0\0" + b"p" * (body - 1)
    n = len(frame)
    return b"ID3\x03\x00\x00" + bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F]) + frame


def lame(made: Media, seconds: float = 3.0, rate: int = 44100, *extra: str) -> bytes:
    path = made.root / f"lame-{seconds}-{rate}-{'-'.join(extra)}.mp3"
    if not path.exists():
        run_ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration={seconds}", "-ac", "2",
                   "-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0", *extra, "-f", "mp3", str(path))
    return path.read_bytes()


# Payload headers (a few bytes each) of formats ffmpeg finds behind an ID3 tag; what follows them
# here is MP3 frames, the worst case: a frame search after the tag would call the file mp3.
PAYLOADS = {"tta": b"TTA1\x01\x00\x02\x00\x10\x00D\xac\x00\x00", "ape": b"MAC \x96\x0f\x00\x004\x00\x00\x00",
            "wv": b"wvpk\x82\x12\x00\x00\x03\x04", "mpc": b"MPCK", "tak": b"tBaK", "dsf": b"DSD \x1c\x00"}


@pytest.mark.parametrize("tag", [300, 70_000], ids=["small-tag", "large-tag"])  # the sniffer sees past 4 kB
@pytest.mark.parametrize("fmt", list(PAYLOADS))
def test_other_audio_behind_an_id3_tag_is_not_mp3(made, fmt, tag):
    f = inspect_bytes(id3v2(tag) + PAYLOADS[fmt] + lame(made), "tagged")
    assert (f.kind, f.format) == ("audio", fmt)  # a format audio.format rejects


@pytest.mark.parametrize("tag", [300, 70_000], ids=["small-tag", "large-tag"])
def test_a_broken_flac_behind_an_id3_tag_is_a_flac_problem(tag):
    f = inspect_bytes(id3v2(tag) + b"fLaC\x00\x00\x00\x22" + bytes(10), "tagged")
    assert (f.format, f.codec) == ("flac", None) and f.problem


@pytest.mark.parametrize("tag", [300, 70_000], ids=["small-tag", "large-tag"])
def test_a_wav_behind_an_id3_tag_is_a_wav_no_decoder_reads(tag):
    # ffmpeg: "invalid start code ID3 in RIFF header".
    data = id3v2(tag) + riff(chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(2.0)))
    f = inspect_bytes(data, "tagged")
    assert f.format == "wav" and f.problem and "ID3" in f.problem


def test_mp2_is_read_as_ffmpeg_reads_it(made):
    # ffmpeg's 'mp3' reader takes MPEG audio layer II too, with the mp2 codec (a codec-rule warning).
    path = made.root / "tone.mp2"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=4", "-ac", "1",
               "-c:a", "libtwolame", "-f", "mp2", str(path))
    tagged = made.write("tagged.mp2", id3v2(5000) + path.read_bytes())
    for p in (path, tagged):
        f = inspect_path(p)
        assert (f.format, f.codec, f.sample_rate, f.channels, f.problem) == ("mp3", "mp2", 22050, 1, None)
        assert abs(f.duration_s * 22050 - ffmpeg_samples(p, 22050)) <= 1152


@pytest.mark.parametrize("count", [10_000, 0xFFFFFFFF])
def test_a_xing_frame_count_the_file_cannot_hold_is_not_believed(made, count):
    # 10,000 frames of even 32 kb/s MPEG-1 take 1 MB; the file has 80 kB: the frames are counted.
    data = bytearray(lame(made, 5.0))
    at = data.find(b"Info", 0, 200)
    struct.pack_into(">I", data, at + 8, count)
    path = made.write(f"xing-{count}.mp3", bytes(data))
    f = inspect_path(path)
    assert f.problem is None and abs(f.duration_s * 44100 - ffmpeg_samples(path, 44100)) <= 1152


def test_a_lame_tag_after_junk_is_not_read(made):
    # ffmpeg reads the Xing/Info frame only right after the ID3 tag: after junk its gapless numbers
    # do not apply, so all the other frames play (5.0 s of audio play as 5.04 s).
    path = made.write("zeros-after-id3.mp3", id3v2(300) + bytes(1000) + lame(made, 5.0))
    f = inspect_path(path)
    assert f.problem is None and f.duration_s * 44100 == ffmpeg_samples(path, 44100)
    assert f.duration_s > 5.03


def test_rf64_with_a_short_ds64_chunk_is_a_problem():
    short = chunk(b"ds64", struct.pack("<QQ", 0, 16000))  # ffmpeg wants at least 24 bytes
    f = facts(riff(short, chunk(b"fmt ", fmt_pcm()), chunk(b"data", pcm(2.0), size=0xFFFFFFFF), form=b"RF64"))
    assert f.problem and "ds64" in f.problem


def test_24_valid_bits_in_32_bit_samples():
    # ffmpeg reads 24 valid bits in 4-byte blocks per channel as 4-byte samples (wavdec.c: pcm_f24le).
    f = facts(riff(chunk(b"fmt ", extensible(6, 48000, 32, 24)), chunk(b"data", pcm(2.0, 48000, 24))))
    assert (f.problem, f.duration_s) == (None, 2.0)


def test_a_wav_codec_tag_of_0_is_a_problem():
    for fmt in (fmt_pcm(tag=0), extensible(2, 8000, 16, 16, tag=0)):
        f = facts(riff(chunk(b"fmt ", fmt), chunk(b"data", pcm(2.0))))
        assert f.problem and "no decoder" in f.problem


def test_two_header_like_words_after_junk_are_not_mpeg_audio():
    # Past junk a frame counts only with a run of frames after it (as ffmpeg's probe wants), not one.
    frame = b"\xff\xff\x10\x00" + bytes(28)  # MPEG-1 layer I, 32 kb/s, 44.1 kHz: 32 bytes
    f = inspect_bytes(id3v2(300) + bytes(100) + frame * 2 + bytes(3000), "tagged")
    assert f.format != "mp3" and f.problem
    f = inspect_bytes(id3v2(300) + bytes(100) + frame * 40, "tagged")  # a run: MPEG audio
    assert (f.format, f.codec, f.problem) == ("mp3", "mp1", None)


def lame_vbr(made: Media, seconds: float = 2.0) -> bytes:
    path = made.root / f"vbr-{seconds}.mp3"
    if not path.exists():
        run_ffmpeg("-f", "lavfi", "-i", f"aevalsrc=0.6*sin(2*PI*(200+300*t)*t):s=44100:d={seconds}", "-ac", "2",
                   "-c:a", "libmp3lame", "-q:a", "4", "-id3v2_version", "0", "-f", "mp3", str(path))
    return path.read_bytes()


def frame_starts(data: bytes) -> list[int]:
    from prep.inspect.mp3 import _mp3_frame

    starts, i = [], 0
    while (frame := _mp3_frame(data, i)) is not None:
        starts, i = [*starts, i], i + frame[0]
    return starts


def test_junk_after_the_xing_frame_keeps_its_gapless_numbers(made):
    # ffmpeg reads the Xing/LAME frame at the tag's end whatever follows it (fuzzing found it).
    data = lame(made, 2.0)
    second = frame_starts(data)[1]
    path = made.write("junk-after-xing.mp3", data[:second] + bytes(range(1, 200)) + data[second:])
    f = inspect_path(path)
    assert f.problem is None and abs(f.duration_s * 44100 - ffmpeg_samples(path, 44100)) <= 1
    assert abs(f.duration_s - 2.0) < 0.001


def test_a_damaged_first_frame_does_not_swallow_the_next(made):
    # Bytes lost inside the first audio frame: its header's length now reaches over the next frames.
    # ffmpeg starts at the first frame another header follows; the frames after still play.
    data = lame_vbr(made)
    starts = frame_starts(data)
    cut = starts[1] + (starts[2] - starts[1]) // 2
    path = made.write("damaged-first.mp3", data[:cut] + data[cut + (starts[2] - starts[1]) // 3 :])
    f = inspect_path(path)
    assert f.problem is None and abs(f.duration_s * 44100 - ffmpeg_samples(path, 44100)) <= 1152


@pytest.mark.parametrize("padding", [0, 528, 529, 530, 0xFFF])
def test_lame_padding_under_the_decoder_delay_trims_nothing(made, padding):
    # ffmpeg trims from sample frames*1152 - padding + 529 on: a padding under 529 trims nothing.
    data = bytearray(lame(made, 2.0))
    at = data.find(b"Lavc", 0, 400) if data.find(b"LAME", 0, 400) < 0 else data.find(b"LAME", 0, 400)
    data[at + 21 : at + 24] = (576 << 12 | padding).to_bytes(3, "big")
    path = made.write(f"padding-{padding}.mp3", bytes(data))
    assert round(inspect_path(path).duration_s * 44100) == ffmpeg_samples(path, 44100)


def test_rf64_with_a_ds64_data_size_of_0_has_no_audio():
    fmt = struct.pack("<HHIIHHH", 2, 1, 8000, 4096, 256, 4, 0)
    f = facts(riff(ds64(0), chunk(b"fmt ", fmt), chunk(b"fact", struct.pack("<I", 16000)),
                   chunk(b"data", bytes(4096), size=0xFFFFFFFF), form=b"RF64"))
    assert f.problem and "no audio" in f.problem


@pytest.mark.parametrize("seed", ["wav", "rf64", "mp3", "mp3-tagged"])
def test_mutated_headers_give_finite_facts_or_a_problem(made, seed):
    # Random header bytes (absurd sizes, rates, counts) never make NaN, infinity, a negative
    # duration or a parser crash ("cannot read ... header" is how an exception shows up).
    import random

    base = {"wav": riff(chunk(b"fmt ", fmt_pcm()), chunk(b"fact", struct.pack("<I", 1)), chunk(b"data", pcm(1.0))),
            "rf64": riff(ds64(32000), chunk(b"fmt ", extensible(2, 8000, 16, 16)), chunk(b"data", pcm(1.0)),
                         form=b"RF64"),
            "mp3": lame(made, 2.0), "mp3-tagged": id3v2(300) + lame(made, 2.0) + b"TAG" + bytes(125)}[seed]
    rng = random.Random(seed)
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(min(len(data), 600))
            data[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff",
                                             rng.randbytes(4), rng.randbytes(1)])
        f = inspect_bytes(bytes(data), seed)
        assert f.problem is None or not f.problem.startswith("cannot read"), f.problem
        assert f.duration_s is None or (math.isfinite(f.duration_s) and f.duration_s >= 0), f


@pytest.mark.parametrize("codec, channels, cut", [("adpcm_ms", 2, 0), ("adpcm_ms", 1, 100), ("adpcm_ima_wav", 2, 0),
                                                  ("adpcm_ima_wav", 1, 1000)])
def test_adpcm_plays_its_last_block_in_full(made, codec, channels, cut):
    # The 'fact' count leaves out the last block's padding; ffmpeg decodes it (15.2 s plays 15.22 s).
    path = made.root / f"{codec}-{channels}.wav"
    run_ffmpeg("-f", "lavfi", "-i", "sine=sample_rate=11025:duration=15.2", "-ac", str(channels), "-c:a", codec,
               str(path))
    if cut:
        path = made.write(f"{codec}-{channels}-cut.wav", path.read_bytes()[:-cut])
    f = inspect_path(path)
    assert f.problem is None and round(f.duration_s * 11025) == ffmpeg_samples(path, 11025)
