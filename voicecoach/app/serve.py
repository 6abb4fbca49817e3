"""`voicecoach serve`: the appliance's idle mode.  It waits, hands-free, for "start"
and a routine's name, runs that session, and goes back to waiting.

While idle it listens with a grammar of its own, built from the routines: "start"
followed by a routine's name or one of its spoken `aliases`, with an optional wake
word before it ("coach, start hips"), "what can I do", which lists the routines
aloud, and "help", which says what to say.  Other speech either fits nothing in that
grammar or lands on one of its decoys ("start the music"), which are ignored; and the
microphone is gated while the coach speaks, so its own listing (which says the very
phrases it listens for) is never heard.  Typed, "start" and a name no routine has is
answered with the routines' names.

A session is `voicecoach run` itself (`app.run_session`), started with this
command's options.  The idle microphone and speaker are closed first, because a
sound card's device can usually be opened only once, and reopened after.

It runs under systemd with Restart=on-failure, so it exits non-zero only when it
cannot work at all (bad configuration, no routines, no speech engine, no speech
synthesis).  A missing or lost microphone or speaker is reported and retried,
with a growing wait, until it comes back.

`--text` reads typed lines instead ("start hips", "what can I do"), which is also
how most tests drive it; a session started from there reads the same typed input.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from voicecoach.app.settings import SessionSettings
from voicecoach.core.commands import normalize

WAKE_WORD = "coach"
START_WORD = "start"
LIST_PHRASES = ("what can i do", "what can you do")
HELP_PHRASES = ("help", "what can i say")

# "start" followed by one of these is in the idle grammar too, and ignored.  A grammar
# of only the real phrases forces "start the music" onto the nearest routine name; the
# decoys give such speech somewhere else to go.  Measured with the bundled engine and
# the bundled routines on three espeak-ng voices (22 real phrases, 44 other utterances
# such as "start the car", "start over", "what time is it"): things wrongly acted on
# fell from 28 of 132 to 13 (most of the rest near-names: "start quad" for "start
# quads"), with the real phrases still 63 of 66.  Adding garbage words to the bundled
# engine's filler loop instead cut false starts further but lost a third of the real
# phrases.  "please" is not a decoy: it rhymes with "knees", a word of many names.
DECOY_WORDS = ("the", "a", "it", "to", "my", "me", "now", "over", "again", "here", "that", "this", "music",
               "car", "timer", "time", "play", "lights", "walking", "running", "recording", "something",
               "work", "going")

# Command names that the idle grammar's phrases map to in the recognizers' phrase
# table.  The recognizers only know the session's command names; serve reads which
# routine was asked for from the words heard, so these two are only labels.
START_COMMAND = "resume"  # whose phrases include "start"
LIST_COMMAND = "help"  # "what can i say" is its phrase

# Waits between attempts to reopen a missing or lost audio device, in seconds.
RETRY_SECONDS = (2.0, 5.0, 10.0, 30.0)

HINT = 'Say "start" and a routine\'s name (for example "start {example}"), or "what can I do".'

# Longest wait before looking at a stop request (seconds).
POLL_SECONDS = 0.2

# Exit codes.
CANNOT_WORK = 1
INTERRUPTED = 130


class ServeError(Exception):
    """serve cannot work at all; the message says why and what to do."""


# -- the menu: routines and the phrases that start them -------------------------------------


@dataclass(frozen=True)
class MenuItem:
    """A routine that can be started by voice."""

    name: str
    title: str
    path: Path
    say: str
    """The spoken name the listing teaches (the first alias, else the name)."""
    keys: tuple[str, ...]
    """Every normalized spoken name that starts it."""


@dataclass
class Menu:
    """The routines on offer and the idle grammar built from them."""

    items: list[MenuItem] = field(default_factory=list)
    starts: dict[str, MenuItem] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def match(self, text: str) -> tuple[str, MenuItem | None] | None:
        """("list", None), ("help", None), ("start", item), or None when `text` is not an idle phrase."""
        words = _without_wake_word(text)
        if words in LIST_PHRASES:
            return ("list", None)
        if words in HELP_PHRASES:
            return ("help", None)
        if words.startswith(START_WORD + " "):
            item = self.starts.get(words[len(START_WORD):].strip())
            if item is not None:
                return ("start", item)
        return None

    def unknown_start(self, text: str) -> str | None:
        """The name asked for when `text` is "start" and a name no routine has, else None."""
        words = _without_wake_word(text)
        if not words.startswith(START_WORD + " "):
            return None
        name = words[len(START_WORD):].strip()
        return name if name and name not in self.starts else None

    def help(self) -> str:
        """What "help" answers while idle: the phrases to say, with every routine's spoken name."""
        names = ", ".join(f"start {item.say}" for item in self.items) or "no routines yet"
        return (f'You can say start and a routine\'s name: {names}. '
                'Say what can I do to hear what each routine is.')

    def unknown(self, name: str) -> str:
        """The reply to "start" and a name no routine has."""
        names = ", ".join(item.say for item in self.items)
        return f"I don't know a routine called {name}. The routines are: {names}."

    def phrases(self) -> dict[str, str]:
        """The idle grammar: every phrase -> the command name the recognizer reports.

        It includes the decoys ("start the", "start music", ...), which `match` turns
        down like any other speech.
        """
        table: dict[str, str] = {}
        spoken = {w for key in self.starts for w in key.split()}
        for lead in ("", WAKE_WORD + " "):
            for phrase in (*LIST_PHRASES, *HELP_PHRASES):
                table[lead + phrase] = LIST_COMMAND
            for key in self.starts:
                table[f"{lead}{START_WORD} {key}"] = START_COMMAND
            for word in DECOY_WORDS:
                if word not in spoken:
                    table.setdefault(f"{lead}{START_WORD} {word}", START_COMMAND)
        return table

    def listing(self) -> str:
        """What "what can I do" answers, as one text (so nothing cuts it off halfway)."""
        if not self.items:
            return "There are no routines to start."
        lines = [f"{item.title}: say start {item.say}." for item in self.items]
        return " ".join(["You can start these routines.", *lines])

    def example(self) -> str:
        return self.items[0].say if self.items else "hips"


