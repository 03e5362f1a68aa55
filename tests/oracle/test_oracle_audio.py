"""Oracle: MP3 and WAV facts against ffmpeg's own reading of the same file (issue 8).

Files: a grid made at test time with the imageio-ffmpeg ffmpeg (libmp3lame CBR/VBR, with and without
a Xing/Info frame, a VBRI frame, LAME gapless numbers, MPEG-1/2/2.5 at every rate, mono/stereo,
ID3v2 (large, with a footer, two in a row) / ID3v1 / APEv2 tags, cut files; WAV PCM 8/16/24/32-bit,
float, A-law/µ-law, ADPCM, WAVE_FORMAT_EXTENSIBLE, RF64, 1-8 channels, streamed and cut files), every
MP3/WAV file of mutagen's test corpus, every file there that starts with an ID3 tag, and non-MP3
audio (AC-3, E-AC-3, FLAC, TTA, WavPack, Monkey's Audio) behind an ID3 tag.

References: ffmpeg's stream description (``ffmpeg -i``: demuxer, codec, sample rate, channel layout)
and ffmpeg's decode (``-f null``: the duration the providers' validators see, LAME gapless delay and
padding applied). Asserted per file: kind and format agree; a file ffmpeg fully decodes gets no
``problem``; a file ffmpeg cannot open does not pass (``problem``, or too short for any rule);
sample rate and channels equal; the duration within one audio frame of ffmpeg's decode (1152
samples for MPEG-1 layer III, 576 for MPEG-2/2.5, one sample block for WAV).
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from oracles import corpus, decode, make, probe

from prep.inspect import inspect_path

SINE = "sine=frequency=440:sample_rate={rate}:duration={s}"
# A chirp with a silent second in every three: frame sizes vary under VBR.
CHIRP = "aevalsrc=0.6*sin(2*PI*(200+300*t)*t)*lt(mod(t\\,3)\\,2):s={rate}:d={s}"


# -- tags ---------------------------------------------------------------------------------------


def syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3v2(body: int = 300, footer: bool = False) -> bytes:
    """An ID3v2 tag with one TXXX frame of about ``body`` bytes (v2.4 with a footer when asked)."""
    frame = b"TXXX" + (syncsafe if footer else lambda n: struct.pack(">I", n))(body) + b"\0\0\0" + b"p" * (body - 1)
    head = (b"ID3\x04\x00\x10" if footer else b"ID3\x03\x00\x00") + syncsafe(len(frame))
    return head + frame + (b"3DI" + head[3:] if footer else b"")


def ape_tag(payload: int = 40) -> bytes:
    """An APEv2 tag (header, one item, footer) as taggers append it."""
    items = struct.pack("<II", payload, 0) + b"Comment\x00" + b"x" * payload
    size = len(items) + 32
    def part(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, flags) + bytes(8)
    return part(0xA0000000) + items + part(0x80000000)


def id3v1() -> bytes:
    return b"TAG" + b"a tone".ljust(30, b"\0") + bytes(94) + b"\xff"


# -- the grid -----------------------------------------------------------------------------------


def lame(rate: int = 44100, ch: int = 2, s: float = 3.0, vbr: bool = False, extra: tuple = ()) -> Callable:
    def build(out: Path) -> None:
        source = (CHIRP if vbr else SINE).format(rate=rate, s=s)
        rate_args = ["-q:a", "4"] if vbr else ["-b:a", "128k" if rate >= 32000 else "48k"]
        make(["-f", "lavfi", "-i", source, "-ac", str(ch), "-c:a", "libmp3lame", *rate_args,
              "-id3v2_version", "0", *extra, "-f", "mp3"], out)
    return build


def first_frame(data: bytes) -> int:
    from prep.inspect.mp3 import _mp3_frame

    frame = _mp3_frame(data, 0)
    assert frame is not None
    return frame[0]


def edited(base: Callable, edit: Callable[[bytes], bytes]) -> Callable:
    def build(out: Path) -> None:
        base(out)
        out.write_bytes(edit(out.read_bytes()))
    return build


def no_xing(data: bytes) -> bytes:
    """Drop the Xing/Info frame: a VBR file with no frame count, no gapless numbers."""
    return data[first_frame(data):]


def vbri(data: bytes) -> bytes:
    """Turn the Xing/Info frame into a Fraunhofer VBRI frame counting the frames after it."""
    from prep.inspect.mp3 import _mp3_frame

    out, first = bytearray(data), first_frame(data)
    frames, i = 0, first
    while (frame := _mp3_frame(data, i)) is not None:
        frames, i = frames + 1, i + frame[0]
    out[4:first] = bytes(first - 4)
    out[36:40] = b"VBRI"
    struct.pack_into(">HHHII", out, 40, 1, 0, 75, len(data), frames)
    return bytes(out)


def xing_frames(count: int) -> Callable[[bytes], bytes]:
    """Overwrite the Xing/Info frame count (a header claiming frames the file does not hold)."""
    def edit(data: bytes) -> bytes:
        at = max(data.find(b"Xing", 0, 200), data.find(b"Info", 0, 200))
        assert at > 0 and data[at + 7] & 1
        return data[: at + 8] + struct.pack(">I", count) + data[at + 12 :]
    return edit


def lame_delays(value: int) -> Callable[[bytes], bytes]:
    """Overwrite the LAME tag's 12-bit encoder delay and 12-bit padding (3 bytes)."""
    def edit(data: bytes) -> bytes:
        at = max(data.find(b"LAME", 0, 400), data.find(b"Lavc", 0, 400), data.find(b"Lavf", 0, 400))
        assert at > 0
        return data[: at + 21] + value.to_bytes(3, "big") + data[at + 24 :]
    return edit


