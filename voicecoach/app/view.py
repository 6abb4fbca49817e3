"""The live view: what a session is doing, on the terminal, readable from the mat.

A view is a runner sink (a callable taking the records the runner emits, the same
dicts the event log writes).  `make_view(mode, out)` picks one:

* `live` (rich): a full-screen panel with the routine, the exercise in capitals, the
  set and side, the rep count or the seconds left in block digits 5, 10 or 15 lines
  tall (as the terminal allows), and the last command heard.  It redraws itself a few
  times a second, so a countdown moves between the coach's ticks; when the session
  ends the final panel is printed to the normal screen.
* `plain`: one line per event worth a log line (routine, each set as it starts and
  how it finished, spoken commands, pauses, the end), for a journal or a pipe.  No
  per-rep lines: a log is read later, not watched.
* `off` / None.

`auto` is `live` on a terminal and `plain` otherwise.  In text mode the coach's
words are already printed (`coach: ...`) and the commands are the user's own typing,
so `auto` shows nothing there; `live` draws the panel at the bottom of the terminal,
with the printed lines (see `LiveView.printer`) scrolling above it.

Everything is learned from the session's structured events, never from the coach's
words: `block_started` and `set_started` say where we are and when the block's
countdown reaches zero (`deadline`, in session seconds), `clock` says when that clock
stopped, started or moved (a pause, a question, the coach running late), `count` gives
the reps, `question` and `question_answered` open and close a question.  Record times
`t` are real seconds, so the session's time scale turns them into session seconds.
"""

from __future__ import annotations

import importlib.util
import io
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from voicecoach.core.tally import Tally

Record = dict[str, Any]
Sink = Callable[[Record], None]

MODES = ("auto", "live", "plain", "off")

# A block's kind -> the phase the panel shows.
_PHASES = {"intro": "intro", "exercise": "exercise", "ready": "ready", "reps": "set", "hold": "set",
           "rest": "rest", "switch": "switch", "finish": "finish", "harder": "exercise"}


