"""A private PulseAudio "virtual room" for tests: what is played into it can be recorded
back from its microphone, with no sound card.

One daemon per test session, in its own runtime directory, with null sinks "room"
(the coach's speaker, the default sink), "voice" (the user's mouth: `play_file`) and
"air" (what reaches the microphone), and a remap-source of the air's monitor called
"mic", the default source.  `PULSE_SERVER` points this process and its children at
it, so the ALSA "pulse" device that sounddevice lists plays into the room and records
from the mic.

Between them runs the air (tests/room_air.py): the speaker reaches the microphone
through `room_paths.COACH` (delay, reverberation, the level of a speaker a metre
away) and the user's voice through `room_paths.USER`, plus the microphone's hiss.
`drift_ppm` puts the speaker on a clock of its own (a condition for the benchmark;
by default speaker and microphone share one, as on one sound card).
`AudioRoom(base, echo=False)` is a transparent room instead (the mic is the speaker's
monitor, and the user plays into the same sink), for tests about the gate's timing
and the recording's fidelity, which an echo path would blur.

A null sink sleeps in blocks of up to two seconds while nothing low-latency is
connected, which stalls the start of a new stream by as much (and shifts PortAudio's timestamps by
as much); a silent "keeper" stream with 20 ms latency stays connected, and the sink
is suspended and resumed once it is, so streams start at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from room_paths import COACH, NOISE_DBFS, USER, EchoPath

DEVICE = "pulse"  # the ALSA PCM (from libasound2-plugins) that talks to PulseAudio


class RoomUnavailable(Exception):
    """The room could not be set up (the daemon is installed but failed)."""


def pulseaudio_missing() -> str | None:
    """Why the room cannot exist here, or None if it can."""
    if shutil.which("pulseaudio") is None:
        return ("the 'pulseaudio' program is not installed, so the virtual-room audio tests "
                "are skipped (Debian: apt install pulseaudio pulseaudio-utils "
                "libasound2-plugins libportaudio2)")
    return None


class AudioRoom:
    """A running private PulseAudio daemon; use `start()` and `stop()` (or `with`)."""

    def __init__(self, base: Path, coach: EchoPath = COACH, user: EchoPath = USER,
                 noise_dbfs: float = NOISE_DBFS, echo: bool = True, drift_ppm: float = 0.0) -> None:
        self.base = Path(base)
        self.echo = echo
        self.coach_path = coach
        self.user_path = user
        self.noise_dbfs = noise_dbfs
        self.drift_ppm = drift_ppm
        self.socket = self.base / "native"
        self.server = f"unix:{self.socket}"
        self.log_path = self.base / "pulseaudio.log"
        self._daemon: subprocess.Popen[bytes] | None = None
        self._keepers: list[subprocess.Popen[bytes]] = []
        self._air: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["XDG_RUNTIME_DIR"] = str(self.base / "runtime")
        env["XDG_CONFIG_HOME"] = str(self.base / "config")  # keep the user's pulse config out
        env["PULSE_SERVER"] = self.server
        return env

    def start(self) -> AudioRoom:
        for sub in ("runtime", "config"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        env = self._env()
        args = [
            "pulseaudio", "--daemonize=no", "--system=false", "--exit-idle-time=-1", "-n",
            "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr",
            "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "-L", "module-null-sink sink_name=room",
            "-L", "module-null-sink sink_name=voice",
            "-L", "module-null-sink sink_name=air",
            "-L", f"module-remap-source source_name=mic master={'air' if self.echo else 'room'}.monitor",
        ]
        with open(self.log_path, "wb") as log:
            self._daemon = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self._daemon.poll() is not None:
                raise RoomUnavailable(f"pulseaudio exited: {self._log_tail()}")
            ok = subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0
            if ok:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RoomUnavailable(f"pulseaudio did not come up: {self._log_tail()}")
            time.sleep(0.05)
        self.pactl("set-default-sink", "room")
        self.pactl("set-default-source", "mic")
        # Clients of this process (PortAudio's ALSA pulse plugin) and its children.
        for key in ("PULSE_SERVER",):
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = env[key]
        for sink in ("room", "voice"):
            with open("/dev/zero", "rb") as zeros:  # endless silence
                self._keepers.append(subprocess.Popen(
                    ["pacat", "--playback", f"--device={sink}", "--latency-msec=20", "--rate=44100",
                     "--channels=2", "--format=s16le", f"--client-name={sink}-keeper"],
                    env=env, stdin=zeros, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        spec = {"coach": dataclasses.asdict(self.coach_path), "user": dataclasses.asdict(self.user_path),
                "noise_dbfs": self.noise_dbfs, "drift_ppm": self.drift_ppm}
        if self.echo:
            self._air = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("room_air.py")), json.dumps(spec)],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        streams = ("room-keeper", "voice-keeper") + (("room-air",) if self.echo else ())
        deadline = time.monotonic() + 20
        while not all(name in self.pactl("list", "sink-inputs") for name in streams):
            if (any(p.poll() is not None for p in [*self._keepers, *([self._air] if self._air else [])])
                    or time.monotonic() > deadline):
                self.stop()
                raise RoomUnavailable("the keeper streams or the air (pacat) did not connect")
            time.sleep(0.02)
        # A sink may be in the middle of a long sleep chosen before its streams came;
        # a suspend/resume cycle restarts its timer at the streams' latency.
        for sink in ("room", "voice", "air"):
            self.pactl("suspend-sink", sink, "1")
            self.pactl("suspend-sink", sink, "0")
        self._refresh_portaudio()
        return self

    def _refresh_portaudio(self) -> None:
        # PortAudio lists devices once, when sounddevice is imported; rescan so the
        # pulse device sees this server even if something imported it earlier.
        import sounddevice as sd

        sd._terminate()
        sd._initialize()

    def pactl(self, *args: str) -> str:
        """Run pactl against this room; returns its output."""
        proc = subprocess.run(["pactl", *args], env=self._env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise RoomUnavailable(f"pactl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def play_file(self, wav: Path) -> subprocess.Popen[bytes]:
        """Play a WAV file from the user's mouth, from another process (the "user" speaking)."""
        sink = "voice" if self.echo else "room"
        return subprocess.Popen(["paplay", f"--device={sink}", str(wav)], env=self._env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-5:]) or "no log"

    def stop(self) -> None:
        for proc in (self._air, *self._keepers, self._daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._air = self._daemon = None
        self._keepers = []
        restored = bool(self._saved_env)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if restored and os.environ.get("PULSE_SERVER"):
            # Another room is still up (a test's own room inside the session's): point
            # PortAudio back at it.
            self._refresh_portaudio()

    def __enter__(self) -> AudioRoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
