"""Benchmark the command recognizers: accuracy, false activations, latency, CPU, memory.

    python benchmarks/recognition.py [--quick | --full] [--engines sphinx,vosk] [--model DIR]

Builds a corpus with espeak-ng (several voices, rates and pitches): every command
phrase of the table, the coach's own lines (counts, cues) and other words, clean and
mixed with white, pink or babble noise at 12 and 6 dB SNR.  When the Google Speech
Commands sample in `../shared/speech/` exists (next to the repository), its real
human recordings are added: stop, go, yes and no are commands; every other word
(digits, left, right, up, down, on, off, names, "backward", ...) must not trigger.

Each engine runs in a child process of its own so its peak memory (VmHWM) is its
own.  Every clip goes through `voicecoach.recognize.ClipRunner`, the same path
as `voicecoach recognize`: 100 ms chunks, 0.5 s of silence before the speech and
1 s after it.  Latency is `emitted` minus the true end of the speech.

Engine settings are tuned on other voices (`benchmarks/sphinx_tuning.py`), never on
this corpus, so these figures stay a fair test.  Note that "paws" in the other
speech is a homophone of "pause" in the pronunciation dictionary: no engine that
listens for "pause" can reject it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicecoach import commands  # noqa: E402
from voicecoach.recognize import ClipRunner, resample  # noqa: E402

RATE = 16000
LEAD_S = 0.5
TAIL_S = 1.0
SPEECH_DIR = REPO.parent / "shared" / "speech" / "gsc_v002_jackbl248"

# (voice, words per minute, pitch): a spread of accents, sexes, rates and pitches.
VOICES = [
    ("en-us", 175, 50), ("en-gb", 160, 40), ("en-us+f3", 190, 60),
    ("en-gb-scotland+m3", 150, 45), ("en-029+f2", 170, 70), ("en-gb-x-rp", 180, 50),
    ("en-us-nyc+m1", 165, 35), ("en-gb-x-gbclan+f4", 175, 55), ("en-gb-x-gbcwmd", 200, 50),
    ("en-us+klatt", 150, 60),
]
DEFAULT_VOICES = [VOICES[0], VOICES[2], VOICES[5], VOICES[6], VOICES[9]]
QUICK_VOICES = [VOICES[0], VOICES[6]]

# What the coach itself says: counts and cues.  None of it may trigger a command.
COACH_LINES = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "fifteen", "twenty", "next exercise", "next exercise: wall sit",
    "straight leg raise", "hold for thirty seconds", "rest for thirty seconds",
    "keep your knee straight", "switch sides", "last one", "good job", "well done",
    "three sets of ten", "get ready", "relax", "breathe out", "slowly lower your leg",
    "now the other leg", "halfway there", "almost done", "nice work", "set two of three",
    "lift your leg", "press your knee down", "five more", "take a break",
    "we are done for today", "starting in three, two, one",
]
# Other speech a user or a room may produce, including near-misses of commands.
OTHER_SPEECH = [
    "left", "right", "up", "down", "on", "off", "hello", "water", "okay", "thank you",
    "what", "forward", "backward", "bed", "bird", "cat", "dog", "happy", "house", "learn",
    "marvin", "sheila", "tree", "visual", "wow", "follow", "coffee", "the weather is nice",
    "phone", "music", "listen", "tomorrow", "seven thirty", "good morning", "nest", "text",
    "pass", "paws", "top", "shop", "bone", "gun", "ton", "dawn", "fun", "sun", "guess", "yet",
]
GSC_COMMANDS = {"stop": "stop", "go": "resume", "yes": "yes", "no": "no"}


# -- corpus ---------------------------------------------------------------------


def synth(text: str, voice: str, rate: int, pitch: int, cache: Path) -> np.ndarray:
    """espeak-ng speech at 16 kHz, trimmed to the speech (cached on disk)."""
    key = hashlib.sha1(f"{text}|{voice}|{rate}|{pitch}".encode()).hexdigest()[:16]
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-z", "--stdout", text],
        capture_output=True, check=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
        x = resample(x, w.getframerate(), RATE)
    x = trim(x)
    y = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    np.save(path, y)
    return y


def trim(x: np.ndarray, threshold: float = 200.0) -> np.ndarray:
    """Cut leading and trailing silence so `len(x)` is where the speech ends."""
    idx = np.nonzero(np.abs(x) > threshold)[0]
    return x[idx[0]:idx[-1] + 1] if len(idx) else x


def read_gsc(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
        x = resample(x, w.getframerate(), RATE)
    return trim(x, 400.0).astype(np.int16)


def noise(kind: str, n: int, rng: np.random.Generator, babble: np.ndarray) -> np.ndarray:
    """White, pink (1/f, shaped in the frequency domain) or babble noise, unit RMS."""
    if kind == "white":
        x = rng.normal(size=n)
    elif kind == "pink":
        spec = np.fft.rfft(rng.normal(size=n))
        f = np.arange(len(spec), dtype=float)
        f[0] = 1.0
        x = np.fft.irfft(spec / np.sqrt(f), n)
    else:
        start = int(rng.integers(0, max(1, len(babble) - n)))
        x = np.resize(babble[start:start + n], n).astype(np.float64)
    return x / (np.sqrt(np.mean(x**2)) + 1e-9)


def make_babble(cache: Path) -> np.ndarray:
    """Four espeak voices reading different sentences at once: a crowd to talk over."""
    lines = ["the quick brown fox jumps over the lazy dog and runs into the woods",
             "she sells sea shells by the sea shore every summer morning",
             "we will meet at the station at half past four tomorrow afternoon",
             "please remember to buy milk bread and apples on the way home"]
    voices = [VOICES[0], VOICES[1], VOICES[4], VOICES[7]]
    parts = [synth(t, *v, cache).astype(np.float64) for t, v in zip(lines, voices, strict=True)]
    n = max(len(p) for p in parts)
    mix = sum(np.resize(p, n) for p in parts)
    return mix


def corpus(
    size: str,
    cache: Path,
    voices: list[tuple[str, int, int]] | None = None,
    other: list[str] | None = None,
    conditions: list[tuple[str, float | None]] | None = None,
    human: bool = True,
) -> list[dict]:
    """Every clip: kind, expected command (or None), condition, samples, speech span."""
    rng = np.random.default_rng(1234)
    if voices is None:
        voices = {"quick": QUICK_VOICES, "default": DEFAULT_VOICES, "full": VOICES}[size]
    if conditions is None:
        conditions = [("clean", None), ("12dB", 12.0), ("6dB", 6.0)]
        if size == "quick":
            conditions = [("clean", None), ("6dB", 6.0)]
    babble = make_babble(cache)
    items: list[tuple[str, str, str | None, np.ndarray]] = []
    for v in voices:
        for p in commands.all_phrases():
            items.append(("command", p, commands.parse(p).name, synth(p, *v, cache)))
        for t in COACH_LINES:
            items.append(("coach", t, None, synth(t, *v, cache)))
        for t in OTHER_SPEECH if other is None else other:
            items.append(("other", t, None, synth(t, *v, cache)))
        for t in commands.NUMBER_WORDS:  # a pain score, said while the coach asks for one
            items.append(("number", t, t, synth(t, *v, cache)))
    if human and SPEECH_DIR.is_dir():
        for word_dir in sorted(SPEECH_DIR.iterdir()):
            for f in sorted(word_dir.glob("*.wav")):
                word = word_dir.name
                kind = "gsc-command" if word in GSC_COMMANDS else "gsc-other"
                items.append((kind, word, GSC_COMMANDS.get(word), read_gsc(f)))
    clips = []
    kinds = ["white", "pink", "babble"]
    for cond, snr in conditions:
        for i, (kind, text, expected, speech) in enumerate(items):
            if size == "quick" and kind.startswith("gsc") and snr is not None:
                continue
            x = np.concatenate([np.zeros(int(LEAD_S * RATE)), speech.astype(np.float64),
                                np.zeros(int(TAIL_S * RATE))])
            nkind = None
            if snr is not None:
                nkind = kinds[i % 3]
                p_speech = np.mean(speech.astype(np.float64) ** 2)
                x = x + noise(nkind, len(x), rng, babble) * np.sqrt(p_speech / 10 ** (snr / 10))
            clips.append({
                "kind": kind, "text": text, "expected": expected, "condition": cond,
                "noise": nkind,
                "samples": np.clip(np.round(x), -32768, 32767).astype(np.int16),
                "speech_end": LEAD_S + len(speech) / RATE,
            })
    return clips


# -- one engine, in a child process -----------------------------------------------


def worker(engine: str, model: str | None, corpus_file: str) -> dict:
    """Run every clip through one engine; return raw per-clip outcomes and costs."""
    from voicecoach.voice.engines import make_recognizer

    t0 = time.process_time()
    recognizer, _ = make_recognizer(engine, model)
    load_s = time.process_time() - t0
    runner = ClipRunner(recognizer)

    # Listening cost: 30 s of quiet room noise, as the microphone delivers between
    # commands.  CPU seconds per audio second = share of one core in real time.
    quiet = np.random.default_rng(7).normal(0, 30, 30 * RATE).astype(np.int16)
    t0 = time.process_time()
    runner.run(quiet, tail_s=0.0)
    listen_cpu = (time.process_time() - t0) / 30.0
    # Peak memory of the engine itself, before the corpus is loaded into this process.
    engine_rss = peak_rss_mb()

    data = np.load(corpus_file, allow_pickle=True)
    clips = list(data["clips"])

    # Wall time of the chunk in which a command was decided: an engine that works
    # after the utterance ends (Whisper transcribes it then) adds this to its latency.
    decide_s: list[float] = []
    accept = recognizer.accept

    def timed_accept(pcm: bytes) -> list:
        t = time.perf_counter()
        out = accept(pcm)
        if out:
            decide_s.append(time.perf_counter() - t)
        return out

    recognizer.accept = timed_accept

    outcomes = []
    cpu = 0.0
    audio = 0.0
    for c in clips:
        if c["kind"] == "number":  # heard in their own pass below
            outcomes.append([])
            continue
        t0 = time.process_time()
        heard = runner.run(c["samples"], tail_s=0.0)
        cpu += time.process_time() - t0
        audio += len(c["samples"]) / RATE
        outcomes.append([(h.command.name, h.text, h.start, h.end, h.emitted) for h in heard])
    # Pain scores: numbers are listened for only while the coach asks for one.  The
    # espeak numbers and the human recordings of digits, clean.
    recognizer.listen_for_numbers(True)
    numbers = []
    for i, c in enumerate(clips):
        if c["condition"] == "clean" and (c["kind"] == "number" or c["text"] in commands.NUMBER_WORDS):
            heard = runner.run(c["samples"], tail_s=0.0)
            numbers.append((i, [(h.command.name, h.command.value) for h in heard]))
    recognizer.listen_for_numbers(False)
    return {
        "engine": engine, "outcomes": outcomes, "numbers": numbers, "rtf": cpu / audio, "load_s": load_s,
        "decide_s": decide_s,
        "listen_cpu": listen_cpu,
        "maxrss_mb": engine_rss,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM from /proc on Linux: ru_maxrss of a child started by fork+exec keeps the
    parent's peak (the corpus), which would be charged to the engine.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- figures ---------------------------------------------------------------------------


def summarize(clips: list[dict], result: dict) -> list[tuple[str, str]]:
    rows = []
    outcomes = result["outcomes"]

    def group(pred):
        return [(c, o) for c, o in zip(clips, outcomes, strict=True) if pred(c)]

    for cond in ("clean", "12dB", "6dB"):
        pos = group(lambda c, cond=cond: c["kind"] == "command" and c["condition"] == cond)
        if pos:
            right = sum(1 for c, o in pos if len(o) == 1 and o[0][0] == c["expected"])
            wrong = sum(1 for c, o in pos if o and any(h[0] != c["expected"] for h in o))
            missed = sum(1 for c, o in pos if not o)
            rows.append((f"espeak commands {cond}",
                         f"{right / len(pos):6.1%} right  {wrong / len(pos):6.1%} wrong  "
                         f"{missed / len(pos):6.1%} missed  (n={len(pos)})"))
        for kind, label in (("coach", "coach's own lines"), ("other", "other speech")):
            neg = group(lambda c, cond=cond, kind=kind: c["kind"] == kind
                        and c["condition"] == cond)
            if neg:
                fa = sum(1 for _, o in neg if o)
                rows.append((f"  false activations, {label} {cond}",
                             f"{fa / len(neg):6.1%}  ({fa}/{len(neg)})"))
        gpos = group(lambda c, cond=cond: c["kind"] == "gsc-command" and c["condition"] == cond)
        if gpos:
            right = sum(1 for c, o in gpos if len(o) == 1 and o[0][0] == c["expected"])
            gneg = group(lambda c, cond=cond: c["kind"] == "gsc-other" and c["condition"] == cond)
            fa = sum(1 for _, o in gneg if o)
            rows.append((f"human speech (GSC) {cond}",
                         f"{right / len(gpos):6.1%} commands right (n={len(gpos)}), "
                         f"{fa / max(1, len(gneg)):6.1%} false activations (n={len(gneg)})"))
    for label, kind in (("espeak", "number"), ("human (GSC digits)", "gsc-other")):
        said = [(clips[i], [tuple(h) for h in o]) for i, o in result["numbers"] if clips[i]["kind"] == kind]
        if said:
            right = sum(1 for c, o in said if o == [("number", commands.NUMBER_WORDS.index(c["text"]))])
            rows.append((f"numbers 0-10 when asked, {label}",
                         f"{right / len(said):6.1%} right  (n={len(said)})"))
    lat = [o[0][4] - c["speech_end"] for c, o in zip(clips, outcomes, strict=True)
           if c["kind"] == "command" and c["condition"] == "clean" and len(o) == 1
           and o[0][0] == c["expected"]]
    if lat:
        rows.append(("decision latency after speech end (clean)",
                     f"median {np.median(lat) * 1000:4.0f} ms, p95 "
                     f"{np.percentile(lat, 95) * 1000:4.0f} ms (audio time)"))
    if result.get("decide_s"):
        d = result["decide_s"]
        rows.append(("  plus computing in the deciding chunk (wall)",
                     f"median {np.median(d) * 1000:4.0f} ms, p95 {np.percentile(d, 95) * 1000:4.0f} ms"))
    rows.append(("real-time factor (CPU s / audio s)", f"{result['rtf']:.3f}"))
    rows.append(("listening to quiet, share of one core", f"{result['listen_cpu']:.2%}"))
    rows.append(("peak memory, engine listening (VmHWM)", f"{result['maxrss_mb']:.0f} MB"))
    rows.append(("model load CPU time", f"{result['load_s']:.1f} s"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 voices, clean and 6 dB, human speech clean only: about a minute")
    ap.add_argument("--full", action="store_true", help="all 10 voices (about 10 minutes)")
    ap.add_argument("--engines", default="sphinx,vosk", help="comma-separated engines")
    ap.add_argument("--model", default=None, help="vosk model directory")
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "CORPUS"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        result = worker(args.worker[0], args.model, args.worker[1])
        Path(args.out).write_text(json.dumps(result))
        return 0

    from voicecoach.voice.engines import find_model

    cache = Path(tempfile.gettempdir()) / "voicecoach-bench-cache"
    cache.mkdir(exist_ok=True)
    t0 = time.time()
    clips = corpus("quick" if args.quick else "full" if args.full else "default", cache)
    print(f"corpus: {len(clips)} clips in {time.time() - t0:.0f} s"
          + ("" if SPEECH_DIR.is_dir() else f" (no {SPEECH_DIR}: human recordings skipped)"))
    with tempfile.TemporaryDirectory() as tmp:
        corpus_file = os.path.join(tmp, "corpus.npz")
        arr = np.empty(len(clips), dtype=object)
        arr[:] = [{"samples": c["samples"], "kind": c["kind"], "text": c["text"],
                   "condition": c["condition"]} for c in clips]
        np.savez(corpus_file, clips=arr)
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            if engine == "vosk":
                model = find_model(args.model)
                if model is None:
                    print("\nvosk: no model found (voicecoach models download); skipped")
                    continue
            out = os.path.join(tmp, f"{engine}.json")
            cmd = [sys.executable, __file__, "--worker", engine, corpus_file, "--out", out]
            if args.model:
                cmd += ["--model", args.model]
            t0 = time.time()
            proc = subprocess.run(cmd)
            if proc.returncode != 0:
                print(f"\n{engine}: failed to run (exit {proc.returncode})")
                continue
            result = json.loads(Path(out).read_text())
            print(f"\n== {engine} ({time.time() - t0:.0f} s) ==")
            for label, value in summarize(clips, result):
                print(f"{label:48s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
