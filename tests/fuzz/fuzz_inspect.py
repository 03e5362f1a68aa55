"""Fuzz the media inspector: mutate small media files of every format and inspect the bytes.

    python tests/fuzz/fuzz_inspect.py [libFuzzer flags]                  # with atheris (pip install atheris)
    python tests/fuzz/fuzz_inspect.py --fallback [--runs N] [--seconds S]   # plain random mutation

Bad media must come back as facts: any exception is an internal error, a problem must be one line
without "internal error", facts must encode as strict JSON (no NaN/Infinity duration), and an input
that takes longer than the fallback worker's time limit plus a margin is a hang. The mutants reach the
fallback reader (libmediainfo in its bounded worker) wherever the header parsers give up.
``measure_hostile.py media`` measures the worst time and peak memory of a campaign. See README.md.
"""

from __future__ import annotations

import json
import os
import random
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Box, chunk and element names whose size field a mutation sets to a huge value (a header that claims
# gigabytes it does not hold: the class of input that made the old parsers read 2 GB).
SIZED = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsz", b"stco", b"stts", b"mdat", b"moof", b"traf",
         b"trun", b"meta", b"iloc", b"ftyp", b"data", b"fmt ", b"LIST", b"RIFF", b"IHDR", b"IDAT", b"VP8 ",
         b"VP8X", b"EXIF", b"eXIf", b"acTL", b"Xing", b"Info"]
HUGE = [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x10000, 0, 1, 7, 8]
# Matroska element ids (Segment, Cluster, Tracks, SeekHead, Cues, Info, TrackEntry, SimpleBlock, BlockGroup)
# whose size a mutation replaces: unknown (all ones), huge, or zero.
EBML = [b"\x18\x53\x80\x67", b"\x1f\x43\xb6\x75", b"\x16\x54\xae\x6b", b"\x11\x4d\x9b\x74",
        b"\x1c\x53\xbb\x6b", b"\x15\x49\xa9\x66", b"\xae", b"\xa3", b"\xa0"]
EBML_SIZES = [b"\x01\xff\xff\xff\xff\xff\xff\xff", b"\x01\x00\x00\x0f\xff\xff\xff\xff", b"\x80", b"\xff",
              b"\x10\xff\xff\xff"]


