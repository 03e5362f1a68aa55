"""The media planner of `fix` (prep.fix.plan): pure, every target from the rule options.

Requests are parsed from dicts, facts are made by hand, findings come from the engine. A small "simulate"
helper applies a job's target to the facts the way the executors promise to (size, format, frame rate,
duration; a size limit met), so the property tests can check that the planned output checks clean under
the same rules and that planning it again is a no-op. The executors are tested on real files elsewhere.
"""

from __future__ import annotations

import builtins
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from prep.dialects import parse
from prep.engine import evaluate
from prep.fix.model import AudioTarget, FixOptions, ImageTarget, MediaJob, VideoTarget
from prep.fix.plan import DURATION_MARGIN_S, plan_media, share_budget
from prep.model import MediaFacts, MediaMissing
from prep.ruleset import RuleBook

M = "doubao-seedance-2-0-260128"
BOOK = RuleBook()
ARK = BOOK.get("ark")
BASE = str(Path(__file__).resolve().parent / "requests")  # never read: the planner does no I/O
FIXABLE_CHECKS = ("fact_range", "fact_in", "fact_total", "codec_in")


def _image(url, role="reference_image"):
    return {"type": "image_url", "image_url": {"url": url}, "role": role}


def _video(url):
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def _audio(url):
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def request(*items, **params):
    return parse({"model": M, **params, "content": [{"type": "text", "text": "go"}, *items]}, "content")


def image(width, height, fmt="jpeg", rotation=0, size=100_000):
    return MediaFacts("image", fmt, size, width=width, height=height, rotation=rotation)


def video(width=1280, height=720, fps=30.0, seconds=5.0, fmt="mp4", codec="h264", audio="aac", rotation=0,
          size=1_000_000):
    return MediaFacts("video", fmt, size, codec=codec, audio_codec=audio, width=width, height=height,
                      duration_s=seconds, fps=fps, has_video=True, has_audio=audio is not None, rotation=rotation)


def audio(seconds=5.0, fmt="mp3", codec=None, size=100_000):
    codec = codec or {"wav": "pcm"}.get(fmt, fmt)
    return MediaFacts("audio", fmt, size, codec=codec, audio_codec=codec, duration_s=seconds, has_audio=True)


def facts_of(req, *facts):
    """Facts for the request's media items, in order (None: no entry)."""
    media = [i for i in req.items if i.kind in ("image", "video", "audio")]
    return {item.pointer: f for item, f in zip(media, facts) if f is not None}


def plan(req, facts, profile=ARK, **options):
    findings, _ = evaluate(req, profile, facts=facts)
    return plan_media(req, profile, facts, findings, FixOptions(**options), BASE)


def job_at(jobs, pointer) -> MediaJob:
    return next(j for j in jobs if j.pointer == pointer)


def upright(f: MediaFacts) -> tuple[int, int]:
    return (f.height, f.width) if f.rotation % 180 == 90 else (f.width, f.height)


def simulate(f: MediaFacts, job: MediaJob) -> MediaFacts:
    """The facts of the output the executors promise for ``job`` (a size limit is met; codecs as written)."""
    t = job.target
    if t is None:
        return f
    size = f.bytes if t.max_bytes is None else min(f.bytes, t.max_bytes - 1)
    if isinstance(t, ImageTarget):
        return f._replace(format=t.format, width=t.size[0], height=t.size[1], rotation=0, bytes=size)
    if isinstance(t, VideoTarget):
        if t.remux_only:
            return f._replace(format="mp4")
        w, h = t.size or upright(f)
        return f._replace(format="mp4", codec="h264", audio_codec="aac" if f.has_audio else None, width=w, height=h,
                          rotation=0, fps=t.fps or f.fps, bytes=size,
                          duration_s=t.duration_s if t.duration_s is not None else f.duration_s)
    assert isinstance(t, AudioTarget)
    seconds = t.duration_s if t.duration_s is not None else f.duration_s
    if t.pad_to_s is not None:
        seconds = max(seconds, t.pad_to_s)
    codec = f.codec if t.copy else {"mp3": "mp3", "wav": "pcm"}[t.format]
    return f._replace(format=t.format, codec=codec, audio_codec=codec, duration_s=seconds, bytes=size)


def apply(facts, jobs):
    out = dict(facts)
    for job in jobs:
        out[job.pointer] = simulate(facts[job.pointer], job)
    return out


def media_findings(req, facts, profile=ARK):
    checks = {r.id: r.check for r in profile.rules}
    findings, _ = evaluate(req, profile, facts=facts)
    return [f for f in findings if checks.get(f.rule) in FIXABLE_CHECKS]


def overlay(text: str):
    """A profile with a --rules overlay file applied (as `--rules FILE` builds it)."""
    fd, path = tempfile.mkstemp(suffix=".toml")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        return RuleBook(extra_files=[path]).get("ark")
    finally:
        os.unlink(path)


def option(profile, rule_id, name):
    return profile.rule(rule_id).options[name]


# ---------------------------------------------------------------------------------------------------
# Images


def test_banner_is_padded_to_the_nearest_allowed_ratio():
    req = request(_image("banner.png"))
    jobs, skipped = plan(req, facts_of(req, image(3000, 600, "png")))
    job = jobs[0]
    top = option(ARK, "image.aspect-ratio", "max")
    assert job.target.fit == "pad" and job.target.scale_to == (3000, 600)
    assert job.target.size == (3000, round(3000 / top))
    assert job.steps == (f"pad 3000×600 → 3000×{round(3000 / top)}",)
    assert job.rules == ("image.aspect-ratio",) and not job.unsafe and not skipped
    assert job.target.format == "png" and job.output == "banner.png"
    assert job.source == os.path.join(BASE, "banner.png") and job.value_pointer == "/content/1/image_url/url"


