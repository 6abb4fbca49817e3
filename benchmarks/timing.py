"""Cue timing on the real clock: how late each cue is said, and whether holds drift.

Runs a short session in text mode (speech printed to nowhere, no commands) with a set of
reps, a 20-second hold and a 45-second hold, on the real monotonic clock, and prints each
cue's error against its due time (median and max) and the drift over each hold: the time
from "Hold." to "And release." against the planned time.

    .venv/bin/python benchmarks/timing.py            # about 2 minutes
    .venv/bin/python benchmarks/timing.py --busy 1   # with one core kept busy meanwhile

Target: every cue within 20 ms of its due time, no drift over a 45-second hold.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicecoach.app.runner import Runner  # noqa: E402
from voicecoach.core.plan import Plan, PlanSettings  # noqa: E402
from voicecoach.core.routine import Tempo, load_routine  # noqa: E402
from voicecoach.core.session import Session  # noqa: E402
from voicecoach.voice.speakers import PrintSpeaker  # noqa: E402

ROUTINE = """\
name: timing
title: Timing check
source: benchmark
safety: [Stop if it hurts.]
exercises:
  - name: Reps
    steps: [Lift.]
    reps: 8
    tempo: {up: 1, top: 0.5, down: 1, bottom: 0.5}
  - name: Short hold
    steps: [Hold.]
    hold_seconds: 20
  - name: Long hold
    steps: [Hold.]
    hold_seconds: 45
"""


def _spin(seconds: float) -> None:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, metavar="N", help="keep N cores busy while measuring")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timing.yaml"
        path.write_text(ROUTINE)
        routine = load_routine(path)
    settings = PlanSettings(ready_seconds=3, tempo=Tempo(1, 0.5, 1, 0.5), words_per_second=20, sentence_gap=0.05)
    plan = Plan(routine, settings)
    records: list[dict] = []
    runner = Runner(Session(plan), PrintSpeaker(io.StringIO()), None, sinks=[records.append])

    busy = [multiprocessing.Process(target=_spin, args=(plan.total_seconds() + 5,)) for _ in range(args.busy)]
    for p in busy:
        p.start()
    print(f"running {plan.total_seconds():.0f} s of session on the real clock"
          f"{f' with {args.busy} busy core(s)' if busy else ''}...", flush=True)
    try:
        runner.run()
    finally:
        for p in busy:
            p.terminate()

    cues = [r for r in records if r["type"] == "say" and "due" in r]
    errors_ms = [(r["t"] - r["due"]) * 1000 for r in cues]
    print(f"cues: {len(cues)}")
    print(f"lateness (ms): median {statistics.median(errors_ms):.2f}, max {max(errors_ms):.2f}, "
          f"min {min(errors_ms):.2f}")
    within = sum(1 for e in errors_ms if abs(e) <= 20)
    print(f"within 20 ms: {within}/{len(cues)}")

    for i, release in enumerate(cues):
        if release["text"] != "And release.":
            continue
        hold = next(cues[j] for j in range(i - 1, -1, -1) if cues[j]["text"] == "Hold.")
        planned = release["due"] - hold["due"]
        actual = release["t"] - hold["t"]
        print(f"hold: planned {planned:.3f} s from 'Hold.' to 'And release.', actual {actual:.4f} s, "
              f"drift {(actual - planned) * 1000:+.2f} ms")
    quarter = max(1, len(errors_ms) // 4)
    trend = statistics.median(errors_ms[-quarter:]) - statistics.median(errors_ms[:quarter])
    print(f"drift over {cues[-1]['due'] - cues[0]['due']:.1f} s (median lateness, last quarter of cues minus "
          f"first quarter): {trend:+.2f} ms; last cue {errors_ms[-1]:+.2f} ms late")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
