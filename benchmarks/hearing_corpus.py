"""The recognition benchmarks' audio: real human speech, espeak voices, real noise, a far room.

Human speech is the Google Speech Commands sample in `../shared/speech/` (next to
the repository): stop, go, yes and no are commands, every other word (digits,
left, right, up, down, on, off, names, "backward", ...) must not trigger.  Its
speakers are split once, by a hash of the speaker id, into a tuning share (40%)
and a report share (60%): settings are chosen on the first and figures quoted on
the second, so they say something about people never heard.  espeak-ng voices are
split the same way (tuning voices are never report voices).

Conditions: clean; the shared real noise recordings (an exercise bike, dishes, a
running tap, pink and white noise, in turn) mixed at 12 and 6 dB under the
speech's active level; and far-field: a synthetic room response (exponential
reverberation tail, RT60 0.4-0.8 s, direct-to-reverberant ratio -6..0 dB), the
level 10-16 dB lower, and a faint room tone, as a user two or three metres away.
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "speech"
RATE = 16000
LEAD_S = 0.5
TAIL_S = 1.0

GSC_COMMANDS = {"stop": "stop", "go": "resume", "yes": "yes", "no": "no"}
# Commands that are answers: heard only while the coach asks a yes-or-no question.
ANSWERS = ("yes", "no")
NOISES = ("exercise_bike", "doing_the_dishes", "running_tap", "pink_noise", "white_noise")
CONDITIONS = ("clean", "noise12", "noise6", "far")

# (voice, words per minute, pitch), split into voices to tune on and voices to report.
TUNE_VOICES = [("en-us", 175, 50), ("en-gb", 160, 40), ("en-us+f3", 190, 60)]
REPORT_VOICES = [("en-gb-scotland+m3", 150, 45), ("en-029+f2", 170, 70), ("en-us-nyc+m1", 165, 35),
                 ("en-gb-x-rp", 180, 50), ("en-us+klatt", 150, 60)]

# What the coach itself says: counts and cues.  None of it may trigger a command.
COACH_LINES = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "fifteen", "twenty", "next exercise", "next exercise: wall sit",
    "straight leg raise", "hold for thirty seconds", "rest for thirty seconds",
    "keep your knee straight", "switch sides", "last one", "good job", "well done",
    "three sets of ten", "get ready", "relax", "breathe out", "slowly lower your leg",
    "now the other leg", "halfway there", "almost done", "nice work", "set two of three",
    "lift your leg", "press your knee down", "five more", "take a break",
    "we are done for today", "starting in three, two, one", "and release", "begin",
    "ten seconds to go", "get into position", "rest", "hold", "and down",
]
# Other speech a user or a room may produce, including near-misses of commands.
OTHER_SPEECH = [
    "left", "right", "up", "down", "on", "off", "hello", "water", "okay", "thank you",
    "what", "forward", "backward", "bed", "bird", "cat", "dog", "happy", "house", "learn",
    "marvin", "sheila", "tree", "visual", "wow", "follow", "coffee", "the weather is nice",
    "phone", "music", "listen", "tomorrow", "seven thirty", "good morning", "nest", "text",
    "pass", "top", "shop", "bone", "gun", "ton", "dawn", "fun", "sun", "guess", "yet",
]


def split_of(speaker: str) -> str:
    """'tune' for 40% of speakers, 'report' for the rest, fixed by the id's hash."""
    return "tune" if int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 5 < 2 else "report"


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV as float32 in -1..1."""
    with wave.open(str(path)) as w:
        if w.getframerate() != RATE or w.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16 kHz mono")
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0


def human_clips() -> list[dict]:
    """Every shared human recording: word, speaker, split, expected command (or None)."""
    manifest = SHARED / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    out = []
    with manifest.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.append({"source": "human", "text": row["word"], "speaker": row["speaker"],
                        "split": split_of(row["speaker"]), "expected": GSC_COMMANDS.get(row["word"]),
                        "samples": trim(read_wav(SHARED / row["file"]))})
    return out


def trim(x: np.ndarray, relative: float = 0.05) -> np.ndarray:
    """Cut the silence around the speech (samples under 5% of the peak), so the clip's end
    is where the speech ends and latency is measured from the last word."""
    idx = np.nonzero(np.abs(x) > relative * np.abs(x).max())[0]
    return x[idx[0]:idx[-1] + 1] if len(idx) else x


def synth(text: str, voice: str, rate: int, pitch: int, cache: Path) -> np.ndarray:
    """espeak-ng speech at 16 kHz as float32, trimmed to the speech (cached on disk)."""
    key = hashlib.sha1(f"{text}|{voice}|{rate}|{pitch}".encode()).hexdigest()[:16]
    path = cache / f"{key}.f32.npy"
    if path.exists():
        return np.load(path)
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-z", "--stdout", text],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768.0
        src = w.getframerate()
    if src != RATE:
        n = int(round(len(x) * RATE / src))
        x = np.interp(np.arange(n) * src / RATE, np.arange(len(x)), x).astype(np.float32)
    x = trim(x)
    np.save(path, x)
    return x


def espeak_clips(cache: Path, voices: list[tuple[str, int, int]], split: str) -> list[dict]:
    """Commands, the coach's lines and other speech in the given espeak voices."""
    from voicecoach.core import commands
    out = []
    for v in voices:
        speaker = f"espeak:{v[0]}"
        for p in commands.all_phrases():
            out.append({"source": "espeak-command", "text": p, "expected": commands.parse(p).name,
                        "speaker": speaker, "split": split, "samples": synth(p, *v, cache)})
        for t in COACH_LINES:
            out.append({"source": "coach", "text": t, "expected": None, "speaker": speaker, "split": split,
                        "samples": synth(t, *v, cache)})
        for t in OTHER_SPEECH:
            out.append({"source": "espeak-other", "text": t, "expected": None, "speaker": speaker,
                        "split": split, "samples": synth(t, *v, cache)})
    return out


