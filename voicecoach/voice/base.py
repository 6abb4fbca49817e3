"""The ports between the coach and the outside world: what a Speaker and a Listener promise.

The runner talks only to these interfaces, so text mode, espeak-ng, pyttsx3, vosk
and PocketSphinx are interchangeable adapters and tests can swap in fakes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from voicecoach.core.commands import Command


@dataclass(frozen=True)
class Heard:
    """A command that a listener recognized.

    `start`, `end` and `emitted` are seconds of audio since the listener started
    (None for typed input): where the phrase began and ended, and when the
    listener decided.  `text` is what was heard, before mapping to `command`.
    """

    command: Command
    text: str
    start: float | None = None
    end: float | None = None
    emitted: float | None = None
    confidence: float | None = None


class Speaker(ABC):
    """Says cues.  `say` must not block for the length of the speech."""

    @abstractmethod
    def say(self, text: str) -> None:
        """Start saying `text`, cutting off anything still being said."""

    @abstractmethod
    def stop(self) -> None:
        """Cut off whatever is being said now."""

    def is_speaking(self) -> bool:
        """True while audio is still playing."""
        return False

    def prepare(self, phrases: list[str]) -> None:  # noqa: B027 - optional hook
        """Render phrases ahead of time (count words, fixed cues) so they start on time."""

    def set_gain_db(self, gain_db: float) -> None:  # noqa: B027 - optional hook
        """Play everything from now on `gain_db` decibels louder (printed text has no volume)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the audio device."""


class Listener(ABC):
    """Turns user input into commands, on a thread of its own."""

    @abstractmethod
    def start(self, on_heard: Callable[[Heard], None], on_closed: Callable[[str], None]) -> None:
        """Begin listening.  Call `on_heard` for every command and `on_closed(reason)`
        once if input ends for good (end of typed input, microphone gone)."""

    @abstractmethod
    def close(self) -> None:
        """Stop listening and release the device."""

    def expect_answers(self, on: bool) -> None:  # noqa: B027 - optional hook
        """A yes-or-no question is (or is no longer) open.

        An engine that can narrow its phrases hears "yes" and "no" only then, so
        words that sound like them ("know", "yet") cannot fire between questions.
        """

    def expect_numbers(self, on: bool) -> None:  # noqa: B027 - optional hook
        """The coach is (or is no longer) asking for a number from 0 to 10.

        Spoken numbers are heard only while it asks, so counting along out loud
        never makes the coach answer.  Typed input always understands numbers.
        """
