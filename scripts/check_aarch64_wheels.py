#!/usr/bin/env python3
"""Prove the locked dependencies install and load on a Raspberry Pi (Linux aarch64), or x86-64.

For the target (default: aarch64, CPython 3.11, glibc 2.36 as in Debian 12 bookworm and
Raspberry Pi OS) this takes every package the lock pins for that platform, asks pip for
exactly that version's wheel (hash-checked), and fails when one has no wheel for it.  A
package published only as a source archive counts when it builds, here, into a pure-Python
wheel: that needs no compiler on the Pi.

Then it reads the ELF dynamic section of every shared object in those wheels and fails
unless each library one needs (DT_NEEDED) is
  - in one of the locked wheels (auditwheel's `<package>.libs/`, or another shared object),
  - part of every Debian system (the C library, the loader, the GCC and C++ runtimes), or
  - provided by a Debian package that install.sh installs: packaging/debian-packages.txt.
`import vosk` failing on a Pi for want of libatomic.so.1 is what this catches.

    python scripts/check_aarch64_wheels.py [--arch aarch64|x86_64] [--lock locks/dev.txt]
                                           [--glibc 2.36] [--wheels DIR]
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCK = ROOT / "locks" / "dev.txt"
DEBIAN_PACKAGES = ROOT / "packaging" / "debian-packages.txt"
# Raspberry Pi OS bookworm (the Python 3.11 release) ships glibc 2.36: manylinux wheels
# up to that version run there, newer ones do not.
DEFAULT_GLIBC = "2.36"
PYTHON = "3.11"
PYTHON_FULL = "3.11.2"  # bookworm's
ELF_MACHINES = {"aarch64": 183, "x86_64": 62}  # e_machine: EM_AARCH64, EM_X86_64
# Libraries on every Debian system: packages of priority "required" (libc6, libgcc-s1,
# zlib1g, libcrypt1) and libstdc++6, which apt needs and so every Debian system has.
BASE_LIBRARIES = {
    "libc.so.6": "libc6", "libm.so.6": "libc6", "libpthread.so.0": "libc6", "libdl.so.2": "libc6",
    "librt.so.1": "libc6", "libutil.so.1": "libc6", "libresolv.so.2": "libc6", "libanl.so.1": "libc6",
    "ld-linux-aarch64.so.1": "libc6", "ld-linux-x86-64.so.2": "libc6",
    "libmvec.so.1": "libc6", "libgcc_s.so.1": "libgcc-s1", "libstdc++.so.6": "libstdc++6", "libz.so.1": "zlib1g",
    "libcrypt.so.1": "libcrypt1",
}  # fmt: skip
MAX_ROUNDS = 20
_NO_WHEEL = re.compile(r"No matching distribution found for ([A-Za-z0-9_.\-]+)")


# --- the lock ---------------------------------------------------------------------------------


@dataclass
class Pin:
    """One package the lock pins: name==version, when `marker` holds, with its files' hashes."""

    name: str
    version: str
    marker: str | None
    hashes: list[str]

    def applies(self, arch: str) -> bool:
        if self.marker is None:
            return True
        return Marker(self.marker).evaluate(target_environment(arch))

    def requirement(self) -> str:
        return f"{self.name}=={self.version} " + " ".join(f"--hash={h}" for h in self.hashes)


def target_environment(arch: str) -> dict[str, str]:
    """Environment-marker values of CPython 3.11 on Linux `arch`."""
    return {
        "python_version": PYTHON, "python_full_version": PYTHON_FULL, "implementation_name": "cpython",
        "implementation_version": PYTHON_FULL, "platform_python_implementation": "CPython",
        "platform_machine": arch, "platform_system": "Linux", "sys_platform": "linux", "os_name": "posix",
        "platform_release": "", "platform_version": "", "extra": "",
    }  # fmt: skip


