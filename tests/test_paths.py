"""The one place that knows the folders: config file, data folder, models folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicecoach import paths
from voicecoach.config import load_config


def test_data_folder_order_and_relative_xdg_is_ignored(private_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    assert paths.default_data_dir() == private_home / ".local/share/voicecoach"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    assert paths.default_data_dir() == private_home / ".local/share/voicecoach"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.default_data_dir() == tmp_path / "xdg/voicecoach"
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "vc"))
    assert paths.data_dir() == tmp_path / "vc"
    assert paths.data_dir(tmp_path / "configured") == tmp_path / "configured"  # [data] folder wins
    assert paths.models_dir(tmp_path / "configured") == tmp_path / "configured/models"
    assert paths.models_dir() == tmp_path / "vc/models"
    monkeypatch.setenv("VOICECOACH_MODELS", str(tmp_path / "m"))
    assert paths.models_dir(tmp_path / "configured") == tmp_path / "m"


def test_config_file_order_and_relative_xdg_is_ignored(private_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")
    assert paths.config_path() == (private_home / ".config/voicecoach/config.toml", False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert paths.config_path() == (tmp_path / "xdg/voicecoach/config.toml", False)
    monkeypatch.setenv("VOICECOACH_CONFIG", str(tmp_path / "env.toml"))
    assert paths.config_path() == (tmp_path / "env.toml", True)
    assert paths.config_path(tmp_path / "flag.toml") == (tmp_path / "flag.toml", True)


def test_the_config_default_data_folder_is_the_same_folder(private_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "vc"))
    assert load_config().config.data.folder == paths.data_dir() == tmp_path / "vc"


def test_paths_and_config_import_no_other_part_of_voicecoach_for_folders() -> None:
    code = ("import sys, voicecoach.paths as p; assert not [m for m in sys.modules if m.startswith('voicecoach.')"
            " and m != 'voicecoach.paths'], sys.modules; import voicecoach.config;"
            " assert 'voicecoach.store.history' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
