"""The default Whisper engine on real speech made in the test run: commands, rejection, numbers, noise, times."""

from __future__ import annotations

import numpy as np
import pytest
from speech_audio import needs_espeak, speech_clip

from voicecoach.app.recognize import ClipRunner
from voicecoach.voice.command_whisper import (
    CommandWhisperRecognizer,
    CommandWhisperUnavailable,
    bundled_model_path,
    collapse_repeats,
    transcript_words,
)
from voicecoach.voice.level_endpointer import LevelEndpointer
from voicecoach.voice.whisper_tokens import WhisperTokenizer


@pytest.fixture(scope="module")
def recognizer() -> CommandWhisperRecognizer:
    return CommandWhisperRecognizer()


@pytest.fixture(scope="module")
def runner(recognizer: CommandWhisperRecognizer) -> ClipRunner:
    # One runner for the one recognizer: it keeps the file times on the recognizer's clock.
    return ClipRunner(recognizer)


@needs_espeak
@pytest.mark.parametrize(("text", "command"), [("repeat", "repeat"), ("pause", "pause"), ("stop", "stop"),
                                               ("go back", "back")])
def test_commands_are_recognized_with_sane_times(runner, tmp_path, text, command):
    samples, speech_start, speech_end = speech_clip(text, tmp_path)
    heard = runner.run(samples)
    assert [h.command.name for h in heard] == [command]
    h = heard[0]
    assert speech_start - 0.3 < h.start < h.end <= h.emitted
    assert abs(h.end - speech_end) < 0.4
    # The endpointer ends the utterance 0.12 s after the words; chunks are 0.1 s.
    assert h.emitted - speech_end < 0.45


@needs_espeak
@pytest.mark.parametrize("text", ["hold for thirty seconds", "the weather is nice", "next exercise",
                                  "keep your knee straight", "three"])
def test_other_speech_and_numbers_are_rejected(runner, tmp_path, text):
    samples, _, _ = speech_clip(text, tmp_path)
    assert runner.run(samples) == []


@needs_espeak
def test_numbers_are_heard_while_asked_for(recognizer, runner, tmp_path):
    recognizer.listen_for_numbers(True)
    try:
        heard = runner.run(speech_clip("three", tmp_path)[0]) + runner.run(speech_clip("ten", tmp_path)[0])
    finally:
        recognizer.listen_for_numbers(False)
    assert [(h.command.name, h.command.value) for h in heard] == [("number", 3), ("number", 10)]


@needs_espeak
def test_a_command_over_steady_noise_is_decided_soon_after_the_words(runner, tmp_path):
    # A fan or an exercise bike never stops: the utterance must still end when the words do.
    samples, _, speech_end = speech_clip("stop", tmp_path, lead_s=2.0)
    rng = np.random.default_rng(3)
    speech = samples.astype(np.float64)
    level = np.sqrt(np.mean(speech[speech != 0] ** 2))
    noisy = speech + rng.normal(0, level / 10 ** (9 / 20), len(speech) + 32000)[: len(speech)]
    tail = rng.normal(0, level / 10 ** (9 / 20), 32000)  # the noise goes on after the words
    heard = runner.run(np.clip(np.concatenate([noisy, tail]), -32768, 32767).astype(np.int16), tail_s=0.0)
    assert [h.command.name for h in heard] == ["stop"]
    assert heard[0].emitted - speech_end < 0.5


@needs_espeak
def test_a_quiet_far_voice_is_lifted_before_deciding(runner, tmp_path):
    samples, _, _ = speech_clip("pause", tmp_path)
    quiet = (samples.astype(np.float64) * 10 ** (-24 / 20)).astype(np.int16)  # 24 dB down
    assert [h.command.name for h in runner.run(quiet)] == ["pause"]


@needs_espeak
def test_the_same_clip_gets_the_same_answer_after_other_clips(runner, tmp_path):
    stop, _, _ = speech_clip("stop", tmp_path)
    alone = runner.run(stop)
    for text in ("the weather is nice", "pause", "keep your knee straight"):
        runner.run(speech_clip(text, tmp_path)[0], tail_s=0.05)  # cut short: nothing carries over
    assert [(h.command, h.start, h.end) for h in runner.run(stop)] == [(h.command, h.start, h.end) for h in alone]


def test_transcripts_are_folded_into_table_words():
    assert transcript_words(" Stop.") == ["stop"]
    assert transcript_words("That's it!") == ["that's", "it"]
    assert transcript_words("10") == ["ten"]
    assert collapse_repeats(["stop", "stop", "stop"], ["stop", "go back"]) == ["stop"]
    assert collapse_repeats(["go", "back", "go", "back"], ["go back"]) == ["go", "back"]
    assert collapse_repeats(["stop", "it"], ["stop"]) == ["stop", "it"]


def test_the_tokenizer_reads_the_models_own_vocabulary():
    tokenizer = WhisperTokenizer(bundled_model_path() / "tokenizer.json")
    assert tokenizer.token_to_id("<|endoftext|>") == 50256
    assert tokenizer.token_to_id("<|startoftranscript|>") == 50257
    for word in (" Stop", " stop", " Repeat", " again", " café"):
        assert tokenizer.decode(tokenizer.encode_word(word)) == word


