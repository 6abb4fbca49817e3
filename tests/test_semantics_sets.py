"""One definition of a set, used by `show`, `plan`, the spoken summary, the view and the history.

A set is one (exercise, round, side); it is done when its last record did something.
"""

from __future__ import annotations

import io
from pathlib import Path

from sessiondriver import Driver

from voicecoach.app.cli import format_routine
from voicecoach.app.run import HistoryRecorder
from voicecoach.app.view import PlainView
from voicecoach.core.plan import Plan, format_plan
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Event, SessionOptions
from voicecoach.core.tally import is_done
from voicecoach.store.history import History

ROUTINES = Path(__file__).parent.parent / "routines"


def records(d: Driver) -> list[dict]:
    return [{"type": o.type, **o.data} for _, o in d.log if isinstance(o, Event)]


def test_done_right_after_begin_is_recorded_as_not_done():
    d = Driver()
    d.until_block("reps", 0)
    d.say("done")
    assert d.texts()[-2] == "Moving on. That set doesn't count as done."
    record = d.events("set_finished")[-1].data
    assert record["done"] == 0 and not is_done(record)
    d.run_out()
    assert d.events("session_end")[-1].data["sets_done"] == 5
    assert any(t.startswith("You finished 5 of 6 sets") for t in d.texts())


def test_back_and_again_never_counts_more_sets_than_planned():
    d = Driver(str(ROUTINES / "hip-strength.yaml"))
    for _ in range(3):  # finish two sets, go back over them, and do them again
        d.until_block("reps", 1)
        d.until(lambda s: s.block.kind == "reps" and s.block.exercise == 1 and s.block.side_index == 1)
        d.say("back")
        d.say("back")
        d.say("back")
    d.run_out()
    end = d.events("session_end")[-1].data
    assert end["sets_planned"] == 7 and end["sets_done"] == 7
    assert any(t.startswith("You finished 7 of 7 sets") for t in d.texts())


def test_a_resumed_session_that_did_the_rest_says_every_set_was_done():
    d = Driver(options=SessionOptions(resume_at=(0, 2, 0), done_before=frozenset({(0, 1, 0), (0, 1, 1)})))
    d.say("yes")
    d.run_out()
    said = " ".join(d.texts())
    assert "You finished 6 of 6 sets, 2 of them last time." in said
    assert d.events("session_end")[-1].data["sets_done"] == 4  # this session's own


def test_show_plan_summary_and_view_count_sets_the_same_way():
    routine = load_routine(ROUTINES / "hips-for-knees.yaml")
    plan = Plan(routine)
    shown = format_routine(routine)
    per_exercise = [int(line.rsplit("[", 1)[1].split()[0]) for line in shown.splitlines() if line.endswith("sets]")]
    assert per_exercise == [6, 6, 6, 6]
    assert f"{len(plan.set_keys())} sets" in shown and sum(per_exercise) == len(plan.set_keys()) == 24
    assert "24 sets" in format_plan(plan).splitlines()[1]
    assert "3 rounds of 10 to 15 reps" in shown  # a round is a set on each side

    d = Driver(str(ROUTINES / "hips-for-knees.yaml"))
    out = io.StringIO()
    view = PlainView(out)
    d.run_out()
    for record in records(d):
        view(record)
    assert out.getvalue().splitlines()[-1] == "== finished: 24 set(s) done =="
    assert any(t.startswith("You finished 24 of 24 sets") for t in d.texts())


def test_the_history_keeps_one_row_per_set_and_counts_like_the_session(tmp_path):
    d = Driver()
    d.until_block("reps", 0)
    d.until(lambda s: s.counts_fired == 2)
    d.say("done")  # set 1, left: 2 reps
    d.until_block("reps", 0)
    d.say("back")  # at once: left again
    d.until(lambda s: s.counts_fired == 1)
    d.say("done")  # set 1, left: now 1 rep
    d.until_block("hold", 1)
    d.say("done")  # the hold, ended at once: not done
    d.run_out()
    with History.open(tmp_path / "h.sqlite3", timeout=1.0) as store:
        recorder = HistoryRecorder(store, d.plan.routine, len(d.plan.set_keys()), None,
                                   wait_for_resume_answer=False)
        for record in records(d):
            recorder(record)
        summary = store.recent(1)[0]
        rows = store.session(summary["id"])["sets"]
    keys = [(r["exercise_index"], r["set_no"], r["side_index"]) for r in rows]
    assert len(keys) == len(set(keys)) == 6
    left = next(r for r in rows if (r["exercise_index"], r["set_no"], r["side_index"]) == (0, 1, 0))
    assert left["done"] == 1
    end = d.events("session_end")[-1].data
    assert summary["sets_done"] == end["sets_done"] == 5
    assert summary["planned_sets"] == end["sets_planned"] == 6


def test_the_history_sql_and_the_tally_agree_on_a_set_done(tmp_path):
    with History.open(tmp_path / "h.sqlite3", timeout=1.0) as store:
        sid = store.start_session("mini", "Mini", 1000.0, planned_sets=4)
        dones = [0.0, 0.1, 1.0, 30.0]
        for i, done in enumerate(dones):
            store.record_set(sid, exercise="Lifts", exercise_index=0, set_no=i + 1, sets=4, side=None,
                             side_index=0, kind="reps", done=done, target=3, finished_at=1000.0 + i)
        assert store.recent(1)[0]["sets_done"] == sum(is_done({"done": x}) for x in dones) == 3


def test_a_journal_replayed_twice_keeps_the_last_record_of_a_set(tmp_path):
    ops = [{"op": "start", "session": "a", "routine": "mini", "title": "Mini", "started_at": 5.0,
            "resumed_from": None, "planned_sets": 6}]
    for at, done in ((10.0, 3.0), (20.0, 1.0)):
        ops.append({"op": "set", "session": "a", "exercise": "Lifts", "exercise_index": 0, "set_no": 1,
                    "sets": 2, "side": "left leg", "side_index": 0, "kind": "reps", "done": done,
                    "target": 3, "finished_at": at})
    with History.open(tmp_path / "h.sqlite3", timeout=1.0) as store:
        ids = store.replay(ops)
        store.replay(ops)
        store.replay(ops[:2])  # an older record of the set never replaces a newer one
        rows = store.session(ids["a"])["sets"]
    assert [(r["done"], r["finished_at"]) for r in rows] == [(1.0, 20.0)]


def test_the_view_of_a_resumed_session_counts_the_sets_done_before_like_the_summary():
    d = Driver(options=SessionOptions(resume_at=(0, 2, 0), done_before=frozenset({(0, 1, 0), (0, 1, 1)})))
    d.say("yes")
    d.run_out()
    out = io.StringIO()
    view = PlainView(out)
    for record in records(d):
        view(record)
    assert view.state.sets_done == 6 == view.state.sets_planned
    assert out.getvalue().splitlines()[-1] == "== finished: 6 set(s) done =="