def read_lock(path: Path) -> list[Pin]:
    """The pins of a hashed requirements lock (as scripts/lock.sh writes it)."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        hashes = re.findall(r"--hash=(\S+)", line)
        spec = re.sub(r"--hash=\S+", "", line).split("#", 1)[0].strip()
        requirement, _, marker = spec.partition(";")
        name, sep, version = requirement.strip().partition("==")
        if not sep:
            raise SystemExit(f"{path}: not an exact pin: {requirement.strip()}")
        pins.append(Pin(name.strip().lower(), version.strip(), marker.strip() or None, hashes))
    return pins


def debian_libraries(path: Path = DEBIAN_PACKAGES) -> dict[str, str]:
    """soname -> Debian package, for the run-time packages install.sh installs."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#") or len(fields) < 3 or fields[1] != "run":
            continue
        for soname in fields[2].split(","):
            if soname != "-":
                found[soname] = fields[0]
    return found


# --- getting the wheels -----------------------------------------------------------------------


def platform_tags(glibc: str, arch: str = "aarch64") -> list[str]:
    """Every platform tag a wheel may carry to run on `arch` with glibc `glibc` or newer."""
    major, minor = (int(part) for part in glibc.split("."))
    tags = [f"linux_{arch}", f"manylinux2014_{arch}"]
    if arch == "x86_64":
        tags += ["manylinux1_x86_64", "manylinux2010_x86_64"]
    low = 5 if arch == "x86_64" else 17
    tags += [f"manylinux_{major}_{m}_{arch}" for m in range(low, minor + 1)]
    return tags


def pip(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *map(str, args), "--progress-bar", "off", "--disable-pip-version-check"]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def download(pins: list[Pin], dest: Path, arch: str, glibc: str) -> tuple[list[str], dict[str, str]]:
    """Fetch each pin's target wheel into dest; return (pins with no such wheel, failures)."""
    platforms = [arg for tag in platform_tags(glibc, arch) for arg in ("--platform", tag)]
    wanted = {pin.name: pin for pin in pins}
    no_wheel: list[str] = []
    for _ in range(MAX_ROUNDS):
        reqs = dest.parent / "wheels.txt"
        reqs.write_text("\n".join(p.requirement() for p in wanted.values()) + "\n", encoding="utf-8")
        result = pip("download", "--no-deps", "--only-binary=:all:", *platforms, "--python-version", PYTHON,
                     "--implementation", "cp", "--abi", f"cp{PYTHON.replace('.', '')}", "--abi", "abi3",
                     "--abi", "none", "--require-hashes", "-r", reqs, "-d", dest)  # fmt: skip
        if result.returncode == 0:
            return no_wheel, {}
        gap = _NO_WHEEL.search(result.stdout + result.stderr)
        name = gap.group(1).lower().replace("_", "-") if gap else None
        if name not in wanted:
            return no_wheel, {"pip": (result.stdout + result.stderr).strip().splitlines()[-1]}
        no_wheel.append(name)
        del wanted[name]
    return no_wheel, {"pip": f"gave up after {MAX_ROUNDS} rounds"}


def build_pure_wheel(pin: Pin, out: Path, work: Path) -> Path | None:
    """Build `pin` from its (hash-checked) source archive; the wheel if it is pure Python."""
    sdists = work / "sdists"
    reqs = work / f"{pin.name}.txt"
    reqs.write_text(pin.requirement() + "\n", encoding="utf-8")
    if pip("download", "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r", reqs, "-d", sdists).returncode:
        return None
    before = set(out.glob("*.whl"))
    for sdist in sdists.glob(f"{pin.name.replace('-', '?')}-{pin.version}.*"):
        pip("wheel", "--no-deps", "-w", out, sdist)
    built = sorted(set(out.glob("*.whl")) - before)
    if not built or not built[0].stem.endswith("-none-any") or elf_members(built[0]):
        return None
    return built[0]


# --- reading ELF files ------------------------------------------------------------------------