def seeds(folder: Path | None = None) -> list[bytes]:
    """One small file of each format the inspector meets (made once into ``folder`` if given)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="fuzz-media-"))
    done = folder / ".complete"
    if not done.exists():
        sys.path.insert(0, str(ROOT / "tests"))
        from media import Media, heif_bytes

        m = Media(folder)
        made = [m.video(size="32x32", audio=True), m.video(size="32x32", container="mov"),
                m.video(size="32x32", faststart=True, extra=("-movflags", "+frag_keyframe+empty_moov")),
                m.video(size="32x32", container="mkv", audio=True), m.video(size="32x32", container="avi", codec="mpeg4"),
                m.video(size="32x32", container="webm", codec="libvpx-vp9"), m.audio_only_container("mkv"),
                m.audio(container="mp3", seconds=0.5), m.audio(container="wav", seconds=0.2),
                m.audio(container="flac", seconds=0.5), m.audio(container="ogg", seconds=0.5),
                m.audio(container="m4a", seconds=0.5)]
        made += [m.image(fmt=f, size=(24, 16)) for f in ("jpeg", "png", "gif", "webp", "bmp", "tiff", "ppm", "ico")]
        made.append(m.write("x.heic", heif_bytes(64, 48)))
        for n, path in enumerate(made):
            os.replace(path, folder / f"seed-{n:02d}{path.suffix}")
        done.write_text("")
    return [p.read_bytes() for p in sorted(folder.glob("seed-*"))]


def mutate(data: bytes, rnd: random.Random) -> bytes:
    """Flips, inserts, deletes, splices, a cut, or a size field set to a huge or tiny value."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(6)
        at = rnd.randint(0, max(0, len(b) - 1))
        if op == 0 and b:
            b[at] = rnd.randrange(256)
        elif op == 1:
            b[at:at] = rnd.randbytes(rnd.randint(1, 16))
        elif op == 2 and b:
            del b[at : at + rnd.randint(1, 64)]
        elif op == 3 and b:
            start = rnd.randint(0, len(b) - 1)
            b[at:at] = b[start : start + rnd.randint(1, 256)] * rnd.randint(1, 8)
        elif op == 4 and len(b) > 16:
            del b[rnd.randint(len(b) // 4, len(b)) :]
        elif op == 5 and b[:4] == b"\x1aE\xdf\xa3" and rnd.random() < 0.5:
            eid = rnd.choice(EBML)
            where = b.find(eid, rnd.randint(0, len(b) - 1) if rnd.random() < 0.5 else 0)
            if where >= 0:
                p = where + len(eid)
                old = 9 - b[p].bit_length() if p < len(b) and b[p] else 1
                b[p : p + old] = rnd.choice(EBML_SIZES)
        else:
            name = rnd.choice(SIZED)
            where = b.find(name, rnd.randint(0, max(0, len(b) - 1)) if rnd.random() < 0.3 else 0)
            if where >= 4:
                value = rnd.choice(HUGE)
                fmt = "<I" if name in (b"fmt ", b"LIST", b"RIFF", b"data", b"VP8 ", b"VP8X") else ">I"
                offset = where + 4 if name in (b"fmt ", b"LIST", b"RIFF", b"VP8 ", b"VP8X") else where - 4
                if offset + 4 <= len(b):
                    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def check(data: bytes) -> None:
    """Inspect ``data`` as the CLI would a file, and raise on anything that is not clean facts."""
    import math

    from prep.inspect import inspect_path

    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:  # a path: the worker reads files by path
        tmp.write(data)
        tmp.flush()
        facts = inspect_path(tmp.name)
    if facts.bytes != len(data):
        raise AssertionError(f"bytes {facts.bytes} != {len(data)}")
    for text in (facts.problem, facts.unjudged):
        if text is not None and ("\n" in text or "internal error" in text or not text.strip()):
            raise AssertionError(f"bad reason: {text!r}"[:300])
    for value in (facts.duration_s, facts.fps):
        if value is not None and not (0 <= value < math.inf):
            raise AssertionError(f"impossible fact {value!r}")
    json.dumps(facts._asdict(), allow_nan=False)


def run_atheris(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports():
        import prep.inspect  # noqa: F401
    rnd = random.Random()

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rnd.seed(seed)
        out = mutate(data, rnd) if rnd.random() < 0.5 else atheris.Mutate(data, max_size)
        return out[:max_size]

    corpus = Path(tempfile.mkdtemp(prefix="fuzz-inspect-corpus-"))
    for n, seed in enumerate(seeds()):
        (corpus / f"seed-{n}").write_bytes(seed)
    flags = [a for a in argv if a.startswith("-")]
    dirs = [a for a in argv if not a.startswith("-")] or [str(corpus)]
    from prep.inspect.worker import timeout_s

    defaults = [f"-timeout={int(timeout_s()) + 5}", "-rss_limit_mb=2048", "-max_len=300000", "-print_final_stats=1"]
    atheris.Setup([sys.argv[0], *defaults, *flags, *dirs], check, custom_mutator=mutator)
    atheris.Fuzz()


def run_fallback(runs: int, seconds: float, seed: int, artifacts: Path) -> int:
    import resource

    from entry import campaign

    from prep.inspect.worker import timeout_s

    hang = timeout_s() + 5
    done, errors, hangs, slowest, took = campaign(
        seeds(), lambda rnd, pool: mutate(rnd.choice(pool), rnd), check, runs=runs, seconds=seconds, seed=seed,
        hang=hang, artifacts=artifacts, suffix=".bin", keep_below=300_000)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"mutants run: {done} in {took:.0f} s; internal errors: {errors}; "
          f"hangs (> {hang:g} s): {hangs}; slowest input: {slowest:.2f} s; peak RSS: {own:.0f} MB "
          f"(fallback workers: {worker:.0f} MB)")
    return errors + hangs


def main(argv: list[str]) -> int:
    from entry import main as run

    return run(argv, "prep.inspect", 20_000, run_fallback, run_atheris)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
