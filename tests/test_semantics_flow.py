"""Order, flow and replies that fit: the welcome first, "go", "no" and "repeat" before a set,
"done" in a set with parts, and the replies to more, slower, status and help."""

from __future__ import annotations

from pathlib import Path

from sessiondriver import Driver

from voicecoach.core.commands import COMMANDS
from voicecoach.core.session import SessionOptions

ROUTINES = Path(__file__).parent.parent / "routines"
HIPS = str(ROUTINES / "hips-for-knees.yaml")


def test_the_welcome_comes_before_every_opening_question():
    d = Driver(options=SessionOptions(checkins=True, resume_at=(0, 2, 0), step_up={0: 4}))
    said = d.texts()
    assert said[0] == "Welcome. This is Mini routine."
    assert said[1].startswith("Last time you stopped at")
    assert d.session.question.kind == "resume"


def test_the_introduction_goes_on_at_once_after_the_opening_question():
    d = Driver(options=SessionOptions(checkins=True))
    before = len(d.log)
    d.say("skip")  # no score today
    assert d.texts(before) == [d.plan.blocks[0].cues[1].text]


def test_go_while_the_steps_are_read_starts_the_get_into_position_countdown():
    d = Driver()
    d.until_block("exercise", 0)
    d.advance(d.t + 1)
    before = len(d.log)
    d.say("resume")  # "go"
    assert d.session.block.kind == "ready"
    assert d.texts(before)[0].startswith("Get into position.")
    assert "already going" not in " ".join(d.texts(before))


def test_no_while_getting_into_position_waits_for_go():
    d = Driver()
    d.until_block("ready", 0)
    d.say("no")
    assert d.texts()[-1] == "Take your time. Say go when you're ready."
    d.advance(d.t + 300)
    assert d.session.block.kind == "ready" and not d.events("set_started")
    d.say("resume")
    assert d.session.block.kind == "reps" and d.session.block.exercise == 0


def test_repeat_while_getting_into_position_reads_the_steps_only_then_counts_down_again():
    d = Driver(HIPS)
    d.until_block("ready", 2)
    before = len(d.log)
    d.say("repeat")
    d.until_block("ready", 2)
    said = d.texts(before)
    ex = d.plan.routine.exercises[2]
    assert said[:len(ex.steps)] == list(ex.steps)
    assert said[len(ex.steps)].startswith("Each set has 3 parts")
    assert not any(t.startswith("Exercise 3 of 4") for t in said)  # not the whole introduction
    assert said[-1].startswith("Get into position.")
    d.until(lambda s: s.block.kind == "reps")
    assert d.session.block.exercise == 2


def test_done_during_a_part_moves_to_the_next_part_not_the_next_set():
    d = Driver(HIPS)
    d.until_block("reps", 2)
    start = len(d.events("count"))
    d.until(lambda s: s.counts_fired == 2)
    before = len(d.log)
    d.say("done")
    assert d.session.block.kind == "reps"
    assert d.texts(before) == ["Next part.", "Tap behind you."]
    d.say("next")
    assert d.texts()[-1] == "Tap in front of you."
    d.until(lambda s: s.block.kind != "reps")
    record = d.events("set_finished")[-1].data
    # 2 taps to the side, none behind, 5 in front: 7 of 15, an early end.
    assert record["ended_early"] and record["done"] == round(7 / 3, 1)
    counts = [e.data["count"] for e in d.events("count")[start:]]
    assert counts == [1, 2, 1, 2, 3, 4, 5]


def test_done_in_the_last_part_ends_the_set():
    d = Driver(HIPS)
    d.until_block("reps", 2)
    d.say("done")
    d.say("done")
    assert d.session.block.kind == "reps"
    d.say("done")
    assert d.session.block.kind == "switch"


def test_more_on_a_fixed_target_says_it_is_fixed():
    d = Driver()
    d.until_block("reps", 2)  # Taps: 2 reps, not a range
    d.say("more")
    assert d.texts()[-1] == "This set is a fixed 2."


def test_slower_during_a_hold_says_it_applies_to_the_next_set_of_reps():
    d = Driver()
    d.until_block("hold", 1)
    d.say("slower")
    assert d.texts()[-1] == "A hold has no count. I'll count slower from the next set of reps."
    d.until_block("reps", 2)
    assert d.session.scale == 1.25


def test_status_while_switching_sides_says_so():
    d = Driver()
    d.until_block("switch", 0)
    d.say("status")
    assert d.texts()[-1].startswith("Exercise 1 of 3, Lifts. Switching sides. Next: right leg.")


def test_help_names_every_command_in_the_table_pain_included():
    d = Driver()
    d.say("help")
    said = d.texts()[-1]
    for spec in COMMANDS:
        if spec.in_help:
            assert spec.phrases[0] in said
    assert "pain" in said


def test_pause_then_resume_while_getting_into_position_carries_the_countdown_on():
    d = Driver()
    d.until_block("ready", 0)
    d.say("pause")
    d.say("resume")
    assert d.texts()[-1] == "Carrying on." and d.session.block.kind == "ready"