def _without_wake_word(text: str) -> str:
    words = normalize(text)
    if words == WAKE_WORD or words.startswith(WAKE_WORD + " "):
        words = words[len(WAKE_WORD):].strip()
    return words


def build_menu(folder: Path | None = None) -> Menu:
    """The routines in `folder`, or in every routine folder, with their spoken names.

    A spoken name that two routines share starts the first (in name order) and the
    clash is noted; an invalid routine file is noted and left out.
    """
    from voicecoach.core.routine import list_routines

    menu = Menu()
    for listing in list_routines([folder] if folder is not None else None):
        routine = listing.routine
        if routine is None:
            reason = listing.problems[0].message if listing.problems else "invalid"
            menu.notes.append(f"{listing.path.name} is left out: {reason}")
            continue
        names = [*routine.aliases, routine.name]
        keys: list[str] = []
        for spoken in names:
            key = normalize(spoken)
            if not key:
                continue
            owner = menu.starts.get(key)
            if owner is not None and owner.name != routine.name:
                menu.notes.append(f'"start {key}" already starts {owner.name}, not {routine.name}')
                continue
            if key not in keys:
                keys.append(key)
        if not keys:
            menu.notes.append(f"{routine.name} has no name that can be said; it is left out")
            continue
        item = MenuItem(routine.name, routine.title, listing.path, keys[0], tuple(keys))
        menu.items.append(item)
        for key in keys:
            menu.starts[key] = item
    return menu


# -- typed input, shared between the idle loop and a session -----------------------------------


class LineBox:
    """Typed lines from one reader thread, handed to one consumer at a time.

    The idle loop and a session's typed-command listener both read "stdin"; a plain
    shared stream would let a session's reader, still blocked after the session
    ended, swallow the next line typed at the idle prompt.  Here a line goes only to
    the current owner, and a reader whose turn is over gets nothing and stops.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._lines: deque[str] = deque()
        self._ended = False
        self._owner: object | None = None

    def put(self, line: str) -> None:
        with self._cv:
            self._lines.append(line)
            self._cv.notify_all()

    def end(self) -> None:
        """The input is over (end of file)."""
        with self._cv:
            self._ended = True
            self._cv.notify_all()

    def owns(self, owner: object) -> bool:
        with self._cv:
            return self._owner is owner

    @property
    def ended(self) -> bool:
        with self._cv:
            return self._ended and not self._lines

    def claim(self, owner: object) -> None:
        """Give the following lines to `owner`."""
        with self._cv:
            self._owner = owner
            self._cv.notify_all()

    def take(self, owner: object, timeout: float | None = None) -> str | None:
        """The next line for `owner`; None at the end of input, when its turn is over,
        or after `timeout` seconds."""
        with self._cv:
            if not (self._lines and self._owner is owner) and not self._ended:
                self._cv.wait(timeout)
            if self._owner is owner and self._lines:
                return self._lines.popleft()
            return None

    def feed(self) -> _Feed:
        """A stream-like object for a session's typed listener; it now owns the input."""
        feed = _Feed(self)
        self.claim(feed)
        return feed

    def pump(self, stream: IO[str]) -> threading.Thread:
        """Read `stream` on a daemon thread into this box until it ends."""

        def read() -> None:
            try:
                for line in stream:
                    self.put(line)
            except (OSError, ValueError):
                pass
            self.end()

        thread = threading.Thread(target=read, name="serve-stdin", daemon=True)
        thread.start()
        return thread


