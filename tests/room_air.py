"""The air of the virtual room, as a process of its own: what the coach's speaker plays
(the "room" sink) and what the user says (the "voice" sink) reach the microphone
(the "air" sink, whose monitor is the "mic" source) each through its own echo path,
plus the microphone's hiss.

    python tests/room_air.py '<json: {"coach": {...EchoPath}, "user": {...}, "noise_dbfs": -66,
                                      "drift_ppm": 0}>'

Run by `AudioRoom.start()` with PULSE_SERVER pointing at the room's daemon.  The two
sinks' monitors are read with pacat in 20 ms blocks (both are clocked by the same
daemon, so the reads alternate without drifting), convolved, mixed, and written to
the air sink.

The delay from speaker to microphone must stay what the echo path says, as it does
in a real room whose speaker and microphone share a sound card's clock, however late
this process gets to run on a loaded machine.  A playback stream as pacat opens it
stops on an underrun and waits to refill its buffer, so every stall of this process
longer than the buffer would add its length to the delay for good (measured: the
echo crept later by 5-300 ms over a minute, which looks like clock drift to the
canceller but is not one).  So the air is written through libpulse-simple with no
pre-buffering: the stream never stops, audio that arrives after its moment is
dropped (a click, as a real device's underrun), and the delay stays fixed.  The
stream keeps `LEAD_S` of audio buffered, which absorbs stalls shorter than that; the
rig's own latency (`RIG_LATENCY_S`) is taken from the echo path's delay, so the
microphone hears the speaker `EchoPath.delay_s` after the room's sink plays it.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from room_paths import RATE, RIG_LATENCY_S, ClockDrift, EchoPath, StreamingPath  # noqa: E402

BLOCK = 320  # 20 ms
RECORD_MS = 10
LEAD_S = RIG_LATENCY_S - (BLOCK / RATE + RECORD_MS / 1000)
"""Audio kept queued in the air's playback stream."""


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("maxlength", "tlength", "prebuf", "minreq", "fragsize")]


_PA_STREAM_PLAYBACK = 1
_PA_SAMPLE_S16LE = 3
_DEFAULT = 0xFFFFFFFF  # (uint32_t) -1: the server chooses


class AirStream:
    """A playback stream on the "air" sink that never pauses for an underrun."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL("libpulse-simple.so.0")
        self._lib.pa_simple_new.restype = ctypes.c_void_p
        self._lib.pa_simple_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                              ctypes.POINTER(ctypes.c_int)]
        spec = _SampleSpec(_PA_SAMPLE_S16LE, RATE, 1)
        lead = int(LEAD_S * RATE) * 2
        attr = _BufferAttr(_DEFAULT, lead, 0, BLOCK * 2, _DEFAULT)  # prebuf 0: never stop
        err = ctypes.c_int(0)
        self._s = self._lib.pa_simple_new(None, b"room-air", _PA_STREAM_PLAYBACK, b"air", b"room-air",
                                          ctypes.byref(spec), None, ctypes.byref(attr), ctypes.byref(err))
        if not self._s:
            raise OSError(f"pa_simple_new failed ({err.value})")
        self.write(np.zeros(int(LEAD_S * RATE), np.int16))  # the lead, then real time

    def write(self, samples: np.ndarray) -> None:
        data = samples.astype("<i2").tobytes()
        err = ctypes.c_int(0)
        if self._lib.pa_simple_write(self._s, data, len(data), ctypes.byref(err)) < 0:
            raise BrokenPipeError(f"pa_simple_write failed ({err.value})")


def record(source: str, client: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["pacat", "--record", f"--device={source}", f"--rate={RATE}", "--channels=1",
         "--format=s16le", f"--latency-msec={RECORD_MS}", f"--client-name={client}", "--raw"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def main() -> int:
    spec = json.loads(sys.argv[1])
    coach = StreamingPath(EchoPath(**spec["coach"]).impulse_response(skip_s=RIG_LATENCY_S), BLOCK)
    user = StreamingPath(EchoPath(**spec["user"]).impulse_response(skip_s=RIG_LATENCY_S), BLOCK)
    drift = ClockDrift(spec["drift_ppm"]) if spec.get("drift_ppm") else None
    noise = 32768 * 10 ** (spec["noise_dbfs"] / 20)
    rng = np.random.default_rng(3)
    speaker = record("room.monitor", "room-air-coach")
    mouth = record("voice.monitor", "room-air-user")
    mic = AirStream()
    assert speaker.stdout and mouth.stdout
    try:
        while True:
            a = speaker.stdout.read(BLOCK * 2)
            b = mouth.stdout.read(BLOCK * 2)
            if len(a) < BLOCK * 2 or len(b) < BLOCK * 2:
                return 0
            played = np.frombuffer(a, "<i2").astype(np.float32)
            x = coach.process(drift.process(played) if drift else played)
            x += user.process(np.frombuffer(b, "<i2").astype(np.float32))
            x += rng.standard_normal(BLOCK).astype(np.float32) * noise
            mic.write(np.clip(np.round(x), -32768, 32767).astype(np.int16))
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    finally:
        for proc in (speaker, mouth):
            proc.terminate()


if __name__ == "__main__":
    sys.exit(main())
