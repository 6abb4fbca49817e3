"""Where the pain limits come from: the config's [pain] section and a routine's pain_limits
and skip_when_sore, each checked with a message naming the file and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicecoach.config import ConfigError, format_config, load_config
from voicecoach.core.pain_rules import PainLimits
from voicecoach.core.routine import RoutineError, parse_routine

ROUTINE = """\
title: Test routine
source: Written for the tests
safety: [Stop if it hurts.]
pain_limits: {stop: 6, caution: 4, rise: 1}
exercises:
  - name: Lifts
    steps: [Lift.]
    reps: 10-15
    skip_when_sore: true
  - name: Wall sit
    steps: [Lean on the wall.]
    hold_seconds: 20-30
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RoutineError) as info:
        parse_routine(text.encode(), "r.yaml")
    return [str(p) for p in info.value.problems]


def test_the_config_s_pain_section_has_the_model_s_defaults(tmp_path: Path):
    empty = tmp_path / "config.toml"
    empty.write_text("", encoding="utf-8")
    loaded = load_config(empty)
    pain = loaded.config.pain
    assert (pain.stop_level, pain.caution_level, pain.rise_limit) == (7, 5, 2)
    assert "[pain]" in format_config(loaded, docs=True) and "start anyway" in format_config(loaded, docs=True)


def test_the_config_s_pain_limits_are_read_and_checked(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text("[pain]\nstop_level = 6\ncaution_level = 4\nrise_limit = 3\n", encoding="utf-8")
    pain = load_config(path).config.pain
    assert (pain.stop_level, pain.caution_level, pain.rise_limit) == (6, 4, 3)
    path.write_text("[pain]\ncaution_level = 11\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.toml:2: pain.caution_level: 11 is out of range"):
        load_config(path)
    path.write_text("[pain]\n\ncaution_level = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.toml:3: pain.caution_level \(7\) must be below pain.stop_level"):
        load_config(path)


def test_a_routine_s_pain_limits_and_skip_when_sore_are_read():
    routine = parse_routine(ROUTINE.encode(), "r.yaml")
    assert routine.pain_limits == PainLimits(6, 4, 1)
    assert [ex.skip_when_sore for ex in routine.exercises] == [True, False]
    assert routine.to_json()["pain_limits"] == {"stop": 6, "caution": 4, "rise": 1}
    partial = parse_routine(ROUTINE.replace("{stop: 6, caution: 4, rise: 1}", "{caution: 3}").encode(), "r.yaml")
    assert partial.pain_limits == PainLimits(7, 3, 2)


@pytest.mark.parametrize("written, message", [
    ("{stop: 6, caution: 6}", "r.yaml:4: pain_limits: the caution level (6) must be below the stop level (6)"),
    ("{stop: 11}", "r.yaml:4: pain_limits: stop: expected a whole number from 0 to 10, got a number (11)"),
    ("{caution: high}", 'r.yaml:4: pain_limits: caution: expected a whole number from 0 to 10, got text ("high")'),
    ("{rise: 0}", "r.yaml:4: pain_limits: the rise limit must be from 1 to 10, not 0"),
    ("{stp: 6}", 'r.yaml:4: pain_limits: unknown field "stp" (did you mean "stop"?)'),
    ("7", "r.yaml:4: pain_limits: expected stop, caution and rise (0 to 10), got a number (7)"),
])
def test_bad_pain_limits_are_problems_with_a_line(written: str, message: str):
    assert problems(ROUTINE.replace("{stop: 6, caution: 4, rise: 1}", written)) == [message]


def test_skip_when_sore_is_true_or_false():
    assert problems(ROUTINE.replace("skip_when_sore: true", "skip_when_sore: often")) == [
        'r.yaml:9: exercise "Lifts": skip_when_sore: expected true or false, got text ("often")']


def test_check_validates_the_pain_fields(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(ROUTINE.replace("caution: 4", "caution: 9"), encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(ROUTINE, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "voicecoach", "check", str(good), str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "bad.yaml:4: pain_limits: the caution level (9) must be below the stop level (6)" in result.stdout
    assert "good.yaml" not in result.stdout