def test_the_endpointer_ends_an_utterance_over_a_steady_noise():
    rng = np.random.default_rng(0)
    ep = LevelEndpointer()
    n = ep.frame_bytes // 2

    def frames(level: float, seconds: float, tone: bool = False) -> list[bytes]:
        out = []
        for i in range(int(seconds / ep.frame_length)):
            x = rng.normal(0, 300, n)
            if tone:
                t = (np.arange(n) + i * n) / 16000
                x += level * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
            out.append(np.clip(x, -32768, 32767).astype("<i2").tobytes())
        return out

    states = [ep.process(f) is not None or ep.in_speech for f in frames(0, 1.0)]
    assert not any(states[10:])  # the noise alone is the floor, not speech
    voiced = [ep.process(f) is not None or ep.in_speech for f in frames(6000, 0.6, tone=True)]
    assert any(voiced)
    after = [ep.in_speech for f in frames(0, 0.6) if ep.process(f) is None or True]
    assert not after[-1]


def test_a_folder_without_a_model_is_refused_with_the_reason(tmp_path):
    with pytest.raises(CommandWhisperUnavailable, match="model.bin"):
        CommandWhisperRecognizer(tmp_path)


@needs_espeak
def test_yes_and_no_are_heard_only_while_a_question_is_open(recognizer, runner, tmp_path):
    yes, _, _ = speech_clip("yes", tmp_path)
    assert runner.run(yes) == []
    recognizer.listen_for_answers(True)
    try:
        assert [h.command.name for h in runner.run(yes)] == ["yes"]
    finally:
        recognizer.listen_for_answers(False)


@needs_espeak
def test_a_name_whisper_spells_otherwise_is_found_by_scoring_the_phrases_near_it(tmp_path):
    # Whisper writes "start step and bend"; the table's "start step and band" fits the audio.
    table = {"start step and band": "resume", "start hips": "resume", "start the": "resume"}
    recognizer = CommandWhisperRecognizer(phrases=table)
    runner = ClipRunner(recognizer)
    heard = runner.run(speech_clip("start step and band", tmp_path)[0])
    assert [h.text for h in heard] == ["start step and band"]
    # A phrase that is only the beginning of what was said is not taken for it.
    assert runner.run(speech_clip("start the music", tmp_path)[0]) == []


@needs_espeak
def test_words_heard_partly_over_the_coach_are_judged_as_over_it(recognizer, tmp_path):
    # The coach's "Go." whose end falls in the moment the gate opens between two lines.
    samples, start, end = speech_clip("go", tmp_path)
    middle = int((start + end) / 2 * 16000)

    def heard(switch_at: int | None) -> list[str]:
        recognizer.reset()
        recognizer.listen_while_speaking(switch_at is not None)
        names = []
        audio = np.concatenate([samples, np.zeros(16000, np.int16)])
        for i in range(0, len(audio), 800):
            if switch_at is not None and i >= switch_at:
                recognizer.listen_while_speaking(False)
            names += [h.command.name for h in recognizer.accept(audio[i:i + 800].tobytes())]
        recognizer.listen_while_speaking(False)
        return names

    assert heard(None) == ["resume"]  # said in a pause, "go" resumes
    assert heard(middle) == []  # begun over the coach: only the barge-in words count
    assert heard(0) == ["resume"]  # the coach stopped before it began


@needs_espeak
def test_what_was_heard_over_the_coach_is_not_the_context_of_words_after_it(recognizer, tmp_path):
    go, _start, _end = speech_clip("go", tmp_path)
    stop, _start, _end = speech_clip("stop", tmp_path, lead_s=0.02)
    judged: list[np.ndarray] = []
    classify = recognizer.classify
    recognizer.classify = lambda samples, **kwargs: judged.append(samples) or classify(samples, **kwargs)
    try:
        recognizer.reset()
        recognizer.listen_while_speaking(True)
        # The coach's line ends; 0.2 s later (the endpointer has let go of "go") the user speaks.
        audio = np.concatenate([go, np.zeros(3200, np.int16)])
        for i in range(0, len(audio), 800):
            recognizer.accept(audio[i:i + 800].tobytes())
        recognizer.listen_while_speaking(False)
        judged.clear()
        audio = np.concatenate([stop, np.zeros(16000, np.int16)])
        heard = [h.command.name for i in range(0, len(audio), 800)
                 for h in recognizer.accept(audio[i:i + 800].tobytes())]
    finally:
        recognizer.classify = classify
    assert heard == ["stop"]
    # The audio kept from before "stop" began (0.3 s of it) is silence, not the end of the coach's "go".
    before = judged[-1][:int(0.1 * 16000)]
    assert np.max(np.abs(before)) < 0.01


@needs_espeak
def test_a_command_inside_a_longer_sentence_is_not_taken(runner, tmp_path):
    for text in ("next one please", "stop it now", "pause the music"):
        assert runner.run(speech_clip(text, tmp_path)[0]) == [], text
def test_while_the_coach_speaks_only_the_short_list_is_heard(recognizer, runner, tmp_path):
    assert recognizer.listen_while_speaking(True) is True
    try:
        said = {text: [h.command.name for h in runner.run(speech_clip(text, tmp_path)[0])]
                for text in ("stop", "pause", "go back", "say that again", "help")}
    finally:
        recognizer.listen_while_speaking(False)
    assert said == {"stop": ["stop"], "pause": ["pause"], "go back": [], "say that again": [], "help": []}
    assert [h.command.name for h in runner.run(speech_clip("go back", tmp_path)[0])] == ["back"]
