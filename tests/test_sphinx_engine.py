"""The bundled PocketSphinx engine on espeak-ng speech made in the test: real model, real audio."""

from __future__ import annotations

import numpy as np
import pytest
from speech_audio import needs_espeak, speech_clip

from voicecoach.app.recognize import ClipRunner
from voicecoach.voice.recognizer import Recognizer
from voicecoach.voice.sphinx_engine import (
    SphinxRecognizer,
    frame_energies,
    jsgf_grammar,
    near_miss_words,
    pronunciations,
    speech_outside,
)


@pytest.fixture
def runner() -> ClipRunner:
    # A fresh decoder per clip (it loads in well under a second): the decoder's
    # cepstral mean adapts across utterances, so a shared one would make outcomes
    # order-dependent.
    return ClipRunner(SphinxRecognizer())


@pytest.fixture
def warm_runner(tmp_path) -> ClipRunner:
    """A fresh decoder that has already heard some speech, as in a session under way."""
    runner = ClipRunner(SphinxRecognizer())
    for text in ("the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore"):
        samples, _, _ = speech_clip(text, tmp_path)
        assert runner.run(samples) == []
    assert runner.recognizer.warm
    return runner


@needs_espeak
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


@needs_espeak
@pytest.mark.parametrize(
    "text",
    ["ten", "one", "two", "next exercise", "hold for thirty seconds", "good morning",
     "the weather is nice", "five more",
     # a command's first word followed by more speech: "keep going" + "silence"
     "keep your knee straight"],
)
def test_coach_lines_and_other_speech_are_rejected(runner, tmp_path, text):
    samples, _, _ = speech_clip(text, tmp_path)
    assert runner.run(samples) == []


@needs_espeak
@pytest.mark.parametrize("text", ["text", "ton", "shop", "keep your knee straight", "good morning"])
def test_near_misses_are_rejected_once_warm(warm_runner, tmp_path, text):
    # One phone from "next", "done", "stop": they lose to their own dictionary neighbours.
    samples, _, _ = speech_clip(text, tmp_path)
    assert warm_runner.run(samples) == []


@needs_espeak
@pytest.mark.parametrize(("text", "command"), [("next", "next"), ("stop", "stop"), ("say that again", "repeat")])
def test_commands_are_recognized_once_warm(warm_runner, tmp_path, text, command):
    samples, _, _ = speech_clip(text, tmp_path)
    assert [h.command.name for h in warm_runner.run(samples)] == [command]


@needs_espeak
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


@needs_espeak
def test_reset_drops_a_partial_utterance(tmp_path):
    rec = SphinxRecognizer()
    samples, _, _ = speech_clip("pause", tmp_path)
    half = len(samples) - 2000  # stop just before the end of the word
    assert rec.accept(samples[:half].tobytes()) == []
    rec.reset()
    assert rec.accept(bytes(32000)) == []
    assert rec.flush() == []


def test_grammar_has_commands_near_misses_and_a_garbage_loop():
    g = jsgf_grammar(["next", "hold on"], ["ten", "one"], 1e16, ["nest", "text"])
    assert "<cmd> = hold on | next ;" in g
    assert "<near> = nest | text ;" in g
    assert "<garbage> = one | ten ;" in g
    # Fixed-point weight: PocketSphinx's JSGF parser cannot read "1e+16".
    assert "public <s> = /10000000000000000.000000/ <cmd> | /1/ <near> | /1.000000/ <garbage>+ ;" in g
    assert "public <s> = next ;" in jsgf_grammar(["next"], [], 100)


# A tiny pronunciation dictionary (CMUdict's entries) stands in for the decoder's.
DICT = {
    "next": "N EH K S T", "next(2)": "N EH K S", "nest": "N EH S T", "text": "T EH K S T",
    "pause": "P AO Z", "paws": "P AO Z", "cause": "K AO Z", "no": "N OW", "know": "N OW",
    "go": "G OW", "banana": "B AH N AE N AH", "the": "DH AH",
}


def test_near_misses_are_one_phone_away_and_never_homophones():
    near = near_miss_words(DICT.get, {"next", "pause", "no"},
                           candidates=["the", "know", "nest", "paws", "banana", "cause", "go", "next", "text"],
                           near_rank=100, common_rank=0)
    # nest/text: one phone from next; cause: from pause; go: from no.  Not the command
    # words, not homophones (paws = pause, know = no), not unrelated words.
    assert near == ["nest", "cause", "go", "text"]
    assert pronunciations(DICT.get, "next") == [("N", "EH", "K", "S", "T"), ("N", "EH", "K", "S")]


def test_near_miss_ranks_limit_the_candidates():
    words = ["the", "nest", "banana", "text"]
    assert near_miss_words(DICT.get, {"next"}, candidates=words, near_rank=2, common_rank=0) == ["nest"]
    # The most common words compete whatever they sound like.
    assert near_miss_words(DICT.get, {"next"}, candidates=words, near_rank=0, common_rank=3) == [
        "the", "nest", "banana"]


def test_the_engine_builds_near_misses_from_its_own_table():
    rec = SphinxRecognizer(phrases=["next", "pause"])
    assert {"text", "cause"} <= set(rec.near_words)
    assert not {"next", "pause", "paws"} & set(rec.near_words)


def test_speech_decoded_as_silence_is_counted():
    rng = np.random.default_rng(0)
    quiet = rng.normal(0, 20, 8000)
    loud = rng.normal(0, 3000, 16000)
    segments = [("(NULL)", -1, -1), ("<sil>", 0, 49), ("next", 50, 149), ("<sil>", 150, 247)]
    # Half a second of quiet, 1 s of "word", 1 s of quiet: nothing loud outside the word
    # but the frame at each edge, whose 25.6 ms window reaches into the word.
    pcm = np.concatenate([quiet, loud, quiet, quiet]).astype("<i2").tobytes()
    assert len(frame_energies(pcm)) == 248
    assert speech_outside(pcm, segments, within_db=10.0, above_floor_db=6.0) <= 2
    # The same, but the last second is as loud as the word: about 100 frames of speech
    # decoded as silence.
    pcm = np.concatenate([quiet, loud, loud]).astype("<i2").tobytes()
    assert 90 < speech_outside(pcm, segments, within_db=10.0, above_floor_db=6.0) <= 100
    # Steady loud noise everywhere is the floor, not speech outside the word.
    pcm = rng.normal(0, 3000, 40000).astype("<i2").tobytes()
    assert speech_outside(pcm, segments, within_db=10.0, above_floor_db=6.0) == 0
