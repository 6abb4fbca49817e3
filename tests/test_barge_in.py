"""Barge-in without a sound card: the echo canceller, the echo path's measurement, the
played-audio record, and the listener feeding the canceller's residual while the coach
talks, on speech made in the test run passed through the room's acoustics (room_paths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from room_paths import COACH, NOISE_DBFS, USER, ClockDrift, EchoPath, convolve
from speech_audio import needs_espeak, speak

from voicecoach.core.commands import Command
from voicecoach.voice.barge_in import DOUBLE_TALK_DB, READY_ERLE_DB, BargeIn
from voicecoach.voice.base import Heard
from voicecoach.voice.echo_canceller import EchoCanceller, available
from voicecoach.voice.echo_path import MIN_CONFIDENCE, PlayedAudio, measure_delay
from voicecoach.voice.gate import Gate
from voicecoach.voice.listener import AudioListener
from voicecoach.voice.microphone import AudioSource, Chunk
from voicecoach.voice.recognizer import Recognizer
from voicecoach.voice.resample import resample
from voicecoach.voice.wavfile import read_wav

pytestmark = [needs_espeak, pytest.mark.skipif(available() is not None, reason=str(available()))]

RATE = 16000
T0 = 1000.0  # monotonic time the coach's first sample sounds
COACH_TEXT = ("Lie on your back with one knee bent and the other leg straight. Tighten the thigh of "
              "the straight leg and lift it slowly to the height of the other knee, then lower it. "
              "Keep your back flat on the floor and breathe out as you lift.")


def voice(text: str, path: Path, **kw: object) -> np.ndarray:
    frames, rate = read_wav(speak(text, path, **kw))
    return resample(frames[:, 0].astype(np.float64), rate, RATE)


@pytest.fixture(scope="module")
def coach(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return voice(COACH_TEXT, tmp_path_factory.mktemp("coach") / "coach.wav")


@pytest.fixture(scope="module")
def user_stop(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return voice("stop", tmp_path_factory.mktemp("user") / "stop.wav", voice="en-us+f2")


def room_mic(coach: np.ndarray, user: np.ndarray | None = None, user_at: float = 0.0,
             path: EchoPath = COACH) -> np.ndarray:
    """What the microphone hears: the coach through `path`, the user through theirs, hiss."""
    mic = convolve(coach, path.impulse_response())[:len(coach)]
    if user is not None:
        at = int(user_at * RATE)
        said = convolve(user, USER.impulse_response())
        mic[at:at + len(said)] += said[:len(mic) - at]
    mic += np.random.default_rng(0).standard_normal(len(mic)) * 32768 * 10 ** (NOISE_DBFS / 20)
    return np.clip(np.round(mic), -32768, 32767).astype(np.int16)


def played(coach: np.ndarray) -> PlayedAudio:
    """The record a player makes of `coach`, in 20 ms blocks from `T0`."""
    record = PlayedAudio(history_s=60)
    samples = np.clip(np.round(coach), -32768, 32767).astype(np.int16)
    for i in range(0, len(samples), 320):
        record.push(samples[i:i + 320], RATE, T0 + i / RATE)
    return record


def chunks(mic: np.ndarray) -> list[Chunk]:
    return [Chunk(mic[i:i + 1600].astype("<i2").tobytes(), T0 + i / RATE, T0 + (i + 1600) / RATE)
            for i in range(0, len(mic) - 1599, 1600)]


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9)


def test_the_canceller_removes_the_coachs_echo(coach):
    mic = room_mic(coach)
    d = int(COACH.delay_s * RATE) - 160  # the reference aligned as the listener aligns it
    ref = np.concatenate([np.zeros(d), coach])[:len(coach)].astype(np.int16)
    ec = EchoCanceller()
    out = np.concatenate([ec.process(mic[i:i + 1600], ref[i:i + 1600])
                          for i in range(0, len(mic) - 1599, 1600)])
    late = slice(4 * RATE, len(out))  # once the filter has learnt the room
    erle = db(mic[late]) - db(out[late])
    print(f"\nERLE after 4 s: {erle:.1f} dB")
    assert erle > 20


def test_the_echo_delay_is_measured_and_an_unrelated_signal_is_not_taken_for_it(coach):
    mic = room_mic(coach)
    delay, confidence = measure_delay(coach, mic)
    assert abs(delay - COACH.delay_s) < 0.002
    assert confidence >= MIN_CONFIDENCE
    noise = (np.random.default_rng(1).standard_normal(len(coach)) * 1000).astype(np.int16)
    assert measure_delay(coach, noise)[1] < MIN_CONFIDENCE
    late = room_mic(coach, path=EchoPath(delay_s=0.14, gain=0.3, seed=4))
    assert abs(measure_delay(coach, late)[0] - 0.14) < 0.002


def test_the_played_record_gives_each_sample_at_the_time_it_sounded():
    record = PlayedAudio()
    tone = (np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050) * 10000).astype(np.int16)
    for i in range(0, len(tone), 441):  # 20 ms blocks at 22.05 kHz
        record.push(tone[i:i + 441], 22050, 50.0 + i / 22050)
    i = record.index_at(50.5)
    assert i is not None and abs(i - 8000) <= 1
    got = record.read(i, 160).astype(np.float64)
    want = np.sin((np.arange(160) / RATE + 0.5) * 2 * np.pi * 440) * 10000
    assert np.max(np.abs(got - want)) < 600
    assert not record.read(i + 20 * RATE, 160).any()  # not played yet: silence


def test_an_underrun_goes_into_the_record_as_the_silence_the_speaker_played():
    # 20 ms blocks of a ramp at 16 kHz; the callbacks' times jitter by 2 ms, and the
    # block after the first second comes 60 ms late: the speaker ran dry meanwhile.
    record = PlayedAudio()
    ramp = np.arange(2 * RATE, dtype=np.int16)
    late = 0.0
    for n, i in enumerate(range(0, len(ramp), 320)):
        late += 0.06 if i == RATE else 0.0
        record.push(ramp[i:i + 320], RATE, 50.0 + i / RATE + late + (0.002 if n % 2 else 0.0))
    assert record.underruns == 1
    gap = record.index_at(50.0 + 1.0 + 0.03)
    assert gap is not None and not record.read(gap, 100).any()  # silence where it ran dry
    after = record.index_at(50.0 + 1.5 + 0.06)
    assert after is not None
    got = record.read(after, 160)
    # Read on the samples' own count, the record is still in step with the clock: each
    # sample is the one that sounded then (within the timestamps' jitter).
    assert abs(int(got[0]) - int(1.5 * RATE)) <= 32 and np.all(np.diff(got) == 1)


def test_the_rooms_drift_condition_moves_the_echo_by_its_rate():
    # 500 ppm: after 10 s the speaker's sound comes 5 ms (80 samples) later.
    x = np.random.default_rng(5).standard_normal(11 * RATE).astype(np.float32)
    drift = ClockDrift(500)
    y = np.concatenate([drift.process(x[i:i + 320]) for i in range(0, len(x), 320)])
    at = 10 * RATE
    lags = [float(np.dot(y[at:at + 4000], x[at - lag:at - lag + 4000])) for lag in range(200)]
    assert abs(int(np.argmax(lags)) - 80) <= 1  # 80 at the start of the window, 81 at its end


def test_a_lost_microphone_block_is_followed_and_a_late_timestamp_is_not(coach):
    long = np.concatenate([coach, coach])
    every = chunks(room_mic(long))
    lost = every[:150] + every[151:]  # 100 ms the listener never got, 15 s in
    barge_in = BargeIn(played(long))
    for chunk in lost:
        barge_in.process(chunk)
    assert barge_in.jumps == 1
    assert barge_in.ready and barge_in.recent_erle_db() > READY_ERLE_DB, barge_in.recent_erle_db()
    jittery = list(every)
    c = jittery[150]
    jittery[150] = Chunk(c.pcm, c.start + 0.06, c.end + 0.06)  # one callback that ran late
    barge_in = BargeIn(played(long))
    for chunk in jittery:
        barge_in.process(chunk)
    assert barge_in.jumps == 0 and barge_in.ready


def test_the_double_talk_check_tells_the_user_from_the_coach(coach, user_stop):
    at = len(coach) / RATE - 2.0
    barge_in = BargeIn(played(coach))
    for chunk in chunks(room_mic(coach, user_stop, user_at=at)):
        barge_in.process(chunk)
    assert barge_in.delay is not None and abs(barge_in.delay - COACH.delay_s) < 0.003
    assert barge_in.ready, f"recent ERLE {barge_in.recent_erle_db()}"
    words = (T0 + at, T0 + at + len(user_stop) / RATE)
    coach_only = (T0 + at - 1.5, T0 + at - 1.5 + len(user_stop) / RATE)
    user_share, coach_share = barge_in.echo_share_db(*words), barge_in.echo_share_db(*coach_only)
    print(f"\nsurvived cancellation: the user's word {user_share:.1f} dB, the coach alone {coach_share:.1f} dB")
    assert user_share is not None and user_share > DOUBLE_TALK_DB
    assert coach_share is not None and coach_share < DOUBLE_TALK_DB


class ListSource(AudioSource):
    def __init__(self, items: list[Chunk]) -> None:
        self.items = items

    def chunks(self):
        yield from self.items


class RecordingRecognizer(Recognizer):
    """Notes what it is fed and in which mode; hears "stop" in one chosen chunk."""

    name = "recording"

    def __init__(self, narrows: bool, stop_at: float | None = None) -> None:
        self.narrows = narrows
        self.stop_at = stop_at
        self.t = 0.0
        self.speaking = False
        self.fed: list[tuple[float, bool, np.ndarray]] = []
        self.modes: list[bool] = []

    def accept(self, pcm: bytes) -> list[Heard]:
        samples = np.frombuffer(pcm, "<i2")
        self.fed.append((self.t, self.speaking, samples))
        start, self.t = self.t, self.t + len(samples) / RATE
        # Decided a little after the word's end, as the engines do.
        if self.stop_at is not None and start <= self.stop_at + 0.6 < self.t:
            return [Heard(Command("stop"), "stop", start=self.stop_at, end=self.stop_at + 0.5,
                          emitted=self.t)]
        return []

    def skip(self, seconds: float) -> None:
        self.t += seconds

    def reset(self) -> None:
        pass

    def flush(self) -> list[Heard]:
        return []

    def listen_while_speaking(self, on: bool) -> bool:
        if self.narrows:
            self.speaking = on
            self.modes.append(on)
        return self.narrows


def coach_gate(seconds: float) -> Gate:
    gate = Gate(tail=0.35)
    token = gate.begin("a long instruction", at=T0 - 0.05)
    gate.started(token, T0)
    gate.ended(token, T0 + seconds)
    return gate


def listen(coach: np.ndarray, mic: np.ndarray, recognizer: RecordingRecognizer,
           barge_in: bool = True) -> tuple[AudioListener, list[Heard]]:
    silence = np.zeros(RATE, np.int16)  # a second of quiet after the coach
    listener = AudioListener(ListSource(chunks(np.concatenate([mic, silence]))), recognizer,
                             coach_gate(len(coach) / RATE), BargeIn(played(coach)) if barge_in else None)
    heard: list[Heard] = []
    assert listener.run(heard.append) == "end of audio input"
    return listener, heard


def test_the_listener_hears_the_residual_over_the_coach_once_the_echo_is_learnt(coach):
    recognizer = RecordingRecognizer(narrows=True)
    listener, heard = listen(coach, room_mic(coach), recognizer)
    over = [(t, samples) for t, speaking, samples in recognizer.fed if speaking]
    assert over, "nothing was fed while the coach spoke"
    assert listener.chunks_gated > 0, "the first seconds, before the echo is learnt, are gated"
    # Asked once whether it can (False: not yet), then narrowed over the coach, and back after.
    assert recognizer.modes[:2] == [False, True] and recognizer.modes[-1] is False
    mic = room_mic(coach)
    fed_late = np.concatenate([s for t, s in over if t > 6.0])
    assert db(mic[6 * RATE:6 * RATE + len(fed_late)]) - db(fed_late) > 15, "the residual still holds the echo"
    assert heard == []


def test_an_engine_that_cannot_narrow_and_barge_in_off_stay_half_duplex(coach):
    for recognizer, barge_in in ((RecordingRecognizer(narrows=False), True),
                                 (RecordingRecognizer(narrows=True), False)):
        listener, _ = listen(coach, room_mic(coach), recognizer, barge_in)
        assert listener.chunks_over_speech == 0
        assert not any(speaking for _, speaking, _ in recognizer.fed)
        assert listener.chunks_fed >= 5  # the quiet after the coach and the gate's tail is heard


def test_a_command_over_the_coach_is_kept_and_one_on_its_echo_alone_is_dropped(coach, user_stop):
    at = len(coach) / RATE - 2.0
    mic = room_mic(coach, user_stop, user_at=at)
    listener, heard = listen(coach, mic, RecordingRecognizer(narrows=True, stop_at=at))
    assert [h.command.name for h in heard] == ["stop"]
    listener, heard = listen(coach, mic, RecordingRecognizer(narrows=True, stop_at=at - 1.5))
    assert heard == [] and [h.command.name for h in listener.dropped_as_echo] == ["stop"]


def test_in_the_coachs_pauses_the_microphone_is_passed_on_untouched(coach, user_stop):
    barge_in = BargeIn(played(coach))
    after = np.zeros(3 * RATE, np.int16)
    said = convolve(user_stop, USER.impulse_response())
    after[2 * RATE:2 * RATE + len(said)] = np.clip(said, -32768, 32767)[:RATE]
    mic = np.concatenate([room_mic(coach), after])
    out = [(c, barge_in.process(c)) for c in chunks(mic)]
    assert barge_in.ready
    late = [(c, o) for c, o in out if c.start >= T0 + len(coach) / RATE + 1.0]
    assert late and all(np.array_equal(c.samples, o) for c, o in late)
    assert any(np.abs(c.samples).max() > 1000 for c, _ in late)  # the user's word is among them