def test_tall_strip_is_padded_sideways_with_the_chosen_fill():
    req = request(_image("strip.jpg"))
    jobs, _ = plan(req, facts_of(req, image(500, 4000)), pad_color="blur")
    low = option(ARK, "image.aspect-ratio", "min")
    assert jobs[0].target.size == (math.ceil(4000 * low), 4000) and jobs[0].target.fill == "blur"


def test_big_photo_is_resized_into_the_side_range_keeping_aspect():
    req = request(_image("big.jpg"))
    jobs, _ = plan(req, facts_of(req, image(8000, 6000)))
    top = option(ARK, "image.dimensions", "max")
    t = jobs[0].target
    assert t.size == t.scale_to == (top, top * 3 // 4) and t.fit == "none" and not t.upscale
    assert jobs[0].steps == (f"resize 8000×6000 → {top}×{top * 3 // 4}",)


def test_tiny_image_is_upscaled_and_says_so():
    req = request(_image("icon.png"))
    jobs, _ = plan(req, facts_of(req, image(200, 100, "png")))
    low = option(ARK, "image.dimensions", "min")
    t = jobs[0].target
    assert t.upscale and t.size == (2 * low, low)
    assert "upscale" in jobs[0].steps[0] and "no detail" in jobs[0].steps[0]


def test_crop_needs_unsafe():
    req = request(_image("banner.png"))
    facts = facts_of(req, image(3000, 600, "png"))
    jobs, skipped = plan(req, facts, aspect="crop")
    top = option(ARK, "image.aspect-ratio", "max")
    assert jobs[0].target is None  # nothing else to change: copied as it is
    assert [(s.rule, s.reason) for s in skipped] == [
        ("image.aspect-ratio", f"needs --unsafe: crop 3000×600 → {round(600 * top)}×600")]
    jobs, skipped = plan(req, facts, aspect="crop", unsafe=True)
    t = jobs[0].target
    assert t.fit == "crop" and t.scale_to == (3000, 600) and t.size == (round(600 * top), 600)
    assert jobs[0].unsafe and jobs[0].steps == (f"crop 3000×600 → {round(600 * top)}×600",) and not skipped


def test_refused_crop_still_resizes():
    req = request(_image("pano.jpg"))
    jobs, skipped = plan(req, facts_of(req, image(12000, 1000)), aspect="crop")
    t = jobs[0].target
    assert t.fit == "none" and t.size[0] == option(ARK, "image.dimensions", "max")
    assert jobs[0].rules == ("image.dimensions",) and [s.rule for s in skipped] == ["image.aspect-ratio"]


@pytest.mark.parametrize("fmt,out,name", [("heic", "jpeg", "photo.jpg"), ("avif", "jpeg", "photo.jpg"),
                                          ("ppm", "jpeg", "photo.jpg"), ("ico", "png", "photo.png")])
def test_unsupported_formats_are_converted(fmt, out, name):
    req = request(_image(f"photo.{fmt}"))
    jobs, _ = plan(req, facts_of(req, image(800, 600, fmt)))
    t = jobs[0].target
    assert t.format == out and jobs[0].output == name and t.size == t.scale_to == (800, 600)
    assert jobs[0].steps == (f"convert {fmt} → {out}",) and jobs[0].rules == ("image.format",)


def test_a_jpeg_keeps_its_spelling_of_the_extension():
    req = request(_image("photo.JPEG"))
    jobs, _ = plan(req, facts_of(req, image(8000, 6000)))
    assert jobs[0].output == "photo.JPEG"


@pytest.mark.parametrize("fmt,out", [("bmp", "jpeg"), ("tiff", "webp"), ("png", "webp"), ("jpeg", "jpeg")])
def test_file_size_reencodes_in_a_lossy_format_under_the_limit(fmt, out):
    below = option(ARK, "image.file-size", "below")
    req = request(_image(f"huge.{fmt}"))
    jobs, _ = plan(req, facts_of(req, image(5000, 4000, fmt, size=below + 1)))
    t = jobs[0].target
    assert t.max_bytes == below and t.format == out and "image.file-size" in jobs[0].rules


def test_an_uncompressed_format_that_would_not_fit_after_a_resize_is_converted():
    req = request(_image("scan.bmp"))
    jobs, _ = plan(req, facts_of(req, image(8000, 6000, "bmp", size=10_000)))
    assert jobs[0].target.format == "jpeg"  # 6000×4500 as BMP would break the size limit


@pytest.mark.parametrize("rotation", [90, 270])
def test_geometry_is_in_upright_pixels(rotation):
    req = request(_image("phone.jpg"))
    # stored 600×3000 turned a quarter: 3000×600 upright, a banner
    jobs, _ = plan(req, facts_of(req, image(600, 3000, rotation=rotation)))
    top = option(ARK, "image.aspect-ratio", "max")
    t = jobs[0].target
    assert t.scale_to == (3000, 600) and t.size == (3000, round(3000 / top))
    assert jobs[0].steps[0] == f"rotate {rotation}° upright"


def test_max_side_caps_the_long_side_of_a_conforming_image():
    req = request(_image("photo.jpg"))
    facts = facts_of(req, image(5000, 3000))
    jobs, _ = plan(req, facts)
    assert jobs[0].target is None
    jobs, _ = plan(req, facts, max_side=2048)
    t = jobs[0].target
    assert t.size == (2048, 1229) and jobs[0].rules == () and "--max-side 2048" in jobs[0].steps[0]
    jobs, _ = plan(req, facts_of(req, image(1000, 800)), max_side=2048)
    assert jobs[0].target is None


def test_max_side_never_goes_under_the_rules_minimum():
    req = request(_image("photo.jpg"))
    jobs, _ = plan(req, facts_of(req, image(8000, 6000)), max_side=100)
    low = option(ARK, "image.dimensions", "min")
    assert min(jobs[0].target.size) == low


# ---------------------------------------------------------------------------------------------------
# Video


def test_container_only_is_a_remux():
    req = request(_image("a.jpg"), _video("clip.mkv"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(fmt="mkv")))
    job = job_at(jobs, "/content/2")
    assert job.target == VideoTarget(remux_only=True) and job.steps == ("remux mkv → mp4",)
    assert job.output == "clip.mp4" and job.rules == ("video.format",)


@pytest.mark.parametrize("codec,track", [("vp9", "aac"), ("h264", "opus"), (None, "aac")])
def test_container_and_codec_wrong_is_a_full_transcode(codec, track):
    req = request(_image("a.jpg"), _video("clip.webm"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(fmt="webm", codec=codec, audio=track)))
    t = job_at(jobs, "/content/2").target
    assert not t.remux_only and t.max_bytes == option(ARK, "video.file-size", "below")
    assert any(s.startswith("transcode") for s in job_at(jobs, "/content/2").steps)


def test_a_codec_warning_alone_is_a_transcode():
    req = request(_image("a.jpg"), _video("clip.mov"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(fmt="mov", codec="prores", audio="pcm_s16le")))
    job = job_at(jobs, "/content/2")
    assert not job.target.remux_only and job.output == "clip.mp4"
    assert set(job.rules) == {"video.codec", "audio.codec"}


def test_video_is_scaled_into_the_pixel_range_with_even_sides_and_fps_raised():
    req = request(_image("a.jpg"), _video("slow.mp4"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(1920, 1080, fps=15)))
    job = job_at(jobs, "/content/2")
    t = job.target
    lo, hi = option(ARK, "video.pixels", "min"), option(ARK, "video.pixels", "max")
    assert lo <= t.size[0] * t.size[1] <= hi and t.size[0] % 2 == 0 and t.size[1] % 2 == 0
    assert abs(t.size[0] / t.size[1] - 16 / 9) < 0.01 and t.size == t.scale_to
    assert t.fps == option(ARK, "video.fps", "min")
    assert job.steps == (f"scale 1920×1080 → {t.size[0]}×{t.size[1]}", f"15 fps → {t.fps:g} fps")
    assert set(job.rules) == {"video.pixels", "video.fps"}


def test_fast_video_goes_to_the_top_of_the_fps_range():
    req = request(_image("a.jpg"), _video("fast.mp4"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(fps=120)))
    assert job_at(jobs, "/content/2").target.fps == option(ARK, "video.fps", "max")


def test_video_strip_is_scaled_and_padded_with_even_sides():
    req = request(_image("a.jpg"), _video("strip.mp4"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(2000, 250)))
    t = job_at(jobs, "/content/2").target
    assert t.fit == "pad" and all(v % 2 == 0 for v in (*t.size, *t.scale_to))
    assert t.size[0] / t.size[1] <= option(ARK, "video.aspect-ratio", "max")
    assert abs(t.scale_to[0] / t.scale_to[1] - 8) / 8 < 0.02


def test_odd_sided_video_becomes_even_when_reencoded():
    req = request(_image("a.jpg"), _video("odd.mp4"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(641, 801, fps=10)))
    t = job_at(jobs, "/content/2").target
    assert t.size[0] % 2 == 0 and t.size[1] % 2 == 0


def test_rotated_video_is_planned_upright():
    req = request(_image("a.jpg"), _video("phone.mp4"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(1920, 1080, rotation=90)))
    t = job_at(jobs, "/content/2").target
    assert t.size[1] > t.size[0] and abs(t.size[1] / t.size[0] - 16 / 9) < 0.01


def test_long_clip_is_trimmed_only_with_unsafe():
    req = request(_image("a.jpg"), _video("long.mp4"))
    facts = facts_of(req, image(800, 600), video(seconds=20))
    top = option(ARK, "video.duration", "max")
    jobs, skipped = plan(req, facts)
    assert job_at(jobs, "/content/2").target is None
    assert [(s.rule, s.reason) for s in skipped] == [
        ("video.duration", f"needs --unsafe: trim 20.0 s → {top - DURATION_MARGIN_S:.1f} s")]
    jobs, skipped = plan(req, facts, unsafe=True)
    job = job_at(jobs, "/content/2")
    assert job.target.duration_s == pytest.approx(top - DURATION_MARGIN_S) and job.unsafe and not skipped
    assert job.steps == (f"trim 20.0 s → {top - DURATION_MARGIN_S:.1f} s",) and job.rules == ("video.duration",)


def test_a_clip_over_the_documented_limit_within_the_enforced_one_is_trimmed_too():
    top = option(ARK, "video.duration", "max")
    assert option(ARK, "video.duration", "enforced_max") > top + 0.1
    req = request(_image("a.jpg"), _video("clip.mp4"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), video(seconds=top + 0.1)), unsafe=True)
    assert job_at(jobs, "/content/2").target.duration_s < top


