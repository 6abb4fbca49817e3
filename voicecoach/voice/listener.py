"""`AudioListener`: microphone (or WAV) chunks -> gate -> recognizer -> commands, on a
thread of its own.

Chunks captured while the coach's audio plays (or in the gate's tail after it) are
never shown to the recognizer: the first such chunk resets it, dropping whatever
partial utterance it held (it may already contain the coach's first syllable), and
the recognizer's clock is advanced over them with `skip`, so the times it reports
stay "seconds of audio since listening started" for every chunk, fed or not.

With barge-in (a `BargeIn` given, the echo path measured, and an engine that can
narrow its phrases), chunks captured while the coach speaks are not dropped: the
echo canceller's residual is fed, the recognizer listens only for the short barge-in
list, and a command decided over audio that was mostly the coach's own echo (the
double-talk check) is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from voicecoach.voice.base import Heard, Listener
from voicecoach.voice.gate import Gate
from voicecoach.voice.microphone import AudioSource, AudioSourceLost

if TYPE_CHECKING:  # the recognizer module belongs to the engines; only its contract matters
    from voicecoach.voice.barge_in import BargeIn
    from voicecoach.voice.recognizer import Recognizer

log = logging.getLogger(__name__)

# A capture gap longer than this (dropped audio) is skipped on the recognizer's
# clock too, so its times keep matching the wall clock.
_GAP_SECONDS = 0.05


class AudioListener(Listener):
    """Listens to `source` through `recognizer`, deaf while `gate` says the coach speaks.

    `gate=None` hears everything (replaying recordings with `voicecoach recognize`).
    """

    def __init__(self, source: AudioSource, recognizer: Recognizer,
                 gate: Gate | None = None, barge_in: BargeIn | None = None) -> None:
        self.source = source
        self.recognizer = recognizer
        self.gate = gate
        self.barge_in = barge_in
        self.chunks_fed = 0
        self.chunks_gated = 0
        self.chunks_over_speech = 0
        """Chunks fed while the coach spoke (barge-in)."""
        self.dropped_as_echo: list[Heard] = []
        """Commands the double-talk check took for the coach's own voice."""
        self.first_chunk_time: float | None = None
        """Monotonic capture time of the first chunk: audio time 0 of the recognizer."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set by the runner's thread, applied by this one between chunks.
        self._numbers_wanted = False
        self._answers_wanted = False

    def start(self, on_heard: Callable[[Heard], None], on_closed: Callable[[str], None]) -> None:
        if self._thread is not None:
            raise RuntimeError("the listener is already started")

        def main() -> None:
            reason = self.run(on_heard)
            if not self._stop.is_set():
                on_closed(reason)

        self._thread = threading.Thread(target=main, name="audio-listener", daemon=True)
        self._thread.start()

    def run(self, on_heard: Callable[[Heard], None]) -> str:
        """Listen on this thread until the input ends or `close`; return why it ended."""
        gated = False
        last_end: float | None = None
        numbers = answers = False
        # None: not asked yet; False: the engine cannot narrow (half-duplex only).
        can_barge_in: bool | None = None if self.barge_in is not None else False
        speaking = False
        try:
            for chunk in self.source.chunks():
                if self._stop.is_set():
                    return "closed"
                if self._numbers_wanted != numbers:
                    numbers = self._numbers_wanted
                    self.recognizer.listen_for_numbers(numbers)
                if self._answers_wanted != answers:
                    answers = self._answers_wanted
                    self.recognizer.listen_for_answers(answers)
                if self.first_chunk_time is None:
                    self.first_chunk_time = chunk.start
                if last_end is not None and chunk.start - last_end > _GAP_SECONDS:
                    self.recognizer.skip(chunk.start - last_end)
                last_end = chunk.end
                pcm = chunk.pcm
                if self.barge_in is not None:
                    pcm = self.barge_in.process(chunk).astype("<i2").tobytes()
                closed = self.gate is not None and not self.gate.is_open(chunk.start, chunk.end)
                ready = self.barge_in is not None and self.barge_in.ready
                if can_barge_in is None and ready:
                    can_barge_in = self.recognizer.listen_while_speaking(False)
                if closed and not (can_barge_in and ready):
                    if not gated:
                        self.recognizer.reset()
                        gated = True
                    self.recognizer.skip(chunk.duration)
                    self.chunks_gated += 1
                    continue
                gated = False
                if closed != speaking:  # only ever True with barge-in
                    speaking = closed
                    self.recognizer.listen_while_speaking(speaking)
                self.chunks_fed += 1
                self.chunks_over_speech += closed
                self._deliver(self._judge(self.recognizer.accept(pcm)), on_heard)
            if not self._stop.is_set():
                self._deliver(self.recognizer.flush(), on_heard)
            return "end of audio input"
        except AudioSourceLost as exc:
            return f"microphone lost: {exc}"
        except Exception as exc:  # a failing engine ends listening; the coach goes on
            log.exception("listener failed")
            return f"speech recognition failed: {type(exc).__name__}: {exc}"

    def _judge(self, heard: list[Heard]) -> list[Heard]:
        """Drop commands decided over audio that was mostly the coach's echo."""
        if self.barge_in is None or not heard or self.first_chunk_time is None:
            return heard
        from voicecoach.voice.barge_in import DOUBLE_TALK_DB

        kept = []
        for h in heard:
            share = self.barge_in.echo_share_db(self.first_chunk_time + h.start,
                                                self.first_chunk_time + h.end)
            if share is not None and share < DOUBLE_TALK_DB:
                log.info("dropped %s: %.1f dB of it survived echo cancellation", h.command, share)
                self.dropped_as_echo.append(h)
                continue
            kept.append(h)
        return kept

    def expect_numbers(self, on: bool) -> None:
        self._numbers_wanted = on

    def expect_answers(self, on: bool) -> None:
        self._answers_wanted = on

    def _deliver(self, heard: list[Heard], on_heard: Callable[[Heard], None]) -> None:
        for h in heard:
            if self._stop.is_set():
                return
            try:
                on_heard(h)
            except Exception:  # the runner's bug must not stop the ears
                log.exception("on_heard failed for %s", h)

    def close(self) -> None:
        self._stop.set()
        self.source.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
