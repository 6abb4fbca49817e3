"""The pain decisions in the history: every decision stored with its reason, the next
session decided from the stored sessions, and older history files upgraded safely."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sessiondriver import FIXTURES, Driver

from voicecoach.app.run import HistoryRecorder, current_targets, next_session_plan
from voicecoach.core import pain_rules
from voicecoach.core.pain_rules import PainLimits
from voicecoach.core.progression import raised_targets
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Event, SessionOptions
from voicecoach.store.history import History, open_durable

ROUTINE = load_routine(FIXTURES / "mini.yaml")  # Lifts 3-5 reps, Wall press 20-30 s, Taps 2
LIMITS = PainLimits()


@pytest.fixture
def store(tmp_path: Path):
    with History.open(tmp_path / "history.sqlite3") as h:
        yield h


def session(store: History, before: int | None, after: int | None, *, anyway: bool = False,
            during: int | None = None) -> Driver:
    """One recorded session of mini.yaml run to its end, planned from the history the way
    `voicecoach run` plans it; the check-ins are answered with `before` and `after`."""
    by_name = current_targets(store, ROUTINE)
    targets = {e: by_name[ex.name] for e, ex in enumerate(ROUTINE.exercises)}
    verdict, offer, lowered, _rounds = next_session_plan(store, ROUTINE, LIMITS, by_name)
    targets.update(lowered)
    d = Driver(options=SessionOptions(checkins=True, step_up=offer, decision=verdict, pain_limits=LIMITS))
    d.session.targets.update(raised_targets(ROUTINE, targets))
    d.say("number", before) if before is not None else d.say("skip")
    if anyway:
        d.say("start_anyway")
    if d.session.question is not None and d.session.question.kind == "step_up":
        # Asked after the pain check-in, and only when the pain allows it.
        assert offer
        d.say("yes")
    if during is not None:
        d.until_block("hold", 1)
        d.say("pain")
        d.say("number", during)
        if d.session.question is not None:
            d.say("resume")
    d.until(lambda s: s.question is not None and s.question.kind == "checkin_after", limit=100_000)
    d.say("number", after) if after is not None else d.say("skip")
    d.run_out()
    recorder = HistoryRecorder(store, ROUTINE, len(d.plan.set_keys()), None, False, targets=targets)
    for _, out in d.log:
        if isinstance(out, Event):
            recorder({"type": out.type, **out.data})
    return d


def plan(store: History) -> tuple[str, str, dict[int, int], dict[int, int]]:
    verdict, offer, lowered, _rounds = next_session_plan(store, ROUTINE, LIMITS)
    return verdict.action, verdict.reason, offer, lowered


def test_calm_finished_sessions_earn_a_step_up_and_it_is_recorded(store):
    session(store, 2, 2)
    assert plan(store)[0] == pain_rules.HOLD  # one session is not yet a streak
    session(store, 2, 2)
    action, reason, offer, _ = plan(store)
    assert action == pain_rules.STEP_UP and offer == {0: 4, 1: 25}
    d = session(store, 2, 2)
    assert any("Shall we step up" in t for t in d.texts())
    newest = store.session(store.recent(1)[0]["id"])
    assert [x["kind"] for x in newest["decisions"]] == [pain_rules.STEP_UP]
    assert newest["decisions"][0]["reason"] == reason


def test_the_issue_s_example_no_step_up_after_8_before_and_9_after(store):
    """Two finished sessions scored 8 before and 9 after were followed by a step-up offer."""
    for _ in range(2):
        d = session(store, 8, 9, anyway=True)
        assert d.session.outcome == "finished"
    action, reason, offer, _ = plan(store)
    assert action == pain_rules.STEP_DOWN and offer == {}
    assert "above the caution level of 5" in reason and "bottom of each range" in reason
    kinds = [[x["kind"] for x in s["decisions"]] for s in store.export_json()]
    assert kinds[0] == [pain_rules.HOLD, pain_rules.STOP_TODAY, "start_anyway"]
    assert kinds[1] == [pain_rules.STEP_DOWN, pain_rules.STOP_TODAY, "start_anyway"]


def test_a_rising_trend_blocks_the_step_up_and_steps_down_one_step(store):
    session(store, 1, 1)
    session(store, 1, 1)
    assert plan(store)[0] == pain_rules.STEP_UP
    d = session(store, 1, 1)  # steps up to Lifts 4, Wall press 25
    assert {e.data["exercise"]: e.data["target"] for e in d.events("set_finished")}["Lifts"] == 4
    session(store, 2, 4)  # pain rose by 2 in the session
    action, reason, offer, lowered = plan(store)
    assert action == pain_rules.STEP_DOWN and offer == {} and lowered == {0: 3, 1: 20}
    assert "rose from 2 to 4" in reason
    d = session(store, 2, 2)
    assert reason in d.texts()  # said at the start
    assert {e.data["exercise"]: e.data["target"] for e in d.events("set_finished")} == {
        "Lifts": 3, "Wall press": 20, "Taps": 2}
    newest = store.session(store.recent(1)[0]["id"])
    assert newest["decisions"][0] == {**newest["decisions"][0], "kind": pain_rules.STEP_DOWN, "reason": reason}


def test_after_an_easy_day_for_pain_the_targets_step_down_one_step_not_to_the_bottom(store):
    for _ in range(5):
        d = session(store, 1, 1)  # steps up in the third and the fifth
    assert {e.data["exercise"]: e.data["target"] for e in d.events("set_finished")} == {
        "Lifts": 5, "Wall press": 30, "Taps": 2}
    d = session(store, 6, 6)  # above caution: the easiest targets today
    assert {e.data["exercise"]: e.data["target"] for e in d.events("set_finished")} == {
        "Lifts": 3, "Wall press": 20, "Taps": 2}
    action, reason, offer, lowered = plan(store)
    assert action == pain_rules.STEP_DOWN and "reached 6 out of 10 before" in reason
    assert offer == {} and lowered == {0: 4, 1: 25}


def test_an_easy_day_is_not_offered_the_step_up_and_keeps_the_targets_it_had(store):
    for _ in range(4):
        session(store, 1, 1)  # steps up to Lifts 4, Wall press 25 in the third
    d = session(store, 6, 6)  # a step up to 5 and 30 was earned, but the pain comes first
    assert not d.events("step_up") and not any("Shall we step up" in t for t in d.texts())
    assert plan(store)[3] == {0: 3, 1: 20}, "one step down from 4 and 25, not from 5 and 30"


def test_pain_past_caution_during_a_session_steps_the_next_one_down(store):
    session(store, 1, 1)
    session(store, 1, 1)
    session(store, 1, 1)  # at Lifts 4, Wall press 25
    d = session(store, 1, 1, during=6)
    assert [e.data["exercise"] for e in d.events("exercise_skipped")] == ["Wall press"]
    recorded = store.session(store.recent(1)[0]["id"])
    assert [(p["when"], p["score"], p["note"]) for p in recorded["pains"]] == [
        ("before", 1, ""), ("during", 6, "Wall press"), ("after", 1, "")]
    assert recorded["pain_stops"] == 1 and recorded["pain_worst_during"] == 6
    assert "skip_for_pain" in [x["kind"] for x in recorded["decisions"]]
    action, reason, _, lowered = plan(store)
    assert action == pain_rules.STEP_DOWN and "reached 6 out of 10 during" in reason and lowered == {0: 3, 1: 20}


def test_an_unanswered_check_in_is_stored_as_unanswered(store):
    d = Driver(options=SessionOptions(checkins=True))
    d.advance(25)
    d.run_out()
    recorder = HistoryRecorder(store, ROUTINE, len(d.plan.set_keys()), None, False)
    for _, out in d.log:
        if isinstance(out, Event):
            recorder({"type": out.type, **out.data})
    [recorded] = store.export_json()
    assert [(p["when"], p["score"], p["note"]) for p in recorded["pains"]] == [
        ("before", None, "unanswered"), ("after", None, "unanswered")]


def test_decisions_made_while_the_resume_offer_waits_are_stored_with_the_session(store):
    recorder = HistoryRecorder(store, ROUTINE, 6, resume_from=None, wait_for_resume_answer=True)
    recorder({"type": "session_start"})
    recorder({"type": "decision", "kind": "hold", "reason": "Same targets."})
    assert store.recent() == []
    recorder({"type": "resume_declined"})
    [recorded] = store.export_json()
    assert [(x["kind"], x["reason"]) for x in recorded["decisions"]] == [("hold", "Same targets.")]


def test_a_pain_report_cut_short_by_the_end_of_the_session_is_still_stored(store):
    d = Driver()
    d.until_block("reps", 0)
    d.say("pain")
    out = d.session.interrupt(d.t, "interrupted (Ctrl-C)")
    recorder = HistoryRecorder(store, ROUTINE, len(d.plan.set_keys()), None, False)
    for _, o in [*d.log, *((d.t, o) for o in out)]:
        if isinstance(o, Event):
            recorder({"type": o.type, **o.data})
    [recorded] = store.export_json()
    assert [(p["when"], p["score"], p["note"]) for p in recorded["pains"]] == [("during", None, "Lifts unanswered")]
    assert recorded["pain_stops"] == 1 and recorded["outcome"] == "interrupted"


def test_a_history_file_from_before_decisions_is_upgraded_and_keeps_its_sessions(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    with History.open(path) as h:
        sid = h.start_session("mini", "Mini", 1000.0)
        h.record_pain(sid, when="before", score=3, at=1001.0)
    conn = sqlite3.connect(path)  # make it a schema 2 file, as an older voicecoach left it
    conn.execute("DROP TABLE decisions")
    conn.execute("DELETE FROM schema_version WHERE version = 3")
    conn.commit()
    conn.close()
    with History.open(path, read_only=True) as old:
        assert old.session(sid)["decisions"] == [] and old.session(sid)["pain_before"] == 3
    with History.open(path) as h:
        h.record_decision(sid, kind="hold", reason="Same targets.", at=1002.0)
        assert h.session(sid)["decisions"] == [{"kind": "hold", "reason": "Same targets.", "at": 1002.0}]
        assert h.session(sid)["pain_before"] == 3


def test_a_decision_kept_in_the_journal_reaches_the_database_once(tmp_path: Path):
    path = tmp_path / "history.sqlite3"
    History.open(path).close()
    store = open_durable(path)
    sid = store.start_session("mini", "Mini", 1000.0)
    store.record_decision(sid, kind="step_down", reason="Pain rose.", at=1001.0)
    ops = list(store._ops)
    store.close()
    with History.open(path) as h:
        h.replay(ops)  # again: nothing doubled
        [recorded] = h.export_json()
        assert [(x["kind"], x["reason"]) for x in recorded["decisions"]] == [("step_down", "Pain rose.")]


def test_a_stop_today_before_the_step_up_offer_is_still_recorded(store):
    """The pain check-in comes before the step-up offer; a 10 ends the session there, and the
    score and the decision are stored although the offer was never answered."""
    d = Driver(options=SessionOptions(checkins=True, step_up={0: 4}, pain_limits=LIMITS))
    d.say("number", 10)
    d.say("stop")
    d.run_out()
    recorder = HistoryRecorder(store, ROUTINE, len(d.plan.set_keys()), None, False,
                               wait_for_step_up_answer=True)
    for _, out in d.log:
        if isinstance(out, Event):
            recorder({"type": out.type, **out.data})
    newest = store.session(store.recent(1)[0]["id"])
    assert [(p["when"], p["score"]) for p in newest["pains"]] == [("before", 10)]
    assert pain_rules.STOP_TODAY in [x["kind"] for x in newest["decisions"]]
    assert newest["outcome"] == "stopped" and not d.events("step_up")
