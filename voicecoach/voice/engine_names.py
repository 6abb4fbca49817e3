"""The names of the speech engines, apart from the engines themselves.

The configuration validates `[speech] engine` against these without importing the engines
(which find models through the configuration); `voice.engines` builds its registry in this
order, and a test keeps the two in step.
"""

from __future__ import annotations

ENGINE_NAMES: tuple[str, ...] = ("vosk", "whisper", "sphinx")
# Every `[speech] engine` / `--engine` value; "text" means typed commands, no engine.
ENGINE_CHOICES: tuple[str, ...] = ("auto", *ENGINE_NAMES, "text")
# Engines that can listen to audio (`voicecoach recognize --engine`).
AUDIO_CHOICES: tuple[str, ...] = ("auto", *ENGINE_NAMES)
