"""`voicecoach run`: wire a routine, the configuration, the voice, the history and the runner.

Every part that can fail on a real machine (the audio devices, the speech engines,
the history database) is opened here, and each failure becomes a sentence for the
user and a fallback, never a crash: no audio means text mode, no database means a
session that is coached but not recorded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from voicecoach.app.runner import EventLog, InputRecovery, Record, Runner, Writer
from voicecoach.app.settings import SessionSettings
from voicecoach.core import pain_rules, progression
from voicecoach.core.brief import has_done, is_brief
from voicecoach.core.errors import UserError
from voicecoach.core.plan import Plan
from voicecoach.core.routine import Routine, find_routine
from voicecoach.core.session import Session, SessionOptions
from voicecoach.voice.base import Listener, Speaker
from voicecoach.voice.gate import Gate

if TYPE_CHECKING:  # the store is opened (and imported) only when a session records
    from voicecoach.store.history import HistoryStore

# How long a write to the history waits for another program holding the file's lock before
# the record goes to the journal instead.  Other writers are voicecoach's own and hold it for
# milliseconds.  The wait is on the writer's thread, never the coach's.
RECORD_TIMEOUT = 1.0
SPOKEN_KEPT = "I can't save to your history just now, but your sets are kept safe."


@dataclass
class Voice:
    speaker: Speaker
    listener: Listener | None
    mode: str  # "text" or "audio"
    notes: list[str] = field(default_factory=list)
    recovery: InputRecovery | None = None
    """How to carry on when the microphone goes away mid-session (audio mode)."""
    gate: SpokenGate | None = None
    """The microphone gate (audio mode); it also reports when each utterance really played."""
    announce: str | None = None
    """Said aloud once before the session: why a speech engine that should work did not start."""

    def attach(self, runner: Runner) -> None:
        """Wire `runner` to this voice: typed hints, `spoken` records, microphone recovery."""
        if hasattr(self.listener, "on_unknown"):
            self.listener.on_unknown = runner.on_unknown  # type: ignore[union-attr]
        if self.gate is not None:
            self.gate.on_spoken = runner.on_spoken
        if self.recovery is not None:
            runner.recovery = self.recovery


class SpokenGate(Gate):
    """The gate, also passing each finished utterance to `on_spoken(text, requested,
    start, end, cut_off)`: the event log's `spoken` records, with the times the audio
    really started and stopped (count cues' lateness is measured from these)."""

    def __init__(self, tail: float = 0.35) -> None:
        super().__init__(tail=tail)
        self.on_spoken: Callable[[str, float, float | None, float | None, bool], None] | None = None

    def ended(self, token: int, at: float, cut_off: bool = False) -> None:
        was_playing = any(u.token == token and u.end is None for u in self.utterances())
        super().ended(token, at, cut_off)
        report = self.on_spoken
        if not was_playing or report is None:
            return
        for u in self.utterances():
            if u.token == token and u.end is not None:
                # On the audio thread: the runner only queues this.
                report(u.text, u.requested, u.start, u.end, u.cut_off)
                return


def open_recognizer(engine: str, model: str | Path | None, config: Any = None) -> tuple[Any | None, list[str]]:
    """The recognizer to listen with (None: no engine could start, so text mode) and notes
    for the user saying why not a better engine; see `voice.engines.choose`."""
    recognizer, notes, _spoken = open_engine(engine, model, config)
    return recognizer, notes


def open_engine(engine: str, model: str | Path | None, config: Any = None) -> tuple[Any | None, list[str], str | None]:
    """`open_recognizer`, plus a sentence to say aloud when an engine is broken (or None)."""
    from voicecoach.voice.engines import choose

    choice = choose(engine, model=model, config=config)
    return choice.recognizer, choice.notes, choice.spoken


def typed_fallback(stream: IO[str] | None, err: IO[str]) -> Callable[[], Listener | None] | None:
    """Typed commands for when the microphone is gone, if anyone can type them.

    Only when `stream` is a terminal, a pipe or a file: a service's stdin is /dev/null
    (or closed), and reading it would only say "end of input".
    """
    if stream is None:
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return None
    if not (os.isatty(fd) or stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)):
        return None

    def start() -> Listener:
        from voicecoach.voice.typed import TypedListener

        print("The microphone is gone. Type commands and press Enter (resume, pause, next, status, "
              "help); I'll listen again when it is back.", file=err, flush=True)
        return TypedListener(stream)

    return start


