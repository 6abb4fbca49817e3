"""Test helper: speak text with espeak-ng into a WAV file in the test's tmp_path."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from voicecoach.app.recognize import read_wav

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng is not installed")


def speak(text: str, path: Path, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> Path:
    """Write espeak-ng's rendering of `text` (22.05 kHz mono) to `path`."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-z",
                    "-w", str(path), text], check=True, capture_output=True)
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    """Write int16 samples (interleaved if `channels` > 1) as a PCM WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def speech_clip(
    text: str, tmp_path: Path, lead_s: float = 0.5, **voice: object
) -> tuple[np.ndarray, float, float]:
    """16 kHz samples of `text` with `lead_s` of silence before; and where speech starts/ends."""
    name = "".join(c if c.isalnum() else "_" for c in text)[:40] or "clip"
    x = read_wav(speak(text, tmp_path / f"{name}.wav", **voice))
    idx = np.nonzero(np.abs(x.astype(np.int32)) > 200)[0]
    x = x[idx[0]:idx[-1] + 1]
    lead = np.zeros(int(lead_s * 16000), np.int16)
    return np.concatenate([lead, x]), lead_s, lead_s + len(x) / 16000
