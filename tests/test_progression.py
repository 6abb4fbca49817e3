"""The progression rules on their own, without a database: current targets from recent
sessions, and the step-up offer."""

from __future__ import annotations

from pathlib import Path

from voicecoach.core.progression import current_targets, raised_targets, step_up
from voicecoach.core.routine import load_routine

MINI = load_routine(Path(__file__).parent / "fixtures" / "mini.yaml")  # Lifts 3-5, Wall press 20-30, Taps 2


def test_targets_come_from_the_newest_session_that_did_each_exercise():
    newest = [{"exercise": "Lifts", "target": 4}, {"exercise": "Lifts", "target": 5}]
    older = [{"exercise": "Lifts", "target": 3}, {"exercise": "Wall press", "target": 25}]
    assert current_targets(MINI, [newest, older]) == {"Lifts": 4, "Wall press": 25, "Taps": 2}
    assert current_targets(MINI, []) == {"Lifts": 3, "Wall press": 20, "Taps": 2}
    assert current_targets(MINI, [[{"exercise": "Lifts", "target": 99}]])["Lifts"] == 5  # within range


def test_a_step_up_is_offered_only_when_earned_and_below_the_top():
    targets = {"Lifts": 5, "Wall press": 20, "Taps": 2}
    assert step_up(MINI, targets, earned=False) == {}
    assert step_up(MINI, targets, earned=True) == {1: 25}
    assert raised_targets(MINI, {0: 5, 1: 20, 2: 2}) == {0: 5}
