"""The wheel carries everything the coach needs: installed alone, far from the checkout, it works.

Builds the wheel from a copy of the checkout, installs it with the runtime lock into a fresh
virtual environment in a temporary folder, and runs the commands a new user runs first, from
a folder that has no routines in it.  Slow: it installs packages (from pip's cache when warm).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted(p.stem for p in (ROOT / "routines").glob("*.yaml"))
# Not part of a fresh clone, or not needed to build the wheel.
LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                  ".pytest_cache", ".ruff_cache", ".hypothesis", "tests", "benchmarks")


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, input=stdin, text=True, capture_output=True,
        timeout=timeout, check=False, stdin=None if stdin is not None else subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the installed `voicecoach` program, its wheel, a clean environment), outside the checkout."""
    base = tmp_path_factory.mktemp("wheel-install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=LEFT_OUT)
    wheels = base / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "-w", wheels, source, cwd=base)
    (wheel,) = wheels.glob("voicecoach-*.whl")
    venv = base / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=base)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*pip, "--require-hashes", "-r", ROOT / "locks" / "runtime.txt", cwd=base)
    run(*pip, "--no-deps", wheel, cwd=base)
    shutil.rmtree(source)  # nothing may still point into it
    home = base / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECOACH_", "XDG_", "PYTHON"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / "data"))
    return venv / "bin" / "voicecoach", wheel, env


def test_the_wheel_holds_the_routines(installed: tuple[Path, Path, dict[str, str]]) -> None:
    _, wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"voicecoach/routines/{name}.yaml" for name in BUNDLED} <= names
    assert not any(name.startswith(("tests/", "routines/", "benchmarks/")) for name in names)


def test_list_shows_the_bundled_routines(installed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    program, _, env = installed
    out = run(program, "list", cwd=tmp_path, env=env).stdout
    listed = [line.split()[0] for line in out.splitlines()[1:] if line.strip()]
    assert listed == BUNDLED and len(listed) == 4, out


def test_show_json(installed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    program, _, env = installed
    shown = json.loads(run(program, "show", "hips-for-knees", "--json", cwd=tmp_path, env=env).stdout)
    assert shown["name"] == "hips-for-knees" and len(shown["exercises"]) == 4


def test_a_text_session_runs_to_the_end(installed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    program, _, env = installed
    out = run(program, "run", "hip-strength", "--text", "--time-scale", "0.01", "--no-checkins",
              cwd=tmp_path, env=env).stdout
    assert "That's the end of Hip strength for happier knees. Well done." in out


def test_serve_starts_a_routine(installed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    program, _, env = installed
    out = run(program, "serve", "--text", "--time-scale", "0.002", "--no-checkins",
              cwd=tmp_path, env=env, stdin="start hip strength\n").stdout
    assert "serve: waiting for" in out
    assert "That's the end of Hip strength for happier knees. Well done." in out
    assert "serve: session of hip-strength ended (exit code 0)" in out


def test_a_users_own_routine_comes_first(installed: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    program, _, env = installed
    mine = Path(env["XDG_CONFIG_HOME"]) / "voicecoach" / "routines"
    mine.mkdir(parents=True)
    text = (ROOT / "routines" / "hip-strength.yaml").read_text(encoding="utf-8")
    (mine / "hip-strength.yaml").write_text(text.replace("Hip strength for happier knees", "My own hips"))
    try:
        out = run(program, "list", cwd=tmp_path, env=env).stdout
    finally:
        shutil.rmtree(mine)
    assert "My own hips" in out and "Hip strength for happier knees" not in out
