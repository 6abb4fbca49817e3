"""The only loop that waits: it owns the clock, feeds the Session, and drives the devices.

It waits until the next cue is due or a command arrives, whichever is first, hands
cues to the Speaker and commands to the Session, and passes every record (what was
said, what was heard, what happened) to its sinks: the live view on this thread, and
the history and the event log through a `Writer` on a thread of its own, so a disk
that is slow or locked never holds up a cue.  The writer runs its sinks in order, so
the history has a finished set safely stored before the event log says it finished.

Everything other threads report (commands heard, the microphone going away or
coming back, when the coach's audio really played) arrives through one inbox, so
the session and the sinks are only ever touched from the loop's thread.

When the microphone goes away mid-session (`InputRecovery`), the coach says so,
pauses, takes typed commands if there is a keyboard, and tries the microphone again
every couple of seconds; when it delivers audio again the coach says it can hear
again and stays paused until told to resume (the user may still be busy with the
cable).
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from voicecoach.core.clock import RealClock
from voicecoach.core.commands import Command, suggest
from voicecoach.core.plan import COUNT, TICK
from voicecoach.core.session import Event, Hush, Output, Say, Session
from voicecoach.voice.base import Heard, Listener, Speaker

log = logging.getLogger(__name__)

Record = dict[str, Any]
Sink = Callable[[Record], None]

SPEECH_POLL = 0.02  # seconds between checks while a sentence waits for the coach to finish
FINAL_SPEECH_LIMIT = 30.0  # the most the end of a session waits for the goodbye to be heard

MICROPHONE_LOST = "I can't hear you: the microphone is gone."
MICROPHONE_BACK = "I can hear you again."


@dataclass
class InputRecovery:
    """How to carry on when the microphone goes away mid-session.

    `reopen()` tries the microphone again and returns a listener on it, or None if it
    is not back yet.  It runs on a thread of its own every `poll_seconds`, so it may
    block for a while (opening a device, waiting for its first audio).  `typed()`
    returns a listener for typed commands to use meanwhile, or None when nobody can
    type (no terminal).  Without typed input the session gives up on the microphone
    after `give_up_seconds` (None: never) and ends as it would with no input.
    """

    reopen: Callable[[], Listener | None]
    typed: Callable[[], Listener | None] | None = None
    poll_seconds: float = 2.0
    give_up_seconds: float | None = 600.0


class EventLog:
    """JSON lines, one record per line, flushed as written so a crash loses nothing.

    Text that came from outside (a typed line) may hold lone surrogates where its bytes
    were not UTF-8; they are written as JSON escapes, so every line is valid UTF-8 JSON.
    """

    def __init__(self, path: str | Path):
        self.file: IO[str] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def __call__(self, record: Record) -> None:
        try:
            line = json.dumps(record, ensure_ascii=False)
            line.encode("utf-8")
        except UnicodeEncodeError:
            line = json.dumps(record, ensure_ascii=True)
        self.file.write(line + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class Writer:
    """Runs sinks that touch the disk (the history, the event log) on a thread of their own,
    so the coaching loop never waits for a disk that is slow, locked or full.

    Records reach the sinks in the order they were put, each record passing through every
    sink in the order given: a history sink placed before the event log has the set safely
    stored before the log says it finished.  A sink that raises is logged and kept.
    """

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks
        self._queue: queue.Queue[Record | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    def __call__(self, record: Record) -> None:
        self._queue.put(record)

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            try:
                if record is None:
                    return
                for sink in self.sinks:
                    try:
                        sink(record)
                    except Exception:
                        log.exception("a record could not be written")
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until everything put so far is written."""
        if self._thread.is_alive():
            self._queue.join()

    def close(self, timeout: float | None = None) -> None:
        """Write everything put so far, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)


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
        recovery: InputRecovery | None = None,
        writer: Writer | None = None,
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
        self.recovery = recovery
        # Sinks that write to disk, after `sinks`, off this thread; drained when run() ends.
        self.writer = writer
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.origin = 0.0
        self._lock = threading.Lock()
        # Where input can still come from: the listener, typed commands while the
        # microphone is away, and the microphone coming back.
        self._listening = listener is not None
        self._typed: Listener | None = None
        self._typed_open = False
        self._waiting_for_microphone = False
        self._stop_reconnect = threading.Event()
        self._reconnect_thread: threading.Thread | None = None
        # What was said and not yet reported as heard through the speaker, in order,
        # so a `spoken` record can carry its cue's kind and due time.
        self._unspoken: collections.deque[tuple[str, str, float | None]] = collections.deque(maxlen=256)
        # Sentences waiting for the coach to finish what it is saying (see `_emit`).
        self._queued: collections.deque[Say] = collections.deque()
        self._speaker_failed = False
        # What the listener was last told to hear: (numbers, answers); None: not told yet.
        self._told: tuple[bool, bool] | None = None

    @property
    def input_open(self) -> bool:
        """Whether a command may still arrive."""
        return self._listening or self._typed_open or self._waiting_for_microphone

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

    def on_spoken(self, text: str, requested: float, start: float | None, end: float | None,
                  cut_off: bool) -> None:
        """The speaker's report of one utterance, in `time.monotonic()` seconds: when it
        was asked for, when its first sample reached the device (None if it never did),
        when it stopped sounding, and whether it was cut off.  Any thread."""
        self.inbox.put(("spoken", (text, requested, start, end, cut_off)))

    def notify(self, text: str) -> None:
        """Have the coach say `text` as soon as it can (any thread)."""
        self.inbox.put(("notice", text))

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
            if self.session.outcome != "interrupted":
                if self.writer is not None:
                    # A problem the last records ran into is still said before the end.
                    self.writer.flush()
                    self._say_notices()
                self._finish_speaking()
        finally:
            self._stop_reconnect.set()
            for listener in (self.listener, self._typed):
                if listener is not None:
                    listener.close()
            if self.writer is not None:
                self.writer.close()
        return self.session.outcome or "interrupted"

    def _step(self) -> bool:
        session = self.session
        if self._queued and not self._speaker_busy():
            self._speak(self._queued.popleft())
            return True
        now = self.session_time()
        due = session.next_due()
        if due is not None and due <= now:
            if session.next_is_sentence() and self._is_speaking():
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
        if self._queued:
            timeout = SPEECH_POLL if timeout is None else min(timeout, SPEECH_POLL)
        item = self.clock.wait(self.inbox, timeout)
        if item is None:
            self._emit(session.tick(self.session_time()))
            return True
        return self._handle(item)

    def _say_notices(self) -> None:
        """Say the notices waiting in the inbox, leaving everything else there in order."""
        kept = []
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            if item[0] == "notice":
                self._handle(item)
            else:
                kept.append(item)
        for item in kept:
            self.inbox.put(item)

    def _finish_speaking(self) -> None:
        """Let the last words play out (and be reported) before the devices close."""
        deadline = self.elapsed() + FINAL_SPEECH_LIMIT
        while self._is_speaking() and self.elapsed() < deadline:
            if self._queued and not self._speaker_busy():
                self._speak(self._queued.popleft())
            item = self.clock.wait(self.inbox, SPEECH_POLL)
            if item is None:
                continue
            if item[0] == "interrupt":
                self._queued.clear()
                self._say_stop()
                break
            if item[0] == "spoken":
                self._handle(item)
        while True:  # reports already queued
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if item[0] == "spoken":
                self._handle(item)

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
            if self.session.wants_number:
                # "-1", "007", "eleven", "a lot" to a pain question: a number, but no score from 0 to
                # 10, which the question answers with its short re-ask.
                self._emit(self.session.handle(Command("number"), now), skip_command_event=True)
                return True
            guess = suggest(text)
            hint = f'I don\'t know "{text}".'
            hint += f' Did you mean "{guess}"?' if guess else " Say help to hear what you can say."
            if self.hint_out is not None:
                print(hint, file=self.hint_out, flush=True)
            else:
                self._emit([Say(hint)])
        elif kind == "closed":
            reason = str(value)
            if reason.startswith("microphone lost") and self.recovery is not None:
                self._microphone_lost(reason, now)
            else:
                self._listening = False
                self._record({"type": "input_closed", "reason": reason})
        elif kind == "typed_closed":
            self._typed_open = False
            self._record({"type": "typed_input_closed", "reason": str(value)})
        elif kind == "microphone_back":
            self._microphone_back(value)
        elif kind == "microphone_gave_up":
            self._waiting_for_microphone = False
            self._record({"type": "input_closed", "reason": str(value)})
        elif kind == "spoken":
            self._record_spoken(*value)
        elif kind == "notice":
            self._record({"type": "notice", "text": str(value)})
            self._emit([Say(str(value))])
        elif kind == "interrupt":
            self._queued.clear()
            self._say_stop()
            self._emit(self.session.interrupt(now, str(value)))
            return False
        return True

    # -- the microphone going away and coming back ------------------------------------

    def _microphone_lost(self, reason: str, now: float) -> None:
        assert self.recovery is not None
        self._record({"type": "microphone_lost", "reason": reason})
        self._listening = False
        lost, self.listener = self.listener, None
        if lost is not None:
            lost.close()
        session = self.session
        paused = False
        if session.can_pause:
            # The same pause as the command (recorded, so the history counts it), but
            # with our own words instead of "Say resume".
            outputs = session.handle(Command("pause"), now)
            self._emit([o for o in outputs if not (isinstance(o, Say) and o.due is None)],
                       skip_command_event=True)
            paused = session.waiting_for_resume
        if self._typed is None and self.recovery.typed is not None:
            self._start_typed()
        text = MICROPHONE_LOST
        if paused:
            text += " I've paused."
        if self._typed_open and paused:
            text += " Type resume and press Enter to carry on, or plug the microphone back in."
        elif self._typed_open:
            text += " Type your answer and press Enter, or plug the microphone back in."
        else:
            text += " Plug it back in and I'll listen again."
        self._emit([Say(text)])
        self._start_reconnecting()

    def _start_typed(self) -> None:
        assert self.recovery is not None and self.recovery.typed is not None
        try:
            typed = self.recovery.typed()
        except Exception:  # no keyboard after all: carry on without one
            log.exception("typed input could not start")
            typed = None
        if typed is None:
            return
        if hasattr(typed, "on_unknown"):
            typed.on_unknown = self.on_unknown  # type: ignore[attr-defined]
        self._typed = typed
        self._typed_open = True
        typed.start(self.on_heard, lambda reason: self.inbox.put(("typed_closed", reason)))

    def _start_reconnecting(self) -> None:
        if self._reconnect_thread is not None and self._reconnect_thread.is_alive():
            return
        self._waiting_for_microphone = True
        self._reconnect_thread = threading.Thread(target=self._reconnect, name="microphone-reconnect",
                                                  daemon=True)
        self._reconnect_thread.start()

    def _reconnect(self) -> None:
        """On its own thread: try the microphone every few seconds until it is back."""
        recovery = self.recovery
        assert recovery is not None
        started = time.monotonic()
        while not self._stop_reconnect.wait(recovery.poll_seconds):
            try:
                listener = recovery.reopen()
            except Exception:  # a failed attempt is just "not back yet"
                log.exception("reopening the microphone failed")
                listener = None
            if listener is not None:
                if self._stop_reconnect.is_set():
                    listener.close()
                else:
                    self.inbox.put(("microphone_back", listener))
                return
            give_up = recovery.give_up_seconds
            if give_up is not None and not self._typed_open and time.monotonic() - started > give_up:
                self.inbox.put(("microphone_gave_up",
                                f"the microphone did not come back within {give_up:g} seconds"))
                return

    def _microphone_back(self, listener: Listener) -> None:
        self._waiting_for_microphone = False
        try:
            listener.start(self.on_heard, self.on_closed)
        except Exception as exc:  # it went again at once: keep waiting
            log.exception("the returned microphone could not start")
            listener.close()
            self.inbox.put(("closed", f"microphone lost: {exc}"))
            return
        self.listener = listener
        self._told = None
        self._listening = True
        self._record({"type": "microphone_back"})
        text = MICROPHONE_BACK
        session = self.session
        if session.waiting_for_resume:
            text += " Say resume when you're ready."
        self._emit([Say(text)])

    # -- output -----------------------------------------------------------------------

    def _emit(self, outputs: list[Output], skip_command_event: bool = False) -> None:
        """Say, hush and record `outputs`, in order.

        Speaking cuts off whatever is playing, which is right for counts and for the
        first line of an answer, but a batch often holds a reply and then the next
        step's first sentence ("Good. That set is done." and "Rest for 30 seconds.");
        such later sentences wait until the coach has finished (and are logged when
        they are really said), so nothing is cut off before it is heard.  A speaker
        that is never busy (text mode) never queues anything.
        """
        said = False
        for out in outputs:
            if isinstance(out, Say):
                timed = out.kind in (COUNT, TICK)
                if not timed and (self._queued or (said and self._speaker_busy())):
                    self._queued.append(out)
                    continue
                self._speak(out)
                said = True
            elif isinstance(out, Hush):
                self._queued.clear()
                self._say_stop()
            elif isinstance(out, Event):
                if skip_command_event and out.type == "command":
                    continue
                if out.type == "volume":
                    self.speaker.set_gain_db(out.data["gain_db"])
                self._record({"type": out.type, **out.data})
        self._tell_listener()

    def _tell_listener(self) -> None:
        """Let the ears hear numbers while a pain check-in is open, yes and no while a question is."""
        wanted = (self.session.wants_number, self.session.wants_answer)
        if self.listener is not None and wanted != self._told:
            told = self._told or (None, None)
            if wanted[0] != told[0]:
                self.listener.expect_numbers(wanted[0])
            if wanted[1] != told[1]:
                self.listener.expect_answers(wanted[1])
            self._told = wanted

    def _speak(self, out: Say) -> None:
        self._say(out.text)
        record: Record = {"type": "say", "text": out.text, "kind": out.kind}
        due = None
        if out.due is not None:
            due = record["due"] = round(out.due * self.scale, 4)
        self._unspoken.append((out.text, out.kind, due))
        self._record(record)

    def _say(self, text: str) -> None:
        if not self._speaker_failed:
            try:
                self.speaker.say(text)
                return
            except Exception as exc:  # a speaker pulled out mid-session must not end it
                log.exception("the speaker failed")
                self._speaker_failed = True
                self._record({"type": "speaker_failed", "reason": f"{type(exc).__name__}: {exc}"})
        # Printed, so someone at a terminal still gets every cue.
        print(f"coach: {text}", file=self.hint_out or sys.stderr, flush=True)

    def _say_stop(self) -> None:
        if not self._speaker_failed:
            try:
                self.speaker.stop()
            except Exception:  # noqa: S110 - a failed stop leaves nothing to stop
                log.debug("stopping the speaker failed", exc_info=True)

    def _is_speaking(self) -> bool:
        """Whether the coach is talking or has sentences waiting to be said."""
        return bool(self._queued) or self._speaker_busy()

    def _speaker_busy(self) -> bool:
        if self._speaker_failed:
            return False
        try:
            return bool(self.speaker.is_speaking())
        except Exception:
            return False

    def _record_spoken(self, text: str, requested: float, start: float | None, end: float | None,
                       cut_off: bool) -> None:
        # The speaker reports on time.monotonic(); the records are on this runner's clock.
        offset = self.clock.now() - time.monotonic() - self.origin

        def at(t: float | None) -> float | None:
            return None if t is None else round(t + offset, 4)

        record: Record = {"type": "spoken", "text": text, "requested": at(requested), "start": at(start),
                          "end": at(end), "cut_off": bool(cut_off)}
        while self._unspoken and self._unspoken[0][0] != text:
            self._unspoken.popleft()  # said, but never reported (cannot happen with one speaker)
        if self._unspoken:
            _, kind, due = self._unspoken.popleft()
            record["kind"] = kind
            if due is not None:
                record["due"] = due
        self._record(record)

    def _record(self, record: Record) -> None:
        record = {"t": round(self.elapsed(), 4), **record}
        for sink in self.sinks:
            sink(record)
        if self.writer is not None:
            self.writer(record)


def command(name: str, value: int | None = None) -> Command:
    """Shorthand for tests and scripts."""
    return Command(name, value)
