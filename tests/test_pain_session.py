"""Pain-aware coaching in scripted sessions with a fake clock: a 10 before the session stops
it, a 6 reduces it, "pain" works in every phase and its score decides what happens next."""

from __future__ import annotations

from pathlib import Path

import pytest
from sessiondriver import FIXTURES, Driver

from voicecoach.core import commands, pain_rules
from voicecoach.core.pain_rules import PainLimits, Verdict
from voicecoach.core.session import Say, SessionOptions

SAFETY = "Stop if it hurts."  # mini.yaml's safety line


def kind(d: Driver) -> str | None:
    return None if d.session.question is None else d.session.question.kind


def decisions(d: Driver) -> list[tuple[str, str]]:
    return [(e.data["kind"], e.data["reason"]) for e in d.events("decision")]


def targets(d: Driver) -> dict[str, float]:
    return {e.data["exercise"]: e.data["target"] for e in d.events("set_finished")}


# ----- before the session ------------------------------------------------------------------


def test_a_10_before_the_session_advises_not_to_train_and_silence_ends_it():
    d = Driver(options=SessionOptions(checkins=True))
    before = len(d.log)
    d.say("number", 10)
    said = " ".join(d.texts(before))
    assert "better not to train today" in said and "physiotherapist or doctor" in said
    assert kind(d) == "stop_today" and "start anyway" in d.texts()[-1]
    assert decisions(d)[0][0] == pain_rules.STOP_TODAY and "10 out of 10" in decisions(d)[0][1]
    d.run_out()
    assert d.session.outcome == "stopped" and not d.events("set_finished")
    # No closing check-in after a session that never started.
    assert [e.data["kind"] for e in d.events("question")] == ["checkin_before", "stop_today"]


def test_stop_or_no_at_the_stop_level_ends_the_session_at_once():
    for answer in ("stop", "no"):
        d = Driver(options=SessionOptions(checkins=True))
        d.say("number", 8)
        d.say(answer)
        assert d.session.finished and d.session.outcome == "stopped"
        assert d.texts()[-1] == "Rest today, and take care."
        [end] = d.events("session_end")
        assert end.data["sets_done"] == 0 and end.data["pain"] == {"before": 8}


def test_start_anyway_trains_at_the_bottom_of_every_range():
    d = Driver(options=SessionOptions(checkins=True, step_up={0: 5}))
    d.say("yes")  # the step-up offer comes first and is accepted...
    d.say("number", 9)
    assert kind(d) == "stop_today"
    assert commands.parse("start anyway") == commands.Command("start_anyway")
    d.say("start_anyway")
    assert any("go easy" in t for t in d.texts())
    d.run_out()
    # ...but a day at the stop level trains at the bottom of each range all the same.
    assert targets(d) == {"Lifts": 3, "Wall press": 20, "Taps": 2}
    assert [k for k, _ in decisions(d)] == [pain_rules.STOP_TODAY, "start_anyway"]


def test_a_6_before_the_session_reduces_the_targets_and_says_so():
    d = Driver(options=SessionOptions(checkins=True))
    d.session.targets.update({0: 5, 1: 30})  # steps accepted in earlier sessions
    before = len(d.log)
    d.say("number", 6)
    said = " ".join(d.texts(before))
    assert "above 5 today, so we'll go easy" in said and "lowest number of reps" in said
    assert decisions(d) == [(pain_rules.REDUCED, pain_rules.before_session(6, PainLimits()).reason)]
    d.run_out()
    assert targets(d) == {"Lifts": 3, "Wall press": 20, "Taps": 2}


def test_a_5_before_the_session_keeps_the_targets():
    d = Driver(options=SessionOptions(checkins=True))
    d.session.targets.update({0: 5})
    d.say("number", 5)
    d.run_out()
    assert targets(d)["Lifts"] == 5 and decisions(d) == []


def test_a_reduced_day_withdraws_the_step_up_offer():
    d = Driver(options=SessionOptions(checkins=True, step_up={0: 5}))
    # The pain check-in is asked first; a score above the caution level means no step up today.
    assert kind(d) == "checkin_before"
    d.say("number", 6)
    assert d.session.question is None or kind(d) != "step_up"
    d.run_out()
    assert targets(d)["Lifts"] == 3 and not any("Shall we step up" in t for t in d.texts())


def test_a_calm_day_is_offered_the_step_up_after_the_pain_check_in():
    d = Driver(options=SessionOptions(checkins=True, step_up={0: 5}))
    d.say("number", 2)
    assert kind(d) == "step_up"
    d.say("yes")
    d.run_out()
    assert targets(d)["Lifts"] == 5


