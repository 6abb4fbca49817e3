#!/usr/bin/env python3
"""Prove every runtime dependency installs on a Raspberry Pi: Linux aarch64, CPython 3.11.

For each requirement in pyproject.toml (and everything it pulls in) this asks pip for
wheels built for aarch64 glibc Linux and CPython 3.11, prints a table of package ->
wheel file, and exits 1 when something has no such wheel.  A package published only
as a source archive counts when it builds, here, into a pure-Python `none-any` wheel:
that needs no compiler on the Pi (use --strict to refuse those too).

    python scripts/check_aarch64_wheels.py [--extra NAME] [--glibc 2.36] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Raspberry Pi OS bookworm (the Python 3.11 release) ships glibc 2.36: manylinux wheels
# up to that version run there, newer ones do not.
DEFAULT_GLIBC = "2.36"
MAX_ROUNDS = 10
_MISSING = re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)")
# Wheels that are pure Python on PyPI but load a system library at run time.
SYSTEM_LIBRARIES = {
    "sounddevice": "libportaudio2",
    "pyttsx3": "libespeak-ng1",
}
_SAVED = re.compile(r"(?:Saved|File was already downloaded) (\S+\.whl)")


@dataclass
class Wheel:
    """One wheel pip chose, and which top-level requirements pulled it in."""

    path: Path
    built_here: bool = False
    needed_by: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.path.name.split("-")[0].replace("_", "-").lower()

    @property
    def version(self) -> str:
        return self.path.name.split("-")[1]

    @property
    def tags(self) -> str:
        return "-".join(self.path.stem.split("-")[-3:])

    @property
    def kind(self) -> str:
        if self.built_here:
            return "pure Python, built from sdist"
        return "pure Python" if self.tags.endswith("-any") else "aarch64 binary"


def platform_tags(glibc: str) -> list[str]:
    """Every platform tag a wheel may carry to run on aarch64 glibc `glibc` or newer."""
    major, minor = (int(part) for part in glibc.split("."))
    tags = ["linux_aarch64", "manylinux2014_aarch64"]
    tags += [f"manylinux_{major}_{m}_aarch64" for m in range(17, minor + 1)]
    return tags


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The runtime requirements, plus those of the named optional extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    found = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"no extra '{extra}' in {pyproject}; have: {', '.join(optional)}")
        found += optional[extra]
    return found


def pip_download(
    reqs: list[str], dest: Path, links: Path, platforms: list[str], python: str
) -> subprocess.CompletedProcess[str]:
    """Ask pip for target-platform wheels only (pip resolves the dependencies too)."""
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:"]
    for tag in platforms:
        command += ["--platform", tag]
    command += [
        "--python-version", python, "--implementation", "cp",
        "--abi", f"cp{python.replace('.', '')}", "--abi", "abi3", "--abi", "none",
        "--find-links", str(links), "--progress-bar", "off", "-d", str(dest), *reqs,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False)


def build_pure_wheel(name: str, out: Path, work: Path) -> Path | None:
    """Build `name` from its source archive; return the wheel if it is pure Python."""
    before = set(out.glob("*.whl"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", name,
         "--progress-bar", "off", "-w", str(out), name],
        capture_output=True, text=True, check=False, cwd=work,
    )  # fmt: skip
    built = sorted(set(out.glob("*.whl")) - before)
    if result.returncode != 0 or not built:
        return None
    wheel = built[0]
    with zipfile.ZipFile(wheel) as archive:
        compiled = [n for n in archive.namelist() if n.endswith((".so", ".pyd", ".dylib"))]
    if wheel.stem.endswith("-none-any") and not compiled:
        return wheel
    wheel.unlink()
    return None


def check(
    reqs: list[str], work: Path, platforms: list[str], python: str, strict: bool
) -> tuple[list[Wheel], dict[str, str]]:
    """Resolve each requirement for the target; return (wheels, missing name -> why)."""
    dest, built = work / "wheels", work / "built"
    dest.mkdir(exist_ok=True)
    built.mkdir(exist_ok=True)
    wheels: dict[str, Wheel] = {}
    built_names: set[str] = set()
    missing: dict[str, str] = {}
    for req in reqs:
        for _ in range(MAX_ROUNDS):
            result = pip_download([req], dest, built, platforms, python)
            output = result.stdout + result.stderr
            for saved in _SAVED.findall(output):
                path = Path(saved) if Path(saved).is_absolute() else dest / Path(saved).name
                wheel = wheels.setdefault(path.name, Wheel(dest / path.name))
                wheel.needed_by.add(req)
            if result.returncode == 0:
                break
            gap = _MISSING.search(output)
            if gap is None:
                missing[req] = "pip failed: " + (output.strip().splitlines() or ["?"])[-1]
                break
            name = gap.group(1)
            if strict or name.lower() in built_names:
                missing[name] = f"no aarch64/cp311 or pure-Python wheel (needed by {req})"
                break
            wheel_path = build_pure_wheel(name, built, work)
            if wheel_path is None:
                missing[name] = f"no wheel, and the source does not build pure Python ({req})"
                break
            built_names.add(name.lower())
        else:
            missing[req] = f"gave up after {MAX_ROUNDS} rounds"
    for wheel in wheels.values():
        if wheel.path.parent == dest and (built / wheel.path.name).exists():
            wheel.built_here = True
    return sorted(wheels.values(), key=lambda w: w.name), missing


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the table; 0 when every dependency has a wheel."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--extra", action="append", default=[], help="also check an extra")
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument("--glibc", default=DEFAULT_GLIBC, help="target glibc (bookworm: 2.36)")
    parser.add_argument("--keep", type=Path, help="keep the wheels in this folder")
    parser.add_argument("--strict", action="store_true", help="refuse source-only packages")
    args = parser.parse_args(argv)

    reqs = requirements(args.pyproject, args.extra)
    platforms = platform_tags(args.glibc)
    print(f"target: CPython {args.python_version}, {', '.join(platforms[:3])} ... {platforms[-1]}")
    print(f"requirements: {', '.join(reqs)}\n")
    with tempfile.TemporaryDirectory(prefix="aarch64-wheels-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        wheels, missing = check(reqs, work, platforms, args.python_version, args.strict)

    width = max([len(w.name) for w in wheels] + [len(m) for m in missing] + [7])
    print(f"{'package':<{width}}  {'kind':<29}  wheel")
    print(f"{'-' * width}  {'-' * 29}  {'-' * 40}")
    for wheel in wheels:
        print(f"{wheel.name:<{width}}  {wheel.kind:<29}  {wheel.path.name}")
    for name, reason in missing.items():
        print(f"{name:<{width}}  {'MISSING':<29}  {reason}")
    apt = sorted({SYSTEM_LIBRARIES[w.name] for w in wheels if w.name in SYSTEM_LIBRARIES})
    if apt:
        print(f"\nsystem libraries these load at run time: sudo apt install {' '.join(apt)}")
    print()
    if missing:
        print(f"FAIL: {len(missing)} dependency(ies) cannot be installed from wheels on aarch64")
        return 1
    print(
        f"ok: all {len(wheels)} distributions install on Linux aarch64 / CPython "
        f"{args.python_version} without a compiler"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
