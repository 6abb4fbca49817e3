"""Reading and writing WAV audio without extra dependencies.

The standard library's `wave` module rejects float and WAVE_FORMAT_EXTENSIBLE files
(common from recorders and editors) and trusts the header's sizes, which a streamed
file (`espeak-ng --stdout`) leaves as placeholders; this reader handles all three.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


class WavError(ValueError):
    """The data is not a WAV file we can read; the message says why."""


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Decode WAV bytes to (float32 array of shape (frames, channels) in int16 scale, rate).

    Integer PCM of 8, 16, 24 or 32 bits and 32/64-bit float are accepted; every
    format is scaled so full scale is +-32768, the scale the recognizers expect.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt = channels = rate = bits = None
    while pos + 8 <= len(data):
        chunk_id = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = int.from_bytes(data[body:body + 2], "little")
            channels = int.from_bytes(data[body + 2:body + 4], "little")
            rate = int.from_bytes(data[body + 4:body + 8], "little")
            bits = int.from_bytes(data[body + 14:body + 16], "little")
            if fmt == _EXTENSIBLE and size >= 40:
                fmt = int.from_bytes(data[body + 24:body + 26], "little")
        elif chunk_id == b"data":
            if fmt is None or not channels or not rate or not bits:
                raise WavError("WAV data comes before its format chunk")
            # A size of 0 or past the end means "unknown" (streamed): take the rest.
            end = body + size if 0 < size <= len(data) - body else len(data)
            return _samples(data[body:end], fmt, bits, channels), rate
        pos = body + size + (size & 1)
    raise WavError("WAV file has no audio data")


def _samples(raw: bytes, fmt: int, bits: int, channels: int) -> np.ndarray:
    width = bits // 8
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if fmt == _PCM and bits == 16:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32)
    elif fmt == _PCM and bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) * 256.0
    elif fmt == _PCM and bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / 256.0
    elif fmt == _PCM and bits == 32:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 65536.0
    elif fmt == _FLOAT and bits in (32, 64):
        x = np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float32) * 32768.0
    else:
        raise WavError(f"unsupported WAV encoding (format {fmt}, {bits} bits)")
    return x.reshape(-1, channels)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file: (float32 (frames, channels) in int16 scale, sample rate)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WavError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return decode_wav(data)
    except WavError as exc:
        raise WavError(f"{path}: {exc}") from exc


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Encode int16 samples, shape (frames,) or (frames, channels), as a WAV file."""
    x = np.asarray(samples)
    channels = 1 if x.ndim == 1 else x.shape[1]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes())
    return buf.getvalue()


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write int16 samples as a WAV file."""
    Path(path).write_bytes(wav_bytes(samples, rate))
