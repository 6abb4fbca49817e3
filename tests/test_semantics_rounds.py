"""Ranged rounds ("2-3 rounds"): progression can add a round, an added round stays, and the
coach says a round can be added only while one can."""

from __future__ import annotations

from pathlib import Path

from sessiondriver import Driver

from voicecoach.app.run import HistoryRecorder, current_rounds, current_targets, next_session_plan
from voicecoach.core import progression
from voicecoach.core.pain_rules import PainLimits
from voicecoach.core.plan import Plan
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Event, SessionOptions
from voicecoach.store.history import History

ROUTINES = Path(__file__).parent.parent / "routines"
BAND = ROUTINES / "step-and-band.yaml"
ADD = "add a round as you get stronger"


def records(d: Driver) -> list[dict]:
    return [{"type": o.type, **o.data} for _, o in d.log if isinstance(o, Event)]


def test_a_round_is_offered_once_the_target_is_at_the_top_and_rounds_are_below_theirs():
    routine = load_routine(BAND)
    names = [ex.name for ex in routine.exercises]
    top = {name: 30 for name in names}
    two = {name: 2 for name in names}
    assert progression.step_up_rounds(routine, top, two, earned=True) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert progression.step_up_rounds(routine, top, two, earned=False) == {}
    below = {**top, names[1]: 29}
    assert 1 not in progression.step_up_rounds(routine, below, two, earned=True)
    assert progression.step_up_rounds(routine, top, {name: 3 for name in names}, earned=True) == {}


def test_current_rounds_come_from_the_newest_session_that_did_the_exercise():
    routine = load_routine(BAND)
    newest = [{"exercise": "Side step ups", "sets": 3}]
    older = [{"exercise": "Side step ups", "sets": 2}, {"exercise": "Band kick-backs", "sets": 3}]
    rounds = progression.current_rounds(routine, [newest, older])
    assert rounds == {"Side step ups": 3, "Band kick-backs": 3, "Lateral band walks": 2,
                      "Cable adductor pulls": 2}
    assert progression.current_rounds(routine, [[{"exercise": "Side step ups", "sets": 9}]])["Side step ups"] == 3


def test_the_coach_says_a_round_can_be_added_only_while_one_can():
    routine = load_routine(BAND)
    assert ADD in Plan(routine).work_summary(routine.exercises[0])
    assert ADD not in Plan(routine, rounds={0: 3}).work_summary(routine.exercises[0])
    assert len(Plan(routine, rounds={0: 3}).set_keys()) == len(Plan(routine).set_keys()) + 2
    for name in ("hips-for-knees", "hip-strength", "quads-hamstrings-glutes"):  # fixed sets: never said
        r = load_routine(ROUTINES / f"{name}.yaml")
        assert not any("add a" in Plan(r).work_summary(ex) for ex in r.exercises)


def test_an_accepted_step_up_adds_the_round_to_this_session():
    d = Driver(str(BAND), SessionOptions(step_up_rounds={0: 3}))
    d.say("yes")
    changed = d.events("plan_changed")
    assert changed and changed[0].data["sets_planned"] == 18
    assert d.events("step_up")[0].data == {"targets": {0: 15}, "rounds": {0: 3}}
    d.until_block("exercise", 0)
    d.until(lambda s: s.block.kind == "exercise" and s.cue_i >= 3)
    assert ADD not in " ".join(d.texts())
    d.until_block("reps", 0)
    assert d.session.block.target == 15
    assert d.session.block.cues[0].text.startswith("Round 1 of 3, left foot on the step. 15 reps")
    d.run_out()
    assert any(t.startswith("You finished 18 of 18 sets") for t in d.texts())
    assert max(e.data["set"] for e in d.events("set_finished") if e.data["exercise_index"] == 0) == 3


def test_a_declined_step_up_keeps_the_rounds():
    d = Driver(str(BAND), SessionOptions(step_up_rounds={0: 3}))
    d.say("no")
    d.run_out()
    assert not d.events("plan_changed")
    assert any(t.startswith("You finished 16 of 16 sets") for t in d.texts())


def full_session(store: History, routine, start: float, rounds: int, target: int) -> None:
    plan = Plan(routine, rounds={e: rounds for e in range(len(routine.exercises))})
    sid = store.start_session(routine.name, routine.title, start, planned_sets=len(plan.set_keys()))
    for i, (e, s, side) in enumerate(plan.set_keys()):
        ex = routine.exercises[e]
        store.record_set(sid, exercise=ex.name, exercise_index=e, set_no=s, sets=rounds,
                         side=ex.sides[side], side_index=side, kind="reps", done=target, target=target,
                         finished_at=start + i)
    store.end_session(sid, outcome="finished", ended_at=start + 999)


def test_the_history_earns_a_round_and_the_round_stays(tmp_path):
    routine = load_routine(BAND)
    with History.open(tmp_path / "h.sqlite3", timeout=1.0) as store:
        full_session(store, routine, 1000.0, rounds=2, target=30)
        full_session(store, routine, 5000.0, rounds=2, target=30)
        targets = current_targets(store, routine)
        rounds = next_session_plan(store, routine, PainLimits(), targets).rounds
        assert rounds == {0: 3, 1: 3, 2: 3, 3: 3}
        # The step taken: three rounds, back at the bottom of the reps.
        d = Driver(str(BAND), SessionOptions(step_up_rounds=rounds))
        recorder = HistoryRecorder(store, routine, len(d.plan.set_keys()), None, wait_for_resume_answer=False,
                                   targets={e: 30 for e in range(4)}, wait_for_step_up_answer=True)
        d.say("yes")
        d.run_out()
        for record in records(d):
            recorder(record)
        newest = store.recent(1)[0]
        assert newest["planned_sets"] == newest["sets_done"] == 24
        assert current_rounds(store, routine) == {0: 3, 1: 3, 2: 3, 3: 3}
        assert current_targets(store, routine) == {ex.name: 15 for ex in routine.exercises}
        plan = Plan(routine, rounds=current_rounds(store, routine))
        assert len(plan.set_keys()) == 24 and ADD not in plan.work_summary(routine.exercises[0])


def test_a_session_left_at_the_step_up_question_records_nothing(tmp_path):
    routine = load_routine(BAND)
    with History.open(tmp_path / "h.sqlite3", timeout=1.0) as store:
        recorder = HistoryRecorder(store, routine, 16, None, wait_for_resume_answer=False,
                                   wait_for_step_up_answer=True)
        for record in [{"type": "session_start"}, {"type": "session_end", "outcome": "interrupted"}]:
            recorder(record)
        assert store.recent(5) == []
