"""Every fixable rule of the ark profile, end to end: a request failing exactly that rule, `fix`, then

- exit 0, and `check` on the output has no finding of that rule and no error;
- the limit measured again on the output by readers other than the project's inspector (Pillow for
  images; pymediainfo for video and audio);
- the originals byte-identical;
- a second `fix` of the output changes no media byte (every job a copy, no edit).

Content-dropping fixes (trim, crop, dropping a parameter) are first run without --unsafe: listed as not
fixed, exit 1. Limits come from the rule set (with the case's --rules overlay), never from this file.
Media is made at test time, tiny, once per session (tests/media.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media import Media, media, run_ffmpeg  # noqa: F401  (media is a fixture)

pytest.importorskip("pymediainfo")

MODEL = "doubao-seedance-2-0-260128"


# ---------------------------------------------------------------------------------------------------
# Independent readers


def mediainfo(path: Path) -> dict:
    """pymediainfo's first track of each type."""
    from pymediainfo import MediaInfo

    found: dict = {}
    for track in MediaInfo.parse(str(path)).tracks:
        found.setdefault(track.track_type, track)
    return found


def seconds(track) -> float:
    return float(track.duration) / 1000


def played(path: Path) -> float:
    """How long ffmpeg's decoder plays ``path``, counted in samples. pymediainfo's MP3 duration counts
    every frame, the encoder's delay and padding included, which decoders drop (gapless playback)."""
    import subprocess

    from media import ffmpeg_exe

    rate = 8000
    raw = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le",
                          "-ac", "1", "-ar", str(rate), "-"], capture_output=True, check=True).stdout
    return len(raw) / 2 / rate


def pil(path_or_bytes) -> tuple[str, tuple[int, int]]:
    from PIL import Image

    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as im:
        im.load()
        return im.format, im.size


# ---------------------------------------------------------------------------------------------------
# Rule limits, as the profile (with the case's overlay) has them


def profile(overlay: str | None, tmp: Path):
    from prep.ruleset import RuleBook

    if overlay is None:
        return RuleBook().get("ark")
    path = tmp / "overlay-for-limits.toml"
    path.write_text(overlay)
    return RuleBook(extra_files=[str(path)]).get("ark")


class Limits:
    def __init__(self, prof) -> None:
        self.p = prof

    def o(self, rule: str) -> dict:
        return self.p.rule(rule).options

    def within(self, rule: str, value: float) -> bool:
        o = self.o(rule)
        return not ((o.get("min") is not None and value < o["min"]) or (o.get("max") is not None and value > o["max"])
                    or (o.get("below") is not None and value >= o["below"]))


# ---------------------------------------------------------------------------------------------------
# Cases


@dataclass
class Job:
    """Builds one case's request in ``folder``, from the session's media."""

    media: Media
    folder: Path

    def put(self, src: Path, name: str) -> str:
        shutil.copy(src, self.folder / name)
        return name

    def image(self, name: str = "ref.png", size: tuple[int, int] = (400, 300)) -> dict:
        url = self.put(self.media.image(size=size), name)
        return {"type": "image_url", "image_url": {"url": url}, "role": "reference_image"}


def item(kind: str, url: str, role: str | None = "") -> dict:
    out: dict = {"type": f"{kind}_url", f"{kind}_url": {"url": url}}
    if role is not None:
        out["role"] = role or f"reference_{kind}"
    return out


def req(*items: dict, **params) -> dict:
    return {"model": MODEL, **params, "content": [{"type": "text", "text": "a scene"}, *items]}


@dataclass
class Out:
    """The fixed request: its folder, document, and the output media of each kind in item order."""

    folder: Path
    doc: dict
    lim: Limits

    def urls(self, kind: str) -> list[str]:
        return [i[f"{kind}_url"]["url"] for i in self.doc["content"] if i.get("type") == f"{kind}_url"]

    def paths(self, kind: str) -> list[Path]:
        return [self.folder / u for u in self.urls(kind)]


