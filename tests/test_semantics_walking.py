"""Walking steps at a walking pace, and the same number of steps both ways (sides_match)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sessiondriver import Driver

from voicecoach.core.plan import COUNT, Plan
from voicecoach.core.routine import RoutineError, load_routine, parse_routine

ROUTINES = Path(__file__).parent.parent / "routines"
BAND = str(ROUTINES / "step-and-band.yaml")
WALKS = 2  # Lateral band walks


def count_times(d: Driver, since: int) -> list[float]:
    return [t for t, o in d.log[since:] if getattr(o, "kind", None) == COUNT]


@pytest.mark.parametrize(("routine", "name"), [("step-and-band.yaml", "Lateral band walks"),
                                               ("hip-strength.yaml", "Banded crab walks")])
def test_walks_count_one_step_a_second(routine, name):
    r = load_routine(ROUTINES / routine)
    e = next(i for i, ex in enumerate(r.exercises) if ex.name == name)
    d = Driver(str(ROUTINES / routine))
    d.until_block("reps", e)
    announced = d.session.block.cues[0].text
    since = len(d.log)
    d.until(lambda s: s.block.kind != "reps")
    times = count_times(d, since)
    assert len(times) == r.exercises[e].reps.min
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == pytest.approx([1.0] * (len(times) - 1))
    assert f"{r.exercises[e].reps.min} steps" in announced
    assert "reps" not in Plan(r).work_summary(r.exercises[e])


def test_the_second_side_takes_as_many_steps_as_the_first_side_did():
    d = Driver(BAND)
    d.until_block("reps", WALKS)
    d.until(lambda s: s.counts_fired == 6)
    d.say("done")
    d.until(lambda s: s.block.kind == "reps")
    block = d.session.block
    assert (block.side_index, block.target) == (1, 6)
    assert "6 steps, as many as on the first side. Begin." in d.texts()[-1]
    d.say("more")
    assert d.texts()[-1] == "This side matches the first side: 6."
    d.until(lambda s: s.block.kind != "reps")
    record = d.events("set_finished")[-1].data
    assert (record["side_index"], record["done"], record["target"]) == (1, 6, 6)


def test_a_first_side_stretched_with_more_is_matched_too():
    d = Driver(BAND)
    d.until_block("reps", WALKS)
    d.say("more")
    d.until(lambda s: s.block.kind == "reps" and s.block.side_index == 1)
    assert d.session.block.target == 30


def test_sides_that_need_not_match_keep_their_own_target():
    d = Driver(BAND)
    d.until_block("reps", 0)  # side step ups
    d.until(lambda s: s.counts_fired == 3)
    d.say("done")
    d.until(lambda s: s.block.kind == "reps")
    assert d.session.block.target == 15


MINIMAL = """
name: walk
title: Walk
source: test
safety: [Careful.]
exercises:
  - name: Walk
    steps: [Walk.]
    reps: 10
    sides: [left, right]
{extra}
"""


@pytest.mark.parametrize(("extra", "message"), [
    ("    step_seconds: 0.1", "step_seconds: must be between"),
    ("    step_seconds: fast", "step_seconds: expected seconds a step"),
    ("    step_seconds: 1\n    tempo: {up: 1, down: 1}", "not with a tempo"),
    ("    sides_match: yes please", "sides_match: expected true or false"),
])
def test_the_walking_fields_are_checked(extra, message):
    with pytest.raises(RoutineError) as err:
        parse_routine(MINIMAL.format(extra=extra).encode(), "walk.yaml")
    assert message in str(err.value)


def test_sides_match_needs_two_sides():
    text = MINIMAL.format(extra="    sides_match: true").replace("sides: [left, right]", "sides: [left]")
    with pytest.raises(RoutineError, match="sides_match: needs at least two sides"):
        parse_routine(text.encode(), "walk.yaml")


def test_the_walking_fields_are_read_and_shown_in_json():
    r = parse_routine(MINIMAL.format(extra="    step_seconds: 1\n    sides_match: true").encode(), "walk.yaml")
    ex = r.exercises[0]
    assert (ex.step_seconds, ex.sides_match) == (1.0, True)
    shown = r.to_json()["exercises"][0]
    assert (shown["step_seconds"], shown["sides_match"]) == (1.0, True)


def test_a_short_first_side_does_not_lower_the_stored_target(tmp_path):
    from voicecoach.app.run import HistoryRecorder, current_targets
    from voicecoach.core.session import Event
    from voicecoach.store.history import History

    d = Driver(BAND)
    d.session.targets.update({e: 20 for e in range(4)})  # stepped up to 20 in earlier sessions
    d.until_block("reps", WALKS)
    assert d.session.block.target == 20
    d.until(lambda s: s.counts_fired == 6)
    d.say("done")
    d.until(lambda s: s.block.kind == "reps")
    assert d.session.block.target == 6  # the second side matches the first
    d.run_out()
    with History.open(tmp_path / "h.sqlite3", timeout=1.0) as store:
        recorder = HistoryRecorder(store, d.plan.routine, len(d.plan.set_keys()), None,
                                   wait_for_resume_answer=False, targets={e: 20 for e in range(4)})
        for _, o in d.log:
            if isinstance(o, Event):
                recorder({"type": o.type, **o.data})
        rows = store.session(store.recent(1)[0]["id"])["sets"]
        walks = [(r["side_index"], r["done"], r["target"]) for r in rows
                 if r["exercise_index"] == WALKS and r["set_no"] == 1]
        assert walks == [(0, 6, 20), (1, 6, 20)]
        assert current_targets(store, d.plan.routine)["Lateral band walks"] == 20
