"""Idle `serve` answers what a person tries first: "help" says what to say, and "start"
with a name no routine has says so and names the routines."""

from __future__ import annotations

import io
from pathlib import Path

from voicecoach.cli import build_parser, session_settings
from voicecoach.serve import Server, build_menu

TINY = """\
name: tiny
title: Tiny
source: Test fixture
aliases: [tiny]
safety: [Stop if it hurts.]
exercises:
  - name: Lifts
    steps: [Lift.]
    reps: 1
"""

KNEES = TINY.replace("name: tiny", "name: knee-work").replace("title: Tiny", "title: Knee work") \
    .replace("aliases: [tiny]", "aliases: [knees]")


def make_routines(tmp_path: Path) -> Path:
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    (folder / "knee-work.yaml").write_text(KNEES)
    return folder


def test_menu_help_and_unknown_names(tmp_path: Path):
    menu = build_menu(make_routines(tmp_path))
    assert menu.help() == ("You can say start and a routine's name: start knees, start tiny. "
                           "Say what can I do to hear what each routine is.")
    assert menu.unknown_start("start banana") == "banana"
    assert menu.unknown_start("Coach, start banana split!") == "banana split"
    for known_or_other in ("start tiny", "start knee work", "start", "banana", "help"):
        assert menu.unknown_start(known_or_other) is None, known_or_other
    assert menu.unknown("banana") == "I don't know a routine called banana. The routines are: knees, tiny."
    # "help" is in the spoken idle grammar too, with its other phrase and the wake word.
    phrases = menu.phrases()
    assert {"help", "what can i say", "coach help"} <= set(phrases)


def test_typed_idle_help_and_an_unknown_routine(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text("")
    args = build_parser().parse_args(["serve", "--text", "--routines", str(make_routines(tmp_path)),
                                      "--config", str(config), "--no-history"])
    out, err = io.StringIO(), io.StringIO()
    code = Server(session_settings(args), routines=args.routines, out=out, err=err,
                  stdin=io.StringIO("help\nstart banana\n")).run()
    assert code == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert "coach: You can say start and a routine's name: start knees, start tiny. " \
           "Say what can I do to hear what each routine is." in lines
    assert "coach: I don't know a routine called banana. The routines are: knees, tiny." in lines
    assert not any("Not an idle command" in line or "starting" in line for line in lines), lines
    assert lines[-1] == "serve: end of input"