def reopen_microphone(device: Any, recognizer: Any, gate: Gate | None,
                      stall_seconds: float = 2.0, barge_in: Any = None) -> Listener | None:
    """A listener on the microphone if it is back and delivering audio, else None.

    A stream can open on a device that is gone and then deliver nothing, so the
    microphone counts as back only once its first chunk of audio arrives.  PortAudio's
    device list is not rescanned (that would close the speaker's stream too), so a
    device that comes back under another name is not found until the next session.
    """
    from voicecoach.voice.devices import AudioUnavailable
    from voicecoach.voice.listener import AudioListener
    from voicecoach.voice.microphone import AudioSourceLost, SoundDeviceSource

    try:
        source = SoundDeviceSource(device=device, stall_seconds=stall_seconds)
    except (AudioUnavailable, OSError):
        return None
    probe = source.chunks()
    try:
        next(probe)
    except (AudioSourceLost, StopIteration, OSError):
        source.close()
        return None
    finally:
        probe.close()
    recognizer.reset()
    if barge_in is not None:  # another microphone, another echo path: measure it again
        from voicecoach.voice.barge_in import BargeIn

        barge_in = BargeIn(barge_in.played)
    return AudioListener(source, recognizer, gate, barge_in)


def open_voice(settings: SessionSettings, out: IO[str]) -> Voice:
    """The speaker and listener to use, falling back to text mode with a reason."""
    from voicecoach.voice.speakers import AudioSpeaker, PrintSpeaker, make_speaker
    from voicecoach.voice.typed import TypedListener

    config = settings.config
    speech = config.speech
    if settings.text_mode:
        return Voice(PrintSpeaker(out), TypedListener(sys.stdin), "text")
    notes: list[str] = []
    speaker: Speaker | None = None
    try:
        from voicecoach.voice.devices import AudioUnavailable
        from voicecoach.voice.engines import EngineUnavailable
        from voicecoach.voice.listener import AudioListener
        from voicecoach.voice.microphone import SoundDeviceSource

        gate = SpokenGate(tail=config.audio.gate_tail_seconds)
        speaker = make_speaker(speech.speaker, voice=speech.voice, rate=speech.rate, volume=speech.volume,
                               device=config.audio.output_device, gate=gate, data_folder=config.data.folder)
        notes += getattr(speaker, "notes", [])
        recognizer, engine_notes, spoken = open_engine(speech.engine, speech.model, config)
        notes += engine_notes
        if recognizer is None:
            raise EngineUnavailable("no speech recognizer could start")
        device = config.audio.input_device
        source = SoundDeviceSource(device=device)
        barge_in = None
        if config.audio.barge_in and isinstance(speaker, AudioSpeaker):
            from voicecoach.voice.barge_in import attach

            barge_in, why = attach(speaker.player)
            notes += [why] if why else []
        recovery = InputRecovery(reopen=functools.partial(reopen_microphone, device, recognizer, gate,
                                                          barge_in=barge_in),
                                 typed=typed_fallback(sys.stdin, sys.stderr))
        return Voice(speaker, AudioListener(source, recognizer, gate, barge_in), "audio", notes, recovery, gate,
                     announce=spoken)
    except (AudioUnavailable, EngineUnavailable, OSError, ImportError) as exc:
        if speaker is not None:
            with contextlib.suppress(Exception):
                speaker.close()
        reason = str(exc).strip() or type(exc).__name__
        notes.append(f"No audio: {reason}. Using text mode: type commands and press Enter.")
        return Voice(PrintSpeaker(out), TypedListener(sys.stdin), "text", notes)


_ANNOUNCED: set[str] = set()


