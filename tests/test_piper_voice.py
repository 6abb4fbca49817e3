"""The natural voice: Piper renders the bundled voice, a long text is rendered piece by piece
while its start plays, a missing or damaged voice falls back to pyttsx3 with one reason, and
text is spelled out the same way for every engine."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from voicecoach.voice.piper_voice import PiperRenderer
from voicecoach.voice.playback import Player
from voicecoach.voice.speakers import open_renderer
from voicecoach.voice.speech_text import speakable, split_pieces
from voicecoach.voice.tts import CLAUSE_GAP, SENTENCE_GAP, Audio, Renderer, Tts, VoiceSettings
from voicecoach.voice.voices import BUNDLED_VOICE, find_voice

# --- text as it is said -------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "said"), [
    ("Do 10-15 reps.", "Do ten to fifteen reps."),
    ("Do 10 to 15 reps.", "Do ten to fifteen reps."),
    ("Hold 20–30 s.", "Hold twenty to thirty seconds."),
    ("Rest 1 min, then 2 mins.", "Rest one minute, then two minutes."),
    ("Repeat 3x.", "Repeat three times."),
    ("Weak hips strain the IT band.", "Weak hips strain the I T band."),
    ("Lift 2.5 kg", "Lift two point five kilograms"),
    ("Bend to 90°", "Bend to ninety degrees"),
    ("The 3rd and 21st sets", "The third and twenty first sets"),
    ("Set 2 of 3: 12 reps", "Set two of three: twelve reps"),
    ("105 steps", "one hundred and five steps"),
])
def test_numbers_ranges_units_and_abbreviations_are_spelled_out(written: str, said: str):
    assert speakable(written) == said


@pytest.mark.parametrize(("written", "said"), [
    ("it is fine, sit on it", "it is fine, sit on it"),
    ("Do 2 in a row", "Do two in a row"),
    ("10 sets", "ten sets"),
    ("Step 3 m back", "Step three m back"),
])
def test_words_that_only_look_like_units_or_abbreviations_are_left_alone(written: str, said: str):
    assert speakable(written) == said


def test_long_text_splits_at_sentences_and_long_clauses_only():
    text = ("Stand tall beside a chair, holding the back of it lightly with one hand. "
            "Lift, slowly. Keep your hips level and your back straight, and breathe out as you lift.")
    pieces = split_pieces(text)
    assert [p for p, _ in pieces] == [
        "Stand tall beside a chair,", "holding the back of it lightly with one hand.", "Lift, slowly.",
        "Keep your hips level and your back straight,", "and breathe out as you lift."]
    assert [end for _, end in pieces] == [False, True, True, False, True]
    assert " ".join(p for p, _ in pieces) == text


# --- rendering piece by piece ---------------------------------------------------------------------


class FakePieceRenderer(Renderer):
    """Half a second of tone per word; counts what it was asked to render."""

    name = "fake"
    piece_wise = True

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay

    def render(self, text: str) -> Audio:
        self.calls.append(text)
        time.sleep(self.delay)
        n = 4000 * len(text.split())
        return Audio((np.sin(np.arange(n) / 5.0) * 8000).astype(np.int16), 8000)


def test_a_long_text_comes_a_piece_at_a_time_with_pauses_and_is_cached_whole():
    renderer = FakePieceRenderer()
    tts = Tts(renderer)
    text = "Stand tall beside a chair, then lift one knee slowly. Breathe out."
    pieces = list(tts.stream(text))
    assert renderer.calls == ["Stand tall beside a chair,", "then lift one knee slowly.", "Breathe out."]
    assert [last for _, last in pieces] == [False, False, True]
    sizes = [len(a.samples) for a, _ in pieces]
    # Each word is 4000 samples less the trimmed edges; the pause follows each piece but the last.
    assert sizes[0] - sizes[2] * 5 / 2 == pytest.approx(CLAUSE_GAP * 8000, abs=400)
    assert sizes[1] - sizes[2] * 5 / 2 == pytest.approx(SENTENCE_GAP * 8000, abs=400)
    assert tts.is_cached(text)
    again = list(tts.stream(text))
    assert len(again) == 1 and len(again[0][0].samples) == sum(sizes)
    assert len(renderer.calls) == 3


def test_a_phrase_said_while_it_is_rendered_ahead_is_rendered_once():
    renderer = FakePieceRenderer(delay=0.05)
    tts = Tts(renderer)
    text = "One two three four. Five six seven eight. Nine ten eleven twelve."
    ahead = threading.Thread(target=lambda: list(tts.stream(text, background=True)))
    ahead.start()
    time.sleep(0.02)
    said = tts.render(text)
    ahead.join(5)
    assert sorted(renderer.calls) == sorted(p for p, _ in split_pieces(text))
    assert len(said.samples) == len(tts.render(text).samples)


def test_engines_that_render_whole_phrases_are_not_split():
    renderer = FakePieceRenderer()
    renderer.piece_wise = False
    tts = Tts(renderer)
    tts.render("Do 10-15 reps. Then rest.")
    assert renderer.calls == ["Do ten to fifteen reps. Then rest."]


# --- a clip that grows while it plays -------------------------------------------------------------


@pytest.fixture
def player(monkeypatch: pytest.MonkeyPatch) -> Player:
    def fake_open(self: Player) -> None:  # no sound card: the test drives the callback itself
        self.rate, self.channels, self.latency, self.lost = 8000, 1, 0.0, None
        self._last_callback = time.monotonic()

    monkeypatch.setattr(Player, "_open", fake_open)
    return Player(rate=8000)


def pump(player: Player, frames: int = 160) -> np.ndarray:
    out = np.zeros((frames, 1), dtype=np.int16)
    info = SimpleNamespace(outputBufferDacTime=0.0, currentTime=0.0)
    player._callback(out, frames, info, SimpleNamespace(output_underflow=False))
    return out[:, 0]


def test_a_growing_clip_waits_in_silence_for_its_next_piece_and_ends_once(player: Player):
    events: list[str] = []
    clip = player.play(np.full(200, 100, np.int16), on_start=lambda t: events.append("start"),
                       on_end=lambda t, cut: events.append(f"end cut={cut}"), more=True)
    assert list(np.unique(pump(player))) == [100]
    assert list(np.unique(pump(player))) == [0, 100]
    assert list(np.unique(pump(player))) == [0]  # rendering is behind: silence, and still speaking
    assert player.is_playing() and events == ["start"]
    assert player.extend(clip, np.full(100, 7, np.int16), last=True)
    assert list(np.unique(pump(player))) == [0, 7]
    assert events == ["start", "end cut=False"]
    assert not player.extend(clip, np.full(10, 7, np.int16), last=True)


def test_a_growing_clip_cut_off_takes_no_more_pieces(player: Player):
    ended: list[bool] = []
    clip = player.play(np.full(500, 100, np.int16), on_end=lambda t, cut: ended.append(cut), more=True)
    pump(player)
    player.stop()
    assert ended == [True]
    assert not player.extend(clip, np.full(100, 7, np.int16), last=True)
    assert list(np.unique(pump(player))) == [0]


# --- the real voice ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def piper() -> PiperRenderer:
    return PiperRenderer(VoiceSettings())


@pytest.mark.speed
def test_the_bundled_voice_renders_natural_speech_quickly(piper: PiperRenderer):
    assert piper.voice.name == BUNDLED_VOICE and piper.voice.source == "bundled"
    t0 = time.monotonic()
    audio = piper.render("Ten to fifteen reps, slowly.")
    seconds = time.monotonic() - t0
    assert audio.rate == 22050
    assert 1.0 < audio.duration < 4.0
    assert np.abs(audio.samples).max() > 10000, "rendered near-silence"
    assert seconds < audio.duration, "renders slower than it speaks"


def test_the_rate_setting_speeds_piper_up_and_slows_it_down(piper: PiperRenderer):
    text = "Lift your leg slowly and lower it again."
    fast = PiperRenderer(VoiceSettings(rate=300), voice=piper.voice)
    slow = PiperRenderer(VoiceSettings(rate=110), voice=piper.voice)
    ratio = slow.render(text).duration / fast.render(text).duration
    assert 1.8 < ratio < 3.5  # 300/110 = 2.7, less the pauses that do not stretch


def test_volume_scales_piper_audio(piper: PiperRenderer):
    loud = Tts(piper).render("Breathe out.")
    quiet = Tts(piper, volume=0.25).render("Breathe out.")
    # Piper's noise makes each rendering a little different: compare levels, not samples.
    assert np.abs(quiet.samples).max() < 0.4 * np.abs(loud.samples).max()


# --- a voice that cannot be used ---------------------------------------------------------------------


def install_voice(folder: Path, name: str, model: bytes, config: str) -> None:
    voices = folder / "voices"
    voices.mkdir(parents=True, exist_ok=True)
    (voices / f"{name}.onnx").write_bytes(model)
    (voices / f"{name}.onnx.json").write_text(config)


def fallback(tmp_path: Path, voice: str) -> tuple[str, list[str], str | None]:
    renderer, notes = open_renderer("auto", VoiceSettings(voice=voice), tmp_path)
    try:
        return renderer.name, notes, getattr(renderer, "settings", VoiceSettings()).voice
    finally:
        renderer.close()


def test_a_corrupt_voice_file_falls_back_to_pyttsx3_with_one_reason(tmp_path: Path):
    good_config = find_voice(None).config.read_text()
    install_voice(tmp_path, "en_US-broken-medium", b"\x08\x07 not a network " * 100, good_config)
    name, notes, voice = fallback(tmp_path, "en_US-broken-medium")
    assert name == "pyttsx3" and voice == "en-us"
    assert len(notes) == 1
    assert "en_US-broken-medium.onnx cannot be used" in notes[0] and "pyttsx3" in notes[0]


def test_a_damaged_settings_file_or_a_missing_voice_says_which(tmp_path: Path):
    install_voice(tmp_path, "en_US-halfway-medium", b"", "{ not json")
    name, notes, _ = fallback(tmp_path, "en_US-halfway-medium")
    assert name == "pyttsx3" and "settings file" in notes[0] and "damaged" in notes[0]
    name, notes, _ = fallback(tmp_path, "en_GB-nobody-low")
    assert name == "pyttsx3" and "'en_GB-nobody-low' is not installed" in notes[0]


def test_a_downloaded_voice_is_found_by_name_before_the_bundled_one(tmp_path: Path):
    bundled = find_voice(None)
    install_voice(tmp_path, "en_US-copy-medium", bundled.model.read_bytes(), bundled.config.read_text())
    chosen = find_voice("en_US-copy-medium", tmp_path)
    assert chosen.source == "downloaded" and chosen.model.parent == tmp_path / "voices"
    assert find_voice("en-us", tmp_path).name == BUNDLED_VOICE  # an espeak-ng name: the default voice
    assert json.loads(chosen.config.read_text())["audio"]["sample_rate"] == 22050


def test_a_runtime_that_crashes_on_import_falls_back_instead_of_killing_the_coach(tmp_path, monkeypatch):
    # Under arm64 emulation `import onnxruntime` dies with SIGSEGV: the check runs it in a child first.
    import platform
    import subprocess
    import sys

    from voicecoach.voice import piper_voice
    from voicecoach.voice.tts import TtsError

    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    crashed = subprocess.CompletedProcess([], -11, b"", b"")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: crashed)
    with pytest.raises(TtsError, match=r"crashes on this machine when it loads \(signal 11\)"):
        piper_voice._check_runtime_loads(tmp_path)
    fine = subprocess.CompletedProcess([], 0, b"", b"")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: fine)
    piper_voice._check_runtime_loads(tmp_path)  # loads: remembered, not checked again
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: crashed)
    piper_voice._check_runtime_loads(tmp_path)
