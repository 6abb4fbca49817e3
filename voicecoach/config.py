"""The one configuration file: typed, documented settings and where each value came from.

Settings live in small frozen dataclasses, one per TOML section, with a docstring under
every field giving its meaning, unit and default.  `load_config` layers defaults, the
TOML file, `VOICECOACH_<SECTION>_<KEY>` environment variables and command-line
overrides, and remembers the source of each value so `voicecoach config` can show it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from voicecoach import paths
from voicecoach.core.brief import CHOICES as BRIEF_CHOICES
from voicecoach.voice.engine_names import ENGINE_CHOICES as ENGINES

SPEAKERS = ("auto", "piper", "pyttsx3", "espeak-ng", "print")

# A device is "the system default", a name substring, or a PortAudio index.
Device = str | int | None


@dataclass(frozen=True)
class AudioSettings:
    """`[audio]`: which sound devices to use and how the microphone gate behaves."""

    input_device: Device = None
    """Microphone: a name substring (case-insensitive) or a device index from
    `voicecoach devices`; empty or "default" means the system default. Default: system default."""

    output_device: Device = None
    """Speaker: a name substring or a device index, as for `input_device`.
    Default: system default."""

    gate_tail_seconds: float = 0.35
    """How long the microphone stays deaf after the coach stops speaking, so the room's
    echo is not heard as a command (seconds, 0-5). Default: 0.35."""

    barge_in: bool = False
    """Hear stop, pain, pause, next, repeat and skip while the coach is talking, by
    cancelling its voice from the microphone (not yet reliable: see the README). false keeps
    the microphone deaf while the coach speaks (it is also deaf until the echo from speaker
    to microphone has been measured, and with an engine other than whisper). Default: false."""


@dataclass(frozen=True)
class SpeechSettings:
    """`[speech]`: how the coach listens and how it talks."""

    engine: str = "auto"
    """Speech recognizer: "auto" (vosk when an English model is installed, else Whisper
    tiny.en, installed by default, else the bundled PocketSphinx engine; one that cannot
    start falls back to the next, saying why), "vosk", "whisper", "sphinx" or "text"
    (typed commands). Default: "auto"."""

    model: Path | None = None
    """Vosk model folder (or, with the whisper engine, an English CTranslate2 Whisper model
    folder); a relative path is relative to this file's folder. Empty means search the
    models folder (see `voicecoach models path`), or the installed Whisper tiny.en.
    Default: empty."""

    speaker: str = "auto"
    """How speech is rendered: "auto" (Piper when it is installed and its voice loads, else
    pyttsx3), "piper" (a natural neural voice; falls back to pyttsx3, saying why),
    "pyttsx3" (libespeak-ng), "espeak-ng" (the command) or "print" (text only, no sound).
    Default: "auto"."""

    voice: str = "en-us"
    """The voice: a Piper voice name from `voicecoach voices` (e.g. "en_US-joe-medium") for
    Piper, where anything else means the bundled voice; an espeak-ng voice name from
    `espeak-ng --voices` for pyttsx3 and espeak-ng. Default: "en-us"."""

    rate: int = 165
    """Speaking rate (words per minute, 80-450). Default: 165."""

    volume: float = 1.0
    """Speech volume relative to full scale (0.0-1.0). Default: 1.0."""


@dataclass(frozen=True)
class CoachSettings:
    """`[coach]`: timing defaults for routines that do not set their own."""

    rest_seconds: int = 30
    """Rest between sets (seconds, 0-600). Default: 30."""

    switch_seconds: int = 10
    """Time to change sides (seconds, 0-120). Default: 10."""

    ready_seconds: int = 15
    """Get-into-position countdown before an exercise starts (seconds, 0-120). Default: 15."""

    tempo_up: float = 2.0
    """Lifting phase of one rep (seconds, 0.1-20). Default: 2.0."""

    tempo_top: float = 1.0
    """Pause at the top of a rep (seconds, 0-20). Default: 1.0."""

    tempo_down: float = 2.0
    """Lowering phase of one rep (seconds, 0.1-20). Default: 2.0."""

    tempo_bottom: float = 0.5
    """Pause at the bottom of a rep (seconds, 0-20). Default: 0.5."""

    pain_checkins: bool = True
    """Ask for knee pain (0-10) before and after each session, and let the scores guide the
    targets (see [pain]) (true/false). Default: true."""

    brief: str = "auto"
    """A short start for a routine you know: a brief welcome, the safety lines, and each
    exercise's name and first step ("repeat" then reads all its steps). "auto" once the history
    has a finished or partly done session of the routine, "always" or "never". Default: auto."""


@dataclass(frozen=True)
class DataSettings:
    """`[data]`: where voicecoach keeps its files."""

    folder: Path = field(default_factory=paths.default_data_dir)
    """Folder for session history and downloaded models; a relative path is relative to
    this file's folder. Default: ~/.local/share/voicecoach ($XDG_DATA_HOME/voicecoach)."""


