"""Recognizers that cut the stream into utterances first, then decide on each one.

PocketSphinx's voice-activity endpointer (it ships in the core install) finds where
speech starts and ends; a subclass only says what to do with an utterance's audio
(`_begin`, `_feed`, `_finish`, `_abort`).  The bundled PocketSphinx engine decodes
while the speech goes on; the Whisper engine transcribes the utterance once it ends.
Either way the decoder only works while someone speaks, so listening to a quiet
room costs almost nothing.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from voicecoach.voice.base import Heard
from voicecoach.voice.recognizer import AudioClock, Recognizer

# Endpointer: a decision window of 0.2 s with 90% agreement.  Measured on two
# voices: 0.3 s -> latency median 510 / p95 560 ms; 0.2 s -> 416 / 472 ms with the
# same accuracy and false activations (the pauses inside two-word commands are
# shorter than that).
EP_WINDOW = 0.2
EP_RATIO = 0.9

# Standard deviation, in int16 units, of the noise floor added to the input (about
# -64 dBFS: inaudible, far below any room noise, but no frame is ever all zeros).
# PocketSphinx's features and its endpointer misbehave on digital silence.
NOISE_FLOOR = 20.0

# An utterance longer than this is not a bare command; stop keeping it (saves CPU
# on long chatter) and reject it when it ends.
MAX_UTTERANCE_S = 4.0


class EndpointedRecognizer(Recognizer):
    """The Recognizer contract on top of an endpointer; subclasses decide per utterance."""

    def __init__(self, sample_rate: int = 16000, seed: int = 0) -> None:
        self.sample_rate = sample_rate
        self._endpointer_args = dict(window=EP_WINDOW, ratio=EP_RATIO, sample_rate=sample_rate)
        self._rng = np.random.default_rng(seed)
        self._clock = AudioClock(sample_rate)
        self._new_stream()

    # -- what a subclass provides --------------------------------------------------

    @abstractmethod
    def _begin(self) -> None:
        """An utterance starts (`self._utt_start` is its clock time)."""

    @abstractmethod
    def _feed(self, speech: bytes) -> None:
        """More audio of the utterance (only while it is under MAX_UTTERANCE_S)."""

    @abstractmethod
    def _finish(self) -> Heard | None:
        """The utterance ended: the command it was, or None."""

    def _abort(self) -> None:  # noqa: B027 - optional hook
        """The utterance is dropped unfinished (reset, skip)."""

    # -- the Recognizer contract -------------------------------------------------

    def accept(self, pcm: bytes) -> list[Heard]:
        """Feed int16 mono audio; return commands decided in this chunk."""
        heard: list[Heard] = []
        # The whole chunk counts as fed now: a decision made in it is "emitted" at
        # the chunk's end, which is when a caller could first act on it.
        self._clock.advance_bytes(len(pcm))
        data = self._pending + pcm
        n_frames = len(data) // self._frame_bytes
        used = n_frames * self._frame_bytes
        self._pending = data[used:]
        if n_frames:
            frames = self._dither(data[:used])
            for i in range(n_frames):
                frame = frames[i * self._frame_bytes:(i + 1) * self._frame_bytes]
                speech = self._ep.process(frame)
                result = self._step(speech)
                if result is not None:
                    heard.append(result)
        return heard

    def reset(self) -> None:
        """Drop any partial utterance; keep the clock."""
        if self._in_utt:
            self._abort()
        self._new_stream()

    def skip(self, seconds: float) -> None:
        """Advance the clock for unfed audio; an utterance cannot span the gap."""
        self.reset()
        self._clock.advance_seconds(seconds)
        self._base = self._clock.now

    def flush(self) -> list[Heard]:
        """End of input: decide on the pending utterance, if any."""
        tail = self._dither(self._pending) if self._pending else b""
        self._pending = b""
        # end_stream() rejects an empty buffer (IndexError in pocketsphinx 5.1).
        speech = self._ep.end_stream(tail) if tail else None
        heard: list[Heard] = []
        if speech is not None:
            if not self._in_utt:
                self._start_utterance()
            self._take(speech)
        if self._in_utt:
            result = self._end_utterance()
            if result is not None:
                heard.append(result)
        self._new_stream()
        return heard

    # -- internals ---------------------------------------------------------------

    @property
    def _too_long(self) -> bool:
        return self._utt_samples > MAX_UTTERANCE_S * self.sample_rate

    def _make_endpointer(self):  # noqa: ANN202 - pocketsphinx.Endpointer or a look-alike
        import pocketsphinx

        return pocketsphinx.Endpointer(**self._endpointer_args)

    def _new_stream(self) -> None:
        self._ep = self._make_endpointer()
        self._frame_bytes = self._ep.frame_bytes
        self._pending = b""
        # Clock time (seconds) at which this endpointer's stream began.
        self._base = self._clock.now
        self._in_utt = False
        self._utt_start = 0.0
        self._utt_samples = 0

    def _dither(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        samples += self._rng.normal(0.0, NOISE_FLOOR, samples.shape).astype(np.float32)
        return np.clip(samples, -32768, 32767).astype("<i2").tobytes()

    def _step(self, speech: bytes | None) -> Heard | None:
        if speech is not None:
            if not self._in_utt:
                self._start_utterance()
            self._take(speech)
            if self._ep.in_speech:
                return None
        if self._in_utt and not self._ep.in_speech:
            return self._end_utterance()
        return None

    def _start_utterance(self) -> None:
        self._in_utt = True
        self._utt_start = self._base + self._ep.speech_start
        self._utt_samples = 0
        self._begin()

    def _take(self, speech: bytes) -> None:
        self._utt_samples += len(speech) // 2
        if speech and not self._too_long:
            self._feed(speech)

    def _end_utterance(self) -> Heard | None:
        self._in_utt = False
        return self._finish()
