"""Sample entries of MP4/MOV tracks: the codec each names (with its configuration records: esds,
AudioSpecificConfig, Dolby Vision), the audio channels and rate, and protection (encryption)."""

from __future__ import annotations

import math
import struct

from ._base import _Corrupt, _fourcc, _u16be, _u32be
from .boxes import _child, _index

_VIDEO_CODECS = {
    b"avc1": "h264", b"avc2": "h264", b"avc3": "h264", b"avc4": "h264",
    b"hvc1": "hevc", b"hev1": "hevc", b"vvc1": "vvc", b"vvi1": "vvc",
    # Dolby Vision entries name the base layer's codec, as ffmpeg does (see _dolby_vision for profile 5)
    b"dvh1": "hevc", b"dvhe": "hevc", b"dvav": "h264", b"dva1": "h264", b"dav1": "av1",
    b"av01": "av1", b"vp08": "vp8", b"vp09": "vp9", b"mp4v": "mpeg4",
    b"apch": "prores", b"apcn": "prores", b"apcs": "prores", b"apco": "prores",
    b"ap4h": "prores", b"ap4x": "prores", b"jpeg": "mjpeg", b"mjpa": "mjpeg", b"mjpb": "mjpeg",
    b"s263": "h263", b"h263": "h263", b"png ": "png", b"mp2v": "mpeg2video", b"xvid": "mpeg4",
    b"m2v1": "mpeg2video", b"m1v ": "mpeg1video", b"m1v1": "mpeg1video", b"mpeg": "mpeg1video",
}


# QuickTime's MPEG-2 families (HDV, XDCAM, IMX): fourcc prefixes ffmpeg reads as mpeg2video.
_MPEG2_PREFIXES = (b"hdv", b"xd5", b"xdv", b"xdh", b"mx3", b"mx4", b"mx5")


_AUDIO_CODECS = {
    b".mp3": "mp3", b"ac-3": "ac3", b"ec-3": "eac3", b"Opus": "opus", b"fLaC": "flac",
    b"alac": "alac", b"samr": "amr_nb", b"sawb": "amr_wb", b"ulaw": "pcm_mulaw", b"alaw": "pcm_alaw",
    b"lpcm": "pcm", b"sowt": "pcm", b"twos": "pcm", b"in24": "pcm", b"in32": "pcm", b"fl32": "pcm",
    b"fl64": "pcm", b"raw ": "pcm", b"NONE": "pcm", b"ipcm": "pcm", b"fpcm": "pcm",
}


# MPEG-4 objectTypeIndication → codec, for 'mp4a' and 'mp4v' sample entries (ffmpeg's ff_mp4_obj_type).
_OTI = {0x20: "mpeg4", 0x21: "h264", 0x23: "hevc", 0x40: "aac", 0x60: "mpeg2video", 0x61: "mpeg2video",
        0x62: "mpeg2video", 0x63: "mpeg2video", 0x64: "mpeg2video", 0x65: "mpeg2video", 0x66: "aac",
        0x67: "aac", 0x68: "aac", 0x69: "mp3", 0x6A: "mpeg1video", 0x6B: "mp3", 0x6C: "mjpeg", 0x6D: "png",
        0x6E: "jpeg2000", 0xA3: "vc1", 0xA4: "dirac", 0xA5: "ac3", 0xA6: "eac3", 0xA9: "dts", 0xAD: "opus",
        0xDD: "vorbis"}


# AAC channelConfiguration (ISO/IEC 14496-3 table 1.19, 23001-8) → channels; 0 means "see the PCE".
_AAC_CHANNELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}


# Sample entries of protected tracks (ISO/IEC 23001-7 'encv'/'enca'; Apple FairPlay 'drmi'/'drms').
_ENCRYPTED = {b"encv", b"enca", b"drmi", b"drms"}


