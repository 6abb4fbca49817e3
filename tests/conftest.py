"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

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
    room = AudioRoom(tmp_path_factory.mktemp("audio-room")).start()
    try:
        yield room
    finally:
        room.stop()
