"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from audio_room import AudioRoom, pulseaudio_missing


@pytest.fixture(scope="session")
def audio_room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudioRoom]:
    """A private PulseAudio room (speaker "room", microphone "mic") for the whole session.

    Skipped only when PulseAudio is not installed; any other failure to start it is
    a test error, so a broken setup cannot pass silently.
    """
    why = pulseaudio_missing()
    if why is not None:
        print(f"\nskipping audio-room tests: {why}")
        pytest.skip(why)
    room = AudioRoom(tmp_path_factory.mktemp("audio-room"), echo=False).start()
    try:
        yield room
    finally:
        room.stop()


@pytest.fixture
def echo_room(tmp_path: Path) -> Iterator[AudioRoom]:
    """A room of the test's own where the speaker reaches the microphone through an echo
    path (delay, reverberation, a speaker a metre away) and the user through their own."""
    why = pulseaudio_missing()
    if why is not None:
        pytest.skip(why)
    room = AudioRoom(tmp_path / "echo-room").start()
    try:
        yield room
    finally:
        room.stop()


@pytest.fixture
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder of the test's own: no real config, data folder or VOICECOACH_* setting leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    for name in list(os.environ):
        if name.startswith("VOICECOACH_"):
            monkeypatch.delenv(name)
    return home