def test_short_clip_cannot_be_lengthened():
    req = request(_image("a.jpg"), _video("short.mp4"))
    jobs, skipped = plan(req, facts_of(req, image(800, 600), video(seconds=1)), unsafe=True)
    assert job_at(jobs, "/content/2").target is None
    assert len(skipped) == 1 and skipped[0].rule == "video.duration"
    assert "cannot be lengthened" in skipped[0].reason


# ---------------------------------------------------------------------------------------------------
# Shared duration budgets


def test_total_budget_is_shared_proportionally():
    req = request(_image("a.jpg"), _video("a.mp4"), _video("b.mp4"), _video("c.mp4"))
    facts = facts_of(req, image(800, 600), video(seconds=6), video(seconds=6), video(seconds=12))
    total = option(ARK, "video.total-duration", "max")
    jobs, skipped = plan(req, facts)
    assert all(j.target is None for j in jobs)
    assert {s.pointer for s in skipped} == {"/content/2", "/content/3", "/content/4"}
    assert all(s.reason.startswith("needs --unsafe: trim") for s in skipped)
    jobs, skipped = plan(req, facts, unsafe=True)
    got = [job_at(jobs, f"/content/{i}").target.duration_s for i in (2, 3, 4)]
    assert sum(got) <= total - 3 * DURATION_MARGIN_S + 1e-9 and sum(got) > total - 3 * DURATION_MARGIN_S - 0.01
    assert got[0] == got[1] and got[2] == pytest.approx(2 * got[0], abs=0.002)
    assert all("video.total-duration" in job_at(jobs, f"/content/{i}").rules for i in (2, 3, 4))