@dataclass
class Case:
    id: str
    rule: str
    build: Callable[[Job], dict]
    measure: Callable[[Out], None]
    args: tuple[str, ...] = ()
    gate: str = ""  # the flag the fix waits for ("--unsafe": it drops content): without it, listed and exit 1
    overlay: str | None = None
    extra: dict = field(default_factory=dict)


# -- measurements ----------------------------------------------------------------------------------


def that(condition: bool, what: object) -> None:
    assert condition, what


def image_ok(out: Out, want_format: str | None = None, ratio: float | None = None, bytes_rule: bool = False):
    (path,) = out.paths("image")[:1] or [None]
    assert path is not None and path.is_file()
    fmt, (w, h) = pil(path)
    assert out.lim.within("image.dimensions", w) and out.lim.within("image.dimensions", h), (w, h)
    assert out.lim.within("image.aspect-ratio", w / h), (w, h)
    assert fmt.lower() in out.lim.o("image.format")["values"], fmt
    if want_format is not None:
        assert fmt.lower() == want_format
    if ratio is not None:
        assert abs(w / h / ratio - 1) < 0.01, (w, h, ratio)
    if bytes_rule:
        assert out.lim.within("image.file-size", path.stat().st_size), path.stat().st_size
    return fmt, (w, h)


def video_ok(out: Out, n: int = 0, ratio: float | None = None):
    path = out.paths("video")[n]
    t = mediainfo(path)
    g, v = t["General"], t["Video"]
    assert g.format == "MPEG-4" and v.format in ("AVC", "HEVC"), (g.format, v.format)
    w, h = int(v.width), int(v.height)
    for rule, value in (("video.dimensions", w), ("video.dimensions", h), ("video.pixels", w * h),
                        ("video.aspect-ratio", w / h), ("video.fps", float(v.frame_rate)),
                        ("video.duration", seconds(v)), ("video.file-size", int(g.file_size))):
        assert out.lim.within(rule, value), (rule, value)
    if ratio is not None:
        assert abs(w / h / ratio - 1) < 0.01, (w, h, ratio)
    return t


def audio_ok(out: Out, n: int = 0):
    path = out.paths("audio")[n]
    t = mediainfo(path)
    g, a = t["General"], t["Audio"]
    assert {"MPEG Audio": "mp3", "Wave": "wav"}.get(g.format) in out.lim.o("audio.format")["values"], g.format
    assert a.format in ("MPEG Audio", "PCM"), a.format
    assert out.lim.within("audio.duration", played(path)), played(path)
    assert out.lim.within("audio.file-size", int(g.file_size)), g.file_size
    return t


def total_ok(out: Out, kind: str) -> None:
    total = sum(played(p) if kind == "audio" else seconds(mediainfo(p)["Video"]) for p in out.paths(kind))
    assert total <= out.lim.o(f"{kind}.total-duration")["max"], total


# -- the matrix ------------------------------------------------------------------------------------

VIDEO = {"size": "864x480", "fps": 24, "seconds": 3.0}  # a clip every video rule of ark passes


def _ark(rule: str, option: str):
    from prep.ruleset import RuleBook

    return RuleBook().get("ark").rule(rule).options[option]


def _video(j: Job, name: str = "clip.mp4", **kw) -> dict:
    return item("video", j.put(j.media.video(**{**VIDEO, **kw}), name))


def _audio(j: Job, name: str = "song.wav", **kw) -> dict:
    return item("audio", j.put(j.media.audio(**{"seconds": 3.0, **kw}), name))


def _noise_png(j: Job, size: tuple[int, int]) -> Path:
    path = j.media.root / f"noise-{size[0]}x{size[1]}.png"
    if not path.exists():
        import random

        from PIL import Image

        rnd = random.Random(7)
        Image.frombytes("RGB", size, bytes(rnd.getrandbits(8) for _ in range(size[0] * size[1] * 3))).save(path)
    return path


def _ratio_image(w: int, h: int):
    def build(j: Job) -> dict:
        return req(item("image", j.put(j.media.image(size=(w, h)), "pic.png")))
    return build


