"""`AudioListener`: microphone (or WAV) chunks -> gate -> recognizer -> commands, on a
thread of its own.

Chunks captured while the coach's audio plays (or in the gate's tail after it) are
never shown to the recognizer: the first such chunk resets it, dropping whatever
partial utterance it held (it may already contain the coach's first syllable), and
the recognizer's clock is advanced over them with `skip`, so the times it reports
stay "seconds of audio since listening started" for every chunk, fed or not.
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
                 gate: Gate | None = None) -> None:
        self.source = source
        self.recognizer = recognizer
        self.gate = gate
        self.chunks_fed = 0
        self.chunks_gated = 0
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
                if self.gate is not None and not self.gate.is_open(chunk.start, chunk.end):
                    if not gated:
                        self.recognizer.reset()
                        gated = True
                    self.recognizer.skip(chunk.duration)
                    self.chunks_gated += 1
                    continue
                gated = False
                self.chunks_fed += 1
                self._deliver(self.recognizer.accept(chunk.pcm), on_heard)
            if not self._stop.is_set():
                self._deliver(self.recognizer.flush(), on_heard)
            return "end of audio input"
        except AudioSourceLost as exc:
            return f"microphone lost: {exc}"
        except Exception as exc:  # a failing engine ends listening; the coach goes on
            log.exception("listener failed")
            return f"speech recognition failed: {type(exc).__name__}: {exc}"

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
