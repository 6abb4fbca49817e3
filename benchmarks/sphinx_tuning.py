"""Tune the bundled PocketSphinx engine on development voices kept apart from the benchmark's.

    python benchmarks/sphinx_tuning.py [--noisy] [--variant "command_weight=1e9,common_rank=0"] ...

`benchmarks/recognition.py` reports on its default voices and on the human
recordings; tuning on those would make its figures flatter the engine.  This script
measures the same way (same clip layout, `ClipRunner`, one recognizer for all clips)
on other espeak-ng voices and speeds, with extra non-command words, so engine
settings can be chosen here and then checked once there.

Each `--variant` is a comma-separated list of `SphinxRecognizer` keyword arguments
(numbers only); with none, the engine's defaults run.  Per variant it prints the
share of commands right, wrong and missed, the false activations on the coach's
lines and on other speech, and the CPU time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import recognition as bench  # noqa: E402

from voicecoach.app.recognize import ClipRunner  # noqa: E402

# None of these is among the benchmark's default voices (bench.DEFAULT_VOICES).
DEV_VOICES = [
    bench.VOICES[1], bench.VOICES[3], bench.VOICES[4], bench.VOICES[7], bench.VOICES[8],
    ("en-us+m3", 140, 45), ("en-us+f4", 205, 55), ("en-gb+m7", 185, 50),
]
# Non-command speech beyond the benchmark's list: everyday words, phrases and more
# near-misses of commands ("neck" for "next", "pose" for "pause", "son" for "done").
DEV_OTHER = bench.OTHER_SPEECH + [
    "hi", "bye", "maybe", "later", "sorry", "please", "lunch", "dinner", "honey", "alright",
    "what time is it", "turn it off", "I am tired", "let me see", "one moment", "how are you",
    "stand up", "sit down", "knock", "rock", "sock", "neck", "necks", "deck", "gone", "gum",
    "son", "won", "fine", "mine", "tops", "stuff", "stopper", "nobody", "yellow", "yesterday",
    "tennis", "donut", "rest now", "pose", "pours", "poor", "skin", "kip", "slow", "fast",
]


def parse_variant(text: str) -> dict[str, float]:
    """`"a=1e9,b=0"` -> {"a": 1e9, "b": 0} (ints stay ints)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, value = part.split("=", 1)
        number = float(value)
        out[key.strip()] = int(number) if number.is_integer() and "e" not in value else number
    return out


def evaluate(clips: list[dict], kwargs: dict, show: bool = False) -> str:
    """Run every clip through one SphinxRecognizer(**kwargs); one line of figures."""
    from voicecoach.voice.sphinx_engine import SphinxRecognizer

    runner = ClipRunner(SphinxRecognizer(**kwargs))
    t0 = time.process_time()
    heard = [runner.run(c["samples"], tail_s=0.0) for c in clips]
    cpu = time.process_time() - t0
    outcomes = [[h.command.name for h in hs] for hs in heard]
    if show:
        fa = Counter(f"{c['text']}->{hs[0].text}" for c, hs in zip(clips, heard, strict=True)
                     if hs and c["kind"] != "command")
        miss = Counter(c["text"] for c, o in zip(clips, outcomes, strict=True)
                       if c["kind"] == "command" and o != [c["expected"]])
        print("  false activations:", ", ".join(f"{k} x{n}" for k, n in fa.most_common()))
        print("  commands not right:", ", ".join(f"{k} x{n}" for k, n in miss.most_common()))
    pos = [(c, o) for c, o in zip(clips, outcomes, strict=True) if c["kind"] == "command"]
    right = sum(1 for c, o in pos if o == [c["expected"]])
    wrong = sum(1 for c, o in pos if any(h != c["expected"] for h in o))
    missed = sum(1 for _, o in pos if not o)
    parts = [f"right {right / len(pos):6.1%}  wrong {wrong / len(pos):5.1%}  missed {missed / len(pos):5.1%}"]
    for kind in ("coach", "other"):
        neg = [o for c, o in zip(clips, outcomes, strict=True) if c["kind"] == kind]
        parts.append(f"FA {kind} {sum(1 for o in neg if o) / len(neg):5.1%}")
    parts.append(f"CPU {cpu:.0f} s")
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noisy", action="store_true", help="12 and 6 dB SNR instead of clean speech")
    ap.add_argument("--variant", action="append", default=[], help="SphinxRecognizer keyword arguments")
    ap.add_argument("--show", action="store_true", help="list the false activations and the misses")
    args = ap.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "voicecoach-bench-cache"
    cache.mkdir(exist_ok=True)
    conditions = [("12dB", 12.0), ("6dB", 6.0)] if args.noisy else [("clean", None)]
    clips = bench.corpus("default", cache, voices=DEV_VOICES, other=DEV_OTHER,
                         conditions=conditions, human=False)
    print(f"development corpus: {len(clips)} clips, {len(DEV_VOICES)} voices, {conditions[0][0]}...")
    for text in args.variant or [""]:
        kwargs = parse_variant(text)
        print(f"{text or 'defaults':40s} {evaluate(clips, kwargs, args.show)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
