"""The acoustics of the virtual room: how sound gets from a mouth to the microphone.

An impulse response is a delay (the distance, plus the device buffers of a real
speaker), a direct-path level, a few early reflections off nearby walls and the
floor, and a diffuse tail that decays exponentially (white noise under an envelope
reaching -60 dB after `rt60_s`, darker as it decays, as air and soft furnishings
absorb the highs first).  `EchoPath` is one such path; `COACH` and `USER` are the
two the room uses: the coach's speaker a metre from the microphone (loud, with a
delay in the range real devices show), and the user facing the microphone, speaking
over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000


@dataclass(frozen=True)
class EchoPath:
    """A mouth-to-microphone path."""

    delay_s: float
    """Before the direct sound arrives (0.02-0.15 s for a speaker: buffers plus distance)."""
    gain: float
    """Amplitude of the direct sound relative to what was played (1.0 = unchanged)."""
    rt60_s: float = 0.35
    """Reverberation time: the tail is 60 dB down after this long (a furnished room)."""
    reverb_db: float = -6.0
    """Energy of the tail relative to the direct sound."""
    seed: int = 0

    def impulse_response(self, rate: int = RATE, skip_s: float = 0.0) -> np.ndarray:
        """The path as a FIR filter at `rate`, less `skip_s` of its delay (the latency
        of the rig that applies it; a delay shorter than that is as long as the rig's)."""
        rng = np.random.default_rng(self.seed)
        d = max(0, int(round((self.delay_s - skip_s) * rate)))
        tail_n = int(self.rt60_s * rate)
        h = np.zeros(d + tail_n + 1)
        h[d] = self.gain
        # Early reflections: 3-15 ms after the direct sound, weaker and of either sign.
        for k in range(4):
            at = d + int(rate * (0.003 + 0.004 * k + 0.002 * rng.random()))
            h[at] += self.gain * rng.uniform(0.25, 0.5) * rng.choice((-1, 1))
        t = np.arange(tail_n) / rate
        envelope = 10 ** (-3 * t / self.rt60_s)  # -60 dB at rt60
        noise = rng.standard_normal(tail_n)
        # Darker as it decays: a one-pole low-pass whose cut falls with time.
        smooth = np.empty(tail_n)
        acc = 0.0
        alpha = np.clip(0.9 - 0.8 * t / self.rt60_s, 0.1, 0.9)
        for i in range(tail_n):
            acc = alpha[i] * noise[i] + (1 - alpha[i]) * acc
            smooth[i] = acc
        tail = smooth * envelope
        start = d + int(0.02 * rate)
        tail = tail[: len(h) - start]
        # Scale so the tail carries `reverb_db` of the direct sound's energy.
        tail *= self.gain * np.sqrt(10 ** (self.reverb_db / 10) / max(float(np.sum(tail ** 2)), 1e-12))
        h[start:start + len(tail)] += tail
        return h.astype(np.float32)


RIG_LATENCY_S = 0.11
"""What the room's air process itself takes from a sink to the microphone (reading, a
block, and the queue that rides out its stalls on a loaded machine): taken from each
path's delay, so the coach's echo comes `COACH.delay_s` late; the user's voice, whose
timing nothing aligns with, comes this late."""
# The coach's speaker a metre from the microphone: loud (what it plays, at -10 dB), 120 ms
# late (a USB speaker's buffers plus 3 ms of air).
COACH = EchoPath(delay_s=0.12, gain=0.32, rt60_s=0.35, reverb_db=-6.0, seed=1)
# The user about a metre from the microphone, facing it and speaking up to be heard over
# the coach: a little louder than the coach's echo, mostly direct sound.  (With as much
# reverberation as the speaker's, the PocketSphinx engine misses most commands: the
# room test of tests/test_e2e_room.py fails.)
USER = EchoPath(delay_s=0.004, gain=0.5, rt60_s=0.15, reverb_db=-20.0, seed=2)
NOISE_DBFS = -66.0
"""The microphone's own hiss and the room's background, as RMS relative to full scale."""


def convolve(signal: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Full linear convolution by FFT (the length of the signal plus the response)."""
    n = len(signal) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(signal, size) * np.fft.rfft(h, size), size)[:n]


class StreamingPath:
    """Applies an impulse response block by block (for the room's air process)."""

    def __init__(self, h: np.ndarray, block: int) -> None:
        self.block = block
        self.taps = len(h)
        self.size = 1 << (self.taps + block - 1).bit_length()
        self._h = np.fft.rfft(h, self.size)
        self._history = np.zeros(self.taps + block - 1, np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        """The next `block` output samples for the next `block` input samples."""
        self._history = np.concatenate([self._history[len(x):], x.astype(np.float32)])
        y = np.fft.irfft(np.fft.rfft(self._history, self.size) * self._h, self.size)
        # Circular convolution is exact past the first taps-1 samples.
        return y[len(self._history) - len(x):len(self._history)]


class ClockDrift:
    """A speaker whose clock runs `ppm` millionths slower than the microphone's: each
    second, what it plays reaches the microphone `ppm` microseconds later than the
    second before (a separate condition: the room itself has one clock)."""

    def __init__(self, ppm: float) -> None:
        self.step = 1.0 - ppm * 1e-6
        self._pos = 0.0  # read position in the input, relative to `_buf[0]`
        self._buf = np.zeros(0, np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        """As many output samples as input samples, read at the speaker's rate."""
        self._buf = np.concatenate([self._buf, x.astype(np.float32)])
        where = self._pos + np.arange(len(x)) * self.step
        out = np.interp(where, np.arange(len(self._buf)), self._buf).astype(np.float32)
        self._pos += len(x) * self.step
        drop = max(0, int(self._pos) - 1)
        self._buf, self._pos = self._buf[drop:], self._pos - drop
        return out