def _durations(kind: str, first: float, second: float):
    def build(j: Job) -> dict:
        if kind == "video":
            return req(_video(j, "a.mp4", seconds=first), _video(j, "b.mp4", seconds=second))
        return req(j.image(), _audio(j, "a.wav", seconds=first), _audio(j, "b.wav", seconds=second))
    return build


def _data_uri(declared: str, size: tuple[int, int], fmt: str = "PNG", **save):
    def build(j: Job) -> dict:
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", size, "red").save(buf, fmt, **save)
        return req(item("image", f"data:{declared};base64," + base64.b64encode(buf.getvalue()).decode()))
    return build


def _inline_ok(ratio: float):
    def measure(out: Out) -> None:
        (url,) = out.urls("image")
        declared = url[5:url.index(";")]
        assert url.startswith("data:image/") and ";base64," in url, url[:40]
        fmt, (w, h) = pil(base64.b64decode(url.split(",", 1)[1]))
        assert out.lim.o("url.data-uri")["media_types"]["image"].get(declared) == fmt.lower(), (declared, fmt)
        assert out.lim.within("image.dimensions", w) and out.lim.within("image.dimensions", h)
        assert abs(w / h / ratio - 1) < 0.01
        assert not (out.folder / "media").exists()  # inlined again, not written as a file
    return measure


def _order_ok(out: Out) -> None:
    types = [i["type"] for i in out.doc["content"]]
    rank = out.lim.o("content.order")["order"]
    assert types == sorted(types, key=rank.index)
    (a,) = out.paths("audio")
    assert mediainfo(a)["Audio"] is not None and pil(out.paths("image")[0])[1] == (400, 300)