def test_routine_limits_change_what_a_score_means():
    d = Driver(options=SessionOptions(checkins=True, pain_limits=PainLimits(stop=5, caution=3)))
    d.say("number", 5)
    assert kind(d) == "stop_today"


SORE = """\
name: sore
title: Sore day
source: Test fixture
safety: [Stop if it hurts.]
exercises:
  - name: Lifts
    steps: [Lift.]
    reps: 2
    tempo: {up: 1, top: 0, down: 1, bottom: 0}
  - name: Jumps
    steps: [Jump.]
    reps: 2
    skip_when_sore: true
    tempo: {up: 1, top: 0, down: 1, bottom: 0}
"""


def test_exercises_marked_skip_when_sore_are_left_out_on_a_reduced_day(tmp_path: Path):
    path = tmp_path / "sore.yaml"
    path.write_text(SORE, encoding="utf-8")
    d = Driver(str(path), options=SessionOptions(checkins=True))
    d.say("number", 6)
    assert any("leave out Jumps today" in t for t in d.texts())
    d.run_out()
    assert [e.data["exercise"] for e in d.events("exercise_skipped")] == ["Jumps"]
    calm = Driver(str(path), options=SessionOptions(checkins=True))
    calm.say("number", 2)
    calm.run_out()
    assert not calm.events("exercise_skipped")


# ----- "pain" during the session --------------------------------------------------------------


def reach(d: Driver, phase: str) -> None:
    if phase in ("intro", "finish"):
        d.until_block(phase)
    elif phase == "checkin_before":
        pass
    elif phase == "checkin_after":
        d.say("skip")
        d.until(lambda s: kind(d) == "checkin_after")
    elif phase == "stop":
        d.until_block("reps", 0)
        d.say("stop")
    else:
        d.until_block(phase)
    d.advance(d.t + 0.2)


PHASES = ["checkin_before", "intro", "exercise", "ready", "reps", "rest", "switch", "hold", "stop",
          "checkin_after", "finish"]
IN_A_SET = {"reps", "hold", "stop"}
NEAR_AN_EXERCISE = {"exercise", "ready", "rest", "switch"}


@pytest.mark.parametrize("phase", PHASES)
def test_pain_works_in_every_phase_stops_the_clock_and_asks_for_a_score(phase):
    d = Driver(options=SessionOptions(checkins=True))
    if phase != "checkin_before":
        d.say("number", 1)
    reach(d, phase)
    block, before = d.session.block, len(d.log)
    d.say("pain")
    said = d.texts(before)
    assert kind(d) == "pain_score" and said[-1].startswith("How bad is the pain, from 0 to 10?")
    reply = " ".join(said[:-1])
    assert ("Stop this exercise now." in reply) == (phase in IN_A_SET)
    assert (SAFETY in reply) == (phase in IN_A_SET | NEAR_AN_EXERCISE)
    assert d.events("clock")[-1].data["running"] is False
    d.advance(d.t + 15)  # the clock stands still while the question waits
    assert d.session.block is block
    d.say("number", 2)
    assert [e.data["score"] for e in d.events("pain_score") if e.data["when"] == "during"] == [2]
    d.run_out()
    assert d.session.finished


def test_pain_at_or_above_caution_skips_the_exercise_and_says_why():
    d = Driver()
    d.until_block("reps", 0)
    d.say("pain")
    before = len(d.log)
    d.say("number", 5)
    said = " ".join(d.texts(before))
    assert "at or above your limit of 5, so we'll skip Lifts" in said
    assert d.session.block.exercise == 1 and kind(d) is None
    assert [e.data["exercise"] for e in d.events("exercise_skipped")] == ["Lifts"]
    assert decisions(d)[0][0] == "skip_for_pain" and "Skipped Lifts" in decisions(d)[0][1]


@pytest.mark.parametrize("answer, outcome", [("skip", "skipped"), ("resume", "carried on"), ("stop", "stopped")])
def test_pain_below_caution_lets_the_user_choose(answer, outcome):
    d = Driver()
    d.until_block("reps", 0)
    d.say("pain")
    d.say("number", 3)
    assert kind(d) == "pain" and "skip" in d.texts()[-1] and "resume" in d.texts()[-1]
    d.say(answer)
    if outcome == "skipped":
        assert d.session.block.exercise == 1
    elif outcome == "carried on":
        assert d.session.block.kind == "reps" and d.session.block.exercise == 0 and kind(d) is None
    else:
        assert d.session.ending


