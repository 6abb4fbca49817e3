"""Faults of the ears: the microphone disappearing mid-session, and a speech engine that
cannot start.

When the listener reports the microphone gone, the coach says so, pauses, takes typed
commands if someone can type, and listens again when the microphone delivers audio
again (it stays paused until told to resume).  When an engine cannot start, the coach
falls back (vosk, then the bundled PocketSphinx, then text mode) and says why.

The runner tests need no sound card: a fake microphone raises `AudioSourceLost`
mid-stream, and fake time runs the session while the real listener, typed-input and
reconnect threads do their work.  What the returned microphone hears is espeak-ng
audio recognized by the real bundled engine.  The last test does it all for real in
the virtual room, suspending the room's microphone under a running `voicecoach run`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_room import DEVICE, AudioRoom
from speech_audio import needs_espeak, speak

from voicecoach.app.recognize import read_wav
from voicecoach.app.run import SpokenGate, open_recognizer, typed_fallback
from voicecoach.app.runner import MICROPHONE_BACK, MICROPHONE_LOST, InputRecovery, Runner
from voicecoach.core.clock import FakeClock
from voicecoach.core.plan import Plan, PlanSettings
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Session
from voicecoach.voice.base import Listener, Speaker
from voicecoach.voice.listener import AudioListener
from voicecoach.voice.microphone import SAMPLE_RATE, AudioSource, AudioSourceLost, Chunk
from voicecoach.voice.sphinx_engine import SphinxRecognizer
from voicecoach.voice.typed import TypedListener

# Slow: real time, subprocesses and the PulseAudio room.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
REAL_WAIT = 15.0  # seconds a real thread gets to deliver what an action caused

Record = dict[str, Any]


class FakeMicrophone(AudioSource):
    """A microphone that delivers what it is told to hear, and can be unplugged.

    `hear(samples)` queues speech (16 kHz int16), delivered as 100 ms chunks followed
    by a second of silence so the recognizer can decide; `unplug()` makes the stream
    fail the way a pulled-out USB microphone does.  Chunk times run on their own clock.
    """

    def __init__(self) -> None:
        self._speech: queue.Queue[np.ndarray] = queue.Queue()
        self._unplugged = threading.Event()
        self._closed = threading.Event()
        self._t = 1000.0

    def hear(self, samples: np.ndarray) -> None:
        self._speech.put(samples)

    def unplug(self) -> None:
        self._unplugged.set()

    def chunks(self) -> Iterator[Chunk]:
        n = SAMPLE_RATE // 10
        while not self._closed.is_set():
            if self._unplugged.is_set():
                raise AudioSourceLost("the microphone was unplugged")
            try:
                speech = self._speech.get(timeout=0.02)
            except queue.Empty:
                continue
            audio = np.concatenate([np.zeros(n * 3, np.int16), speech, np.zeros(n * 10, np.int16)])
            for i in range(0, len(audio), n):
                part = audio[i:i + n]
                start, self._t = self._t, self._t + len(part) / SAMPLE_RATE
                yield Chunk(part.astype("<i2").tobytes(), start, self._t)

    def close(self) -> None:
        self._closed.set()


class SpeakerSpy(Speaker):
    """Remembers what the coach said."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def stop(self) -> None:
        pass


class ScriptedClock(FakeClock):
    """Fake time that runs `actions` at their fake times, then really waits for what
    they cause (it comes from real threads: the listener, typed input, the reconnect
    loop).  Waiting forever with nothing scheduled also waits really, for the same
    reason; a thread that never delivers fails the test instead of hanging it."""

    def __init__(self, actions: list[tuple[float, Callable[[], None]]]) -> None:
        super().__init__()
        for at, action in actions:
            self.schedule(at, action)

    def _deliver(self, action: Callable[[], None], inbox: queue.Queue[Any]) -> Any:
        action()
        return self._really_wait(inbox)

    def _wait_forever(self, inbox: queue.Queue[Any]) -> Any:
        return self._really_wait(inbox)

    def _really_wait(self, inbox: queue.Queue[Any]) -> Any:
        try:
            return inbox.get(timeout=REAL_WAIT)
        except queue.Empty:
            pytest.fail(f"nothing arrived from the other threads at fake time {self.t:.1f} s")