CASES = [
    # -- images
    Case("image.dimensions-small", "image.dimensions", _ratio_image(64, 48),
         lambda o: image_ok(o, ratio=64 / 48)),
    Case("image.dimensions-big", "image.dimensions", _ratio_image(6100, 2500),
         lambda o: image_ok(o, ratio=6100 / 2500)),
    Case("image.aspect-ratio-pad", "image.aspect-ratio", _ratio_image(900, 300),
         lambda o: that(image_ok(o)[1][0] == 900, "padded: the width stays")),
    Case("image.aspect-ratio-crop", "image.aspect-ratio", _ratio_image(900, 300),
         lambda o: that(image_ok(o)[1][1] == 300, "cropped: the height stays"), args=("--aspect", "crop"),
         gate="--unsafe"),
    Case("image.format-tga", "image.format", lambda j: req(item("image", j.put(j.media.image(fmt="tga",
         size=(400, 300)), "pic.tga"))), lambda o: image_ok(o, ratio=400 / 300)),
    Case("image.file-size", "image.file-size", lambda j: req(item("image", j.put(_noise_png(j, (400, 300)),
         "noise.png"))), lambda o: image_ok(o, bytes_rule=True, ratio=400 / 300),
         overlay='[rules."image.file-size"]\noptions = { below = 60000 }\n'),
    # -- video
    Case("video.format-mkv", "video.format", lambda j: req(_video(j, "clip.mkv", container="mkv")),
         lambda o: video_ok(o)),
    Case("video.format-mkv-at-the-minimum", "video.format",  # ms times in Matroska: the remux kept 1.999 s
         lambda j: req(_video(j, "clip.mkv", container="mkv", seconds=_ark("video.duration", "min"))),
         lambda o: video_ok(o)),
    Case("video.format-ts", "video.format",  # its frame rate unread (media.unjudged): read again on the MP4
         lambda j: req(_video(j, "clip.ts", container="mpegts")), lambda o: video_ok(o)),
    Case("video.pixels", "video.pixels", lambda j: req(_video(j, size="640x360")),
         lambda o: video_ok(o, ratio=640 / 360)),
    Case("video.dimensions", "video.dimensions", lambda j: req(_video(j)),
         lambda o: video_ok(o, ratio=864 / 480), overlay='[rules."video.dimensions"]\noptions = { min = 500 }\n'),
    Case("video.aspect-ratio", "video.aspect-ratio", lambda j: req(_video(j, size="1280x480")),
         lambda o: video_ok(o)),
    Case("video.fps", "video.fps", lambda j: req(_video(j, fps=15)), lambda o: video_ok(o)),
    Case("video.duration-long", "video.duration", lambda j: req(_video(j, seconds=16.0, source="color=c=gray")),
         lambda o: video_ok(o), gate="--unsafe"),
    Case("video.total-duration-proportional", "video.total-duration", _durations("video", 9.0, 8.0),
         lambda o: (video_ok(o, 0), video_ok(o, 1), total_ok(o, "video")), args=("--trim", "proportional"),
         gate="--unsafe"),
    Case("video.total-duration-first", "video.total-duration", _durations("video", 9.0, 8.0),
         lambda o: (video_ok(o, 0), video_ok(o, 1), total_ok(o, "video")), args=("--trim", "first"),
         gate="--unsafe"),
    Case("video.file-size", "video.file-size", lambda j: req(_video(j, extra=("-qp", "0"))),
         lambda o: video_ok(o), overlay='[rules."video.file-size"]\noptions = { below = 300000 }\n'),
    Case("video.codec-mpeg4", "video.codec", lambda j: req(_video(j, codec="mpeg4")),
         lambda o: video_ok(o)),
    # -- audio
    Case("audio.format-flac", "audio.format", lambda j: req(j.image(), _audio(j, "song.flac", container="flac")),
         lambda o: audio_ok(o)),
    Case("audio.format-ogg", "audio.format", lambda j: req(j.image(), _audio(j, "song.ogg", container="ogg")),
         lambda o: audio_ok(o)),
    Case("audio.codec-alaw", "audio.codec", lambda j: req(j.image(), _audio(j, codec="pcm_alaw")),
         lambda o: audio_ok(o)),
    Case("audio.duration-short", "audio.duration", lambda j: req(j.image(), _audio(j, seconds=1.0)),
         lambda o: audio_ok(o)),
    Case("audio.duration-long", "audio.duration", lambda j: req(j.image(), _audio(j, "song.mp3", seconds=17.0,
         container="mp3")), lambda o: audio_ok(o), gate="--unsafe"),
    Case("audio.total-duration", "audio.total-duration", _durations("audio", 9.0, 8.0),
         lambda o: (audio_ok(o, 0), audio_ok(o, 1), total_ok(o, "audio")), gate="--unsafe"),
    Case("audio.file-size", "audio.file-size", lambda j: req(j.image(), _audio(j, rate=44100, channels=2)),
         lambda o: audio_ok(o), overlay='[rules."audio.file-size"]\noptions = { below = 50000 }\n'),
    # -- the request
    Case("content.order", "content.order", lambda j: req(_audio(j), j.image()), _order_ok),
    Case("content.role-missing", "content.role-missing",
         lambda j: req(item("image", j.put(j.media.image(size=(400, 300)), "pic.png"), role=None), _video(j)),
         lambda o: that(o.doc["content"][1]["role"] == "reference_image", o.doc)),
    Case("param.type", "param.type", lambda j: req(j.image(), watermark="false"),
         lambda o: that(o.doc["watermark"] is False, o.doc)),
    Case("param.unsupported", "param.unsupported", lambda j: req(j.image(), frames=121),
         lambda o: that("frames" not in o.doc, o.doc), gate="--unsafe"),
    Case("param.unknown", "param.unknown", lambda j: req(j.image(), resolutoin="480p"),
         lambda o: that("resolutoin" not in o.doc, o.doc), gate="--unsafe"),
    Case("url.data-uri-mismatch", "url.data-uri", _data_uri("image/jpeg", (400, 300)), _inline_ok(400 / 300)),
    Case("url.data-uri-ico", "url.data-uri", _data_uri("image/x-icon", (256, 256), "ICO", sizes=[(256, 256)]),
         _inline_ok(1.0), extra={"also": {"image.dimensions", "image.format"}}),
    Case("url.video-base64", "url.video-base64",
         lambda j: req(item("video", "data:video/mp4;base64," + base64.b64encode(
             j.media.video(**VIDEO).read_bytes()).decode())),
         lambda o: (that(o.urls("video") == ["media/content-1.mp4"], o.urls("video")), video_ok(o)),
         gate="--extract"),
    Case("request.bom", "request.bom", lambda j: req(j.image()),
         lambda o: that((o.folder / "request.json").read_bytes()[:1] == b"{", "no byte order mark"),
         extra={"prefix": b"\xef\xbb\xbf"}),
    Case("url.data-uri-resize", "image.dimensions", _data_uri("image/png", (200, 150)), _inline_ok(200 / 150)),
]


