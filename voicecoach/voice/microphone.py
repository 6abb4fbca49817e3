"""Audio sources for the listener: 16 kHz mono int16 chunks of about 100 ms, each with
the monotonic time its first and last sample were captured.

`SoundDeviceSource` records from a microphone (resampling when the device only
offers 44.1 or 48 kHz, mixing stereo to mono) and notices when the device goes
away.  `WavFileSource` replays a WAV file, either as fast as it can be read (for
`voicecoach recognize` and tests) or paced like a live microphone.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicecoach.voice.devices import AudioUnavailable, Device, find_device, portaudio
from voicecoach.voice.resample import Resampler, resample, to_int16
from voicecoach.voice.wavfile import read_wav

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Audio is handed on in chunks this long: a command can be decided only at a chunk's
# end, so shorter chunks decide sooner (50 ms: half the wait of 100 ms, for nothing
# measurable in CPU).
CHUNK_SECONDS = 0.05


class AudioSourceLost(Exception):
    """The microphone stopped delivering audio (unplugged, or its stream failed)."""


@dataclass(frozen=True)
class Chunk:
    """A stretch of captured audio: int16 mono little-endian PCM at 16 kHz."""

    pcm: bytes
    start: float
    """`time.monotonic()` when the first sample was captured."""
    end: float
    """`time.monotonic()` just after the last sample was captured."""

    @property
    def samples(self) -> np.ndarray:
        """The PCM as an int16 array (a view, do not modify)."""
        return np.frombuffer(self.pcm, dtype="<i2")

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE


class AudioSource(ABC):
    """Somewhere chunks come from.  `chunks()` is iterated by one thread only."""

    sample_rate: int = SAMPLE_RATE

    @abstractmethod
    def chunks(self) -> Iterator[Chunk]:
        """Yield chunks until the input ends; raise `AudioSourceLost` if the device fails."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop capturing; a `chunks()` loop in progress ends soon after."""


class _Chunker:
    """Resamples to 16 kHz and cuts into fixed-size chunks, keeping capture times.

    Time of output sample j = anchor_time + (j * in/out - anchor_index) / in, where
    the anchor is the latest input block: so a dropped or late block moves the times
    with it instead of letting them drift.
    """

    def __init__(self, in_rate: int, chunk_samples: int) -> None:
        self.in_rate = in_rate
        self.resampler = Resampler(in_rate, SAMPLE_RATE)
        self.chunk_samples = chunk_samples
        self.pending = np.zeros(0, dtype=np.float32)
        self.pending_index = 0  # output index of pending[0]
        self.in_index = 0  # input samples seen so far
        self.anchor_index = 0
        self.anchor_time = 0.0

    def feed(self, block: np.ndarray, captured_at: float) -> list[Chunk]:
        self.anchor_index, self.anchor_time = self.in_index, captured_at
        self.in_index += len(block)
        out = self.resampler.process(block)
        return self._cut(out, final=False)

    def finish(self) -> list[Chunk]:
        return self._cut(self.resampler.flush(), final=True)

    def _time(self, out_index: int) -> float:
        in_pos = out_index * self.in_rate / SAMPLE_RATE
        return self.anchor_time + (in_pos - self.anchor_index) / self.in_rate

    def _cut(self, out: np.ndarray, final: bool) -> list[Chunk]:
        self.pending = np.concatenate([self.pending, out]) if len(self.pending) else out
        chunks = []
        n = self.chunk_samples
        while len(self.pending) >= n or (final and len(self.pending) > 0):
            take = self.pending[:n]
            start = self._time(self.pending_index)
            chunks.append(Chunk(to_int16(take).astype("<i2").tobytes(), start,
                                start + len(take) / SAMPLE_RATE))
            self.pending = self.pending[n:]
            self.pending_index += len(take)
        return chunks


