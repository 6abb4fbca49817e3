"""`voicecoach doctor`: check everything the coach needs and say how to fix what is wrong.

Each check reports ok, warn or FAIL with a one-line fix.  A FAIL means something the
coach needs is missing and makes the exit code 1; a warning is worth knowing but the
coach still runs.  Checks that touch sound (the speaker and microphone tests) can be
skipped with `--no-sound`.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import math
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from voicecoach.config import Config, ConfigError, load_config
from voicecoach.voice import syslibs
from voicecoach.voice.models import (
    broken_models,
    find_model,
    find_model_dir,
    model_problem,
    models_dir,
    reinstall_hint,
)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
_LABEL = {OK: "ok", WARN: "warn", FAIL: "FAIL", SKIP: "skip"}

TEST_SENTENCE = "This is your voice coach. Can you hear me?"
SILENT_DBFS = -60.0
CLIPPING_DBFS = -0.1
FLOOR_DBFS = -120.0
MIC_SECONDS = 2.0
# Older Pythons fail earlier (tomllib is 3.11+), but a source checkout run with the wrong
# interpreter should still hear why.
MIN_PYTHON = (3, 11)
LISTEN_RATE = 16000
APT_AUDIO = syslibs.apt_install("libportaudio.so.2")


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    """Short name, e.g. "input device"."""

    status: str
    """"ok", "warn", "fail" or "skip"."""

    detail: str
    """What was found."""

    fix: str = ""
    """What to do about a warning or failure; empty when there is nothing to do."""

    data: dict[str, Any] = field(default_factory=dict)
    """Measured values for --json (levels in dBFS, load time in seconds, ...)."""


@dataclass
class _State:
    """What earlier checks found that later ones need."""

    config: Config
    no_sound: bool
    config_ok: bool = True
    sd: ModuleType | None = None
    sd_error: str = ""
    input_device: int | None = None
    output_device: int | None = None


def check_python() -> Check:
    """Python 3.11 or newer."""
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info >= MIN_PYTHON:
        return Check("python", OK, f"Python {version} ({sys.executable})")
    return Check(
        "python",
        FAIL,
        f"Python {version} is too old; voicecoach needs 3.11 or newer",
        "install Python 3.11 (Raspberry Pi OS bookworm has it) and reinstall voicecoach",
    )


def check_config(path: Path | None) -> tuple[Check, Config, bool]:
    """The config file parses and every value is valid."""
    try:
        loaded = load_config(path)
    except ConfigError as error:
        return (
            Check(
                "config file",
                FAIL,
                str(error),
                "correct that line; `voicecoach config --docs` lists every setting",
            ),
            Config(),
            False,
        )
    if not loaded.file_found:
        return (
            Check("config file", OK, f"no file at {loaded.path}; using defaults"),
            loaded.config,
            True,
        )
    from_file = sum(1 for source in loaded.sources.values() if source.startswith("file"))
    return (
        Check("config file", OK, f"{loaded.path} is valid ({from_file} settings from it)"),
        loaded.config,
        True,
    )


def check_data_folder(config: Config) -> Check:
    """The data folder exists (or can be made) and accepts a new file."""
    folder = config.data.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as error:
        return Check(
            "data folder",
            FAIL,
            f"{folder} is not writable ({error.strerror or error})",
            f"run `mkdir -p {folder} && chown $USER {folder}`, or set [data] folder "
            "in the config file to a folder you own",
        )
    return Check("data folder", OK, f"{folder} is writable")


def check_history(config: Config) -> Check:
    """The history file can be read, and what happened when it could not be written."""
    from voicecoach.app.history_report import history_status
    from voicecoach.store.history import DB_FILENAME

    status, detail, fix = history_status(Path(config.data.folder) / DB_FILENAME)
    return Check("history", {"ok": OK, "warn": WARN}.get(status, FAIL), detail, fix)


def check_espeak_binary(config: Config) -> Check:
    """The espeak-ng command renders speech (the espeak-ng speaker and the speaker test)."""
    path = shutil.which("espeak-ng")
    needed = config.speech.speaker == "espeak-ng"
    if path is None:
        return Check(
            "espeak-ng",
            FAIL if needed else WARN,
            "the espeak-ng command is not installed",
            "sudo apt install espeak-ng",
        )
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        version = result.stdout.strip().splitlines()[0] if result.stdout.strip() else path
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check(
            "espeak-ng",
            FAIL if needed else WARN,
            f"{path} does not run ({error})",
            "sudo apt install --reinstall espeak-ng",
        )
    return Check("espeak-ng", OK, version)


def check_libespeak(config: Config) -> Check:
    """libespeak-ng loads (pyttsx3 renders speech with it)."""
    # pyttsx3 renders with it, and it is what auto and piper fall back to.
    needed = config.speech.speaker in ("pyttsx3", "auto", "piper")
    candidates = [ctypes.util.find_library("espeak-ng"), "libespeak-ng.so.1", "libespeak-ng.so"]
    errors = []
    for name in filter(None, candidates):
        try:
            ctypes.CDLL(name)
        except OSError as error:
            errors.append(str(error))
            continue
        return Check("libespeak-ng", OK, f"{name} loads")
    return Check(
        "libespeak-ng",
        FAIL if needed else WARN,
        "libespeak-ng is not installed" + (f" ({errors[-1]})" if errors else ""),
        syslibs.apt_install("libespeak-ng.so.1") + ' (or set [speech] speaker = "espeak-ng")',
    )


def check_portaudio(state: _State) -> Check:
    """PortAudio loads through the sounddevice module."""
    try:
        import sounddevice
    except (OSError, ImportError) as error:
        state.sd_error = str(error)
        return Check("portaudio", FAIL, f"cannot load PortAudio: {error}", APT_AUDIO)
    state.sd = sounddevice
    return Check("portaudio", OK, sounddevice.get_portaudio_version()[1])


def _devices(sd: ModuleType, kind: str) -> list[tuple[int, dict[str, Any]]]:
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    return [(i, dict(d)) for i, d in enumerate(sd.query_devices()) if d[key] > 0]


def _describe(devices: list[tuple[int, dict[str, Any]]]) -> str:
    return ", ".join(f"{i} '{d['name']}'" for i, d in devices[:6]) or "none"


def _resolve_device(sd: ModuleType, wanted: str | int | None, kind: str) -> tuple[int, str]:
    """Pick the device for `wanted` (None, index or name substring); ValueError if none."""
    devices = _devices(sd, kind)
    if wanted is None:
        default = sd.default.device[0 if kind == "input" else 1]
        if isinstance(default, int) and default >= 0 and any(i == default for i, _ in devices):
            return default, "system default"
        if not devices:
            raise ValueError(f"no {kind} device found")
        raise ValueError(f"no default {kind} device; available: {_describe(devices)}")
    if isinstance(wanted, int):
        if any(i == wanted for i, _ in devices):
            return wanted, f"index {wanted}"
        raise ValueError(
            f"device {wanted} is not an {kind} device; available: {_describe(devices)}"
        )
    matches = [i for i, d in devices if wanted.lower() in d["name"].lower()]
    if not matches:
        raise ValueError(f"no {kind} device matches '{wanted}'; available: {_describe(devices)}")
    return matches[0], f"matches '{wanted}'"


def _rate_supported(sd: ModuleType, kind: str, device: int, rate: float) -> bool:
    checker = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        checker(device=device, channels=1, samplerate=rate, dtype="float32")
    except Exception:  # PortAudioError or ValueError: either way the rate is unusable
        return False
    return True


def check_device(state: _State, kind: str) -> Check:
    """An input (or output) device exists, matches the config and opens at a usable rate."""
    name = f"{kind} device"
    wanted = (
        state.config.audio.input_device if kind == "input" else state.config.audio.output_device
    )
    setting = f"[audio] {kind}_device"
    plug = "plug in a USB microphone" if kind == "input" else "plug in a speaker or USB sound card"
    if state.sd is None:
        return Check(name, FAIL, f"PortAudio is not available ({state.sd_error})", APT_AUDIO)
    sd = state.sd
    try:
        index, how = _resolve_device(sd, wanted, kind)
    except ValueError as error:
        return Check(
            name,
            FAIL,
            str(error),
            f"{plug} (`{'arecord' if kind == 'input' else 'aplay'} -l` should list it), check "
            f"the user is in the audio group, and set {setting} to its name or index "
            "(`voicecoach devices` lists them)",
        )
    except Exception as error:  # PortAudio can fail in many ways while enumerating
        return Check(name, FAIL, f"cannot list {kind} devices: {error}", APT_AUDIO)
    info = sd.query_devices(index)
    default_rate = float(info["default_samplerate"])
    wanted_rate = LISTEN_RATE if kind == "input" else 22050
    rates = [r for r in (wanted_rate, default_rate) if _rate_supported(sd, kind, index, r)]
    data = {
        "index": index,
        "name": info["name"],
        "default_samplerate": default_rate,
        "rates_ok": rates,
    }
    label = f"{index} '{info['name']}' ({how}), default {default_rate:g} Hz"
    if not rates:
        return Check(
            name,
            FAIL,
            f"{label} cannot be opened at {wanted_rate} or {default_rate:g} Hz",
            f"another program may hold the device; close it, or pick another with {setting}",
            data,
        )
    if kind == "input":
        state.input_device = index
    else:
        state.output_device = index
    if wanted_rate not in rates:
        label += f"; {wanted_rate} Hz unsupported, audio is resampled from {default_rate:g} Hz"
    return Check(name, OK, label, data=data)


def _parse_wav(blob: bytes) -> tuple[int, int, bytes]:
    """(sample rate, channels, int16 frames) of a WAV.

    espeak-ng --stdout cannot seek back to fill in the chunk sizes, so they may claim
    more data than there is; the data is simply everything after the data header.
    """
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError("espeak-ng did not produce a WAV file")
    position, rate, channels = 12, 0, 1
    while position + 8 <= len(blob):
        chunk, size = (
            blob[position : position + 4],
            struct.unpack("<I", blob[position + 4 : position + 8])[0],
        )
        body = position + 8
        if chunk == b"fmt ":
            channels, rate = struct.unpack("<HI", blob[body + 2 : body + 8])
        elif chunk == b"data":
            end = min(body + size, len(blob))
            return rate, channels, blob[body:end]
        position = body + size + (size & 1)
    raise ValueError("no audio data in espeak-ng output")


def _no_output(state: _State, name: str) -> Check | None:
    """The skip for a check that plays sound, when sound is off or there is nowhere to play it."""
    if state.no_sound:
        return Check(name, SKIP, "skipped (--no-sound)")
    if state.sd is None or state.output_device is None:
        return Check(name, SKIP, "skipped: no usable output device (see above)")
    return None


def speaker_test(state: _State) -> Check:
    """Say a sentence through the output device with espeak-ng and sounddevice."""
    name = "speaker test"
    skipped = _no_output(state, name)
    if skipped is not None:
        return skipped
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return Check(
            name, SKIP, "skipped: espeak-ng is not installed", "sudo apt install espeak-ng"
        )
    import numpy as np

    speech = state.config.speech
    try:
        rendered = subprocess.run(
            [espeak, "--stdout", "-v", speech.voice, "-s", str(speech.rate), TEST_SENTENCE],
            capture_output=True,
            timeout=20,
            check=True,
        ).stdout
        rate, channels, frames = _parse_wav(rendered)
    except (OSError, subprocess.SubprocessError, ValueError, struct.error) as error:
        detail = getattr(error, "stderr", b"") or b""
        return Check(
            name,
            FAIL,
            f"espeak-ng could not render speech: {error} {detail.decode(errors='replace')}".strip(),
            f'check the voice exists (`espeak-ng --voices`; [speech] voice = "{speech.voice}")',
        )
    audio = np.frombuffer(frames[: len(frames) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    audio = audio.reshape(-1, channels)[:, 0] * speech.volume
    sd = state.sd
    device = state.output_device
    if not _rate_supported(sd, "output", device, rate):
        # Raw ALSA hardware often accepts only 44.1 or 48 kHz: resample the sentence.
        target = float(sd.query_devices(device)["default_samplerate"])
        times = np.arange(int(len(audio) * target / rate)) * (rate / target)
        audio = np.interp(times, np.arange(len(audio)), audio).astype(np.float32)
        rate = int(target)
    seconds = len(audio) / rate
    error = _in_thread(lambda: sd.play(audio, rate, device=device, blocking=True), seconds + 5)
    if error:
        return Check(
            name,
            FAIL,
            f"playback failed: {error}",
            "check the speaker is on and unmuted (`alsamixer`), or pick another "
            "[audio] output_device",
        )
    return Check(
        name,
        OK,
        f'played {seconds:.1f} s of speech ("{TEST_SENTENCE}"); did you hear it?',
        "if you heard nothing: check the volume (`alsamixer`) and [audio] output_device",
        {"seconds": round(seconds, 2), "sample_rate": rate},
    )


def voice_test(state: _State) -> Check:
    """Say a sentence with the configured speaker and voice (Piper or its fallback), as a session would."""
    name = "voice test"
    skipped = _no_output(state, name)
    if skipped is not None:
        return skipped
    if state.config.speech.speaker not in ("auto", "piper"):
        return Check(name, SKIP, f"skipped: the speaker is {state.config.speech.speaker} (tested above)")
    from voicecoach.voice.speakers import speak_test_sentence

    worked, said = speak_test_sentence(state.config)
    if not worked:
        return Check(name, FAIL, said, "run `voicecoach voices` to see the installed voices")
    return Check(name, OK, f"{said}; did you hear it?", "if not: check the volume and [audio] output_device")


def _in_thread(work: Callable[[], object], timeout: float) -> str:
    """Run audio I/O with a deadline: a stalled device must not hang the doctor."""
    errors: list[str] = []

    def target() -> None:
        try:
            work()
        except Exception as error:  # report whatever PortAudio raised
            errors.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"no response from the device within {timeout:.0f} s"
    return errors[0] if errors else ""


def _dbfs(value: float) -> float:
    return max(20 * math.log10(value), FLOOR_DBFS) if value > 0 else FLOOR_DBFS


def mic_test(state: _State) -> Check:
    """Record two seconds and report the level: silence or clipping get a warning."""
    name = "microphone level"
    if state.no_sound:
        return Check(name, SKIP, "skipped (--no-sound)")
    if state.sd is None or state.input_device is None:
        return Check(name, SKIP, "skipped: no usable input device (see above)")
    import numpy as np

    sd = state.sd
    device = state.input_device
    rate = LISTEN_RATE
    if not _rate_supported(sd, "input", device, rate):
        rate = int(sd.query_devices(device)["default_samplerate"])
    recorded: list[Any] = []

    def record() -> None:
        recorded.append(
            sd.rec(
                int(MIC_SECONDS * rate),
                samplerate=rate,
                channels=1,
                dtype="float32",
                device=device,
                blocking=True,
            )
        )

    error = _in_thread(record, MIC_SECONDS + 5)
    if error or not recorded:
        return Check(
            name,
            FAIL,
            f"recording failed: {error or 'no audio'}",
            "another program may hold the microphone; close it, or pick another "
            "[audio] input_device",
        )
    samples = np.asarray(recorded[0], dtype=np.float64).reshape(-1)
    rms = _dbfs(float(np.sqrt(np.mean(samples**2)))) if samples.size else FLOOR_DBFS
    peak = _dbfs(float(np.max(np.abs(samples)))) if samples.size else FLOOR_DBFS
    data = {"rms_dbfs": round(rms, 1), "peak_dbfs": round(peak, 1), "seconds": MIC_SECONDS}
    level = f"RMS {rms:.1f} dBFS, peak {peak:.1f} dBFS over {MIC_SECONDS:g} s"
    if peak >= CLIPPING_DBFS:
        return Check(
            name,
            WARN,
            f"{level}: clipping",
            "lower the capture gain (`alsamixer`, F4) or move the microphone away",
            data,
        )
    if rms < SILENT_DBFS:
        return Check(
            name,
            WARN,
            f"{level}: silent (below {SILENT_DBFS:g} dBFS)",
            "unmute and raise the capture level (`alsamixer`, F4), speak during the test, "
            "or pick another [audio] input_device",
            data,
        )
    return Check(name, OK, level, data=data)


SWEEP_SECONDS = 1.5
SWEEPS = 3
SWEEP_GAP_SECONDS = 0.4
SWEEP_DBFS = -12.0
ECHO_RELIABLE_DB = 20.0
"""ERLE from which barge-in is called reliable; between the listener's own threshold
(`barge_in.READY_ERLE_DB`) and this, it works but misses more commands."""


def sweep(rate: int = LISTEN_RATE) -> Any:
    """The echo test's signal: logarithmic sweeps 100 Hz-6 kHz, each after a short silence
    (the canceller learns on the first ones, the last shows what it leaves), then
    silence for the room's tail."""
    import numpy as np

    t = np.arange(int(SWEEP_SECONDS * rate)) / rate
    f0, f1 = 100.0, 6000.0
    k = math.log(f1 / f0) / SWEEP_SECONDS
    one = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    fade = np.minimum(1.0, np.minimum(t, SWEEP_SECONDS - t) / 0.02)
    one *= fade * 10 ** (SWEEP_DBFS / 20)
    gap = np.zeros(int(SWEEP_GAP_SECONDS * rate))
    return np.concatenate([*([gap, one] * SWEEPS), gap]).astype(np.float32)