def wav(codec: str = "pcm_s16le", rate: int = 44100, ch: int = 2, s: float = 2.0, extra: tuple = (),
        fmt: str = "wav") -> Callable:
    def build(out: Path) -> None:
        make(["-f", "lavfi", "-i", SINE.format(rate=rate, s=s), "-ac", str(ch), "-c:a", codec, *extra,
              "-f", fmt], out)
    return build


def streamed(base: Callable) -> Callable:
    """A WAV as a writer that cannot seek back leaves it: RIFF and data sizes 0xFFFFFFFF."""
    def edit(data: bytes) -> bytes:
        out = bytearray(data)
        out[4:8] = b"\xff\xff\xff\xff"
        at = out.find(b"data")
        out[at + 4 : at + 8] = b"\xff\xff\xff\xff"
        return bytes(out)
    return edited(base, edit)


def data_size(base: Callable, size: int) -> Callable:
    def edit(data: bytes) -> bytes:
        at = data.find(b"data")
        return data[: at + 4] + struct.pack("<I", size) + data[at + 8 :]
    return edited(base, edit)


def cut(base: Callable, keep: float) -> Callable:
    return edited(base, lambda data: data[: int(len(data) * keep)])


def raw(codec: str, fmt: str, rate: int = 48000, ch: int = 2, s: float = 3.0) -> Callable:
    def build(out: Path) -> None:
        make(["-f", "lavfi", "-i", SINE.format(rate=rate, s=s), "-ac", str(ch), "-c:a", codec,
              *(["-strict", "-2"] if codec == "tta" else []), "-f", fmt], out)
    return build


def behind_id3(base: Callable, body: int) -> Callable:
    return edited(base, lambda data: id3v2(body) + data)


def from_corpus(name: str) -> Callable:
    return lambda out: out.write_bytes((corpus("mutagen") / name).read_bytes())


MPEG_RATES = [32000, 44100, 48000, 16000, 22050, 24000, 8000, 11025, 12000]