@dataclass
class ViewState:
    """Where the session is, as far as its events tell.  Pure: no I/O, no clock."""

    title: str = ""
    phase: str = "starting"  # starting, intro, exercise, ready, set, between, rest, switch, finish, finished
    exercise: str = ""
    exercise_no: int | None = None
    exercises: int | None = None
    set_no: int | None = None
    sets: int | None = None
    side: str | None = None
    label: str | None = None  # the set as the coach names it ("Round 2 of 3, left leg")
    kind: str | None = None  # "reps" or "hold" during a set
    count: int = 0
    target: int | None = None
    top: int | None = None
    max_effort: bool = False  # a hold for as long as you can: counted up toward the target, its goal
    deadline: float | None = None  # session time at which the countdown reaches zero
    countdown_from: float | None = None  # session time at which the countdown starts
    running: bool = True  # whether the block's clock runs (not paused, no question open)
    frozen_left: float | None = None  # session seconds left when the clock stopped
    next_up: str | None = None  # what the rest or switch leads to ("Set 2 of 3, left leg")
    paused: bool = False
    question: str | None = None  # the kind of question waiting for an answer
    last_command: str | None = None
    last_said: str = ""
    outcome: str | None = None
    tally: Tally = field(default_factory=Tally)  # the sets done, counted as the session counts them
    sets_planned: int | None = None
    done_before: set[tuple[int, int, int]] = field(default_factory=set)  # by the sessions this one resumes
    now: float = 0.0  # time of the latest record (real seconds)

    def apply(self, record: Record, time_scale: float = 1.0) -> None:
        """Update from one runner record."""
        kind = record.get("type")
        self.now = max(self.now, float(record.get("t", self.now)))
        if kind == "session_start":
            self.title = str(record.get("title") or record.get("routine") or "")
            self.sets_planned = record.get("sets_planned")
            self.done_before = {(int(e), int(s), int(side)) for e, s, side in record.get("done_before") or ()}
            self.exercises = record.get("exercises")
            self.phase = "intro"
        elif kind in ("block_started", "set_started"):
            self._start_block(record)
        elif kind == "plan_changed":  # a round added by a step up
            self.sets_planned = record.get("sets_planned", self.sets_planned)
        elif kind == "clock":
            self._set_clock(record.get("running", True), record.get("deadline"), record.get("countdown_from"),
                            record.get("at"))
        elif kind == "target_changed":
            self.target = record.get("target", self.target)
            self.deadline = record.get("deadline", self.deadline)
        elif kind == "count":
            self.count = int(record.get("count") or 0)
        elif kind in ("set_finished", "exercise_skipped"):
            self.tally.apply(kind, record)
            self.phase = "between"
            self.kind = None
            self.deadline = self.countdown_from = None
        elif kind == "command":
            self.last_command = str(record.get("heard") or record.get("name") or "")
        elif kind == "paused":
            self.paused = True
        elif kind == "resumed":
            self.paused = False
        elif kind == "question":
            self.question = str(record.get("kind") or "question")
        elif kind == "question_answered":
            self.question = None
        elif kind == "session_end":
            self.phase = "finished"
            self.outcome = str(record.get("outcome") or "finished")
            self.kind = None
            self.deadline = self.countdown_from = None
            self.paused = False
            self.question = None
        elif kind == "say":
            self.last_said = str(record.get("text") or "")

    @property
    def sets_done(self) -> int:
        """The sets done, with those of the sessions this one resumes: as the spoken summary counts."""
        return self.tally.done_in_all(self.done_before)

    def _start_block(self, record: Record) -> None:
        block = str(record.get("kind") or "")
        self.phase = _PHASES.get(block, block)
        if record.get("exercise") is not None:
            self.exercise = str(record["exercise"])
            self.exercise_no = int(record["exercise_index"]) + 1
        elif block in ("intro", "finish"):
            self.exercise, self.exercise_no = "", None
        self.exercises = record.get("exercises", self.exercises)
        self.set_no, self.sets, self.side = record.get("set"), record.get("sets"), record.get("side")
        self.label = record.get("label")
        self.next_up = record.get("next")
        self.kind = block if self.phase == "set" else None
        self.target, self.top = record.get("target"), record.get("top")
        self.max_effort = bool(record.get("max_effort"))
        self.count = 0
        self._set_clock(record.get("running", True), record.get("deadline"), record.get("countdown_from"), None)

    def _set_clock(self, running: bool, deadline: float | None, countdown_from: float | None,
                   at: float | None) -> None:
        self.running = bool(running)
        self.deadline, self.countdown_from = deadline, countdown_from
        self.frozen_left = None
        if not self.running and deadline is not None:
            start = countdown_from if countdown_from is not None else deadline
            self.frozen_left = deadline - (at if at is not None else start)

    def seconds_left(self, now: float | None = None, time_scale: float = 1.0) -> int | None:
        """Whole routine seconds until the running countdown ends, or None (none, or a hold
        that has not started yet)."""
        if self.deadline is None:
            return None
        if not self.running and self.frozen_left is not None:
            left = self.frozen_left
        else:
            session_now = (self.now if now is None else now) / time_scale
            if self.countdown_from is not None and session_now < self.countdown_from - 1e-6:
                return None
            left = self.deadline - session_now
        if self.countdown_from is not None and left > self.deadline - self.countdown_from + 1e-6:
            return None  # stopped before it started
        return max(0, math.ceil(left - 1e-6))

    def where(self) -> str:
        """The set as the coach names it ("Round 2 of 3, left leg"), or "" between sets."""
        if self.label is not None:
            return str(self.label)
        bits = []
        if self.set_no is not None and self.sets:
            bits.append(f"Set {self.set_no} of {self.sets}")
        if self.side:
            bits.append(str(self.side))
        return " · ".join(bits)


# -- big digits --------------------------------------------------------------------------

# A five-line block font for the number that matters (reps done, seconds left).
_GLYPHS = {
    "0": ["████", "█  █", "█  █", "█  █", "████"],
    "1": ["  █ ", " ██ ", "  █ ", "  █ ", " ███"],
    "2": ["████", "   █", "████", "█   ", "████"],
    "3": ["████", "   █", " ███", "   █", "████"],
    "4": ["█  █", "█  █", "████", "   █", "   █"],
    "5": ["████", "█   ", "████", "   █", "████"],
    "6": ["████", "█   ", "████", "█  █", "████"],
    "7": ["████", "   █", "  █ ", " █  ", " █  "],
    "8": ["████", "█  █", "████", "█  █", "████"],
    "9": ["████", "█  █", "████", "   █", "████"],
    "/": ["   █", "  █ ", " █  ", "█   ", "    "],
    " ": ["  ", "  ", "  ", "  ", "  "],
}


def big_text(text: str, scale: int = 1) -> list[str]:
    """`text` (digits, spaces and '/') as block characters, 5 * `scale` lines tall."""
    rows = ["", "", "", "", ""]
    for ch in text:
        glyph = _GLYPHS.get(ch, _GLYPHS[" "])
        for i in range(5):
            rows[i] += glyph[i] + " "
    wide = ["".join(c * scale for c in r.rstrip()) for r in rows]
    return [r for r in wide for _ in range(scale)]


