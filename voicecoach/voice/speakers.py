"""The coach's voice: `AudioSpeaker` renders and plays speech and tells the gate exactly
when it sounds; `PrintSpeaker` prints it for text mode; `make_speaker` picks one.

`auto` (the default) speaks with Piper, a natural neural voice, when it is installed and
its voice loads, and otherwise with pyttsx3 (espeak-ng), saying why in `notes`: a
missing or damaged voice file costs the natural voice, never the speech.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from voicecoach.voice.base import Speaker
from voicecoach.voice.devices import AudioUnavailable, Device
from voicecoach.voice.gate import Gate
from voicecoach.voice.playback import Player
from voicecoach.voice.tts import (
    DEFAULT_RATE,
    DEFAULT_VOICE,
    DEFAULT_VOLUME,
    Audio,
    Renderer,
    Tts,
    TtsError,
    VoiceSettings,
    make_renderer,
)

SPEAKER_BACKENDS = ("auto", "piper", "pyttsx3", "espeak-ng", "print")
FALLBACK_BACKEND = "pyttsx3"

log = logging.getLogger(__name__)

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

    `say` closes the gate at once, takes the text's first rendered piece (instant for a
    prepared phrase), hands it to the audio thread and returns; the rest of a long text
    is rendered while the first piece plays.  The gate learns the real start and end
    times from the audio thread.  `prepare` renders ahead on a thread of its own, in the
    order given, so a session can start speaking before everything is rendered.
    """

    def __init__(self, tts: Tts, player: Player, gate: Gate | None = None,
                 notes: list[str] | None = None) -> None:
        self.tts = tts
        self.player = player
        self.gate = gate if gate is not None else Gate()
        self.notes = list(notes or [])
        """Why the speaker is not the one asked for (a voice that would not load), for the user."""
        tts.out_rate = player.rate  # cache audio at the rate the device plays
        self._ahead: queue.Queue[list[str] | None] = queue.Queue()
        self._ahead_idle = threading.Event()
        self._ahead_idle.set()
        self._ahead_thread: threading.Thread | None = None
        self._feeders: list[threading.Thread] = []
        self._closed = False

    @property
    def voice_name(self) -> str:
        """The engine and voice speaking, for people ("piper en_US-joe-medium")."""
        renderer = self.tts.renderer
        voice = getattr(renderer, "voice", None)
        name = getattr(voice, "name", None) or getattr(getattr(renderer, "settings", None), "voice", None)
        return f"{renderer.name} {name}" if name else renderer.name

    def say(self, text: str) -> None:
        token = self.gate.begin(text)
        try:
            pieces = self.tts.stream(text)
            first, last = next(pieces)
        except Exception:
            self.gate.ended(token, time.monotonic(), cut_off=True)
            raise
        gate = self.gate
        clip = self.player.play(
            first.samples,
            on_start=lambda t: gate.started(token, t),
            on_end=lambda t, cut: gate.ended(token, t, cut),
            more=not last,
        )
        if not last:
            feeder = threading.Thread(target=self._feed, args=(clip, pieces), name="speech-pieces", daemon=True)
            self._feeders = [t for t in self._feeders if t.is_alive()] + [feeder]
            feeder.start()

    def _feed(self, clip: object, pieces: Iterator[tuple[Audio, bool]]) -> None:
        """Render the rest of a text while its start plays, adding each piece as it is ready."""
        try:
            for audio, last in pieces:
                if self._closed or not self.player.extend(clip, audio.samples, last):
                    return  # cut off or replaced: the rest is not wanted now
        except Exception:
            log.exception("rendering the rest of a sentence failed")
            self.player.extend(clip, np.zeros(0, dtype=np.int16), last=True)
        finally:
            pieces.close()

    def stop(self) -> None:
        self.player.stop()

    def is_speaking(self) -> bool:
        return self.player.is_playing()

    def prepare(self, phrases: list[str]) -> None:
        """Render `phrases` in order on a background thread; saying one first renders it first."""
        self._ahead_idle.clear()
        self._ahead.put(list(phrases))
        if self._ahead_thread is None:
            self._ahead_thread = threading.Thread(target=self._render_ahead, name="speech-ahead", daemon=True)
            self._ahead_thread.start()

    def wait_prepared(self, timeout: float | None = None) -> bool:
        """Block until everything given to `prepare` is rendered (tests, benchmarks)."""
        return self._ahead_idle.wait(timeout)

    def _render_ahead(self) -> None:
        while (phrases := self._ahead.get()) is not None:
            for phrase in phrases:
                if self._closed:
                    return
                try:
                    for _piece in self.tts.stream(phrase, background=True):
                        pass
                except Exception:  # saying it later renders it again and reports the failure
                    log.debug("rendering %r ahead failed", phrase, exc_info=True)
            if self._ahead.empty():
                self._ahead_idle.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current speech has finished (tests, end of session)."""
        return self.player.wait(timeout)

    def set_gain_db(self, gain_db: float) -> None:
        self.player.gain_db = gain_db

    def close(self) -> None:
        # Every rendering thread is let finish its piece and stop before the process can exit:
        # onnxruntime aborts the process if the interpreter shuts down in the middle of a render.
        self._closed = True
        self._ahead.put(None)
        self.player.stop()
        for thread in [*self._feeders, self._ahead_thread]:
            if thread is not None:
                thread.join(timeout=10)  # at most one piece still rendering
        self.player.close()
        self.tts.close()


def open_renderer(backend: str, settings: VoiceSettings, data_folder: Path | None = None
                  ) -> tuple[Renderer, list[str]]:
    """The renderer for `backend`, and notes saying why it is not the one asked for.

    "auto" and "piper" fall back to pyttsx3 when Piper is not installed or its voice does
    not load; the note gives the one reason.  Raises `TtsError` if nothing can render.
    """
    if backend not in ("auto", "piper"):
        return make_renderer(backend, settings), []
    from voicecoach.voice.piper_voice import PiperRenderer

    try:
        return PiperRenderer(settings, data_folder=data_folder), []
    except TtsError as exc:
        reason = str(exc)
    log.warning("Piper voice unavailable: %s", reason)
    from voicecoach.voice.voices import is_voice_name

    # A Piper voice name means nothing to espeak-ng: the fallback speaks with its own default.
    fallback = VoiceSettings(voice=DEFAULT_VOICE if is_voice_name(settings.voice) else settings.voice,
                             rate=settings.rate, volume=settings.volume)
    renderer = make_renderer(FALLBACK_BACKEND, fallback)
    return renderer, [f"Natural voice unavailable: {reason}. Speaking with {FALLBACK_BACKEND} instead."]


def make_speaker(
    backend: str = "auto",
    *,
    voice: str | None = DEFAULT_VOICE,
    rate: int = DEFAULT_RATE,
    volume: float = DEFAULT_VOLUME,
    device: Device = None,
    gate: Gate | None = None,
    out: TextIO | None = None,
    data_folder: Path | None = None,
) -> Speaker:
    """A speaker for `backend` ("auto", "piper", "pyttsx3", "espeak-ng" or "print").

    `voice` is a Piper voice name for Piper ("en_US-joe-medium"; anything else picks the
    bundled voice) and an espeak-ng voice for the others.  Downloaded Piper voices are
    looked for under `data_folder`.  The returned `AudioSpeaker.notes` say why a Piper
    voice was not used.  Raises `TtsError` if no speech engine can start and
    `AudioUnavailable` if the output device cannot be opened (`TtsError` is a kind of
    `AudioUnavailable`, so one `except AudioUnavailable` is enough to fall back to text mode).
    """
    if backend == "print":
        return PrintSpeaker(out)
    if backend not in SPEAKER_BACKENDS:
        choices = ", ".join(SPEAKER_BACKENDS)
        raise ValueError(f"unknown speaker {backend!r}; choose one of {choices}")
    renderer, notes = open_renderer(backend, VoiceSettings(voice=voice, rate=rate, volume=volume), data_folder)
    try:
        player = Player(device)
    except BaseException:
        renderer.close()
        raise
    return AudioSpeaker(Tts(renderer, volume=volume), player, gate, notes)


TEST_SENTENCE = "Hello. This is your coach. Ten to fifteen reps, slowly."


def speak_test_sentence(config: Any, sentence: str = TEST_SENTENCE) -> tuple[bool, str]:
    """Say `sentence` with the configured speaker and voice (a `Config`), as a session would; (worked, what
    happened) for `voicecoach doctor`.  A voice that cannot load says why and which was used."""
    from voicecoach.voice.devices import AudioUnavailable

    speech = config.speech
    try:
        speaker = make_speaker(speech.speaker, voice=speech.voice, rate=speech.rate, volume=speech.volume,
                               device=config.audio.output_device, data_folder=config.data.folder)
    except AudioUnavailable as exc:
        return False, str(exc)
    try:
        if not isinstance(speaker, AudioSpeaker):
            return True, "speech is printed, not spoken ([speech] speaker = \"print\")"
        speaker.say(sentence)
        finished = speaker.wait(30)
        notes = "; ".join(speaker.notes)
        said = f"said a sentence with {speaker.voice_name}" + (f" ({notes})" if notes else "")
        return finished, said if finished else "the sentence did not finish playing within 30 s"
    except AudioUnavailable as exc:
        return False, str(exc)
    finally:
        speaker.close()