def test_total_budget_first_keeps_the_first_clips():
    req = request(_image("a.jpg"), _video("a.mp4"), _video("b.mp4"), _video("c.mp4"))
    facts = facts_of(req, image(800, 600), video(seconds=8), video(seconds=6), video(seconds=6))
    low = option(ARK, "video.duration", "min")
    jobs, _ = plan(req, facts, unsafe=True, trim="first")
    a, b, c = (job_at(jobs, f"/content/{i}").target for i in (2, 3, 4))
    assert a is None or a.duration_s is None  # kept whole
    assert c.duration_s == pytest.approx(low + DURATION_MARGIN_S)  # the last clip keeps only its minimum
    assert 8 + b.duration_s + c.duration_s <= option(ARK, "video.total-duration", "max") - 2 * DURATION_MARGIN_S + 1e-9


def test_an_unread_fact_is_not_listed_as_not_fixed_when_the_file_is_rewritten():
    """A .ts clip whose frame rate the inspector cannot read is remuxed to MP4, which the check after the fix
    reads again: media.unjudged was listed as "not fixed" beside "check: clean". A file kept as it is still
    lists it."""
    req = request(_image("a.jpg"), _video("a.ts"), _video("b.mp4"))
    facts = facts_of(req, image(800, 600), video(fmt="ts", fps=None), video(fps=None))
    findings, _ = evaluate(req, ARK, facts=facts)
    assert {(f.pointer.split("/")[2], f.rule) for f in findings if f.rule == "media.unjudged"} == {("2", "media.unjudged"),
                                                                                             ("3", "media.unjudged")}
    jobs, skipped = plan(req, facts)
    assert job_at(jobs, "/content/2").target is not None and job_at(jobs, "/content/3").target is None
    assert [(s.pointer, s.rule) for s in skipped] == [("/content/3", "media.unjudged")]


@pytest.mark.parametrize("trim", ["proportional", "first"])
def test_a_clip_the_sharing_would_cut_by_less_than_its_margin_stays_whole(trim):
    """A clip just over the minimum was cut to minimum + margin (2.125 s → 2.1 s, "trim 2.1 s → 2.1 s"): a
    re-encode that dropped 25 ms only to pay for its own margin. It stays whole; the long clip pays."""
    low = option(ARK, "video.duration", "min")
    total = option(ARK, "video.total-duration", "max")
    short, long = low + DURATION_MARGIN_S * 1.25, total - low + 1
    req = request(_image("a.jpg"), _video("a.mp4"), _video("b.mp4"))
    order = (short, long) if trim == "proportional" else (long, short)
    facts = facts_of(req, image(800, 600), *(video(seconds=d) for d in order))
    jobs, skipped = plan(req, facts, unsafe=True, trim=trim)
    cut = {j.pointer: j.target.duration_s for j in jobs if j.target is not None}
    short_at = "/content/2" if trim == "proportional" else "/content/3"
    long_at = "/content/3" if trim == "proportional" else "/content/2"
    assert short_at not in cut and list(cut) == [long_at] and not skipped
    assert short + cut[long_at] <= total - DURATION_MARGIN_S + 1e-9  # the one cut keeps its margin
    left, _ = evaluate(req, ARK, facts=apply(facts, jobs))
    assert not [f for f in left if f.rule.startswith("video.")]


@pytest.mark.parametrize("a, b, text", [(16.0, 14.9, "16.0 s → 14.9 s"), (2.125, 2.1, "2.12 s → 2.10 s"),
                                        (2.1004, 2.1, "2.100 s → 2.100 s"), (1.0, 2.1, "1.0 s → 2.1 s")])
def test_durations_in_steps_are_told_apart(a, b, text):
    from prep.fix.plan import span

    assert span(a, b) == text