def first_time(announcement: str) -> bool:
    """True the first time this process is about to say `announcement` (a broken engine
    is explained aloud once, not before every session `serve` starts)."""
    if announcement in _ANNOUNCED:
        return False
    _ANNOUNCED.add(announcement)
    return True


def tell_notes(voice: Voice, err: IO[str]) -> None:
    """Print why the voice is not the best one; say aloud (once per process) why an engine
    that should work did not start."""
    for note in voice.notes:
        print(note, file=err, flush=True)
    if voice.mode == "audio" and voice.announce and first_time(voice.announce):
        say_and_wait(voice.speaker, voice.announce)


def say_and_wait(speaker: Speaker, text: str, limit: float = 20.0) -> None:
    """Say `text` and return once it has been said (or after `limit` seconds)."""
    speaker.say(text)
    deadline = time.monotonic() + limit
    while speaker.is_speaking() and time.monotonic() < deadline:
        time.sleep(0.05)


class HistoryRecorder:
    """A runner sink that writes what matters to the history store, as it happens."""

    def __init__(self, store: HistoryStore, routine: Routine, planned_sets: int, resume_from: int | None,
                 wait_for_resume_answer: bool, targets: dict[int, int] | None = None,
                 wait_for_step_up_answer: bool = False):
        self.store = store
        self.routine = routine
        self.planned = planned_sets
        self.resume_from = resume_from
        self.waiting = wait_for_resume_answer
        # The plan's target for each exercise (by index) in this session; an accepted step-up
        # raises it.  A set stretched with "more" is stored at this target, with what was done,
        # so one keen set never becomes the next session's target.
        self.targets: dict[int, int] = dict(targets or {})
        self.session_id: int | None = None
        # A step up may add rounds, so the session's row waits for that answer to know its
        # planned sets; it is then made by the first thing worth recording, with the start time.
        self.step_up_pending = wait_for_step_up_answer
        self.started: float | None = None
        self.pause_started: float | None = None
        self.ended = False  # its session_end record was written
        # Records made before the session is stored (while an opening question waits), with their time.
        self.held: list[tuple[Record, float]] = []
        # A "pain" whose score is not in yet: (exercise, time); stored unscored if the session ends first.
        self.pain_pending: tuple[str, float] | None = None
        self.eased = False  # pain before the session put it at the easiest targets
        self.unstepped = dict(self.targets)  # the targets before a step up accepted today

    def _ensure(self) -> int:
        if self.session_id is None:
            self.session_id = self.store.start_session(
                self.routine.name, self.routine.title, self.started or time.time(),
                resumed_from=self.resume_from if self.waiting is False and self.resume_from else None,
                planned_sets=self.planned)
            held, self.held = self.held, []
            for record, at in held:
                self._write(self.session_id, record, at)
        return self.session_id

    def __call__(self, record: Record) -> None:
        kind = record["type"]
        now = time.time()
        if kind == "session_start":
            self.started = now
            if not self.waiting and not self.step_up_pending:
                self._ensure()
            return
        if kind == "resumed_from":
            self.waiting = False
            if not self.step_up_pending:
                self._ensure()
            return
        if kind == "resume_declined":
            self.waiting = False
            self.resume_from = None
            if not self.step_up_pending:
                self._ensure()
            return
        if kind == "question_answered" and record.get("kind") == "step_up":
            self.step_up_pending = False
            return
        if kind == "plan_changed":
            self.planned = int(record["sets_planned"])
            return
        if kind == "step_up":
            self.targets.update({int(e): int(t) for e, t in record.get("targets", {}).items()})
            return
        if kind == "decision" and record["kind"] in (pain_rules.REDUCED, pain_rules.START_ANYWAY):
            # The pain before the session withdrew a step up accepted a moment before.
            self.eased, self.targets = True, dict(self.unstepped)
        if kind not in ("set_finished", "exercise_skipped", "paused", "resumed", "pain_score", "decision",
                        "pain_reported", "session_end"):
            return
        if self.session_id is None and (self.waiting or self.step_up_pending):
            if kind == "session_end" and not any(r["type"] == "pain_score" for r, _ in self.held):
                # Ended (Ctrl-C, SIGTERM) while asking whether to continue: nothing was done (nor
                # said about the knee), and an empty session here would hide the interrupted one
                # from the next offer.
                return
            if kind != "session_end":
                # A pain score or a decision before the opening questions are answered: stored
                # once the session's row is made (its planned sets depend on those answers).
                self.held.append((record, now))
                return
        self._write(self._ensure(), record, now)

    def _write(self, sid: int, record: Record, now: float) -> None:
        """Store one record of session `sid` that happened at `now` (unix seconds)."""
        kind = record["type"]
        if kind == "set_finished":
            target = record["target"]
            planned = self.targets.get(record["exercise_index"])
            # Nor does a side matched to a short first side ("sides_match") lower the target, nor
            # an easy day for pain: the next session steps down one step from the progression's
            # target, rather than restarting at the bottom.
            if planned is not None and target != planned:
                target = planned
            self.store.record_set(
                sid, exercise=record["exercise"], exercise_index=record["exercise_index"],
                set_no=record["set"], sets=record["sets"], side=record.get("side"),
                side_index=record.get("side_index") or 0, kind=record["kind"],
                done=record["done"], target=target, finished_at=now)
        elif kind == "exercise_skipped":
            self.store.record_skip(sid, exercise=record["exercise"],
                                   exercise_index=record["exercise_index"], at=now)
        elif kind == "resumed" and record.get("paused_seconds"):
            seconds = float(record["paused_seconds"])
            self.store.record_pause(sid, at=now - seconds, seconds=seconds)
        elif kind == "pain_reported":
            self.pain_pending = (str(record.get("exercise") or ""), now)
        elif kind == "pain_score":
            # "during": the score asked after "pain", noted with the exercise it interrupted.
            if record["when"] == "during":
                self.pain_pending = None
            note = " ".join(filter(None, (record.get("exercise"), record.get("note"))))
            self.store.record_pain(sid, when=record["when"], score=record["score"], at=now, note=note)
        elif kind == "decision":
            self.store.record_decision(sid, kind=record["kind"], reason=record["reason"], at=now)
        elif kind == "session_end":
            if self.pain_pending is not None:  # ended while asking how bad the pain was
                exercise, at = self.pain_pending
                self.store.record_pain(sid, when="during", score=None, at=at,
                                       note=" ".join(filter(None, (exercise, "unanswered"))))
            self.store.end_session(sid, outcome=record["outcome"], ended_at=now)
            self.ended = True


