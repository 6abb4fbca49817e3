"""Whisper's input features in numpy: an 80-band log-mel spectrogram of 16 kHz audio.

The same computation as Whisper's own front end (25 ms Hann windows every 10 ms,
Slaney-style mel filters, log10, floored 8 decades under the loudest bin, scaled to
about -1..1), so the model sees what it was trained on without pulling in an audio
framework to compute it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80


@lru_cache(maxsize=2)
def mel_filters(n_mels: int = N_MELS, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """The [n_mels, n_fft // 2 + 1] Slaney mel filterbank (linear below 1 kHz, log above)."""
    fft_freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    f_sp = 200.0 / 3
    mels = np.linspace(0.0, 45.245640471924965, n_mels + 2)  # 0 Hz .. 8 kHz on the Slaney scale
    freqs = f_sp * mels
    min_log_mel = 1000.0 / f_sp
    log_region = mels >= min_log_mel
    freqs[log_region] = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels[log_region] - min_log_mel))
    ramps = freqs[:, None] - fft_freqs[None, :]
    fdiff = np.diff(freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (freqs[2:n_mels + 2] - freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window


def log_mel(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Features of float audio in -1..1 at 16 kHz, zero-padded or cut to `n_frames` frames.

    Returns float32 [80, n_frames].  Padding is digital silence, as Whisper pads
    every 30 s window; the floor and scale are computed over the whole window, so
    a quiet utterance is lifted to the same range as a loud one.
    """
    want = n_frames * HOP
    x = np.zeros(want, np.float32)
    x[:min(len(audio), want)] = audio[:want]
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames + 1)[:, None]
    frames = padded[idx] * _window()
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # [frames + 1, bins]
    mel = mel_filters() @ power[:-1].T  # Whisper drops the last frame
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
