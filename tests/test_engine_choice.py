"""Choosing the optional Whisper engine: it starts when installed, and falls back with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecoach.app import open_recognizer
from voicecoach.serve import make_idle_recognizer
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


def test_without_the_extra_the_message_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    import builtins

    real_import = builtins.__import__

    def no_whisper(name: str, *args: object, **kwargs: object):
        if name.startswith("faster_whisper"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_whisper)
    recognizer, notes = open_recognizer("whisper", None)
    assert isinstance(recognizer, SphinxRecognizer)
    assert "pip install 'voicecoach[whisper]'" in notes[0]
