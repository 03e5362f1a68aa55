"""Fuzz `check`: mutate the request files in fixtures/requests/ and check the raw bytes.

    python tests/fuzz/fuzz_check.py [libFuzzer flags]          # with atheris (pip install atheris)
    python tests/fuzz/fuzz_check.py --fallback [--runs N] [--seconds S]   # plain random mutation

A readable request must always get findings: any exception is an internal error, an input that takes
more than 2 s is a hang, and every report (json, sarif, text, github) must render, the JSON ones as strict
JSON (no NaN/Infinity). See tests/fuzz/README.md.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PROFILES = [None, "ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos"]
HANG_SECONDS = 2.0


class _Raw(str):
    """JSON text written as it is (a key or value json.dumps cannot write: 1e400, a lone surrogate)."""


# Values the fuzz campaign of issue 7 found crashes with, written as JSON text.
HOSTILE = ["1e400", "-1e400", "1E+999", "9" * 5000, "-" + "1" * 400, "1e-400", "-0", "0.5", "4294967296",
           '"\\ud800"', '"\\udc00@image9"', '"' + "9" * 4400 + '"', '"@video' + "7" * 4400 + '"', '"-1"', '"5"',
           '["first_frame"]', '{"a": 1}', "[" * 200 + "]" * 200, '"a.b"', '"a/b~"', "null", "true", '""',
           '[5, {"type": 3}, {}, "web_search"]', '"missing.mp4"', '"data:image/png;base64,\\ud800"',
           '"image 1 video 2 @audio3 [Image 4] 图片5"', '"' + "cat " * 2000 + '"']
KEYS = ["model", "content", "prompt", "duration", "seconds", "seed", "ratio", "resolution", "role", "tools",
        "type", "text", "url", "image_url", "video_url", "audio_url", "metadata", "extra_body", "images",
        "videos", "audios", "size", "a.b", "omni_reference_task_type", "frames", "watermark",
        _Raw('"\\ud800"'), _Raw('"a\\u0000/~b"')]


def seeds() -> list[bytes]:
    """The request fixtures, plus one hostile request per dialect."""
    out = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "requests").rglob("*.json"))]
    out.append(b'{"model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "@image2"}, '
               b'{"type": "image_url", "image_url": {"url": "a.png"}, "role": ["x"]}], "duration": 1e400}')
    out.append(b'{"model": "seedance2.0-720p", "prompt": "image 9", "duration": "99999", "extra_body": {"seed": 1}}')
    out.append(b'{"model": "doubao-seedance-2-0-260128", "prompt": "a", "seconds": "5", "metadata": {"a.b": 1}}')
    return out


def _nodes(node, path=()):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _nodes(v, path + (i,))


def _dump(node) -> str:
    if isinstance(node, _Raw):
        return str(node)
    if isinstance(node, dict):
        return "{" + ", ".join(f"{_dump(k)}: {_dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_dump(v) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)


def mutate_json(data: bytes, rnd: random.Random) -> bytes | None:
    """A structural mutation: a value replaced by a hostile literal, a key added, renamed or removed,
    an array element duplicated. None when ``data`` is not a JSON object (or too deep to walk here)."""
    try:
        doc = json.loads(data)
        return _mutate(doc, rnd) if isinstance(doc, dict) else None
    except (ValueError, RecursionError):
        return None


def _mutate(doc: dict, rnd: random.Random) -> bytes:
    nodes = list(_nodes(doc))
    path, node = rnd.choice(nodes)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    choice = rnd.randrange(5)
    if choice == 0 and path:  # replace the value
        parent[path[-1]] = _Raw(rnd.choice(HOSTILE))
    elif choice == 1 and isinstance(node, dict):  # add a key
        node[rnd.choice(KEYS) if rnd.random() < 0.8 else rnd.choice(HOSTILE).strip('"')] = _Raw(rnd.choice(HOSTILE))
    elif choice == 2 and isinstance(node, dict) and node:  # remove a key
        node.pop(rnd.choice(list(node)))
    elif choice == 3 and isinstance(node, list) and node:  # duplicate elements
        node.extend(node[: rnd.randint(1, 12)] * rnd.randint(1, 20))
    elif choice == 4 and isinstance(node, dict) and node:  # rename a key
        key = rnd.choice(list(node))
        node[rnd.choice(KEYS)] = node.pop(key)
    else:
        doc[rnd.choice(KEYS)] = _Raw(rnd.choice(HOSTILE))
    return _dump(doc).encode("utf-8", "surrogatepass")


def mutate_bytes(data: bytes, rnd: random.Random) -> bytes:
    """A byte-level mutation: flip, insert, delete or splice a slice."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(4)
        at = rnd.randint(0, len(b))
        if op == 0 and b:
            b[min(at, len(b) - 1)] = rnd.randrange(256)
        elif op == 1:
            b[at:at] = rnd.choice([b'"', b"{", b"[", b"]", b"}", b",", b":", b"\\u", b"\\ud800", b"\xff",
                                   b"\xef\xbb\xbf", b"e400", b"9" * 50, b"-", b"\n"])
        elif op == 2 and b:
            del b[at:at + rnd.randint(1, 8)]
        elif b:
            start = rnd.randint(0, len(b) - 1)
            b[at:at] = b[start:start + rnd.randint(1, 64)]
    return bytes(b)


