"""Sound devices: list them for `voicecoach devices`, and find the one a user named.

Everything that touches PortAudio goes through `portaudio()` so a missing library
or an empty device list becomes an `AudioUnavailable` with advice, not a traceback.
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Any

Device = int | str | None

NO_DEVICES_HELP = (
    "No audio devices found. Plug in the USB microphone and speaker, check that your "
    "user is in the 'audio' group (sudo usermod -aG audio $USER, then log in again), and "
    "check that the system sees them: `arecord -l` for microphones, `aplay -l` for speakers. "
    "Text mode works without any: voicecoach run ROUTINE --text"
)


class AudioUnavailable(Exception):
    """A sound device cannot be used; the message says what is missing and what to do."""


def portaudio() -> ModuleType:
    """The sounddevice module, or AudioUnavailable if PortAudio cannot be loaded."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio is missing
        raise AudioUnavailable(
            f"the PortAudio library could not be loaded ({exc}). Install it "
            "(Debian/Raspberry Pi OS: sudo apt install libportaudio2) or use --text."
        ) from exc
    except ImportError as exc:
        raise AudioUnavailable(
            "the sounddevice package is missing: pip install sounddevice") from exc
    return sounddevice


def refresh() -> None:
    """Make PortAudio look for devices again (it only looks when it starts).

    Needed after a USB device is plugged in, or a sound server is started, while
    we are running.  Fails if a stream is open, so call it only between sessions.
    """
    sd = portaudio()
    sd._terminate()  # noqa: SLF001 - the documented way to rescan in sounddevice
    sd._initialize()  # noqa: SLF001


def list_devices() -> list[dict[str, Any]]:
    """Every device PortAudio sees, as plain dicts (index, name, hostapi, channels,
    default_samplerate, default_input, default_output)."""
    sd = portaudio()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in, default_out = _defaults(sd)
    except sd.PortAudioError as exc:
        raise AudioUnavailable(f"PortAudio could not list devices: {exc}") from exc
    result = []
    for i, d in enumerate(devices):
        result.append({
            "index": i,
            "name": d["name"],
            "hostapi": hostapis[d["hostapi"]]["name"],
            "max_input_channels": int(d["max_input_channels"]),
            "max_output_channels": int(d["max_output_channels"]),
            "default_samplerate": float(d["default_samplerate"]),
            "default_input": i == default_in,
            "default_output": i == default_out,
        })
    return result


def _defaults(sd: ModuleType) -> tuple[int, int]:
    pair = sd.default.device
    try:
        return int(pair[0]), int(pair[1])
    except (TypeError, ValueError, IndexError):
        return -1, -1


def format_devices(devices: list[dict[str, Any]]) -> str:
    """A table for people: index, name, input/output channels, default rate, defaults."""
    if not devices:
        return NO_DEVICES_HELP
    rows = [("", "INDEX", "NAME", "IN", "OUT", "RATE")]
    for d in devices:
        mark = ("<" if d["default_input"] else " ") + (">" if d["default_output"] else " ")
        rows.append((mark, str(d["index"]), f"{d['name']} ({d['hostapi']})",
                     str(d["max_input_channels"]), str(d["max_output_channels"]),
                     f"{d['default_samplerate']:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) if i == 2 else cell.rjust(widths[i])
                       for i, cell in enumerate(r)).rstrip() for r in rows]
    lines.append("")
    lines.append("< default microphone   > default speaker")
    lines.append("Choose with --input-device / --output-device NAME|INDEX "
                 "(a part of the name is enough).")
    return "\n".join(lines)


def find_device(spec: Device, kind: str) -> int | None:
    """The index of the `kind` ("input" or "output") device named by `spec`.

    `spec` is an index, a case-insensitive part of a name, or None/""/"default" for
    the system default (returned as None, which PortAudio takes as the default).
    """
    if kind not in ("input", "output"):
        raise ValueError("kind must be 'input' or 'output'")
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    what = "microphone" if kind == "input" else "speaker"
    devices = list_devices()
    usable = [d for d in devices if d[key] > 0]
    if not usable:
        raise AudioUnavailable(f"no {what} found. " + NO_DEVICES_HELP)
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "default")):
        if not any(d[f"default_{kind}"] for d in usable):
            raise AudioUnavailable(
                f"there is no default {what}; pick one with --{kind}-device "
                f"(`voicecoach devices` lists them): {_names(usable)}")
        return None
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        if any(d["index"] == index for d in usable):
            return index
        raise AudioUnavailable(f"device {index} is not a {what}; {what}s: {_names(usable)}")
    wanted = spec.strip().lower()
    exact = [d for d in usable if d["name"].lower() == wanted]
    matches = exact or [d for d in usable if wanted in d["name"].lower()]
    if not matches:
        raise AudioUnavailable(f"no {what} matches {spec!r}; {what}s: {_names(usable)}")
    return int(matches[0]["index"])


def _names(devices: list[dict[str, Any]]) -> str:
    return ", ".join(f"{d['index']} '{d['name']}'" for d in devices[:8])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for `voicecoach devices`."""
    parser.add_argument("--json", action="store_true", help="one JSON object per device")


def run(args: argparse.Namespace) -> int:
    """`voicecoach devices`: print the table (or JSON lines); 1 if there are none."""
    import json

    try:
        devices = list_devices()
    except AudioUnavailable as exc:
        print(f"voicecoach: {exc}")
        return 1
    if getattr(args, "json", False):
        for d in devices:
            print(json.dumps(d))
    else:
        print(format_devices(devices))
    return 0 if devices else 1