def echo_test(state: _State) -> Check:
    """Play a sweep and record it: the echo path's delay, and how much of the echo the
    canceller removes, which says whether barge-in will be reliable here."""
    name = "echo path"
    if state.no_sound:
        return Check(name, SKIP, "skipped (--no-sound)")
    if state.sd is None or state.input_device is None or state.output_device is None:
        return Check(name, SKIP, "skipped: no usable input and output device (see above)")
    from voicecoach.voice.echo_canceller import available

    why = available()
    if why is not None:
        return Check(name, WARN, f"no echo canceller, so the microphone is deaf while the coach "
                     f"speaks: {why}", syslibs.apt_install("libspeexdsp.so.1"))
    import numpy as np

    from voicecoach.voice.resample import resample

    sd = state.sd
    rate = LISTEN_RATE
    for candidate in (LISTEN_RATE, 48000, 44100, int(sd.query_devices(state.output_device)["default_samplerate"])):
        if (_rate_supported(sd, "output", state.output_device, candidate)
                and _rate_supported(sd, "input", state.input_device, candidate)):
            rate = candidate
            break
    signal = sweep(rate)
    recorded: list[Any] = []
    error = _in_thread(lambda: recorded.append(sd.playrec(
        signal, samplerate=rate, channels=1, dtype="float32", blocking=True, latency="high",
        device=(state.input_device, state.output_device))), len(signal) / rate + 5)
    if error or not recorded:
        return Check(name, FAIL, f"playing and recording at once failed: {error or 'no audio'}",
                     "check no other program holds the speaker or the microphone")
    ref = signal if rate == LISTEN_RATE else resample(signal, rate, LISTEN_RATE)
    mic = np.asarray(recorded[0], dtype=np.float64).reshape(-1)
    mic = mic if rate == LISTEN_RATE else resample(mic, rate, LISTEN_RATE)
    return judge_echo(ref, mic)


