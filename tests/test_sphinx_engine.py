"""The bundled PocketSphinx engine on espeak-ng speech made in the test: real model, real audio."""

from __future__ import annotations

import pytest
from speech_audio import needs_espeak, speech_clip

from voicecoach.recognize import ClipRunner
from voicecoach.voice.recognizer import Recognizer
from voicecoach.voice.sphinx_engine import SphinxRecognizer, jsgf_grammar

pytestmark = needs_espeak


@pytest.fixture
def runner() -> ClipRunner:
    # A fresh decoder per clip (it loads in ~0.1 s): the decoder's cepstral mean
    # adapts across utterances, so a shared one would make outcomes order-dependent.
    return ClipRunner(SphinxRecognizer())


@pytest.mark.parametrize(
    ("text", "command"),
    [("next", "next"), ("pause", "pause"), ("say that again", "repeat"), ("stop", "stop"),
     ("yes", "yes"), ("where am i", "status"), ("keep going", "more")],
)
def test_commands_are_recognized_with_sane_times(runner, tmp_path, text, command):
    samples, speech_start, speech_end = speech_clip(text, tmp_path)
    heard = runner.run(samples)
    assert [h.command.name for h in heard] == [command]
    h = heard[0]
    assert h.start < h.end <= h.emitted
    # Word boundaries land within a few frames of where the speech really is.
    assert abs(h.start - speech_start) < 0.15
    assert abs(h.end - speech_end) < 0.2
    # The endpointer decides within about half a second of the end of speech.
    assert h.emitted - speech_end < 0.75


@pytest.mark.parametrize(
    "text",
    ["ten", "one", "two", "next exercise", "hold for thirty seconds", "good morning",
     "the weather is nice", "five more"],
)
def test_coach_lines_and_other_speech_are_rejected(runner, tmp_path, text):
    samples, _, _ = speech_clip(text, tmp_path)
    assert runner.run(samples) == []


def test_clock_counts_skipped_audio(tmp_path):
    rec = SphinxRecognizer()
    assert isinstance(rec, Recognizer)
    samples, start, end = speech_clip("pause", tmp_path)
    rec.skip(2.0)
    heard = []
    for i in range(0, len(samples), 1600):
        heard += rec.accept(samples[i:i + 1600].tobytes())
    heard += rec.accept(bytes(16000))  # half a second of silence
    heard += rec.flush()
    assert [h.command.name for h in heard] == ["pause"]
    assert abs(heard[0].start - (2.0 + start)) < 0.15
    assert 2.0 + end - 0.2 < heard[0].end <= heard[0].emitted


def test_reset_drops_a_partial_utterance(tmp_path):
    rec = SphinxRecognizer()
    samples, _, _ = speech_clip("pause", tmp_path)
    half = len(samples) - 2000  # stop just before the end of the word
    assert rec.accept(samples[:half].tobytes()) == []
    rec.reset()
    assert rec.accept(bytes(32000)) == []
    assert rec.flush() == []


def test_grammar_has_commands_and_a_garbage_loop():
    g = jsgf_grammar(["next", "hold on"], ["ten", "one"], 100)
    assert "<cmd> = hold on | next ;" in g
    assert "<garbage> = one | ten ;" in g
    assert "/100/ <cmd> | /1/ <garbage>+" in g
