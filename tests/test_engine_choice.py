"""Choosing the Whisper engine: auto picks it without a vosk model; one that cannot start falls back with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecoach.app.run import open_recognizer
from voicecoach.app.serve import make_idle_recognizer
from voicecoach.voice.sphinx_engine import SphinxRecognizer


def test_a_whisper_engine_that_cannot_start_falls_back_to_the_bundled_one(tmp_path: Path):
    not_a_model = tmp_path / "nothing-here"
    not_a_model.mkdir()
    recognizer, notes = open_recognizer("whisper", str(not_a_model))
    assert isinstance(recognizer, SphinxRecognizer)
    [note] = notes
    assert note.startswith("The Whisper speech engine cannot start:")
    assert "bundled PocketSphinx" in note

    # serve chooses the same way and says the same thing.
    recognizer, idle_note = make_idle_recognizer("whisper", not_a_model, {"start hips": "resume"})
    assert isinstance(recognizer, SphinxRecognizer)
    assert idle_note == note


def test_without_its_runtime_the_message_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    import builtins

    real_import = builtins.__import__

    def no_ctranslate2(name: str, *args: object, **kwargs: object):
        if name.startswith("ctranslate2"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ctranslate2)
    recognizer, notes = open_recognizer("whisper", None)
    assert isinstance(recognizer, SphinxRecognizer)
    assert "ctranslate2 is not installed" in notes[0] and "./install.sh" in notes[0]


def test_auto_picks_whisper_when_no_vosk_model_is_installed(private_home: Path):
    from voicecoach.voice.command_whisper import CommandWhisperRecognizer

    recognizer, notes = open_recognizer("auto", None)
    assert isinstance(recognizer, CommandWhisperRecognizer)
    assert notes == []  # a user who never downloaded a vosk model is not nagged