def judge_echo(ref: Any, mic: Any) -> Check:
    """The echo check's verdict on a played sweep (`sweep()`, float, 16 kHz) and its recording.

    Each sweep is aligned on its own delay before cancelling: a device that skips a few
    milliseconds between two sweeps (an underrun) must not be taken for a bad room."""
    import numpy as np

    from voicecoach.voice.barge_in import MARGIN_S, READY_ERLE_DB
    from voicecoach.voice.echo_canceller import EchoCanceller
    from voicecoach.voice.echo_path import MIN_CONFIDENCE, measure_delay

    name = "echo path"
    rate = LISTEN_RATE
    n = min(len(ref), len(mic))
    to16 = lambda x: np.clip(np.round(np.asarray(x[:n]) * 32768), -32768, 32767).astype(np.int16)  # noqa: E731
    ref16, mic16 = to16(ref), to16(mic)
    delay, confidence = measure_delay(ref16, mic16)
    level = _dbfs(float(np.sqrt(np.mean((mic16.astype(np.float64) / 32768) ** 2))))
    data: dict[str, Any] = {"delay_ms": round(delay * 1000, 1), "confidence": round(confidence, 1),
                            "echo_rms_dbfs": round(level, 1)}
    if confidence < MIN_CONFIDENCE:
        return Check(name, WARN, f"the microphone did not hear the speaker's test sweep (echo at "
                     f"{level:.0f} dBFS): barge-in stays off, the coach is deaf while it speaks",
                     "turn the speaker up, or put it nearer the microphone", data)
    canceller = EchoCanceller()
    period = int((SWEEP_GAP_SECONDS + SWEEP_SECONDS) * rate)
    echo = left = 0.0
    for k in range(SWEEPS):
        # The sweep with the silence before it, and as much after as the echo can be late.
        lo, hi = k * period, min(n, (k + 1) * period + int(SWEEP_GAP_SECONDS * rate))
        own, _ = measure_delay(ref16[lo:hi], mic16[lo:hi])
        shift = max(0, int(round((own - MARGIN_S) * rate)))
        length = min(hi - lo, n - shift - lo) // 160 * 160  # whole 10 ms frames
        heard, played = mic16[lo + shift:lo + shift + length], ref16[lo:lo + length]
        out = canceller.process(heard, played)
        if k == SWEEPS - 1:
            echo = float(np.mean(heard.astype(np.float64) ** 2))
            left = float(np.mean(out.astype(np.float64) ** 2))
    canceller.close()
    erle = 10 * math.log10(echo / max(left, 1.0))
    data["erle_db"] = round(erle, 1)
    found = f"delay {delay * 1000:.0f} ms; the canceller removes {erle:.0f} dB of the echo"
    if erle >= ECHO_RELIABLE_DB:
        return Check(name, OK, f"{found}: barge-in (stop, pain, pause... over the coach) will be reliable",
                     data=data)
    if erle >= READY_ERLE_DB:
        return Check(name, WARN, f"{found}: barge-in works but will miss some commands",
                     "move the speaker further from the microphone, or lower its volume", data)
    return Check(name, WARN, f"{found}: too little for barge-in, the coach stays deaf while it speaks",
                 "move the speaker away from the microphone; [audio] barge_in = false turns it off", data)