def _sets_of_recent(store: HistoryStore, routine: Routine) -> Iterator[list[dict[str, Any]]]:
    """The sets of the routine's recent sessions that did any, newest first."""
    return (store.session(summary["id"]).get("sets", []) for summary in store.recent(50)
            if summary["routine"] == routine.name and summary["sets_done"])


def current_targets(store: HistoryStore, routine: Routine) -> dict[str, int]:
    """Each exercise's current target, by exercise name, from the history (the rule is
    `progression.current_targets`)."""
    return progression.current_targets(routine, _sets_of_recent(store, routine))


def current_rounds(store: HistoryStore, routine: Routine) -> dict[int, int]:
    """Each exercise's rounds, by exercise index, from the history (`progression.current_rounds`)."""
    by_name = progression.current_rounds(routine, _sets_of_recent(store, routine))
    return {e: by_name[ex.name] for e, ex in enumerate(routine.exercises)}


class NextSession(NamedTuple):
    """What the routine's last workouts decide for this session, by exercise index."""

    verdict: pain_rules.Verdict
    offer: dict[int, int]
    """Higher targets to offer (a step up)."""
    lowered: dict[int, int]
    """Targets one step lower (a step down)."""
    rounds: dict[int, int]
    """More rounds to offer with the step up, for exercises at the top of their reps."""