@dataclass
class Elf:
    """What the dynamic loader reads from a shared object: machine, NEEDED entries, SONAME."""

    machine: int
    needed: list[str]
    soname: str | None


def read_elf(data: bytes) -> Elf | None:
    """The dynamic section of an ELF file, or None when `data` is not ELF."""
    if data[:4] != b"\x7fELF":
        return None
    if len(data) < 64 or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError("truncated or unknown ELF header")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    if wide:
        machine, phoff, phentsize, phnum = (struct.unpack_from(order + "H", data, 18)[0],
                                            struct.unpack_from(order + "Q", data, 32)[0],
                                            *struct.unpack_from(order + "HH", data, 54))  # fmt: skip
        phdr, dyn = order + "IIQQQQQQ", order + "qQ"
    else:
        machine, phoff, phentsize, phnum = (struct.unpack_from(order + "H", data, 18)[0],
                                            struct.unpack_from(order + "I", data, 28)[0],
                                            *struct.unpack_from(order + "HH", data, 42))  # fmt: skip
        phdr, dyn = order + "IIIIIIII", order + "iI"
    loads, dynamic = [], None
    for i in range(phnum):
        fields = struct.unpack_from(phdr, data, phoff + i * phentsize)
        if wide:
            p_type, _, p_offset, p_vaddr, _, p_filesz = fields[:6]
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = fields[:5]
        if p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return Elf(machine, [], None)  # statically linked: needs nothing
    entries = []
    step = struct.calcsize(dyn)
    for at in range(dynamic[0], dynamic[0] + dynamic[1] - step + 1, step):
        tag, value = struct.unpack_from(dyn, data, at)
        if tag == 0:  # DT_NULL
            break
        entries.append((tag, value))
    strtab = next((v for t, v in entries if t == 5), None)  # DT_STRTAB, an address
    if strtab is None:
        raise ValueError("dynamic section without a string table")
    base = next((off + strtab - vaddr for vaddr, off, size in loads if vaddr <= strtab < vaddr + size), None)
    if base is None:
        raise ValueError("string table outside the loaded segments")

    def string(offset: int) -> str:
        end = data.index(b"\0", base + offset)
        return data[base + offset : end].decode("utf-8", "replace")

    needed = [string(v) for t, v in entries if t == 1]  # DT_NEEDED
    soname = next((string(v) for t, v in entries if t == 14), None)  # DT_SONAME
    return Elf(machine, needed, soname)


def elf_members(wheel: Path) -> dict[str, Elf]:
    """Every ELF file in a wheel, by its path inside the wheel."""
    found = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            with archive.open(info) as member:
                if member.read(4) != b"\x7fELF":
                    continue
            try:
                elf = read_elf(archive.read(info))
            except (ValueError, struct.error) as exc:
                raise SystemExit(f"{wheel.name}: {info.filename}: unreadable ELF file ({exc})") from None
            if elf is not None:
                found[info.filename] = elf
    return found


# --- the check --------------------------------------------------------------------------------


@dataclass
class WheelReport:
    """One wheel: its shared objects, the system libraries they need, what is wrong."""

    path: Path
    built_here: bool = False
    shared_objects: int = 0
    system: dict[str, str] = field(default_factory=dict)  # soname -> Debian package
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name.split("-")[0].replace("_", "-").lower()

    @property
    def version(self) -> str:
        return self.path.name.split("-")[1]

    @property
    def kind(self) -> str:
        if self.built_here:
            return "pure Python, built from sdist"
        if self.shared_objects:
            return f"binary, {self.shared_objects} shared object(s)"
        return "pure Python"