GRID: dict[str, Callable[[Path], None]] = {
    # LAME gapless (an Info/Xing frame with a LAME tag) around the audio duration limits (1.8-15.2 s)
    **{f"cbr-{s}s.mp3": lame(s=s) for s in (1.8, 2.0, 15.0, 15.2)},
    **{f"vbr-{s}s.mp3": lame(s=s, vbr=True) for s in (1.8, 2.0, 15.0, 15.2)},
    **{f"cbr-{r}-{ch}ch.mp3": lame(rate=r, ch=ch, s=2.0) for r in MPEG_RATES for ch in (1, 2)},
    **{f"vbr-{r}-2ch.mp3": lame(rate=r, s=15.0, vbr=True) for r in (48000, 22050, 11025)},
    **{f"cbr-{r}-{s}s.mp3": lame(rate=r, ch=1, s=s) for r in (22050, 8000) for s in (1.8, 15.2)},
    "vbr-8000-1ch-15.2s.mp3": lame(rate=8000, ch=1, s=15.2, vbr=True),
    # no frame count: the frames must be walked
    **{f"vbr-noxing-{r}-{s}s.mp3": lame(rate=r, s=s, vbr=True, extra=("-write_xing", "0"))
       for r in (44100, 22050, 8000) for s in (2.0, 15.0)},
    **{f"vbr-stripped-{r}.mp3": edited(lame(rate=r, s=9.0, vbr=True), no_xing) for r in (44100, 24000, 12000)},
    "cbr-noxing-15.0s.mp3": lame(s=15.0, extra=("-write_xing", "0")),
    **{f"vbri-{r}.mp3": edited(lame(rate=r, s=9.0, vbr=True), vbri) for r in (44100, 22050)},
    # tags at either end
    "id3v2.mp3": lame(s=15.0, extra=("-id3v2_version", "3", "-metadata", "title=a tone")),
    "id3v2-large.mp3": edited(lame(s=15.0), lambda d: id3v2(300_000) + d),
    "id3v2-footer.mp3": edited(lame(s=15.0, vbr=True), lambda d: id3v2(500, footer=True) + d),
    "id3v2-twice.mp3": edited(lame(s=15.0), lambda d: id3v2(400) + id3v2(70_000) + d),
    "id3v1.mp3": lame(s=15.0, extra=("-write_id3v1", "1", "-metadata", "title=a tone")),
    "apev2.mp3": edited(lame(s=15.0), lambda d: d + ape_tag(20_000)),
    "apev2-id3v1.mp3": edited(lame(s=15.0, vbr=True, extra=("-write_xing", "0")), lambda d: d + ape_tag() + id3v1()),
    "all-tags-noxing.mp3": edited(lame(s=15.0, extra=("-write_xing", "0")),
                                  lambda d: id3v2(5000) + d + ape_tag(3000) + id3v1()),
    "zeros-after-id3.mp3": edited(lame(s=5.0), lambda d: id3v2(300) + bytes(1000) + d),
    "junk-inside.mp3": edited(lame(s=9.0, vbr=True, extra=("-write_xing", "0")),
                              lambda d: d[:30_000] + bytes(range(1, 255)) * 8 + d[30_000:]),
    "trailing-junk.mp3": edited(lame(s=5.0), lambda d: d + b"\x00junk" * 300),
    # the Xing frame claims more frames than the file holds, or the last frame is cut
    **{f"cut{k}-{v}-{r}.mp3": cut(lame(rate=r, s=9.0, vbr=v == "vbr"), k)
       for k in (0.6, 0.999) for v in ("cbr", "vbr") for r in (44100, 22050)},
    **{f"xing-frames-{n}-{v}.mp3": edited(lame(s=5.0, vbr=v == "vbr"), xing_frames(n))
       for n in (10_000, 0xFFFFFFFF) for v in ("cbr", "vbr")},
    **{f"lame-delays-{v:06x}.mp3": edited(lame(s=2.0), lame_delays(v))
       for v in (0, 0x000210, 0x000212, 0xFFF000, 0x000FFF, 0xFFFFFF)},
    "vbri-frames-huge.mp3": edited(edited(lame(s=5.0, vbr=True), vbri),
                                   lambda d: d[:50] + struct.pack(">I", 0xFFFFFF) + d[54:]),
    # MPEG audio layer II: ffmpeg's mp3 reader, codec mp2
    "mp2-48k.mp2": raw("libtwolame", "mp2"),
    "mp2-22k-mono.mp2": raw("libtwolame", "mp2", rate=22050, ch=1),
    # WAV
    **{f"s16-{s}s.wav": wav(s=s) for s in (1.8, 2.0, 15.0, 15.2)},
    "u8-mono-16k.wav": wav("pcm_u8", rate=16000, ch=1),
    "s24-48k.wav": wav("pcm_s24le", rate=48000),
    "s32-mono.wav": wav("pcm_s32le", ch=1),
    "f32.wav": wav("pcm_f32le", rate=48000, s=15.2),
    "f64-mono.wav": wav("pcm_f64le", rate=22050, ch=1),
    "alaw.wav": wav("pcm_alaw", rate=8000, ch=1),
    "mulaw.wav": wav("pcm_mulaw", rate=8000, ch=2),
    "adpcm_ms.wav": wav("adpcm_ms", rate=22050, s=3.0),
    "adpcm_ima.wav": wav("adpcm_ima_wav", rate=22050, ch=1, s=3.0),
    "adpcm_ima-15.2s.wav": wav("adpcm_ima_wav", s=15.2),
    "adpcm_ms-cut.wav": edited(wav("adpcm_ms", rate=22050, s=3.0), lambda d: d[:-100]),
    "s16-4ch.wav": wav(ch=4),
    "s16-6ch.wav": wav(ch=6, rate=48000, s=15.0),
    "s24-8ch.wav": wav("pcm_s24le", ch=8, rate=48000),
    "u8-11k.wav": wav("pcm_u8", rate=11025),
    "s16-96k.wav": wav(rate=96000, s=15.2),
    "mp3-in.wav": wav("libmp3lame", s=5.0),
    "odd-chunk.wav": edited(wav(s=3.0), lambda d: d[:36] + b"junk" + struct.pack("<I", 5) + b"12345\0" + d[36:]),
    "s16-bext.wav": wav(extra=("-write_bext", "1", "-metadata", "title=a tone")),
    "rf64-s16.wav": wav(s=15.0, extra=("-rf64", "always")),
    "rf64-s24-6ch.wav": wav("pcm_s24le", ch=6, rate=48000, extra=("-rf64", "always")),
    "rf64-cut.wav": cut(wav(s=3.0, extra=("-rf64", "always")), 0.5),
    "streamed.wav": streamed(wav(s=15.0)),
    "streamed-6ch.wav": streamed(wav(ch=6)),
    "data-size-0.wav": data_size(wav(s=3.0), 0),
    "cut-half.wav": cut(wav(s=3.0), 0.5),
    "cut-mid-sample.wav": edited(wav("pcm_s24le", s=3.0), lambda d: d[:-1]),
    "trailing-chunk.wav": edited(wav(s=3.0), lambda d: d + b"LIST" + struct.pack("<I", 12) + b"INFOIART\0\0\0\0"),
    # not MP3 though an ID3 tag comes first: a small tag (the sniffer sees past it) and a large one
    **{f"id3{n}-{name}": behind_id3(build, n) for n in (300, 70_000) for name, build in {
        "ac3.ac3": raw("ac3", "ac3"), "eac3.eac3": raw("eac3", "eac3"), "flac.flac": raw("flac", "flac"),
        "tta.tta": raw("tta", "tta", rate=44100), "wv.wv": raw("wavpack", "wv", rate=44100),
        "ape.ape": from_corpus("mac-399.ape"), "mac-396.ape": from_corpus("mac-396.ape"),
        "wav.wav": wav(), "mp2.mp2": raw("libtwolame", "mp2"), "adts.aac": raw("aac", "adts"),
        "ogg.ogg": raw("flac", "ogg"),
    }.items()},
}

