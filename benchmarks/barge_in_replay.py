"""Replays a recording of benchmarks/barge_in.py (`--record FILE`) through the echo
canceller, the gate and the recognizer again, with other settings: barge-in tuned in
seconds instead of minutes, every setting tried on the same audio.

    python benchmarks/barge_in_replay.py FILE [--set MODULE.NAME=VALUE ...]

MODULE is `barge_in` or `echo_canceller` (their settings in voicecoach/voice/), or
`whisper` (a field of command_whisper's Tuning).  The recording holds what the speaker
played, what the microphone captured and whether the gate was closed for each chunk;
the listener (`AudioListener`, as `voicecoach run` builds it) runs over it on this
thread.  Record on the tune share (`--split tune`) and tune here; quote figures from a
live run on the report share, never from the recording tuned on.

Prints each trial (what was decided over the coach while the user's command played),
then acted on, the self-triggers (commands decided outside the trials: the coach's own
voice), the ERLE, and how long after the words each command was decided (audio time).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicecoach.voice import barge_in as barge_in_settings  # noqa: E402
from voicecoach.voice import echo_canceller as canceller_settings  # noqa: E402
from voicecoach.voice.command_whisper import TUNING, CommandWhisperRecognizer  # noqa: E402
from voicecoach.voice.echo_path import PlayedAudio  # noqa: E402
from voicecoach.voice.listener import AudioListener  # noqa: E402
from voicecoach.voice.microphone import Chunk  # noqa: E402

AFTER_CLIP_S = 2.5
"""A command decided this long after the user's clip ended still answers it (as live)."""


class Recorded:
    """The recorded microphone, as an `AudioSource`."""

    def __init__(self, chunks: list) -> None:
        self._chunks = chunks

    def chunks(self):
        for pcm, start, end, _open in self._chunks:
            yield Chunk(pcm, start, end)

    def close(self) -> None:
        pass


class RecordedGate:
    """Whether the gate was closed for each recorded chunk."""

    def __init__(self, chunks: list) -> None:
        self._open = {start: is_open for _pcm, start, _end, is_open in chunks}

    def is_open(self, t_start: float, t_end: float) -> bool:
        return self._open.get(t_start, True)


def apply(settings: list[str]) -> dict:
    """Set the module settings named; return the Whisper tuning's changes."""
    modules = {"barge_in": barge_in_settings, "echo_canceller": canceller_settings}
    tuning: dict = {}
    for item in settings:
        name, value = item.split("=", 1)
        module, _, field = name.partition(".")
        if module == "whisper":
            tuning[field] = type(getattr(TUNING, field))(value)
        elif module in modules and hasattr(modules[module], field):
            setattr(modules[module], field, type(getattr(modules[module], field))(value))
        else:
            raise SystemExit(f"unknown setting {name!r} (barge_in.X, echo_canceller.X or whisper.X)")
        print(f"setting {name} = {value}")
    return tuning


def with_canceller(recording: dict) -> barge_in_settings.BargeIn:
    """A new `BargeIn` fed what the speaker played as the recording's chunks come."""
    played = PlayedAudio()
    barge = barge_in_settings.BargeIn(
        played, lambda: canceller_settings.EchoCanceller(filter_s=canceller_settings.FILTER_S))
    pushes = sorted(recording["pushes"], key=lambda p: p[2])
    pending = [0]
    process = barge.process

    def process_in_time(chunk: Chunk) -> np.ndarray:
        # What the speaker's thread had handed over by the time the chunk was processed.
        while pending[0] < len(pushes) and pushes[pending[0]][2] <= chunk.end + barge_in_settings.PLAYER_LATENCY_S:
            block, rate, start, underrun = pushes[pending[0]]
            played.push(block, rate, start, underrun)
            pending[0] += 1
        return process(chunk)

    barge.process = process_in_time  # type: ignore[method-assign]
    return barge