def check_model(config: Config) -> Check:
    """A vosk model is configured or installed (the bundled engine is the fallback)."""
    name = "vosk model"
    configured = config.speech.model
    engine = config.speech.engine
    if engine in ("whisper", "text"):
        return Check(name, OK, f'not used: [speech] engine = "{engine}"')
    vosk_wanted = engine in ("auto", "vosk")
    if configured is not None and find_model(configured) is None:
        return Check(
            name,
            FAIL if vosk_wanted else WARN,
            f"[speech] model = {configured} is not a vosk model ({model_problem(configured)})",
            "point [speech] model at an unpacked model folder, or leave it empty and run "
            "`voicecoach models download`",
        )
    found = find_model_dir(config)
    if found is not None:
        return Check(name, OK, str(found))
    broken = broken_models(None, config)
    if broken:
        folder, problem = broken[0]
        return Check(name, FAIL if vosk_wanted else WARN, f"the vosk model in {folder} is {problem}",
                     reinstall_hint(folder))
    if engine == "vosk":
        return Check(name, FAIL, f"no vosk model in {models_dir(config)}",
                     "run `voicecoach models download` (or unpack one by hand, see models/README.md)")
    # Optional: without one, auto listens with Whisper (see the speech engine line).
    return Check(name, OK, f"none in {models_dir(config)} (optional: `voicecoach models download` "
                 "adds vosk, which auto would then use first)")


