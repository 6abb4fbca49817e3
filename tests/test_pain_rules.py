"""The pain-monitoring rules on their own (Thomeé 1997; Silbernagel et al. 2007): what a score
before the session, a score during it and the record of the last sessions decide."""

from __future__ import annotations

import pytest

from voicecoach.core import pain_rules as pr
from voicecoach.core.pain_rules import PainLimits, Workout

LIMITS = PainLimits()


def test_the_default_limits_are_the_model_s():
    assert (LIMITS.stop, LIMITS.caution, LIMITS.rise) == (7, 5, 2)
    assert LIMITS.problems() == []


@pytest.mark.parametrize("stop, caution, rise, fault", [
    (5, 5, 2, "must be below the stop level"), (0, 0, 2, "stop level"), (7, 11, 2, "caution level"),
    (7, 5, 0, "rise limit"),
])
def test_limits_that_make_no_sense_are_named(stop, caution, rise, fault):
    assert any(fault in p for p in PainLimits(stop, caution, rise).problems())


@pytest.mark.parametrize("score, action", [
    (None, pr.NORMAL), (0, pr.NORMAL), (5, pr.NORMAL), (6, pr.REDUCED), (7, pr.STOP_TODAY), (10, pr.STOP_TODAY),
])
def test_a_before_score_decides_today(score, action):
    verdict = pr.before_session(score, LIMITS)
    assert verdict.action == action and verdict.reason
    if score is not None:
        assert f"{score} out of 10" in verdict.reason


def test_a_before_score_follows_other_limits():
    assert pr.before_session(5, PainLimits(stop=5, caution=3)).action == pr.STOP_TODAY
    assert pr.before_session(4, PainLimits(stop=5, caution=3)).action == pr.REDUCED


@pytest.mark.parametrize("score, action", [(None, pr.SKIP), (0, pr.CHOOSE), (4, pr.CHOOSE), (5, pr.SKIP),
                                           (9, pr.SKIP)])
def test_a_score_during_the_session_skips_at_or_above_caution_else_the_user_chooses(score, action):
    assert pr.during_session(score, LIMITS).action == action


def test_no_history_holds():
    assert pr.next_session([], LIMITS, finished=False).action == pr.HOLD


def test_a_step_up_needs_finished_sessions_and_pain_within_limits_that_did_not_rise():
    calm = [Workout(2, 2), Workout(3, 2), Workout(3, 3)]
    assert pr.next_session(calm, LIMITS, finished=True).action == pr.STEP_UP
    held = pr.next_session(calm, LIMITS, finished=False)
    assert held.action == pr.HOLD and "not every set" in held.reason
    # Pain went up a little in a recent session (below the rise limit): no step up, no step down.
    crept = pr.next_session([Workout(2, 2), Workout(2, 3)], LIMITS, finished=True)
    assert crept.action == pr.HOLD and "from 2 to 3" in crept.reason
    # Unknown scores (no check-ins) do not block progression on their own.
    assert pr.next_session([Workout(), Workout()], LIMITS, finished=True).action == pr.STEP_UP


def test_the_issue_s_example_steps_down_instead_of_stepping_up():
    """Two finished sessions scored 8 before and 9 after were followed by a step-up offer."""
    verdict = pr.next_session([Workout(8, 9), Workout(8, 9)], LIMITS, finished=True)
    assert verdict.action == pr.STEP_DOWN
    assert "above the caution level of 5" in verdict.reason and "down one step" in verdict.reason


@pytest.mark.parametrize("workouts, words", [
    ([Workout(2, 4)], "rose from 2 to 4 during the session"),
    ([Workout(4, 4), Workout(2, 2)], "rose from 2 to 4 since the session before"),
    ([Workout(1, 6)], "reached 6 out of 10 after"),
    ([Workout(1, 1, worst_during=6)], "reached 6 out of 10 during"),
])
def test_a_rise_of_two_or_pain_past_caution_steps_down(workouts, words):
    verdict = pr.next_session(workouts, LIMITS, finished=True)
    assert verdict.action == pr.STEP_DOWN and words in verdict.reason


def test_pain_at_the_caution_level_is_still_within_the_limits():
    # "Pain during exercise may reach about 5."
    assert pr.next_session([Workout(3, 3, worst_during=5), Workout(3, 3)], LIMITS, finished=True).action == pr.STEP_UP


def test_an_older_breach_holds_a_step_up_but_does_not_step_down():
    verdict = pr.next_session([Workout(2, 2), Workout(2, 5)], LIMITS, finished=True)
    assert verdict.action == pr.HOLD and "rose from 2 to 5" in verdict.reason