def replay(recording: dict, tuning: dict, plain: bool = False, quiet: bool = False) -> dict:
    """Acted on (over the coach, in the pauses), self-triggers and ERLE over `recording`;
    `plain`: a listener without barge-in (the half-duplex gate alone)."""
    barge = None if plain else with_canceller(recording)
    recognizer = CommandWhisperRecognizer(tuning=dataclasses.replace(TUNING, **tuning))
    decisions: list[tuple[float, str, float, float]] = []
    classify = recognizer.classify

    def judged(samples, **kwargs):
        result = classify(samples, **kwargs)
        d = recognizer.last_decision or {}
        if d.get("over_coach"):
            decisions.append((recognizer._clock.now, d.get("free", ""), d.get("mass", float("-inf")),
                              d.get("no_speech", 1.0)))
        return result

    recognizer.classify = judged  # type: ignore[method-assign]
    gate = RecordedGate(recording["chunks"])
    listener = AudioListener(Recorded(recording["chunks"]), recognizer, gate, barge)  # type: ignore[arg-type]
    heard = []
    started = time.process_time()
    reason = listener.run(heard.append)
    cpu = time.process_time() - started
    first = recording["chunks"][0][1]
    chunks_closed = [(start, end) for _p, start, end, is_open in recording["chunks"] if not is_open]
    closed_at = np.array([s for s, _ in chunks_closed])
    closed_end = np.array([e for _, e in chunks_closed])

    def over_speech(t: float) -> bool:
        i = np.searchsorted(closed_at, t, side="right") - 1
        return bool(i >= 0 and closed_end[i] >= t - 0.06)

    trials = [(*t, "over")[:6] for t in recording["trials"]]  # older recordings: over speech only
    acted: dict[str, list[bool]] = {"over": [], "pause": []}
    latencies, used = [], set()
    for n, (word, who, _said_at, clip_at, clip_done, kind) in enumerate(trials, 1):
        window = (clip_at - first, clip_done - first + AFTER_CLIP_S)
        mine = [h for h in heard if window[0] <= h.end <= window[1]]
        used.update(id(h) for h in mine)
        ok = [h for h in mine if h.command.name == word and (kind == "pause" or over_speech(first + h.emitted))]
        acted[kind].append(bool(ok))
        if ok and kind == "over":
            latencies.append((ok[0].emitted - ok[0].end) * 1000)
        said = "; ".join(f"{t.strip()!r} {m:.2f}/{ns:.2f}" for at, t, m, ns in decisions
                         if window[0] <= at <= window[1])
        if not quiet:
            print(f"  {n:3d}/{len(trials)} {kind:5s} {word:7s} {who:34s} {'ok  ' if ok else 'MISS'} "
                  f"{[h.command.name for h in mine] or ''} [{said}]")
    self_triggers = [h for h in heard if id(h) not in used]
    if quiet:
        return {"acted": acted}
    from voicecoach.core.commands import BARGE_IN
    from voicecoach.voice.command_whisper import transcript_words

    windows = [(t[3] - first, t[4] - first + AFTER_CLIP_S) for t in trials]
    outside = [(m, t) for at, t, m, _ns in decisions if not any(a <= at <= b for a, b in windows)]
    near = sorted(((m, t) for m, t in outside if " ".join(transcript_words(t)) in BARGE_IN), reverse=True)
    print(f"  {len(outside)} utterances judged over the coach outside the trials; barge-in words among "
          f"them: {', '.join(f'{t.strip()!r} {m:.2f}' for m, t in near) or 'none'}")
    for h in self_triggers:
        print(f"  SELF-TRIGGER {h.command.name!r} ({h.text!r}) at {h.end:.1f} s")
    duration = recording["chunks"][-1][2] - first
    print(f"listener ended: {reason}; {duration:.0f} s of audio replayed in {cpu:.0f} s of CPU; "
          f"dropped as echo {len(listener.dropped_as_echo)}"
          + ("" if barge is None else f"; shifts {barge.shifts}, jumps {barge.jumps}"))
    if latencies:
        print(f"decided after the words (audio time, before compute): median {np.median(latencies):.0f} ms, "
              f"p95 {np.percentile(latencies, 95):.0f} ms")
    for kind, got_all in acted.items():
        kind_trials = [t for t in trials if t[5] == kind]
        for word in dict.fromkeys(t[0] for t in kind_trials):
            got = [a for a, t in zip(got_all, kind_trials, strict=True) if t[0] == word]
            print(f"  {kind} {word}: {sum(got)}/{len(got)}")
    erle = None if barge is None else barge.erle_db()
    return {"acted_on": round(sum(acted["over"]) / len(acted["over"]), 3) if acted["over"] else None,
            "pauses_acted_on": round(sum(acted["pause"]) / len(acted["pause"]), 3) if acted["pause"] else None,
            "self_triggers": len(self_triggers), "erle_db": round(erle, 1) if erle is not None else None,
            "acted": acted}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", type=Path, help="a file written by barge_in.py --record")
    parser.add_argument("--plain-gate", action="store_true",
                        help="replay with the half-duplex gate alone (no barge-in)")
    parser.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE",
                        help="another value of a setting (barge_in.X, echo_canceller.X, whisper.X)")
    args = parser.parse_args()
    tuning = apply(args.set)
    recording = pickle.loads(args.recording.read_bytes())
    result = replay(recording, tuning, plain=args.plain_gate)
    del result["acted"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
