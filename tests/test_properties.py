"""Property tests of the pure core: `check` never crashes, whatever the request."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prep.lint import Checker

PROFILES = ["ark", "byteplus", "apiyi", "gateway", "video-generations", "openai-videos"]
KEYS = ["model", "content", "prompt", "resolution", "ratio", "duration", "seconds", "seed", "generate_audio",
        "watermark", "tools", "callback_url", "execution_expires_after", "safety_identifier", "frames",
        "service_tier", "image", "last_image", "images", "videos", "audios", "aspect_ratio", "extra_body",
        "metadata", "size", "n", "type", "role", "url", "text", "image_url", "video_url", "audio_url"]
SCALAR = (st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False, allow_infinity=False)
          | st.text(max_size=20) | st.sampled_from(["https://e.com/a.png", "data:image/png;base64,AAAA", "asset://x",
                                                   "first_frame", "reference_video", "web_search", "720p", "16:9",
                                                   "@image3 and video 2", "data:", "ftp://x", "-1", "5"]))
KEY = st.sampled_from(KEYS) | st.text(max_size=8)
JSON = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEY, inner, max_size=5),
                    max_leaves=25)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(KEY, JSON, max_size=8), profile=st.sampled_from(PROFILES + [None]))
def test_random_requests_never_crash(book, doc, profile):
    checker = Checker(book, profile=profile, inspect_media=False, max_tokens=1000)
    result = checker.check_bytes(json.dumps(doc).encode(), "random.json")
    for f in result.findings:
        assert f.severity in ("error", "warning")
        assert f.pointer == "" or f.pointer.startswith("/")
        assert f.message and "could not be filled" not in f.message
        assert f.line >= 1 and f.column >= 1
    json.dumps([f.as_dict() for f in result.findings])  # everything reported is JSON


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_never_crash(book, data):
    result = Checker(book).check_bytes(data, "bytes.json")
    assert result.findings or data.strip()  # empty input is a finding