CORPUS_NAMES = ("97-unknown-23-update.mp3", "almostempty.mpc")  # checked below to be in the corpus


def corpus_files() -> list[str]:
    """The corpus files named or tagged like MP3/WAV, or that the inspector calls MP3/WAV."""
    try:
        folder = corpus("mutagen")
    except Exception:  # noqa: BLE001  (no index reachable: the corpus tests report it)
        return ["<corpus unavailable>"]
    names = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        with open(path, "rb") as f:
            head = f.read(3)
        if path.suffix in (".mp3", ".wav") or head == b"ID3" or inspect_path(path).format in ("mp3", "wav"):
            names.append(path.name)
    return names


# -- references ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def grid(tmp_path_factory) -> Callable[[str], Path]:
    root = tmp_path_factory.mktemp("oracle-audio")

    @functools.cache
    def get(name: str) -> Path:
        out = root / name
        GRID[name](out)
        return out

    return get


_INPUT = re.compile(r"^Input #0, ([\w,]+), from", re.MULTILINE)
_AUDIO = re.compile(r"Stream #0:\d+[^:]*: Audio: (\w+)[^,\n]*, (\d+) Hz, ([^,\n]+)")
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4,
            "quad(side)": 4, "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6,
            "6.0": 6, "6.0(front)": 6, "hexagonal": 6, "6.1": 7, "7.0": 7, "7.1": 8, "7.1(wide)": 8,
            "octagonal": 8}