class Target:
    """Checks one input the way `check` does, and raises on anything that is not a clean result."""

    def __init__(self):
        from prep.lint import Checker
        from prep.ruleset import RuleBook

        book = RuleBook()
        self.media_dir = tempfile.mkdtemp(prefix="fuzz-media-")  # empty: every local path is missing
        self.checkers = [Checker(book, profile=p, max_tokens=100000) for p in PROFILES]

    def __call__(self, data: bytes) -> None:
        from prep.report import render

        checker = self.checkers[len(data) % len(self.checkers)]
        result = checker.check_bytes(data, "fuzz.json", base_dir=self.media_dir)
        if not result.findings and not data.strip():
            raise AssertionError("an empty file got no finding")
        for f in result.findings:
            if not (isinstance(f.rule, str) and f.rule and isinstance(f.message, str) and f.message):
                raise AssertionError(f"finding without a rule id or message: {f!r}"[:300])
            json.dumps(f.as_dict(), allow_nan=False)
        json.dumps(result.estimate, allow_nan=False)
        for fmt in ("json", "sarif"):
            json.loads(render(fmt, [result], []), parse_constant=_refuse)
        for fmt in ("text", "github"):
            render(fmt, [result], []).encode("utf-8")  # printable: no lone surrogate reaches stdout


def _refuse(name):
    raise ValueError(f"{name} in JSON output")


def run_atheris(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports():
        import prep.checks  # noqa: F401
        import prep.document  # noqa: F401
        import prep.engine  # noqa: F401
        import prep.lint  # noqa: F401
    target = Target()
    rnd = random.Random()

    def one_input(data: bytes) -> None:
        target(data)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rnd.seed(seed)
        if rnd.random() < 0.6:
            out = mutate_json(data, rnd)
            if out is not None and len(out) <= max_size:
                return out
        return atheris.Mutate(data, max_size)

    corpus = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
    for n, seed in enumerate(seeds()):
        (corpus / f"seed-{n}").write_bytes(seed)
    flags = [a for a in argv if a.startswith("-")]
    dirs = [a for a in argv if not a.startswith("-")] or [str(corpus)]
    defaults = [f"-timeout={int(HANG_SECONDS)}", "-rss_limit_mb=2048", "-max_len=200000", "-print_final_stats=1"]
    atheris.Setup([sys.argv[0], *defaults, *flags, *dirs], one_input, custom_mutator=mutator)
    atheris.Fuzz()


def run_fallback(runs: int, seconds: float, seed: int, artifacts: Path) -> int:
    """Random mutation without coverage guidance; returns the number of failures."""
    import resource

    from entry import campaign

    def next_input(rnd: random.Random, pool: list[bytes]) -> bytes:
        data = rnd.choice(pool)
        for _ in range(rnd.randint(1, 3)):
            mutated = mutate_json(data, rnd) if rnd.random() < 0.6 else None
            data = mutated if mutated is not None else mutate_bytes(data, rnd)
        return data

    done, errors, hangs, slowest, took = campaign(
        seeds(), next_input, Target(), runs=runs, seconds=seconds, seed=seed, hang=HANG_SECONDS,
        artifacts=artifacts, suffix=".json", keep_below=200_000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"mutants run: {done} in {took:.0f} s; internal errors: {errors}; "
          f"hangs (> {HANG_SECONDS:g} s): {hangs}; slowest input: {slowest:.2f} s; peak RSS: {peak:.0f} MB")
    return errors + hangs


def main(argv: list[str]) -> int:
    from entry import main as run

    return run(argv, "check", 100_000, run_fallback, run_atheris)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
