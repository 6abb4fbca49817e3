"""The air of the virtual room, as a process of its own: what the coach's speaker plays
(the "room" sink) and what the user says (the "voice" sink) reach the microphone
(the "air" sink, whose monitor is the "mic" source) each through its own echo path,
plus the microphone's hiss.

    python tests/room_air.py '<json: {"coach": {...EchoPath}, "user": {...}, "noise_dbfs": -66}>'

Run by `AudioRoom.start()` with PULSE_SERVER pointing at the room's daemon.  The two
sinks' monitors are read with pacat in 20 ms blocks (both are clocked by the same
daemon, so the reads alternate without drifting), convolved, mixed, and written to
the air sink with pacat.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from room_paths import RATE, EchoPath, StreamingPath  # noqa: E402

BLOCK = 320  # 20 ms


def record(source: str, client: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["pacat", "--record", f"--device={source}", f"--rate={RATE}", "--channels=1",
         "--format=s16le", "--latency-msec=10", f"--client-name={client}", "--raw"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def main() -> int:
    spec = json.loads(sys.argv[1])
    coach = StreamingPath(EchoPath(**spec["coach"]).impulse_response(), BLOCK)
    user = StreamingPath(EchoPath(**spec["user"]).impulse_response(), BLOCK)
    noise = 32768 * 10 ** (spec["noise_dbfs"] / 20)
    rng = np.random.default_rng(3)
    speaker = record("room.monitor", "room-air-coach")
    mouth = record("voice.monitor", "room-air-user")
    mic = subprocess.Popen(
        ["pacat", "--playback", "--device=air", f"--rate={RATE}", "--channels=1", "--format=s16le",
         "--latency-msec=30", "--client-name=room-air", "--raw"],
        stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert speaker.stdout and mouth.stdout and mic.stdin
    try:
        while True:
            a = speaker.stdout.read(BLOCK * 2)
            b = mouth.stdout.read(BLOCK * 2)
            if len(a) < BLOCK * 2 or len(b) < BLOCK * 2:
                return 0
            x = coach.process(np.frombuffer(a, "<i2").astype(np.float32))
            x += user.process(np.frombuffer(b, "<i2").astype(np.float32))
            x += rng.standard_normal(BLOCK).astype(np.float32) * noise
            mic.stdin.write(np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes())
            mic.stdin.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    finally:
        for proc in (speaker, mouth, mic):
            proc.terminate()


if __name__ == "__main__":
    sys.exit(main())
