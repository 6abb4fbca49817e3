"""The echo path from the coach's speaker to its microphone: what was played when, and
how late it comes back.

`PlayedAudio` keeps the last seconds of everything the speaker played (speech and the
silence between), at 16 kHz on the `time.monotonic()` clock, as the player's audio
thread hands it over.  When the player's thread runs late (a loaded machine: the
speaker runs dry and plays silence until the next block), the next block's timestamp
says so, and the silence goes into the record too: read sample by sample, the
record then stays in step with the echo, as the speaker really sounded.

`measure_delay` finds how much later the microphone hears what was played (device
buffers on both sides plus the air), by generalized cross-correlation with phase
transform: the peak is sharp even for speech and reverberant rooms, and its height
over the rest says whether the path was found at all.
"""

from __future__ import annotations

import threading

import numpy as np

from voicecoach.voice.resample import Resampler

RATE = 16000
HISTORY_S = 12.0
MAX_DELAY_S = 0.6
"""Longest echo delay looked for: the buffers of a Bluetooth speaker, plus the room."""
UNDERRUN_S = 0.008
"""A block starting this much later than the stream's timing predicts followed an underrun
(a callback's timestamp jitters by a millisecond or two)."""
MIN_CONFIDENCE = 6.0
"""A delay counts as measured when its correlation peak stands this many times above the
typical correlation at other lags (an unrelated microphone signal gives about 3)."""


class PlayedAudio:
    """What the speaker played, resampled to 16 kHz, with the time each sample sounded."""

    def __init__(self, history_s: float = HISTORY_S) -> None:
        self._lock = threading.Lock()
        self._buf = np.zeros(int(history_s * RATE), np.int16)
        self._end = 0  # index (16 kHz samples since the first block) just past the newest
        self._resampler: Resampler | None = None
        self._in_rate = 0
        self._in_index = 0
        self._silence = 0  # 16 kHz samples of underruns put in the record
        self._offset: float | None = None  # monotonic time of sample index 0
        self.underruns = 0
        """Underruns found in the player's timestamps (and filled with silence)."""

    def push(self, block: np.ndarray, rate: int, start: float, underrun: bool = True) -> None:
        """One block as played (int16 mono at `rate`), its first sample sounding at `start`;
        `underrun`: the device may have run dry before it (False when it reported it did not:
        on a loaded machine a late callback's timestamp alone can look like a gap)."""
        if self._resampler is None or rate != self._in_rate:
            self._resampler, self._in_rate = Resampler(rate, RATE), rate
            self._in_index = 0
            with self._lock:
                self._offset = None
        out = self._resampler.process(block.astype(np.float32))
        # The mapping from sample index to time follows the player's reports, smoothed:
        # a callback's timestamp jitters by a millisecond or two, the stream does not.
        offset = start - self._in_index / rate - self._silence / RATE
        self._in_index += len(block)
        samples = np.clip(np.round(out), -32768, 32767).astype(np.int16)
        with self._lock:
            gap = 0 if self._offset is None else int(round((offset - self._offset) * RATE))
            if self._offset is None or gap < -0.05 * RATE or gap > len(self._buf) // 4:
                self._offset = offset  # the first block, or the stream started anew
            elif underrun and gap > UNDERRUN_S * RATE:
                # The speaker ran dry: it sounded `gap` samples of silence before this block.
                samples = np.concatenate([np.zeros(gap, np.int16), samples])
                self._silence += gap
                self.underruns += 1
            else:
                self._offset += 0.02 * (offset - self._offset)
            n = min(len(samples), len(self._buf))
            if n:
                self._buf = np.roll(self._buf, -n)
                self._buf[-n:] = samples[-n:]
            self._end += len(samples)

    def index_at(self, t: float) -> int | None:
        """The index of the sample that sounded at monotonic time `t` (None before any audio)."""
        with self._lock:
            if self._offset is None:
                return None
            return int(round((t - self._offset) * RATE))

    def read(self, index: int, n: int) -> np.ndarray:
        """`n` samples from `index` on; zeros where nothing is known (not yet played, or forgotten)."""
        out = np.zeros(n, np.int16)
        with self._lock:
            first = self._end - len(self._buf)
            lo, hi = max(index, first), min(index + n, self._end)
            if hi > lo:
                out[lo - index:hi - index] = self._buf[lo - first:hi - first]
        return out


def measure_delay(ref: np.ndarray, mic: np.ndarray, max_delay_s: float = MAX_DELAY_S,
                  rate: int = RATE) -> tuple[float, float]:
    """How many seconds after `ref` its echo appears in `mic` (same start, same rate), and
    the confidence: the peak's height over the median height at other lags."""
    n = min(len(ref), len(mic))
    if n < rate // 4:
        return 0.0, 0.0
    size = 1 << (2 * n - 1).bit_length()
    spec = np.fft.rfft(mic[:n].astype(np.float64), size) * np.conj(np.fft.rfft(ref[:n].astype(np.float64), size))
    spec /= np.abs(spec) + 1e-9
    # Speech has little below 100 Hz or above 4 kHz; weighting those bins down keeps
    # hum and hiss from making peaks of their own.
    freqs = np.fft.rfftfreq(size, 1 / rate)
    spec *= (freqs > 100) & (freqs < 5000)
    corr = np.fft.irfft(spec, size)
    lags = corr[: int(max_delay_s * rate)]
    peak = int(np.argmax(lags))
    height = float(lags[peak])
    rest = np.abs(np.delete(lags, np.s_[max(0, peak - 40):peak + 40]))
    typical = float(np.median(rest)) if len(rest) else 0.0
    return peak / rate, height / typical if typical > 0 else 0.0
