"""Returning users get to work quickly: once a routine has been done, the coach gives a short
welcome, the safety lines and each exercise's name and first step; "repeat" reads all the steps.
`[coach] brief = auto|always|never` chooses, and `voicecoach plan --brief` prints that form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sessiondriver import Driver

from voicecoach.config import ConfigError, load_config
from voicecoach.core.brief import has_done, is_brief
from voicecoach.core.plan import COUNT, Plan, PlanSettings
from voicecoach.core.routine import load_routine

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini.yaml"
HIPS = REPO / "routines" / "hips-for-knees.yaml"


def test_the_rule():
    finished = {"routine": "mini", "outcome": "finished", "sets_done": 6}
    partly = {"routine": "mini", "outcome": "interrupted", "sets_done": 2}
    nothing = {"routine": "mini", "outcome": "stopped", "sets_done": 0}
    other = {"routine": "hips-for-knees", "outcome": "finished", "sets_done": 24}
    assert has_done([finished], "mini") and has_done([nothing, partly], "mini")
    assert not has_done([nothing, other], "mini") and not has_done([], "mini")
    assert [is_brief(s, done) for s in ("auto", "always", "never") for done in (False, True)] == [
        False, True, True, True, False, False]


def first_count(plan: Plan) -> float:
    t = 0.0
    for block in plan.blocks:
        for cue in block.cues:
            if cue.kind == COUNT:
                return t + cue.at
        t += block.duration
    raise AssertionError("no count")


def test_the_brief_plan_says_the_welcome_safety_and_each_first_step():
    routine = load_routine(HIPS)
    full, brief = Plan(routine), Plan(routine, PlanSettings(brief=True))
    intro = [c.text for c in brief.blocks[0].cues]
    assert intro[0] == "Welcome back to Four hip exercises for sore knees."
    assert intro[1:1 + len(routine.safety)] == list(routine.safety)
    assert not set(routine.intro) & set(intro) and not any("need" in line for line in intro)
    assert intro[-1] == "I'll give each exercise's first step. Say repeat to hear all its steps."
    for e, ex in enumerate(routine.exercises):
        block = brief.blocks[brief.first_block_of_exercise(e)]
        assert [c.text for c in block.cues] == [f"Exercise {e + 1} of 4: {ex.name}.", ex.steps[0]]
    # The same sets, counted the same way: only the talking is shorter.
    assert brief.set_keys() == full.set_keys()
    assert first_count(full) > 110 and first_count(brief) < 65


def test_repeat_in_a_brief_session_reads_all_the_steps_then_counts_down_again():
    d = Driver("mini.yaml", settings=PlanSettings(brief=True, ready_seconds=5))
    ex = d.plan.routine.exercises[0]
    d.until_block("exercise", 0)
    assert d.texts()[-1] == "Exercise 1 of 3: Lifts."
    mark = len(d.log)
    d.say("repeat")
    d.until_block("ready", 0)
    assert d.texts(mark)[:len(ex.steps)] == list(ex.steps)
    assert d.texts()[-1].startswith("Get into position.")
    # And again from the countdown: the steps, then the countdown from the start.
    d.advance(d.t + 2)
    mark = len(d.log)
    d.say("repeat")
    assert d.session.block.kind == "exercise"
    d.until_block("ready", 0)
    assert d.texts(mark)[:len(ex.steps)] == list(ex.steps)
    d.run_out()
    assert d.session.outcome == "finished" and len(d.events("set_finished")) == 6


def test_repeat_in_a_full_session_is_unchanged_by_brief_mode():
    d = Driver("mini.yaml", settings=PlanSettings(ready_seconds=5))
    d.until_block("exercise", 0)
    d.advance(d.t + 3)
    before = d.session.block
    d.say("repeat")
    assert d.session.block is before  # a full introduction is not replaced by the steps alone


def test_the_setting(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text("")
    assert load_config(path).config.coach.brief == "auto"
    for value in ("always", "never", "auto"):
        path.write_text(f'[coach]\nbrief = "{value}"\n')
        assert load_config(path).config.coach.brief == value
    path.write_text('[coach]\nbrief = "sometimes"\n')
    with pytest.raises(ConfigError, match='"sometimes" is not one of "auto", "always", "never"'):
        load_config(path)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "voicecoach", *args], env=env, cwd=REPO, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECOACH_", "XDG_"))}
    clean.update({"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                  "XDG_DATA_HOME": str(tmp_path / "data"), "VOICECOACH_DATA_DIR": str(tmp_path / "data" / "vc")})
    (tmp_path / "home").mkdir()
    return clean


def test_plan_prints_the_brief_form(env: dict[str, str], tmp_path: Path):
    assert "Welcome. This is Mini routine." in run_cli(env, "plan", str(MINI)).stdout
    brief = run_cli(env, "plan", str(MINI), "--brief").stdout
    assert "Welcome back to Mini routine." in brief and "Lie down." in brief and "Lift your leg." not in brief
    config = tmp_path / "always.toml"
    config.write_text('[coach]\nbrief = "always"\n')
    assert "Welcome back to Mini routine." in run_cli(env, "plan", str(MINI), "--config", str(config)).stdout


@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_a_second_run_of_a_routine_is_brief_unless_configured_otherwise(env: dict[str, str], tmp_path: Path):
    fast = ["run", str(MINI), "--text", "--time-scale", "0.002", "--no-checkins"]
    first = run_cli(env, *fast).stdout
    assert "Welcome. This is Mini routine." in first and "Welcome back" not in first
    second = run_cli(env, *fast).stdout
    assert "Welcome back to Mini routine." in second and "Lift your leg." not in second
    assert "You finished 6 of 6 sets" in second
    never = tmp_path / "never.toml"
    never.write_text('[coach]\nbrief = "never"\n')
    assert "Welcome. This is Mini routine." in run_cli(env, *fast, "--config", str(never)).stdout
    # Without the history, "auto" cannot know: the full introduction.
    assert "Welcome. This is Mini routine." in run_cli(env, *fast, "--no-history").stdout


def test_a_brief_session_renders_all_the_steps_ahead_too():
    from voicecoach.app.run import prepare_phrases

    routine = load_routine(MINI)
    full, brief = prepare_phrases(Plan(routine)), prepare_phrases(Plan(routine, PlanSettings(brief=True)))
    steps = [step for ex in routine.exercises for step in ex.steps]
    assert set(steps) <= set(full) and set(steps) <= set(brief)
    # The first steps come in their place in the session; the rest, for "repeat", after everything due.
    assert brief.index("Lift your leg.") > brief.index("Good. That set is done.")