@dataclass(frozen=True)
class PainSettings:
    """`[pain]`: the limits of the pain-monitoring model (0-10 scale); see the README.  A
    routine's `pain_limits` replace these for that routine."""

    stop_level: int = 7
    """Knee pain before the session at or above this: the coach advises not to train today
    (you can still say "start anyway"). 1-10, above caution_level. Default: 7."""

    caution_level: int = 5
    """Pain may reach this and no more: above it before the session the targets are reduced;
    at or above it during an exercise the exercise is skipped; above it in a session, the
    next one steps down. 0-10. Default: 5."""

    rise_limit: int = 2
    """A rise in pain this large (after the session over before it, or from one session to
    the next) steps the next session down, and any rise holds back a step up. 1-10. Default: 2."""


@dataclass(frozen=True)
class Config:
    """All settings, one attribute per TOML section."""

    audio: AudioSettings = field(default_factory=AudioSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    coach: CoachSettings = field(default_factory=CoachSettings)
    data: DataSettings = field(default_factory=DataSettings)
    pain: PainSettings = field(default_factory=PainSettings)


SECTIONS: dict[str, type] = {
    "audio": AudioSettings,
    "speech": SpeechSettings,
    "coach": CoachSettings,
    "data": DataSettings,
    "pain": PainSettings,
}

# Inclusive numeric ranges; values outside are errors rather than surprises at run time.
_RANGES: dict[str, tuple[float, float]] = {
    "audio.gate_tail_seconds": (0.0, 5.0),
    "speech.rate": (80, 450),
    "speech.volume": (0.0, 1.0),
    "coach.rest_seconds": (0, 600),
    "coach.switch_seconds": (0, 120),
    "coach.ready_seconds": (0, 120),
    "coach.tempo_up": (0.1, 20.0),
    "coach.tempo_top": (0.0, 20.0),
    "coach.tempo_down": (0.1, 20.0),
    "coach.tempo_bottom": (0.0, 20.0),
    "pain.stop_level": (1, 10),
    "pain.caution_level": (0, 10),
    "pain.rise_limit": (1, 10),
}
_CHOICES: dict[str, tuple[str, ...]] = {"speech.engine": ENGINES, "speech.speaker": SPEAKERS,
                                         "coach.brief": BRIEF_CHOICES}
_PATH_KEYS = {"speech.model", "data.folder"}
_DEVICE_KEYS = {"audio.input_device", "audio.output_device"}


class ConfigError(Exception):
    """A setting a person got wrong; the text reads `FILE:LINE: message`."""


@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration and the source of every value."""

    config: Config
    """The settings in effect."""

    sources: dict[str, str]
    """"section.key" -> "default", "file PATH:LINE", "environment" or "command line"."""

    path: Path
    """The config file that was (or would have been) read."""

    file_found: bool
    """False when the file does not exist and only defaults apply."""


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each field of a settings dataclass.

    Python keeps no attribute docstrings at run time, so read them from the source: that
    keeps the documentation in one place, next to the field, as in the file above.
    """
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError, SyntaxError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _coerce(key: str, value: Any, from_text: bool, base: Path | None) -> Any:
    """Check and convert one value for `key` ("section.key"); raise ValueError with a
    message a person understands.  `from_text` relaxes types for environment and
    command-line strings, where everything arrives as text."""
    section, name = key.split(".")
    default = getattr(SECTIONS[section](), name)
    if key in _DEVICE_KEYS:
        if isinstance(value, bool):
            raise ValueError("expected a device name or index, not true/false")
        if isinstance(value, str) and from_text and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int):
            if value < 0:
                raise ValueError(f"a device index cannot be negative, got {value}")
            return value
        if isinstance(value, str):
            text = value.strip()
            return None if text.lower() in ("", "default") else text
        raise ValueError(f"expected a device name or index, got {type(value).__name__}")
    if key in _PATH_KEYS:
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected a path as a string, got {type(value).__name__}")
        if not value.strip():
            if key == "data.folder":
                raise ValueError("the data folder cannot be empty")
            return None
        if "\x00" in value:
            raise ValueError("a path cannot hold a NUL character")
        path = Path(value.strip()).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return path
    if isinstance(default, bool):
        if from_text and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if isinstance(default, int | float):
        if from_text and isinstance(value, str):
            try:
                value = float(value) if isinstance(default, float) else int(value)
            except ValueError:
                kind = "a number" if isinstance(default, float) else "a whole number"
                raise ValueError(f"expected {kind}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            if not float(value).is_integer():
                raise ValueError(f"expected a whole number, got {value!r}")
            value = int(value)
        value = float(value) if isinstance(default, float) else value
        low, high = _RANGES.get(key, (float("-inf"), float("inf")))
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low:g} to {high:g})")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    value = value.strip()
    choices = _CHOICES.get(key)
    if choices and value not in choices:
        allowed = ", ".join(f'"{c}"' for c in choices)
        raise ValueError(f'"{value}" is not one of {allowed}{_did_you_mean(value, list(choices))}')
    if not value:
        raise ValueError("cannot be empty")
    return value


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _line_index(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Map "section" and "section.key" to their line numbers by scanning the raw text.

    tomllib returns values without positions, so this finds where a key was written.
    It understands plain `[table]` headers, `key = ...` lines and dotted keys, which is
    all a config file of simple values needs; anything odder just gets no line number.
    """
    sections: dict[str, int] = {}
    keys: dict[str, int] = {}
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            current = header.group(1).replace('"', "").replace("'", "").strip()
            sections.setdefault(current, number)
            continue
        key = _KEY.match(line)
        if key:
            name = key.group(1).replace('"', "").replace("'", "").replace(" ", "")
            full = f"{current}.{name}" if current else name
            keys.setdefault(full, number)
            if "." in name and not current:
                sections.setdefault(name.split(".")[0], number)
    return sections, keys


def _file_settings(path: Path) -> dict[str, tuple[Any, str]]:
    """Read the TOML file into {"section.key": (value, "file PATH:LINE")}."""
    try:
        # utf-8-sig: a byte-order mark some editors put first is not part of the TOML.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        data = tomllib.loads(text)
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigError(f"{path}: invalid TOML: values nested too deeply") from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        if found:
            message = message[: found.start()].strip()
            raise ConfigError(f"{path}:{found.group(1)}: invalid TOML: {message}") from None
        raise ConfigError(f"{path}: invalid TOML: {message}") from None

    section_lines, key_lines = _line_index(text)
    result: dict[str, tuple[Any, str]] = {}
    for section, table in data.items():
        line = section_lines.get(section) or key_lines.get(section)
        where = f"{path}:{line}" if line else str(path)
        if section not in SECTIONS:
            if not isinstance(table, dict):
                owners = [s for s, c in SECTIONS.items() if section in _names(c)]
                hint = f"; put it under [{owners[0]}]" if owners else ""
                raise ConfigError(
                    f"{where}: '{section}' is outside any section{hint}"
                    f"{'' if hint else _did_you_mean(section, list(SECTIONS))}"
                )
            raise ConfigError(
                f"{where}: unknown section [{section}]{_did_you_mean(section, list(SECTIONS))}"
                f" (known: {', '.join(SECTIONS)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: '{section}' must be a section like [{section}]")
        names = _names(SECTIONS[section])
        for key, value in table.items():
            full = f"{section}.{key}"
            line = key_lines.get(full) or section_lines.get(section)
            where = f"{path}:{line}" if line else str(path)
            if key not in names:
                elsewhere = [s for s, c in SECTIONS.items() if key in _names(c)]
                hint = (
                    f"; '{key}' belongs in [{elsewhere[0]}]"
                    if elsewhere
                    else _did_you_mean(key, names)
                )
                raise ConfigError(f"{where}: unknown setting '{key}' in [{section}]{hint}")
            try:
                result[full] = (_coerce(full, value, False, path.parent), f"file {where}")
            except ValueError as error:
                raise ConfigError(f"{where}: {full}: {error}") from None
    return result


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _all_keys() -> list[str]:
    return [f"{s}.{n}" for s, c in SECTIONS.items() for n in _names(c)]


def resolve_config_path(path: Path | str | None = None) -> tuple[Path, bool]:
    """The config file to read and whether it was named explicitly.

    `path` (from `--config`) wins, then `$VOICECOACH_CONFIG`, then the default location.
    """
    return paths.config_path(path)


def load_config(path: Path | None = None, overrides: dict | None = None) -> LoadedConfig:
    """Build the effective configuration.

    Layers, lowest first: defaults, the TOML file (`path`, else `$VOICECOACH_CONFIG`, else
    ~/.config/voicecoach/config.toml; a missing default file just means defaults),
    `VOICECOACH_<SECTION>_<KEY>` environment variables, then `overrides`
    ({"section.key": value}, from the command line; None values are ignored so argparse
    defaults can be passed straight through).  Raises ConfigError.
    """
    config_path, explicit = resolve_config_path(path)
    values: dict[str, tuple[Any, str]] = {}
    found = config_path.is_file()
    if not found and explicit and config_path.is_dir():
        raise ConfigError(f"{config_path}: is a folder, not a config file")
    if found:
        values.update(_file_settings(config_path))
    elif explicit:
        # A file the user named must exist: silently using defaults would hide a typo.
        raise ConfigError(f"{config_path}: config file not found")

    for key in _all_keys():
        variable = "VOICECOACH_" + key.replace(".", "_").upper()
        if variable in os.environ:
            try:
                values[key] = (_coerce(key, os.environ[variable], True, None), "environment")
            except ValueError as error:
                raise ConfigError(f"environment {variable}: {error}") from None

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _all_keys():
            raise ConfigError(
                f"command line: unknown setting '{key}'{_did_you_mean(key, _all_keys())}"
            )
        try:
            values[key] = (_coerce(key, value, True, None), "command line")
        except ValueError as error:
            raise ConfigError(f"command line: {key}: {error}") from None

    sections = {}
    sources = {}
    for section, cls in SECTIONS.items():
        kwargs = {}
        for name in _names(cls):
            key = f"{section}.{name}"
            if key in values:
                kwargs[name], sources[key] = values[key]
            else:
                sources[key] = "default"
        sections[section] = cls(**kwargs)
    pain = sections["pain"]
    if pain.caution_level >= pain.stop_level:
        key = "pain.caution_level" if sources["pain.caution_level"] != "default" else "pain.stop_level"
        where = sources[key]
        raise ConfigError(f"{where.removeprefix('file ')}: pain.caution_level ({pain.caution_level}) must be below "
                          f"pain.stop_level ({pain.stop_level})")
    return LoadedConfig(Config(**sections), sources, config_path, found)


def _toml_value(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def format_config(loaded: LoadedConfig, *, docs: bool = False) -> str:
    """The effective configuration as TOML, each value commented with where it came from.

    With `docs`, each setting is preceded by its documentation, which makes the output a
    starting point for a config file of one's own.
    """
    state = "" if loaded.file_found else "  (not found: defaults apply)"
    lines = [f"# config file: {loaded.path}{state}"]
    for section, cls in SECTIONS.items():
        lines += ["", f"[{section}]"]
        documentation = field_docs(cls)
        for name in _names(cls):
            key = f"{section}.{name}"
            if docs and name in documentation:
                lines.append(f"# {documentation[name]}")
            value = getattr(getattr(loaded.config, section), name)
            shown = _toml_value(value)
            note = "  (system default)" if value is None and key in _DEVICE_KEYS else ""
            lines.append(f"{name} = {shown}  # from {loaded.sources[key]}{note}")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `voicecoach config`."""
    # SUPPRESS keeps a top-level --config, if the main parser has one, from being reset.
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: $VOICECOACH_CONFIG or ~/.config/voicecoach/config.toml)",
    )
    parser.add_argument(
        "--docs", action="store_true", help="explain every setting (unit and default)"
    )


def run(args: argparse.Namespace) -> int:
    """`voicecoach config`: print the effective configuration; 1 if it is invalid."""
    try:
        loaded = load_config(getattr(args, "config", None))
    except ConfigError as error:
        print(f"voicecoach: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(format_config(loaded, docs=getattr(args, "docs", False)))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `voicecoach config` on its own (`python -m voicecoach.config`)."""
    parser = argparse.ArgumentParser(prog="voicecoach config", description=run.__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