_noise_cache: dict[str, np.ndarray] = {}


def _noise(name: str) -> np.ndarray:
    if name not in _noise_cache:
        _noise_cache[name] = read_wav(SHARED / "noise" / f"{name}.wav")
    return _noise_cache[name]


def active_rms(x: np.ndarray) -> float:
    """RMS over the 10 ms frames within 20 dB of the loudest: the speech's own level."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    energy = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    active = energy[energy > energy.max() * 0.1]
    return float(np.sqrt((active ** 2).mean()))


def room_response(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: the direct path, then a decaying noise tail."""
    rt60 = rng.uniform(0.4, 0.8)
    drr_db = rng.uniform(-6.0, 0.0)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    tail = rng.normal(0.0, 1.0, n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.004 * RATE)] = 0.0
    tail /= np.sqrt((tail ** 2).sum())
    h = tail * 10 ** (-drr_db / 20)
    h[0] += 1.0
    return h


def apply(samples: np.ndarray, condition: str, rng: np.random.Generator, index: int) -> np.ndarray:
    """The clip with LEAD_S of silence before and TAIL_S after, under `condition`, as int16."""
    y = np.concatenate([np.zeros(int(LEAD_S * RATE)), samples.astype(np.float64), np.zeros(int(TAIL_S * RATE))])
    if condition.startswith("noise"):
        snr = float(condition[len("noise"):])
        nz = _noise(NOISES[index % len(NOISES)]).astype(np.float64)
        start = int(rng.integers(0, len(nz) - len(y)))
        seg = nz[start:start + len(y)]
        y = y + seg / (np.sqrt((seg ** 2).mean()) + 1e-9) * active_rms(samples) / 10 ** (snr / 20)
    elif condition == "far":
        h = room_response(rng)
        n = 1 << int(np.ceil(np.log2(len(y) + len(h))))
        z = np.fft.irfft(np.fft.rfft(y, n) * np.fft.rfft(h, n), n)[: len(y)]
        y = z / (np.abs(z).max() + 1e-9) * np.abs(samples).max() * 10 ** (-rng.uniform(10.0, 16.0) / 20)
        tone = _noise("pink_noise").astype(np.float64)
        start = int(rng.integers(0, len(tone) - len(y)))
        y = y + tone[start:start + len(y)] / np.sqrt((tone ** 2).mean()) * 10 ** (-62 / 20)
    elif condition != "clean":
        raise ValueError(f"unknown condition {condition!r}")
    return np.clip(np.round(y * 32768), -32768, 32767).astype(np.int16)