class TypedPipe:
    """A keyboard: lines written here are read by a TypedListener."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.reader = os.fdopen(read_fd, "r", encoding="utf-8")
        self.writer = os.fdopen(write_fd, "w", encoding="utf-8")

    def type(self, line: str) -> None:
        self.writer.write(line + "\n")
        self.writer.flush()

    def close(self) -> None:
        for f in (self.writer, self.reader):
            with contextlib.suppress(OSError):
                f.close()


@pytest.fixture(scope="module")
def recognizer() -> SphinxRecognizer:
    return SphinxRecognizer()


@pytest.fixture(scope="module")
def voice_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The user saying the commands (used only by tests marked needs_espeak)."""
    folder = tmp_path_factory.mktemp("user-voice")
    return {word: read_wav(speak(word, folder / f"{word}.wav", voice="en-us+f2", rate=175))
            for word in ("pause", "resume")}


def make_runner(speaker: Speaker, listener: Listener, clock: FakeClock, recovery: InputRecovery,
                records: list[Record]) -> Runner:
    plan = Plan(load_routine(FIXTURES / "mini.yaml"), PlanSettings(ready_seconds=15))
    return Runner(Session(plan), speaker, listener, clock=clock, sinks=[records.append],
                  recovery=recovery)


def types(records: list[Record]) -> list[str]:
    return [r["type"] for r in records]


def first(records: list[Record], record_type: str, **fields: Any) -> Record:
    for r in records:
        if r["type"] == record_type and all(r.get(k) == v for k, v in fields.items()):
            return r
    raise AssertionError(f"no {record_type} {fields} in {types(records)}")


@needs_espeak
def test_losing_the_microphone_pauses_takes_typed_commands_and_listens_again_when_it_is_back(
        recognizer: SphinxRecognizer, voice_clips: dict[str, np.ndarray]):
    first_mic, second_mic = FakeMicrophone(), FakeMicrophone()
    plugged_in = threading.Event()
    keyboard = TypedPipe()
    speaker = SpeakerSpy()
    records: list[Record] = []

    def reopen() -> Listener | None:
        return AudioListener(second_mic, recognizer) if plugged_in.is_set() else None

    clock = ScriptedClock([
        (5.0, first_mic.unplug),
        (8.0, lambda: keyboard.type("status")),
        (10.0, lambda: keyboard.type("resume")),
        (15.0, plugged_in.set),
        (20.0, lambda: second_mic.hear(voice_clips["pause"])),
        (30.0, lambda: second_mic.hear(voice_clips["resume"])),
    ])
    recovery = InputRecovery(reopen=reopen, typed=lambda: TypedListener(keyboard.reader),
                             poll_seconds=0.01)
    runner = make_runner(speaker, AudioListener(first_mic, recognizer), clock, recovery, records)
    try:
        assert runner.run() == "finished"
    finally:
        keyboard.close()

    lost = first(records, "microphone_lost")
    assert lost["t"] == 5.0 and lost["reason"] == "microphone lost: the microphone was unplugged"
    assert records[records.index(lost) + 1]["type"] == "paused"
    said = first(records, "say", t=5.0, kind="reply")["text"]
    assert said.startswith(MICROPHONE_LOST) and "I've paused" in said and "Type resume" in said
    # Typed commands work meanwhile: they have no audio times.
    status = first(records, "command", name="status")
    assert status["t"] == 8.0 and "audio_start" not in status
    assert first(records, "resumed")["t"] == 10.0
    back = first(records, "microphone_back")
    assert back["t"] == 15.0
    # Not paused any more (the user typed resume), so nothing to ask for.
    assert first(records, "say", t=15.0)["text"] == MICROPHONE_BACK
    # The returned microphone is really listened to.
    spoken = [r for r in records if r["type"] == "command" and "audio_start" in r]
    assert [(r["t"], r["name"]) for r in spoken] == [(20.0, "pause"), (30.0, "resume")]
    assert first(records, "paused", t=20.0) and first(records, "resumed", t=30.0)
    assert types(records).count("microphone_lost") == 1
    assert records[-1]["type"] == "session_end" and records[-1]["outcome"] == "finished"


@needs_espeak
def test_without_a_keyboard_the_coach_waits_paused_for_the_microphone(
        recognizer: SphinxRecognizer, voice_clips: dict[str, np.ndarray]):
    first_mic, second_mic = FakeMicrophone(), FakeMicrophone()
    plugged_in = threading.Event()
    speaker = SpeakerSpy()
    records: list[Record] = []

    def reopen() -> Listener | None:
        return AudioListener(second_mic, recognizer) if plugged_in.is_set() else None

    clock = ScriptedClock([
        (40.0, first_mic.unplug),
        (400.0, plugged_in.set),  # minutes later: the session waited, paused
        (410.0, lambda: second_mic.hear(voice_clips["resume"])),
    ])
    recovery = InputRecovery(reopen=reopen, typed=None, poll_seconds=0.01)
    runner = make_runner(speaker, AudioListener(first_mic, recognizer), clock, recovery, records)
    assert runner.run() == "finished"

    said = first(records, "say", t=40.0, kind="reply")["text"]
    assert said.startswith(MICROPHONE_LOST) and "Type" not in said and "Plug it back in" in said
    assert first(records, "paused")["t"] == 40.0
    assert first(records, "say", t=400.0)["text"] == MICROPHONE_BACK + " Say resume when you're ready."
    resumed = first(records, "resumed")
    assert resumed["t"] == 410.0 and resumed["paused_seconds"] == pytest.approx(370.0)
    assert records[-1]["outcome"] == "finished"


