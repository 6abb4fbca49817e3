"""`voicecoach recognize [--engine E] [--model DIR] [--json] WAV...`: commands in recordings.

Each file is fed in 100 ms chunks (real-time sized, as a microphone would deliver
it) through the same Recognizer the live listener uses, followed by half a second
of silence so a command at the very end still gets its endpoint.  Every file starts
from a new listener's state (noise floor, normalisation, endpointer, decoder), so a
clip gets the same answer alone or among others, in any order; times count from
each file's start.  The engine is chosen as for a session (`voice.engines.choose`):
with `auto`, one that cannot start is reported in one line and the next one is used.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import wave
from pathlib import Path

import numpy as np

from voicecoach.voice.base import Heard
from voicecoach.voice.engine_names import AUDIO_CHOICES
from voicecoach.voice.engines import EngineUnavailable, choose
from voicecoach.voice.microphone import CHUNK_SECONDS
from voicecoach.voice.recognizer import Recognizer

CHUNK_S = CHUNK_SECONDS  # files are fed as the microphone feeds them
TAIL_S = 0.5


def read_wav(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Read a PCM WAV file as int16 mono at `rate` (downmixed and resampled as needed)."""
    with wave.open(str(path), "rb") as w:
        channels, width, src_rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) * 256.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / 256.0).astype(np.float64)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / 65536.0
    else:
        raise ValueError(f"unsupported sample width {width} bytes")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    x = resample(x, src_rate, rate)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Band-limited resampling by FFT (fine for the few-second clips this reads)."""
    if src == dst or len(x) == 0:
        return x
    n_out = max(1, int(round(len(x) * dst / src)))
    spec = np.fft.rfft(x)
    keep = n_out // 2 + 1
    out = np.zeros(keep, dtype=complex)
    k = min(keep, len(spec))
    out[:k] = spec[:k]
    return np.fft.irfft(out, n_out) * (n_out / len(x))


class ClipRunner:
    """Feeds clips one after another through one recognizer, re-basing times per clip.

    The recognizer's clock runs on across clips (it counts every sample passed to
    `accept`), so this keeps the same count to know where each clip started: it
    must be the only thing that feeds its recognizer.
    """

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer
        self._fed = 0  # samples passed to accept so far

    def run(self, samples: np.ndarray, tail_s: float = TAIL_S) -> list[Heard]:
        """Recognize one clip; times in the result are seconds from the clip's start."""
        rec = self.recognizer
        rec.reset()
        base = self._fed / rec.sample_rate
        step = int(rec.sample_rate * CHUNK_S)
        pad = np.zeros(int(rec.sample_rate * tail_s), np.int16)
        pcm = np.concatenate([samples.astype(np.int16), pad]).astype("<i2")
        heard: list[Heard] = []
        for i in range(0, len(pcm), step):
            chunk = pcm[i:i + step]
            heard += rec.accept(chunk.tobytes())
            self._fed += len(chunk)
        heard += rec.flush()
        return [_shift(h, -base) for h in heard]


def _shift(h: Heard, by: float) -> Heard:
    def s(t: float | None) -> float | None:
        # Never before the file began, and never "-0.0" in the output.
        return None if t is None else max(0.0, round(t + by, 3)) + 0.0

    return Heard(h.command, h.text, s(h.start), s(h.end), s(h.emitted), h.confidence)


def format_heard(path: str, h: Heard, as_json: bool) -> str:
    """One output line for a recognized command."""
    if as_json:
        return json.dumps({"file": path, "command": h.command.name, "heard": h.text,
                           "start": h.start, "end": h.end, "emitted": h.emitted},
                          ensure_ascii=False)
    return (f"{path}\t{h.start:.2f}-{h.end:.2f}s\t{h.command.name}"
            f"\t(heard {h.text!r}, decided at {h.emitted:.2f}s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `recognize` options to `parser`."""
    parser.add_argument("wav", nargs="+", metavar="WAV", help="WAV files to recognize")
    parser.add_argument("--engine", choices=AUDIO_CHOICES, default="auto",
                        help="speech engine (default: vosk if a model is found, else sphinx)")
    parser.add_argument("--model", metavar="DIR", default=None, help="vosk model directory")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per recognized command")


def run(args: argparse.Namespace) -> int:
    """Recognize commands in each file; return the exit status (2: no engine can start)."""
    try:
        choice = choose(args.engine, model=args.model, fallback=False)
    except EngineUnavailable as exc:
        print(f"voicecoach: {exc}", file=sys.stderr)
        return 2
    for note in choice.notes:
        print(f"voicecoach: {note}", file=sys.stderr)
    if choice.recognizer is None:
        return 2
    status = 0
    fresh = False  # the first file gets the recognizer just made
    out = io.StringIO()
    for path in args.wav:
        try:
            samples = read_wav(path, choice.recognizer.sample_rate)
        except (OSError, EOFError, ValueError, wave.Error) as exc:
            print(f"voicecoach: cannot read {path}: {exc}", file=sys.stderr)
            status = 1
            continue
        try:
            recognizer = choice.fresh() if fresh else choice.recognizer
        except EngineUnavailable as exc:  # it started once; a second start failing is rare
            print(f"voicecoach: {exc}", file=sys.stderr)
            return 2
        fresh = True
        for h in ClipRunner(recognizer).run(samples):
            print(format_heard(path, h, args.json), file=out)
        sys.stdout.write(out.getvalue())
        sys.stdout.flush()
        out.seek(0)
        out.truncate()
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m voicecoach.app.recognize`."""
    parser = argparse.ArgumentParser(prog="voicecoach recognize", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
