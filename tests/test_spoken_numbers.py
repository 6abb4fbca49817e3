"""Pain scores said out loud: numbers are heard while the coach asks for one, and only then."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sessiondriver import Driver
from speech_audio import needs_espeak, speak
from test_mic_loss import FakeMicrophone, Record, ScriptedClock, SpeakerSpy, first

from voicecoach.app.recognize import ClipRunner, read_wav
from voicecoach.app.runner import Runner
from voicecoach.core.plan import Plan, PlanSettings
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Session, SessionOptions
from voicecoach.voice.listener import AudioListener
from voicecoach.voice.sphinx_engine import SphinxRecognizer

FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("numbers")
    return {w: read_wav(speak(w, folder / f"{w}.wav", voice="en-us+f2", rate=175))
            for w in ("three", "four", "zero", "next")}


def test_the_bundled_engine_hears_numbers_only_when_told(clips: dict[str, np.ndarray]):
    recognizer = SphinxRecognizer()
    runner = ClipRunner(recognizer)

    def heard(word: str) -> list[tuple[str, int | None]]:
        return [(h.command.name, h.command.value) for h in runner.run(clips[word])]

    assert heard("three") == []
    recognizer.listen_for_numbers(True)
    assert heard("three") == [("number", 3)]
    assert heard("zero") == [("number", 0)]
    assert heard("next") == [("next", None)]  # commands still work meanwhile
    recognizer.listen_for_numbers(False)
    assert heard("four") == []


class ListenerSpy(AudioListener):
    """An AudioListener that remembers what the runner told it about numbers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.told: list[bool] = []

    def expect_numbers(self, on: bool) -> None:
        self.told.append(on)
        super().expect_numbers(on)


def test_a_spoken_pain_score_is_recorded_before_and_after(clips: dict[str, np.ndarray]):
    options, settings = SessionOptions(checkins=True), PlanSettings(ready_seconds=15)
    # When the coach will ask again, at the end (the same fake timeline, typed).
    driver = Driver("mini.yaml", options, settings)
    driver.advance(2.0)
    driver.say("number", 3)
    driver.until(lambda s: s.question is not None and s.question.kind == "checkin_after")
    asked_after = driver.t

    microphone = FakeMicrophone()
    listener = ListenerSpy(microphone, SphinxRecognizer())
    session = Session(Plan(load_routine(FIXTURES / "mini.yaml"), settings), options)
    records: list[Record] = []
    clock = ScriptedClock([(2.0, lambda: microphone.hear(clips["three"])),
                           (asked_after + 2.0, lambda: microphone.hear(clips["four"]))])
    runner = Runner(session, SpeakerSpy(), listener, clock=clock, sinks=[records.append])
    assert runner.run() == "finished"

    assert [r["score"] for r in records if r["type"] == "pain_score"] == [3, 4]
    assert first(records, "command", name="number")["audio_start"] is not None
    # Told to hear numbers for each question, and to stop after each answer.
    assert listener.told == [True, False, True, False]
