"""The settings of a session, built once: defaults, the config file, the environment, the options.

`run` and `serve` are handed one `SessionSettings`; nothing past the command line sees
argparse.  The command line maps its options onto `build`'s keywords, and a test or
another front end can call `build` the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecoach.config import Config, ConfigError, LoadedConfig, load_config
from voicecoach.core.errors import UserError
from voicecoach.core.plan import PlanSettings, with_timings
from voicecoach.core.routine import Tempo

VIEWS = ("auto", "live", "plain", "off")


class SettingsError(UserError):
    """A setting a person got wrong (the config file, the environment or an option)."""


@dataclass(frozen=True)
class SessionSettings:
    """Everything a session needs to know before it starts, typed."""

    config: Config
    """The effective configuration (`voicecoach config` shows where each value came from)."""
    plan: PlanSettings
    """The timings the plan is built with: the config's, then --rest and --ready."""
    routine: str = ""
    """The routine to run: a name or a path to a routine file ("" until `serve` picks one)."""
    text: bool = False
    """Text mode: speech printed, commands typed (also when the engine is "text")."""
    time_scale: float = 1.0
    """Every wait multiplied by this (0.01 runs a hundred times faster)."""
    events: Path | None = None
    """Write a JSON-lines event log here."""
    view: str = "auto"
    """The screen: auto, live, plain or off."""
    fresh: bool = False
    """Start from the beginning even after an interrupted session."""
    record: bool = True
    """Record the session in the history."""

    @property
    def text_mode(self) -> bool:
        return self.text or self.config.speech.engine == "text"

    def for_routine(self, routine: str, *, text: bool | None = None) -> SessionSettings:
        """These settings for `routine` (and, when given, text mode on or off)."""
        return dataclasses.replace(self, routine=routine, text=self.text if text is None else text)


def plan_settings_from(loaded: LoadedConfig) -> PlanSettings:
    """The plan timings the configuration asks for (the routine's own rest wins over the default)."""
    coach = loaded.config.coach
    rest_from_config = loaded.sources.get("coach.rest_seconds", "default") != "default"
    return PlanSettings(
        ready_seconds=float(coach.ready_seconds),
        switch_seconds=float(coach.switch_seconds),
        rest_seconds=float(coach.rest_seconds) if rest_from_config else None,
        tempo=Tempo(coach.tempo_up, coach.tempo_top, coach.tempo_down, coach.tempo_bottom),
        brief=coach.brief == "always",  # "auto" is decided with the history, in run_session
    )


def load(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LoadedConfig:
    """The configuration with `overrides` ({"section.key": value}; None means not given) on top."""
    try:
        return load_config(Path(config_file).expanduser() if config_file else None, overrides=overrides)
    except ConfigError as exc:
        raise SettingsError(str(exc)) from None


def build(*, config_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
          rest_seconds: float | None = None, ready_seconds: float | None = None,
          **session: Any) -> SessionSettings:
    """Settings for a session: the configuration (`overrides` as for `load`), the plan's timings
    with `rest_seconds` and `ready_seconds` on top, and `session`'s `SessionSettings` fields."""
    loaded = load(config_file, overrides)
    plan = with_timings(plan_settings_from(loaded), rest_seconds=rest_seconds, ready_seconds=ready_seconds)
    if session.get("view", "auto") not in VIEWS:
        raise SettingsError(f"unknown view {session['view']!r}: choose one of {', '.join(VIEWS)}")
    events = session.pop("events", None)
    return SessionSettings(config=loaded.config, plan=plan, events=Path(events) if events else None, **session)