def check_engine(config: Config) -> Check:
    """The configured speech engine starts; report which one, how long it took, and for
    one that cannot start, why and the fix."""
    name = "speech engine"
    if config.speech.engine == "text":
        return Check(name, OK, 'not used: [speech] engine = "text" (typed commands)')
    try:
        from voicecoach.voice.engines import choose
    except Exception as error:  # a missing module or a broken dependency: report, don't crash
        return Check(
            name,
            FAIL,
            f"cannot load the speech engines: {type(error).__name__}: {error}",
            "reinstall voicecoach (`./install.sh`, or `pip install --force-reinstall voicecoach`) "
            "and its dependencies",
        )
    started = time.perf_counter()
    choice = choose(config.speech.engine, model=config.speech.model, config=config, fallback=False)
    seconds = time.perf_counter() - started
    failures = choice.failures
    if choice.recognizer is None:
        _, first = failures[0]
        fix = first.fix or "reinstall voicecoach (`./install.sh`)"
        if config.speech.engine != "auto":
            fix += ', or set [speech] engine = "auto"'
        detail = "; ".join(f"{engine}: {exc.reason}" for engine, exc in failures)
        return Check(name, FAIL, f"engine '{config.speech.engine}' did not start: {detail}", fix)
    engine = getattr(choice.recognizer, "name", choice.engine)
    closer = getattr(choice.recognizer, "close", None)
    if callable(closer):
        closer()
    data = {"engine": engine, "load_seconds": round(seconds, 3)}
    detail = f"{engine} loaded in {seconds:.2f} s"
    if failures:
        # auto fell back: the better engine is broken (loud) or not set up (quiet).
        shown = choice.broken or failures
        why = "; ".join(f"{e} cannot start: {exc.reason}" for e, exc in shown)
        fix = "; ".join(exc.fix for _, exc in shown if exc.fix) or "reinstall voicecoach (`./install.sh`)"
        return Check(name, WARN, f"{detail}; {why}", fix, data)
    return Check(name, OK, detail, data=data)


