"""Piper voices on disk: `voicecoach voices` lists them, `voicecoach models download voice NAME`
fetches a catalogued one, checked against its pinned SHA-256, and the speaker speaks a long
sentence with the real voice while the rest of it renders."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from audio_room import DEVICE, AudioRoom

from voicecoach.app import cli
from voicecoach.app.run import SpokenGate
from voicecoach.voice import speakers, voices
from voicecoach.voice.speakers import AudioSpeaker, make_speaker
from voicecoach.voice.voices import KnownVoice, VoiceError, download_voice, find_voice, installed_voices


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local web server for the files under `tmp_path / "site"`."""
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", site
    finally:
        httpd.shutdown()
        httpd.server_close()


def catalogue_for(url: str, site: Path, name: str, model_sha: str | None = None) -> dict[str, KnownVoice]:
    bundled = find_voice(None)
    model, config = bundled.model.read_bytes(), bundled.config.read_bytes()
    (site / f"{name}.onnx").write_bytes(model)
    (site / f"{name}.onnx.json").write_bytes(config)
    return {name: KnownVoice(name, "test voice", f"{url}/{name}.onnx", model_sha or hashlib.sha256(model).hexdigest(),
                             f"{url}/{name}.onnx.json", hashlib.sha256(config).hexdigest())}


def test_a_catalogued_voice_downloads_with_progress_and_becomes_choosable(server, tmp_path: Path):
    url, site = server
    catalogue = catalogue_for(url, site, "en_US-test-medium")
    progress = io.StringIO()
    voice = download_voice("en_US-test-medium", tmp_path / "data", stream=progress, catalogue=catalogue)
    assert voice.model == tmp_path / "data" / "voices" / "en_US-test-medium.onnx"
    # The models download's progress bar, under the file's name.
    assert "en_US-test-medium.onnx:\n" in progress.getvalue() and "100%" in progress.getvalue()
    assert [v.name for v in installed_voices(tmp_path / "data")][0] == "en_US-test-medium"
    assert find_voice("en_US-test-medium", tmp_path / "data").source == "downloaded"


def test_a_download_that_does_not_match_its_pinned_hash_installs_nothing(server, tmp_path: Path):
    url, site = server
    catalogue = catalogue_for(url, site, "en_US-test-medium", model_sha="0" * 64)
    with pytest.raises(VoiceError, match="not the file expected"):
        download_voice("en_US-test-medium", tmp_path, stream=io.StringIO(), catalogue=catalogue)
    assert list((tmp_path / "voices").iterdir()) == []
    with pytest.raises(VoiceError, match="unknown voice 'en_GB-x-low'"):
        download_voice("en_GB-x-low", tmp_path, catalogue=catalogue)


def test_every_catalogued_voice_is_pinned():
    for known in voices.KNOWN_VOICES.values():
        assert len(known.model_sha256) == 64 and len(known.config_sha256) == 64
        assert known.model_url.endswith(f"{known.name}.onnx")


def test_voices_command_lists_the_bundled_voice_and_the_choice(private_home: Path, capsys):
    assert cli.main(["voices"]) == 0
    out = capsys.readouterr().out
    assert "en_US-joe-medium" in out and "bundled" in out
    assert "speaker auto; voice en_US-joe-medium" in out


def test_models_download_voice_is_routed_to_the_voices_module(private_home: Path, capsys):
    assert cli.main(["models", "download", "voice", "en_XX-nobody-low"]) == 1
    assert "unknown voice 'en_XX-nobody-low'" in capsys.readouterr().err


@pytest.mark.speed
@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_a_long_sentence_starts_before_it_is_all_rendered(audio_room: AudioRoom):
    gate = SpokenGate(tail=0.35)
    reports: list[tuple] = []
    gate.on_spoken = lambda *report: reports.append(report)
    speaker = make_speaker("piper", device=DEVICE, gate=gate)
    assert isinstance(speaker, AudioSpeaker) and speaker.notes == []
    text = ("Stand tall beside a chair, holding the back of it lightly with one hand. "
            "Lift one knee slowly towards your chest, then lower it. Do 10-15 reps on each side.")
    try:
        t0 = time.monotonic()
        speaker.say(text)
        returned = time.monotonic() - t0
        assert not speaker.tts.is_cached(text), "the whole text was rendered before it started"
        assert speaker.wait(30)
        whole = speaker.tts.render(text)  # cached by now: what was played, end to end
    finally:
        speaker.close()
    assert len(reports) == 1
    said, _requested, start, end, cut_off = reports[0]
    assert said == text and not cut_off
    assert returned < 0.25 * whole.duration
    # Played end to end, with no gap waiting for rendering: it took as long as its audio.
    assert end - start == pytest.approx(whole.duration, abs=0.25)


@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_the_doctor_can_say_a_sentence_with_the_chosen_voice(audio_room: AudioRoom, private_home: Path):
    from voicecoach.config import AudioSettings, Config, SpeechSettings

    config = Config(audio=AudioSettings(output_device=DEVICE))
    worked, said = speakers.speak_test_sentence(config, "Ten to fifteen reps.")
    assert worked and said == "said a sentence with piper en_US-joe-medium"
    broken = Config(audio=AudioSettings(output_device=DEVICE), speech=SpeechSettings(voice="en_GB-nobody-low"))
    worked, said = speakers.speak_test_sentence(broken, "Ten to fifteen reps.")
    assert worked and said.startswith("said a sentence with pyttsx3 en-us (Natural voice unavailable: ")
