"""The real audio path in the PulseAudio virtual room: the coach's speaker plays into the
room, the microphone records the room, and the gate keeps the listener deaf to the
coach while still hearing a "user" who speaks from another process.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from audio_room import DEVICE, AudioRoom

from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.gate import Gate
from voicecoach.voice.listener import AudioListener
from voicecoach.voice.microphone import SAMPLE_RATE, Chunk, SoundDeviceSource
from voicecoach.voice.recognizer import Recognizer
from voicecoach.voice.resample import resample
from voicecoach.voice.speakers import AudioSpeaker, make_speaker
from voicecoach.voice.tts import count_phrases

# Slow: real time in the PulseAudio room.
pytestmark = pytest.mark.slow


class SoundOnsetDetector(Recognizer):
    """Fires "next" at every onset of sound above a level: a plain signal detector.

    It stands in for a speech recognizer where the question is only "did any of the
    coach's audio reach the recognizer?"; it would fire on every word the coach says.
    """

    name = "onset"

    def __init__(self, threshold_rms: float = 150.0) -> None:
        self.threshold = threshold_rms
        self.samples = 0
        self.active = False

    def accept(self, pcm: bytes) -> list[Heard]:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        t0 = self.samples / self.sample_rate
        self.samples += len(x)
        t1 = self.samples / self.sample_rate
        rms = float(np.sqrt(np.mean(x * x))) if len(x) else 0.0
        if rms >= self.threshold and not self.active:
            self.active = True
            return [Heard(Command("next"), f"sound rms={rms:.0f}", start=t0, end=t1, emitted=t1)]
        if rms < self.threshold / 2:
            self.active = False
        return []

    def reset(self) -> None:
        self.active = False

    def skip(self, seconds: float) -> None:
        self.samples += round(seconds * self.sample_rate)

    def flush(self) -> list[Heard]:
        return []


def record(source: SoundDeviceSource, seconds: float) -> tuple[list[Chunk], threading.Thread]:
    """Collect chunks from `source` on a thread for about `seconds`."""
    chunks: list[Chunk] = []

    def run() -> None:
        end = time.monotonic() + seconds
        for chunk in source.chunks():
            chunks.append(chunk)
            if time.monotonic() > end:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return chunks, thread


def espeak_wav(path: Path, text: str, voice: str = "en-us") -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


def test_speech_played_into_the_room_is_recorded_back_when_the_gate_says(audio_room: AudioRoom):
    gate = Gate(tail=0.35)
    speaker = make_speaker("espeak-ng", device=DEVICE, gate=gate)
    assert isinstance(speaker, AudioSpeaker)
    source = SoundDeviceSource(DEVICE)
    try:
        text = "Lift your leg slowly."
        speaker.prepare([text])
        chunks, thread = record(source, 2.5)
        time.sleep(0.4)
        speaker.say(text)
        assert speaker.is_speaking()
        assert speaker.wait(5)
        thread.join(5)
    finally:
        source.close()
        speaker.close()
    assert source.device_rate == SAMPLE_RATE

    recorded = np.concatenate([c.samples for c in chunks]).astype(np.float64)
    assert np.sqrt(np.mean(recorded**2)) > 100, "nothing reached the microphone"

    # Where does the rendered clip sit in the recording?  Normalised cross-correlation.
    clip = speaker.tts.render(text)
    ref = resample(clip.samples.astype(np.float32), clip.rate, SAMPLE_RATE).astype(np.float64)
    n = len(recorded) + len(ref)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recorded, size) * np.conj(np.fft.rfft(ref, size)), size)
    lag = int(np.argmax(corr[: len(recorded)]))
    segment = recorded[lag:lag + len(ref)]
    score = float(np.dot(segment, ref[: len(segment)])
                  / (np.linalg.norm(segment) * np.linalg.norm(ref[: len(segment)]) + 1e-9))
    assert score > 0.9, f"the recording does not match what was played (score {score:.2f})"

    # The capture time of the clip's first sample, from the chunk timestamps...
    offsets = np.cumsum([0] + [len(c.samples) for c in chunks])
    i = int(np.searchsorted(offsets, lag, side="right") - 1)
    heard_at = chunks[i].start + (lag - offsets[i]) / SAMPLE_RATE
    # ...agrees with when the speaker said it started, and lies inside the gate.
    [utterance] = gate.utterances()
    assert utterance.start is not None and utterance.end is not None
    print(f"audio start: speaker says {utterance.start - utterance.requested:.3f} s after say(), "
          f"microphone heard it {heard_at - utterance.requested:.3f} s after say()")
    assert abs(heard_at - utterance.start) < 0.15
    heard_end = heard_at + len(ref) / SAMPLE_RATE
    assert utterance.requested <= heard_at and heard_end <= utterance.end + gate.tail


COACH_LINES = [
    "Sit to stand. Ten reps.",
    *count_phrases(6),
    "Hold it there. Keep breathing.",
    "Rest for thirty seconds.",
]


def test_gate_keeps_the_listener_deaf_to_the_coach_but_not_to_the_user(
        audio_room: AudioRoom, tmp_path: Path):
    gate = Gate(tail=0.35)
    speaker = make_speaker("pyttsx3", device=DEVICE, gate=gate)
    heard: list[Heard] = []
    closed: list[str] = []
    listener = AudioListener(SoundDeviceSource(DEVICE), SoundOnsetDetector(), gate)
    try:
        speaker.prepare(COACH_LINES + ["Next exercise: bridges."])
        listener.start(heard.append, closed.append)
        time.sleep(0.3)
        # A session's worth of speech: sentences, counts on a beat, a sentence cut off
        # by the next cue, and a stop in the middle of a word.
        speaker.say(COACH_LINES[0])
        assert speaker.wait(10), "the speaker never finished its first line"
        beat = time.monotonic() + 0.2
        for word in count_phrases(6):
            time.sleep(max(0.0, beat - time.monotonic()))
            speaker.say(word)
            beat += 0.8
        assert speaker.wait(5)
        speaker.say(COACH_LINES[-2])
        time.sleep(0.5)
        speaker.say(COACH_LINES[-1])  # cuts "Hold it there" off
        assert speaker.wait(5)
        speaker.say("Next exercise: bridges.")
        time.sleep(0.4)
        speaker.stop()
        quiet = gate.quiet_at()
        assert quiet is not None
        time.sleep(max(0.0, quiet - time.monotonic()) + 0.5)
        coach_heard = list(heard)
        fed_during_coach = listener.chunks_fed

        # Now the user speaks from another process: the gate is open, so it is heard.
        user_said = time.monotonic()
        user = audio_room.play_file(espeak_wav(tmp_path / "user.wav", "next"))
        assert user.wait(10) == 0
        deadline = time.monotonic() + 3
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
        speaker.close()

    utterances = gate.utterances()
    assert len(utterances) == len(COACH_LINES) + 1
    assert all(u.start is not None for u in utterances), "some coach line never played"
    assert sum(u.cut_off for u in utterances) >= 2
    assert listener.chunks_gated > 20 and fed_during_coach > 0
    assert coach_heard == [], f"the listener heard the coach: {coach_heard}"
    assert len(heard) >= 1, (
        "the detector did not fire on the user, so the test proves nothing "
        f"(fed {listener.chunks_fed} chunks, gated {listener.chunks_gated}; user played "
        f"{time.monotonic() - user_said:.1f} s ago; gate quiet at {quiet - user_said:+.2f} s)")
    assert closed == []


def test_a_microphone_that_stops_delivering_audio_is_reported(audio_room: AudioRoom):
    source = SoundDeviceSource(DEVICE, stall_seconds=1.0)
    listener = AudioListener(source, SoundOnsetDetector())
    closed: list[str] = []
    got = threading.Event()
    listener.start(lambda h: None, lambda reason: (closed.append(reason), got.set()))
    try:
        time.sleep(0.3)
        # The microphone goes silent for good, as an unplugged USB device can: no
        # error, just no more audio.
        audio_room.pactl("suspend-source", "mic", "1")
        assert got.wait(5), "losing the microphone went unnoticed"
    finally:
        listener.close()
        audio_room.pactl("suspend-source", "mic", "0")
    assert closed and closed[0].startswith("microphone lost"), closed


@pytest.fixture(autouse=True)
def _no_leftover_speech():
    yield
    time.sleep(0.05)
