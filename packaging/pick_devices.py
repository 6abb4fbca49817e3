#!/usr/bin/env python3
"""Pick the service's sound devices from `voicecoach devices --json` (read on stdin).

Prints two lines: the microphone (the first USB device that records) and the speaker (the
first device that plays and is not HDMI), each as a quoted TOML string to put in the config,
"" when there is none.  A service runs without a desktop session, where "default"
may not exist, so install-service.sh writes these names into its config.

    voicecoach devices --json | python3 packaging/pick_devices.py
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

# ALSA's virtual devices: they route to whatever the desktop session chose, not to a card.
_VIRTUAL = {"default", "sysdefault", "pulse", "pipewire", "dmix", "dsnoop", "jack", "spdif", "lavrate",
            "samplerate", "speexrate", "upmix", "vdownmix", "surround40", "surround51", "surround71"}
# "USB PnP Sound Device: Audio (hw:1,0)": the card number after "hw:" can change at boot,
# so the config gets the name without it (a name substring is enough for voicecoach).
_HW_SUFFIX = re.compile(r"\s*\(hw:\d+,\d+\)\s*$")


def stable_name(device: dict[str, Any]) -> str:
    return _HW_SUFFIX.sub("", str(device["name"])).strip()


def is_card(device: dict[str, Any]) -> bool:
    return stable_name(device).lower() not in _VIRTUAL


def pick(devices: list[dict[str, Any]]) -> tuple[str, str]:
    """(microphone, speaker) names; "" where no device fits."""
    cards = [d for d in devices if is_card(d)]
    microphone = next((d for d in cards if d["max_input_channels"] > 0 and "usb" in d["name"].lower()), None)
    speaker = next((d for d in cards if d["max_output_channels"] > 0 and "hdmi" not in d["name"].lower()), None)
    return (stable_name(microphone) if microphone else "", stable_name(speaker) if speaker else "")


def main() -> int:
    devices = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    microphone, speaker = pick(devices)
    # A JSON string is a valid TOML basic string: quotes and backslashes in a name stay safe.
    print(json.dumps(microphone, ensure_ascii=False))
    print(json.dumps(speaker, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
