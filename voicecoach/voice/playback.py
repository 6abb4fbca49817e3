"""Plays rendered speech through one long-lived sounddevice output stream, and reports
to the millisecond when each clip really starts and stops sounding.

The stream stays open for the whole session and plays silence between clips:
opening a stream per phrase costs tens of milliseconds on ALSA (and up to two
seconds on a PulseAudio null sink), which would make counts late and the gate's
timing guesswork.  A new clip replaces the current one at the next audio block,
so cutting speech off takes one block (~20 ms).  A clip can be played while the rest
of it is still being rendered: `play(..., more=True)` and then `extend` until the last
piece; if the device catches up meanwhile it plays silence, and the clip has not ended.

Times come from PortAudio's DAC timestamps, converted to `time.monotonic()`:
PortAudio's clock is not monotonic on ALSA (it is the wall clock), so each callback
maps through "now" on both clocks rather than keeping a fixed offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicecoach.voice.devices import AudioUnavailable, Device, find_device, portaudio

log = logging.getLogger(__name__)

OnStart = Callable[[float], None]
OnEnd = Callable[[float, bool], None]
OnPlayed = Callable[[np.ndarray, int, float], None]
"""Every block written to the device (int16 mono, its rate, when its first sample sounds)."""

# If the callback has not run for this long the device is gone (a USB speaker
# pulled out can leave PortAudio waiting forever rather than reporting an error).
_STALL_SECONDS = 2.0


@dataclass
class _Clip:
    samples: np.ndarray
    on_start: OnStart | None
    on_end: OnEnd | None
    more: bool = False  # more samples are still to come (`Player.extend`)
    pos: int = 0
    started: bool = False
    written_until: float = 0.0  # monotonic time the last written sample leaves the DAC


def with_gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    """int16 `samples` made `gain_db` decibels louder, clipped to the int16 range."""
    if gain_db == 0:
        return np.ascontiguousarray(samples, dtype=np.int16)
    louder = np.asarray(samples, dtype=np.float32) * np.float32(10 ** (gain_db / 20))
    return np.clip(np.rint(louder), -32768, 32767).astype(np.int16)


class Player:
    """An open output stream that plays one int16 mono clip at a time."""

    def __init__(self, device: Device = None, rate: int = 22050, block_seconds: float = 0.02,
                 latency: float | str = "low") -> None:
        self.device_spec = device
        self._preferred_rate = rate
        self._block_seconds = block_seconds
        self._latency = latency
        self.gain_db = 0.0  # applied to every clip as it is queued (the "louder" command)
        self._lock = threading.Lock()
        self._clip: _Clip | None = None
        self._busy_until = 0.0
        self._last_callback = 0.0
        self._closing = False
        self.lost: str | None = None
        """Why the device stopped, if it did behind our back."""
        self.underruns = 0
        self.on_played: OnPlayed | None = None
        """Sees every block played, silence included: the echo canceller's reference."""
        self._stream: Any = None
        self._open()

    # -- the stream -----------------------------------------------------------
    def _open(self) -> None:
        sd = portaudio()
        index = find_device(self.device_spec, "output")
        rate, channels = self._choose_format(sd, index)
        try:
            stream = sd.OutputStream(
                device=index, samplerate=rate, channels=channels, dtype="int16",
                blocksize=max(64, int(rate * self._block_seconds)), latency=self._latency,
                callback=self._callback, finished_callback=self._finished,
            )
            stream.start()
        except Exception as exc:  # PortAudioError or a device that vanished meanwhile
            name = "the default speaker" if index is None else f"speaker {index}"
            raise AudioUnavailable(
                f"cannot open {name} for playback ({exc}). Check it is plugged in and not "
                "used by another program; `voicecoach devices` lists speakers, "
                "--output-device picks one, --speaker print works without sound.") from exc
        self.rate = rate
        self.channels = channels
        self.device_index = index
        self.latency = float(stream.latency)
        self.lost = None
        self._last_callback = time.monotonic()
        self._stream = stream

    def _choose_format(self, sd: Any, index: int | None) -> tuple[int, int]:
        # Speech is rendered at 22050 Hz mono; play it as is when the device takes it,
        # else at the device's own rate (the caller resamples) and/or in stereo.
        info = sd.query_devices(index, "output")
        rates = [self._preferred_rate, int(info["default_samplerate"]), 48000, 44100]
        for channels in (1, 2):
            for rate in dict.fromkeys(rates):
                try:
                    sd.check_output_settings(device=index, samplerate=rate,
                                             channels=channels, dtype="int16")
                    return rate, channels
                except Exception:  # noqa: S112 - try the next format
                    continue
        raise AudioUnavailable(
            f"the speaker '{info['name']}' accepts none of the formats tried "
            f"({', '.join(map(str, dict.fromkeys(rates)))} Hz, mono or stereo, 16-bit)")

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        if status.output_underflow:
            self.underruns += 1
        dac, current = time_info.outputBufferDacTime, time_info.currentTime
        # Some host APIs report zeros; then assume the buffer plays after the latency.
        ahead = dac - current if dac > 0 and current > 0 else self.latency
        block_start = now + max(0.0, ahead)
        started = ended = None
        with self._lock:
            clip = self._clip
            if clip is None:
                outdata.fill(0)
                if self.on_played is not None:
                    self.on_played(outdata[:, 0], self.rate, block_start)
                return
            n = min(frames, len(clip.samples) - clip.pos)
            if n > 0:
                chunk = clip.samples[clip.pos:clip.pos + n]
                outdata[:n] = chunk[:, None]  # mono to every channel
                if not clip.started:
                    clip.started = True
                    started = clip
                clip.pos += n
                clip.written_until = block_start + n / self.rate
                self._busy_until = clip.written_until
            outdata[n:] = 0
            if clip.pos >= len(clip.samples) and not clip.more:
                self._clip = None
                ended = clip
                if not clip.started:  # every piece came out empty
                    clip.started = True
                    started = clip
                    clip.written_until = block_start
        if self.on_played is not None:
            self.on_played(outdata[:, 0], self.rate, block_start)
        # Report outside our lock: the callbacks take the gate's lock.
        if started is not None and started.on_start is not None:
            started.on_start(block_start)
        if ended is not None and ended.on_end is not None:
            ended.on_end(ended.written_until, False)

    def _finished(self) -> None:
        if not self._closing:
            self.lost = "the speaker stopped playing (unplugged, or taken by another program?)"
            log.warning(self.lost)
            self._end_current(cut_off=True)

    def _alive(self) -> bool:
        if self.lost is None and time.monotonic() - self._last_callback > _STALL_SECONDS:
            self.lost = "the speaker stopped asking for audio (unplugged?)"
        return self.lost is None

    def _reopen(self) -> None:
        old, self._stream = self._stream, None
        self._closing = True
        try:
            if old is not None:
                old.abort()
                old.close()
        except Exception:  # noqa: S110 - the old stream is already broken
            pass
        finally:
            self._closing = False
        # No PortAudio rescan here: that would close the microphone's stream too.
        self._open()

    def set_latency(self, latency: float | str) -> None:
        """Reopen the stream with another output latency (seconds, or "low"/"high")."""
        if latency != self._latency:
            self._latency = latency
            self._reopen()

    # -- what the speaker uses -------------------------------------------------
    def play(self, samples: np.ndarray, on_start: OnStart | None = None,
             on_end: OnEnd | None = None, more: bool = False) -> object:
        """Start playing `samples` (int16 mono at `self.rate`), cutting off the current clip.

        `on_start(t)` and `on_end(t, cut_off)` receive monotonic times at which the
        first and last samples leave the device; they run on the audio thread.  With
        `more`, the clip goes on with what `extend` adds to it; the returned handle names it.
        """
        if not self._alive():
            reason = self.lost
            try:
                self._reopen()
            except AudioUnavailable as exc:
                raise AudioUnavailable(f"{reason}; reopening failed: {exc}") from exc
        self._end_current(cut_off=True)
        clip = _Clip(with_gain(samples, self.gain_db), on_start, on_end, more)
        if len(clip.samples) == 0 and not more:
            now = time.monotonic()
            if on_start:
                on_start(now)
            if on_end:
                on_end(now, False)
            return clip
        with self._lock:
            self._clip = clip
        return clip

    def extend(self, handle: object, samples: np.ndarray, last: bool) -> bool:
        """Add `samples` to the end of the clip `play` returned as `handle`; `last` says no
        more will come.  False (and nothing added) if that clip was cut off or replaced."""
        more = with_gain(samples, self.gain_db)
        with self._lock:
            clip = self._clip
            if clip is not handle or clip is None:
                return False
            if len(more):
                clip.samples = np.concatenate([clip.samples, more])
            clip.more = not last
        return True

    def stop(self) -> None:
        """Cut off the current clip (what is already in the device buffer still plays)."""
        self._end_current(cut_off=True)

    def _end_current(self, cut_off: bool) -> None:
        with self._lock:
            clip, self._clip = self._clip, None
        if clip is None:
            return
        if not clip.started:
            # Never reached the device: it ends where it would have started.
            if clip.on_end:
                clip.on_end(time.monotonic(), cut_off)
            return
        if clip.on_end:
            clip.on_end(max(clip.written_until, time.monotonic()), cut_off)

    def is_playing(self) -> bool:
        """True while a clip is queued or its last samples have not left the device."""
        with self._lock:
            return self._clip is not None or time.monotonic() < self._busy_until

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is playing; False on timeout (for tests and shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_playing():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        """Stop and release the device."""
        self._end_current(cut_off=True)
        stream, self._stream = self._stream, None
        if stream is not None:
            self._closing = True
            try:
                stream.abort()
                stream.close()
            except Exception as exc:  # closing a broken stream must not raise
                log.debug("closing the output stream: %s", exc)
