"""What a session has done so far, told by its events: the one definition of a set done.

A set is one (exercise, round, side): a routine of 3 rounds on each of two sides has 6
sets.  A set is done when its last record did something (a rep counted, a second held):
"done" right after "Begin." ends the set but does not make it done.  Finishing the same
set again (after "back") replaces its earlier record, so it is counted once, and the
history keeps one row per set the same way.  The session's spoken summary and its
`session_end` record, the live view and the plain view all count with this, from the
same `set_finished`, `exercise_skipped` and `pain_score` events; the history's SQL says
the same rule in its own words (`history.DONE_SQL`), and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SetKey = tuple[int, int, int]


def is_done(record: dict[str, Any]) -> bool:
    """Whether a `set_finished` record (or a history row) counts as a set done."""
    return float(record.get("done") or 0) > 0


def set_key(record: dict[str, Any]) -> SetKey:
    """(exercise index, set number, side index) of a `set_finished` or `set_started` record."""
    return (int(record["exercise_index"]), int(record.get("set") or 1), int(record.get("side_index") or 0))


@dataclass
class Tally:
    """The sets finished (last record of each), the exercises skipped and the pain scores."""

    sets: dict[SetKey, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    pain: dict[str, int] = field(default_factory=dict)

    def apply(self, kind: str, data: dict[str, Any]) -> None:
        """Take in one event (its type and its data)."""
        if kind == "set_finished":
            self.sets[set_key(data)] = dict(data)
        elif kind == "exercise_skipped":
            name = str(data.get("exercise", ""))
            if name not in self.skipped:
                self.skipped.append(name)
        elif kind == "pain_score" and data.get("score") is not None:
            self.pain[str(data["when"])] = int(data["score"])

    @property
    def done_keys(self) -> set[SetKey]:
        """The sets done: those whose last record did something."""
        return {key for key, record in self.sets.items() if is_done(record)}

    @property
    def sets_done(self) -> int:
        return len(self.done_keys)

    def done_before(self, before: set[SetKey] | frozenset[SetKey]) -> set[SetKey]:
        """The sets of `before` (done by the sessions this one resumes) not recorded again here."""
        return {key for key in before if key not in self.sets}

    def done_in_all(self, before: set[SetKey] | frozenset[SetKey]) -> int:
        """The sets done in this session and in the ones it resumes, each counted once."""
        return len(self.done_keys | self.done_before(before))