# ffmpeg's demuxer names where the inspector's format names differ
_FORMATS = {"mpc8": "mpc", "mp3": "mp3"}


@functools.cache
def reference(path: Path) -> dict | None:
    """ffmpeg's facts: demuxer, codec, rate, channels, decoded duration and errors; None when it
    cannot open the file or finds no audio in it."""
    text = probe(path)
    opened, audio = _INPUT.search(text), _AUDIO.search(text)
    if opened is None or audio is None:
        return None
    layout = audio.group(3).strip()
    many = re.match(r"(\d+) channels", layout)
    channels = int(many.group(1)) if many else _LAYOUTS[layout]
    done = decode(path, "a") or {"duration_s": None, "errors": ["no decode"]}
    demuxer = opened.group(1).split(",")[0]
    return {"format": _FORMATS.get(demuxer, demuxer), "codec": audio.group(1), "rate": int(audio.group(2)),
            "channels": channels, "duration_s": done["duration_s"], "errors": done["errors"]}


def one_frame(ref: dict, path: Path) -> float:
    """Seconds of one audio frame of this file's codec (the duration tolerance), plus the rounding
    of ffmpeg's microseconds."""
    return _frame(ref, path) + 2e-6


def _frame(ref: dict, path: Path) -> float:
    codec, rate = ref["codec"], ref["rate"]
    if codec == "mp3":
        return (1152 if rate >= 32000 else 576) / rate
    if codec.startswith("pcm_"):
        return 1 / rate
    if codec.startswith("adpcm"):
        with open(path, "rb") as f:
            head = f.read(4096)
        at = head.find(b"fmt ")
        block_align, = struct.unpack_from("<H", head, at + 20)
        return 2 * block_align / ref["channels"] / rate  # 4-bit samples: two per byte and channel
    return {"ac3": 1536, "eac3": 1536, "mp2": 1152, "flac": 4608}.get(codec, 4608) / rate


def codec_agrees(ours: str | None, theirs: str) -> bool:
    if theirs.startswith("pcm_") and theirs not in ("pcm_alaw", "pcm_mulaw"):
        return ours == "pcm"
    return ours == theirs


def agree(path: Path) -> None:
    """The assertions of this module for one file (see the module docstring)."""
    ref = reference(path)
    f = inspect_path(path)
    if ref is None:  # ffmpeg cannot read it: neither may a request pass with it
        assert f.problem or f.format not in ("mp3", "wav") or (f.duration_s or 0) < 1.8, f
        return
    assert (f.kind, f.format) == ("audio", ref["format"]), (f, ref)
    if not ref["errors"]:
        assert f.problem is None, (f.problem, ref)
    if f.problem is not None:
        return
    if ref["format"] not in ("mp3", "wav"):  # a rejected format: its name is what the rules need
        return
    assert codec_agrees(f.codec, ref["codec"]), (f.codec, ref)
    assert (f.sample_rate, f.channels) == (ref["rate"], ref["channels"]), (f, ref)
    assert ref["duration_s"] is not None and f.duration_s is not None, (f, ref)
    assert abs(f.duration_s - ref["duration_s"]) <= one_frame(ref, path), (f.duration_s, ref)


