"""The command line, run as a user runs it: `python -m voicecoach ...` in a subprocess.

Every run gets its own HOME, XDG folders and data folder under tmp_path, so nothing
reads or writes the real home. Covers `--help`, `list`, `show --json` against the
README's schema, `plan` against a golden file, `check` on good and malformed files,
`run`/`plan`/`show` refusing invalid routines with `check`'s messages, unknown names,
`run` in text mode with piped or no input and its event log, and `suggest`.

Golden files: set VOICECOACH_UPDATE_GOLDEN=1 to rewrite them from the current output,
then read the diff before committing it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from voicecoach.app.cli import build_parser
from voicecoach.core.plan import Plan
from voicecoach.core.routine import RoutineError, load_routine

# Slow: most tests run `python -m voicecoach` as a process.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MINI = REPO / "tests" / "fixtures" / "mini.yaml"
BAD = REPO / "tests" / "fixtures" / "bad"
GOLDEN = REPO / "tests" / "golden"
BUNDLED = ["hip-strength", "hips-for-knees", "quads-hamstrings-glutes", "step-and-band"]
FAST = ["--text", "--time-scale", "0.002", "--no-checkins"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment whose home, config, data and routine folders are all in tmp_path."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOICECOACH_", "XDG_"))}
    clean.update({
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "VOICECOACH_DATA_DIR": str(tmp_path / "data" / "voicecoach"),
        "PYTHONIOENCODING": "utf-8",
    })
    (tmp_path / "home").mkdir()
    return clean


def user_routines(env: dict[str, str]) -> Path:
    folder = Path(env["XDG_CONFIG_HOME"]) / "voicecoach" / "routines"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def voicecoach(env: dict[str, str], *args: str, stdin: str | None = None,
               cwd: Path = REPO, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "voicecoach", *args], env=env, cwd=cwd, text=True, capture_output=True,
        input=stdin, stdin=subprocess.DEVNULL if stdin is None else None, timeout=timeout)
    # Whatever happens, a user never sees a traceback.
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VOICECOACH_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"


# --- help ------------------------------------------------------------------------------


def subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_every_documented_command_exists() -> None:
    names = subcommands()
    for name in ("run", "list", "show", "plan", "check", "suggest", "history", "doctor", "devices",
                 "models", "recognize", "config"):
        assert name in names


@pytest.mark.parametrize("args", [[], ["--help"], *[[name, "--help"] for name in subcommands()]],
                         ids=lambda a: " ".join(a) or "no arguments")
def test_help(env: dict[str, str], args: list[str]) -> None:
    proc = voicecoach(env, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: voicecoach")
    if args[:1] == ["run"]:
        for option in ("--text", "--time-scale", "--events", "--no-checkins", "--fresh"):
            assert option in proc.stdout


def test_version(env: dict[str, str]) -> None:
    proc = voicecoach(env, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("voicecoach ")


def test_a_bad_option_is_a_usage_error(env: dict[str, str]) -> None:
    proc = voicecoach(env, "run", "mini", "--time-scale", "fast")
    assert proc.returncode == 2
    assert "--time-scale: not a number: 'fast'" in proc.stderr


# --- list and show ---------------------------------------------------------------------------


def test_list_shows_the_four_routines_with_counts_and_minutes(env: dict[str, str]) -> None:
    proc = voicecoach(env, "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "EXERCISES", "ABOUT"]
    assert len(lines) == 1 + len(BUNDLED)
    for name, line in zip(BUNDLED, lines[1:], strict=True):
        routine = load_routine(REPO / "routines" / f"{name}.yaml")
        minutes = round(Plan(routine).total_seconds() / 60)
        assert line.startswith(name + " ")
        assert routine.title in line
        assert line.split()[-3:] == [str(len(routine.exercises)), str(minutes), "min"]


def test_list_includes_user_routines_and_marks_invalid_ones(env: dict[str, str]) -> None:
    folder = user_routines(env)
    shutil.copy(MINI, folder / "mini.yaml")
    shutil.copy(BAD / "ranges.yaml", folder / "broken.yaml")
    proc = voicecoach(env, "list")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted([*BUNDLED, "mini", "broken"])
    assert rows["mini"].split()[-3:] == ["3", "4", "min"]
    assert "(invalid: exercise \"Lifts\": reps: minimum 15 is above maximum 10)" in rows["broken"]


TOP_KEYS = {"name", "title", "source", "aliases", "helps_with", "equipment", "rest_seconds", "intro",
            "safety", "pain_guide", "exercises", "pain_limits"}
EXERCISE_KEYS = {"name", "steps", "sets", "sets_max", "sides", "reps", "hold_seconds", "tempo", "parts",
                 "equipment", "rest_seconds", "harder", "tips", "optional_equipment", "step_seconds",
                 "sides_match", "max_effort", "skip_when_sore"}


def is_range(value: object) -> bool:
    return (isinstance(value, dict) and set(value) == {"min", "max"}
            and all(type(v) is int for v in value.values()) and 0 < value["min"] <= value["max"])


def is_texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


@pytest.mark.parametrize("name", BUNDLED)
def test_show_json_follows_the_documented_schema(env: dict[str, str], name: str) -> None:
    proc = voicecoach(env, "show", name, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    raw = yaml.safe_load((REPO / "routines" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert set(data) == TOP_KEYS
    assert data["name"] == name
    assert data["title"] == raw["title"] and data["source"] == raw["source"]
    assert all(is_texts(data[k]) for k in ("aliases", "helps_with", "equipment", "intro", "safety"))
    assert data["safety"] and type(data["rest_seconds"]) is int
    for pain in data["pain_guide"]:
        assert set(pain) == {"id", "name", "signs", "care"} and is_texts(pain["signs"]) and is_texts(pain["care"])
    assert [ex["name"] for ex in data["exercises"]] == [ex["name"] for ex in raw["exercises"]]
    for ex, written in zip(data["exercises"], raw["exercises"], strict=True):
        assert set(ex) == EXERCISE_KEYS, ex["name"]
        assert is_texts(ex["steps"]) and ex["steps"]
        assert all(is_texts(ex[k]) for k in ("sides", "parts", "equipment", "harder", "tips", "optional_equipment"))
        assert type(ex["sets"]) is int and type(ex["sets_max"]) is int and 1 <= ex["sets"] <= ex["sets_max"]
        assert ex["sides"] == written.get("sides", [])
        # Exactly one of reps and hold_seconds, each {"min", "max"} or null.
        assert (ex["reps"] is None) != (ex["hold_seconds"] is None), ex["name"]
        assert all(ex[k] is None or is_range(ex[k]) for k in ("reps", "hold_seconds"))
        kind = "reps" if ex["reps"] is not None else "hold_seconds"
        assert kind in written
        if ex["tempo"] is not None:
            assert set(ex["tempo"]) == {"up", "top", "down", "bottom"}
        assert ex["rest_seconds"] is None or type(ex["rest_seconds"]) is int
        assert ex["step_seconds"] == written.get("step_seconds")
        assert ex["sides_match"] is written.get("sides_match", False)
        assert ex["max_effort"] is written.get("max_effort", False)


def test_show_json_of_a_file(env: dict[str, str]) -> None:
    proc = voicecoach(env, "show", str(MINI), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    lifts, press, taps = data["exercises"]
    assert (data["name"], data["title"], data["source"]) == ("mini", "Mini routine", "Test fixture")
    assert lifts["reps"] == {"min": 3, "max": 5} and lifts["hold_seconds"] is None
    assert lifts["sets"] == 2 and lifts["sides"] == ["left leg", "right leg"]
    assert press["hold_seconds"] == {"min": 20, "max": 30} and press["reps"] is None
    assert taps["parts"] == ["Tap to the side", "Tap behind you"]
    assert data["equipment"] == ["a wall"]


def test_show_as_text(env: dict[str, str]) -> None:
    proc = voicecoach(env, "show", str(MINI))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Mini routine  (mini)\nSource: Test fixture\n")
    assert "1. Lifts: " in out and "2. Wall press: " in out and "3. Taps: " in out
    assert "   1) Lie down.\n   2) Lift your leg.\n" in out


# --- plan --------------------------------------------------------------------------------


def test_plan_matches_the_golden_file(env: dict[str, str]) -> None:
    proc = voicecoach(env, "plan", "tests/fixtures/mini.yaml")
    assert proc.returncode == 0, proc.stderr
    check_golden("mini.plan.txt", proc.stdout)


def test_plan_by_name_from_the_user_folder(env: dict[str, str]) -> None:
    shutil.copy(MINI, user_routines(env) / "mini.yaml")
    proc = voicecoach(env, "plan", "mini")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (GOLDEN / "mini.plan.txt").read_text(encoding="utf-8")


def test_plan_options_change_the_times(env: dict[str, str]) -> None:
    proc = voicecoach(env, "plan", str(MINI), "--ready", "5", "--rest", "10")
    assert proc.returncode == 0, proc.stderr
    assert "We start in 5 seconds." in proc.stdout and "Rest for 10 seconds." in proc.stdout


def test_plan_follows_the_configuration_like_run(env: dict[str, str]) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "voicecoach" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[coach]\nready_seconds = 5\nswitch_seconds = 4\n")
    proc = voicecoach(env, "plan", str(MINI))
    assert proc.returncode == 0, proc.stderr
    assert "We start in 5 seconds." in proc.stdout and "We start in 15 seconds." not in proc.stdout
    proc = voicecoach(env, "plan", str(MINI), "--ready", "7")  # the command line wins
    assert "We start in 7 seconds." in proc.stdout
    proc = voicecoach(env, "plan", str(MINI), "--config", str(config.parent / "missing.toml"))
    assert proc.returncode == 1 and proc.stderr.startswith("voicecoach: ")


@pytest.mark.parametrize("name", BUNDLED)
def test_plan_of_every_bundled_routine(env: dict[str, str], name: str) -> None:
    proc = voicecoach(env, "plan", name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("-- end --")


# --- check -------------------------------------------------------------------------------


def test_check_good_files(env: dict[str, str]) -> None:
    files = [f"routines/{name}.yaml" for name in BUNDLED] + ["tests/fixtures/mini.yaml"]
    proc = voicecoach(env, "check", *files)
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr == "5 file(s) OK.\n"


def bad_files() -> list[str]:
    return sorted(f"tests/fixtures/bad/{p.name}" for p in BAD.glob("*.yaml"))


def test_check_malformed_files_matches_the_golden_file(env: dict[str, str]) -> None:
    files = bad_files()
    proc = voicecoach(env, "check", *files)
    assert proc.returncode == 1
    assert proc.stderr == f"{len(files)} of {len(files)} file(s) have problems.\n"
    check_golden("bad.check.txt", proc.stdout)
    # One line per problem, FILE:LINE: message, and each file has at least one.
    lines = proc.stdout.splitlines()
    for line in lines:
        file, number, message = line.split(":", 2)
        assert file in files and int(number) > 0 and message.startswith(" ") and message.strip()
    assert {line.split(":", 1)[0] for line in lines} == set(files)


def test_check_prints_what_the_loader_finds(env: dict[str, str]) -> None:
    files = bad_files()
    expected = []
    for file in files:
        with pytest.raises(RoutineError) as info:
            load_routine(file if Path(file).is_absolute() else REPO / file)
        expected += [str(p).replace(str(REPO) + "/", "") for p in info.value.problems]
    assert (GOLDEN / "bad.check.txt").read_text(encoding="utf-8").splitlines() == expected


def test_check_a_mix_of_files(env: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * 2_000_000)
    missing = tmp_path / "missing.yaml"
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    proc = voicecoach(env, "check", str(MINI), "tests/fixtures/bad/ranges.yaml", str(big), str(missing),
                      str(folder), "routines/hip-strength.yaml")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        'tests/fixtures/bad/ranges.yaml:7: exercise "Lifts": reps: minimum 15 is above maximum 10',
        'tests/fixtures/bad/ranges.yaml:8: exercise "Lifts": sets: must be above zero, got -2',
        'tests/fixtures/bad/ranges.yaml:11: exercise "Wall press": hold_seconds: must be above zero, got 0',
        'tests/fixtures/bad/ranges.yaml:12: exercise "Wall press": rest_seconds: cannot be negative, got -30',
        f"{big}:1: file too large (over 1000000 bytes)",
        f"{missing}: no such file",
        f"{folder}: is a folder, not a routine file",
    ]
    assert proc.stderr == "4 of 6 file(s) have problems.\n"


def test_check_needs_a_file(env: dict[str, str]) -> None:
    proc = voicecoach(env, "check")
    assert proc.returncode == 2 and "the following arguments are required: FILE" in proc.stderr


# --- run, plan and show refuse invalid routines --------------------------------------------


@pytest.mark.parametrize("command", [["run", *FAST], ["plan"], ["show"], ["show", "--json"]],
                         ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("bad", ["ranges.yaml", "python-object.yaml", "binary.yaml", "alias-bomb.yaml"])
def test_invalid_routines_are_refused_with_checks_messages(env: dict[str, str], command: list[str],
                                                           bad: str) -> None:
    file = f"tests/fixtures/bad/{bad}"
    expected = [line for line in (GOLDEN / "bad.check.txt").read_text(encoding="utf-8").splitlines()
                if line.startswith(file + ":")]
    assert expected
    proc = voicecoach(env, command[0], file, *command[1:], stdin="next\n")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == expected


def test_an_invalid_user_routine_by_name_is_refused(env: dict[str, str]) -> None:
    path = user_routines(env) / "mine.yaml"
    shutil.copy(BAD / "reps-and-hold.yaml", path)
    proc = voicecoach(env, "run", "mine", *FAST)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f'{path}:8: exercise "Both": give "reps" or "hold_seconds", not both '
        "(use tempo: top for a pause in each rep)",
        f'{path}:9: exercise "Neither": needs "reps" or "hold_seconds"',
    ]


@pytest.mark.parametrize("command", [["run", *FAST], ["plan"], ["show"]], ids=lambda c: c[0])
def test_unknown_routine_name_says_did_you_mean(env: dict[str, str], command: list[str]) -> None:
    proc = voicecoach(env, command[0], "hips-for-knes", *command[1:])
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == ('hips-for-knes: no routine by that name. Did you mean "hips-for-knees"? '
                           "Known routines: " + ", ".join(BUNDLED) + ".\n")


def test_a_missing_file_is_a_one_line_error(env: dict[str, str]) -> None:
    proc = voicecoach(env, "run", "no/such/routine.yaml", *FAST)
    assert proc.returncode == 1
    assert proc.stderr == "no/such/routine.yaml: no such file\n"


# --- run in text mode ------------------------------------------------------------------------


def read_events(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records
    last = 0.0
    for record in records:
        assert isinstance(record["t"], int | float) and record["t"] >= last
        assert isinstance(record["type"], str)
        last = record["t"]
        if record["type"] == "say":
            assert isinstance(record["text"], str) and record["text"]
            assert record["kind"] in ("say", "count", "tick", "reply")
            if "due" in record:
                assert isinstance(record["due"], int | float) and record["due"] >= 0
        if record["type"] == "command":
            assert isinstance(record["name"], str) and record["name"]
    return records


def test_run_with_piped_commands(env: dict[str, str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    proc = voicecoach(env, "run", str(MINI), *FAST, "--events", str(events), stdin="skip\n" * 4)
    assert proc.returncode == 0, proc.stderr
    records = read_events(events)
    assert [r["name"] for r in records if r["type"] == "command"] == ["skip"] * 4
    assert [r["exercise"] for r in records if r["type"] == "exercise_skipped"] == ["Lifts", "Wall press", "Taps"]
    assert records[0]["type"] == "session_start"
    assert records[-1]["type"] == "session_end" and records[-1]["outcome"] == "finished"
    says = [r for r in records if r["type"] == "say"]
    # Scheduled cues carry when they were due; replies to commands do not.
    assert any("due" in r for r in says)
    assert all("due" in r for r in says if r["kind"] != "reply")
    assert all("due" not in r for r in says if r["kind"] == "reply")
    assert "coach: Skipping Lifts." in proc.stdout
    assert proc.stdout.rstrip().endswith("You skipped Lifts, Wall press, Taps.")


def test_run_with_no_input_completes_the_routine(env: dict[str, str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    proc = voicecoach(env, "run", str(MINI), *FAST, "--events", str(events))
    assert proc.returncode == 0, proc.stderr
    records = read_events(events)
    finished = [r for r in records if r["type"] == "set_finished"]
    assert [(r["exercise"], r["set"], r["side"]) for r in finished] == [
        ("Lifts", 1, "left leg"), ("Lifts", 1, "right leg"), ("Lifts", 2, "left leg"), ("Lifts", 2, "right leg"),
        ("Wall press", 1, None), ("Taps", 1, None)]
    assert records[-1]["type"] == "session_end" and records[-1]["outcome"] == "finished"
    counts = [r["text"] for r in records if r["type"] == "say" and r["kind"] == "count"]
    assert counts == ["1", "2", "3"] * 4 + ["1", "2"] * 2
    assert "You finished 6 of 6 sets" in proc.stdout


def test_run_with_checkins_and_no_input_still_completes(env: dict[str, str]) -> None:
    proc = voicecoach(env, "run", str(MINI), "--text", "--time-scale", "0.002")
    assert proc.returncode == 0, proc.stderr
    assert "how is your knee, from 0 to 10" in proc.stdout
    assert "You finished 6 of 6 sets" in proc.stdout


def test_run_stop_then_yes(env: dict[str, str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    shutil.copy(MINI, user_routines(env) / "mini.yaml")
    proc = voicecoach(env, "run", "mini", *FAST, "--events", str(events), stdin="stop\nyes\n")
    assert proc.returncode == 0, proc.stderr
    records = read_events(events)
    assert [r["name"] for r in records if r["type"] == "command"] == ["stop", "yes"]
    assert records[-1]["type"] == "session_end" and records[-1]["outcome"] == "stopped"


def test_run_with_typing_mistakes_gets_hints(env: dict[str, str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    proc = voicecoach(env, "run", str(MINI), *FAST, "--events", str(events),
                      stdin="\x00\x1b[A\nflibbertigibbet\n" + "ü" * 5000 + "\nskip\nskip\nskip\nskip\n")
    assert proc.returncode == 0, proc.stderr
    records = read_events(events)
    assert sum(r["type"] == "unknown" for r in records) >= 2
    assert records[-1]["outcome"] == "finished"


def test_run_cannot_write_the_event_log(env: dict[str, str], tmp_path: Path) -> None:
    proc = voicecoach(env, "run", str(MINI), *FAST, "--events", str(tmp_path / "no" / "such" / "dir.jsonl"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("voicecoach: cannot write the event log ")


# --- suggest ------------------------------------------------------------------------------


def test_suggest_without_words_lists_the_kinds_of_knee_pain(env: dict[str, str]) -> None:
    proc = voicecoach(env, "suggest")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Which kind of knee pain is yours?")
    for kind in ("Runner's knee", "IT band syndrome"):
        assert kind in out
    assert sum(line.startswith("  routines: ") for line in out.splitlines()) == 4
    assert "see a physiotherapist or doctor" in out


def test_suggest_with_words_picks_a_kind(env: dict[str, str]) -> None:
    proc = voicecoach(env, "suggest", "outside", "of", "the", "knee")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["This sounds most like:", "IT band syndrome"]
    assert any(line.startswith("  routines: ") and "hips-for-knees" in line for line in lines)


def test_suggest_with_words_that_match_nothing(env: dict[str, str]) -> None:
    proc = voicecoach(env, "suggest", "purple elephant")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('Nothing in the guide matches "purple elephant".')


def test_suggest_ignores_a_broken_user_routine(env: dict[str, str]) -> None:
    shutil.copy(BAD / "binary.yaml", user_routines(env) / "junk.yaml")
    proc = voicecoach(env, "suggest", "under the kneecap")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith("Runner's knee")
