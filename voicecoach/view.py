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
so `auto` shows nothing there, and `live` (which would fight the typed input and the
printed lines for the terminal) becomes `plain`.

Everything is learned from the records alone: `set_started` says where we are, count
and tick cues give the reps and seconds, and the coach's fixed sentences from
`plan.py` ("Rest for 30 seconds.", "Exercise 2 of 4: ...") mark the phases between
sets.  Record times are real seconds, so countdowns need the session's time scale.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

Record = dict[str, Any]
Sink = Callable[[Record], None]

MODES = ("auto", "live", "plain", "off")

# The coach's sentences that open a phase (see plan.py and session.py).
_EXERCISE_RE = re.compile(r"^Exercise (\d+) of (\d+): (.+)\.$")
_READY_RE = re.compile(r"^Get into position\. We start in (\d+) seconds")
_REST_RE = re.compile(r"^Rest for (\d+) seconds\.")
_SWITCH_RE = re.compile(r"^Switch sides\.")
_NEXT_RE = re.compile(r"\bNext: (.+?)\.?$")
_REPS_RE = re.compile(r"\b(\d+) reps\b")
_HOLD_RE = re.compile(r"\bHold for (\d+) seconds\b")
_UP_TO_RE = re.compile(r"\bup to (\d+)\b")
_MORE_RE = re.compile(r"^Keep going, up to (\d+)\.")
_TO_GO_RE = re.compile(r"^(\d+) seconds to go\.")
_TEN_SECONDS = "Ten seconds."
_RELEASE = "And release."
_HOLD_CUE = "Hold."
# How long "Hold." takes to say before the hold clock starts (plan.speech_seconds at
# the default rate); only used until the first tick re-anchors the countdown.
_HOLD_CUE_SECONDS = 0.7