# ---------------------------------------------------------------------------------------------------
# The test


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def findings(cli, request: Path, rules_args: list[str]) -> list[dict]:
    run = cli("check", str(request), "--format", "json", *rules_args)
    assert run.code in (0, 1), run.out + run.err
    return run.json()["results"][0]["findings"]


def test_every_fixable_rule_has_a_case():
    from prep.ruleset import RuleBook

    fixable = {r.id for r in RuleBook().get("ark").rules if r.fixable}
    # Rules the ark rule set cannot fail (no deprecated field, no conflict group), that need 64 MB, or whose
    # fix is a renumbering that only comes with a reorder (a placeholder past the items is not fixable:
    # test_what_fix_cannot_do_is_listed).
    not_here = {"request.body-size", "param.deprecated", "param.conflict", "text.placeholder"}
    assert fixable - not_here == {c.rule for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fix_meets_the_rule(case: Case, cli, media, tmp_path):  # noqa: F811
    src = tmp_path / "in"
    src.mkdir()
    doc = case.build(Job(media, src))
    request = src / "request.json"
    request.write_bytes(case.extra.get("prefix", b"") + json.dumps(doc).encode())
    rules_args: list[str] = []
    if case.overlay is not None:
        (tmp_path / "overlay.toml").write_text(case.overlay)
        rules_args = ["--rules", str(tmp_path / "overlay.toml")]
    before = findings(cli, request, rules_args)
    assert case.rule in {f["rule"] for f in before}, before  # the input fails the rule ...
    others = {f["rule"] for f in before if f["severity"] == "error"} - {case.rule} - case.extra.get("also", set())
    assert not others, before  # ... and no other error
    originals = digests(src)

    if case.gate:
        safe = cli("fix", str(request), "--out", str(tmp_path / "safe"), "--fail-on", "warning", *case.args,
                   *rules_args)
        assert safe.code == 1, safe.out + safe.err
        listed = [line for line in safe.out.splitlines() if "not fixed" in line and case.rule in line]
        assert listed and case.gate in listed[0], safe.out
        assert digests(src) == originals

    out = tmp_path / "out"
    args = [*case.args, *rules_args, *([case.gate] if case.gate else [])]
    run = cli("fix", str(request), "--out", str(out), *args)
    assert run.code == 0, run.out + run.err
    assert "not fixed" not in run.out, run.out
    assert digests(src) == originals  # the originals are untouched

    after = findings(cli, out / "request.json", rules_args)
    assert case.rule not in {f["rule"] for f in after}, after
    assert not [f for f in after if f["severity"] == "error"], after
    assert {f["rule"] for f in after} <= {f["rule"] for f in before}, after  # no new warning either

    fixed = json.loads((out / "request.json").read_text())
    case.measure(Out(out, fixed, Limits(profile(case.overlay, tmp_path))))

    again = tmp_path / "again"
    second = cli("fix", str(out / "request.json"), "--out", str(again), "--format", "json", *args)
    assert second.code == 0, second.out + second.err
    plan = second.json()["results"][0]["plan"]
    assert all(j["copy"] for j in plan["jobs"]) and not plan["edits"], plan
    if (out / "media").exists():
        assert digests(out / "media") == digests(again / "media")
    assert json.loads((again / "request.json").read_text()) == fixed


# ---------------------------------------------------------------------------------------------------
# What fix cannot do: listed as not fixed, exit 1, the originals untouched, and nothing else broken


CANNOT = [
    ("video.duration-short", "video.duration",  # a clip cannot be lengthened
     lambda j: req(_video(j, seconds=1.0))),
    ("text.placeholder-past-the-items", "text.placeholder",  # which image was meant cannot be inferred
     lambda j: {**req(j.image()), "content": [{"type": "text", "text": "@image3 walks"}, j.image()]}),
]


@pytest.mark.parametrize("name, rule, build", CANNOT, ids=[c[0] for c in CANNOT])
def test_what_fix_cannot_do_is_listed(name, rule, build, cli, media, tmp_path):  # noqa: F811
    src = tmp_path / "in"
    src.mkdir()
    request = src / "request.json"
    request.write_text(json.dumps(build(Job(media, src))))
    originals = digests(src)
    run = cli("fix", str(request), "--out", str(tmp_path / "out"), "--unsafe", "--fail-on", "warning")
    assert run.code == 1, run.out + run.err
    assert [line for line in run.out.splitlines() if "not fixed" in line and rule in line], run.out
    assert digests(src) == originals
    after = findings(cli, tmp_path / "out" / "request.json", [])
    assert {f["rule"] for f in after} == {rule}, after  # only what could not be fixed remains


# ---------------------------------------------------------------------------------------------------
# Any picture size, end to end: the limits lowered by an overlay so that the pictures stay small


_SMALL_LIMITS = """
[rules."image.dimensions"]
options = { min = 60, max = 400 }

[rules."image.aspect-ratio"]
options = { min = 0.5, max = 2 }
"""


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=st.integers(8, 900), h=st.integers(8, 900), crop=st.booleans(), fmt=st.sampled_from(["png", "jpeg", "gif"]))
def test_any_picture_size_is_fixed_end_to_end(cli, tmp_path, w, h, crop, fmt):
    import tempfile

    from PIL import Image

    base = Path(tempfile.mkdtemp(dir=tmp_path))
    folder = base / "in"
    folder.mkdir()
    (base / "limits.toml").write_text(_SMALL_LIMITS)
    rules_args = ["--rules", str(base / "limits.toml")]
    Image.new("RGB", (w, h), (200, 40, 40)).save(folder / f"pic.{fmt}", fmt.upper())
    request = folder / "request.json"
    request.write_text(json.dumps(req(item("image", f"pic.{fmt}"))))
    originals = digests(folder)
    args = [*rules_args, *(["--aspect", "crop", "--unsafe"] if crop else [])]
    run = cli("fix", str(request), "--out", str(base / "out"), *args)
    lim = Limits(profile(_SMALL_LIMITS, base))
    ratio_ok = lim.within("image.aspect-ratio", w / h)
    assert run.code == 0, run.out + run.err
    assert digests(folder) == originals
    out = Out(base / "out", json.loads((base / "out" / "request.json").read_text()), lim)
    _, (ow, oh) = image_ok(out)
    if ratio_ok:  # only resized: the ratio kept within 1 %
        assert abs(ow / oh / (w / h) - 1) < 0.01 or (ow, oh) == (w, h), (w, h, ow, oh)
    assert not [f for f in findings(cli, base / "out" / "request.json", rules_args) if f["severity"] == "error"]
    second = cli("fix", str(base / "out" / "request.json"), "--out", str(base / "again"), "--format", "json",
                 *args)
    plan = second.json()["results"][0]["plan"]
    assert second.code == 0 and all(j["copy"] for j in plan["jobs"]), plan


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clips=st.lists(st.tuples(st.integers(5, 90), st.sampled_from(["wav", "mp3"])), min_size=1, max_size=3),
       trim=st.sampled_from(["proportional", "first"]))
