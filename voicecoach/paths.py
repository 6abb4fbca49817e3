"""Where voicecoach keeps things: its config file, its data folder and its models folder.

The one place that reads `$VOICECOACH_CONFIG`, `$VOICECOACH_DATA_DIR`, `$VOICECOACH_MODELS`
and the XDG base-directory variables.  `--data-dir` and `[data] folder` reach these
functions as the `data_dir` argument (the config layers decide between them), so every
command agrees on where history and models live.  Pure standard library, importing
nothing of voicecoach's, so any module may call it.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "voicecoach"
CONFIG_FILENAME = "config.toml"
MODELS_FOLDER = "models"


def _xdg(variable: str, fallback: str) -> Path:
    # The XDG spec says a relative value is invalid and must be ignored.
    value = os.environ.get(variable)
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def config_dir() -> Path:
    """The user's voicecoach config folder: $XDG_CONFIG_HOME/voicecoach or ~/.config/voicecoach."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def default_config_path() -> Path:
    """The config file used when neither `--config` nor `$VOICECOACH_CONFIG` is given."""
    return config_dir() / CONFIG_FILENAME


def config_path(explicit: Path | str | None = None) -> tuple[Path, bool]:
    """The config file to read, and whether it was named (so it must exist).

    `explicit` (from `--config`) wins, then `$VOICECOACH_CONFIG`, then the default.
    """
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("VOICECOACH_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


def default_data_dir() -> Path:
    """The data folder unless `[data] folder` or `--data-dir` says otherwise:
    $VOICECOACH_DATA_DIR, $XDG_DATA_HOME/voicecoach, or ~/.local/share/voicecoach."""
    explicit = os.environ.get("VOICECOACH_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def data_dir(configured: Path | str | None = None) -> Path:
    """The data folder: `configured` (the config's `[data] folder`) when given, else the default."""
    return Path(configured).expanduser() if configured else default_data_dir()


def models_dir(data: Path | str | None = None) -> Path:
    """Where downloaded models go and are looked for first: $VOICECOACH_MODELS, else
    `<data folder>/models` (`data` as for `data_dir`)."""
    env = os.environ.get("VOICECOACH_MODELS")
    if env:
        return Path(env).expanduser()
    return data_dir(data) / MODELS_FOLDER


def voices_dir(data: Path | str | None = None) -> Path:
    """Where downloaded Piper voices go: `<data folder>/voices` (`data` as for `data_dir`)."""
    return data_dir(data) / "voices"


def source_models_dir() -> Path:
    """The models/ folder of a source checkout (next to the package; absent in a wheel)."""
    return Path(__file__).resolve().parent.parent / MODELS_FOLDER
