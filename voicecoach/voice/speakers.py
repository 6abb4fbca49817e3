"""The coach's voice: `AudioSpeaker` renders and plays speech and tells the gate exactly
when it sounds; `PrintSpeaker` prints it for text mode; `make_speaker` picks one.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from voicecoach.voice.base import Speaker
from voicecoach.voice.devices import AudioUnavailable, Device
from voicecoach.voice.gate import Gate
from voicecoach.voice.playback import Player
from voicecoach.voice.tts import (
    DEFAULT_RATE,
    DEFAULT_VOICE,
    DEFAULT_VOLUME,
    Tts,
    TtsError,
    VoiceSettings,
    make_renderer,
)

SPEAKER_BACKENDS = ("pyttsx3", "espeak-ng", "print")

__all__ = ["SPEAKER_BACKENDS", "AudioSpeaker", "AudioUnavailable", "PrintSpeaker", "TtsError",
           "make_speaker"]


class PrintSpeaker(Speaker):
    """Text mode: each cue is one printed line, `coach: <text>`, flushed at once."""

    def __init__(self, out: TextIO | None = None, prefix: str = "coach: ") -> None:
        self.out = out if out is not None else sys.stdout
        self.prefix = prefix
        self._lock = threading.Lock()  # lines from two threads must not interleave

    def say(self, text: str) -> None:
        with self._lock:
            self.out.write(f"{self.prefix}{text}\n")
            self.out.flush()

    def stop(self) -> None:
        """Printed text cannot be taken back; nothing to do."""


class AudioSpeaker(Speaker):
    """Renders with a `Tts` (cached) and plays through a `Player`.

    `say` closes the gate at once, renders (instant for a prepared phrase, ~10-20 ms
    for a new sentence), hands the clip to the audio thread and returns; the gate
    learns the real start and end times from the audio thread.
    """

    def __init__(self, tts: Tts, player: Player, gate: Gate | None = None) -> None:
        self.tts = tts
        self.player = player
        self.gate = gate if gate is not None else Gate()
        tts.out_rate = player.rate  # cache audio at the rate the device plays

    def say(self, text: str) -> None:
        token = self.gate.begin(text)
        try:
            audio = self.tts.render(text)
        except Exception:
            self.gate.ended(token, time.monotonic(), cut_off=True)
            raise
        gate = self.gate
        self.player.play(
            audio.samples,
            on_start=lambda t: gate.started(token, t),
            on_end=lambda t, cut: gate.ended(token, t, cut),
        )

    def stop(self) -> None:
        self.player.stop()

    def is_speaking(self) -> bool:
        return self.player.is_playing()

    def prepare(self, phrases: list[str]) -> None:
        self.tts.prepare(phrases)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current speech has finished (tests, end of session)."""
        return self.player.wait(timeout)

    def set_gain_db(self, gain_db: float) -> None:
        self.player.gain_db = gain_db

    def close(self) -> None:
        self.player.close()
        self.tts.close()


def make_speaker(
    backend: str = "pyttsx3",
    *,
    voice: str | None = DEFAULT_VOICE,
    rate: int = DEFAULT_RATE,
    volume: float = DEFAULT_VOLUME,
    device: Device = None,
    gate: Gate | None = None,
    out: TextIO | None = None,
) -> Speaker:
    """A speaker for `backend` ("pyttsx3", "espeak-ng" or "print").

    Raises `TtsError` if the speech engine cannot start and `AudioUnavailable` if the
    output device cannot be opened (`TtsError` is a kind of `AudioUnavailable`, so
    one `except AudioUnavailable` is enough to fall back to text mode).
    """
    if backend == "print":
        return PrintSpeaker(out)
    if backend not in SPEAKER_BACKENDS:
        choices = ", ".join(SPEAKER_BACKENDS)
        raise ValueError(f"unknown speaker {backend!r}; choose one of {choices}")
    renderer = make_renderer(backend, VoiceSettings(voice=voice, rate=rate, volume=volume))
    try:
        player = Player(device)
    except BaseException:
        renderer.close()
        raise
    return AudioSpeaker(Tts(renderer, volume=volume), player, gate)
