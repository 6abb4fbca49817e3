"""The only loop that waits: it owns the clock, feeds the Session, and drives the devices.

It waits until the next cue is due or a command arrives, whichever is first, hands
cues to the Speaker and commands to the Session, and passes every record (what was
said, what was heard, what happened) to its sinks: the event log, the history, the
live view.  Sinks run in order, so the history commits a finished set before the
event log says it finished.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from voicecoach.clock import RealClock
from voicecoach.commands import Command, suggest
from voicecoach.session import Event, Hush, Output, Say, Session
from voicecoach.voice.base import Heard, Listener, Speaker

Record = dict[str, Any]
Sink = Callable[[Record], None]

SPEECH_POLL = 0.02  # seconds between checks while a sentence waits for the coach to finish


class EventLog:
    """JSON lines, one record per line, flushed as written so a crash loses nothing."""

    def __init__(self, path: str | Path):
        self.file: IO[str] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def __call__(self, record: Record) -> None:
        self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class Runner:
    """Runs one session in real (or scaled, or fake) time."""

    def __init__(
        self,
        session: Session,
        speaker: Speaker,
        listener: Listener | None,
        *,
        clock: Any = None,
        time_scale: float = 1.0,
        sinks: list[Sink] | None = None,
        hint_out: IO[str] | None = None,
    ):
        if time_scale <= 0:
            raise ValueError("time scale must be above zero")
        self.session = session
        self.speaker = speaker
        self.listener = listener
        self.clock = clock or RealClock()
        self.scale = time_scale
        self.sinks = sinks or []
        self.hint_out = hint_out
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.origin = 0.0
        self.input_open = listener is not None
        self._lock = threading.Lock()

    # -- time -------------------------------------------------------------------------

    def elapsed(self) -> float:
        """Real seconds since the session started."""
        return self.clock.now() - self.origin

    def session_time(self) -> float:
        """Routine seconds since the start: real seconds divided by the time scale."""
        return self.elapsed() / self.scale

    # -- inputs from other threads ------------------------------------------------------

    def on_heard(self, heard: Heard) -> None:
        self.inbox.put(("heard", heard))

    def on_closed(self, reason: str) -> None:
        self.inbox.put(("closed", reason))

    def on_unknown(self, text: str) -> None:
        self.inbox.put(("unknown", text))

    def interrupt(self, reason: str = "interrupted") -> None:
        """Ask the loop to end the session now (from a signal handler or another thread)."""
        self.inbox.put(("interrupt", reason))

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> str:
        """Run the session to its end and return the outcome."""
        self.origin = self.clock.now()
        if self.listener is not None:
            self.listener.start(self.on_heard, self.on_closed)
        try:
            self._emit(self.session.start(0.0))
            while not self.session.finished:
                if not self._step():
                    break
        finally:
            if self.listener is not None:
                self.listener.close()
        return self.session.outcome or "interrupted"

    def _step(self) -> bool:
        session = self.session
        now = self.session_time()
        due = session.next_due()
        if due is not None and due <= now:
            if session.next_is_sentence() and self.speaker.is_speaking():
                # A sentence never talks over the coach; the block slides later instead.
                item = self.clock.wait(self.inbox, SPEECH_POLL)
                if item is not None:
                    return self._handle(item)
                session.defer(self.session_time())
                return True
            self._emit(session.tick(now))
            return True
        if due is None and not self.input_open:
            self._emit(session.input_closed(now))
            # Nothing will ever come to unblock a session still waiting: give up.
            return session.next_due() is not None or session.finished
        timeout = None if due is None else (due - now) * self.scale
        item = self.clock.wait(self.inbox, timeout)
        if item is None:
            self._emit(session.tick(self.session_time()))
            return True
        return self._handle(item)

    def _handle(self, item: tuple[str, Any]) -> bool:
        kind, value = item
        now = self.session_time()
        if kind == "heard":
            heard: Heard = value
            record: Record = {"type": "command", "name": heard.command.name, "heard": heard.text}
            if heard.command.value is not None:
                record["value"] = heard.command.value
            for key in ("start", "end", "emitted", "confidence"):
                if getattr(heard, key) is not None:
                    record["audio_" + key if key != "confidence" else key] = round(getattr(heard, key), 3)
            self._record(record)
            self._emit(self.session.handle(heard.command, now), skip_command_event=True)
        elif kind == "unknown":
            text = str(value).strip()
            if not text:
                return True
            self._record({"type": "unknown", "text": text})
            guess = suggest(text)
            hint = f'I don\'t know "{text}".'
            hint += f' Did you mean "{guess}"?' if guess else " Say help to hear what you can say."
            if self.hint_out is not None:
                print(hint, file=self.hint_out, flush=True)
            else:
                self._emit([Say(hint)])
        elif kind == "closed":
            self.input_open = False
            self._record({"type": "input_closed", "reason": str(value)})
        elif kind == "interrupt":
            self.speaker.stop()
            self.session.outcome = "interrupted"
            self.session.finished = True
            self._record({"type": "session_end", **self.session._summary_data(now), "outcome": "interrupted",
                          "reason": str(value)})
            return False
        return True

    def _emit(self, outputs: list[Output], skip_command_event: bool = False) -> None:
        for out in outputs:
            if isinstance(out, Say):
                self.speaker.say(out.text)
                record: Record = {"type": "say", "text": out.text, "kind": out.kind}
                if out.due is not None:
                    record["due"] = round(out.due * self.scale, 4)
                self._record(record)
            elif isinstance(out, Hush):
                self.speaker.stop()
            elif isinstance(out, Event):
                if skip_command_event and out.type == "command":
                    continue
                self._record({"type": out.type, **out.data})

    def _record(self, record: Record) -> None:
        record = {"t": round(self.elapsed(), 4), **record}
        for sink in self.sinks:
            sink(record)


def command(name: str, value: int | None = None) -> Command:
    """Shorthand for tests and scripts."""
    return Command(name, value)
