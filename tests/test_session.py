"""The session engine, driven by a fake clock and scripted commands."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sessiondriver import Driver

from voicecoach.core.commands import COMMANDS
from voicecoach.core.plan import COUNT, hold_start
from voicecoach.core.session import Event, Hush, Say, SessionOptions

ALL_COMMANDS = [spec.name for spec in COMMANDS]


def test_a_session_with_no_commands_runs_every_set_and_ends_finished():
    d = Driver()
    d.run_out()
    assert d.session.outcome == "finished"
    finished = d.events("set_finished")
    assert [(e.data["exercise_index"], e.data["set"], e.data["side_index"]) for e in finished] == d.plan.set_keys()
    assert all(not e.data["ended_early"] for e in finished)
    end = d.events("session_end")[-1].data
    assert end["sets_done"] == end["sets_planned"] == 6
    assert "You finished 6 of 6 sets" in " ".join(d.texts())


def test_every_cue_is_said_exactly_at_block_start_plus_offset():
    d = Driver()
    d.run_out()
    said = [(t, o) for t, o in d.log if isinstance(o, Say) and o.due is not None]
    # Plan time and session time agree to the millisecond: no drift over the whole routine.
    plan_times = []
    start = 0.0
    for block in d.plan.blocks[:-1]:
        plan_times += [round(start + c.at, 3) for c in block.cues]
        start += block.duration
    assert [round(o.due, 3) for _, o in said][: len(plan_times)] == pytest.approx(plan_times, abs=1e-6)
    assert all(abs(t - o.due) < 1e-9 for t, o in said)


def test_counts_follow_the_tempo_and_stop_at_the_bottom_of_the_range():
    d = Driver()
    d.until_block("reps", 0)
    start = d.t
    d.until(lambda s: s.block.kind != "reps")
    counts = [(t, o.text) for t, o in d.log if isinstance(o, Say) and o.kind == COUNT]
    assert [text for _, text in counts] == ["1", "2", "3"]
    gaps = [b[0] - a[0] for a, b in zip(counts, counts[1:], strict=False)]
    assert gaps == pytest.approx([2.0, 2.0])  # tempo up 1 + down 1
    assert counts[0][0] > start


def test_more_keeps_counting_to_the_top_of_the_range():
    d = Driver()
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 1)
    d.say("more")
    d.until(lambda s: s.block.kind != "reps")
    counts = [o.text for _, o in d.log if isinstance(o, Say) and o.kind == COUNT]
    assert counts == ["1", "2", "3", "4", "5"]
    assert d.events("set_finished")[-1].data["done"] == 5


def test_done_ends_a_set_early_and_records_what_was_done():
    d = Driver()
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 2)
    out = d.say("done")
    assert any(isinstance(o, Hush) for o in out)
    record = d.events("set_finished")[-1].data
    assert record["done"] == 2 and record["target"] == 3 and record["ended_early"]
    assert d.session.block.kind == "switch"


def test_pause_stops_the_hold_countdown_and_resume_finishes_it():
    d = Driver()
    d.until_block("hold", 1)
    block_start = d.t
    started = block_start + hold_start(d.session.block)
    d.advance(started + 8)
    d.say("pause")
    d.advance(started + 100)  # a long pause: nothing is said
    assert d.texts()[-1].startswith("Paused")
    d.say("resume")
    d.until(lambda s: s.block.kind != "hold")
    release = [t for t, o in d.log if isinstance(o, Say) and o.text == "And release."]
    # 20-second hold, 92 seconds of pause in the middle: release 112 s after the hold began.
    assert release == [pytest.approx(started + 20 + 92)]
    assert d.events("set_finished")[-1].data["done"] == 20


def test_the_last_five_seconds_of_a_hold_are_counted_down():
    d = Driver()
    d.until_block("hold", 1)
    d.until(lambda s: s.block.kind != "hold")
    texts = d.texts()
    i = texts.index("Hold.")
    assert texts[i + 1:i + 8] == ["10 seconds to go.", "5", "4", "3", "2", "1", "And release."]


def test_more_in_a_hold_extends_it_to_the_top_of_its_range():
    d = Driver()
    d.until_block("hold", 1)
    d.until(lambda s: s.last_sentence == "Hold.")
    d.say("more")
    d.until(lambda s: s.block.kind != "hold")
    assert d.events("set_finished")[-1].data["target"] == 30
    assert "20 seconds to go." in d.texts()


def test_back_restarts_a_set_after_a_few_seconds_and_goes_to_the_previous_step_at_once():
    d = Driver()
    d.until_block("reps", 0)
    d.advance(d.t + 5)
    d.say("back")
    assert d.session.block.kind == "reps" and d.session.block.set_no == 1
    assert "From the top." in d.texts()
    d.say("back")  # straight away: the previous step is the exercise introduction
    assert d.session.block.kind == "exercise" and d.session.block.exercise == 0


def test_back_crosses_exercise_boundaries():
    d = Driver()
    d.until_block("exercise", 1)
    d.say("back")
    block = d.session.block
    assert block.kind == "reps" and block.exercise == 0 and block.set_no == 2 and block.side_index == 1


def test_skip_jumps_to_the_next_exercise_and_is_recorded():
    d = Driver()
    d.until_block("reps", 0)
    d.say("skip")
    assert d.session.block.kind == "exercise" and d.session.block.exercise == 1
    assert d.events("exercise_skipped")[0].data["exercise"] == "Lifts"
    d.run_out()
    assert "You skipped Lifts." in d.texts()


def test_skip_on_the_last_exercise_ends_the_session():
    d = Driver()
    d.until_block("ready", 2)
    d.say("skip")
    d.run_out()
    assert d.session.outcome == "finished"


def test_stop_then_no_carries_on_where_it_was():
    d = Driver()
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 1)
    d.say("stop")
    assert d.session.question is not None
    d.advance(d.t + 60)
    assert d.session.counts_fired == 1  # the clock is stopped while asking
    d.say("no")
    d.until(lambda s: s.block.kind != "reps")
    assert [o.text for _, o in d.log if isinstance(o, Say) and o.kind == COUNT] == ["1", "2", "3"]


def test_the_ears_are_asked_for_yes_and_no_only_while_a_question_is_open():
    d = Driver()
    d.until_block("reps", 0)
    assert not d.session.wants_answer
    d.say("stop")
    assert d.session.wants_answer and not d.session.wants_number
    d.say("no")
    assert not d.session.wants_answer


def test_stop_then_yes_ends_the_session_with_a_summary():
    d = Driver()
    d.until_block("rest", 0)
    d.say("stop")
    d.say("yes")
    d.run_out()
    assert d.session.outcome == "stopped"
    texts = d.texts()
    assert "Stopping here." in texts
    assert any(t.startswith("You finished 2 of 6 sets") for t in texts)
    assert d.events("session_end")[-1].data["outcome"] == "stopped"


def test_an_unrelated_answer_to_stop_asks_again():
    d = Driver()
    d.say("stop")
    out = d.say("faster")
    assert [o.text for o in out if isinstance(o, Say)] == ["Please say yes to end, or no to carry on."]
    assert d.session.question is not None


def test_slower_stretches_the_remaining_reps():
    d = Driver()
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 1)
    d.say("slower")
    d.until(lambda s: s.block.kind != "reps")
    counts = [t for t, o in d.log if isinstance(o, Say) and o.kind == COUNT]
    assert counts[2] - counts[1] == pytest.approx(2.0 * 1.25)
    # The next set keeps the slower tempo.
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 2)
    counts = [t for t, o in d.log if isinstance(o, Say) and o.kind == COUNT]
    assert counts[-1] - counts[-2] == pytest.approx(2.5)


def test_faster_has_a_limit():
    d = Driver()
    for _ in range(6):
        d.say("faster")
    assert d.session.tempo == pytest.approx(0.5)
    assert "as fast as I count" in d.texts()[-1]


def test_status_says_where_we_are():
    d = Driver()
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 2)
    text = d.say("status")[-1].text
    assert text.startswith("Exercise 1 of 3, Lifts. Round 1 of 2, left leg. You've done 2 of 3.")


def test_ready_waits_for_go_or_starts_by_itself():
    d = Driver()
    d.until_block("ready", 0)
    d.say("resume")  # "go" is a resume phrase
    assert d.session.block.kind == "reps"
    d2 = Driver()
    d2.until_block("ready", 0)
    d2.until(lambda s: s.block.kind == "reps")


def test_pain_stops_the_exercise_repeats_the_safety_advice_and_asks():
    d = Driver()
    d.until_block("reps", 0)
    d.say("pain")
    assert any("Stop if it hurts." in t for t in d.texts())
    assert d.session.question.kind == "pain_score"
    d.say("number", 2)
    assert d.session.question.kind == "pain"
    d.say("skip")
    assert d.session.block.exercise == 1
    assert d.events("pain_reported")


def test_checkins_ask_before_and_after_and_mention_a_sharp_rise():
    d = Driver(options=SessionOptions(checkins=True))
    assert d.session.question.kind == "checkin_before"
    d.say("number", 2)
    d.until(lambda s: s.question is not None and s.question.kind == "checkin_after")
    d.say("number", 7)
    d.run_out()
    assert [e.data for e in d.events("pain_score")] == [
        {"when": "before", "score": 2}, {"when": "after", "score": 7}]
    assert any("went up from 2 to 7" in t for t in d.texts())


def test_an_unanswered_checkin_is_skipped_after_a_while():
    d = Driver(options=SessionOptions(checkins=True))
    d.run_out()
    assert [e.data["score"] for e in d.events("pain_score")] == [None, None]
    assert d.session.outcome == "finished"


def test_resume_offer_lands_on_the_first_unfinished_set_after_a_countdown():
    d = Driver(options=SessionOptions(resume_at=(0, 2, 1)))
    d.say("yes")
    assert d.session.block.kind == "ready" and d.session.block.exercise == 0
    d.until(lambda s: s.block.kind != "ready")
    block = d.session.block
    assert (block.kind, block.exercise, block.set_no, block.side_index) == ("reps", 0, 2, 1)
    assert d.texts()[0] == "Welcome. This is Mini routine."  # the welcome comes before any question
    assert "Last time you stopped at Lifts, round 2 of 2, right leg." in d.texts()[1]


def test_go_during_the_resume_countdown_starts_the_resumed_set():
    d = Driver(options=SessionOptions(resume_at=(1, 1, 0)))
    d.say("yes")
    d.say("resume")
    block = d.session.block
    assert (block.kind, block.exercise, block.set_no) == ("hold", 1, 1)


def test_notices_are_said_first():
    d = Driver(options=SessionOptions(notices=["I can't record this session: the disk is full."]))
    assert d.texts()[0] == "I can't record this session: the disk is full."


def test_declining_the_resume_offer_starts_from_the_beginning():
    d = Driver(options=SessionOptions(resume_at=(0, 2, 1)))
    d.say("no")
    assert d.session.block.kind == "intro"


def test_step_up_raises_targets_when_accepted():
    d = Driver(options=SessionOptions(step_up={0: 4}))
    d.say("yes")
    d.until_block("reps", 0)
    d.until(lambda s: s.block.kind != "reps")
    assert d.events("set_finished")[0].data["target"] == 4


def _reach(d: Driver, phase: str) -> None:
    if phase == "paused":
        d.until_block("reps", 0)
        d.say("pause")
    elif phase == "stop-question":
        d.until_block("hold", 1)
        d.say("stop")
    elif phase == "pain-question":
        d.until_block("reps", 0)
        d.say("pain")
    elif phase == "checkin":
        pass
    else:
        d.until_block(phase)
        d.advance(d.t + 0.5)


PHASES = ["intro", "exercise", "ready", "reps", "hold", "rest", "switch", "finish",
          "paused", "stop-question", "pain-question", "checkin"]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("name", ALL_COMMANDS)
def test_every_command_in_every_phase_answers_and_the_session_can_still_end(phase, name):
    d = Driver(options=SessionOptions(checkins=phase == "checkin"))
    _reach(d, phase)
    out = d.say(name, 3 if name == "number" else None)
    said = [o.text for o in out if isinstance(o, Say) and o.text.strip()]
    ended = [o for o in out if isinstance(o, Event) and o.type == "session_end"]
    # Every command is answered in words, except one that skips the goodbye and ends the session.
    assert said or (ended and phase == "finish" and name in ("next", "done", "skip", "stop")), out
    d.run_out()
    assert d.session.finished and d.session.outcome in ("finished", "stopped")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ALL_COMMANDS), st.floats(0, 120)), max_size=25),
       st.booleans())
def test_random_command_sequences_never_crash_and_end_consistently(script, checkins):
    d = Driver(options=SessionOptions(checkins=checkins))
    for name, gap in script:
        if d.session.finished:
            break
        d.advance(d.t + gap)
        d.say(name, 5 if name == "number" else None)
        s = d.session
        assert s.paused_since is None or s.paused_since <= d.t
        assert 0 <= s.idx < len(d.plan.blocks)
        assert 0 <= s.cue_i <= len(s.block.cues)
    d.run_out()
    s = d.session
    assert s.finished and s.outcome in ("finished", "stopped")
    ends = d.events("session_end")
    # A set finished twice (after "back") is one set; its last record says whether it was done.
    last = {(e.data["exercise_index"], e.data["set"], e.data["side_index"]): e.data["done"]
            for e in d.events("set_finished")}
    assert len(ends) == 1 and ends[0].data["sets_done"] == sum(done > 0 for done in last.values())
    assert ends[0].data["sets_done"] <= ends[0].data["sets_planned"]
    times = [t for t, _ in d.log]
    assert times == sorted(times)


def test_a_set_done_again_after_back_counts_once():
    d = Driver()
    d.until_block("reps", 0)
    d.say("done")  # set 1, left leg
    d.until_block("reps", 0)  # set 1, right leg
    d.say("back")  # at once: back to the left leg
    assert d.session.block.side_index == 0
    d.run_out()
    assert len(d.events("set_finished")) == 7
    assert d.events("session_end")[0].data["sets_done"] == 6
    assert any(t.startswith("You finished 6 of 6 sets") for t in d.texts())


def test_pain_then_stop_at_the_closing_checkin_still_says_goodbye():
    d = Driver(options=SessionOptions(checkins=True))
    d.say("skip")  # the opening check-in
    d.until(lambda s: s.question is not None and s.question.kind == "checkin_after")
    d.say("pain")
    d.say("stop")
    d.run_out()
    assert d.session.finished and d.session.outcome == "finished"
    assert any(t.startswith("You finished") for t in d.texts())