@dataclass
class ViewState:
    """Where the session is, as far as its records tell.  Pure: no I/O, no clock."""

    title: str = ""
    phase: str = "starting"  # starting, intro, exercise, ready, set, rest, switch, finished
    exercise: str = ""
    exercise_no: int | None = None
    exercises: int | None = None
    set_no: int | None = None
    sets: int | None = None
    side: str | None = None
    kind: str | None = None  # "reps" or "hold" during a set
    count: int = 0
    target: int | None = None
    top: int | None = None
    countdown_end: float | None = None  # record time at which the countdown reaches zero
    tick: str | None = None  # the last countdown tick, when no end time is known
    next_up: str | None = None  # what the rest or switch leads to ("Set 2 of 3, left leg")
    paused: bool = False
    question: str | None = None  # the kind of question waiting for an answer
    frozen_at: float | None = None  # record time the session's clock stopped (pause, question)
    last_command: str | None = None
    last_said: str = ""
    outcome: str | None = None
    sets_done: int = 0
    sets_planned: int | None = None
    now: float = 0.0  # time of the latest record

    def apply(self, record: Record, time_scale: float = 1.0) -> None:
        """Update from one runner record."""
        kind = record.get("type")
        t = float(record.get("t", self.now))
        self.now = max(self.now, t)
        if kind == "session_start":
            self.title = str(record.get("title") or record.get("routine") or "")
            self.sets_planned = record.get("sets_planned")
            self.phase = "intro"
        elif kind == "set_started":
            self._start_set(record)
        elif kind == "set_finished":
            self.sets_done += 1
            self.phase = "between"
            self.kind = None
            self.countdown_end = None
            self.tick = None
        elif kind == "command":
            self.last_command = str(record.get("heard") or record.get("name") or "")
            # Most commands answer a pending question; a new question record follows
            # if it is asked again.
            if self.question is not None and record.get("name") not in ("repeat", "help", "status"):
                self.question = None
                if not self.paused:
                    self._thaw(t)
        elif kind == "paused":
            self.paused = True
            self._freeze(t)
        elif kind == "resumed":
            self.paused = False
            self._thaw(t)
        elif kind == "question":
            self.question = str(record.get("kind") or "question")
            self._freeze(t)
        elif kind == "exercise_skipped":
            self.phase = "between"
            self.kind = None
            self.countdown_end = None
        elif kind == "session_end":
            self.phase = "finished"
            self.outcome = str(record.get("outcome") or "finished")
            self.kind = None
            self.countdown_end = None
            self.paused = False
            self.question = None
            self.frozen_at = None
        elif kind == "say":
            self._said(record, t, time_scale)

    def _freeze(self, t: float) -> None:
        if self.frozen_at is None:
            self.frozen_at = t

    def _thaw(self, t: float) -> None:
        # The session moves every pending cue later by the time it stood still.
        if self.frozen_at is not None and self.countdown_end is not None:
            self.countdown_end += max(0.0, t - self.frozen_at)
        self.frozen_at = None

    def _start_set(self, record: Record) -> None:
        self.phase = "set"
        self.exercise = str(record.get("exercise") or self.exercise)
        if record.get("exercise_index") is not None:
            self.exercise_no = int(record["exercise_index"]) + 1
        self.set_no = record.get("set")
        self.sets = record.get("sets")
        self.side = record.get("side")
        self.kind = record.get("kind")
        self.target = record.get("target")
        self.top = record.get("top")
        self.count = 0
        self.countdown_end = None
        self.tick = None
        self.paused = False
        self.question = None
        self.frozen_at = None

    def _said(self, record: Record, t: float, scale: float) -> None:
        text = str(record.get("text") or "")
        cue = record.get("kind")
        # A scheduled cue's `due` is when it should have sounded: anchor countdowns on
        # it, not on a late arrival.
        at = float(record.get("due", t))
        self.last_said = text
        if m := _EXERCISE_RE.match(text):
            self.phase = "exercise"
            self.exercise_no, self.exercises, self.exercise = int(m[1]), int(m[2]), m[3]
            self.set_no = self.sets = self.side = None
            self.countdown_end = None
            self.tick = None
        elif m := _READY_RE.match(text):
            self.phase = "ready"
            self.countdown_end = at + int(m[1]) * scale
            self.tick = None
        elif m := _REST_RE.match(text):
            self.phase = "rest"
            self.countdown_end = at + int(m[1]) * scale
            self.tick = None
            self.next_up = (n := _NEXT_RE.search(text)) and n[1]
        elif _SWITCH_RE.match(text):
            self.phase = "switch"
            self.countdown_end = None
            self.tick = None
            self.next_up = (n := _NEXT_RE.search(text)) and n[1]
        elif self.phase == "set":
            self._said_in_set(text, cue, at, scale)
        elif cue == "tick" and self.phase in ("ready", "rest", "switch"):
            if text == _TEN_SECONDS:
                self.countdown_end = at + 10 * scale
            elif text.isdigit():
                self.countdown_end = at + int(text) * scale
            self.tick = text

    def _said_in_set(self, text: str, cue: Any, at: float, scale: float) -> None:
        if self.kind is None and self.target is None:
            # Learn the kind and target from the set's announcement.
            if m := _HOLD_RE.search(text):
                self.kind, self.target = "hold", int(m[1])
            elif m := _REPS_RE.search(text):
                self.kind, self.target = "reps", int(m[1])
            if self.kind is not None and (m := _UP_TO_RE.search(text)):
                self.top = int(m[1])
            return
        if m := _MORE_RE.match(text):
            new_target = int(m[1])
            if self.kind == "hold" and self.countdown_end is not None and self.target is not None:
                self.countdown_end += (new_target - self.target) * scale
            self.target = new_target
            return
        if cue == "count" and text.isdigit():
            self.count = int(text)
        elif self.kind == "hold":
            if text == _HOLD_CUE and cue != "tick" and self.target is not None:
                self.countdown_end = at + (_HOLD_CUE_SECONDS + self.target) * scale
            elif cue == "tick" and text.isdigit():
                self.countdown_end = at + int(text) * scale
            elif cue == "tick" and (m := _TO_GO_RE.match(text)):
                self.countdown_end = at + int(m[1]) * scale
            elif text == _RELEASE:
                self.countdown_end = at

    def seconds_left(self, now: float | None = None, time_scale: float = 1.0) -> int | None:
        """Whole routine seconds until the running countdown ends, or None."""
        if self.countdown_end is None:
            return int(self.tick) if self.tick and self.tick.isdigit() else None
        now = self.now if now is None else now
        if self.frozen_at is not None:
            now = self.frozen_at
        return max(0, math.ceil((self.countdown_end - now) / time_scale - 1e-6))

    def where(self) -> str:
        """ "Set 2 of 3 · left leg" (or the phase, between sets)."""
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
    "rest": "rest", "switch": "switch sides", "between": "", "finished": "finished",
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
                 auto_start: bool = True) -> None:
        self.out = out or sys.stdout
        self.console = console  # made when the panel starts: importing rich costs ~70 ms
        self.scale = time_scale
        self.state = ViewState()
        self.clock = clock
        self.refresh_per_second = refresh_per_second
        self.auto_start = auto_start
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
        self._live = Live(get_renderable=self.renderable, console=self.console, screen=True,
                          refresh_per_second=self.refresh_per_second, transient=False,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start(refresh=True)

    def close(self) -> None:
        """Leave the full screen and print the final panel where it stays readable."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            self.console.print(self.renderable())


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
    if mode in ("auto", "live") and is_tty and not text_mode and importlib.util.find_spec("rich"):
        return LiveView(out, time_scale)
    return PlainView(out)