class SoundDeviceSource(AudioSource):
    """A live microphone through sounddevice/PortAudio.

    The PortAudio callback only copies the block and its capture time into a queue;
    resampling and chunking happen on the thread that iterates `chunks()`, so a slow
    consumer delays itself, not the audio thread.  If the consumer falls more than
    `max_queue_seconds` behind, the oldest audio is dropped (and counted).
    """

    def __init__(self, device: Device = None, chunk_seconds: float = CHUNK_SECONDS,
                 max_queue_seconds: float = 5.0, stall_seconds: float = 2.0,
                 latency: float | str = "high") -> None:
        self.device_spec = device
        self.chunk_samples = int(round(chunk_seconds * SAMPLE_RATE))
        self.stall_seconds = stall_seconds
        self.dropped_blocks = 0
        self.overflows = 0
        self.lost: str | None = None
        self._closed = threading.Event()
        self._last_callback = time.monotonic()
        sd = portaudio()
        index = find_device(device, "input")
        rate, channels = self._choose_format(sd, index)
        block = max(64, int(round(rate * chunk_seconds)))
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(
            maxsize=max(4, int(max_queue_seconds / chunk_seconds)))
        try:
            self._stream = sd.InputStream(
                device=index, samplerate=rate, channels=channels, dtype="int16",
                blocksize=block, latency=latency, callback=self._callback,
                finished_callback=self._finished)
            self._stream.start()
        except Exception as exc:  # PortAudioError, or the device vanished meanwhile
            name = "the default microphone" if index is None else f"microphone {index}"
            raise AudioUnavailable(
                f"cannot open {name} for recording ({exc}). Check it is plugged in and not "
                "used by another program; `voicecoach devices` lists microphones, "
                "--input-device picks one, --text works without one.") from exc
        self.device_index = index
        self.device_rate = rate
        self.channels = channels
        self.latency = float(self._stream.latency)
        self._last_callback = time.monotonic()

    @staticmethod
    def _choose_format(sd: Any, index: int | None) -> tuple[int, int]:
        # 16 kHz mono straight from the device is cheapest; USB microphones and the
        # Pi's ALSA hw devices often offer only 44.1/48 kHz, and some only stereo.
        info = sd.query_devices(index, "input")
        rates = list(dict.fromkeys([SAMPLE_RATE, 48000, 44100, int(info["default_samplerate"])]))
        for channels in dict.fromkeys([1, min(2, int(info["max_input_channels"]))]):
            for rate in rates:
                try:
                    sd.check_input_settings(device=index, samplerate=rate, channels=channels,
                                            dtype="int16")
                    return rate, channels
                except Exception:  # noqa: S112 - try the next format
                    continue
        raise AudioUnavailable(
            f"the microphone '{info['name']}' accepts none of the formats tried "
            f"({', '.join(map(str, rates))} Hz, mono or stereo, 16-bit)")

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        self._last_callback = now
        if status.input_overflow:
            self.overflows += 1
        adc, current = time_info.inputBufferAdcTime, time_info.currentTime
        # PortAudio's clock is the wall clock on ALSA: convert through "now".
        behind = current - adc if adc > 0 and current > 0 else frames / self.device_rate
        block = indata.copy()
        try:
            self._queue.put_nowait((block, now - max(0.0, behind)))
        except queue.Full:
            # The consumer is far behind: drop the oldest block, keep the newest.
            self.dropped_blocks += 1
            try:
                self._queue.get_nowait()
                self._queue.put_nowait((block, now - max(0.0, behind)))
            except (queue.Empty, queue.Full):
                pass

    def _finished(self) -> None:
        if not self._closed.is_set():
            self.lost = "the microphone stream stopped (unplugged, or taken by another program?)"
        self._wake()

    def _wake(self) -> None:
        # Never block the audio thread: a full queue already wakes the consumer.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def chunks(self) -> Iterator[Chunk]:
        chunker = _Chunker(self.device_rate, self.chunk_samples)
        while not self._closed.is_set():
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                if time.monotonic() - self._last_callback > self.stall_seconds:
                    self.lost = (f"the microphone delivered no audio for "
                                 f"{self.stall_seconds:.0f} s (unplugged?)")
                    raise AudioSourceLost(self.lost) from None
                continue
            if self.lost and not self._closed.is_set():
                raise AudioSourceLost(self.lost)
            if item is None:
                return
            block, captured_at = item
            mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1)
            yield from chunker.feed(mono.astype(np.float32), captured_at)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._stream.abort()
            self._stream.close()
        except Exception as exc:  # a broken stream must still let us shut down
            log.debug("closing the input stream: %s", exc)
        self._wake()


class WavFileSource(AudioSource):
    """Replays a WAV file as 16 kHz mono chunks.

    `realtime=False` yields as fast as the consumer takes them; `realtime=True`
    yields each chunk when it would have finished being captured live.  Chunk times
    are `start_time` (default: monotonic time of the first `chunks()` call) plus the
    offset in the file, so they line up with a `Gate` in real-time replays.
    """

    def __init__(self, path: str | Path, realtime: bool = False,
                 chunk_seconds: float = CHUNK_SECONDS, start_time: float | None = None) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.chunk_samples = int(round(chunk_seconds * SAMPLE_RATE))
        self.start_time = start_time
        frames, rate = read_wav(self.path)
        self.file_rate = rate
        mono = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
        self.samples = to_int16(resample(mono, rate, SAMPLE_RATE) if rate != SAMPLE_RATE
                                else mono)
        self._closed = threading.Event()

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def chunks(self) -> Iterator[Chunk]:
        t0 = time.monotonic() if self.start_time is None else self.start_time
        n = self.chunk_samples
        for i in range(0, len(self.samples), n):
            if self._closed.is_set():
                return
            part = self.samples[i:i + n]
            start = t0 + i / SAMPLE_RATE
            end = start + len(part) / SAMPLE_RATE
            if self.realtime:
                delay = end - time.monotonic()
                if delay > 0 and self._closed.wait(delay):
                    return
            yield Chunk(part.astype("<i2").tobytes(), start, end)

    def close(self) -> None:
        self._closed.set()
