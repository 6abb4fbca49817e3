"""Piper: a natural neural voice, rendered offline by onnxruntime inside this process.

A sentence takes about a tenth of its own length to render on a 2-core x86-64, and more on
a Raspberry Pi, so `Tts` renders Piper's output piece by piece (`piece_wise`) and a long
sentence starts playing after its first clause.

onnxruntime runs the network on the calling thread (one intra-op thread): the other core
stays free for the recognizer, and `Tts`'s lock serializes renders.  Only basic graph
optimizations are applied: the full set made loading the voice slower here and rendering no
faster.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from voicecoach.voice.tts import DEFAULT_RATE, Audio, Renderer, TtsError, VoiceSettings
from voicecoach.voice.voices import VoiceError, VoiceFiles, find_voice

# Rendered when the voice loads: a file that loads but cannot speak fails here, not mid-session.
_PROBE = "Ready."


def _check_runtime_loads(data_folder: Any = None) -> None:
    """Raise TtsError if importing onnxruntime would crash this process.

    On some aarch64 systems `import onnxruntime` dies with a segmentation fault (seen under qemu's
    arm64 emulation, whose /proc/cpuinfo described the x86-64 host and crashed onnxruntime's
    cpuinfo library), which no `except` can catch: the coach would vanish instead of
    falling back to pyttsx3.  So on aarch64 the import is first tried in a child process, once
    per onnxruntime version (a success is remembered in the data folder's cache).
    """
    import importlib.metadata
    import platform
    import subprocess
    import sys

    from voicecoach import paths
    if "onnxruntime" in sys.modules or platform.machine() not in ("aarch64", "arm64"):
        return
    try:
        version = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        return  # the import below says it is not installed
    mark = paths.data_dir(data_folder) / "cache" / f"onnxruntime-{version}-{platform.machine()}.ok"
    if mark.exists():
        return
    try:
        child = subprocess.run([sys.executable, "-c", "import onnxruntime"], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise TtsError(f"could not check that onnxruntime loads: {exc}") from exc
    if child.returncode != 0:
        how = f"signal {-child.returncode}" if child.returncode < 0 else f"exit {child.returncode}"
        raise TtsError(f"onnxruntime {version} crashes on this machine when it loads ({how})")
    try:
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()
    except OSError:
        pass  # checked again next time


class PiperRenderer(Renderer):
    """Renders with a Piper voice; raises `TtsError` with one clear reason if it cannot load."""

    name = "piper"
    piece_wise = True

    def __init__(self, settings: VoiceSettings | None = None, voice: VoiceFiles | None = None,
                 data_folder: Any = None) -> None:
        settings = settings or VoiceSettings()
        _check_runtime_loads(data_folder)
        try:
            import onnxruntime
            from piper import PiperVoice, SynthesisConfig
            from piper.config import PiperConfig
        except ImportError as exc:
            raise TtsError(f"Piper is not installed ({exc.name or exc}): pip install piper-tts") from exc
        try:
            self.voice = voice or find_voice(settings.voice, data_folder)
        except VoiceError as exc:
            raise TtsError(str(exc)) from exc
        self.settings = settings
        files = self.voice
        try:
            config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise TtsError(f"the voice {files.name} has no settings file ({files.config} is missing)") from exc
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TtsError(f"the voice settings file {files.config} is damaged ({type(exc).__name__}: {exc}); "
                           f"reinstall the voice") from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.log_severity_level = 3  # errors only: warnings about unused initializers are noise
        if not files.model.is_file():
            raise TtsError(f"the voice file {files.model} is missing; reinstall the voice")
        try:
            session = onnxruntime.InferenceSession(str(files.model), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
            self._voice = PiperVoice(session=session, config=config)
            self.rate = int(config.sample_rate)
            # Piper's length scale stretches every phoneme: 1.0 is the voice's own pace, which
            # is close to the coach's default rate, so the rate setting scales from there.
            self._synthesis = SynthesisConfig(length_scale=DEFAULT_RATE / max(1, int(settings.rate)))
            if len(self._render(_PROBE)) == 0:
                raise ValueError("it rendered silence")
        except Exception as exc:  # onnxruntime raises its own exception types for a bad model
            detail = " ".join(str(exc).split())[:200]
            raise TtsError(f"the voice file {files.model} cannot be used ({detail}); reinstall the voice "
                           f"or choose another with [speech] voice") from exc

    def _render(self, text: str) -> np.ndarray:
        parts = [chunk.audio_float_array for chunk in self._voice.synthesize(text, self._synthesis)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def render(self, text: str) -> Audio:
        try:
            samples = self._render(text)
        except Exception as exc:
            raise TtsError(f"Piper could not render {text!r}: {exc}") from exc
        return Audio((np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16), self.rate)
