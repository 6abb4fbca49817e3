"""Routine validation: every kind of problem gives the right `FILE:LINE: message`.

Each message names the place (the exercise, the field) so a physio can fix the file
without reading code. Hostile files (binary junk, YAML bombs, object tags, huge or
deeply nested files) are refused with a message, never a traceback, and without
building what they describe. Also: finding routines by name, path and alias, and
names that must not reach outside the routine folders.
"""

from __future__ import annotations

import os
import random
import tracemalloc
from pathlib import Path

import pytest

from voicecoach.core import routine as routine_module
from voicecoach.core.routine import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    Problem,
    RoutineError,
    bundled_dir,
    find_routine,
    list_routines,
    load_routine,
    parse_routine,
    user_dir,
)

FILE = "r.yaml"

# A valid routine; the line numbers below refer to it.
GOOD = """\
title: Test routine
source: Written for the tests
safety: [Stop if it hurts.]
exercises:
  - name: Lifts
    steps: [Lie down., Lift your leg.]
    sets: 2
    reps: 10-15
  - name: Wall sit
    steps: [Lean on the wall.]
    hold_seconds: 20-30
"""

PAIN_GUIDE = """\
pain_guide:
  - id: runners-knee
    name: Runner's knee
    signs: [Pain around the kneecap.]
    care: [Strengthen the hips.]
"""


def edit(old: str, new: str, text: str = GOOD) -> str:
    """GOOD with one exact piece replaced (the piece must occur once)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def problems(data: str | bytes) -> list[str]:
    """The problems parse_routine reports, as printed; fails if the routine is valid."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(RoutineError) as info:
        parse_routine(raw, FILE)
    lines = [str(p) for p in info.value.problems]
    assert str(info.value) == "\n".join(lines)
    return lines


def test_the_base_routine_is_valid() -> None:
    r = parse_routine(GOOD.encode(), FILE, default_name="r")
    assert r.name == "r"
    assert [ex.name for ex in r.exercises] == ["Lifts", "Wall sit"]
    assert (r.exercises[0].reps.min, r.exercises[0].reps.max) == (10, 15)
    assert r.exercises[0].sets.min == 2
    assert (r.exercises[1].hold_seconds.min, r.exercises[1].hold_seconds.max) == (20, 30)
    assert parse_routine((GOOD + PAIN_GUIDE).encode(), FILE).pain_guide[0].id == "runners-knee"


# --- unknown fields, with a did-you-mean ------------------------------------------------

UNKNOWN = [
    ("top level", GOOD + "titel: Another\n",
     ['r.yaml:12: unknown field "titel" (did you mean "title"?)']),
    ("top level, no guess", GOOD + "colour: red\n",
     ['r.yaml:12: unknown field "colour"']),
    ("exercise", edit("    sets: 2\n", "    sets: 2\n    rep: 3\n"),
     ['r.yaml:8: exercise "Lifts": unknown field "rep" (did you mean "reps"?)']),
    ("exercise, second", GOOD + "    hold_second: 5\n",
     ['r.yaml:12: exercise "Wall sit": unknown field "hold_second" (did you mean "hold_seconds"?)']),
    ("tempo, flow", edit("    sets: 2\n", "    sets: 2\n    tempo: {up: 1, dwon: 2}\n"),
     ['r.yaml:8: exercise "Lifts": tempo: unknown field "dwon" (did you mean "down"?)']),
    # In block style the problem is on the field's own line, not the mapping's first line.
    ("tempo, block", edit("    sets: 2\n", "    sets: 2\n    tempo:\n      up: 1\n      botom: 0\n"),
     ['r.yaml:10: exercise "Lifts": tempo: unknown field "botom" (did you mean "bottom"?)']),
    ("pain_guide", GOOD + PAIN_GUIDE + "    sings: [Swelling.]\n",
     ['r.yaml:17: pain_guide 1: unknown field "sings" (did you mean "signs"?)']),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in UNKNOWN], ids=[c[0] for c in UNKNOWN])
