"""Specification of the configuration file: layering, sources, documentation and errors."""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
from pathlib import Path

import pytest

from voicecoach import config as cfg
from voicecoach.config import Config, ConfigError, format_config, load_config

pytestmark = pytest.mark.usefixtures("private_home")


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_default_file_means_defaults_and_no_error(private_home: Path) -> None:
    loaded = load_config()
    assert loaded.config == Config()
    assert not loaded.file_found
    assert loaded.path == private_home / ".config/voicecoach/config.toml"
    assert set(loaded.sources.values()) == {"default"}
    assert loaded.config.data.folder == private_home / ".local/share/voicecoach"


def test_defaults_are_the_documented_pi_friendly_values() -> None:
    config = Config()
    assert config.audio.input_device is None and config.audio.output_device is None
    assert config.audio.gate_tail_seconds == 0.35
    assert (config.speech.engine, config.speech.speaker, config.speech.voice) == (
        "auto", "auto", "en-us",
    )  # fmt: skip
    assert (config.speech.rate, config.speech.volume, config.speech.model) == (165, 1.0, None)
    coach = config.coach
    assert (coach.rest_seconds, coach.switch_seconds, coach.ready_seconds) == (30, 10, 15)
    assert (coach.tempo_up, coach.tempo_top, coach.tempo_down, coach.tempo_bottom) == (
        2.0, 1.0, 2.0, 0.5,
    )  # fmt: skip
    assert coach.pain_checkins is True


def test_every_setting_is_documented_with_its_default() -> None:
    for section, cls in cfg.SECTIONS.items():
        docs = cfg.field_docs(cls)
        for field in dataclasses.fields(cls):
            assert field.name in docs, f"[{section}] {field.name} has no docstring"
            assert "Default:" in docs[field.name], f"[{section}] {field.name}: no default"


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().speech.rate = 200  # type: ignore[misc]


def test_file_values_are_typed_and_their_line_is_remembered(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# my Pi\n"
        "[audio]\n"
        'input_device = "USB"\n'
        "output_device = 2\n"
        "\n"
        "[speech]\n"
        'engine = "vosk"\n'
        'model = "models/small"\n'
        "rate = 150\n"
        "\n"
        "[coach]\n"
        "tempo_up = 3\n"
        "pain_checkins = false\n",
    )
    loaded = load_config(path)
    assert loaded.config.audio.input_device == "USB"
    assert loaded.config.audio.output_device == 2
    assert loaded.config.speech.engine == "vosk"
    assert loaded.config.speech.model == tmp_path / "models/small"  # relative to the file
    assert loaded.config.speech.rate == 150
    assert loaded.config.coach.tempo_up == 3.0 and isinstance(loaded.config.coach.tempo_up, float)
    assert loaded.config.coach.pain_checkins is False
    assert loaded.sources["audio.input_device"] == f"file {path}:3"
    assert loaded.sources["speech.rate"] == f"file {path}:9"
    assert loaded.sources["coach.pain_checkins"] == f"file {path}:13"
    assert loaded.sources["speech.voice"] == "default"


def test_empty_or_default_device_means_system_default(tmp_path: Path) -> None:
    path = write(tmp_path, '[audio]\ninput_device = ""\noutput_device = "default"\n')
    audio = load_config(path).config.audio
    assert audio.input_device is None and audio.output_device is None


def test_command_line_beats_environment_beats_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[speech]\nengine = "vosk"\nrate = 150\nvoice = "en-gb"\n')
    monkeypatch.setenv("VOICECOACH_SPEECH_ENGINE", "sphinx")
    monkeypatch.setenv("VOICECOACH_SPEECH_RATE", "170")
    loaded = load_config(path, {"speech.engine": "text", "speech.voice": None})
    assert loaded.config.speech.engine == "text"
    assert loaded.sources["speech.engine"] == "command line"
    assert loaded.config.speech.rate == 170
    assert loaded.sources["speech.rate"] == "environment"
    assert loaded.config.speech.voice == "en-gb"  # None overrides are ignored
    assert loaded.sources["speech.voice"].startswith("file ")


def test_environment_text_is_converted_to_the_setting_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICECOACH_COACH_PAIN_CHECKINS", "no")
    monkeypatch.setenv("VOICECOACH_AUDIO_INPUT_DEVICE", "3")
    monkeypatch.setenv("VOICECOACH_SPEECH_VOLUME", "0.5")
    config = load_config().config
    assert config.coach.pain_checkins is False
    assert config.audio.input_device == 3
    assert config.speech.volume == 0.5


