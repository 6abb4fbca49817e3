"""Sample-rate conversion in numpy, for microphones that only offer 44.1/48 kHz and for
speech rendered at one rate but played on a device that wants another.

A windowed-sinc (Kaiser) interpolator evaluated on the rational grid in/out: each
output sample is a dot product of `2 * half_width` input samples with one of a
small table of precomputed filter phases.  For 48 kHz -> 16 kHz that is one phase;
for 44.1 kHz -> 16 kHz it is 160.  Cost is about 1 ms of CPU per 100 ms chunk,
and the stop band is ~60 dB down, which is far more than a speech recognizer needs
(linear interpolation would alias everything above 8 kHz straight into the band).
"""

from __future__ import annotations

from math import gcd

import numpy as np

# Zero crossings of the sinc on each side of the centre (in output-rate periods when
# downsampling).  12 gives a transition band of about 10% of Nyquist.
_ZERO_CROSSINGS = 12
_KAISER_BETA = 6.0
# Fraction of the lower Nyquist frequency that is kept; the rest is transition band.
_PASSBAND = 0.9


class Resampler:
    """Streaming resampler for mono float or int16 signals.

    Feed consecutive blocks to `process`; the output is the same as resampling the
    concatenated signal in one go (up to float rounding), delayed by nothing: the
    filter is centred, and `flush` returns the samples held back at the end.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("sample rates must be positive")
        g = gcd(int(in_rate), int(out_rate))
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self.up = self.out_rate // g  # output samples per `down` input samples
        self.down = self.in_rate // g
        ratio = min(1.0, self.out_rate / self.in_rate)
        cutoff = _PASSBAND * ratio  # in cycles per input sample * 2 (1.0 = input Nyquist)
        self.half = int(np.ceil(_ZERO_CROSSINGS / ratio))
        taps = np.arange(-self.half + 1, self.half + 1, dtype=np.float64)  # 2*half taps
        # One row per phase: output sample at input position k + p/up uses inputs
        # k - half + 1 .. k + half, weighted by the kernel at (tap - p/up).
        frac = np.arange(self.up, dtype=np.float64)[:, None] / self.up
        x = taps[None, :] - frac
        window = np.kaiser(2 * self.half + 1, _KAISER_BETA)
        # Evaluate the Kaiser window continuously by interpolating its samples.
        win = np.interp(x, np.arange(-self.half, self.half + 1), window, left=0.0, right=0.0)
        kernel = cutoff * np.sinc(cutoff * x) * win
        # Normalise each phase to unit DC gain so silence stays silence and levels hold.
        kernel /= kernel.sum(axis=1, keepdims=True)
        self._kernel = kernel.astype(np.float32)
        self._offsets = np.arange(-self.half + 1, self.half + 1)
        # Input history: we keep `half` samples of left context (zeros at the start).
        self._buf = np.zeros(self.half, dtype=np.float32)
        self._buf_start = -self.half  # absolute input index of _buf[0]
        self._next_out = 0  # absolute index of the next output sample
        self._in_total = 0

    @property
    def identity(self) -> bool:
        """True when no conversion is needed."""
        return self.in_rate == self.out_rate

    def _emit(self, final: bool) -> np.ndarray:
        n = self._in_total  # inputs with absolute index < n are known
        # Output m sits at input position m*down/up = k + p/up and needs inputs up to
        # k + half.  Mid-stream, emit every m whose taps are all known; at the end,
        # every m inside the signal, with zeros standing in for the future.
        if final:
            last_m = (n * self.up - 1) // self.down
        else:
            k_max = n - 1 - self.half
            last_m = ((k_max + 1) * self.up - 1) // self.down if k_max >= 0 else -1
        m = self._next_out
        if last_m < m:
            return np.zeros(0, dtype=np.float32)
        ms = np.arange(m, last_m + 1, dtype=np.int64)
        k = (ms * self.down) // self.up
        p = (ms * self.down) % self.up
        idx = k[:, None] + self._offsets[None, :] - self._buf_start
        buf = self._buf
        if final:
            pad = int(max(0, idx.max() + 1 - len(buf)))
            buf = np.concatenate([buf, np.zeros(pad, dtype=np.float32)])
        out = np.einsum("ij,ij->i", buf[idx], self._kernel[p])
        self._next_out = last_m + 1
        # Drop history that no later output needs.
        next_k = (self._next_out * self.down) // self.up
        keep_from = next_k - self.half + 1 - self._buf_start
        if keep_from > 0:
            self._buf = self._buf[keep_from:]
            self._buf_start += keep_from
        return out.astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block (1-D); returns float32 in the input's scale."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.identity:
            return x.copy()
        self._buf = np.concatenate([self._buf, x])
        self._in_total += len(x)
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        """Return the output samples that were waiting for more input."""
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        return self._emit(final=True)


def resample(signal: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole mono signal; returns float32 in the input's scale."""
    r = Resampler(in_rate, out_rate)
    return np.concatenate([r.process(signal), r.flush()])


def to_int16(signal: np.ndarray) -> np.ndarray:
    """Round and clip float samples in int16 scale to int16."""
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