def test_a_microphone_that_never_comes_back_ends_a_session_nobody_can_answer():
    first_mic = FakeMicrophone()
    speaker = SpeakerSpy()
    records: list[Record] = []
    clock = ScriptedClock([(12.0, first_mic.unplug)])
    attempts: list[float] = []

    def reopen() -> Listener | None:
        attempts.append(time.monotonic())
        return None

    recovery = InputRecovery(reopen=reopen, typed=None, poll_seconds=0.01, give_up_seconds=0.2)
    runner = make_runner(speaker, AudioListener(first_mic, SphinxRecognizer()), clock, recovery, records)
    assert runner.run() == "stopped"
    assert len(attempts) >= 3
    closed = first(records, "input_closed")
    assert "did not come back" in closed["reason"]
    assert "No more input. Ending the session." in speaker.said


def test_typed_input_ending_does_not_end_the_wait_for_the_microphone(recognizer: SphinxRecognizer):
    first_mic, second_mic = FakeMicrophone(), FakeMicrophone()
    plugged_in = threading.Event()
    speaker = SpeakerSpy()
    records: list[Record] = []
    # Plugging in gives the reconnect loop a moment, so both of its reports are in
    # before the next action.
    clock = ScriptedClock([(5.0, first_mic.unplug), (60.0, lambda: (plugged_in.set(), time.sleep(0.3)))])

    def reopen() -> Listener | None:
        return AudioListener(second_mic, recognizer) if plugged_in.is_set() else None

    # stdin at end of file (a closed pipe, say): typed input ends at once.
    recovery = InputRecovery(reopen=reopen, typed=lambda: TypedListener(io.StringIO("")),
                             poll_seconds=0.01)
    runner = make_runner(speaker, AudioListener(first_mic, recognizer), clock, recovery, records)
    # Back at 60 s, still paused: nothing else can happen, so end the session from outside.
    clock.schedule(61.0, lambda: runner.interrupt("test over"))
    assert runner.run() == "interrupted"
    assert "typed_input_closed" in types(records)
    assert first(records, "microphone_back")["t"] == 60.0
    assert "input_closed" not in types(records)


# -- opening the ears: typed fallback and engines ----------------------------------------


def test_typed_fallback_only_when_someone_can_type(tmp_path: Path):
    with open(os.devnull, encoding="utf-8") as devnull:
        assert typed_fallback(devnull, io.StringIO()) is None  # a service's stdin
    assert typed_fallback(None, io.StringIO()) is None
    keyboard = TypedPipe()
    err = io.StringIO()
    try:
        start = typed_fallback(keyboard.reader, err)
        assert start is not None
        listener = start()
        assert isinstance(listener, TypedListener)
        assert "Type commands and press Enter" in err.getvalue()
    finally:
        keyboard.close()


def test_a_vosk_engine_that_cannot_start_falls_back_to_the_next_one_and_says_why(tmp_path: Path):
    from voicecoach.voice.command_whisper import CommandWhisperRecognizer

    empty = tmp_path / "no-model"
    empty.mkdir()
    recognizer, notes = open_recognizer("vosk", str(empty))
    assert isinstance(recognizer, CommandWhisperRecognizer)
    [note] = notes
    assert note.startswith("The vosk speech engine cannot start: no vosk model in")
    assert "Using the Whisper engine instead." in note

    # A model folder that looks right but is broken: vosk itself fails to load it.
    broken = tmp_path / "broken-model"
    for part in ("am/final.mdl", "graph/HCLG.fst", "conf/model.conf"):
        (broken / part).parent.mkdir(parents=True, exist_ok=True)
        (broken / part).write_text("not a model")
    recognizer, notes = open_recognizer("auto", str(broken))
    assert isinstance(recognizer, CommandWhisperRecognizer)
    assert "could not load the model" in notes[0]