def test_config_environment_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[coach]\nrest_seconds = 45\n", "elsewhere.toml")
    monkeypatch.setenv("VOICECOACH_CONFIG", str(path))
    loaded = load_config()
    assert loaded.path == path and loaded.config.coach.rest_seconds == 45


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "typo.toml")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[speach]\nengine = "vosk"\n', 1, "unknown section [speach]; did you mean 'speech'?"),
        ('[speech]\n\nengin = "vosk"\n', 3, "'engin' in [speech]; did you mean 'engine'?"),
        ("[audio]\nrate = 165\n", 2, "'rate' belongs in [speech]"),
        ('engine = "vosk"\n', 1, "'engine' is outside any section; put it under [speech]"),
        ('[speech]\nengine = "vsok"\n', 2, "did you mean 'vosk'?"),
        ("[speech]\nvolume = 1.5\n", 2, "speech.volume: 1.5 is out of range (0 to 1)"),
        ("[coach]\nrest_seconds = -5\n", 2, "out of range"),
        ('[coach]\nrest_seconds = "thirty"\n', 2, "expected a number"),
        ("[coach]\nrest_seconds = 2.5\n", 2, "expected a whole number"),
        ("[coach]\npain_checkins = 1\n", 2, "expected true or false"),
        ("[audio]\ninput_device = true\n", 2, "expected a device name or index"),
        ("[audio]\ninput_device = -1\n", 2, "cannot be negative"),
        ('[speech]\nspeaker = "festival"\n', 2, "is not one of"),
        ("[speech]\nrate =\n", 2, "invalid TOML"),
        ('[data]\nfolder = ""\n', 2, "cannot be empty"),
    ],
)  # fmt: skip
def test_mistakes_are_reported_with_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_bad_values_from_environment_and_command_line_say_where_they_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICECOACH_SPEECH_RATE", "fast")
    with pytest.raises(ConfigError, match="^environment VOICECOACH_SPEECH_RATE: expected"):
        load_config()
    monkeypatch.delenv("VOICECOACH_SPEECH_RATE")
    with pytest.raises(ConfigError, match="^command line: unknown setting 'speech.engin'"):
        load_config(None, {"speech.engin": "vosk"})
    with pytest.raises(ConfigError, match="^command line: speech.engine: "):
        load_config(None, {"speech.engine": "deepspeech"})


def test_format_config_shows_every_value_and_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, '[speech]\nengine = "sphinx"\n')
    text = format_config(load_config(path, {"coach.rest_seconds": 20}))
    assert f'engine = "sphinx"  # from file {path}:2' in text
    assert "rest_seconds = 20  # from command line" in text
    assert "gate_tail_seconds = 0.35  # from default" in text
    assert 'input_device = ""  # from default  (system default)' in text
    for section in cfg.SECTIONS:
        assert f"[{section}]" in text


def test_printed_configuration_reads_back_as_the_same_configuration(tmp_path: Path) -> None:
    loaded = load_config(
        None,
        {"audio.input_device": "USB", "speech.model": str(tmp_path / "m"), "coach.tempo_top": 1.5},
    )
    text = format_config(loaded, docs=True)
    tomllib.loads(text)  # valid TOML, comments and all
    copy = write(tmp_path, text, "copy.toml")
    assert load_config(copy).config == loaded.config


def test_config_command_prints_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    cfg.add_arguments(parser)
    bad = write(tmp_path, "[coach]\nrest = 3\n")
    assert cfg.run(parser.parse_args(["--config", str(bad)])) == 1
    captured = capsys.readouterr()
    assert f"{bad}:2: unknown setting 'rest'" in captured.err
    assert "Traceback" not in captured.err
    good = write(tmp_path, "[coach]\nrest_seconds = 3\n", "good.toml")
    assert cfg.run(parser.parse_args(["--config", str(good), "--docs"])) == 0
    assert "Rest between sets (seconds" in capsys.readouterr().out


def test_subcommand_config_option_does_not_reset_a_global_one(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path)
    sub = parser.add_subparsers(dest="command")
    cfg.add_arguments(sub.add_parser("config"))
    args = parser.parse_args(["--config", str(tmp_path / "x.toml"), "config"])
    assert args.config == tmp_path / "x.toml"