@pytest.mark.parametrize("answer", ["no", "yes"])
def test_no_or_yes_at_the_pain_prompts_does_not_carry_on_unexamined(answer):
    d = Driver()
    d.until_block("reps", 0)
    d.say("pain")
    d.say(answer)
    assert kind(d) == "pain_score" and "from 0 to 10" in d.texts()[-1]
    d.say("number", 2)
    d.say(answer)
    assert kind(d) == "pain", "still waiting for skip, resume or stop"
    assert d.session.paused_since is not None


def test_no_answer_to_the_pain_score_skips_the_exercise_and_is_recorded_unanswered():
    d = Driver()
    d.until_block("hold", 1)
    d.say("pain")
    d.advance(d.t + 25)
    [during] = [e.data for e in d.events("pain_score")]
    assert during["when"] == "during" and during["score"] is None and during["note"] == "unanswered"
    assert [e.data["exercise"] for e in d.events("exercise_skipped")] == ["Wall press"]
    assert any("No answer, so we'll skip Wall press" in t for t in d.texts())


def test_skip_instead_of_a_score_skips_the_exercise():
    d = Driver()
    d.until_block("reps", 0)
    d.say("pain")
    d.say("skip")
    assert d.texts()[-3:-1] == ["All right, we'll skip Lifts to spare your knee.", "Skipping Lifts."]
    assert d.events("pain_score")[0].data["note"] == "skipped" and d.session.block.exercise == 1


def test_a_high_score_in_the_welcome_skips_nothing_and_asks_to_carry_on_or_stop():
    d = Driver()
    d.say("pain")
    d.say("number", 6)
    assert "at or above your limit of 5" in d.texts()[-2]
    assert kind(d) == "pain" and d.texts()[-1] == "Say resume to carry on, or stop to end the session."
    d.say("resume")
    d.run_out()
    assert not d.events("exercise_skipped")


# ----- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["eleven", "-1", "a lot", "11"])
def test_a_score_outside_0_to_10_is_no_command(typed):
    assert commands.parse(typed) is None


@pytest.mark.parametrize("question", ["checkin_before", "pain_score"])
@pytest.mark.parametrize("value", [None, 11, -1])
def test_a_number_that_is_no_score_gets_a_short_re_ask_from_0_to_10(question, value):
    d = Driver(options=SessionOptions(checkins=True))
    if question == "pain_score":
        d.say("pain")
    assert kind(d) == question
    out = d.say("number", value)  # what the runner sends for "eleven", "-1", "a lot"
    [reply] = [o.text for o in out if isinstance(o, Say)]
    assert "from 0 to 10" in reply and len(reply.split()) <= 14 and kind(d) == question
    assert not [e for e in d.events("pain_score")]


def test_an_unanswered_check_in_is_recorded_as_unanswered_and_a_skipped_one_as_skipped():
    d = Driver(options=SessionOptions(checkins=True))
    d.advance(d.t + 25)
    d.until(lambda s: kind(d) == "checkin_after", limit=100_000)
    d.say("skip")
    d.run_out()
    assert [(e.data["score"], e.data["note"]) for e in d.events("pain_score")] == [
        (None, "unanswered"), (None, "skipped")]


# ----- next time ------------------------------------------------------------------------------


def test_a_step_down_decided_from_the_history_is_said_and_recorded_at_the_start():
    verdict = pain_rules.next_session([pain_rules.Workout(2, 5)], PainLimits(), finished=True)
    d = Driver(options=SessionOptions(decision=verdict))
    assert verdict.reason in d.texts() and decisions(d) == [(pain_rules.STEP_DOWN, verdict.reason)]


def test_a_hold_is_recorded_but_not_said():
    verdict = Verdict(pain_rules.HOLD, "Same targets: not every set was done.")
    d = Driver(options=SessionOptions(decision=verdict))
    assert verdict.reason not in d.texts() and decisions(d) == [(pain_rules.HOLD, verdict.reason)]


# ----- help -----------------------------------------------------------------------------------


def test_pain_is_in_the_spoken_help_and_the_cli_help(capsys):
    assert "pain" in commands.help_names()
    from voicecoach.app import cli
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert ", pain" in capsys.readouterr().out.replace("\n", " ")


def test_the_fixture_is_the_one_these_tests_assume():
    assert (FIXTURES / "mini.yaml").read_text(encoding="utf-8").count(SAFETY) == 1
