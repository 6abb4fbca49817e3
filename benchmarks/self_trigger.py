"""Self-triggers: does the coach ever obey its own voice?  A whole routine's speech,
played through the coach's speaker into the virtual room while the real listener runs.

    python benchmarks/self_trigger.py [--routine hips-for-knees] [--gap 0.6] [--ungated]
                                      [--speaker pyttsx3] [--limit N]

Every distinct line of the routine's plan (sentences, counts, countdowns, milestones)
plus the replies the coach gives to commands (the help text names every command) is
said once, in plan order, through `AudioSpeaker` into the room's speaker, `--gap`
seconds apart so the gate opens between lines and the listener (the room's microphone,
the gate, the bundled PocketSphinx engine) really listens there.  Everything it
decides is a self-trigger.  `--ungated` plays the same lines again with the gate off,
to show what the gate keeps out.  Also prints each timed cue's audio start after
`say()`: the speaker's own delay, which a count's lateness is made of.

Needs pulseaudio, pactl, pacat and paplay (tests/audio_room.py); hips-for-knees takes
about 6 minutes (twice that with --ungated).  Target: zero self-triggers with the gate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from voicecoach.core.commands import help_text  # noqa: E402
from voicecoach.core.plan import COUNT, TICK, Plan  # noqa: E402
from voicecoach.core.routine import find_routine  # noqa: E402

REPLIES = [
    help_text(), "Paused. Say resume when you're ready.", "Carrying on.", "Good. That set is done.",
    "Stopped. Do you want to end the session? Say yes to end, or no to carry on.",
    "Going back.", "From the top.", "Keep going, up to 15.", "I can't hear you: the microphone is gone.",
    "I can hear you again. Say resume when you're ready.",
]


def routine_lines(name: str) -> tuple[list[str], set[str]]:
    """Every distinct line of the routine's plan, in order, then the replies; and which
    of them are timed cues (counts and countdowns)."""
    plan = Plan(find_routine(name))
    lines: dict[str, None] = {}
    timed: set[str] = set()
    for block in plan.blocks:
        for cue in block.cues:
            lines.setdefault(cue.text, None)
            if cue.kind in (COUNT, TICK):
                timed.add(cue.text)
    for reply in REPLIES:
        lines.setdefault(reply, None)
    return list(lines), timed


def play(lines: list[str], gap: float, gated: bool, speaker_backend: str) -> dict[str, object]:
    from audio_room import DEVICE

    from voicecoach.app.run import SpokenGate
    from voicecoach.voice.base import Heard
    from voicecoach.voice.listener import AudioListener
    from voicecoach.voice.microphone import SoundDeviceSource
    from voicecoach.voice.speakers import AudioSpeaker, make_speaker
    from voicecoach.voice.sphinx_engine import SphinxRecognizer

    gate = SpokenGate(tail=0.35)
    reports: list[tuple[str, float, float | None, float | None, bool]] = []
    gate.on_spoken = lambda *report: reports.append(report)
    speaker = make_speaker(speaker_backend, device=DEVICE, gate=gate)
    assert isinstance(speaker, AudioSpeaker)
    heard: list[tuple[Heard, str]] = []
    current = [""]
    listener = AudioListener(SoundDeviceSource(DEVICE), SphinxRecognizer(), gate if gated else None)
    t0 = time.monotonic()
    speaker.prepare(lines)
    render = time.monotonic() - t0
    listener.start(lambda h: heard.append((h, current[0])), lambda reason: print("listener closed:", reason))
    time.sleep(0.5)
    started = time.monotonic()
    try:
        for i, line in enumerate(lines, 1):
            current[0] = line
            speaker.say(line)
            if not speaker.wait(60):
                print(f"  the speaker never finished {line!r}")
            time.sleep(gap)
            if i % 20 == 0:
                print(f"  {i}/{len(lines)} lines, {len(heard)} heard so far", flush=True)
        time.sleep(1.5)
    finally:
        listener.close()
        speaker.close()
    return {"heard": heard, "seconds": time.monotonic() - started, "render": render,
            "fed": listener.chunks_fed, "gated": listener.chunks_gated, "reports": reports}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routine", default="hips-for-knees")
    parser.add_argument("--gap", type=float, default=0.6, help="silence between lines (seconds)")
    parser.add_argument("--ungated", action="store_true", help="also play the lines with the gate off")
    parser.add_argument("--speaker", default="pyttsx3", choices=["pyttsx3", "espeak-ng"])
    parser.add_argument("--limit", type=int, default=None, help="only the first N lines")
    args = parser.parse_args()

    from audio_room import AudioRoom, pulseaudio_missing

    why = pulseaudio_missing()
    if why:
        print(why)
        return 2
    lines, timed = routine_lines(args.routine)
    lines = lines[: args.limit] if args.limit else lines
    words = sum(len(line.split()) for line in lines)
    print(f"{args.routine}: {len(lines)} distinct lines ({words} words, {len(timed & set(lines))} timed "
          f"cues), {args.gap} s apart, speaker {args.speaker}")
    room = AudioRoom(Path(tempfile.mkdtemp(prefix="voicecoach-room-"))).start()
    try:
        runs = [("gated", True)] + ([("ungated", False)] if args.ungated else [])
        for label, gated in runs:
            result = play(lines, args.gap, gated, args.speaker)
            heard = result["heard"]
            assert isinstance(heard, list)
            print(f"{label}: {len(heard)} self-triggers over {len(lines)} lines "
                  f"({result['seconds']:.0f} s of session; chunks fed {result['fed']}, "
                  f"gated {result['gated']}; rendering took {result['render']:.1f} s)")
            for h, line in heard:
                print(f"  heard {h.command.name!r} ({h.text!r}) during or after {line!r}")
            if gated:
                reports = result["reports"]
                assert isinstance(reports, list)
                delays = [start - requested for text, requested, start, _end, _cut in reports
                          if text in timed and start is not None]
                if delays:
                    delays_ms = sorted(d * 1000 for d in delays)
                    print(f"timed cues: audio starts {statistics.median(delays_ms):.0f} ms after say() "
                          f"(median; min {delays_ms[0]:.0f}, max {delays_ms[-1]:.0f}, n={len(delays_ms)})")
    finally:
        room.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