class _Feed:
    """Iterates the lines of a LineBox while it owns it (what TypedListener reads)."""

    def __init__(self, box: LineBox) -> None:
        self.box = box

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.box.take(self)
            if line is None:
                if not self.box.owns(self) or self.box.ended:
                    return
                continue
            yield line


# -- the speech engine for the idle grammar ---------------------------------------------------


def make_idle_recognizer(engine: str, model: Path | str | None, phrases: dict[str, str],
                         config: Any = None) -> tuple[Any, str | None]:
    """A recognizer for the idle grammar, and a note for the user (or None).

    The same choice as a session's (`voice.engines.choose`), listening for `phrases`:
    an engine that cannot start, or cannot listen for the routine names, falls back to
    the next one with a note saying why.  Raises EngineUnavailable only when no engine
    can start at all.
    """
    recognizer, notes, _spoken = idle_engine(engine, model, phrases, config)
    return recognizer, notes


def idle_engine(engine: str, model: Path | str | None, phrases: dict[str, str],
                config: Any = None) -> tuple[Any, str | None, str | None]:
    """`make_idle_recognizer`, plus a sentence to say aloud when an engine is broken."""
    from voicecoach.voice.engines import EngineUnavailable, choose

    choice = choose(engine, model=model, phrases=phrases, config=config)
    note = " ".join(choice.notes) or None
    if choice.recognizer is None:
        raise EngineUnavailable(note or "no speech engine could start")
    return choice.recognizer, note, choice.spoken


# -- the server ----------------------------------------------------------------------------------


class _Stop(Exception):
    """A signal asked serve to stop."""


