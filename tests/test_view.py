"""The live view: its state follows a real session's records, the rich panel shows what
a person on the mat needs, the plain view writes a log line per event, and
`make_view` picks the right one for the terminal and the mode."""

from __future__ import annotations

import copy
import io
import math
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from voicecoach.app.runner import Runner
from voicecoach.app.view import LiveView, PlainView, ViewState, big_text, make_view, render
from voicecoach.core.clock import FakeClock
from voicecoach.core.commands import Command
from voicecoach.core.plan import Plan, PlanSettings
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Session as CoachSession
from voicecoach.core.session import SessionOptions
from voicecoach.voice.base import Heard, Listener
from voicecoach.voice.speakers import PrintSpeaker

MINI = Path(__file__).parent / "fixtures" / "mini.yaml"


class QuietListener(Listener):
    """Input that stays open and says nothing: the commands come from the fake clock."""

    def start(self, on_heard: Any, on_closed: Any) -> None:
        pass

    def close(self) -> None:
        pass


class Snapshots:
    """A sink that keeps every record and a copy of the view state after chosen ones."""

    def __init__(self, scale: float = 1.0) -> None:
        self.state = ViewState()
        self.scale = scale
        self.records: list[dict[str, Any]] = []
        self.after: dict[str, tuple[ViewState, float]] = {}

    def __call__(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.state.apply(record, self.scale)
        key = record.get("text") if record["type"] == "say" else record["type"]
        if key not in self.after:  # the first occurrence of each sentence or event
            self.after[str(key)] = (copy.deepcopy(self.state), record["t"])


def run_session(commands: list[tuple[float, Command, str]] = (), scale: float = 1.0,
                sinks: list[Any] | None = None, checkins: bool = False) -> Snapshots:
    """A whole mini session on a fake clock, with commands heard at the given times."""
    plan = Plan(load_routine(MINI), PlanSettings(ready_seconds=5))
    snaps = Snapshots(scale)
    clock = FakeClock()
    for at, command, text in commands:
        clock.schedule(at, ("heard", Heard(command, text, start=0.0, end=0.4, emitted=0.6, confidence=0.9)))
    runner = Runner(CoachSession(plan, SessionOptions(checkins=checkins)), PrintSpeaker(io.StringIO()), QuietListener(),
                    clock=clock, time_scale=scale, sinks=[snaps, *(sinks or [])])
    runner.run()
    return snaps


def text_of(renderable: Any, width: int = 70) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, force_terminal=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture(scope="module")
def plain_run() -> Snapshots:
    return run_session()


def test_state_follows_sets_reps_and_holds(plain_run: Snapshots):
    s, _ = plain_run.after["set_started"]
    assert (s.title, s.exercise, s.exercise_no, s.set_no, s.sets, s.side) == (
        "Mini routine", "Lifts", 1, 1, 2, "left leg")
    s, _ = plain_run.after["Round 1 of 2, left leg. 3 reps, up to 5 if you say more. Begin."]
    assert (s.phase, s.kind, s.target, s.top, s.count) == ("set", "reps", 3, 5, 0)
    s, _ = plain_run.after["2"]
    assert (s.phase, s.count) == ("set", 2)
    counts = [r for r in plain_run.records if r["type"] == "say" and r["kind"] == "count"]
    assert [r["text"] for r in counts][:3] == ["1", "2", "3"]

    s, t = plain_run.after["Hold for 20 seconds, or up to 30 if you say more. Get set."]
    assert (s.exercise, s.kind, s.target) == ("Wall press", "hold", 20)
    s, t = plain_run.after["10 seconds to go."]
    assert s.seconds_left(t) == 10 and s.seconds_left(t + 0.5) == 10 and s.seconds_left(t + 1.2) == 9
    s, t = plain_run.after["And release."]
    assert s.seconds_left(t) == 0

    s, _ = plain_run.after["session_end"]
    assert (s.phase, s.outcome, s.sets_done, s.sets_planned) == ("finished", "finished", 6, 6)


def test_state_counts_down_rests_and_the_get_ready(plain_run: Snapshots):
    s, t = plain_run.after["Get into position. We start in 5 seconds. Say go when you're ready."]
    assert (s.phase, s.exercise, s.exercise_no, s.exercises) == ("ready", "Lifts", 1, 3)
    assert s.seconds_left(t) == 5 and s.seconds_left(t + 2.5) == 3
    s, t = plain_run.after["Rest for 20 seconds. Next: Round 2 of 2, left leg."]
    assert (s.phase, s.next_up, s.seconds_left(t + 1)) == ("rest", "Round 2 of 2, left leg", 19)
    s, _ = plain_run.after["Switch sides. Next: right leg."]
    assert (s.phase, s.next_up) == ("switch", "right leg")


def test_time_scale_turns_record_seconds_into_routine_seconds():
    snaps = run_session(scale=0.1)
    s, t = snaps.after["10 seconds to go."]
    assert s.seconds_left(t, 0.1) == 10 and s.seconds_left(t + 0.25, 0.1) == 8


def test_commands_pause_and_more_show_up():
    # At 44 s the first set of Lifts is counting; "more" raises it to 5.
    snaps = run_session([(44.0, Command("more"), "more"), (45.0, Command("pause"), "pause"),
                         (50.0, Command("resume"), "resume")])
    s, _ = snaps.after["Keep going, up to 5."]
    assert (s.target, s.last_command) == (5, "more")
    s, _ = snaps.after["paused"]
    assert s.paused and s.last_command == "pause"
    s, _ = snaps.after["resumed"]
    assert not s.paused
    assert "PAUSED" in text_of(render(snaps.after["paused"][0]))


def view_at(records: list[dict[str, Any]], t: float, scale: float = 1.0) -> ViewState:
    """The view state after every record up to real time `t`."""
    state = ViewState()
    for record in records:
        if record["t"] <= t:
            state.apply(record, scale)
    return state


def shown_at(records: list[dict[str, Any]], t: float, scale: float = 1.0) -> str:
    """What the panel shows at real time `t`."""
    return text_of(render(view_at(records, t, scale), t, scale))


# In the mini session the hold's "Hold." is said at 157.5 s and its clock starts at 158.6 s
# (20 s, to 178.6 s); the rest after the second Lifts set runs from 76.6 s to 96.6 s.
HOLD_FROM, HOLD_TO, REST_FROM, REST_TO = 158.608, 178.608, 76.631, 96.631


def test_the_hold_counts_down_from_its_deadline_not_from_the_words(plain_run: Snapshots):
    records = plain_run.records
    assert view_at(records, 157.0).seconds_left(157.0) is None
    assert "get set to hold" in shown_at(records, 157.0)
    for t in (HOLD_FROM + 0.5, 165.0, 170.2, HOLD_TO - 0.5):
        assert view_at(records, t).seconds_left(t) == math.ceil(HOLD_TO - t), t
    assert big_text(str(math.ceil(HOLD_TO - 163.0)))[0] in shown_at(records, 163.0)
    assert view_at(records, HOLD_TO + 0.5).seconds_left(HOLD_TO + 0.5) == 0


def test_the_rest_counts_down_every_second(plain_run: Snapshots):
    for t in (REST_FROM + 0.1, 80.0, 90.5, REST_TO - 0.1):
        state = view_at(plain_run.records, t)
        assert state.phase == "rest" and state.seconds_left(t) == math.ceil(REST_TO - t), t
    assert "seconds of rest" in shown_at(plain_run.records, 85.0)


def test_the_view_never_reads_the_coach_s_words():
    # Every sentence reworded: the panel must not change.
    def reworded(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "text": "(reworded)"} if "text" in record else record

    snaps = run_session()
    plain = [reworded(r) for r in snaps.records]
    for t in (33.0, 46.0, 55.0, 85.0, 160.0, 207.0, 230.0):
        a, b = view_at(snaps.records, t), view_at(plain, t)
        b.last_said = a.last_said
        assert a == b, t
        assert a.seconds_left(t) == b.seconds_left(t)


def test_more_during_a_hold_moves_the_countdown():
    snaps = run_session([(165.0, Command("more"), "more")])
    state = view_at(snaps.records, 166.0)
    assert (state.target, state.last_command) == (30, "more")
    assert state.seconds_left(170.0) == math.ceil(HOLD_TO + 10 - 170.0)


def test_a_question_stops_the_countdown_until_it_is_answered():
    snaps = run_session([(165.0, Command("stop"), "stop"), (175.0, Command("no"), "no")])
    state = view_at(snaps.records, 170.0)
    assert state.question == "stop" and state.seconds_left(170.0) == math.ceil(HOLD_TO - 165.0)
    assert "waiting for your answer" in shown_at(snaps.records, 170.0)
    state = view_at(snaps.records, 176.0)
    assert state.question is None and state.seconds_left(176.0) == math.ceil(HOLD_TO + 10 - 176.0)
    assert "waiting for your answer" not in shown_at(snaps.records, 176.0)


def test_an_unanswered_opening_question_does_not_freeze_the_panel():
    # The pain check-in times out after 20 s; the intro then runs and the panel follows it.
    snaps = run_session(checkins=True)
    records = snaps.records
    assert view_at(records, 5.0).question == "checkin_before"
    assert "waiting for your answer" in shown_at(records, 5.0)
    ready = next(r for r in records if r["type"] == "block_started" and r["kind"] == "ready")
    t = ready["t"] + 2.5
    state = view_at(records, t)
    assert state.question is None and state.phase == "ready"
    assert state.seconds_left(t) == math.ceil(ready["deadline"] - t) == 3
    assert "waiting for your answer" not in shown_at(records, t)


def test_pause_freezes_the_rest_and_resume_carries_on():
    snaps = run_session([(80.0, Command("pause"), "pause"), (90.0, Command("resume"), "resume")])
    for t in (81.0, 89.0):
        assert view_at(snaps.records, t).seconds_left(t) == math.ceil(REST_TO - 80.0)
    assert "PAUSED" in shown_at(snaps.records, 85.0)
    assert view_at(snaps.records, 92.0).seconds_left(92.0) == math.ceil(REST_TO + 10 - 92.0)


def test_panel_shows_exercise_set_side_count_and_last_command():
    snaps = run_session([(44.0, Command("more"), "more")])
    state, t = snaps.after["Keep going, up to 5."]
    state.count = 2
    shown = text_of(render(state, t))
    assert "LIFTS" in shown and "Round 1 of 2, left leg" in shown
    assert 'heard: "more"' in shown and "Mini routine" in shown
    for row in big_text("2/5"):
        assert row in shown
    assert "reps" in shown

    state, t = snaps.after["10 seconds to go."]
    shown = text_of(render(state, t + 0.5))
    assert "WALL PRESS" in shown and "seconds to hold" in shown
    assert big_text("10")[0] in shown

    state, t = snaps.after["Rest for 20 seconds. Next: Round 2 of 2, left leg."]
    shown = text_of(render(state, t))
    assert "next: Round 2 of 2, left leg" in shown and "seconds of rest" in shown
    assert "Session finished" in text_of(render(snaps.after["session_end"][0]))


def test_big_digits_grow_with_the_terminal():
    rows = big_text("10")
    assert len(rows) == 5 and all("█" in r for r in rows)
    assert big_text("8") != big_text("0")
    double = big_text("10", 2)
    assert len(double) == 10 and len(double[0]) == 2 * len(rows[0])

    state = ViewState(title="T", phase="set", exercise="Bridges", kind="reps", count=7, target=10)
    for height, scale in ((25, 1), (30, 2), (40, 3)):
        screen = Console(file=io.StringIO(), width=80, height=height, record=True, force_terminal=True,
                         color_system=None)
        screen.print(render(state))
        shown = screen.export_text()
        assert all(row in shown for row in big_text("7/10", scale)), height
        assert big_text("7/10", scale + 1)[0] not in shown


def test_plain_view_writes_a_line_per_event_not_per_rep():
    out = io.StringIO()
    run_session([(44.0, Command("more"), "more")], sinks=[PlainView(out)])
    lines = out.getvalue().splitlines()
    assert lines[0] == "== Mini routine =="
    assert lines[1] == "-- Lifts: Round 1 of 2, left leg"
    assert lines[2] == '   heard "more" (0.90)'
    assert lines[3] == "   done 5 of 5 reps"
    assert "-- Wall press" in lines  # one set: named as the coach names it, with no number
    assert "   done 20 of 20 s" in lines
    assert lines[-1] == "== finished: 6 set(s) done =="
    assert not any(line.strip().isdigit() for line in lines)  # no counts


def test_plain_view_leaves_typed_commands_to_the_terminal_that_shows_them():
    out = io.StringIO()
    view = PlainView(out)
    view({"t": 0.0, "type": "command", "name": "next", "heard": "next"})
    assert out.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_make_view_picks_by_mode_terminal_and_text_mode():
    assert make_view("off", Terminal()) is None
    assert make_view("auto", Terminal(), text_mode=True) is None
    assert isinstance(make_view("auto", io.StringIO()), PlainView)
    assert isinstance(make_view("live", io.StringIO()), PlainView)
    in_text = make_view("live", Terminal(), text_mode=True)
    assert isinstance(in_text, LiveView) and in_text.in_place
    assert isinstance(make_view("plain", Terminal()), PlainView)
    live = make_view("auto", Terminal(), time_scale=0.5)
    assert isinstance(live, LiveView) and live.scale == 0.5
    with pytest.raises(ValueError, match="unknown view"):
        make_view("fancy", Terminal())


def test_live_view_draws_while_running_and_leaves_the_final_panel():
    out = Terminal()
    console = Console(file=out, width=70, force_terminal=True, color_system=None)
    view = LiveView(console=console, refresh_per_second=20)
    run_session(sinks=[view])
    assert view._live is None  # stopped at session_end
    final = out.getvalue()
    assert "Mini routine" in final and "Session finished" in final
    view({"t": 500.0, "type": "spoken", "text": "Well done."})  # the last words finish playing later
    assert view._live is None and out.getvalue() == final
    view.close()  # closing twice is harmless


def test_live_view_in_text_mode_shows_the_panel_with_the_coach_s_lines_above_it():
    out = Terminal()
    console = Console(file=out, width=70, force_terminal=True, color_system=None)
    view = LiveView(console=console, refresh_per_second=20, in_place=True)
    plan = Plan(load_routine(MINI), PlanSettings(ready_seconds=5))
    runner = Runner(CoachSession(plan), PrintSpeaker(view.printer(out)), QuietListener(), clock=FakeClock(),
                    sinks=[view])
    runner.run()
    shown = out.getvalue()
    assert "coach: Welcome. This is Mini routine." in shown and "coach: Exercise 2 of 3: Wall press." in shown
    assert "Session finished" in shown and "6 of 6 sets done" in shown