class BigNumber:
    """A rich renderable: `text` in block digits, two or three times the size when the
    terminal has room for that and the rest of the panel."""

    ROOM_FOR_PANEL = 18  # lines the rest of the panel needs

    def __init__(self, text: str, style: str = "bold") -> None:
        self.text = text
        self.style = style

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.align import Align
        from rich.text import Text

        width = len(big_text(self.text)[0])
        scale = next((s for s in (3, 2) if console.height >= self.ROOM_FOR_PANEL + 5 * s
                      and options.max_width >= s * width), 1)
        yield Align.center(Text("\n".join(big_text(self.text, scale)), style=self.style))


# -- rendering ----------------------------------------------------------------------------

PHASE_LABEL = {
    "starting": "starting", "intro": "welcome", "exercise": "next exercise", "ready": "get into position",
    "rest": "rest", "switch": "switch sides", "between": "", "finish": "well done", "finished": "finished",
}


def render(state: ViewState, now: float | None = None, time_scale: float = 1.0) -> Any:
    """The rich renderable for `state` at record time `now`."""
    from rich.align import Align
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    lines: list[Any] = []
    name = state.exercise.upper() if state.exercise else (state.title or "voicecoach")
    lines.append(Align.center(Text(name, style="bold bright_white")))
    where = state.where()
    if state.phase in ("rest", "switch") and state.next_up:
        lines.append(Align.center(Text(f"next: {state.next_up}", style="bold cyan")))
    elif where and state.phase in ("set", "between"):
        lines.append(Align.center(Text(where, style="bold cyan")))
    elif state.exercise_no and state.exercises:
        lines.append(Align.center(Text(f"Exercise {state.exercise_no} of {state.exercises}", style="cyan")))
    lines.append(Text(""))

    number, caption = _headline(state, now, time_scale)
    if number is not None:
        style = "bold green" if state.phase == "set" else "bold yellow"
        lines.append(BigNumber(number, style))
    else:
        lines += [Text("")] * 2
    if caption:
        lines.append(Align.center(Text(caption, style="bold")))
    lines.append(Text(""))
    if state.paused:
        lines.append(Align.center(Text("PAUSED: say resume", style="bold black on yellow")))
    elif state.question:
        lines.append(Align.center(Text("waiting for your answer", style="bold magenta")))
    heard = f'heard: "{state.last_command}"' if state.last_command else "say help to hear the commands"
    lines.append(Align.center(Text(heard, style="yellow" if state.last_command else "dim")))
    if state.last_said:
        lines.append(Align.center(Text(f"coach: {state.last_said}", style="dim", overflow="ellipsis",
                                       no_wrap=True)))
    subtitle = (state.kind or "set") if state.phase == "set" else PHASE_LABEL.get(state.phase, state.phase)
    if state.sets_planned:
        subtitle = (subtitle + " · " if subtitle else "") + f"{state.sets_done} of {state.sets_planned} sets done"
    return Panel(Group(*lines), title=Text(state.title or "voicecoach", style="bold"),
                 subtitle=subtitle or None, border_style="green" if not state.paused else "yellow",
                 padding=(1, 2))


def _headline(state: ViewState, now: float | None, scale: float) -> tuple[str | None, str]:
    """The big number and the caption under it."""
    if state.phase == "finished":
        return None, "Session finished" if state.outcome == "finished" else f"Session {state.outcome}"
    if state.phase == "set":
        if state.kind == "hold":
            left = state.seconds_left(now, scale)
            if left is None:
                return (str(state.target) if state.target else None), "get set to hold"
            if state.max_effort and state.target:
                return str(max(0, state.target - left)), f"seconds held, goal {state.target}"
            return str(left), "seconds to hold"
        if state.target:
            return f"{state.count}/{state.target}", "reps"
        return str(state.count), "reps"
    left = state.seconds_left(now, scale)
    label = {"ready": "seconds to get into position", "rest": "seconds of rest",
             "switch": "switch sides"}.get(state.phase, "")
    return (str(left) if left is not None else None), label


