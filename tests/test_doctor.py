"""Specification of `voicecoach doctor`: what it reports, with which fix, and its exit code.

The whole-command tests run the doctor in a child process, because PortAudio reads the
list of sound devices once per process and each test needs its own sound setup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicecoach.app import doctor
from voicecoach.config import Config, load_config

pytestmark = pytest.mark.usefixtures("private_home")


def run_doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "voicecoach.app.doctor", "--json", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    return result.returncode, {c["name"]: c for c in report["checks"]} | {"ok": report["ok"]}


def no_sound_card_env(tmp_path: Path) -> dict[str, str]:
    """Point PulseAudio clients at a socket that does not exist: no audio devices at all,
    unless the machine has a sound card of its own (then the test is skipped)."""
    env = os.environ | {"PULSE_SERVER": f"unix:{tmp_path}/no-such-socket"}
    probe = subprocess.run(
        [sys.executable, "-c", "import sounddevice; print(len(sounddevice.query_devices()))"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    if probe.returncode == 0 and probe.stdout.strip() != "0":
        pytest.skip("this machine has sound hardware, so 'no devices' cannot be arranged")
    return env


def test_without_sound_devices_the_audio_checks_fail_with_a_fix_and_exit_1(
    tmp_path: Path,
) -> None:
    code, checks = run_doctor(no_sound_card_env(tmp_path))
    assert code == 1 and checks["ok"] is False
    for name in ("input device", "output device"):
        assert checks[name]["status"] == "fail"
        assert "no " in checks[name]["detail"] and "device" in checks[name]["detail"]
        assert "[audio]" in checks[name]["fix"]
    assert checks["input device"]["fix"].startswith("plug in a USB microphone")
    assert checks["speaker test"]["status"] == "skip"
    assert checks["microphone level"]["status"] == "skip"
    assert checks["python"]["status"] == "ok"
    assert checks["config file"]["status"] == "ok"
    assert checks["data folder"]["status"] == "ok"


def test_text_report_has_one_line_per_check_and_a_fix_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voicecoach.app.doctor", "--no-sound"],
        capture_output=True, text=True, env=no_sound_card_env(tmp_path), timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("FAIL  input device") for line in lines)
    assert any(line.startswith("ok    python") for line in lines)
    assert any(line.startswith("skip  speaker test      skipped (--no-sound)") for line in lines)
    assert any(line.strip().startswith("fix: plug in a USB microphone") for line in lines)
    assert "problem(s) to fix: " in lines[-1] and "input device" in lines[-1]


def test_config_check_reports_the_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[speech]\nengine = "vsok"\n')
    check, config, valid = doctor.check_config(bad)
    assert check.status == doctor.FAIL and not valid
    assert check.detail.startswith(f"{bad}:2: ") and "did you mean 'vosk'" in check.detail
    assert "voicecoach config --docs" in check.fix
    assert config == Config()  # the other checks go on with defaults
    bad.write_text('[speech]\nengine = "vosk"\n')
    check, config, valid = doctor.check_config(bad)
    assert check.status == doctor.OK and valid and config.speech.engine == "vosk"


def test_missing_default_config_is_fine(private_home: Path) -> None:
    check, _, valid = doctor.check_config(None)
    assert check.status == doctor.OK and valid and "using defaults" in check.detail


def test_data_folder_must_be_writable(tmp_path: Path) -> None:
    good = load_config(None, {"data.folder": str(tmp_path / "new" / "data")}).config
    assert doctor.check_data_folder(good).status == doctor.OK
    assert (tmp_path / "new" / "data").is_dir()
    assert list((tmp_path / "new" / "data").iterdir()) == []  # the probe file is gone
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bad = load_config(None, {"data.folder": str(blocker / "data")}).config
    check = doctor.check_data_folder(bad)
    assert check.status == doctor.FAIL and "not writable" in check.detail
    assert "[data] folder" in check.fix


def test_a_configured_model_that_is_not_a_model_fails(tmp_path: Path) -> None:
    config = load_config(None, {"speech.model": str(tmp_path)}).config
    check = doctor.check_model(config)
    assert check.status == doctor.FAIL and "not a vosk model" in check.detail
    models = tmp_path / "models"
    os.environ["VOICECOACH_MODELS"] = str(models)
    try:
        check = doctor.check_model(Config())
        # Without a vosk model auto listens with Whisper: nothing is wrong, the option is named.
        assert check.status == doctor.OK and "optional" in check.detail
        assert "voicecoach models download" in check.detail
        vosk_only = load_config(None, {"speech.engine": "vosk"}).config
        assert doctor.check_model(vosk_only).status == doctor.FAIL
    finally:
        del os.environ["VOICECOACH_MODELS"]


def test_engine_check_reports_an_engine_module_that_does_not_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "voicecoach.voice.engines", None)
    check = doctor.check_engine(Config())
    assert check.status == doctor.FAIL and "cannot load the speech engines" in check.detail


def test_engine_check_names_the_engine_and_its_load_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicecoach.voice import engines

    calls: list[tuple[str, object]] = []
    closed: list[bool] = []

    class FakeRecognizer:
        name = "sphinx"

        def close(self) -> None:
            closed.append(True)

    def choose(engine: str, *, model: object = None, **_kwargs: object) -> engines.Choice:
        calls.append((engine, model))
        missing = engines.EngineUnavailable("no vosk model found in /models",
                                            "run `voicecoach models download`", missing=True)
        return engines.Choice(FakeRecognizer(), "sphinx", engines.Request(), [("vosk", missing)])

    monkeypatch.setattr(engines, "choose", choose)
    check = doctor.check_engine(Config())
    assert calls == [("auto", None)] and closed == [True]
    assert check.status == doctor.WARN
    assert check.detail.startswith("sphinx loaded in ") and "no vosk model found" in check.detail
    assert check.fix == "run `voicecoach models download`"
    assert check.data["engine"] == "sphinx" and check.data["load_seconds"] >= 0


class FakeSoundDevice(types.SimpleNamespace):
    """Just enough of sounddevice for the level test: one microphone that 'records' a signal."""

    def __init__(self, signal: np.ndarray) -> None:
        super().__init__(default=types.SimpleNamespace(device=[0, 0]))
        self.signal = signal

    def query_devices(self, index: int | None = None) -> Any:
        info = {"name": "fake mic", "max_input_channels": 1, "max_output_channels": 1,
                "default_samplerate": 16000.0}  # fmt: skip
        return info if index is not None else [info]

    def check_input_settings(self, **_: object) -> None:
        pass

    def rec(self, frames: int, **_: object) -> np.ndarray:
        return np.resize(self.signal, frames).reshape(-1, 1).astype(np.float32)


@pytest.mark.parametrize(
    ("signal", "status", "words"),
    [
        (np.zeros(100), doctor.WARN, "silent"),
        (np.full(100, 0.0001), doctor.WARN, "silent"),
        (np.sin(np.arange(1600) / 3) * 1.0, doctor.WARN, "clipping"),
        (np.sin(np.arange(1600) / 3) * 0.1, doctor.OK, "RMS -23.0 dBFS, peak -20.0 dBFS"),
    ],
)
def test_microphone_level_warns_on_silence_and_clipping(
    signal: np.ndarray, status: str, words: str
) -> None:
    state = doctor._State(config=Config(), no_sound=False, sd=FakeSoundDevice(signal))  # type: ignore[arg-type]
    state.input_device = 0
    check = doctor.mic_test(state)
    assert check.status == status and words in check.detail
    if status == doctor.WARN:
        assert "alsamixer" in check.fix


def test_espeak_wav_with_an_unfinished_header_is_read_to_its_end() -> None:
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes(b"\x01\x00" * 100)
    blob = bytearray(buffer.getvalue())
    blob[40:44] = (0x7FFFFFFF).to_bytes(4, "little")  # what a non-seekable stdout leaves
    rate, channels, frames = doctor._parse_wav(bytes(blob))
    assert (rate, channels, len(frames)) == (22050, 1, 200)


def _room_env(room: Any) -> dict[str, str]:
    """Client environment for the shared `audio_room` fixture, whatever shape it has."""
    for attribute in ("env", "environ", "environment"):
        value = room.get(attribute) if isinstance(room, dict) else getattr(room, attribute, None)
        if isinstance(value, dict):
            return os.environ | value
    if isinstance(room, dict) and "PULSE_SERVER" in room:
        return os.environ | room
    server = getattr(room, "pulse_server", None) or getattr(room, "server", None)
    if server:
        return os.environ | {"PULSE_SERVER": str(server)}
    return dict(os.environ)  # the fixture exported PULSE_SERVER itself


@pytest.mark.slow  # the PulseAudio room
def test_in_the_virtual_room_devices_speaker_and_microphone_are_checked(
    request: pytest.FixtureRequest,
) -> None:
    try:
        room = request.getfixturevalue("audio_room")
    except pytest.FixtureLookupError:
        pytest.skip("no audio_room fixture in tests/conftest.py")
    env = _room_env(room)
    if "PULSE_SERVER" not in env:
        pytest.skip("audio_room gave no PULSE_SERVER")
    _, checks = run_doctor(env)
    assert checks["input device"]["status"] == "ok", checks["input device"]
    assert checks["output device"]["status"] == "ok", checks["output device"]
    assert checks["speaker test"]["status"] == "ok", checks["speaker test"]
    assert checks["speaker test"]["data"]["seconds"] > 1
    # The default speaker (Piper's bundled voice) says a sentence too.
    voice = checks["voice test"]
    assert voice["status"] == "ok" and "said a sentence with piper" in voice["detail"], voice
    # Nothing plays into the room while the microphone listens: the doctor must notice.
    level = checks["microphone level"]
    assert level["status"] == "warn" and "silent" in level["detail"], level
    assert level["data"]["rms_dbfs"] < doctor.SILENT_DBFS
    # The transparent room's speaker is its microphone: the sweep finds the buffers' delay.
    echo = checks["echo path"]
    assert echo["status"] in ("ok", "warn") and "delay" in echo["detail"], echo
    assert 0 <= echo["data"]["delay_ms"] <= 400
    print(f"\nroom echo path: {echo['detail']}")


def test_the_echo_check_measures_the_delay_and_what_the_canceller_leaves() -> None:
    import numpy as np
    from room_paths import COACH, convolve

    from voicecoach.voice.barge_in import READY_ERLE_DB
    from voicecoach.voice.echo_canceller import available

    if available() is not None:
        pytest.skip(str(available()))
    signal = doctor.sweep()
    heard = convolve(signal.astype(np.float64), COACH.impulse_response())[:len(signal)]
    heard += np.random.default_rng(0).standard_normal(len(heard)) * 1e-4
    check = doctor.judge_echo(signal, heard)
    # The room's speaker a metre away: barge-in works (reliable needs a quieter echo).
    assert check.status in (doctor.OK, doctor.WARN) and "barge-in" in check.detail, check
    assert abs(check.data["delay_ms"] - COACH.delay_s * 1000) < 2
    assert check.data["erle_db"] >= READY_ERLE_DB, check
    quieter = doctor.judge_echo(signal, heard * 0.1 + np.random.default_rng(2).standard_normal(len(heard)) * 1e-5)
    assert quieter.data["erle_db"] > 10
    deaf = doctor.judge_echo(signal, np.random.default_rng(1).standard_normal(len(signal)) * 1e-4)
    assert deaf.status == doctor.WARN and "did not hear" in deaf.detail
