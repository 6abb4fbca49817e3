"""A hold for as long as you can (the wall press): counted up toward its goal, with milestones;
"done" records the seconds held, and the summary and the history track them against the goal."""

from __future__ import annotations

from pathlib import Path

import pytest
from sessiondriver import Driver

from voicecoach.app.view import ViewState, _headline
from voicecoach.core.plan import Plan, hold_start
from voicecoach.core.routine import RoutineError, load_routine, parse_routine

ROUTINES = Path(__file__).parent.parent / "routines"
HIPS = str(ROUTINES / "hips-for-knees.yaml")
PRESS = 3


def test_the_wall_press_is_a_hold_for_as_long_as_you_can_with_a_goal_of_45():
    routine = load_routine(HIPS)
    ex = routine.exercises[PRESS]
    assert ex.max_effort and ex.hold_seconds.max == 45
    summary = Plan(routine).work_summary(ex)
    assert "as long as you can" in summary and "45 seconds" in summary


def test_the_coach_counts_up_with_milestones_toward_the_goal():
    d = Driver(HIPS)
    d.until_block("hold", PRESS)
    start = len(d.log)
    d.until(lambda s: s.block.kind != "hold")
    said = d.texts(start)
    assert said[:4] == ["Hold.", "10 seconds.", "20 seconds.", "30 seconds."]
    assert said[4:9] == ["40 seconds. 5 to your goal.", "42", "43", "44",
                        "45 seconds. That's your goal. And release."]
    assert not any("to go" in t for t in said)  # counted up, not down
    record = d.events("set_finished")[-1].data
    assert (record["done"], record["target"], record["ended_early"]) == (45, 45, False)


def test_done_records_the_seconds_held_and_says_them_against_the_goal():
    d = Driver(HIPS)
    d.until_block("hold", PRESS)
    started = d.t + hold_start(d.session.block)
    d.advance(started + 32.4)
    d.say("status")
    assert "32 seconds held. Your goal is 45." in d.texts()[-1]
    d.say("done")
    record = d.events("set_finished")[-1].data
    assert record["done"] == 32.4 and record["target"] == 45 and record["ended_early"]
    assert "Good. You held 32 seconds. Your goal is 45." in d.texts()
    d.run_out()
    # The other five holds ran to the goal.
    assert "Standing isometric hip abduction: you held your goal of 45 seconds." in d.texts()


def test_the_summary_gives_the_longest_hold_when_the_goal_was_not_reached():
    d = Driver(HIPS)
    for _ in range(6):  # every wall press, ended after 20 to 25 seconds
        d.until(lambda s: s.block.kind == "hold" and s.block.exercise == PRESS)
        started = d.t + hold_start(d.session.block)
        d.advance(started + 20 + _)
        d.say("done")
    d.run_out()
    assert "Standing isometric hip abduction: your longest hold was 25 seconds, working up to 45." in d.texts()


def test_more_in_a_hold_for_as_long_as_you_can_does_not_say_fixed():
    d = Driver(HIPS)
    d.until_block("hold", PRESS)
    d.say("more")
    said = d.texts()[-1]
    assert "fixed" not in said and said == "Keep going as long as you can. Your goal is 45 seconds."


def test_the_view_counts_the_seconds_held_up_toward_the_goal():
    state = ViewState()
    state.apply({"type": "set_started", "kind": "hold", "exercise": "Wall press", "exercise_index": 3,
                 "target": 45, "top": 45, "max_effort": True, "countdown_from": 10.0, "deadline": 55.0,
                 "running": True, "t": 10.0})
    state.now = 22.0
    assert _headline(state, 22.0, 1.0) == ("12", "seconds held, goal 45")


def test_max_effort_needs_a_single_goal():
    text = """
name: press
title: Press
source: test
safety: [Careful.]
exercises:
  - name: Press
    steps: [Press.]
    hold_seconds: 30-45
    max_effort: true
"""
    with pytest.raises(RoutineError, match="max_effort: needs hold_seconds as one number"):
        parse_routine(text.encode(), "press.yaml")
