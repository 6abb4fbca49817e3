"""The command table is the one source: the spoken help, the CLI's epilog, the README's
table and the session's rules for a paused clock all follow it, and a new command
("louder") takes one entry, one handler and this file's test."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sessiondriver import Driver

from voicecoach.app.cli import build_parser
from voicecoach.app.runner import Runner
from voicecoach.core.clock import FakeClock
from voicecoach.core.commands import COMMANDS, Command, help_names, help_text, parse, readme_table
from voicecoach.core.plan import Plan, PlanSettings
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Say, Session
from voicecoach.voice.base import Heard, Listener
from voicecoach.voice.playback import with_gain
from voicecoach.voice.speakers import PrintSpeaker

README = Path(__file__).parent.parent / "README.md"
MINI = Path(__file__).parent / "fixtures" / "mini.yaml"


def test_the_readme_table_is_the_command_table():
    assert readme_table() in README.read_text(encoding="utf-8"), (
        "README.md's command table differs from voicecoach/core/commands.py; paste commands.readme_table()")


def test_help_and_the_epilog_name_every_command_but_the_answers():
    named = [spec.name for spec in COMMANDS if not spec.answers]
    assert [parse(p).name for p in help_names()] == named
    assert "pain" in help_text() and "louder" in help_text()
    epilog = " ".join(build_parser().format_help().split())
    assert "say (or type): " + ", ".join(help_names()) + "." in epilog
    assert all(parse(phrase) == Command(spec.name) for spec in COMMANDS for phrase in spec.phrases)


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_a_paused_clock_stays_stopped_only_for_the_commands_that_say_so(spec):
    d = Driver()
    d.until_block("reps", 0)
    d.say("pause")
    d.say(spec.name, 3 if spec.name == "number" else None)
    still_paused = d.session.paused_since is not None or d.session.question is not None
    assert still_paused == spec.while_paused


def test_no_in_the_get_ready_countdown_does_not_start_the_set():
    d = Driver()
    d.until_block("ready", 0)
    out = d.say("no")
    assert d.session.block.kind == "ready"
    # "No" to "say go when you're ready": the countdown waits for "go".
    assert [o.text for o in out if isinstance(o, Say)] == ["Take your time. Say go when you're ready."]
    assert d.session.paused_since is not None


class LoudnessSpeaker(PrintSpeaker):
    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.gains: list[float] = []

    def set_gain_db(self, gain_db: float) -> None:
        self.gains.append(gain_db)


class Quiet(Listener):
    def start(self, on_heard: Any, on_closed: Any) -> None:
        pass

    def close(self) -> None:
        pass


def test_louder_raises_the_volume_3_db_a_time_for_the_rest_of_the_session():
    clock = FakeClock()
    for i in range(6):
        clock.schedule(10.0 + i, ("heard", Heard(Command("louder"), "louder")))
    speaker = LoudnessSpeaker()
    records: list[dict[str, Any]] = []
    plan = Plan(load_routine(MINI), PlanSettings(ready_seconds=5))
    Runner(Session(plan), speaker, Quiet(), clock=clock, sinks=[records.append]).run()
    assert speaker.gains == [3.0, 6.0, 9.0, 12.0]
    replies = [r["text"] for r in records if r["type"] == "say" and r["kind"] == "reply"]
    assert replies == ["Louder."] * 4 + ["That's as loud as I go."] * 2
    # The player applies it to every sample it plays: +3 dB is about 1.41 times the amplitude.
    clip = np.array([1000, -1000, 30000], dtype=np.int16)
    assert with_gain(clip, 3.0).tolist() == [1413, -1413, 32767]
    assert with_gain(clip, 0.0).tolist() == clip.tolist()
