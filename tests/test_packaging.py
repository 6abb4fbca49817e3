"""Specification of the service packaging and the aarch64 wheel check (no root, no network)."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "voicecoach.service"
INSTALLER = ROOT / "packaging" / "install-service.sh"


def unit_settings() -> configparser.ConfigParser:
    # systemd units are INI-like; strict=False because systemd allows repeated keys.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_unit_runs_serve_as_an_unprivileged_audio_user_and_restarts() -> None:
    unit = unit_settings()
    service = unit["Service"]
    assert service["ExecStart"].endswith("/voicecoach serve")
    assert service["User"] == "voicecoach"
    assert service["SupplementaryGroups"] == "audio"
    assert service["Restart"] == "on-failure"
    assert service["StandardOutput"] == "journal"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # Hardening that would cut the coach off from its sound card must stay off.
    assert "PrivateDevices" not in service
    assert "MemoryDenyWriteExecute" not in service
    assert service["NoNewPrivileges"] == "yes"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # verify insists that ExecStart exists, so point it at a program this machine has.
    unit = tmp_path / "voicecoach.service"
    text = UNIT.read_text().replace(
        "ExecStart=/opt/voicecoach/venv/bin/voicecoach serve", "ExecStart=/bin/true serve"
    )
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    if result.returncode != 0 and "Failed to" in result.stderr and "bus" in result.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert "voicecoach.service" not in result.stderr, result.stderr


def run_installer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALLER), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_installer_dry_run_shows_every_step_and_changes_nothing() -> None:
    before = Path("/etc/systemd/system/voicecoach.service").exists()
    result = run_installer("--dry-run", "--user", "vc-test-nobody", "--prefix", "/tmp/vc-prefix")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dry run: nothing will be changed" in out
    assert "+ useradd --system --user-group --groups audio" in out and "vc-test-nobody" in out
    assert "+ python3 -m venv /tmp/vc-prefix/venv" in out
    assert f"-m pip install --quiet --upgrade {ROOT}" in out
    assert "+ write /etc/systemd/system/voicecoach.service" in out
    assert "| ExecStart=/tmp/vc-prefix/venv/bin/voicecoach serve" in out
    assert "| User=vc-test-nobody" in out
    assert "+ systemctl enable voicecoach.service" in out
    assert "+ systemctl restart voicecoach.service" in out
    assert Path("/etc/systemd/system/voicecoach.service").exists() == before
    assert not Path("/tmp/vc-prefix").exists()


def test_installer_dry_run_respects_use_checkout_and_no_start() -> None:
    result = run_installer("--dry-run", "--use-checkout", "--no-start")
    assert result.returncode == 0, result.stderr
    assert f"| ExecStart={ROOT}/.venv/bin/voicecoach serve" in result.stdout
    assert "+ python3 -m venv" not in result.stdout
    assert "+ systemctl restart" not in result.stdout


def test_installer_rejects_unknown_options() -> None:
    result = run_installer("--dryrun")
    assert result.returncode == 2 and "unknown option '--dryrun'" in result.stderr


def test_installer_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(INSTALLER)], check=False).returncode == 0
    if shutil.which("shellcheck"):
        result = subprocess.run(
            ["shellcheck", str(INSTALLER)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout


def load_wheel_checker():  # noqa: ANN201 - a module loaded from a script path
    spec = importlib.util.spec_from_file_location(
        "check_aarch64_wheels", ROOT / "scripts" / "check_aarch64_wheels.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up by name while building the Wheel class.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_wheel_check_targets_bookworm_glibc_and_reads_the_runtime_dependencies() -> None:
    checker = load_wheel_checker()
    tags = checker.platform_tags("2.36")
    assert tags[:3] == ["linux_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64"]
    assert tags[-1] == "manylinux_2_36_aarch64" and "manylinux_2_37_aarch64" not in tags
    reqs = checker.requirements(ROOT / "pyproject.toml", [])
    names = {r.split(">")[0].split("=")[0].strip().lower() for r in reqs}
    assert {"vosk", "sounddevice", "pyttsx3", "pocketsphinx"} <= names
    assert not any(r.startswith("pytest") for r in reqs)  # test tools are not runtime


def test_wheel_kinds_are_read_from_file_names(tmp_path: Path) -> None:
    checker = load_wheel_checker()
    vosk = checker.Wheel(tmp_path / "vosk-0.3.45-py3-none-manylinux2014_aarch64.whl")
    assert (vosk.name, vosk.version, vosk.kind) == ("vosk", "0.3.45", "aarch64 binary")
    pure = checker.Wheel(tmp_path / "pyttsx3-2.99-py3-none-any.whl")
    assert pure.kind == "pure Python"
    built = checker.Wheel(tmp_path / "srt-3.5.3-py3-none-any.whl", built_here=True)
    assert built.kind == "pure Python, built from sdist"


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    # pyproject.toml lists the packages by hand (routines/ is mapped in), so a new
    # subpackage must be added there or the wheel would lack it.
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "voicecoach").rglob("__init__.py")
    }
    assert on_disk | {"voicecoach.routines"} == listed