def next_session_plan(
    store: HistoryStore, routine: Routine, limits: pain_rules.PainLimits, targets: dict[str, int] | None = None,
    rounds: Mapping[int, int] | None = None,
) -> NextSession:
    """What the routine's last workouts decide for this session (the rules are
    `pain_rules.next_session`, `progression.step_up` and `progression.step_up_rounds`).  A step
    up is earned when the last two workouts each ended "finished", skipped nothing, had no pain
    stop and did every planned set in full at the current target, and their pain stayed within
    the limits and did not rise; it raises targets below the top of their range and adds a round
    to exercises at the top of their reps.  `targets` (by name) and `rounds` (by index) are read
    from the history when not given (a session passes what its plan already read)."""
    targets = current_targets(store, routine) if targets is None else targets
    rounds = current_rounds(store, routine) if rounds is None else rounds
    finished = store.completed_streak(routine.name, 2, targets=targets)
    workouts = [pain_rules.Workout(w["before"], w["after"], w["worst_during"])
                for w in store.pain_workouts(routine.name, 3)]
    decided = pain_rules.next_session(workouts, limits, finished)
    by_name = {ex.name: rounds[e] for e, ex in enumerate(routine.exercises)}
    more = progression.step_up_rounds(routine, targets, by_name, decided.action == pain_rules.STEP_UP)
    verdict, offer, lowered = pain_rules.apply(decided, progression.step_up(routine, targets, True),
                                               progression.step_down(routine, targets))
    if more and not offer:  # every target is at the top, but a round can still be added
        verdict = decided
    return NextSession(verdict, offer, lowered, more)


def prepare_phrases(plan: Plan) -> list[str]:
    """Every cue of the plan, once, in the order it is first due: rendered ahead (in that order,
    while the session runs) so counts start exactly when due and no sentence waits for its audio."""
    phrases: dict[str, None] = {}
    for block in plan.blocks:
        for cue in block.cues:
            phrases.setdefault(cue.text, None)
    if plan.settings.brief:  # all the steps, for "repeat", last: they may never be asked for
        for e in range(len(plan.routine.exercises)):
            for cue in plan.steps_block(e).cues:
                phrases.setdefault(cue.text, None)
    return list(phrases)


def _close_voice(voice: Voice) -> None:
    # The runner closes the listener when it runs; closing it again is harmless.
    for close in (voice.speaker.close, getattr(voice.listener, "close", None)):
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def _end_if_unfinished(store: HistoryStore, recorder: HistoryRecorder) -> None:
    """A session stopped without its `session_end` record is ended as interrupted."""
    if recorder.session_id is not None and not recorder.ended:
        store.end_session(recorder.session_id, outcome="interrupted", ended_at=time.time())


