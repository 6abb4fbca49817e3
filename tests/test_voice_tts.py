"""Rendering speech with the real engines (espeak-ng and pyttsx3), and the phrase cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from voicecoach.voice.tts import (
    Audio,
    EspeakNgRenderer,
    Pyttsx3Renderer,
    Tts,
    TtsError,
    VoiceSettings,
    count_phrases,
    number_word,
    parse_wav,
    trim_silence,
)
from voicecoach.voice.wavfile import wav_bytes

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def espeak() -> EspeakNgRenderer:
    return EspeakNgRenderer(VoiceSettings())


@pytest.fixture(scope="module")
def pyttsx3_renderer():
    renderer = Pyttsx3Renderer(VoiceSettings())
    yield renderer
    renderer.close()


def loud_fraction(audio: Audio) -> float:
    return float(np.mean(np.abs(audio.samples.astype(np.int32)) > 500))


@needs_espeak
def test_espeak_ng_renders_non_empty_speech(espeak: EspeakNgRenderer):
    audio = espeak.render("one")
    assert audio.rate == 22050
    assert audio.samples.dtype == np.int16
    assert 0.2 < audio.duration < 2.0
    assert loud_fraction(audio) > 0.05


@needs_espeak
def test_longer_text_takes_longer_to_say(espeak: EspeakNgRenderer):
    short = espeak.render("next")
    long = espeak.render("Stand up tall, then sit back down slowly and with control.")
    assert long.duration > 3 * short.duration


@needs_espeak
def test_a_faster_rate_gives_shorter_speech():
    text = "Bend your knee and hold for five seconds."
    slow = EspeakNgRenderer(VoiceSettings(rate=120)).render(text)
    fast = EspeakNgRenderer(VoiceSettings(rate=240)).render(text)
    assert fast.duration < 0.7 * slow.duration


@needs_espeak
def test_unknown_voice_is_a_clear_error():
    with pytest.raises(TtsError, match="voice"):
        EspeakNgRenderer(VoiceSettings(voice="nonexistent")).render("hello")


@needs_espeak
def test_text_that_looks_like_an_option_is_spoken_not_parsed(espeak: EspeakNgRenderer):
    assert espeak.render("-v hello").duration > 0.3


def test_pyttsx3_renders_the_same_words_as_espeak(pyttsx3_renderer: Pyttsx3Renderer,
                                                  espeak: EspeakNgRenderer):
    a = trim_silence(pyttsx3_renderer.render("twenty seven"))
    b = trim_silence(espeak.render("twenty seven"))
    assert a.rate == b.rate == 22050
    # Same synthesizer underneath: lengths agree to a few milliseconds.
    assert abs(a.duration - b.duration) < 0.05
    assert loud_fraction(a) > 0.05


def test_pyttsx3_renders_many_phrases_in_a_row_without_losing_any(
        pyttsx3_renderer: Pyttsx3Renderer):
    durations = [pyttsx3_renderer.render(w).duration for w in count_phrases(12)]
    assert all(d > 0.2 for d in durations)


@needs_espeak
def test_cache_renders_each_phrase_once(espeak: EspeakNgRenderer):
    calls: list[str] = []

    class Counting(EspeakNgRenderer):
        def render(self, text: str) -> Audio:
            calls.append(text)
            return espeak.render(text)

    tts = Tts(Counting())
    tts.prepare(["one", "two", "five seconds"])
    first = tts.render("one")
    again = tts.render("  one ")  # same phrase, other spacing
    assert calls == ["one", "two", "five seconds"]
    assert first is again
    assert tts.hits == 2 and tts.misses == 3
    assert tts.is_cached("five seconds") and not tts.is_cached("three")


@needs_espeak
def test_cached_audio_is_trimmed_scaled_and_at_the_device_rate(espeak: EspeakNgRenderer):
    raw = espeak.render("one")
    loud = Tts(espeak, out_rate=48000).render("one")
    quiet = Tts(espeak, volume=0.5, out_rate=48000).render("one")
    assert loud.rate == 48000
    # espeak's ~0.35 s of trailing silence is gone, so the gate reopens sooner.
    assert loud.duration < raw.duration - 0.2
    ratio = np.abs(quiet.samples).max() / np.abs(loud.samples).max()
    assert 0.45 < ratio < 0.55


def test_parse_wav_reads_stereo_and_streamed_headers():
    stereo = np.stack([np.full(100, 1000), np.full(100, 3000)], axis=1).astype(np.int16)
    data = bytearray(wav_bytes(stereo, 16000))
    data[4:8] = (0xFFFFFFFF).to_bytes(4, "little")  # as a streamed header leaves them
    data[40:44] = (0x7FFFFFFF).to_bytes(4, "little")
    audio = parse_wav(bytes(data))
    assert audio.rate == 16000 and len(audio.samples) == 100
    assert np.all(audio.samples == 2000)


def test_parse_wav_rejects_garbage():
    with pytest.raises(TtsError):
        parse_wav(b"not a wav file at all")


def test_count_words():
    assert count_phrases(3) == ["one", "two", "three"]
    assert number_word(21) == "twenty one"
    assert number_word(30) == "thirty"
    assert len(count_phrases()) == 30
