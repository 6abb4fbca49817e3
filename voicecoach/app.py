"""`voicecoach run`: wire a routine, the configuration, the voice, the history and the runner.

Every part that can fail on a real machine (the audio devices, the speech engines,
the history database) is opened here, and each failure becomes a sentence for the
user and a fallback, never a crash: no audio means text mode, no database means a
session that is coached but not recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from voicecoach.plan import COUNT, TICK, Plan, PlanSettings
from voicecoach.routine import Routine, Tempo, find_routine
from voicecoach.runner import EventLog, Record, Runner
from voicecoach.session import Session, SessionOptions
from voicecoach.voice.base import Listener, Speaker

STEP_UP_REPS = 1
STEP_UP_SECONDS = 5


class RunError(Exception):
    """The session cannot start; the message says why."""


def load_settings(args: argparse.Namespace) -> Any:
    """The effective configuration, with this command line's options on top."""
    from voicecoach.config import ConfigError, load_config

    overrides = {
        "speech.engine": getattr(args, "engine", None),
        "speech.model": getattr(args, "model", None),
        "speech.speaker": getattr(args, "speaker", None),
        "audio.input_device": getattr(args, "input_device", None),
        "audio.output_device": getattr(args, "output_device", None),
        "coach.pain_checkins": False if getattr(args, "no_checkins", False) else None,
        "data.folder": getattr(args, "data_dir", None),
    }
    try:
        return load_config(Path(args.config).expanduser() if getattr(args, "config", None) else None,
                           overrides=overrides)
    except ConfigError as exc:
        raise RunError(str(exc)) from None


def plan_settings_from(loaded: Any) -> PlanSettings:
    coach = loaded.config.coach
    rest_from_config = loaded.sources.get("coach.rest_seconds", "default") != "default"
    return PlanSettings(
        ready_seconds=float(coach.ready_seconds),
        switch_seconds=float(coach.switch_seconds),
        rest_seconds=float(coach.rest_seconds) if rest_from_config else None,
        tempo=Tempo(coach.tempo_up, coach.tempo_top, coach.tempo_down, coach.tempo_bottom),
    )


@dataclass
class Voice:
    speaker: Speaker
    listener: Listener | None
    mode: str  # "text" or "audio"
    notes: list[str] = field(default_factory=list)


def open_voice(args: argparse.Namespace, config: Any, out: IO[str]) -> Voice:
    """The speaker and listener to use, falling back to text mode with a reason."""
    from voicecoach.voice.speakers import PrintSpeaker, make_speaker
    from voicecoach.voice.typed import TypedListener

    speech = config.speech
    if args.text or speech.engine == "text":
        return Voice(PrintSpeaker(out), TypedListener(sys.stdin), "text")
    notes: list[str] = []
    speaker: Speaker | None = None
    try:
        from voicecoach.voice.devices import AudioUnavailable
        from voicecoach.voice.engines import EngineUnavailable, make_recognizer
        from voicecoach.voice.gate import Gate
        from voicecoach.voice.listener import AudioListener
        from voicecoach.voice.microphone import SoundDeviceSource

        gate = Gate(tail=config.audio.gate_tail_seconds)
        speaker = make_speaker(speech.speaker, voice=speech.voice, rate=speech.rate,
                               volume=speech.volume, device=config.audio.output_device, gate=gate)
        recognizer, note = make_recognizer(speech.engine, speech.model)
        if note:
            notes.append(note)
        source = SoundDeviceSource(device=config.audio.input_device)
        return Voice(speaker, AudioListener(source, recognizer, gate), "audio", notes)
    except (AudioUnavailable, EngineUnavailable, OSError, ImportError) as exc:
        if speaker is not None:
            with contextlib.suppress(Exception):
                speaker.close()
        reason = str(exc).strip() or type(exc).__name__
        notes.append(f"No audio: {reason}. Using text mode: type commands and press Enter.")
        return Voice(PrintSpeaker(out), TypedListener(sys.stdin), "text", notes)


class HistoryRecorder:
    """A runner sink that writes what matters to the history store, as it happens."""

    def __init__(self, store: Any, routine: Routine, planned_sets: int, resume_from: int | None,
                 wait_for_resume_answer: bool):
        self.store = store
        self.routine = routine
        self.planned = planned_sets
        self.resume_from = resume_from
        self.waiting = wait_for_resume_answer
        self.session_id: int | None = None
        self.pause_started: float | None = None

    def _ensure(self) -> int:
        if self.session_id is None:
            self.session_id = self.store.start_session(
                self.routine.name, self.routine.title, time.time(),
                resumed_from=self.resume_from if self.waiting is False and self.resume_from else None,
                planned_sets=self.planned)
        return self.session_id

    def __call__(self, record: Record) -> None:
        kind = record["type"]
        now = time.time()
        if kind == "session_start":
            if not self.waiting:
                self._ensure()
            return
        if kind == "resumed_from":
            self.waiting = False
            self._ensure()
            return
        if kind == "resume_declined":
            self.waiting = False
            self.resume_from = None
            self._ensure()
            return
        if kind not in ("set_finished", "exercise_skipped", "paused", "resumed", "pain_score",
                        "pain_reported", "session_end"):
            return
        sid = self._ensure()
        if kind == "set_finished":
            self.store.record_set(
                sid, exercise=record["exercise"], exercise_index=record["exercise_index"],
                set_no=record["set"], sets=record["sets"], side=record.get("side"),
                side_index=record.get("side_index") or 0, kind=record["kind"],
                done=record["done"], target=record["target"], finished_at=now)
        elif kind == "exercise_skipped":
            self.store.record_skip(sid, exercise=record["exercise"],
                                   exercise_index=record["exercise_index"], at=now)
        elif kind == "resumed" and record.get("paused_seconds"):
            seconds = float(record["paused_seconds"])
            self.store.record_pause(sid, at=now - seconds, seconds=seconds)
        elif kind == "pain_score":
            self.store.record_pain(sid, when=record["when"], score=record["score"], at=now)
        elif kind == "pain_reported":
            self.store.record_pain(sid, when="during", score=None, at=now,
                                   note=record.get("exercise", ""))
        elif kind == "session_end":
            self.store.end_session(sid, outcome=record["outcome"], ended_at=now)