class Server:
    """The idle loop.  `run()` returns the exit code."""

    def __init__(self, settings: SessionSettings, routines: Path | None = None, out: IO[str] | None = None,
                 err: IO[str] | None = None, stdin: IO[str] | None = None) -> None:
        self.settings = settings
        self.routines = routines
        """Offer only the routines in this folder (None: every routine folder)."""
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stdin = stdin if stdin is not None else sys.stdin
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.lines = LineBox()
        self.stop_reason: str | None = None
        self.stop_code = 0
        self.sessions = 0  # sessions started (for tests and logs)
        self.recognizer: Any = None
        self._phrases: dict[str, str] | None = None
        self._announce: str | None = None  # why an engine is broken, to say once
        self._idle = object()  # the idle loop's claim on typed input
        self.menu = Menu()
        self.config = settings.config

    # -- output -----------------------------------------------------------------------

    def status(self, text: str) -> None:
        print(f"serve: {text}", file=self.out, flush=True)

    def problem(self, text: str) -> None:
        print(f"serve: {text}", file=self.err, flush=True)

    # -- stopping ---------------------------------------------------------------------

    def request_stop(self, reason: str, code: int = 0) -> None:
        """Stop after the current step (signal handlers and tests call this).

        Only sets attributes: a signal handler that took a lock (a queue's, a
        condition's) could deadlock with the very code it interrupted, so every wait
        here has a short timeout and looks at `stop_reason` when it ends.
        """
        if self.stop_reason is None:
            self.stop_code = code
            self.stop_reason = reason

    def _check_stop(self) -> None:
        if self.stop_reason is not None:
            raise _Stop(self.stop_reason)

    def _sleep(self, seconds: float) -> None:
        """Wait, but stop soon after a stop request."""
        deadline = time.monotonic() + seconds
        while True:
            self._check_stop()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, POLL_SECONDS))

    # -- main ---------------------------------------------------------------------------

    def run(self) -> int:
        handlers = self._install_signals()
        try:
            return self._run()
        except _Stop as stop:
            self.status(f"stopping ({stop})")
            return self.stop_code
        except ServeError as exc:
            self.problem(str(exc))
            return CANNOT_WORK
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig, why, code in ((signal.SIGINT, "interrupted (Ctrl-C)", INTERRUPTED),
                               (signal.SIGTERM, "terminated", 0)):
            previous[sig] = signal.signal(sig, lambda *_a, why=why, code=code: self.request_stop(why, code))
        return previous

    def _run(self) -> int:
        self._load_menu()
        if self.settings.text_mode:
            return self._run_text()
        return self._run_audio()

    def _load_menu(self) -> None:
        folder = self.routines
        if folder is not None and not folder.is_dir():
            raise ServeError(f"no routine folder {folder}")
        self.menu = build_menu(folder)
        for note in self.menu.notes:
            self.problem(note)
        if not self.menu.items:
            where = str(folder) if folder else "the routine folders (see `voicecoach list`)"
            raise ServeError(f"no routine to offer in {where}")

    # -- sessions -------------------------------------------------------------------------

    def start_session(self, item: MenuItem, text_mode: bool) -> int:
        """Run one session of `item` through `voicecoach run`; return its exit code."""
        from voicecoach.app.run import run_session
        from voicecoach.core.errors import UserError
        from voicecoach.core.routine import RoutineError

        self.sessions += 1
        self.status(f"starting {item.name}")
        saved_stdin = sys.stdin
        if text_mode:
            # run_session reads typed commands from sys.stdin; give it this box's lines.
            sys.stdin = self.lines.feed()  # type: ignore[assignment]
        try:
            code = run_session(self.settings.for_routine(str(item.path), text=text_mode), self.out)
        except RoutineError as exc:
            for p in exc.problems:
                self.problem(str(p))
            code = CANNOT_WORK
        except UserError as exc:
            self.problem(str(exc))
            code = CANNOT_WORK
        except Exception:  # a broken session must not take the appliance down
            self.problem("the session failed:\n" + traceback.format_exc().rstrip())
            code = CANNOT_WORK
        finally:
            sys.stdin = saved_stdin
            self.lines.claim(self._idle)
        self.status(f"session of {item.name} ended (exit code {code})")
        if code == INTERRUPTED:
            # Only a signal interrupts a session: the user or the supervisor wants us gone.
            self.request_stop("interrupted during a session", INTERRUPTED)
        return code

    # -- text mode ------------------------------------------------------------------------

    def _run_text(self) -> int:
        from voicecoach.voice.speakers import PrintSpeaker

        speaker = PrintSpeaker(self.out)
        self.lines.claim(self._idle)
        self.lines.pump(self.stdin)
        speaker.say("Ready. " + HINT.format(example=self.menu.example()))
        self._waiting()
        while True:
            self._check_stop()
            line = self.lines.take(self._idle, timeout=POLL_SECONDS)
            self._check_stop()
            if line is None:
                if self.lines.ended:
                    self.status("end of input")
                    return 0
                continue
            if not line.strip():
                continue
            action = self.menu.match(line)
            unknown = self.menu.unknown_start(line) if action is None else None
            if unknown is not None:
                speaker.say(self.menu.unknown(unknown))
                continue
            if action is None:
                print(f'Not an idle command: "{line.strip()}". ' + HINT.format(example=self.menu.example()),
                      file=self.out, flush=True)
                continue
            what, item = action
            if what == "list":
                speaker.say(self.menu.listing())
                continue
            if what == "help":
                speaker.say(self.menu.help())
                continue
            assert item is not None
            speaker.say(f"Starting {item.title}.")
            self.start_session(item, text_mode=True)
            self._check_stop()
            self._load_menu_quietly()
            self._waiting()

    def _waiting(self) -> None:
        self.status(f'waiting for "start" and one of: {", ".join(i.say for i in self.menu.items)}')

    def _load_menu_quietly(self) -> None:
        """Pick up routines added or changed while a session ran; keep the old menu on error."""
        with contextlib.suppress(ServeError):
            self._load_menu()

    # -- audio mode -------------------------------------------------------------------------

    def _run_audio(self) -> int:
        from voicecoach.voice.devices import AudioUnavailable, portaudio, refresh
        from voicecoach.voice.engines import EngineUnavailable
        from voicecoach.voice.tts import TtsError

        try:
            portaudio()
        except AudioUnavailable as exc:
            raise ServeError(str(exc)) from None
        failures = 0  # device failures in a row: each waits longer before the next try
        greeted = False
        while True:
            self._check_stop()
            try:
                self._ensure_recognizer()
            except EngineUnavailable as exc:
                raise ServeError(f"no speech engine: {exc}") from None
            outcome: MenuItem | str
            try:
                speaker, listener = self._open_ears()
                try:
                    if self._announce:
                        self._say_and_wait(speaker, self._announce)
                        self._announce = None
                    if not greeted:
                        self._say_and_wait(speaker, "Coach ready. " + HINT.format(example=self.menu.example()))
                        greeted = True
                    outcome = self._listen(speaker, listener)
                finally:
                    with contextlib.suppress(Exception):
                        listener.close()
                    with contextlib.suppress(Exception):
                        speaker.close()
            except TtsError as exc:
                raise ServeError(f"no speech synthesis: {exc}") from None
            except (AudioUnavailable, OSError) as exc:
                outcome = f"audio devices not ready: {str(exc).strip() or type(exc).__name__}"
            if isinstance(outcome, MenuItem):
                failures = 0
                self.start_session(outcome, text_mode=False)
                self._check_stop()
                self._load_menu_quietly()
                continue
            wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            failures += 1
            self.problem(f"{outcome}; trying again in {wait:g} s")
            self._sleep(wait)
            with contextlib.suppress(Exception):
                refresh()  # a USB microphone plugged in meanwhile is only seen after a rescan

    def _ensure_recognizer(self) -> None:
        phrases = self.menu.phrases()
        if self.recognizer is not None and phrases == self._phrases:
            self.recognizer.reset()
            return
        speech = self.config.speech
        self.recognizer, note, spoken = idle_engine(speech.engine, speech.model, phrases, self.config)
        self._phrases = phrases
        if note:
            self.problem(note)
        from voicecoach.app.run import first_time

        if spoken and first_time(spoken):
            self._announce = spoken

    def _open_ears(self) -> tuple[Any, Any]:
        from voicecoach.voice.gate import Gate
        from voicecoach.voice.listener import AudioListener
        from voicecoach.voice.microphone import SoundDeviceSource
        from voicecoach.voice.speakers import make_speaker

        speech, audio = self.config.speech, self.config.audio
        gate = Gate(tail=audio.gate_tail_seconds)
        speaker = make_speaker(speech.speaker, voice=speech.voice, rate=speech.rate, volume=speech.volume,
                               device=audio.output_device, gate=gate, out=self.out,
                               data_folder=self.config.data.folder)
        try:
            source = SoundDeviceSource(device=audio.input_device)
        except BaseException:
            with contextlib.suppress(Exception):
                speaker.close()
            raise
        return speaker, AudioListener(source, self.recognizer, gate)

    def _say_and_wait(self, speaker: Any, text: str, limit: float = 60.0) -> None:
        """Say `text` and return once the microphone hears the room again (gate open)."""
        speaker.say(text)
        deadline = time.monotonic() + limit
        while speaker.is_speaking() and time.monotonic() < deadline:
            self._sleep(0.05)
        gate = getattr(speaker, "gate", None)
        quiet_at = gate.quiet_at() if gate is not None else None
        if quiet_at is not None:
            self._sleep(max(0.0, min(quiet_at - time.monotonic(), 5.0)))

    def _listen(self, speaker: Any, listener: Any) -> MenuItem | str:
        """Listen until a routine is asked for (returned), or the listening stops (why)."""
        events = self.events
        while not events.empty():  # anything left from an earlier listening stretch is stale
            events.get_nowait()
        listener.start(lambda heard: events.put(("heard", heard)),
                       lambda reason: events.put(("closed", reason)))
        self._waiting()
        while True:
            self._check_stop()
            try:
                kind, value = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if kind == "closed":
                return f"stopped listening: {value}"
            elif kind == "heard":
                action = self.menu.match(value.text)
                conf = f", confidence {value.confidence:.2f}" if value.confidence is not None else ""
                ignored = "" if action is not None else ", not a routine: ignored"
                self.status(f'heard "{value.text}"{conf}{ignored}')
                # A decoy ("start the ..."): someone said something else.  Not answered with
                # "unknown routine" as typed text is: the decoys exist to catch other talk.
                if action is None:
                    continue
                what, item = action
                if what in ("list", "help"):
                    reply = self.menu.listing() if what == "list" else self.menu.help()
                    self._say_and_wait(speaker, reply, limit=300.0)
                    self._waiting()
                    continue
                assert item is not None
                self._say_and_wait(speaker, f"Starting {item.title}.")
                return item