def test_any_set_of_audio_clips_is_fixed_end_to_end(cli, media, tmp_path, clips, trim):  # noqa: F811
    """Clips of 0.5–9 s (tenths), WAV or MP3: each padded or cut into the duration range, the total cut
    under the budget, measured again by pymediainfo; a second fix is a no-op."""
    import tempfile

    base = Path(tempfile.mkdtemp(dir=tmp_path))
    folder = base / "in"
    folder.mkdir()
    job = Job(media, folder)
    items = [_audio(job, f"c{n}.{fmt}", seconds=tenths / 10, container=fmt) for n, (tenths, fmt) in enumerate(clips)]
    request = folder / "request.json"
    request.write_text(json.dumps(req(job.image(), *items)))
    originals = digests(folder)
    run = cli("fix", str(request), "--out", str(base / "out"), "--unsafe", "--trim", trim)
    assert run.code == 0, run.out + run.err
    assert digests(folder) == originals
    out = Out(base / "out", json.loads((base / "out" / "request.json").read_text()), Limits(profile(None, base)))
    for n in range(len(clips)):
        audio_ok(out, n)
    total_ok(out, "audio")
    assert not findings(cli, base / "out" / "request.json", [])
    second = cli("fix", str(base / "out" / "request.json"), "--out", str(base / "again"), "--format", "json",
                 "--unsafe", "--trim", trim)
    plan = second.json()["results"][0]["plan"]
    assert second.code == 0 and all(j["copy"] for j in plan["jobs"]), plan