def test_unknown_fields(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


# --- numbers and ranges ---------------------------------------------------------------

PLAIN = "expected a number written plainly, like 12 or 0.5 (no leading zeros, +, colons, _ or 0x), got"
NUMBERS = [
    ("reps min above max", edit("reps: 10-15", "reps: 15-10"),
     ['r.yaml:8: exercise "Lifts": reps: minimum 15 is above maximum 10']),
    ("hold min above max", edit("hold_seconds: 20-30", "hold_seconds: 30-20"),
     ['r.yaml:11: exercise "Wall sit": hold_seconds: minimum 30 is above maximum 20']),
    ("sets min above max", edit("sets: 2", "sets: 3-2"),
     ['r.yaml:7: exercise "Lifts": sets: minimum 3 is above maximum 2']),
    ("reps as min/max above", edit("reps: 10-15", "reps: {min: 15, max: 10}"),
     ['r.yaml:8: exercise "Lifts": reps: minimum 15 is above maximum 10']),
    ("zero reps", edit("reps: 10-15", "reps: 0"),
     ['r.yaml:8: exercise "Lifts": reps: must be above zero, got 0']),
    ("negative reps", edit("reps: 10-15", "reps: -5"),
     ['r.yaml:8: exercise "Lifts": reps: must be above zero, got -5']),
    ("range from zero", edit("reps: 10-15", "reps: 0-15"),
     ['r.yaml:8: exercise "Lifts": reps: must be above zero, got 0']),
    ("negative range", edit("reps: 10-15", "reps: -3-5"),
     ['r.yaml:8: exercise "Lifts": reps: must be above zero, got -3']),
    ("zero sets", edit("sets: 2", "sets: 0"),
     ['r.yaml:7: exercise "Lifts": sets: must be above zero, got 0']),
    ("negative sets", edit("sets: 2", "sets: -2"),
     ['r.yaml:7: exercise "Lifts": sets: must be above zero, got -2']),
    ("zero hold", edit("hold_seconds: 20-30", "hold_seconds: 0"),
     ['r.yaml:11: exercise "Wall sit": hold_seconds: must be above zero, got 0']),
    ("negative hold", edit("hold_seconds: 20-30", "hold_seconds: -10"),
     ['r.yaml:11: exercise "Wall sit": hold_seconds: must be above zero, got -10']),
    ("hold in part seconds", edit("hold_seconds: 20-30", "hold_seconds: 1.5"),
     ['r.yaml:11: exercise "Wall sit": hold_seconds: use whole seconds, not 1.5']),
    ("half a set", edit("sets: 2", "sets: 2.5"),
     ['r.yaml:7: exercise "Lifts": sets: use whole sets, not 2.5']),
    ("negative rest, exercise", GOOD + "    rest_seconds: -5\n",
     ['r.yaml:12: exercise "Wall sit": rest_seconds: cannot be negative, got -5']),
    ("negative rest, routine", GOOD + "rest_seconds: -1\n",
     ["r.yaml:12: rest_seconds: cannot be negative, got -1"]),
    ("rest over an hour", GOOD + "rest_seconds: 4000\n",
     ["r.yaml:12: rest_seconds: 4000 seconds is over an hour"]),
    ("rest not a number", GOOD + "rest_seconds: .nan\n",
     [f'r.yaml:12: rest_seconds: {PLAIN} ".nan"']),
    ("rest infinite", GOOD + "rest_seconds: .inf\n",
     [f'r.yaml:12: rest_seconds: {PLAIN} ".inf"']),
    ("negative tempo", edit("    sets: 2\n", "    sets: 2\n    tempo: {up: -1}\n"),
     ['r.yaml:8: exercise "Lifts": tempo: up: must be between 0 and 60 seconds']),
    ("tempo not a number", edit("    sets: 2\n", "    sets: 2\n    tempo: {down: .nan}\n"),
     [f'r.yaml:8: exercise "Lifts": tempo: down: {PLAIN} ".nan"']),
    ("tempo too fast", edit("    sets: 2\n", "    sets: 2\n    tempo: {up: 0.1, top: 0, down: 0.1, bottom: 0}\n"),
     ['r.yaml:8: exercise "Lifts": tempo: a rep must take at least 1 second in all']),
    ("too many reps", edit("reps: 10-15", "reps: 10-5000"),
     ['r.yaml:8: exercise "Lifts": reps: 5000 reps is more than anyone should do (at most 1000)']),
    ("too many sets", edit("sets: 2", "sets: 51"),
     ['r.yaml:7: exercise "Lifts": sets: 51 sets is more than anyone should do (at most 50)']),
    ("hold over an hour", edit("hold_seconds: 20-30", "hold_seconds: 3601"),
     ['r.yaml:11: exercise "Wall sit": hold_seconds: 3601 seconds is more than anyone should do (at most 3600)']),
    # A 5000-digit number cannot even be turned into an int by Python's default limits.
    ("a 5000-digit number", edit("reps: 10-15", "reps: " + "9" * 5000),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15, got "'
      + "9" * 37 + '..."']),
    ("a number as text that is too long", edit("reps: 10-15", "reps: '" + "1" * 50 + "-2'"),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15, got "'
      + "1" * 37 + '..."']),
    ("a digit that is no number", edit("reps: 10-15", "reps: ²"),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15, got "²"']),
    # YAML 1.1 reads these as other numbers than a person does ("010" is 8, "1:30" is 90).
    ("octal", edit("reps: 10-15", "reps: 010"), [f'r.yaml:8: exercise "Lifts": reps: {PLAIN} "010"']),
    ("base 60", edit("hold_seconds: 20-30", "hold_seconds: 1:30"),
     [f'r.yaml:11: exercise "Wall sit": hold_seconds: {PLAIN} "1:30"']),
    ("hexadecimal", edit("reps: 10-15", "reps: 0x10"), [f'r.yaml:8: exercise "Lifts": reps: {PLAIN} "0x10"']),
    ("underscores", edit("reps: 10-15", "reps: 1_000"), [f'r.yaml:8: exercise "Lifts": reps: {PLAIN} "1_000"']),
    ("a plus sign", edit("sets: 2", "sets: +2"), [f'r.yaml:7: exercise "Lifts": sets: {PLAIN} "+2"']),
    ("a leading zero YAML keeps as text", edit("sets: 2", "sets: 08"),
     ['r.yaml:7: exercise "Lifts": sets: expected a number or a range like 10-15 without leading zeros, got "08"']),
    ("a leading zero in seconds", GOOD + "rest_seconds: 08\n",
     ["r.yaml:12: rest_seconds: expected seconds as a number, got text (\"08\")"]),
    ("a leading zero in a range", edit("reps: 10-15", "reps: 08-15"),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15 without leading zeros, '
      'got "08-15"']),
    # Each range is sensible on its own; together they would run for a day.
    ("a routine of many hours", edit("sets: 2\n    reps: 10-15", "sets: 50\n    reps: 1000\n    sides: [left, right]"),
     ["r.yaml:5: exercises: at the top of every range this routine takes about 153 hours; "
      "keep it under 4 hours"]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in NUMBERS], ids=[c[0] for c in NUMBERS])