def run_session(settings: SessionSettings, out: IO[str] | None = None) -> int:
    """Coach one session of `settings.routine`; the exit code (130 when interrupted).

    `run` calls this once and `serve` once per session: the voice, the history store and
    the event log are opened here, in one ExitStack, and closed however the session ends."""
    out = out or sys.stdout
    err = sys.stderr
    config = settings.config
    routine = find_routine(settings.routine)
    plan = Plan(routine, settings.plan)
    options = SessionOptions(checkins=bool(config.coach.pain_checkins),
                             pain_limits=pain_rules.limits_for(config.pain, routine.pain_limits))

    # Everything opened is closed in reverse order, however the session ends or fails to
    # start (a bad --events path must not leave the microphone and the database open).
    with contextlib.ExitStack() as stack:
        store = None
        resume_from: int | None = None
        targets: dict[int, int] = {}
        runner: Runner | None = None
        if settings.record:
            from voicecoach.store.history import default_db_path, open_durable

            def unavailable(reason: str, kept: bool) -> None:
                if kept:
                    print(f"I can't write the history file just now: {reason}. Your sets are kept in a "
                          "journal beside it and saved there when it works again.", file=err, flush=True)
                    spoken = SPOKEN_KEPT
                else:
                    print(f"I can't record this session: {reason}", file=err, flush=True)
                    spoken = "I can't record this session, but I'll coach you anyway."
                # Hands-free nobody reads the terminal: say it too, before the start or as it happens.
                if runner is None:
                    options.notices.append(spoken)
                else:
                    runner.notify(spoken)

            def saved(records: int) -> None:
                if records:
                    print(f"The history file works again: {records} records from the journal are saved in it.",
                          file=err, flush=True)
                else:
                    print("Saved a session kept in the journal into the history file.", file=err, flush=True)

            store = open_durable(default_db_path(Path(config.data.folder)), timeout=RECORD_TIMEOUT,
                                 on_trouble=unavailable, on_saved=saved)
            stack.callback(store.close)
            if store.recording:
                if is_brief(config.coach.brief, has_done(store.recent(200), routine.name)):
                    plan = Plan(routine, replace(plan.settings, brief=True))
                plan = plan.with_rounds(current_rounds(store, routine))  # rounds added by earlier step ups stay
            if store.recording and not settings.fresh:
                point = store.resume_point(routine.name, plan.set_keys())
                if point is not None and point.next_set is not None:
                    options.resume_at = point.next_set
                    options.done_before = point.finished
                    resume_from = point.session_id
            if store.recording:
                by_name = current_targets(store, routine)
                targets = {e: by_name[ex.name] for e, ex in enumerate(routine.exercises)}
                decided = next_session_plan(store, routine, options.pain_limits, by_name,
                                            {e: plan.rounds(e) for e in range(len(routine.exercises))})
                options.decision, options.step_up = decided.verdict, decided.offer
                options.step_up_rounds = decided.rounds
                targets.update(decided.lowered)

        voice = open_voice(settings, out)
        stack.callback(_close_voice, voice)
        tell_notes(voice, err)
        if voice.mode == "audio":
            voice.speaker.prepare(prepare_phrases(plan))

        sinks: list[Callable[[Record], None]] = []
        # The history before the event log: a set is stored before the log says it finished.
        recorders: list[Callable[[Record], None]] = []
        recorder = None
        if store is not None:
            recorder = HistoryRecorder(store, routine, len(plan.set_keys()), resume_from,
                                       wait_for_resume_answer=options.resume_at is not None, targets=targets,
                                       wait_for_step_up_answer=bool(options.step_up or options.step_up_rounds))
            recorders.append(recorder)
            stack.callback(_end_if_unfinished, store, recorder)
        log = None
        if settings.events is not None:
            try:
                log = EventLog(settings.events)
            except OSError as exc:
                raise UserError(f"cannot write the event log {settings.events}: {exc.strerror or exc}") from None
            recorders.append(log)
            stack.callback(log.close)
        from voicecoach.app.view import make_view
        from voicecoach.voice.speakers import PrintSpeaker

        view = make_view(settings.view, out, text_mode=voice.mode == "text",
                         time_scale=settings.time_scale)
        if view is not None:
            sinks.append(view)
            if hasattr(view, "close"):
                stack.callback(view.close)
            if voice.mode == "text" and hasattr(view, "printer") and isinstance(voice.speaker, PrintSpeaker):
                # The coach's printed lines scroll above the panel instead of through it.
                voice.speaker.out = view.printer(voice.speaker.out)

        session = Session(plan, options)
        # A step accepted in an earlier session stays: start from the current targets, not from
        # the bottom of each range.
        session.targets.update(progression.raised_targets(routine, targets))
        runner = Runner(session, voice.speaker, voice.listener, time_scale=settings.time_scale, sinks=sinks,
                        writer=Writer(recorders) if recorders else None)
        voice.attach(runner)

        previous = {}
        for sig, why in ((signal.SIGINT, "interrupted (Ctrl-C)"), (signal.SIGTERM, "terminated")):
            previous[sig] = signal.signal(sig, lambda *_a, why=why: runner.interrupt(why))
            stack.callback(signal.signal, sig, previous[sig])
        outcome = runner.run()
    if outcome == "interrupted":
        print("Session interrupted. Finished sets are saved; run the routine again to continue.",
              file=err, flush=True)
        return 130
    return 0
