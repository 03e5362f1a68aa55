"""The fallback for whatever the header parsers cannot decide: pymediainfo (libmediainfo)."""

from __future__ import annotations

from prep.model import MediaFacts, PrepError

from ._base import VIDEO_FORMATS, _Corrupt, _facts, _Source, _tidy_fps

# --------------------------------------------------------------------------------------------------
# Everything else: pymediainfo

_MEDIAINFO_FORMATS = {
    "mpeg-4": "mp4", "quicktime": "mov", "matroska": "mkv", "webm": "webm", "avi": "avi",
    "wave": "wav", "wave64": "wav", "rf64": "wav", "mpeg audio": "mp3", "flac": "flac", "ogg": "ogg",
    "adts": "aac", "aiff": "aiff", "mpeg-ts": "ts", "flash video": "flv", "windows media": "wmv",
    "mpeg-ps": "mpeg",
}
_MEDIAINFO_CODECS = {
    "avc": "h264", "hevc": "hevc", "av1": "av1", "vp8": "vp8", "vp9": "vp9",
    "mpeg-4 visual": "mpeg4", "jpeg": "mjpeg", "prores": "prores", "theora": "theora",
    "ffv1": "ffv1", "mpeg video": "mpeg2video", "aac": "aac", "mpeg audio": "mp3", "pcm": "pcm",
    "flac": "flac", "opus": "opus", "vorbis": "vorbis", "ac-3": "ac3", "e-ac-3": "eac3",
    "alac": "alac", "dts": "dts",
}


def _general(src: _Source, kind: str | None, fmt: str | None) -> MediaFacts:
    try:
        from pymediainfo import MediaInfo
    except ImportError:
        raise PrepError("pymediainfo is not installed: pip install pymediainfo") from None
    try:
        info = MediaInfo.parse(src.path if src.path else src.file())
    except (OSError, RuntimeError, ValueError) as exc:
        if "libmediainfo" in str(exc).lower():
            raise PrepError(f"pymediainfo cannot load libmediainfo: {exc}") from None
        raise _Corrupt(f"cannot read the media: {exc}") from None
    general = next((t for t in info.tracks if t.track_type == "General"), None)
    videos = [t for t in info.tracks if t.track_type == "Video"]
    audios = [t for t in info.tracks if t.track_type == "Audio"]
    if not videos and not audios:
        if fmt is None:
            raise _Corrupt("not a recognised image, video or audio file")
        raise _Corrupt(f"{fmt} file has no readable streams (corrupt or truncated)")
    container = (general.format or "").lower() if general else ""
    if container == "mpeg-4" and (getattr(general, "format_profile", "") or "").lower() == "quicktime":
        container = "quicktime"
    if fmt is None:
        fmt = _MEDIAINFO_FORMATS.get(container, container.replace(" ", "") or None)
    if kind is None or kind == "image":
        kind = "video" if videos or fmt in VIDEO_FORMATS else "audio"
    if fmt in ("mp4", "m4a") and not videos:
        kind, fmt = "audio", "m4a"
    fields: dict = {"has_video": bool(videos), "has_audio": bool(audios)}
    duration_ms = _number(general.duration) if general else None
    if duration_ms:
        fields["duration_s"] = duration_ms / 1000
    if videos:
        v = videos[0]
        fields.update(codec=_MEDIAINFO_CODECS.get((v.format or "").lower(), (v.format or "").lower() or None),
                      width=_int(v.width), height=_int(v.height), fps=_tidy_fps(_number(v.frame_rate)),
                      variable_fps=(v.frame_rate_mode or "").upper() == "VFR",
                      frames=_int(v.frame_count), rotation=int(_number(v.rotation) or 0) % 360)
    if audios:
        a = audios[0]
        codec = _MEDIAINFO_CODECS.get((a.format or "").lower(), (a.format or "").lower() or None)
        fields.update(sample_rate=_int(a.sampling_rate), channels=_int(a.channel_s), audio_codec=codec)
        if not videos:
            fields["codec"] = codec
    problem = None
    if general is not None and str(getattr(general, "istruncated", "") or "").lower() == "yes":
        problem = "file is truncated"
    return _facts(src, kind, fmt, problem=problem, **fields)


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value).split("/")[0].split()[0])
    except (ValueError, IndexError):
        return None


def _int(value) -> int | None:
    n = _number(value)
    return int(n) if n is not None else None