def test_remote_clips_count_in_the_budget_but_are_not_cut():
    req = request(_image("a.jpg"), _video("https://example.com/a.mp4"), _video("b.mp4"))
    facts = facts_of(req, image(800, 600), video(seconds=10), video(seconds=10))
    jobs, _ = plan(req, facts, unsafe=True)
    assert [j.pointer for j in jobs] == ["/content/1", "/content/3"]
    total = option(ARK, "video.total-duration", "max")
    assert job_at(jobs, "/content/3").target.duration_s == pytest.approx(total - 10 - DURATION_MARGIN_S, abs=0.002)


def test_a_budget_the_minimums_cannot_meet_is_skipped():
    low = option(ARK, "video.duration", "min")
    total = option(ARK, "video.total-duration", "max")
    n = int(total // low) + 1
    req = request(_image("a.jpg"), *(_video(f"c{i}.mp4") for i in range(n)))
    facts = facts_of(req, image(800, 600), *(video(seconds=low + 0.5) for _ in range(n)))
    jobs, skipped = plan(req, facts, unsafe=True)
    assert all(j.target is None for j in jobs)
    assert [s.rule for s in skipped] == ["video.total-duration"] and "cannot fit" in skipped[0].reason


@given(st.lists(st.floats(0.5, 60), min_size=1, max_size=8), st.floats(1, 120), st.sampled_from(["proportional", "first"]))
def test_share_budget(durations, budget, mode):
    floors = [min(d, 2.0) for d in durations]
    shares = share_budget(durations, floors, budget, mode)
    if sum(floors) > budget:
        assert shares is None
        return
    assert shares is not None and sum(shares) <= budget + 1e-6
    assert all(f - 1e-9 <= s <= d + 1e-9 for s, f, d in zip(shares, floors, durations))
    if sum(durations) <= budget:
        assert shares == durations
    elif mode == "proportional":  # clips above their floor keep their proportions
        free = [(s, d) for s, f, d in zip(shares, floors, durations) if s > f + 1e-9]
        assert len({round(s / d, 6) for s, d in free}) <= 1
        assert sum(shares) == pytest.approx(budget)
    else:  # an earlier clip is cut only when every later one is at its floor
        for i, (s, d) in enumerate(zip(shares, durations)):
            if s < d - 1e-9:
                assert all(abs(t - f) < 1e-9 for t, f in zip(shares[i + 1:], floors[i + 1:]))


# ---------------------------------------------------------------------------------------------------
# Audio


def test_audio_is_converted_to_mp3_and_a_valid_wav_stays_wav():
    req = request(_image("a.jpg"), _audio("song.flac"), _audio("voice.wav"), _audio("old.wav"))
    facts = facts_of(req, image(800, 600), audio(fmt="flac"), audio(fmt="wav", seconds=4),
                     audio(fmt="wav", codec="adpcm_ima_wav", seconds=4))
    jobs, _ = plan(req, facts)
    flac, wav, adpcm = (job_at(jobs, f"/content/{i}") for i in (2, 3, 4))
    assert flac.target.format == "mp3" and flac.output == "song.mp3" and "audio.format" in flac.rules
    assert wav.target is None and wav.output == "voice.wav"
    assert adpcm.target.format == "mp3" and adpcm.rules == ("audio.codec",) and adpcm.output == "old.mp3"


def test_short_audio_is_padded_with_silence_without_unsafe():
    req = request(_image("a.jpg"), _audio("blip.wav"))
    jobs, skipped = plan(req, facts_of(req, image(800, 600), audio(fmt="wav", seconds=1)))
    job = job_at(jobs, "/content/2")
    low = option(ARK, "audio.duration", "min")
    assert job.target.pad_to_s == pytest.approx(low + DURATION_MARGIN_S) and job.target.format == "wav"
    assert not job.unsafe and not skipped and job.rules == ("audio.duration",)
    assert job.steps == (f"pad 1.0 s → {low + DURATION_MARGIN_S:.1f} s with silence",)


def test_long_audio_trim_is_a_stream_copy_and_needs_unsafe():
    req = request(_image("a.jpg"), _audio("music.mp3"))
    facts = facts_of(req, image(800, 600), audio(seconds=30))
    jobs, skipped = plan(req, facts)
    assert job_at(jobs, "/content/2").target is None and skipped[0].reason.startswith("needs --unsafe: trim 30.0 s")
    jobs, _ = plan(req, facts, unsafe=True)
    t = job_at(jobs, "/content/2").target
    assert t.copy and t.format == "mp3" and t.duration_s == pytest.approx(option(ARK, "audio.duration", "max")
                                                                          - DURATION_MARGIN_S)


def test_audio_budget_counts_the_padding():
    req = request(_image("a.jpg"), _audio("a.mp3"), _audio("b.mp3"))
    facts = facts_of(req, image(800, 600), audio(seconds=1), audio(seconds=14))
    jobs, _ = plan(req, facts, unsafe=True)
    a, b = job_at(jobs, "/content/2").target, job_at(jobs, "/content/3").target
    assert a.pad_to_s + b.duration_s <= option(ARK, "audio.total-duration", "max") - 2 * DURATION_MARGIN_S + 1e-9
    assert "audio.total-duration" in job_at(jobs, "/content/3").rules


def test_big_wav_becomes_mp3():
    below = option(ARK, "audio.file-size", "below")
    req = request(_image("a.jpg"), _audio("raw.wav"))
    jobs, _ = plan(req, facts_of(req, image(800, 600), audio(fmt="wav", seconds=10, size=below)))
    t = job_at(jobs, "/content/2").target
    assert t.format == "mp3" and t.max_bytes == below and not t.copy


# ---------------------------------------------------------------------------------------------------
# Items: data: URLs, remote and asset media, missing and unreadable files, names


PNG_URL = "data:image/png;base64,iVBORw0KGgo="


def test_data_url_items_get_a_job_with_the_url_as_source():
    req = request(_image(PNG_URL), _image(PNG_URL))
    facts = facts_of(req, image(3000, 600, "png"), image(800, 600, "png"))
    jobs, _ = plan(req, facts)
    assert [j.source for j in jobs] == [PNG_URL, PNG_URL]
    assert jobs[0].target.fit == "pad" and jobs[1].target is None
    assert [j.output for j in jobs] == ["content-1.png", "content-2.png"]


def test_remote_and_asset_items_get_no_job():
    req = request(_image("https://example.com/banner.png"), _image("asset://asset-123"), _image("local.png"))
    facts = facts_of(req, image(3000, 600, "png"), None, image(800, 600, "png"))
    jobs, skipped = plan(req, facts)
    assert [j.pointer for j in jobs] == ["/content/3"]
    assert [(s.pointer, s.rule) for s in skipped] == [("/content/1", "image.aspect-ratio")]
    assert "download" in skipped[0].reason


def test_missing_and_unreadable_files_are_skipped():
    req = request(_image("gone.png"), _image("broken.png"))
    facts = facts_of(req, MediaMissing("no such file", "gone.png"),
                     MediaFacts("image", "png", 10, problem="truncated PNG"))
    jobs, skipped = plan(req, facts)
    assert [(j.pointer, j.target) for j in jobs] == [("/content/2", None)]  # copied as it is
    reasons = {s.pointer: s.reason for s in skipped}
    assert reasons == {"/content/1": "no such file", "/content/2": "truncated PNG"}


def test_a_type_mismatch_is_copied_and_skipped():
    req = request(_image("clip.png"))
    jobs, skipped = plan(req, facts_of(req, video()))
    assert jobs[0].target is None and [s.rule for s in skipped] == ["media.type-mismatch"]


def test_output_names_are_stable_and_collision_free():
    req = request(_image("a/cat.png"), _image("b/cat.png"), _image("a/cat.png"), _image("b/Cat.jpg"),
                  _image("cat.heic"))
    facts = facts_of(req, image(800, 600, "png"), image(800, 600, "png"), image(800, 600, "png"),
                     image(800, 600), image(800, 600, "heic"))
    jobs, _ = plan(req, facts)
    assert [j.output for j in jobs] == ["cat.png", "cat-2.png", "cat-3.png", "Cat.jpg", "cat-2.jpg"]
    assert jobs[0].source == jobs[2].source == os.path.join(BASE, "a", "cat.png")


def test_an_absolute_path_is_kept():
    req = request(_image("/media/x.png"))
    jobs, _ = plan(req, facts_of(req, image(800, 600, "png")))
    assert jobs[0].source == "/media/x.png"


def test_the_plan_reads_no_file(monkeypatch):
    req = request(_image("banner.png"), _video("clip.mkv"), _audio("a.flac"))
    facts = facts_of(req, image(3000, 600, "png"), video(fmt="mkv", seconds=20), audio(fmt="flac"))
    findings, _ = evaluate(req, ARK, facts=facts)
    first = plan_media(req, ARK, facts, findings, FixOptions(unsafe=True), BASE)

    def refuse(*args, **kwargs):
        raise AssertionError("the planner touched the file system")

    for name in ("stat", "lstat", "listdir", "scandir", "open"):
        monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    again = plan_media(req, ARK, facts, findings, FixOptions(unsafe=True), BASE)
    assert again == first


# ---------------------------------------------------------------------------------------------------
# Targets come from the rule set


def test_a_rules_overlay_moves_the_targets():
    profile = overlay("""
[rules."image.dimensions"]
options = { max = 4000 }

[rules."image.aspect-ratio"]
options = { max = 2.0 }

[rules."video.fps"]
options = { min = 30 }

[rules."audio.duration"]
options = { max = 10 }
""")
    req = request(_image("big.jpg"), _image("banner.png"), _video("slow.mp4"), _audio("song.mp3"))
    facts = facts_of(req, image(8000, 6000), image(3000, 600, "png"), video(fps=24), audio(seconds=12))
    jobs, _ = plan(req, facts, profile, unsafe=True)
    assert job_at(jobs, "/content/1").target.size == (4000, 3000)
    assert job_at(jobs, "/content/2").target.size == (3000, 1500)
    assert job_at(jobs, "/content/3").target.fps == 30
    assert job_at(jobs, "/content/4").target.duration_s == pytest.approx(10 - DURATION_MARGIN_S)
    jobs, _ = plan(req, facts, ARK, unsafe=True)  # the built-in rules: no fps or audio fix
    assert job_at(jobs, "/content/3").target is None and job_at(jobs, "/content/4").target is None


def test_a_rule_applies_only_when_its_condition_holds():
    profile = overlay("""
[rules."image.hd"]
severity = "error"
check = "fact_range"
options = { kind = "image", fields = ["width", "height"], min = 1000 }
message = "{where}: too small for 1080p"
summary = "images for 1080p are at least 1000 px on each side"
when = { param = "resolution", in = ["1080p"] }
""")
    facts_for = lambda req: facts_of(req, image(800, 400))
    req = request(_image("a.jpg"), resolution="720p")
    jobs, _ = plan(req, facts_for(req), profile)
    assert jobs[0].target is None
    req = request(_image("a.jpg"), resolution="1080p")
    jobs, _ = plan(req, facts_for(req), profile)
    t = jobs[0].target
    assert min(t.size) >= 1000 and t.size[0] / t.size[1] <= option(profile, "image.aspect-ratio", "max")
    assert jobs[0].rules == ("image.hd",)


def test_family_values_are_used():
    """Seedance 2.5 takes larger clips: a 1080p clip needs no fix there, a 40 s one is cut to 30 s."""
    family = BOOK.get("ark", "seedance-2.5")
    req = request(_image("a.jpg"), _video("hd.mp4"))
    facts = facts_of(req, image(800, 600), video(1920, 1080, seconds=40))
    jobs, _ = plan(req, facts, family, unsafe=True)
    t = job_at(jobs, "/content/2").target
    assert t.size is None
    assert t.duration_s == pytest.approx(option(family, "video.duration", "max") - DURATION_MARGIN_S)


# ---------------------------------------------------------------------------------------------------
# Properties: the planned output checks clean, a second plan is a no-op


def _clean_and_idempotent(req, facts, profile=ARK, **options):
    jobs, skipped = plan(req, facts, profile, **options)
    fixed = apply(facts, jobs)
    left = media_findings(req, fixed, profile)
    claimed = {(j.value_pointer, r) for j in jobs for r in j.rules}
    totals = {r for j in jobs for r in j.rules if profile.rule(r).check == "fact_total"}
    for f in left:
        assert (f.pointer, f.rule) not in claimed and f.rule not in totals, (f, jobs)
    again, _ = plan(req, fixed, profile, **options)
    assert [j.target for j in again] == [None] * len(again), again
    assert all(j.output == os.path.basename(j.source) for j in again if not j.source.startswith("data:"))
    return jobs, skipped, left


@settings(max_examples=300, deadline=None)
@given(w=st.integers(1, 20000), h=st.integers(1, 20000), rotation=st.sampled_from([0, 90, 180, 270]),
       fmt=st.sampled_from(["jpeg", "png", "webp", "heic", "bmp", "tiff", "ppm"]),
       aspect=st.sampled_from(["pad", "crop"]), max_side=st.none() | st.integers(100, 8000),
       size=st.integers(1000, 60_000_000))
def test_property_images_plan_clean(w, h, rotation, fmt, aspect, max_side, size):
    req = request(_image(f"x.{fmt}"))
    facts = facts_of(req, image(w, h, fmt, rotation=rotation, size=size))
    jobs, skipped, left = _clean_and_idempotent(req, facts, aspect=aspect, unsafe=True, max_side=max_side)
    assert left == [] and skipped == []  # with --unsafe every image limit can be met
    t = jobs[0].target
    if t is None:
        return
    up = upright(facts["/content/1"])
    sw, sh = t.scale_to
    r = up[0] / up[1]
    # the content keeps its aspect: within 1%, or within a pixel of rounding on the short side
    assert abs(sw / sh - r) / r <= 0.01 or abs(sw - sh * r) <= 1 or abs(sh - sw / r) <= 1
    if t.fit == "pad":
        assert sw <= t.size[0] and sh <= t.size[1]
    elif t.fit == "crop":
        assert sw >= t.size[0] and sh >= t.size[1] and jobs[0].unsafe
    if max_side is not None and max(t.size) > max_side:  # only when the rules' minimum side forbids it
        assert max(t.size) / min(t.size) * option(ARK, "image.dimensions", "min") > max_side * 0.99


@settings(max_examples=200, deadline=None)
@given(clips=st.lists(st.tuples(st.integers(16, 8000), st.integers(16, 8000), st.floats(1, 240),
                                st.floats(2, 40), st.sampled_from([0, 90, 180, 270]),
                                st.sampled_from(["mp4", "mov", "mkv", "webm"]), st.sampled_from(["h264", "vp9", "prores"]),
                                st.sampled_from([None, "aac", "opus"])), min_size=1, max_size=4),
       aspect=st.sampled_from(["pad", "crop"]), trim=st.sampled_from(["proportional", "first"]), unsafe=st.booleans())
def test_property_videos_plan_clean(clips, aspect, trim, unsafe):
    req = request(_image("a.jpg"), *(_video(f"c{i}.{c[5]}") for i, c in enumerate(clips)))
    facts = facts_of(req, image(800, 600), *(video(w, h, fps=fps, seconds=s, rotation=rot, fmt=fmt, codec=codec,
                                                   audio=track) for w, h, fps, s, rot, fmt, codec, track in clips))
    jobs, skipped, left = _clean_and_idempotent(req, facts, aspect=aspect, trim=trim, unsafe=unsafe)
    if unsafe:
        assert left == [] and skipped == []
    else:  # what is left is a cut (a trim, or a crop that was asked for), listed as needing --unsafe
        crop = {"video.aspect-ratio", "video.dimensions", "video.pixels"}  # a refused crop may block a resize
        unsafe_rules = {"video.duration", "video.total-duration"} | (crop if aspect == "crop" else set())
        assert {f.rule for f in left} <= unsafe_rules and {s.rule for s in skipped} <= unsafe_rules
        assert all(s.reason.startswith("needs --unsafe: ") for s in skipped)
        assert {f.rule for f in left} <= {s.rule for s in skipped}
        assert not any(j.unsafe for j in jobs)
    for job in jobs[1:]:
        t = job.target
        if t is not None and t.size is not None:
            assert t.size[0] % 2 == 0 and t.size[1] % 2 == 0
            up = upright(facts[job.pointer])
            r = up[0] / up[1]
            sw, sh = t.scale_to
            assert abs(sw / sh - r) / r <= 0.01 or abs(sw - sh * r) <= 2 or abs(sh - sw / r) <= 2


@settings(max_examples=200, deadline=None)
@given(clips=st.lists(st.tuples(st.floats(0.2, 60), st.sampled_from(["mp3", "wav", "flac", "ogg"])),
                      min_size=1, max_size=5),
       trim=st.sampled_from(["proportional", "first"]), unsafe=st.booleans())
def test_property_audio_plan_clean(clips, trim, unsafe):
    req = request(_image("a.jpg"), *(_audio(f"a{i}.{fmt}") for i, (_, fmt) in enumerate(clips)))
    facts = facts_of(req, image(800, 600), *(audio(seconds=s, fmt=fmt) for s, fmt in clips))
    jobs, skipped, left = _clean_and_idempotent(req, facts, trim=trim, unsafe=unsafe)
    if unsafe:
        assert left == [] and skipped == []
    else:  # what is left is a cut, listed as needing --unsafe
        assert {f.rule for f in left} <= {"audio.duration", "audio.total-duration"}
        assert all(s.reason.startswith("needs --unsafe: trim") for s in skipped)
        assert all(not j.unsafe and (j.target is None or j.target.duration_s is None) for j in jobs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lo=st.integers(50, 1000), k=st.floats(2, 20), a=st.floats(0, 0.99), b=st.floats(0.01, 1),
       w=st.integers(1, 30000), h=st.integers(1, 30000))
def test_property_overridden_image_limits_are_met(lo, k, a, b, w, h):
    hi = int(lo * k)
    low_ratio = round(max(lo / hi, 0.1) + (0.9 - max(lo / hi, 0.1)) * a, 3)
    high_ratio = round(1.1 + (min(hi / lo, 10) - 1.1) * b, 3)
    assume(low_ratio < 0.9 and high_ratio > 1.1)
    profile = overlay(f"""
[rules."image.dimensions"]
options = {{ min = {lo}, max = {hi} }}

[rules."image.aspect-ratio"]
options = {{ min = {low_ratio}, max = {high_ratio} }}
""")
    req = request(_image("x.png"))
    facts = facts_of(req, image(w, h, "png"))
    jobs, skipped, left = _clean_and_idempotent(req, facts, profile, unsafe=True)
    assert left == [] and skipped == []
    t = jobs[0].target
    if t is not None:
        assert lo <= min(t.size) and max(t.size) <= hi and low_ratio <= t.size[0] / t.size[1] <= high_ratio


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(px_lo=st.integers(100_000, 1_000_000), px_k=st.floats(1.5, 20), fps_lo=st.integers(10, 30),
       fps_span=st.integers(0, 50), d_lo=st.floats(1, 3), d_span=st.floats(2, 27), total_k=st.floats(1, 3),
       clips=st.lists(st.tuples(st.integers(16, 8000), st.integers(16, 8000), st.floats(1, 240), st.floats(3, 60)),
                      min_size=1, max_size=4), trim=st.sampled_from(["proportional", "first"]))
def test_property_overridden_video_limits_are_met(px_lo, px_k, fps_lo, fps_span, d_lo, d_span, total_k, clips, trim):
    d_lo, d_hi = round(d_lo, 2), round(d_lo + d_span, 2)
    total = round(d_hi * total_k, 2)
    profile = overlay(f"""
[rules."video.pixels"]
options = {{ min = {px_lo}, max = {int(px_lo * px_k)}, enforced_min = {px_lo} }}

[rules."video.fps"]
options = {{ min = {fps_lo}, max = {fps_lo + fps_span} }}

[rules."video.duration"]
options = {{ min = {d_lo}, max = {d_hi}, enforced_min = {d_lo}, enforced_max = {d_hi} }}

[rules."video.total-duration"]
options = {{ max = {total}, enforced_max = {total} }}
""")
    req = request(_image("a.jpg"), *(_video(f"c{i}.mp4") for i in range(len(clips))))
    facts = facts_of(req, image(800, 600), *(video(w, h, fps=fps, seconds=s) for w, h, fps, s in clips))
    jobs, skipped, left = _clean_and_idempotent(req, facts, profile, unsafe=True, trim=trim)
    if any("cannot fit" in s.reason for s in skipped):  # more clips than the total leaves their minimum for
        assert len(clips) * (d_lo + DURATION_MARGIN_S) > total - len(clips) * DURATION_MARGIN_S
        assert {f.rule for f in left} == {"video.total-duration"}
        return
    assert left == [] and skipped == []
    for job in jobs[1:]:
        t = job.target
        if t is not None and t.size is not None:
            assert px_lo <= t.size[0] * t.size[1] <= int(px_lo * px_k)
        if t is not None and t.fps is not None:
            assert fps_lo <= t.fps <= fps_lo + fps_span


@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("size", [(800, 600), (200, 150)])
def test_animations_are_flattened_only_when_asked(flatten, size):
    req = request(_image("anim.gif"))
    facts = image(*size, "gif")._replace(animated=True)
    jobs, _ = plan(req, facts_of(req, facts), flatten=flatten)
    fixes_size = size == (200, 150)  # under the minimum side: resized either way
    if not flatten and not fixes_size:
        assert jobs == [] or jobs[0].target is None  # a conforming animation is copied as it is
        return
    t = jobs[0].target
    assert t.still is flatten and t.format == "gif"
    assert ("flatten the animation to its first frame (--flatten)" in jobs[0].steps) is flatten
    still = plan(req, facts_of(req, image(*size, "gif")), flatten=True)[0]  # not animated: nothing to flatten
    assert all(j.target is None or not j.target.still for j in still)