def run_checks(
    config_path: Path | None = None,
    *,
    no_sound: bool = False,
    on_check: Callable[[Check], None] | None = None,
) -> list[Check]:
    """Run every check in order; `on_check` sees each result as soon as it is known."""
    results: list[Check] = []

    def report(check: Check) -> None:
        results.append(check)
        if on_check:
            on_check(check)

    report(check_python())
    config_check, config, _ = check_config(config_path)
    report(config_check)
    state = _State(config=config, no_sound=no_sound)
    report(check_data_folder(config))
    report(check_history(config))
    report(check_espeak_binary(config))
    report(check_libespeak(config))
    report(check_portaudio(state))
    report(check_device(state, "input"))
    report(check_device(state, "output"))
    report(speaker_test(state))
    report(voice_test(state))
    report(mic_test(state))
    report(echo_test(state))
    report(check_model(config))
    report(check_engine(config))
    return results


def _print_check(check: Check, out: TextIO) -> None:
    print(f"{_LABEL[check.status]:<5} {check.name:<17} {check.detail}", file=out)
    if check.fix and check.status in (WARN, FAIL):
        print(f"{'':<5} {'':<17} fix: {check.fix}", file=out)
    out.flush()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `voicecoach doctor`."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file to check (default: $VOICECOACH_CONFIG or "
        "~/.config/voicecoach/config.toml)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-sound", action="store_true", help="skip the speaker and microphone tests"
    )


def run(args: argparse.Namespace) -> int:
    """`voicecoach doctor`: run the checks; 1 when something needed is missing."""
    as_json = getattr(args, "json", False)
    out = sys.stdout
    results = run_checks(
        getattr(args, "config", None),
        no_sound=getattr(args, "no_sound", False),
        on_check=None if as_json else lambda check: _print_check(check, out),
    )
    failed = [c for c in results if c.status == FAIL]
    warned = [c for c in results if c.status == WARN]
    if as_json:
        json.dump({"ok": not failed, "checks": [asdict(c) for c in results]}, out)
        out.write("\n")
    elif failed:
        names = ", ".join(c.name for c in failed)
        print(f"\n{len(failed)} problem(s) to fix: {names}", file=out)
    else:
        print(f"\neverything needed is in place ({len(warned)} warning(s))", file=out)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Run `voicecoach doctor` on its own (`python -m voicecoach.app.doctor`)."""
    parser = argparse.ArgumentParser(prog="voicecoach doctor", description=run.__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
