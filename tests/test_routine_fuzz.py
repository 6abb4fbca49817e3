"""Fuzzing the routine loader and `voicecoach check` with random and mutated routine files.

Whatever the bytes, loading raises nothing but RoutineError, every problem prints as
one `FILE:LINE: message` line with LINE a positive line of the file (or `FILE: message`
for a file that cannot be read at all), and a routine that loads can be planned and
shown. Inputs are small and hypothesis runs derandomized with a fixed number of
examples, so the run is deterministic and takes seconds.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecoach.core.plan import Plan, format_plan
from voicecoach.core.routine import RoutineError, bundled_dir, parse_routine

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(bundled_dir().glob("*.yaml")) + [REPO / "tests" / "fixtures" / "mini.yaml"]
ORIGINALS = [p.read_bytes() for p in SOURCES]
FILE = "fuzz.yaml"
PROBLEM = re.compile(r"^fuzz\.yaml:([1-9][0-9]*): (\S.*)$")

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=250,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values that have broken YAML loaders or validators somewhere.
TRICKY = [
    "", "~", "null", "[]", "{}", "[[]]", "-1", "0", "0.5", "1e999", ".nan", "-.inf", "10-5", "5-", "-",
    "1:30", "0x10", "0o7", "1_000", "99999999999999999999999", "9" * 60, "yes", "no", "on", "2024-01-01",
    "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!binary AAAA", "!!set {a}",
    "!!omap [a: 1]", "!local x", "&a x", "*a", "*undefined", "<<: {a: 1}", "'", '"', "[", "{", "]", "}",
    "|", ">", "? x", "@", "`", "%YAML 1.1", "---", "...", "\t", "- - -", "{a: [b, {c: d}]}", '"\\x07"',
    '"\\ud800"', '"\\0"', "'a\nb'", "é", "ü" * 40, "10 to 15", "10–15", "{min: 1, max: 2}", "{min: 2}",
]


def assert_well_formed(data: bytes) -> None:
    """Load `data`; a failure must be RoutineError with one proper line per problem."""
    try:
        routine = parse_routine(data, FILE)
    except RoutineError as exc:
        assert exc.problems
        lines = data.count(b"\n") + data.count(b"\r") + 2  # any line break style, plus one past the end
        for problem in exc.problems:
            text = str(problem)
            match = PROBLEM.match(text)
            assert match, text
            assert 1 <= int(match.group(1)) <= lines, text
            assert len(text) < 400, text
        return
    # What loads must also plan and print: validation is the only gate before a session.
    plan = Plan(routine)
    assert plan.total_seconds() > 0
    assert format_plan(plan).endswith("-- end --\n")
    json.dumps(routine.to_json())


# --- random bytes and random text ------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    assert_well_formed(data)


YAMLISH = st.text(alphabet=st.sampled_from(list("abz019 -:,.[]{}#&*!|>'\"?%@`~\n\t\\") + ["é", "\x85", "\u2028"]),
                  max_size=600)


@FUZZ
@given(YAMLISH)
def test_random_yamlish_text(text: str) -> None:
    assert_well_formed(text.encode("utf-8"))


# --- mutations of real routine files ---------------------------------------------------------


def mutate(original: bytes, rng: random.Random, steps: int) -> bytes:
    data = bytearray(original)
    for _ in range(steps):
        lines = bytes(data).split(b"\n")
        op = rng.randrange(8)
        if op == 0 and data:  # flip a byte
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256)
        elif op == 1 and data:  # truncate
            del data[rng.randrange(len(data)):]
        elif op == 2 and len(lines) > 1:  # delete a line
            del lines[rng.randrange(len(lines))]
            data = bytearray(b"\n".join(lines))
        elif op == 3:  # duplicate a line (often a duplicate key)
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        elif op == 4:  # replace a value with a tricky one
            i = rng.randrange(len(lines))
            head, sep, _ = lines[i].partition(b": ")
            if sep:
                lines[i] = head + sep + rng.choice(TRICKY).encode("utf-8")
            data = bytearray(b"\n".join(lines))
        elif op == 5:  # insert a tricky line
            i = rng.randrange(len(lines))
            indent = b" " * rng.choice([0, 2, 4, 6])
            lines.insert(i, indent + rng.choice([b"", b"- ", b"x: ", b"name: "]) + rng.choice(TRICKY).encode())
            data = bytearray(b"\n".join(lines))
        elif op == 6:  # re-indent a line
            i = rng.randrange(len(lines))
            lines[i] = b" " * rng.randrange(9) + lines[i].lstrip(b" ")
            data = bytearray(b"\n".join(lines))
        else:  # swap two lines
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@FUZZ
@given(st.integers(0, len(ORIGINALS) - 1), st.integers(0, 2**32), st.integers(1, 6))
def test_mutated_routines(which: int, seed: int, steps: int) -> None:
    assert_well_formed(mutate(ORIGINALS[which], random.Random(seed), steps))


def test_every_original_loads() -> None:
    for data in ORIGINALS:
        parse_routine(data, FILE)


# --- well-formed YAML of the wrong shape ------------------------------------------------------

FIELDS = ["name", "title", "source", "aliases", "helps_with", "equipment", "rest_seconds", "intro", "safety",
          "pain_guide", "exercises", "steps", "sets", "sides", "reps", "hold_seconds", "tempo", "parts",
          "harder", "tips", "up", "top", "down", "bottom", "id", "signs", "care", "min", "max"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "10-15", "15-10", "0-3", "3", "2-3", "x", "Do it.", "left leg", "a\nb"]),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=6)),
    max_leaves=25,
)


def exercise_like() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"name": st.sampled_from(["Lifts", "lifts", "Squats", ""]) | SCALARS},
        optional={key: VALUES | SCALARS for key in ["steps", "sets", "sides", "reps", "hold_seconds", "tempo",
                                                    "parts", "equipment", "rest_seconds", "harder", "tips"]},
    )


ROUTINE_LIKE = st.fixed_dictionaries(
    {"title": SCALARS, "source": SCALARS, "safety": VALUES,
     "exercises": st.lists(exercise_like() | VALUES, max_size=4)},
    optional={key: VALUES for key in ["name", "aliases", "helps_with", "equipment", "rest_seconds", "intro",
                                      "pain_guide", "colour"]},
)


@FUZZ
@given(ROUTINE_LIKE)
def test_routine_shaped_documents(doc: dict) -> None:
    assert_well_formed(yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"))


@FUZZ
@given(st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from(["A", "B", "C", "a"]), "steps": st.lists(st.sampled_from(["Go.", ""]), max_size=2)},
    optional={"reps": st.sampled_from([1, 5, "2-4", "4-2", 0, 1000, 1001]),
              "hold_seconds": st.sampled_from([1, 30, "20-30", 3600, 3601, -1]),
              "sets": st.sampled_from([1, 3, "2-3", 50, 51]),
              "sides": st.sampled_from([[], ["left"], ["left", "right"], ["x", "x"]]),
              "parts": st.sampled_from([["a"], ["a", "b", "c"]]),
              "tempo": st.sampled_from([{"up": 1}, {"up": 0.1, "top": 0, "down": 0, "bottom": 0}, {"up": 60}]),
              "rest_seconds": st.sampled_from([0, 10, 3600])}), min_size=1, max_size=5))
def test_nearly_valid_routines(exercises: list[dict]) -> None:
    doc = {"title": "T", "source": "S", "safety": ["Stop."], "exercises": exercises}
    assert_well_formed(yaml.safe_dump(doc).encode("utf-8"))


# --- the same through `voicecoach check` -------------------------------------------------------


def test_check_on_mutated_and_random_files(tmp_path: Path) -> None:
    rng = random.Random(2024)
    files = []
    for i in range(40):
        path = tmp_path / f"m{i:02d}.yaml"
        path.write_bytes(mutate(ORIGINALS[i % len(ORIGINALS)], rng, rng.randint(1, 5)))
        files.append(path)
    for i in range(10):
        path = tmp_path / f"r{i:02d}.yaml"
        path.write_bytes(rng.randbytes(rng.randint(0, 2000)))
        files.append(path)
    files.append(tmp_path / "missing.yaml")
    env_home = tmp_path / "home"
    env_home.mkdir()
    proc = subprocess.run([sys.executable, "-m", "voicecoach", "check", *map(str, files)], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(env_home), "LANG": "C.UTF-8"})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    names = {str(p) for p in files}
    bad = set()
    for line in proc.stdout.splitlines():
        match = re.match(r"^(.*?\.yaml):(?:([1-9][0-9]*):)? (\S.*)$", line)
        assert match and match.group(1) in names, line
        assert match.group(2) or match.group(1).endswith("missing.yaml"), line
        bad.add(match.group(1))
    assert str(tmp_path / "missing.yaml") in bad
    assert all(str(p) in bad for p in files if p.name.startswith("r"))  # random bytes never pass
    assert proc.stderr.strip() == f"{len(bad)} of {len(files)} file(s) have problems."
