"""Resume and progression through `voicecoach run --text` as a real process.

Resume: after a kill, SIGTERM or Ctrl-C mid-session, running the routine again offers to
continue, and on "yes" the first set it runs is the first set the history does not have.
Progression: two complete sessions at the current targets earn an offer of one more rep or
five more hold seconds, up to the top of each range, and an accepted step stays.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from test_never_lose import TINY_SETS, Coach, SetKey, pycache, sessions, set_key, tiny_routine

# Slow: each test runs the coach as a process on the real clock.
pytestmark = pytest.mark.slow

__all__ = ["pycache"]  # the shared bytecode-cache fixture, imported to be used here

SCALE = 0.004
OFFER = "Say yes to continue where you stopped"
STEP_UP = "Shall we step up a little today?"


def run_once(routine: Path, home: Path, pycache: Path, *extra: str, answers: list[str] | None = None,
             scale: float = SCALE) -> Coach:
    """A whole session: typed `answers` up front, then end of input; returns the ended Coach."""
    coach = Coach(routine, home, "--no-checkins", *extra, time_scale=scale, pycache=pycache)
    for line in answers or []:
        coach.type(line)
    code = coach.finish()
    assert code == 0, coach.err
    assert "Traceback" not in coach.err
    return coach


def stored_keys(home: Path, session_id: int) -> list[SetKey]:
    """The set keys a session recorded, in the order they finished."""
    for s in sessions(home):
        if s["id"] == session_id:
            return [(x["exercise_index"], x["set_no"], x["side_index"]) for x in s["sets"]]
    raise KeyError(session_id)


def first_unfinished(done: set[SetKey]) -> SetKey | None:
    return next((key for key in TINY_SETS if key not in done), None)


# Where to stop the first run: on seeing the n-th record of a type (mid-set after a
# set_started, during the rest or switch after a set_finished), and with which signal.
KILL_POINTS = [(kind, n) for n in range(1, 7) for kind in ("set_started", "set_finished")]
SIGNALS = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]


def test_resume_lands_on_the_first_unfinished_set_after_any_interruption(tmp_path, pycache):
    routine = tiny_routine(tmp_path)
    results = []
    for i, (kind, n) in enumerate(KILL_POINTS):
        sig = SIGNALS[i % len(SIGNALS)]
        first = Coach(routine, tmp_path, "--no-checkins", "--fresh", time_scale=SCALE, pycache=pycache)
        first.wait_count(kind, n)
        code = first.kill(sig)
        killed = max(s["id"] for s in sessions(tmp_path))
        done = stored_keys(tmp_path, killed)
        logged = [set_key(r) for r in first.of_type("set_finished")]
        if code == 0 and (kind, n) == KILL_POINTS[-1]:
            # After the last set only the goodbye is left, a few milliseconds at this time scale:
            # the session may end before the signal lands, and then it must have ended whole.
            assert done == TINY_SETS and sessions(tmp_path)[-1]["outcome"] == "finished"
        elif sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
            # The history may be one set ahead of the log (killed between the two writes).
            assert done[:len(logged)] == logged and len(done) - len(logged) <= 1
        else:
            assert code == 130, first.err
            assert "Traceback" not in first.err and "Session interrupted" in first.err
            assert done == logged
            assert sessions(tmp_path)[-1]["outcome"] == "interrupted"
        assert done == TINY_SETS[:len(done)]
        expected = first_unfinished(set(done))

        second = Coach(routine, tmp_path, "--no-checkins", time_scale=SCALE, pycache=pycache)
        second.type("yes")
        if expected is None or not done:
            # Nothing or everything was done before the kill: there is nothing to continue.
            assert second.finish() == 0
            assert OFFER not in second.out
            assert set_key(second.of_type("set_started")[0]) == TINY_SETS[0]
            results.append((kind, n, sig.name, None))
            continue
        started = second.wait_for(lambda r: r["type"] == "set_started")
        assert set_key(started) == expected, f"{kind} #{n}, {sig.name}: resumed at {started}, not {expected}"
        assert second.kill(signal.SIGTERM) == 130
        assert OFFER in second.out
        resumed = sessions(tmp_path)[-1]
        assert resumed["resumed_from"] == killed and resumed["outcome"] == "interrupted"
        results.append((kind, n, sig.name, expected))
    print("\nresumed at:", results)
    assert sum(r[3] is not None for r in results) >= len(KILL_POINTS) - 2


def test_a_resumed_session_can_be_interrupted_and_resumed_again_until_done(tmp_path, pycache):
    routine = tiny_routine(tmp_path)
    done: list[SetKey] = []
    runs = 0
    while True:
        coach = Coach(routine, tmp_path, "--no-checkins", time_scale=SCALE, pycache=pycache)
        coach.type("yes")
        started = coach.wait_for(lambda r: r["type"] == "set_started")
        runs += 1
        assert set_key(started) == TINY_SETS[len(done)]
        # Let two sets finish, then Ctrl-C (or let the last ones run to the end).
        target = min(len(TINY_SETS) - len(done), 2)
        coach.wait_count("set_finished", target)
        code = coach.kill(signal.SIGINT)
        assert (OFFER in coach.out) == (runs > 1)
        done += [set_key(r) for r in coach.of_type("set_finished")]
        if len(done) == len(TINY_SETS):
            break
        assert code == 130
    assert done == TINY_SETS and runs == 3
    chain = sessions(tmp_path)
    assert [s["resumed_from"] for s in chain] == [None, chain[0]["id"], chain[1]["id"]]
    assert sum(len(s["sets"]) for s in chain) == len(TINY_SETS)
    # The chain is complete: nothing is offered, and the next session starts at the top.
    after = run_once(routine, tmp_path, pycache)
    assert OFFER not in after.out
    assert [set_key(r) for r in after.of_type("set_started")] == TINY_SETS


def test_fresh_no_and_a_finished_or_stopped_session_offer_nothing(tmp_path, pycache):
    routine = tiny_routine(tmp_path)

    def interrupt_after_two_sets() -> None:
        coach = Coach(routine, tmp_path, "--no-checkins", "--fresh", time_scale=SCALE, pycache=pycache)
        coach.wait_count("set_finished", 2)
        assert coach.kill(signal.SIGTERM) == 130

    interrupt_after_two_sets()
    fresh = run_once(routine, tmp_path, pycache, "--fresh")
    assert OFFER not in fresh.out
    assert [set_key(r) for r in fresh.of_type("set_started")] == TINY_SETS
    assert sessions(tmp_path)[-1]["resumed_from"] is None

    interrupt_after_two_sets()
    declined = run_once(routine, tmp_path, pycache, answers=["no"])
    assert OFFER in declined.out and "Starting from the beginning." in declined.out
    assert [set_key(r) for r in declined.of_type("set_started")] == TINY_SETS
    assert sessions(tmp_path)[-1]["resumed_from"] is None

    # The last session finished: nothing to offer.
    again = run_once(routine, tmp_path, pycache)
    assert OFFER not in again.out

    # A session ended with "stop" and "yes" is stopped, not interrupted.
    coach = Coach(routine, tmp_path, "--no-checkins", time_scale=SCALE, pycache=pycache)
    coach.wait_count("set_finished", 2)
    coach.type("stop")
    coach.type("yes")
    assert coach.finish() == 0
    assert sessions(tmp_path)[-1]["outcome"] == "stopped"
    after_stop = run_once(routine, tmp_path, pycache)
    assert OFFER not in after_stop.out


def test_an_interruption_during_the_offer_keeps_the_offer(tmp_path, pycache):
    """Ctrl-C while the coach asks whether to continue changes nothing in the history."""
    routine = tiny_routine(tmp_path)
    coach = Coach(routine, tmp_path, "--no-checkins", time_scale=SCALE, pycache=pycache)
    coach.wait_count("set_finished", 3)
    assert coach.kill(signal.SIGTERM) == 130
    before = sessions(tmp_path)
    asking = Coach(routine, tmp_path, "--no-checkins", time_scale=1.0, pycache=pycache)
    asking.wait_for(lambda r: r["type"] == "question" and r.get("kind") == "resume")
    assert asking.kill(signal.SIGINT) == 130
    assert OFFER in asking.out
    assert sessions(tmp_path) == before
    again = Coach(routine, tmp_path, "--no-checkins", time_scale=SCALE, pycache=pycache)
    again.type("yes")
    assert set_key(again.wait_for(lambda r: r["type"] == "set_started")) == TINY_SETS[3]
    assert again.kill(signal.SIGTERM) == 130


# ----- progression -----------------------------------------------------------------------


def targets_of(coach: Coach) -> dict[str, set[Any]]:
    """Each exercise's set targets in a run's event log."""
    found: dict[str, set[Any]] = {}
    for r in coach.of_type("set_finished"):
        found.setdefault(r["exercise"], set()).add(r["target"])
    return found


def test_two_complete_sessions_earn_a_step_up_to_the_top_of_each_range(tmp_path, pycache):
    """Lifts are 2-4 reps and Press 5-15 seconds: the steps are 2 -> 3 -> 4 reps and
    5 -> 10 -> 15 seconds, each after two complete sessions at the current target."""
    routine = tiny_routine(tmp_path)
    ladder = []
    for _ in range(7):
        coach = run_once(routine, tmp_path, pycache, answers=["yes"])
        ladder.append((STEP_UP in coach.out, {k: sorted(v) for k, v in targets_of(coach).items()}))
    assert ladder == [
        (False, {"Lifts": [2], "Press": [5]}),
        (False, {"Lifts": [2], "Press": [5]}),
        (True, {"Lifts": [3], "Press": [10]}),
        (False, {"Lifts": [3], "Press": [10]}),  # an accepted step stays
        (True, {"Lifts": [4], "Press": [15]}),
        (False, {"Lifts": [4], "Press": [15]}),
        (False, {"Lifts": [4], "Press": [15]}),  # both at the top of their ranges: no offer
    ]


def test_declining_a_step_up_keeps_the_targets_and_asks_again_next_time(tmp_path, pycache):
    routine = tiny_routine(tmp_path)
    run_once(routine, tmp_path, pycache)
    run_once(routine, tmp_path, pycache)
    declined = run_once(routine, tmp_path, pycache, answers=["no"])
    assert STEP_UP in declined.out and "Same targets as last time." in declined.out
    assert targets_of(declined) == {"Lifts": {2}, "Press": {5}}
    accepted = run_once(routine, tmp_path, pycache, answers=["yes"])
    assert STEP_UP in accepted.out and targets_of(accepted) == {"Lifts": {3}, "Press": {10}}


def test_more_in_a_set_or_an_incomplete_session_does_not_move_the_targets(tmp_path, pycache):
    routine = tiny_routine(tmp_path)
    run_once(routine, tmp_path, pycache)
    # "more" in every set takes each to the top of its range; that is not a new target.
    # (A slower clock here, so that each "more" lands inside its set.)
    coach = Coach(routine, tmp_path, "--no-checkins", time_scale=0.02, pycache=pycache)
    for n in range(1, len(TINY_SETS) + 1):
        coach.wait_count("set_started", n)
        coach.type("more")
    assert coach.finish() == 0
    assert targets_of(coach) == {"Lifts": {4}, "Press": {15}}
    assert {s["target"] for s in sessions(tmp_path)[-1]["sets"]} == {2, 5}, "the plan's targets are kept"
    # Two complete sessions at the current targets (more counts as complete): a step of one.
    offered = run_once(routine, tmp_path, pycache, answers=["yes"])
    assert STEP_UP in offered.out and targets_of(offered) == {"Lifts": {3}, "Press": {10}}
    # A stopped session keeps the targets for the exercises it never reached.
    coach = Coach(routine, tmp_path, "--no-checkins", time_scale=SCALE, pycache=pycache)
    coach.wait_count("set_finished", 1)
    coach.type("stop")
    coach.type("yes")
    assert coach.finish() == 0
    later = run_once(routine, tmp_path, pycache)
    assert STEP_UP not in later.out and targets_of(later) == {"Lifts": {3}, "Press": {10}}