_TINY_VIDEO = """
[rules."video.pixels"]
options = { min = 1000, enforced_min = 1000, max = 927408 }

[rules."video.dimensions"]
options = { min = 16 }

[rules."video.fps"]
options = { min = 10 }
"""


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clips=st.lists(st.tuples(st.integers(10, 90), st.sampled_from([10, 12, 25])), min_size=1, max_size=3),
       trim=st.sampled_from(["proportional", "first"]), container=st.sampled_from(["mp4", "mkv"]))
def test_any_set_of_video_clips_is_fixed_end_to_end(cli, media, tmp_path, clips, trim, container):  # noqa: F811
    """Tiny clips (the size limits lowered) of 1–9 s: each cut into the duration range, the total under the
    budget, measured again by pymediainfo; a second fix is a no-op."""
    import tempfile

    base = Path(tempfile.mkdtemp(dir=tmp_path))
    (base / "limits.toml").write_text(_TINY_VIDEO)
    rules_args = ["--rules", str(base / "limits.toml")]
    folder = base / "in"
    folder.mkdir()
    job = Job(media, folder)
    items = [_video(job, f"c{n}.{container}", size="64x48", fps=fps, seconds=tenths / 10, container=container)
             for n, (tenths, fps) in enumerate(clips)]
    request = folder / "request.json"
    request.write_text(json.dumps(req(*items)))
    originals = digests(folder)
    args = [*rules_args, "--unsafe", "--trim", trim]
    run = cli("fix", str(request), "--out", str(base / "out"), *args)
    lim = Limits(profile(_TINY_VIDEO, base))
    if any(tenths / 10 < lim.o("video.duration")["min"] for tenths, _ in clips):  # a clip cannot be lengthened
        hard = any(tenths / 10 < lim.o("video.duration").get("enforced_min", 0) for tenths, _ in clips)
        assert run.code == (1 if hard else 0), run.out + run.err  # under enforced_min an error, else a warning
        assert [line for line in run.out.splitlines() if "not fixed" in line and "video.duration" in line]
        return
    assert run.code == 0, run.out + run.err
    assert digests(folder) == originals
    out = Out(base / "out", json.loads((base / "out" / "request.json").read_text()), lim)
    for n in range(len(clips)):
        video_ok(out, n)
    total_ok(out, "video")
    assert not [f for f in findings(cli, base / "out" / "request.json", rules_args) if f["severity"] == "error"]
    second = cli("fix", str(base / "out" / "request.json"), "--out", str(base / "again"), "--format", "json", *args)
    plan = second.json()["results"][0]["plan"]
    assert second.code == 0 and all(j["copy"] for j in plan["jobs"]), plan
