"""The one table of command phrases, shared by typed and spoken input.

Every phrase a user may type or say maps to a canonical command name here.  The
recognizers build their grammars from this table and text mode parses typed
lines with it, so the two behave the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandSpec:
    """One command: what to say for it, what it does, and when it applies."""

    name: str
    phrases: tuple[str, ...]
    """Every phrase that means it; the first is the one help teaches."""
    does: str
    """What it does, for the README's table."""
    while_paused: bool = False
    """Works while paused without resuming the clock (the others resume it first)."""
    answers: bool = False
    """An answer to a question: listened for only while one is open."""
    in_help: bool = True
    """Named in the spoken help and the CLI's epilog."""
    shown_as: str = ""
    """How the README's table shows the phrases when not "first (the others)"."""

    def label(self) -> str:
        """The README's "say" cell."""
        if self.shown_as:
            return self.shown_as
        first, *others = self.phrases
        label = f"{first} ({', '.join(others)})" if others else first
        return re.sub(r"\bi\b", "I", label)


# The one table of commands.  The spoken help, the CLI's epilog, the recognizers'
# grammars and the README's table are all built from it.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("next", ("next", "ready", "next one", "move on"),
                'go on to the next step; during a set it ends the set (in a set with parts, the part), like '
                '"done"'),
    CommandSpec("back", ("back", "previous", "go back"),
                "restart the current step if it has run for more than 3 seconds, else go to the previous "
                "step (exercise introduction or set), across exercises too"),
    CommandSpec("repeat", ("repeat", "say again", "again", "say that again"),
                "say the last instruction again; while getting into position, read the steps again",
                while_paused=True),
    CommandSpec("done", ("done", "finished", "i'm done", "that's it"),
                "I finished this set or hold now; it is recorded with what you did (in a set with parts: this "
                "part, on to the next)"),
    CommandSpec("more", ("more", "keep going", "one more"),
                "during a set, keep counting to the top of its range (10-15 reps count to 10 unless you "
                "say more)"),
    CommandSpec("pause", ("pause", "wait", "hold on"),
                "stop the clock; nothing is said until you resume", while_paused=True),
    CommandSpec("resume", ("resume", "continue", "go", "start"),
                "carry on after a pause; while the steps are read, on to the countdown; while getting into "
                "position, start now"),
    CommandSpec("skip", ("skip", "skip this", "skip exercise"), "skip this exercise"),
    CommandSpec("stop", ("stop", "quit", "end session"),
                'stop at once and ask: "yes" ends the session with a summary, "no" carries on',
                while_paused=True),
    CommandSpec("slower", ("slower", "slow down"),
                "count a quarter more slowly, for this and later sets", while_paused=True),
    CommandSpec("faster", ("faster", "speed up"),
                "count a quarter more quickly, for this and later sets", while_paused=True),
    CommandSpec("louder", ("louder", "volume up"),
                "speak 3 dB louder for the rest of the session", while_paused=True),
    CommandSpec("status", ("status", "where am i", "how many left"),
                "exercise, set, side, count or seconds to go, exercises left", while_paused=True),
    CommandSpec("help", ("help", "what can i say"), "the list of commands", while_paused=True),
    CommandSpec("pain", ("pain", "it hurts", "ouch"),
                "in any moment: stop the clock and ask how bad it is (0 to 10); at or above the caution "
                'level (5) the exercise is skipped, below it "skip" moves on, "resume" carries on, "stop" '
                "ends (see Pain-guided training)", while_paused=True),
    CommandSpec("yes", ("yes", "yeah", "yep"), "answer a question", answers=True, in_help=False),
    CommandSpec("no", ("no", "nope"), "answer a question", answers=True, in_help=False),
    CommandSpec("number", (), "your knee pain, when asked (spoken numbers are listened for only while the "
                "coach asks, so counting along out loud never makes it answer; typed, only plain digits "
                "count: `-1` or `007` get the question again)",
                while_paused=True, answers=True, in_help=False, shown_as="0 to 10 (zero ... ten)"),
    CommandSpec("harder", ("harder", "make it harder"), "how to make this exercise harder, when it has a "
                "harder version (also said after its sets)", while_paused=True),
    CommandSpec("start_anyway", ("start anyway", "train anyway"),
                "when the coach advises not to train today because of knee pain, train anyway at the easiest "
                "targets", answers=True, in_help=False),
)

BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}

# Canonical name -> (spoken phrases, one-line description), for the recognizers; the
# numbers are parsed apart (see `parse`).
COMMAND_TABLE: dict[str, tuple[tuple[str, ...], str]] = {
    spec.name: (spec.phrases, spec.does) for spec in COMMANDS if spec.phrases
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
_PLAIN_SCORE_RE = re.compile(r"[0-9]|10")


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
    # Digits as typed, not as normalized: "-1" would become "1" and "007" 7.
    if phrase.isdigit() and _PLAIN_SCORE_RE.fullmatch(text.strip().rstrip(".!")):
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


def help_names() -> list[str]:
    """The commands help names, in the table's order."""
    return [spec.phrases[0] for spec in COMMANDS if spec.in_help]


def help_text() -> str:
    """The spoken list of the commands."""
    return "You can say: " + ", ".join(help_names()) + "."


def works_while_paused(name: str) -> bool:
    """Whether `name` leaves a paused clock stopped (the others resume it first)."""
    spec = BY_NAME.get(name)
    return spec is not None and spec.while_paused


def is_answer(name: str) -> bool:
    """Whether `name` only means something as the answer to a question."""
    spec = BY_NAME.get(name)
    return spec is not None and spec.answers


def readme_table() -> str:
    """The README's table of commands, in Markdown."""
    rows = ["| say | what it does |", "| --- | --- |"]
    rows += [f"| {spec.label()} | {spec.does} |" for spec in COMMANDS]
    return "\n".join(rows) + "\n"


def suggest(text: str) -> str | None:
    """The closest known phrase to an unknown input, for a did-you-mean hint."""
    import difflib

    match = difflib.get_close_matches(normalize(text), all_phrases(), n=1, cutoff=0.6)
    return match[0] if match else None