def current_targets(store: Any, routine: Routine) -> dict[str, float]:
    """Each exercise's target in the routine's most recent session (default: range bottom)."""
    targets: dict[str, float] = {}
    for ex in routine.exercises:
        rng = ex.reps or ex.hold_seconds
        assert rng is not None
        targets[ex.name] = float(rng.min)
    for summary in store.recent(50):
        if summary["routine"] != routine.name:
            continue
        for s in store.session(summary["id"]).get("sets", []):
            if s["exercise"] in targets:
                targets[s["exercise"]] = max(targets[s["exercise"]], float(s["target"]))
        break
    return targets


def step_up_offer(store: Any, routine: Routine) -> dict[int, int]:
    """New targets to offer when the last two sessions hit every target, else {}."""
    targets = current_targets(store, routine)
    if not store.completed_streak(routine.name, 2, targets=targets):
        return {}
    offer: dict[int, int] = {}
    for e, ex in enumerate(routine.exercises):
        rng = ex.reps or ex.hold_seconds
        assert rng is not None
        step = STEP_UP_REPS if ex.reps else STEP_UP_SECONDS
        new = min(rng.max, int(targets[ex.name]) + step)
        if new > targets[ex.name]:
            offer[e] = new
    return offer


def prepare_phrases(plan: Plan) -> list[str]:
    """Counts and countdowns, rendered before the session so each starts exactly when due."""
    phrases: dict[str, None] = {}
    for block in plan.blocks:
        for cue in block.cues:
            if cue.kind in (COUNT, TICK):
                phrases.setdefault(cue.text, None)
    return list(phrases)


def run_session(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    err = sys.stderr
    from voicecoach.cli import UserError, plan_settings

    try:
        loaded = load_settings(args)
    except RunError as exc:
        raise UserError(str(exc)) from None
    config = loaded.config
    routine = find_routine(args.routine)
    plan = Plan(routine, plan_settings(args, plan_settings_from(loaded)))
    options = SessionOptions(checkins=bool(config.coach.pain_checkins))

    store = None
    resume_from: int | None = None
    if not args.no_history:
        from voicecoach.history import default_db_path, open_safe

        def unavailable(reason: str) -> None:
            print(f"I can't record this session: {reason}", file=err, flush=True)

        store = open_safe(default_db_path(Path(config.data.folder)), on_unavailable=unavailable)
        if store.recording and not args.fresh:
            point = store.resume_point(routine.name, plan.set_keys())
            if point is not None and point.next_set is not None:
                options.resume_at = point.next_set
                resume_from = point.session_id
        if store.recording:
            options.step_up = step_up_offer(store, routine)

    voice = open_voice(args, config, out)
    for note in voice.notes:
        print(note, file=err, flush=True)
    if voice.mode == "audio":
        voice.speaker.prepare(prepare_phrases(plan))

    sinks = []
    recorder = None
    if store is not None:
        recorder = HistoryRecorder(store, routine, len(plan.set_keys()), resume_from,
                                   wait_for_resume_answer=options.resume_at is not None)
        sinks.append(recorder)
    log = None
    if args.events:
        try:
            log = EventLog(args.events)
        except OSError as exc:
            raise UserError(f"cannot write the event log {args.events}: {exc.strerror or exc}") from None
        sinks.append(log)

    session = Session(plan, options)
    runner = Runner(session, voice.speaker, voice.listener, time_scale=args.time_scale, sinks=sinks)
    if hasattr(voice.listener, "on_unknown"):
        voice.listener.on_unknown = runner.on_unknown  # type: ignore[union-attr]

    previous = {}
    for sig, why in ((signal.SIGINT, "interrupted (Ctrl-C)"), (signal.SIGTERM, "terminated")):
        previous[sig] = signal.signal(sig, lambda *_a, why=why: runner.interrupt(why))
    try:
        outcome = runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(Exception):
            voice.speaker.close()
        if store is not None:
            if recorder is not None and recorder.session_id is not None and session.outcome is None:
                store.end_session(recorder.session_id, outcome="interrupted", ended_at=time.time())
            store.close()
        if log is not None:
            log.close()
    if outcome == "interrupted":
        print("Session interrupted. Finished sets are saved; run the routine again to continue.",
              file=err, flush=True)
        return 130
    return 0