def test_numbers_and_ranges(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize("written, low, high", [
    ("10-15", 10, 15), ("'10 - 15'", 10, 15), ("10 to 15", 10, 15), ("10–15", 10, 15),
    ("12", 12, 12), ("'12'", 12, 12), ("{min: 3, max: 4}", 3, 4), ("1000", 1000, 1000),
])
def test_range_spellings(written: str, low: int, high: int) -> None:
    r = parse_routine(edit("reps: 10-15", f"reps: {written}").encode(), FILE)
    assert (r.exercises[0].reps.min, r.exercises[0].reps.max) == (low, high)


def test_rest_may_be_zero() -> None:
    r = parse_routine((GOOD + "rest_seconds: 0\n").encode(), FILE)
    assert r.rest_seconds == 0


# --- steps, types, reps/hold, duplicates ------------------------------------------------

SHAPES = [
    ("missing steps", edit("    steps: [Lie down., Lift your leg.]\n", ""),
     ['r.yaml:5: exercise "Lifts": missing "steps" (a list of short sentences)']),
    ("steps with no value", edit("steps: [Lie down., Lift your leg.]", "steps:"),
     ['r.yaml:5: exercise "Lifts": missing "steps" (a list of short sentences)']),
    ("empty steps", edit("[Lie down., Lift your leg.]", "[]"),
     ['r.yaml:6: exercise "Lifts": "steps" is empty: give at least one']),
    ("an empty step", edit("[Lie down., Lift your leg.]", "['Lie down.', '  ']"),
     ['r.yaml:6: exercise "Lifts": steps: an empty entry']),
    ("missing safety", edit("safety: [Stop if it hurts.]\n", ""),
     ['r.yaml:1: missing "safety" (a list of short sentences)']),
    ("missing title and source", edit("title: Test routine\nsource: Written for the tests\n", ""),
     ['r.yaml:1: missing "title"', 'r.yaml:1: missing "source"']),
    ("empty title", edit("title: Test routine", "title: ''"),
     ["r.yaml:1: title: is empty"]),
    ("missing exercises", "title: T\nsource: S\nsafety: [x]\n",
     ['r.yaml:1: missing "exercises" (a list)']),
    ("no exercises", "title: T\nsource: S\nsafety: [x]\nexercises: []\n",
     ["r.yaml:4: exercises: the list is empty"]),
    # wrong types
    ("text for reps", edit("reps: 10-15", "reps: ten"),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15, got "ten"']),
    ("list for reps", edit("reps: 10-15", "reps: [10, 15]"),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15, got a list']),
    ("true/false for reps", edit("reps: 10-15", "reps: yes"),
     ['r.yaml:8: exercise "Lifts": reps: expected a number or a range like 10-15, got true/false']),
    ("mapping for hold", edit("hold_seconds: 20-30", "hold_seconds: {long: 1}"),
     ['r.yaml:11: exercise "Wall sit": hold_seconds: expected a number or a range like 10-15, got a mapping']),
    ("text for sets", edit("sets: 2", "sets: many"),
     ['r.yaml:7: exercise "Lifts": sets: expected a number or a range like 10-15, got "many"']),
    ("list for title", edit("title: Test routine", "title: [Test, routine]"),
     ["r.yaml:1: title: expected text, got a list"]),
    ("number for title", edit("title: Test routine", "title: 42"),
     ["r.yaml:1: title: expected text, got a number (42)"]),
    ("mapping for source", edit("source: Written for the tests", "source: {by: me}"),
     ["r.yaml:2: source: expected text, got a mapping"]),
    ("number for a step", edit("[Lie down., Lift your leg.]", "[Lie down., 7]"),
     ['r.yaml:6: exercise "Lifts": steps: expected text, got a number (7)']),
    ("list in steps", edit("[Lie down., Lift your leg.]", "[[Lie down.]]"),
     ['r.yaml:6: exercise "Lifts": steps: expected text, got a list']),
    ("mapping for steps", edit("[Lie down., Lift your leg.]", "{first: Lie down.}"),
     ['r.yaml:6: exercise "Lifts": steps: expected text, got a mapping']),
    ("list for a name", edit("name: Lifts", "name: [Lifts]"),
     ["r.yaml:5: exercise 1: name: expected text, got a list"]),
    ("missing name", edit("  - name: Lifts\n    steps:", "  - steps:"),
     ['r.yaml:5: exercise 1: missing "name"']),
    ("text for exercises", "title: T\nsource: S\nsafety: [x]\nexercises: squats\n",
     ['r.yaml:4: exercises: expected a list, got text ("squats")']),
    ("text for an exercise", "title: T\nsource: S\nsafety: [x]\nexercises: [squats]\n",
     ['r.yaml:4: exercise 1: expected fields (name, steps, ...), got text ("squats")']),
    ("list for tempo", edit("    sets: 2\n", "    sets: 2\n    tempo: [2, 1, 2]\n"),
     ['r.yaml:8: exercise "Lifts": tempo: expected up, top, down and bottom seconds, got a list']),
    ("text in tempo", edit("    sets: 2\n", "    sets: 2\n    tempo: {up: slow}\n"),
     ['r.yaml:8: exercise "Lifts": tempo: up: expected seconds, got text ("slow")']),
    ("text for rest", GOOD + "    rest_seconds: long\n",
     ['r.yaml:12: exercise "Wall sit": rest_seconds: expected seconds as a number, got text ("long")']),
    ("number for sides", GOOD + "    sides: 2\n",
     ['r.yaml:12: exercise "Wall sit": sides: expected text, got a number (2)']),
    ("a side twice", GOOD + "    sides: [left leg, left leg]\n",
     ['r.yaml:12: exercise "Wall sit": sides: the same side is listed twice']),
    ("parts on a hold", GOOD + "    parts: [Left, Right]\n",
     ['r.yaml:12: exercise "Wall sit": parts: only exercises with reps can have parts']),
    ("text for pain_guide", GOOD + "pain_guide: sore\n",
     ['r.yaml:12: pain_guide: expected a list, got text ("sore")']),
    ("bad routine name", "name: my knees\n" + GOOD,
     ['r.yaml:1: name: "my knees" must be one word of letters, digits and dashes']),
    # reps and hold
    ("both reps and hold", edit("reps: 10-15\n", "reps: 10-15\n    hold_seconds: 5\n"),
     ['r.yaml:9: exercise "Lifts": give "reps" or "hold_seconds", not both (use tempo: top for a pause in each rep)']),
    ("both, one of them bad", edit("reps: 10-15\n", "reps: 10-15\n    hold_seconds: 0\n"),
     ['r.yaml:9: exercise "Lifts": hold_seconds: must be above zero, got 0',
      'r.yaml:9: exercise "Lifts": give "reps" or "hold_seconds", not both (use tempo: top for a pause in each rep)']),
    ("neither", edit("    reps: 10-15\n", ""),
     ['r.yaml:5: exercise "Lifts": needs "reps" or "hold_seconds"']),
    ("reps with no value", edit("reps: 10-15", "reps:"),
     ['r.yaml:5: exercise "Lifts": needs "reps" or "hold_seconds"']),
    # duplicates
    ("duplicate exercise names", GOOD + "  - name: lifts\n    steps: [Again.]\n    reps: 5\n",
     ['r.yaml:12: exercise "lifts": duplicate exercise name (also on line 5)']),
    ("duplicate key in an exercise", edit("reps: 10-15\n", "reps: 10-15\n    reps: 12\n"),
     ['r.yaml:9: exercise "Lifts": field "reps" appears twice (first on line 8)']),
    ("duplicate key at the top", GOOD + "title: Again\n",
     ['r.yaml:12: field "title" appears twice (first on line 1)']),
    ("duplicate key in tempo", edit("    sets: 2\n", "    sets: 2\n    tempo: {up: 1, up: 2}\n"),
     ['r.yaml:8: exercise "Lifts": tempo: field "up" appears twice (first on line 8)']),
    ("several problems, in line order", edit("reps: 10-15", "reps: 0", GOOD + "titel: x\n"),
     ['r.yaml:8: exercise "Lifts": reps: must be above zero, got 0',
      'r.yaml:12: unknown field "titel" (did you mean "title"?)']),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_shapes_and_types(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


# --- files that are not routines ----------------------------------------------------------

NOT_ROUTINES = [
    ("empty file", b"", ["r.yaml:1: the file is empty"]),
    ("whitespace only", b"  \n\n\t\n   ", ["r.yaml:1: the file is empty"]),
    ("comments only", b"# nothing here\n# still nothing\n", ["r.yaml:1: the file is empty"]),
    ("a document marker only", b"---\n", ["r.yaml:1: the file is empty"]),
    ("a top-level list", b"- title: T\n- source: S\n",
     ["r.yaml:1: expected routine fields (title, exercises, ...), got a list"]),
    ("a top-level sentence", b"Do ten squats and rest.\n",
     ['r.yaml:1: expected routine fields (title, exercises, ...), got text ("Do ten squats and rest.")']),
    ("two documents", (GOOD + "---\n" + GOOD).encode(),
     ["r.yaml:12: one routine per file: found a second document"]),
    ("tab indentation", b"title: T\nexercises:\n\t- name: A\n",
     ["r.yaml:3: not valid YAML: a tab where YAML needs spaces (indent with spaces only)"]),
    ("NUL bytes", b"title: T\nsource: S\x00\x00\n", ["r.yaml:2: this is binary data, not a routine file"]),
    ("UTF-16", GOOD.encode("utf-16"), ["r.yaml:1: this is binary data, not a routine file"]),
    ("invalid UTF-8", b"title: T\nsource: caf\xe9\n", ["r.yaml:2: not UTF-8 text (binary data?)"]),
    ("control characters", b"title: T\x1b[31m\n", ["r.yaml:1: control characters found: not a text file"]),
    ("C1 control characters", "title: T\nsource: \x85\n".encode(),
     ["r.yaml:2: control characters found: not a text file"]),
    ("a PNG header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["r.yaml:3: this is binary data, not a routine file"]),
    ("a control character written as an escape", edit("title: Test routine", 'title: "Test\\aroutine"').encode(),
     ["r.yaml:1: title: text with a control character or an invalid character in it"]),
]


@pytest.mark.parametrize("data, expected", [c[1:] for c in NOT_ROUTINES], ids=[c[0] for c in NOT_ROUTINES])
def test_files_that_are_not_routines(data: bytes, expected: list[str]) -> None:
    assert problems(data) == expected


# The wording of these comes from the YAML parser; the line is ours to get right.
SYNTAX = [
    ("unclosed bracket", b"title: T\nsafety: [Stop.\nsource: S\n", 3),
    ("unclosed quote", b'title: "T\nsource: S\n', 3),
    ("bad indentation", b"title: T\n  source: S\n", 2),
    ("two colons", b"title: T\nsource: S: x\nsafety: [a]\n", 2),
    ("a stray bracket", b"title: T\nsource: S\n]\n", 3),
    ("a lone surrogate written as an escape", b'title: T\nsource: "\\ud800"\n', 2),
]


@pytest.mark.parametrize("data, line", [c[1:] for c in SYNTAX], ids=[c[0] for c in SYNTAX])
def test_yaml_syntax_errors(data: bytes, line: int) -> None:
    found = problems(data)
    assert len(found) == 1
    assert found[0].startswith(f"r.yaml:{line}: ")
    assert "not valid YAML: " in found[0] or "invalid character" in found[0]


def test_a_byte_order_mark_and_windows_line_ends_are_fine() -> None:
    r = parse_routine(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode(), FILE)
    assert r.title == "Test routine"


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(seed: int) -> None:
    data = random.Random(seed).randbytes(random.Random(seed).randint(1, 4000))
    found = problems(data)
    assert found
    for line in found:
        assert line.startswith("r.yaml:")
        assert "\n" not in line


@pytest.mark.parametrize("seed", range(10))
def test_random_printable_text(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice("abc :-[]{}#&*!|>'\"\n ,?%@`0123456789") for _ in range(rng.randint(1, 2000)))
    try:
        parse_routine(text.encode(), FILE)
    except RoutineError as exc:
        assert all(str(p).startswith("r.yaml:") and "\n" not in str(p) for p in exc.problems)


# --- hostile files: size, depth, aliases, tags ---------------------------------------------


def test_a_2mb_file_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * 2_000_000)
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    assert [str(p) for p in info.value.problems] == [f"{path}:1: file too large (over {MAX_FILE_BYTES} bytes)"]


def test_a_file_just_under_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    path.write_bytes(GOOD.encode() + b"#" * (MAX_FILE_BYTES - len(GOOD) - 1) + b"\n")
    assert load_routine(path).title == "Test routine"


def test_parse_refuses_too_many_bytes() -> None:
    assert problems(b" " * (MAX_FILE_BYTES + 1)) == [
        f"r.yaml:1: file too large ({MAX_FILE_BYTES + 1} bytes; the limit is {MAX_FILE_BYTES})"]


@pytest.mark.parametrize("opening, closing", [(b"[", b"]"), (b"{a: ", b"}")])
def test_deep_nesting_is_refused_at_the_limit(opening: bytes, closing: bytes) -> None:
    # 100 000 levels would exhaust a recursive parser; it stops at level 21 instead.
    where = "title 1" if opening == b"[" else "title: a: a: ..."
    deep = b"title: " + opening * 100_000 + closing * 100_000 + b"\n"
    assert problems(deep) == [f"r.yaml:1: {where}: nested too deeply (more than {MAX_DEPTH} levels)"]
    unclosed = b"title: " + opening * 200_000
    assert problems(unclosed) == [f"r.yaml:1: {where}: nested too deeply (more than {MAX_DEPTH} levels)"]


def test_nesting_in_block_style_is_refused() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(30))
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("r.yaml:21: k0: k1: ")
    assert found[0].endswith(f"nested too deeply (more than {MAX_DEPTH} levels)")


def test_twenty_levels_are_allowed() -> None:
    # The routine, the exercise list and the exercise are 3 levels; steps 17 more.
    nested = "[" * 17 + "Deep." + "]" * 17
    found = problems(edit("[Lie down., Lift your leg.]", nested))
    assert found == ['r.yaml:6: exercise "Lifts": steps: expected text, got a list']
    found = problems(edit("[Lie down., Lift your leg.]", "[" + nested + "]"))
    assert found == [f'r.yaml:6: exercise "Lifts": steps 1: nested too deeply (more than {MAX_DEPTH} levels)']


def billion_laughs(levels: int = 10) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_without_expanding() -> None:
    tracemalloc.start()
    try:
        found = problems(billion_laughs() + "title: *j\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Each alias counts as the whole value it repeats; the fifth line pushes past the limit.
    assert found == ["r.yaml:5: too many values (over 50000): is this a routine file?"]
    assert peak < 20_000_000


def test_modest_aliases_still_work() -> None:
    text = edit("safety: [Stop if it hurts.]", "safety: &safe [Stop if it hurts.]") + "intro: *safe\n"
    assert parse_routine(text.encode(), FILE).intro == ("Stop if it hurts.",)


@pytest.mark.parametrize("text, expected", [
    ("a: &a [1, *a]\n", ['r.yaml:1: a 2: the alias "*a" repeats the value it is inside']),
    ("title: *nothing\n", ['r.yaml:1: title: the alias "*nothing" has no anchor "&nothing" before it']),
])
def test_bad_aliases(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_merge_keys_are_refused() -> None:
    text = edit("  - name: Wall sit\n", "  - <<: {sets: 2}\n    name: Wall sit\n")
    assert problems(text) == ['r.yaml:9: exercise 2: merge keys ("<<") are not supported: write the fields out']


TAGS = [
    ("python object", "title: !!python/object:os.system {}\n", "title: ", "!!python/object:os.system"),
    ("python apply", "title: !!python/object/apply:os.mkdir [MARKER]\n", "title: ", "!!python/object/apply:os.mkdir"),
    ("python name", "title: !!python/name:os.system\n", "title: ", "!!python/name:os.system"),
    ("a whole document", "!!python/object/new:dict {}\n", "", "!!python/object/new:dict"),
    ("binary", "title: !!binary aGVsbG8=\n", "title: ", "!!binary"),
    ("set", "title: !!set {a, b}\n", "title: ", "!!set"),
    ("local tag", "title: !thing x\n", "title: ", "!thing"),
    ("in an exercise", edit("reps: 10-15", "reps: !!python/int 12"), 'exercise "Lifts": reps: ', "!!python/int"),
]


@pytest.mark.parametrize("text, where, tag", [c[1:] for c in TAGS], ids=[c[0] for c in TAGS])
def test_object_tags_are_refused(tmp_path: Path, text: str, where: str, tag: str) -> None:
    marker = tmp_path / "made-by-yaml"
    found = problems(text.replace("MARKER", str(marker)))
    line = 8 if where.startswith("exercise") else 1
    assert found == [f'r.yaml:{line}: {where}the YAML tag "{tag}" is not allowed: '
                     "a routine holds only text, numbers, lists and fields"]
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!int", "!!str", "!!float"])
def test_even_the_core_tags_are_refused(tag: str) -> None:
    """The README promises plain data: "!!str 12" or "!!int 010" would be read otherwise
    than it looks."""
    assert problems(edit("reps: 10-15", f"reps: {tag} 12")) == [
        f'r.yaml:8: exercise "Lifts": reps: the YAML tag "{tag}" is not allowed: '
        "a routine holds only text, numbers, lists and fields"]


def test_a_date_is_kept_as_written() -> None:
    assert parse_routine(edit("title: Test routine", "title: 2024-05-01").encode(), FILE).title == "2024-05-01"


def test_messages_stay_on_one_line_and_short() -> None:
    key = "a very long field name " * 10
    found = problems(GOOD + f'"{key}\\nwith a line break": 1\n')
    assert len(found) == 1
    assert "\n" not in found[0] and len(found[0]) < 120
    assert found[0].startswith('r.yaml:12: unknown field "a very long field name')
    assert Problem("odd\nname.yaml", 3, "line\none").__str__() == "odd name.yaml:3: line one"


def test_a_file_name_that_is_no_routine_name(tmp_path: Path) -> None:
    path = tmp_path / "my knees.yaml"
    path.write_text(GOOD)
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    assert [str(p) for p in info.value.problems] == [
        f'{path}:1: the file name "my knees" is not a routine name: add "name:" with one word '
        "of letters, digits and dashes, or rename the file"]
    path.write_text("name: my-knees\n" + GOOD)
    assert load_routine(path).name == "my-knees"


def test_file_level_problems_have_no_line(tmp_path: Path) -> None:
    with pytest.raises(RoutineError) as info:
        load_routine(tmp_path / "missing.yaml")
    assert [str(p) for p in info.value.problems] == [f"{tmp_path / 'missing.yaml'}: no such file"]
    with pytest.raises(RoutineError) as info:
        load_routine(tmp_path)
    assert [str(p) for p in info.value.problems] == [f"{tmp_path}: is a folder, not a routine file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(GOOD)
    path.chmod(0)
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    assert [str(p) for p in info.value.problems] == [f"{path}: cannot read: Permission denied"]


# --- the bundled routines and finding routines ---------------------------------------------

BUNDLED = ["hip-strength", "hips-for-knees", "quads-hamstrings-glutes", "step-and-band"]


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user routine folder (XDG_CONFIG_HOME in tmp_path); returns it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VOICECOACH_ROUTINES", raising=False)
    folder = tmp_path / "config" / "voicecoach" / "routines"
    folder.mkdir(parents=True)
    assert user_dir() == folder
    return folder


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_routine_loads(name: str) -> None:
    r = load_routine(bundled_dir() / f"{name}.yaml")
    assert r.name == name
    assert r.exercises and r.safety and r.title and r.source


def test_list_shows_the_bundled_routines(folders: Path) -> None:
    listings = list_routines()
    assert [item.path.stem for item in listings] == BUNDLED
    assert all(item.routine is not None and not item.problems for item in listings)


def test_find_by_name_and_by_alias(folders: Path) -> None:
    assert find_routine("hips-for-knees").name == "hips-for-knees"
    assert find_routine("hips-for-knees.yaml").name == "hips-for-knees"  # no such file here: a name
    alias = find_routine("hips-for-knees").aliases[-1]
    assert find_routine(alias).name == "hips-for-knees"
    assert find_routine("  " + alias.upper().replace(" ", "   ")).name == "hips-for-knees"


def test_the_user_folder_shadows_the_bundled_one(folders: Path) -> None:
    (folders / "hips-for-knees.yaml").write_text(edit("title: Test routine", "title: My own hips"))
    assert find_routine("hips-for-knees").title == "My own hips"
    titles = {item.path.stem: item.routine.title for item in list_routines() if item.routine}
    assert titles["hips-for-knees"] == "My own hips"
    assert len(titles) == 4


def test_a_user_routine_by_its_name_and_alias(folders: Path) -> None:
    (folders / "knees.yaml").write_text("name: my-knees\naliases: [morning knees]\n" + GOOD)
    assert find_routine("knees").title == "Test routine"
    assert find_routine("my-knees").title == "Test routine"
    assert find_routine("morning knees").title == "Test routine"


def test_an_invalid_user_routine_reports_its_problems(folders: Path) -> None:
    path = folders / "broken.yaml"
    path.write_text(edit("reps: 10-15", "reps: 15-10"))
    with pytest.raises(RoutineError) as info:
        find_routine("broken")
    assert [str(p) for p in info.value.problems] == [
        f'{path}:8: exercise "Lifts": reps: minimum 15 is above maximum 10']
    listing = {item.path.stem: item for item in list_routines()}["broken"]
    assert listing.routine is None and listing.problems


def test_unknown_name_says_did_you_mean(folders: Path) -> None:
    with pytest.raises(RoutineError) as info:
        find_routine("hip-strenght")
    assert [str(p) for p in info.value.problems] == [
        'hip-strenght: no routine by that name. Did you mean "hip-strength"? Known routines: '
        + ", ".join(BUNDLED) + "."]


def test_names_cannot_leave_the_routine_folders(folders: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A valid routine right next to the user folder, and one in the folder we run from.
    (folders.parent / "secret.yaml").write_text(edit("title: Test routine", "title: Secret"))
    here = tmp_path / "a" / "here"
    here.mkdir(parents=True)
    (here / "mine.yaml").write_text(edit("title: Test routine", "title: Mine"))
    monkeypatch.chdir(here)
    # A name only matches files listed in the routine folders.
    with pytest.raises(RoutineError, match="no routine by that name"):
        find_routine("secret")
    # Anything with a slash, or starting with "." or "~", is a path the user typed, read
    # from where they are, never from inside a routine folder.
    for ref in ("../secret", "../config/voicecoach/secret.yaml", "routines/../secret.yaml"):
        with pytest.raises(RoutineError) as info:
            find_routine(ref)
        assert [str(p) for p in info.value.problems] == [f"{ref}: no such file"]
    with pytest.raises(RoutineError) as info:
        find_routine("..")
    assert [str(p) for p in info.value.problems] == ["..: is a folder, not a routine file"]
    assert find_routine("./mine.yaml").title == "Mine"
    assert find_routine("mine.yaml").title == "Mine"  # a file here wins over a name
    assert find_routine(str(folders.parent / "secret.yaml")).title == "Secret"  # an absolute path
    for ref in ("", "   ", "hips\nfor knees"):
        with pytest.raises(RoutineError) as info:
            find_routine(ref)
        assert len(info.value.problems) == 1
        assert str(info.value.problems[0]).endswith(": not a routine name: see `voicecoach list`")


def test_a_relative_xdg_config_home_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    assert user_dir() == tmp_path / ".config" / "voicecoach" / "routines"


def test_an_unreadable_routine_folder_does_not_hide_the_others(folders: Path) -> None:
    listed = routine_module.routine_files([folders / "not-there", folders.parent / "x.yaml", bundled_dir()])
    assert [p.stem for p in listed] == BUNDLED
