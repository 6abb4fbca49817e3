"""The gate's bookkeeping, and the listener that obeys it, without any audio device."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.gate import Gate
from voicecoach.voice.listener import AudioListener
from voicecoach.voice.microphone import AudioSource, AudioSourceLost, Chunk
from voicecoach.voice.recognizer import Recognizer


class FakeClock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_gate_is_open_when_the_coach_has_not_spoken():
    assert Gate().is_open(0.0, 0.1)


def test_gate_closes_from_the_moment_say_is_called_until_the_tail_after_the_audio():
    clock = FakeClock(10.0)
    gate = Gate(tail=0.35, clock=clock)
    token = gate.begin("one")
    assert not gate.is_open(10.0, 10.1)
    assert gate.is_open(9.8, 9.95)  # captured before say(): not the coach
    assert not gate.is_open(50.0, 50.1)  # still playing, end unknown: closed
    gate.started(token, 10.05)
    gate.ended(token, 10.6)
    assert not gate.is_open(10.5, 10.6)
    assert not gate.is_open(10.9, 11.0)  # in the tail
    assert gate.is_open(10.96, 11.06)
    [u] = gate.utterances()
    assert (u.text, u.requested, u.start, u.end, u.cut_off) == ("one", 10.0, 10.05, 10.6, False)


def test_a_chunk_straddling_the_start_of_speech_is_dropped():
    gate = Gate(clock=FakeClock(5.0))
    gate.ended(gate.begin(), 5.5)
    assert not gate.is_open(4.95, 5.05)


def test_cut_off_speech_reopens_after_the_tail_from_the_cut():
    gate = Gate(tail=0.2, clock=FakeClock(1.0))
    token = gate.begin("a long sentence")
    gate.started(token, 1.05)
    gate.ended(token, 1.4, cut_off=True)
    assert gate.is_open(1.61, 1.7)
    assert gate.utterances()[0].cut_off


def test_an_end_estimate_before_the_request_does_not_open_the_gate_early():
    gate = Gate(tail=0.0, clock=FakeClock(3.0))
    gate.ended(gate.begin(), 2.5)
    assert not gate.is_open(2.95, 3.05)


def test_quiet_at_and_is_speaking():
    clock = FakeClock(0.0)
    gate = Gate(tail=0.3, clock=clock)
    assert gate.quiet_at() == pytest.approx(0.3) and not gate.is_speaking()
    t1 = gate.begin()
    assert gate.quiet_at() is None and gate.is_speaking()
    gate.ended(t1, 1.0)
    clock.t = 0.5
    assert gate.is_speaking()
    clock.t = 1.1
    assert not gate.is_speaking()
    assert gate.quiet_at() == pytest.approx(1.3)


def test_negative_tail_is_refused():
    with pytest.raises(ValueError):
        Gate(tail=-0.1)


def test_gate_is_safe_to_use_from_several_threads():
    gate = Gate(tail=0.0)

    def speak() -> None:
        for i in range(500):
            gate.ended(gate.begin(at=float(i)), float(i) + 0.5)

    threads = [threading.Thread(target=speak) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(2000):
        gate.is_open(0.0, 1.0)
    for t in threads:
        t.join()
    assert all(u.end is not None for u in gate.utterances())


# --- the listener -------------------------------------------------------------

class LoudnessRecognizer(Recognizer):
    """Says "next" when a chunk is louder than `level`; records resets and skips."""

    name = "loudness"

    def __init__(self, level: float = 1000.0) -> None:
        self.level = level
        self.clock = 0.0
        self.fed: list[float] = []  # audio time of each fed chunk
        self.resets = 0

    def accept(self, pcm: bytes) -> list[Heard]:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        start = self.clock
        self.fed.append(start)
        self.clock += len(x) / self.sample_rate
        if np.sqrt(np.mean(x**2)) > self.level:
            return [Heard(Command("next"), "loud", start=start, end=self.clock, emitted=self.clock)]
        return []

    def reset(self) -> None:
        self.resets += 1

    def skip(self, seconds: float) -> None:
        self.clock += seconds

    def flush(self) -> list[Heard]:
        return []


class ListSource(AudioSource):
    """Chunks from a list; optionally fails at the end like an unplugged microphone."""

    def __init__(self, chunks: list[Chunk], lose_at_end: bool = False) -> None:
        self._chunks = chunks
        self.lose_at_end = lose_at_end
        self.closed = False

    def chunks(self) -> Iterator[Chunk]:
        yield from self._chunks
        if self.lose_at_end:
            raise AudioSourceLost("unplugged")

    def close(self) -> None:
        self.closed = True


def chunk(t: float, loud: bool) -> Chunk:
    pcm = np.full(1600, 8000 if loud else 0, dtype="<i2").tobytes()
    return Chunk(pcm, t, t + 0.1)


def run_listener(chunks: list[Chunk], gate: Gate | None,
                 lose: bool = False) -> tuple[list[Heard], list[str], LoudnessRecognizer]:
    recognizer = LoudnessRecognizer()
    listener = AudioListener(ListSource(chunks, lose), recognizer, gate)
    heard: list[Heard] = []
    closed: list[str] = []
    done = threading.Event()
    listener.start(heard.append, lambda r: (closed.append(r), done.set()))
    assert done.wait(5)
    listener.close()
    return heard, closed, recognizer


def test_listener_drops_chunks_while_the_coach_speaks_and_resets_the_recognizer():
    gate = Gate(tail=0.2, clock=FakeClock(1.0))
    gate.ended(gate.begin("one"), 1.5)  # coach audio 1.0-1.5, gate closed until 1.7
    chunks = [chunk(0.1 * i, loud=(10 <= i < 15 or i == 20)) for i in range(25)]
    heard, closed, rec = run_listener(chunks, gate)
    # The coach's loud chunks (1.0-1.5) never reach the recognizer; the user's at 2.0 does.
    assert [h.start for h in heard] == [pytest.approx(2.0)]
    assert rec.resets == 1
    assert len(rec.fed) == 25 - 7  # 1.0-1.7 gated
    # Skipped audio still counts on the recognizer's clock.
    assert rec.fed[-1] == pytest.approx(2.4)
    assert closed == ["end of audio input"]


def test_listener_without_a_gate_hears_everything():
    heard, _, rec = run_listener([chunk(0.1 * i, loud=i == 3) for i in range(6)], None)
    assert len(heard) == 1 and len(rec.fed) == 6


def test_listener_skips_capture_gaps_so_times_stay_on_the_wall_clock():
    chunks = [chunk(0.0, False), chunk(0.1, False), chunk(0.5, True)]  # 0.3 s dropped
    heard, _, _ = run_listener(chunks, None)
    assert heard[0].start == pytest.approx(0.5)


def test_listener_reports_a_lost_microphone():
    _, closed, _ = run_listener([chunk(0.0, False)], None, lose=True)
    assert closed == ["microphone lost: unplugged"]


def test_closing_the_listener_does_not_report_closed():
    recognizer = LoudnessRecognizer()
    release = threading.Event()

    class Endless(AudioSource):
        def chunks(self) -> Iterator[Chunk]:
            t = 0.0
            while not release.is_set():
                yield chunk(t, False)
                t += 0.1
                release.wait(0.01)

        def close(self) -> None:
            release.set()

    listener = AudioListener(Endless(), recognizer)
    closed: list[str] = []
    listener.start(lambda h: None, closed.append)
    listener.close()
    assert closed == []