class LiveView:
    """A rich Live panel redrawn a few times a second from the latest state.

    The runner thread only updates the state (under a lock); rich's refresh thread
    draws it, so a slow terminal never delays a cue.
    """

    def __init__(self, out: IO[str] | None = None, time_scale: float = 1.0, *, console: Any = None,
                 clock: Callable[[], float] = time.monotonic, refresh_per_second: float = 4.0,
                 auto_start: bool = True, in_place: bool = False) -> None:
        self.out = out or sys.stdout
        self.console = console  # made when the panel starts: importing rich costs ~70 ms
        self.scale = time_scale
        self.state = ViewState()
        self.clock = clock
        self.refresh_per_second = refresh_per_second
        self.auto_start = auto_start
        # In place (text mode): the panel stays at the bottom and printed lines scroll above
        # it, so the coach's lines and the typed commands stay readable.
        self.in_place = in_place
        self._origin: float | None = None  # clock() at record time zero
        self._lock = threading.Lock()
        self._live: Any = None
        self._ended = False

    def __call__(self, record: Record) -> None:
        kind = record.get("type")
        with self._lock:
            if self._origin is None:
                self._origin = self.clock() - float(record.get("t", 0.0))
            self.state.apply(record, self.scale)
        if kind == "session_end":
            self._ended = True
            self.close()
        elif self.auto_start and self._live is None and not self._ended and kind != "session_start":
            # Not at session_start: the runner records that just before the first
            # sentence, and drawing the panel must not delay the first word.
            self.start()

    def renderable(self) -> Any:
        """What the panel shows now."""
        with self._lock:
            now = None if self._origin is None else self.clock() - self._origin
            return render(self.state, now, self.scale)

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        if self._live is not None:
            return
        if self.console is None:
            self.console = Console(file=self.out)
        # The whole screen (the terminal's alternate screen), redrawn from the top each
        # time: the sound libraries write warnings straight to the terminal ("ALSA lib
        # ... underrun occurred"), which would break an in-place panel's cursor
        # arithmetic and leave broken copies of it behind; here the next refresh simply
        # paints over them.  No stdout/stderr redirection: the coach's modules hold
        # their own streams, and swapping the process-wide ones would surprise them.
        self._live = Live(get_renderable=self.renderable, console=self.console, screen=not self.in_place,
                          refresh_per_second=self.refresh_per_second, transient=False,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)

    def printer(self, out: IO[str]) -> IO[str]:
        """A stream for printed lines (text mode's `coach: ...`): above the panel while it
        is drawn, straight to `out` otherwise."""
        return _AbovePanel(self, out)

    def close(self) -> None:
        """Leave the full screen and print the final panel where it stays readable."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            if not self.in_place:  # in place, the last drawing of the panel stays where it is
                self.console.print(self.renderable())


class _AbovePanel(io.TextIOBase):
    """Whole lines printed above a live panel (rich keeps the panel below them)."""

    def __init__(self, view: LiveView, out: IO[str]) -> None:
        self.view = view
        self.out = out
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        live = self.view._live
        for line in lines:
            if live is not None:
                live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            else:
                self.out.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self.view._live is None:
            self.out.flush()


class PlainView:
    """One line per event worth logging; nothing per rep or per tick."""

    def __init__(self, out: IO[str] | None = None, prefix: str = "") -> None:
        self.out = out or sys.stdout
        self.prefix = prefix
        self.state = ViewState()

    def __call__(self, record: Record) -> None:
        self.state.apply(record)
        line = self.line(record)
        if line:
            self.out.write(self.prefix + line + "\n")
            self.out.flush()

    def line(self, record: Record) -> str | None:
        """The line for `record`, or None."""
        kind = record.get("type")
        s = self.state
        if kind == "session_start":
            return f"== {s.title} =="
        if kind == "set_started":
            where = s.where()
            return f"-- {s.exercise}" + (f": {where}" if where else "")
        if kind == "set_finished":
            unit = "reps" if record.get("kind") == "reps" else "s"
            done, target = _num(record.get("done")), _num(record.get("target"))
            early = " (ended early)" if record.get("ended_early") else ""
            return f"   done {done} of {target} {unit}{early}"
        if kind == "command" and record.get("audio_start") is not None:
            conf = record.get("confidence")
            extra = f" ({conf:.2f})" if isinstance(conf, float) else ""
            return f'   heard "{record.get("heard")}"{extra}'
        if kind == "exercise_skipped":
            return f"   skipped {record.get('exercise')}"
        if kind == "paused":
            return "   paused"
        if kind == "resumed":
            return f"   resumed after {_num(record.get('paused_seconds') or 0)} s"
        if kind == "pain_reported":
            return "   pain reported"
        if kind == "session_end":
            return f"== {s.outcome}: {s.sets_done} set(s) done =="
        return None


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def make_view(mode: str, out: IO[str] | None = None, *, text_mode: bool = False,
              time_scale: float = 1.0) -> LiveView | PlainView | None:
    """The view sink for `mode` ("auto", "live", "plain" or "off"), or None for none."""
    if mode not in MODES:
        raise ValueError(f"unknown view {mode!r}; choose one of {', '.join(MODES)}")
    out = out or sys.stdout
    if mode == "off" or (mode == "auto" and text_mode):
        return None
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    # Without rich (a broken install) there is still the plain view.
    if mode in ("auto", "live") and is_tty and importlib.util.find_spec("rich"):
        # In text mode only when asked for: the typed commands share the terminal with it.
        return LiveView(out, time_scale, in_place=text_mode)
    return PlainView(out)
