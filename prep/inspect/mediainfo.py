"""The fallback for what the header parsers do not read: libmediainfo (pymediainfo)'s facts, asked of
the bounded worker process in :mod:`.worker`.

The rejected formats (Matroska, AVI, FLAC, Ogg, HEIF, ...) and content the sniffer does not know come
here. A file the worker cannot answer (out of time or memory, or no library) gets the sniffed kind and
format with ``unjudged`` saying why; the run goes on.
"""

from __future__ import annotations

import math

from prep.model import MediaFacts

from ._base import _Corrupt, _facts, _Source, _tidy_fps
from .worker import _ask

_MEDIAINFO_FORMATS = {
    "mpeg-4": "mp4", "quicktime": "mov", "matroska": "mkv", "webm": "webm", "avi": "avi",
    "wave": "wav", "wave64": "wav", "rf64": "wav", "mpeg audio": "mp3", "flac": "flac", "ogg": "ogg",
    "adts": "aac", "adif": "aac", "aiff": "aiff", "mpeg-ts": "ts", "flash video": "flv", "windows media": "asf",
    "mpeg-ps": "mpeg", "monkey's audio": "ape", "wavpack": "wv", "musepack sv7": "mpc", "musepack sv8": "mpc",
    "dsdiff": "dff", "ac-3": "ac3", "e-ac-3": "eac3", "bitmap": "bmp", "jpeg 2000": "jpeg2000",
}
_MEDIAINFO_CODECS = {
    "avc": "h264", "hevc": "hevc", "av1": "av1", "vp8": "vp8", "vp9": "vp9",
    "mpeg-4 visual": "mpeg4", "jpeg": "mjpeg", "prores": "prores", "theora": "theora",
    "ffv1": "ffv1", "mpeg video": "mpeg2video", "aac": "aac", "mpeg audio": "mp3", "pcm": "pcm",
    "flac": "flac", "opus": "opus", "vorbis": "vorbis", "ac-3": "ac3", "e-ac-3": "eac3",
    "alac": "alac", "dts": "dts",
}


def _general(src: _Source, kind: str | None, fmt: str | None, guessed: bool = False) -> MediaFacts:
    """Facts from libmediainfo, on top of the sniffed ``kind`` and ``fmt`` (either may be None).
    ``guessed``: the fast parser could not confirm the sniff, so libmediainfo's container name wins."""
    reply = _ask(src)
    if isinstance(reply, str):  # no answer: what the sniffer saw (unless a guess), and why there is no more
        if guessed:
            return _facts(src, None, None, unjudged=reply)
        return _facts(src, kind, fmt, has_video=kind == "video", has_audio=kind == "audio", unjudged=reply)
    if "failed" in reply:
        raise _Corrupt(f"cannot read the media: {reply['failed']}")
    return _from_tracks(src, kind, fmt, reply, guessed)


def _from_tracks(src: _Source, kind: str | None, fmt: str | None, reply: dict, guessed: bool = False) -> MediaFacts:
    general, video, audio, image = (reply.get(t) or {} for t in ("General", "Video", "Audio", "Image"))
    container = (general.get("format") or "").lower()
    if container == "mpeg-4" and (general.get("format_profile") or "").lower() == "quicktime":
        container = "quicktime"
    named = _MEDIAINFO_FORMATS.get(container, _name(container))
    if guessed and named and (video or audio or image):
        kind, fmt = None, named
    if kind == "image" or (kind is None and image and not video and not audio):
        # A rejected image format (the sniff is enough), or one only libmediainfo knows (PCX, TGA...).
        pixels = image or video
        return _facts(src, "image", fmt or named, width=_int(pixels.get("width")), height=_int(pixels.get("height")))
    if not video and not audio:
        if fmt is None:
            raise _Corrupt("not a recognised image, video or audio file")
        raise _Corrupt(f"{fmt} file has no readable streams (corrupt or truncated)")
    fmt = fmt or named
    if fmt in ("mp4", "m4a") and not video:
        fmt = "m4a"
    fields: dict = {"has_video": bool(video), "has_audio": bool(audio)}
    duration_ms = _number(general.get("duration"))
    if duration_ms:
        fields["duration_s"] = duration_ms / 1000
    if video:
        fields.update(codec=_codec(video.get("format"), video.get("format_profile")), width=_int(video.get("width")),
                      height=_int(video.get("height")), fps=_tidy_fps(_number(video.get("frame_rate"))),
                      variable_fps=(video.get("frame_rate_mode") or "").upper() == "VFR",
                      frames=_int(video.get("frame_count")), rotation=int(_number(video.get("rotation")) or 0) % 360)
    if audio:
        codec = _codec(audio.get("format"), audio.get("format_profile"))
        fields.update(sample_rate=_int(audio.get("sampling_rate")), channels=_int(audio.get("channel_s")),
                      audio_codec=codec)
        if not video:
            fields["codec"] = codec
    problem = "file is truncated" if (general.get("istruncated") or "").lower() == "yes" else None
    # A container with audio only (Matroska, WebM, Ogg, AVI) is audio, whatever its first bytes said.
    return _facts(src, "video" if video else "audio", fmt, problem=problem, **fields)


def _codec(name: str | None, profile: str | None = None) -> str | None:
    name = (name or "").lower()
    if name == "mpeg audio":  # MediaInfo says "MPEG Audio" for layers I-III; ffmpeg names each layer
        return {"layer 1": "mp1", "layer 2": "mp2"}.get((profile or "").lower(), "mp3")
    return _MEDIAINFO_CODECS.get(name, name or None)


def _name(value: str | None) -> str | None:
    return (value or "").lower().replace(" ", "") or None


def _number(value) -> float | None:
    """The leading number of a MediaInfo field ("25.000", "1920 pixels", "30000/1001"); finite only."""
    if value is None:
        return None
    try:
        n = float(str(value).split("/")[0].split()[0])
    except (ValueError, IndexError):
        return None
    return n if math.isfinite(n) else None


def _int(value) -> int | None:
    n = _number(value)
    return int(n) if n is not None else None