def test_when_no_engine_can_start_the_reason_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from voicecoach.voice import command_whisper, models, sphinx_engine

    def broken(*_args: object, **_kwargs: object) -> None:
        raise sphinx_engine.SphinxUnavailable("PocketSphinx could not load its model: disk error")

    def whisper_broken(*_args: object, **_kwargs: object) -> None:
        raise command_whisper.CommandWhisperUnavailable("Whisper could not load the model: disk error")

    monkeypatch.setattr(sphinx_engine, "SphinxRecognizer", broken)
    monkeypatch.setattr(command_whisper, "CommandWhisperRecognizer", whisper_broken)
    # Whatever models this machine has installed must not count.
    monkeypatch.setenv("VOICECOACH_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(models, "REPO_MODELS_DIR", tmp_path / "no-repo-models")
    recognizer, notes = open_recognizer("auto", None)
    assert recognizer is None
    assert notes[-1].startswith("The bundled PocketSphinx speech engine cannot start: "
                                "PocketSphinx could not load its model: disk error")
    empty = tmp_path / "none"
    empty.mkdir()
    recognizer, notes = open_recognizer("vosk", str(empty))
    assert recognizer is None and len(notes) == 3  # why not vosk, nor whisper, nor sphinx


def test_spoken_gate_reports_each_utterance_once():
    reports: list[tuple[str, float, float | None, float | None, bool]] = []
    gate = SpokenGate(tail=0.3)
    gate.on_spoken = lambda *report: reports.append(report)
    token = gate.begin("one", at=10.0)
    gate.started(token, 10.05)
    gate.ended(token, 10.5)
    gate.ended(token, 10.6, cut_off=True)  # a late second report changes nothing
    cut = gate.begin("never played", at=11.0)
    gate.ended(cut, 11.0, cut_off=True)
    assert reports == [("one", 10.0, 10.05, 10.5, False), ("never played", 11.0, None, 11.0, True)]


# -- for real, in the virtual room ---------------------------------------------------------


@needs_espeak
def test_the_room_microphone_going_away_and_coming_back(audio_room: AudioRoom, tmp_path: Path):
    user_resume = speak("resume", tmp_path / "resume.wav", voice="en-us+f2", rate=175)
    config = tmp_path / "config.toml"
    config.write_text("")
    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECOACH_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicecoach", "run", str(FIXTURES / "room.yaml"), "--config", str(config),
         "--engine", "sphinx", "--input-device", DEVICE, "--output-device", DEVICE, "--no-checkins",
         "--no-history", "--events", str(events)],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    suspended = False

    def find(kind: str, timeout: float, **fields: Any) -> Record | None:
        """The first record of `kind` with `fields` in the log, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if events.exists():
                for line in events.read_text(encoding="utf-8").splitlines():
                    r = json.loads(line)
                    if r["type"] == kind and all(r.get(k) == v for k, v in fields.items()):
                        return r
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        return None

    def wait_for(kind: str, timeout: float, **fields: Any) -> Record:
        found = find(kind, timeout, **fields)
        if found is None:
            tail = events.read_text(encoding="utf-8").splitlines()[-5:] if events.exists() else []
            pytest.fail(f"no {kind} {fields} within {timeout:.0f} s; log tail: {tail}")
        return found

    try:
        wait_for("spoken", 60, text="A word on safety.")
        # The microphone goes silent for good, as a pulled-out USB microphone can.
        audio_room.pactl("suspend-source", "mic", "1")
        suspended = True
        lost = wait_for("microphone_lost", 15)
        assert lost["reason"].startswith("microphone lost")
        wait_for("paused", 5)
        assert proc.stdin is not None
        proc.stdin.write(b"status\n")
        proc.stdin.flush()
        wait_for("command", 10, name="status")
        audio_room.pactl("suspend-source", "mic", "0")
        suspended = False
        back = wait_for("microphone_back", 20)
        wait_for("spoken", 20, text=MICROPHONE_BACK + " Say resume when you're ready.")
        time.sleep(0.6)
        for _attempt in range(4):  # the bundled engine misses some utterances
            audio_room.play_file(user_resume).wait(10)
            if find("resumed", 2.5):
                break
        resumed = wait_for("resumed", 1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        if suspended:
            audio_room.pactl("suspend-source", "mic", "0")
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    said = [r["text"] for r in records if r["type"] == "say"]
    assert any(text.startswith(MICROPHONE_LOST) and "Type resume" in text for text in said)
    resume = [r for r in records if r["type"] == "command" and r["name"] == "resume"]
    assert resume and "audio_start" in resume[0], "resume came through the returned microphone"
    assert records[-1]["type"] == "session_end" and records[-1]["outcome"] == "interrupted"
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert "Type commands and press Enter" in stderr
    print(f"\nmicrophone lost {lost['t'] - 0:.1f} s into the session, back at {back['t']:.1f} s, "
          f"resumed by voice at {resumed['t']:.1f} s")
