"""The one table of command phrases, shared by typed and spoken input.

Every phrase a user may type or say maps to a canonical command name here.  The
recognizers build their grammars from this table and text mode parses typed
lines with it, so the two behave the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Canonical name -> (spoken phrases, one-line description for help).
# The first phrase of each entry is the one the coach teaches in its help text.
COMMAND_TABLE: dict[str, tuple[tuple[str, ...], str]] = {
    "next": (("next", "ready", "next one", "move on"), "go on to the next step"),
    "back": (("back", "previous", "go back"), "go back one step"),
    "repeat": (("repeat", "say again", "again", "say that again"), "say the last instruction again"),
    "done": (("done", "finished", "i'm done", "that's it"), "I finished this set or hold"),
    "more": (("more", "keep going", "one more"), "keep going to the top of the range"),
    "pause": (("pause", "wait", "hold on"), "pause the clock"),
    "resume": (("resume", "continue", "go", "start"), "carry on after a pause"),
    "skip": (("skip", "skip this", "skip exercise"), "skip this exercise"),
    "stop": (("stop", "quit", "end session"), "stop now and ask whether to end"),
    "slower": (("slower", "slow down"), "count more slowly"),
    "faster": (("faster", "speed up"), "count more quickly"),
    "status": (("status", "where am i", "how many left"), "say where we are"),
    "help": (("help", "what can i say"), "list the commands"),
    "yes": (("yes", "yeah", "yep"), "answer yes"),
    "no": (("no", "nope"), "answer no"),
    "pain": (("pain", "it hurts", "ouch"), "stop this exercise because it hurts"),
}

# The commands heard while the coach is talking (barge-in): short, distinct words a
# user needs at any moment; each is heard only as its own name, never as a longer phrase.
BARGE_IN: tuple[str, ...] = ("stop", "pain", "pause", "next", "repeat", "skip")

NUMBER_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five",
    "six", "seven", "eight", "nine", "ten",
)


@dataclass(frozen=True)
class Command:
    """A parsed command: its canonical name and, for `number`, the value said."""

    name: str
    value: int | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name} {self.value}"


_PHRASE_TO_NAME: dict[str, str] = {
    phrase: name for name, (phrases, _) in COMMAND_TABLE.items() for phrase in phrases
}
_NUMBER_TO_VALUE: dict[str, int] = {word: i for i, word in enumerate(NUMBER_WORDS)}


def normalize(text: str) -> str:
    """Lower-case, fold typographic apostrophes, drop punctuation and extra spaces."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def parse(text: str) -> Command | None:
    """Return the command a typed or recognized phrase means, or None.

    The whole utterance must be a command phrase: "next" is a command, "the next
    one please" is not.  Numbers 0-10, as digits or words, are `number`.
    """
    phrase = normalize(text)
    if phrase in _PHRASE_TO_NAME:
        return Command(_PHRASE_TO_NAME[phrase])
    if phrase in _NUMBER_TO_VALUE:
        return Command("number", _NUMBER_TO_VALUE[phrase])
    if phrase.isdigit() and 0 <= int(phrase) <= 10:
        return Command("number", int(phrase))
    return None


def all_phrases(include_numbers: bool = False) -> list[str]:
    """Every command phrase, for building a recognizer grammar."""
    phrases = list(_PHRASE_TO_NAME)
    if include_numbers:
        phrases.extend(NUMBER_WORDS)
    return phrases


def vocabulary(include_numbers: bool = False) -> list[str]:
    """Every distinct word that appears in a command phrase, sorted."""
    words = {w for p in all_phrases(include_numbers) for w in p.split()}
    return sorted(words)


def help_text() -> str:
    """A short spoken list of the main commands."""
    main = ("next", "back", "repeat", "done", "more", "pause", "resume",
            "skip", "stop", "slower", "faster", "status")
    return "You can say: " + ", ".join(COMMAND_TABLE[n][0][0] for n in main) + "."


def suggest(text: str) -> str | None:
    """The closest known phrase to an unknown input, for a did-you-mean hint."""
    import difflib

    match = difflib.get_close_matches(normalize(text), all_phrases(), n=1, cutoff=0.6)
    return match[0] if match else None
