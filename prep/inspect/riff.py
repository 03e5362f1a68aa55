"""RIFF containers: WAV (and RF64) audio, AVI video."""

from __future__ import annotations

import struct

from prep.model import MediaFacts

from ._base import _Corrupt, _facts, _Source, _u16le, _u32le, _u64le

# --------------------------------------------------------------------------------------------------
# RIFF: wav and avi


def _check_riff_size(src: _Source) -> None:
    declared = _u32le(src.head, 4)
    if src.head[:4] == b"RIFF" and declared not in (0, 0xFFFFFFFF) and declared + 8 > src.size:
        raise _Corrupt(f"RIFF header claims {declared + 8} bytes but the file has {src.size} (truncated)")


def _riff_chunks(src: _Source, start: int, end: int, limit: int = 4096):
    off = start
    for _ in range(limit):
        if off + 8 > end:
            return
        hdr = src.at(off, 12)
        if len(hdr) < 8:
            return
        cid, size = hdr[:4], _u32le(hdr, 4)
        yield cid, off + 8, size, hdr[8:12]
        off += 8 + size + (size & 1)


_WAVE_CODECS = {1: "pcm", 3: "pcm", 6: "pcm_alaw", 7: "pcm_mulaw", 2: "adpcm_ms", 0x11: "adpcm_ima_wav",
                0x55: "mp3", 0xFF: "aac", 0x2000: "ac3"}
# ffmpeg's PCM decoders take whole bytes per sample: 1 (unsigned), 2, 3, 4 or 8 (signed) integer
# bytes, or 32/64-bit floats (riffdec.c ff_wav_codec_get_id, utils.c ff_get_pcm_codec_id).
_PCM_BYTES = (1, 2, 3, 4, 8)
_MAX_CHANNELS = 512  # FF_SANE_NB_CHANNELS: ffmpeg opens no stream with more (and no rate past 2^31-1)


def _wav(src: _Source, kind: str, fmt: str) -> MediaFacts:
    """WAV and RF64, read as ffmpeg's wav demuxer reads them (wavdec.c).

    The audio is the 'data' chunk, cut at the file end: a data size of 0 or 0xFFFFFFFF (a streaming
    writer that never came back to fix it) or larger than the file means "up to the end", and
    decoders play what is there. RF64 takes its data size from the 'ds64' chunk.
    """
    if src.head[:3] == b"ID3":  # the sniffer looked past the tag; ffmpeg's wav reader does not
        raise _Corrupt("an ID3 tag before the WAV header: decoders do not find the audio")
    rf64 = src.head[:4] != b"RIFF"
    fmt_chunk = data = fact = ds64_data = None
    for cid, off, size, _ in _riff_chunks(src, 12, src.size):
        if cid == b"ds64" and ds64_data is None:
            if size < 24:
                raise _Corrupt(f"RF64 ds64 chunk of {size} bytes is too short for its sizes")
            ds64_data = _u64le(src.exact(off, 24, "RF64 ds64 chunk"), 8)
        elif cid == b"fmt " and fmt_chunk is None:
            fmt_chunk = src.exact(off, min(size, 40), "WAV fmt chunk")
        elif cid == b"fact" and fact is None and size >= 4:
            fact = _u32le(src.exact(off, 4, "WAV fact chunk"), 0)
        elif cid == b"data" and data is None:
            if rf64:
                if ds64_data is None:
                    raise _Corrupt("RF64 has no 'ds64' chunk before its data")
                size = ds64_data
            elif size in (0, 0xFFFFFFFF):
                size = src.size  # up to the end; ffmpeg looks for no chunk after it
            data = (off, size)
            if size >= src.size or fmt_chunk is not None:
                break
    if fmt_chunk is None or len(fmt_chunk) < 14:
        raise _Corrupt("WAV has no format chunk")
    if data is None:
        raise _Corrupt("WAV has no data chunk")
    tag, channels, rate, byte_rate, block_align = struct.unpack_from("<HHIIH", fmt_chunk)
    bits = _u16le(fmt_chunk, 14) if len(fmt_chunk) >= 16 else 8
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the codec is the sub-format GUID's first two bytes
        if len(fmt_chunk) < 40:
            raise _Corrupt("WAV extensible format chunk is cut short")
        bits = _u16le(fmt_chunk, 18) or bits  # the valid bits, as ffmpeg reads them
        tag = _u16le(fmt_chunk, 24)
    if not 0 < rate < 1 << 31 or not 0 < channels <= _MAX_CHANNELS:
        raise _Corrupt(f"WAV declares {channels} channels at {rate} Hz: no decoder plays it")
    if tag == 0:
        raise _Corrupt("WAV codec tag is 0 (unknown): no decoder plays it")
    codec = _WAVE_CODECS.get(tag, f"wave_0x{tag:04x}")
    off, declared = data
    size = min(declared, src.size - off)
    if size <= 0:
        raise _Corrupt("WAV data chunk holds no audio (truncated)")
    if tag in (1, 3, 6, 7):
        width = 1 if tag in (6, 7) else (bits + 7) // 8
        if tag == 1 and bits == 24 and block_align == 4 * channels:  # 24 bits in 32 (pcm_f24le)
            width = 4
        if not bits or (tag == 3 and bits not in (32, 64)) or (tag == 1 and width not in _PCM_BYTES):
            raise _Corrupt(f"WAV {'float' if tag == 3 else 'PCM'} with {bits} bits per sample: "
                           f"no decoder plays it")
        duration: float | None = size // (width * channels) / rate
    elif tag in (2, 0x11) and block_align > 8 * channels and channels <= 2:  # ADPCM: as ffmpeg decodes
        duration = _adpcm_samples(tag, size, block_align, channels) / rate
    elif fact and (declared * 8 // fact // channels) <= bits + 1:  # ffmpeg ignores an impossible count
        duration = fact / rate * (size / declared)  # the share of the frames a cut file still holds
    else:
        duration = size / byte_rate if byte_rate else None
    if duration == 0:
        raise _Corrupt("WAV data chunk holds no audio (truncated)")
    return _facts(src, kind, fmt, codec=codec, sample_rate=rate, channels=channels, duration_s=duration,
                  has_audio=True)


def _adpcm_samples(tag: int, size: int, block_align: int, channels: int) -> int:
    """Samples ffmpeg decodes from ``size`` bytes of MS or IMA ADPCM: every block in full, the last
    (shorter) one as far as it goes (adpcm.c, get_nb_samples). The 'fact' count leaves out the
    padding of the last block; a decoder plays it."""
    def block(n: int) -> int:
        if tag == 2:  # MS: 7 header bytes and 2 samples per channel, then 2 samples per byte
            return max(0, (n - 6 * channels) * 2 // channels)
        return 1 + (n - 4 * channels) // (4 * channels) * 8 if n > 4 * channels else 0  # IMA
    return size // block_align * block(block_align) + block(size % block_align)
