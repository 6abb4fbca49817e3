""""pain" said while the coach waits for an answer is heard, whatever the question."""

from __future__ import annotations

import pytest
from sessiondriver import Driver

from voicecoach.core.session import SessionOptions

SAFETY = "Stop this exercise now."


def question(d: Driver) -> str | None:
    return None if d.session.question is None else d.session.question.kind


@pytest.mark.parametrize("options, kind, answer", [
    (SessionOptions(checkins=True), "checkin_before", ("number", 3)),
    (SessionOptions(resume_at=(0, 2, 1)), "resume", ("yes", None)),
    (SessionOptions(step_up={0: 4}), "step_up", ("yes", None)),
])
def test_pain_during_an_opening_question_is_heard_then_the_question_comes_back(options, kind, answer):
    d = Driver(options=options)
    assert question(d) == kind
    before = len(d.log)
    d.say("pain")
    assert "I've stopped the clock." in d.texts(before) and question(d) == "pain_score"
    assert SAFETY not in " ".join(d.texts(before)), "no exercise runs in the welcome"
    assert [e.data for e in d.events("pain_reported")]
    d.say("number", 2)
    assert question(d) == "pain"
    d.say("resume")
    assert question(d) == kind, "the interrupted question is asked again"
    d.say(*answer)
    d.run_out()
    assert d.session.outcome == "finished" and d.events("set_finished")


def test_pain_during_the_stop_question_is_heard():
    d = Driver()
    d.until_block("reps", 0)
    d.say("stop")
    assert question(d) == "stop"
    before = len(d.log)
    d.say("pain")
    assert SAFETY in " ".join(d.texts(before)) and question(d) == "pain_score"
    d.say("number", 3)
    assert question(d) == "pain"
    d.say("skip")
    assert question(d) is None and d.events("exercise_skipped")


def test_pain_during_the_closing_check_in_is_heard_and_the_score_still_asked():
    d = Driver(options=SessionOptions(checkins=True))
    d.say("number", 2)
    d.until(lambda s: s.question is not None and s.question.kind == "checkin_after", limit=100_000)
    d.say("pain")
    assert question(d) == "pain_score"
    d.say("number", 4)
    assert question(d) == "checkin_after"
    d.say("number", 3)
    d.run_out()
    assert d.session.outcome == "finished"