def _video_codec(buf: bytes, children: dict, fourcc: bytes) -> str:
    if fourcc == b"mp4v":  # MPEG-4 Part 2, or whatever its esds names (ffmpeg muxes MPEG-2, MJPEG... so)
        oti = _esds(buf, children)[0]
        return _OTI.get(oti, "mpeg4") if oti is not None else "mpeg4"
    if fourcc.startswith(_MPEG2_PREFIXES):
        return "mpeg2video"
    return _VIDEO_CODECS.get(fourcc, _fourcc(fourcc).strip().lower())


def _entry_children(buf: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes inside a sample entry, from ``start`` (after its fixed fields): type → span. Some
    writers pad entries with a few zero bytes: the boxes before a broken one are good."""
    return _index(buf, start, end)[0]


def _protection(track: dict, buf: bytes, children: dict, fourcc: bytes) -> bytes:
    """Mark ``track`` encrypted when its sample entry is protected; return the codec's own fourcc
    (from 'sinf/frma', the format before encryption)."""
    sinf = children.get(b"sinf")
    if fourcc not in _ENCRYPTED and sinf is None:
        return fourcc
    scheme = "a protected sample entry"
    if sinf is not None:
        frma, schm = _child(buf, *sinf, b"frma"), _child(buf, *sinf, b"schm")
        if frma is not None and frma[1] - frma[0] >= 4:
            fourcc = buf[frma[0] : frma[0] + 4]
        if schm is not None and schm[1] - schm[0] >= 8:
            scheme = f"'{_fourcc(buf[schm[0] + 4 : schm[0] + 8]).strip()}' scheme"
    track["encrypted"] = scheme
    return fourcc


def _dolby_vision(buf: bytes, children: dict) -> str | None:
    """``dolby_vision`` for a Dolby Vision track whose base layer no other decoder shows correctly.

    The configuration record (dvcC/dvvC/dvwC) names a base-layer compatibility: 0 means none (profile 5,
    and 10.0: IPT-PQ-c2 colour that only a Dolby Vision decoder turns into a picture; any other HEVC or
    AV1 decoder, ffmpeg's included, decodes it without an error into wrong, purple-green colours).
    Profiles with a compatible base layer (8.1 HDR10, 8.2 SDR, 8.4 HLG, 9, 10.x) stay their base codec.
    """
    for name in (b"dvcC", b"dvvC", b"dvwC"):
        found = children.get(name)
        if found is not None and found[1] - found[0] >= 5:
            p = found[0]
            bl_present, compatibility = buf[p + 3] & 1, buf[p + 4] >> 4
            if bl_present and compatibility == 0:
                return "dolby_vision"
            return None
    return None


def _audio_entry(track: dict, buf: bytes, e: int, end: int) -> dict:
    fourcc = buf[e + 4 : e + 8]
    version = _u16be(buf, e + 16)
    if version == 2 and e + 52 <= end:
        rate = struct.unpack_from(">d", buf, e + 40)[0]
        channels = _u32be(buf, e + 48)
        start = e + 72
    else:
        channels, rate = _u16be(buf, e + 24), _u32be(buf, e + 32) >> 16
        start = e + 36 + (16 if version == 1 else 0)
    children = _entry_children(buf, start, end)
    fourcc = _protection(track, buf, children, fourcc)
    codec = _AUDIO_CODECS.get(fourcc)
    if fourcc == b"mp4a":
        oti, config = _esds(buf, children)
        codec = _OTI.get(oti, "aac") if oti is not None else "aac"
        if codec == "aac" and config:
            # Encoders set the entry's count to 2 whatever the stream holds, and its 16-bit rate field
            # cannot say 96 kHz; the decoder (and ffmpeg) go by the AudioSpecificConfig. A rate twice
            # the config's is implicit SBR (HE-AAC), which only the decoder finds: the entry says it.
            asc_channels, asc_rate = _aac_config(config)
            channels = asc_channels or channels
            if asc_rate and rate not in (asc_rate, 2 * asc_rate):
                rate = asc_rate
    elif codec is None:
        codec = _fourcc(fourcc).strip().lower()
    if not math.isfinite(rate) or not 0 < rate < 1 << 32:
        rate = 0
    return {"codec": codec, "sample_rate": int(rate) or None, "channels": channels or None}


def _esds(buf: bytes, children: dict) -> tuple[int | None, bytes]:
    """The objectTypeIndication and the DecoderSpecificInfo (the AudioSpecificConfig for AAC) of the
    'esds' box among a sample entry's ``children`` (or inside its QuickTime 'wave')."""
    found = children.get(b"esds")
    if found is None and (wave := children.get(b"wave")) is not None:
        try:
            found = _child(buf, *wave, b"esds")
        except _Corrupt:
            found = None
    if found is None:
        return None, b""
    oti = None
    p, stop = found[0] + 4, found[1]
    while p < stop:
        tag = buf[p]
        p += 1
        size = 0
        for _ in range(4):
            b = buf[p]
            p += 1
            size = size << 7 | (b & 0x7F)
            if not b & 0x80:
                break
        if tag == 0x03:
            flags = buf[p + 2]
            p += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                p += 1 + buf[p]
        elif tag == 0x04:
            oti = buf[p]
            p += 13  # objectTypeIndication, streamType, buffer size, bit rates; then its descriptors
        elif tag == 0x05:
            return oti, buf[p : min(p + size, stop)]
        else:
            p += size
    return oti, b""


def _aac_config(config: bytes) -> tuple[int | None, int | None]:
    """``(channels, sample rate)`` from an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): channels from
    its channelConfiguration, or its program config element when that is 0; the output rate (the SBR
    rate for HE-AAC). None for what it cannot tell."""
    bits = _Bits(config)
    aot = _aac_object_type(bits)
    rate = _aac_rate(bits)
    config_id = bits.read(4)
    if aot in (5, 29):  # explicit SBR (HE-AAC) or PS (v2): the output rate, then the core object
        rate = _aac_rate(bits) or rate
        core = _aac_object_type(bits)
    else:
        core = aot
    if bits.short:
        return None, None
    if config_id:
        channels = _AAC_CHANNELS.get(config_id)
        # Parametric stereo turns a mono core into stereo, as ffmpeg reports it.
        return (2 if aot == 29 and channels == 1 else channels), rate
    if core not in (1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23):
        return None, rate
    bits.read(1)  # frameLengthFlag
    if bits.read(1):  # dependsOnCoreCoder
        bits.read(14)
    bits.read(1)  # extensionFlag
    # program_config_element (14496-3 4.4.1.1)
    bits.read(4 + 2 + 4)  # element tag, object type, sampling frequency index
    front, side, back = bits.read(4), bits.read(4), bits.read(4)
    lfe = bits.read(2)
    bits.read(3 + 4)  # assoc data, valid cc
    for skip in (4, 4, 3):  # mono, stereo and matrix mixdowns: present flag, then the element
        if bits.read(1):
            bits.read(skip)
    channels = lfe
    for _ in range(front + side + back):
        channels += 2 if bits.read(1) else 1
        bits.read(4)
    return (None if bits.short else channels or None), rate


_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def _aac_object_type(bits: _Bits) -> int:
    aot = bits.read(5)
    return 32 + bits.read(6) if aot == 31 else aot


def _aac_rate(bits: _Bits) -> int | None:
    index = bits.read(4)
    if index == 15:  # an explicit 24-bit rate
        return bits.read(24) or None
    return _AAC_RATES[index] if index < len(_AAC_RATES) else None


class _Bits:
    """Big-endian bit reader over ``data``; reading past the end gives zeros and sets ``short``."""

    __slots__ = ("value", "size", "pos", "short")

    def __init__(self, data: bytes):
        self.value, self.size, self.pos, self.short = int.from_bytes(data, "big"), 8 * len(data), 0, False

    def read(self, n: int) -> int:
        end = self.pos + n
        if end <= self.size:
            self.pos = end
            return (self.value >> (self.size - end)) & ((1 << n) - 1)
        self.short = True
        left = max(0, self.size - self.pos)  # the last bits there are, then zeros
        self.pos = end
        return (self.value & ((1 << left) - 1)) << (n - left)
