"""The streaming recognizer contract, and the helpers every speech engine shares.

A Recognizer turns 16-bit mono PCM into `Heard` commands.  It knows nothing about
microphones or threads: the listener (or `voicecoach recognize`) pushes audio in
with `accept`, and tells it about audio it did not feed (the coach speaking) with
`skip`, so the times it reports stay on one audio clock.

Rejection is a first-class outcome here: a hypothesis becomes a command only when
the whole utterance is one command phrase and the engine's confidence is high
enough.  Engines call `decide` for that so they all reject the same way.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

from voicecoach.core import commands
from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard

log = logging.getLogger(__name__)


class Recognizer(ABC):
    """Streaming command recognizer over int16 mono little-endian PCM at `sample_rate`.

    All times in the `Heard` it returns (`start`, `end`, `emitted`) are seconds of
    audio since the recognizer was created: every sample ever passed to `accept`
    plus every second passed to `skip`.
    """

    name: str
    sample_rate: int = 16000

    @abstractmethod
    def accept(self, pcm: bytes) -> list[Heard]:
        """Feed audio; return the commands decided while processing this chunk."""

    @abstractmethod
    def reset(self) -> None:
        """Drop any partial utterance (the clock keeps running)."""

    @abstractmethod
    def skip(self, seconds: float) -> None:
        """Advance the audio clock for `seconds` of audio that was not fed."""

    @abstractmethod
    def flush(self) -> list[Heard]:
        """End of input: decide on whatever utterance is pending."""

    def listen_for_answers(self, on: bool) -> None:  # noqa: B027 - engines may override it
        """Hear "yes" and "no" (a question is open), or stop; engines that cannot narrow
        their phrases always hear them."""

    def listen_while_speaking(self, on: bool) -> bool:
        """Hear only the short barge-in list (stop, pain, pause, next, repeat, skip), with a
        stricter acceptance, while the coach talks over the microphone; or go back to the
        full table.  Returns whether the engine can: one that cannot is never fed audio
        while the coach speaks (the listener stays half-duplex with it)."""
        return False

    def reset_state(self) -> None:
        """Return to the state of a newly made recognizer (clock at zero, nothing learnt
        from audio heard so far), so the next audio is judged on its own.

        Engines that can do this cheaply override it; the others raise, and a caller
        that needs it (`voicecoach recognize`, file by file) makes a new recognizer.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot reset its state")

    def listen_for_numbers(self, on: bool) -> None:  # noqa: B027 - engines override it
        """Also hear the numbers 0-10 (while the coach asks for a pain score), or stop.

        Off by default: a runner counting along under their breath must not make the
        coach answer.  An engine that cannot switch ignores this.
        """


class AudioClock:
    """Counts audio time for a recognizer: samples fed plus seconds skipped.

    Kept in integer samples so long sessions do not accumulate float error.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.samples = 0

    def advance_bytes(self, n_bytes: int) -> None:
        """Count `n_bytes` of int16 audio as fed."""
        self.samples += n_bytes // 2

    def advance_seconds(self, seconds: float) -> None:
        """Count `seconds` of audio as skipped."""
        if seconds < 0:
            raise ValueError("cannot skip a negative amount of audio")
        self.samples += round(seconds * self.sample_rate)

    @property
    def now(self) -> float:
        """Seconds of audio so far."""
        return self.samples / self.sample_rate


PhraseSpec = Mapping[str, str] | Iterable[str] | None


def phrase_table(phrases: PhraseSpec = None) -> dict[str, Command]:
    """Map each phrase a recognizer may hear to the command it means.

    `None` means every phrase of the command table.  A list picks phrases of the
    table (each must parse as a command).  A mapping gives phrase -> canonical
    command name, for models whose words are not English (the table's phrases
    cannot be said to a Korean model, but the vosk code path must still be tested).
    """
    if phrases is None:
        return {p: _must_parse(p) for p in commands.all_phrases()}
    if isinstance(phrases, Mapping):
        table: dict[str, Command] = {}
        for phrase, name in phrases.items():
            if name not in commands.COMMAND_TABLE:
                raise ValueError(f"unknown command name {name!r} for phrase {phrase!r}")
            table[clean(phrase)] = Command(name)
        return table
    return {clean(p): _must_parse(p) for p in phrases}


def number_table() -> dict[str, Command]:
    """The spoken numbers 0-10 as `number` commands."""
    return {word: Command("number", value) for value, word in enumerate(commands.NUMBER_WORDS)}


def _must_parse(phrase: str) -> Command:
    command = commands.parse(phrase)
    if command is None:
        raise ValueError(f"{phrase!r} is not a phrase of the command table")
    return command


def clean(text: str) -> str:
    """Lower-case and collapse spaces without dropping non-Latin letters."""
    return " ".join(text.lower().replace("\u2019", "'").split())


def decide(
    words: list[str],
    confidences: list[float],
    table: Mapping[str, Command],
    min_confidence: float,
    garbage: Iterable[str] = (),
) -> tuple[Command | None, str]:
    """Turn one utterance's words into a command, or None to reject it.

    Rejected when: any word is a garbage/unknown entry (the speaker said something
    else as well, so it is not a bare command), the words together are not exactly
    one phrase of `table`, or the weakest word's confidence is below `min_confidence`
    (the weakest, not the mean, because a confident "next" must not carry a guessed
    second word).  Returns the command and the text heard.
    """
    garbage_set = set(garbage)
    text = " ".join(words)
    if not words or any(w in garbage_set for w in words):
        return None, text
    command = table.get(clean(text))
    if command is None:
        return None, text
    if confidences and min(confidences) < min_confidence:
        return None, text
    return command, text


def make_heard(
    command: Command,
    text: str,
    start: float,
    end: float,
    emitted: float,
    confidence: float | None,
) -> Heard:
    """Build a Heard whose times respect start < end <= emitted.

    Engines report word boundaries on a 10-30 ms frame grid and decide on chunk
    boundaries; rounding can put `end` a frame past the decision point, which would
    claim the decision came before the speech ended.
    """
    end = min(end, emitted)
    start = min(start, end - 0.01)
    return Heard(
        command=command,
        text=text,
        start=round(max(start, 0.0), 3),
        end=round(end, 3),
        emitted=round(emitted, 3),
        confidence=None if confidence is None else round(confidence, 3),
    )
