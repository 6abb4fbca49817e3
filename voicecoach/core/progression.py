"""Progression: each exercise's current target and when to offer a step up.  Pure.

The history store supplies what was done (the sets of recent sessions, and whether
the last workouts were complete); these rules decide what it means for today.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from voicecoach.core.routine import Range, Routine

STEP_UP_REPS = 1
STEP_UP_SECONDS = 5


def _range(routine: Routine, e: int) -> Range:
    ex = routine.exercises[e]
    rng = ex.reps or ex.hold_seconds
    assert rng is not None
    return rng


def current_targets(routine: Routine, sessions: Iterable[Sequence[Mapping[str, Any]]]) -> dict[str, int]:
    """Each exercise's current target (reps or hold seconds), by exercise name.

    `sessions` are the sets of this routine's sessions that did any, newest first.  An
    exercise's target is the one it had in the newest session that did any of its sets (the
    lowest of them, should an older record hold a set stretched with "more"), kept within the
    routine's range; an exercise never done starts at the bottom of its range.
    """
    ranges = {ex.name: _range(routine, e) for e, ex in enumerate(routine.exercises)}
    targets: dict[str, int] = {}
    for sets in sessions:
        found: dict[str, float] = {}
        for s in sets:
            if s["exercise"] in ranges and s["exercise"] not in targets:
                found[s["exercise"]] = min(found.get(s["exercise"], s["target"]), s["target"])
        targets.update({name: int(t) for name, t in found.items()})
        if len(targets) == len(ranges):
            break
    return {name: min(rng.max, max(rng.min, targets.get(name, rng.min))) for name, rng in ranges.items()}


def step_up(routine: Routine, targets: Mapping[str, int], earned: bool) -> dict[int, int]:
    """New targets to offer, by exercise index, when the last workouts `earned` it.

    Each exercise below the top of its range is offered one more rep (reps) or five more
    seconds (holds), capped at the top.
    """
    if not earned:
        return {}
    offer: dict[int, int] = {}
    for e, ex in enumerate(routine.exercises):
        step = STEP_UP_REPS if ex.reps else STEP_UP_SECONDS
        new = min(_range(routine, e).max, int(targets[ex.name]) + step)
        if new > targets[ex.name]:
            offer[e] = new
    return offer


def raised_targets(routine: Routine, targets: Mapping[int, int]) -> dict[int, int]:
    """The targets above the bottom of their range, by exercise index: a step accepted in an
    earlier session stays, so the session starts from these, not from the bottom."""
    return {e: t for e, t in targets.items() if t > _range(routine, e).min}


def current_rounds(routine: Routine, sessions: Iterable[Sequence[Mapping[str, Any]]]) -> dict[str, int]:
    """Each exercise's rounds (a range such as "2-3 rounds"), by exercise name.

    `sessions` are as for `current_targets`; a set's record holds the rounds its session ran
    ("sets").  An exercise keeps the rounds of the newest session that did any of its sets, within
    the routine's range; one never done starts at the bottom of its range.
    """
    ranges = {ex.name: ex.sets for ex in routine.exercises}
    rounds: dict[str, int] = {}
    for sets in sessions:
        found: dict[str, int] = {}
        for s in sets:
            if s["exercise"] in ranges and s["exercise"] not in rounds:
                found[s["exercise"]] = max(found.get(s["exercise"], 0), int(s["sets"]))
        rounds.update(found)
        if len(rounds) == len(ranges):
            break
    return {name: min(rng.max, max(rng.min, rounds.get(name, rng.min))) for name, rng in ranges.items()}


def step_up_rounds(routine: Routine, targets: Mapping[str, int], rounds: Mapping[str, int],
                   earned: bool) -> dict[int, int]:
    """Rounds to offer, by exercise index, when the last workouts `earned` a step up.

    An exercise whose target is at the top of its range (so `step_up` has nothing more to give)
    and whose rounds are below the top of theirs is offered one more round; its target then
    starts again at the bottom of its range, so a step adds a little work, not half as much again.
    """
    if not earned:
        return {}
    return {e: rounds[ex.name] + 1 for e, ex in enumerate(routine.exercises)
            if targets[ex.name] >= _range(routine, e).max and rounds[ex.name] < ex.sets.max}
def step_down(routine: Routine, targets: Mapping[str, int]) -> dict[int, int]:
    """Targets one step lower (a rep, or five seconds of a hold), by exercise index, for the
    exercises above the bottom of their range: what the pain rules ask after a session that
    passed their limits."""
    lower: dict[int, int] = {}
    for e, ex in enumerate(routine.exercises):
        step = STEP_UP_REPS if ex.reps else STEP_UP_SECONDS
        new = max(_range(routine, e).min, int(targets[ex.name]) - step)
        if new < targets[ex.name]:
            lower[e] = new
    return lower


def reduced_targets(routine: Routine) -> dict[int, int]:
    """The bottom of every range, by exercise index: the targets of a day with pain above the
    caution level (the plan already does the fewest sets a range allows)."""
    return {e: _range(routine, e).min for e in range(len(routine.exercises))}
