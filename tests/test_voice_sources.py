"""WAV replay sources, the resampler and the WAV reader: what the listener is fed."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from voicecoach.voice.microphone import SAMPLE_RATE, WavFileSource, _Chunker
from voicecoach.voice.resample import Resampler, resample
from voicecoach.voice.wavfile import WavError, read_wav, wav_bytes, write_wav


def tone(freq: float, rate: int, seconds: float, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("in_rate", [48000, 44100, 22050, 8000])
def test_resampling_keeps_a_tone_and_its_length(in_rate: int):
    y = resample(tone(1000, in_rate, 1.0), in_rate, SAMPLE_RATE)
    assert len(y) == SAMPLE_RATE
    expected = tone(1000, SAMPLE_RATE, 1.0)
    middle = slice(1000, -1000)
    assert np.max(np.abs(y[middle] - expected[middle])) < 20  # -54 dB


@pytest.mark.parametrize("in_rate", [48000, 44100])
def test_resampling_removes_what_16_khz_cannot_hold(in_rate: int):
    # 9 kHz would alias to 7 kHz, right in the speech band, without the low-pass.
    y = resample(tone(9000, in_rate, 0.5), in_rate, SAMPLE_RATE)
    assert np.max(np.abs(y[500:-500])) < 50


def test_streaming_resampler_matches_one_shot():
    x = tone(440, 44100, 0.7) + tone(3000, 44100, 0.7, 3000)
    r = Resampler(44100, SAMPLE_RATE)
    parts = [r.process(x[i:i + 1234]) for i in range(0, len(x), 1234)] + [r.flush()]
    assert np.allclose(np.concatenate(parts), resample(x, 44100, SAMPLE_RATE), atol=0.05)


def write_espeak(path: Path, text: str) -> Path:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    return path


def test_wav_source_resamples_to_16k_mono_chunks_of_50_ms(tmp_path: Path):
    # espeak-ng writes 22050 Hz; make a stereo 44.1 kHz copy as a recorder would.
    frames, rate = read_wav(write_espeak(tmp_path / "s.wav", "pause"))
    assert rate == 22050
    up = resample(frames[:, 0], 22050, 44100)
    stereo = np.stack([up, up * 0.5], axis=1)
    write_wav(tmp_path / "stereo.wav", stereo, 44100)

    source = WavFileSource(tmp_path / "stereo.wav", start_time=100.0)
    chunks = list(source.chunks())
    assert source.file_rate == 44100
    assert all(len(c.pcm) == 1600 for c in chunks[:-1])  # 800 samples of int16
    assert 0 < len(chunks[-1].pcm) <= 1600
    assert chunks[0].start == 100.0
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start == pytest.approx(a.end)
    assert chunks[-1].end == pytest.approx(100.0 + source.duration)
    assert source.duration == pytest.approx(len(frames) / 22050, abs=0.001)
    # Mono is the mean of the channels: 0.75 of the left channel's level.
    left = resample(up, 44100, SAMPLE_RATE)
    got = np.concatenate([c.samples for c in chunks]).astype(np.float32)
    assert np.abs(got).max() == pytest.approx(0.75 * np.abs(left).max(), rel=0.02)


def test_realtime_wav_source_paces_chunks_like_a_microphone(tmp_path: Path):
    write_wav(tmp_path / "half.wav", np.zeros(8000, dtype=np.int16), SAMPLE_RATE)
    t0 = time.monotonic()
    arrivals = []
    for chunk in WavFileSource(tmp_path / "half.wav", realtime=True).chunks():
        arrivals.append(time.monotonic())
        assert arrivals[-1] >= chunk.end - 0.005  # never before it was "captured"
    assert len(arrivals) == 10
    assert 0.45 < arrivals[-1] - t0 < 1.0


def test_closing_a_wav_source_stops_it(tmp_path: Path):
    write_wav(tmp_path / "long.wav", np.zeros(16000 * 10, dtype=np.int16), SAMPLE_RATE)
    source = WavFileSource(tmp_path / "long.wav", realtime=True)
    seen = 0
    for _ in source.chunks():
        seen += 1
        source.close()
    assert seen == 1


def test_chunker_times_follow_the_capture_clock_across_a_dropped_block():
    chunker = _Chunker(48000, 1600)
    out = chunker.feed(np.zeros(4800, dtype=np.float32), captured_at=10.0)
    out += chunker.feed(np.zeros(4800, dtype=np.float32), captured_at=10.1)
    # One block lost: the next one was captured 0.2 s later, not 0.1.
    out += chunker.feed(np.zeros(4800, dtype=np.float32), captured_at=10.3)
    assert out[0].start == pytest.approx(10.0)
    assert out[-1].start > 10.2  # moved with the capture clock instead of drifting


def test_wav_reader_formats(tmp_path: Path):
    x = np.array([0, 16384, -16384, 32767], dtype=np.int16)
    data = bytearray(wav_bytes(x, 8000))
    frames, rate = read_wav(_write(tmp_path / "a.wav", bytes(data)))
    assert rate == 8000 and frames[:, 0].tolist() == [0, 16384, -16384, 32767]
    # 32-bit float, as editors write: full scale 1.0 reads as 32768.
    f = np.array([0.0, 0.5, -0.5], dtype="<f4").tobytes()
    hdr = (b"RIFF" + (36 + len(f)).to_bytes(4, "little") + b"WAVEfmt "
           + (16).to_bytes(4, "little") + (3).to_bytes(2, "little") + (1).to_bytes(2, "little")
           + (16000).to_bytes(4, "little") + (64000).to_bytes(4, "little")
           + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
           + b"data" + len(f).to_bytes(4, "little"))
    frames, rate = read_wav(_write(tmp_path / "f.wav", hdr + f))
    assert rate == 16000 and frames[:, 0].tolist() == [0.0, 16384.0, -16384.0]
    with pytest.raises(WavError, match="not a WAV"):
        read_wav(_write(tmp_path / "x.wav", b"hello"))
    with pytest.raises(WavError, match="cannot read"):
        read_wav(tmp_path / "missing.wav")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