def check_wheels(wheels: list[Path], arch: str, installed: dict[str, str]) -> list[WheelReport]:
    """Check each wheel's shared objects against what the wheels, Debian and install.sh provide."""
    contents = {wheel: elf_members(wheel) for wheel in wheels}
    bundled = {Path(name).name for members in contents.values() for name in members}
    bundled |= {elf.soname for members in contents.values() for elf in members.values() if elf.soname}
    reports = []
    for wheel, members in contents.items():
        report = WheelReport(wheel, shared_objects=len(members))
        for name, elf in sorted(members.items()):
            if elf.machine != ELF_MACHINES[arch]:
                report.problems.append(f"{name}: built for ELF machine {elf.machine}, not {arch}")
            for lib in elf.needed:
                if lib in bundled:
                    continue
                package = BASE_LIBRARIES.get(lib) or installed.get(lib)
                if package is None:
                    report.problems.append(
                        f"{name} needs {lib}: not in a locked wheel, not part of every Debian system, "
                        f"and no package in {DEBIAN_PACKAGES.relative_to(ROOT)} provides it"
                    )
                elif lib not in BASE_LIBRARIES:
                    report.system[lib] = package
        reports.append(report)
    return sorted(reports, key=lambda r: r.name)


def print_table(reports: list[WheelReport], missing: dict[str, str]) -> None:
    width = max([len(r.name) for r in reports] + [len(m) for m in missing] + [7])
    print(f"{'package':<{width}}  {'version':<16}  {'kind':<32}  system libraries")
    print(f"{'-' * width}  {'-' * 16}  {'-' * 32}  {'-' * 24}")
    for r in reports:
        libs = ", ".join(f"{lib} ({pkg})" for lib, pkg in sorted(r.system.items()))
        print(f"{r.name:<{width}}  {r.version:<16}  {r.kind:<32}  {libs}")
    for name, reason in missing.items():
        print(f"{name:<{width}}  {'':<16}  {'MISSING':<32}  {reason}")


def main(argv: list[str] | None = None) -> int:
    """Run the check and print the table; 0 when every locked package installs and loads."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ELF_MACHINES), default="aarch64")
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK)
    parser.add_argument("--glibc", default=DEFAULT_GLIBC, help="target glibc (bookworm: 2.36)")
    parser.add_argument("--wheels", type=Path, help="check the wheels in this folder instead of the lock's")
    parser.add_argument("--packages", type=Path, default=DEBIAN_PACKAGES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    installed = debian_libraries(args.packages)
    missing: dict[str, str] = {}
    built: set[Path] = set()
    with tempfile.TemporaryDirectory(prefix="locked-wheels-") as scratch:
        work = Path(scratch)
        if args.wheels:
            wheels = sorted(args.wheels.glob("*.whl"))
            print(f"target: {args.arch}; wheels in {args.wheels}\n")
        else:
            pins = [pin for pin in read_lock(args.lock) if pin.applies(args.arch)]
            print(f"target: CPython {PYTHON}, Linux {args.arch}, glibc {args.glibc}; "
                  f"{len(pins)} packages pinned in {args.lock}\n")
            dest = work / "wheels"
            no_wheel, missing = download(pins, dest, args.arch, args.glibc)
            for name in no_wheel:
                pin = next(p for p in pins if p.name == name)
                wheel = build_pure_wheel(pin, dest, work)
                if wheel is None:
                    missing[name] = f"no {args.arch} wheel, and the source does not build pure Python"
                else:
                    built.add(wheel)
            wheels = sorted(dest.glob("*.whl"))
        reports = check_wheels(wheels, args.arch, installed)
        for report in reports:
            report.built_here = report.path in built

    print_table(reports, missing)
    problems = [f"{r.name}: {p}" for r in reports for p in r.problems]
    for problem in problems:
        print(f"  {problem}")
    print()
    if missing or problems:
        print(f"FAIL: {len(missing)} package(s) without a wheel, {len(problems)} unmet library need(s) "
              f"on Linux {args.arch}")
        return 1
    print(f"ok: all {len(reports)} wheels install on Linux {args.arch} / CPython {PYTHON} without a "
          "compiler, and every library they need is there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