# what the payload behind an ID3 tag is, by the file name's extension
_REAL = {".aac": "aac", ".ogg": "ogg", ".ac3": "ac3", ".eac3": "eac3", ".flac": "flac", ".tta": "tta", ".wv": "wv", ".ape": "ape",
         ".wav": "wav", ".mp2": "mp3"}


@pytest.mark.parametrize("name", list(GRID))
def test_generated(grid, name):
    path = grid(name)
    agree(path)
    if re.match(r"id3\d+-", name):  # whether or not ffmpeg reads it, it is named by what it is
        f = inspect_path(path)
        assert (f.kind, f.format) == ("audio", _REAL[path.suffix]), f
        assert f.codec != "mp3"


@pytest.mark.parametrize("name", corpus_files())
def test_mutagen_corpus(name):
    assert name != "<corpus unavailable>", "the mutagen sdist could not be downloaded"
    agree(corpus("mutagen") / name)


def test_the_corpus_holds_the_files_this_module_expects():
    names = corpus_files()
    assert all(n in names for n in CORPUS_NAMES) and sum(n.endswith(".wav") for n in names) >= 3


# -- files no decoder plays ---------------------------------------------------------------------


def fmt_field(base: Callable, offset: int, fmt: str, value: int) -> Callable:
    """Overwrite a field of the 'fmt ' chunk (``offset`` from the chunk body)."""
    def edit(data: bytes) -> bytes:
        out = bytearray(data)
        struct.pack_into(fmt, out, data.find(b"fmt ") + 8 + offset, value)
        return bytes(out)
    return edited(base, edit)


# (fmt field offset, struct format, value, base file): the fields a decoder needs, made impossible
ODD_FMT = {
    "rate-0.wav": (4, "<I", 0, wav(s=3.0)),
    "channels-0.wav": (2, "<H", 0, wav(s=3.0)),
    "block-align-0.wav": (12, "<H", 0, wav(s=3.0)),  # PCM: ffmpeg works it out
    "byte-rate-0.wav": (8, "<I", 0, wav(s=3.0)),
    "bits-0.wav": (14, "<H", 0, wav(s=3.0)),
    "bits-12.wav": (14, "<H", 12, wav(s=3.0)),  # 12-bit samples stored in 2 bytes
    "bits-40.wav": (14, "<H", 40, wav(s=3.0)),
    "float-bits-16.wav": (14, "<H", 16, wav("pcm_f32le", s=3.0)),
    "channels-8.wav": (2, "<H", 8, wav(s=3.0)),
    "channels-512.wav": (2, "<H", 512, wav(s=3.0)),
    "channels-513.wav": (2, "<H", 513, wav(s=3.0)),
    "channels-65535.wav": (2, "<H", 65535, wav(s=3.0)),
    "rate-1.wav": (4, "<I", 1, wav(s=0.5)),
    "ext-valid-24-of-32.wav": (18, "<H", 24, wav("pcm_s32le", ch=6, rate=48000)),
    "ext-valid-0.wav": (18, "<H", 0, wav("pcm_s24le", ch=6, rate=48000)),
    "ext-float-valid-24.wav": (18, "<H", 24, wav("pcm_f32le", ch=6, rate=48000)),
    "ext-no-subformat.wav": (24, "<H", 0, wav(ch=6, rate=48000)),
    "rate-2^31-1.wav": (4, "<I", 0x7FFFFFFF, wav(s=3.0)),
    "rate-2^31.wav": (4, "<I", 0x80000000, wav(s=3.0)),
    "rate-2^32-1.wav": (4, "<I", 0xFFFFFFFF, wav(s=3.0)),
}


@pytest.mark.parametrize("name", list(ODD_FMT))
def test_a_wav_with_odd_format_numbers(tmp_path, name):
    # No decoder plays a WAV with no sample rate or no channels: a problem, as when ffmpeg cannot
    # decode it. The numbers ffmpeg does without (a PCM block align or byte rate) are no problem.
    offset, fmt, value, base = ODD_FMT[name]
    path = tmp_path / name
    fmt_field(base, offset, fmt, value)(path)
    ref = reference(path)
    if ref is None or not ref["duration_s"]:
        assert inspect_path(path).problem, ref
    else:
        agree(path)
