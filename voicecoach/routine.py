"""Load routine files, validate them, and return plain dataclasses.

A routine is a YAML file (see docs/routine-format.md).  Every problem found is a
`Problem` naming the file, the line, the exercise and the field; loading never
raises anything but `RoutineError`, whatever bytes the file holds.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 20
MAX_NODES = 50_000

ROUTINE_SUFFIXES = (".yaml", ".yml")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a routine file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # the file itself is the problem (missing, unreadable)
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class RoutineError(Exception):
    """A routine could not be found or is invalid; `problems` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Range:
    """An inclusive range of whole numbers, such as 10-15 reps or 20-30 seconds."""

    min: int
    max: int

    def __str__(self) -> str:
        return str(self.min) if self.min == self.max else f"{self.min}-{self.max}"

    def spoken(self) -> str:
        return str(self.min) if self.min == self.max else f"{self.min} to {self.max}"

    def to_json(self) -> dict[str, int]:
        return {"min": self.min, "max": self.max}


@dataclass(frozen=True)
class Tempo:
    """Seconds for each phase of one rep; the count is said as the rep completes."""

    up: float = 2.0
    top: float = 1.0
    down: float = 2.0
    bottom: float = 0.5

    @property
    def period(self) -> float:
        return self.up + self.top + self.down + self.bottom


@dataclass(frozen=True)
class Exercise:
    name: str
    steps: tuple[str, ...]
    sets: Range
    sides: tuple[str, ...] = ()
    reps: Range | None = None
    hold_seconds: Range | None = None
    tempo: Tempo | None = None
    parts: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    rest_seconds: int | None = None
    harder: tuple[str, ...] = ()
    tips: tuple[str, ...] = ()
    line: int = 0

    @property
    def kind(self) -> str:
        return "hold" if self.hold_seconds is not None else "reps"


@dataclass(frozen=True)
class PainType:
    id: str
    name: str
    signs: tuple[str, ...]
    care: tuple[str, ...]


@dataclass(frozen=True)
class Routine:
    name: str
    title: str
    source: str
    exercises: tuple[Exercise, ...]
    safety: tuple[str, ...]
    intro: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    helps_with: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    rest_seconds: int = 30
    pain_guide: tuple[PainType, ...] = ()
    path: str = ""

    def all_equipment(self) -> list[str]:
        """The routine's equipment list, or else every exercise's, without repeats."""
        if self.equipment:
            return list(self.equipment)
        seen: dict[str, None] = {}
        for ex in self.exercises:
            for item in ex.equipment:
                seen.setdefault(item, None)
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of `voicecoach show --json`."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "aliases": list(self.aliases),
            "helps_with": list(self.helps_with),
            "equipment": list(self.equipment),
            "rest_seconds": self.rest_seconds,
            "intro": list(self.intro),
            "safety": list(self.safety),
            "pain_guide": [
                {"id": p.id, "name": p.name, "signs": list(p.signs), "care": list(p.care)}
                for p in self.pain_guide
            ],
            "exercises": [
                {
                    "name": ex.name,
                    "steps": list(ex.steps),
                    "sets": ex.sets.min,
                    "sets_max": ex.sets.max,
                    "sides": list(ex.sides),
                    "reps": ex.reps.to_json() if ex.reps else None,
                    "hold_seconds": ex.hold_seconds.to_json() if ex.hold_seconds else None,
                    "tempo": (
                        {"up": ex.tempo.up, "top": ex.tempo.top,
                         "down": ex.tempo.down, "bottom": ex.tempo.bottom}
                        if ex.tempo else None
                    ),
                    "parts": list(ex.parts),
                    "equipment": list(ex.equipment),
                    "rest_seconds": ex.rest_seconds,
                    "harder": list(ex.harder),
                    "tips": list(ex.tips),
                }
                for ex in self.exercises
            ],
        }


# --- reading YAML with line numbers -------------------------------------------------


class _Node:
    """A parsed YAML value with the line it started on (1-based)."""

    __slots__ = ("value", "line")

    def __init__(self, value: Any, line: int):
        self.value = value
        self.line = line


class _Reader:
    def __init__(self, file: str):
        self.file = file
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def convert(self, node: yaml.Node, depth: int = 0) -> _Node:
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > MAX_NODES:
            raise RoutineError([Problem(self.file, line, "too many values (is it a routine?)")])
        if depth > MAX_DEPTH:
            raise RoutineError([Problem(self.file, line, "nested too deeply")])
        if isinstance(node, yaml.MappingNode):
            out: dict[str, _Node] = {}
            keys: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = self.convert(key_node, depth + 1)
                if not isinstance(key.value, str | int | float | bool) or key.value is None:
                    raise RoutineError([Problem(self.file, key.line, "keys must be plain words")])
                name = str(key.value)
                if name in keys:
                    raise RoutineError([Problem(
                        self.file, key.line,
                        f'field "{name}" appears twice (first on line {keys[name]})')])
                keys[name] = key.line
                out[name] = self.convert(value_node, depth + 1)
                out[name].line = out[name].line if out[name].value is not None else key.line
            return _Node(out, line)
        if isinstance(node, yaml.SequenceNode):
            return _Node([self.convert(v, depth + 1) for v in node.value], line)
        if isinstance(node, yaml.ScalarNode):
            value = self.constructor.construct_object(node, deep=True)
            if not isinstance(value, str | int | float | bool) and value is not None:
                # Dates, binary and other YAML types have no meaning in a routine.
                value = str(node.value)
            return _Node(value, line)
        raise RoutineError([Problem(self.file, line, "unsupported YAML value")])


def _read_yaml(text: str, file: str) -> _Node:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = exc.problem or "invalid YAML"
        raise RoutineError([Problem(file, line, f"not valid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([Problem(file, 1, f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise RoutineError([Problem(file, 1, "nested too deeply")]) from None
    documents = [d for d in documents if d is not None]
    if not documents:
        raise RoutineError([Problem(file, 1, "the file is empty")])
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        raise RoutineError([Problem(file, line, "one routine per file: found a second document")])
    try:
        return _Reader(file).convert(documents[0])
    except RecursionError:
        raise RoutineError([Problem(file, 1, "nested too deeply")]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([Problem(file, 1, f"not valid YAML: {exc}")]) from None


def _decode(data: bytes, file: str) -> str:
    if b"\x00" in data:
        raise RoutineError([Problem(file, 1, "this is binary data, not a routine file")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RoutineError([Problem(file, line, "not UTF-8 text (binary data?)")]) from None
    for i, ch in enumerate(text):
        if ord(ch) < 32 and ch not in "\t\n\r":
            line = text[:i].count("\n") + 1
            raise RoutineError([Problem(file, line, "control characters found: not a text file")])
    return text


# --- validation ---------------------------------------------------------------------

_ROUTINE_FIELDS = {
    "name", "title", "source", "aliases", "helps_with", "equipment", "rest_seconds",
    "intro", "safety", "pain_guide", "exercises",
}
_EXERCISE_FIELDS = {
    "name", "steps", "sets", "sides", "reps", "hold_seconds", "tempo", "parts",
    "equipment", "rest_seconds", "harder", "tips",
}
_TEMPO_FIELDS = {"up", "top", "down", "bottom"}
_PAIN_FIELDS = {"id", "name", "signs", "care"}
_RANGE_RE = re.compile(r"^\s*(-?\d+)\s*(?:-|to|–)\s*(-?\d+)\s*$")


class _Checker:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, f"{where}{message}"))

    def unknown_fields(self, node: _Node, allowed: set[str], where: str) -> None:
        for key, value in node.value.items():
            if key not in allowed:
                guess = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
                hint = f' (did you mean "{guess[0]}"?)' if guess else ""
                self.add(value.line, where, f'unknown field "{key}"{hint}')

    def text(self, parent: _Node, key: str, where: str, required: bool) -> str | None:
        node = parent.value.get(key)
        if node is None or node.value is None:
            if required:
                self.add(parent.line, where, f'missing "{key}"')
            return None
        if not isinstance(node.value, str) or isinstance(node.value, bool):
            self.add(node.line, where, f'{key}: expected text, got {_kind(node.value)}')
            return None
        if not node.value.strip():
            self.add(node.line, where, f"{key}: is empty")
            return None
        return node.value.strip()

    def texts(self, parent: _Node, key: str, where: str, required: bool) -> tuple[str, ...]:
        node = parent.value.get(key)
        if node is None or node.value is None:
            if required:
                self.add(parent.line, where, f'missing "{key}" (a list of short sentences)')
            return ()
        items = node.value if isinstance(node.value, list) else [node]
        out: list[str] = []
        for item in items:
            if isinstance(item.value, str) and not isinstance(item.value, bool):
                if item.value.strip():
                    out.append(" ".join(item.value.split()))
                else:
                    self.add(item.line, where, f"{key}: an empty entry")
            else:
                self.add(item.line, where, f"{key}: expected text, got {_kind(item.value)}")
        if required and not out and not any(p.message.startswith(where + key) for p in self.problems):
            self.add(node.line, where, f'"{key}" is empty: give at least one')
        return tuple(out)

    def range(self, parent: _Node, key: str, where: str, unit: str) -> Range | None:
        node = parent.value.get(key)
        if node is None or node.value is None:
            return None
        value = node.value
        if isinstance(value, bool):
            self.add(node.line, where, f"{key}: expected a number or a range like 10-15, got {_kind(value)}")
            return None
        if isinstance(value, int):
            low = high = value
        elif isinstance(value, float):
            if not value.is_integer():
                self.add(node.line, where, f"{key}: use whole {unit}, not {value}")
                return None
            low = high = int(value)
        elif isinstance(value, dict) and set(value) <= {"min", "max"} and value:
            parts = [value.get("min"), value.get("max")]
            if any(p is None or isinstance(p.value, bool) or not isinstance(p.value, int) for p in parts):
                self.add(node.line, where, f"{key}: min and max must both be whole numbers")
                return None
            low, high = parts[0].value, parts[1].value
        elif isinstance(value, str):
            if value.strip().lstrip("-").isdigit():
                low = high = int(value)
            else:
                match = _RANGE_RE.match(value)
                if not match:
                    self.add(node.line, where, f'{key}: expected a number or a range like 10-15, got "{value}"')
                    return None
                low, high = int(match.group(1)), int(match.group(2))
        else:
            self.add(node.line, where, f"{key}: expected a number or a range like 10-15, got {_kind(value)}")
            return None
        if low <= 0 or high <= 0:
            self.add(node.line, where, f"{key}: must be above zero, got {low if low <= 0 else high}")
            return None
        if low > high:
            self.add(node.line, where, f"{key}: minimum {low} is above maximum {high}")
            return None
        if high > 10_000:
            self.add(node.line, where, f"{key}: {high} {unit} is more than anyone should do")
            return None
        return Range(low, high)

    def seconds(self, parent: _Node, key: str, where: str) -> int | None:
        node = parent.value.get(key)
        if node is None or node.value is None:
            return None
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(node.line, where, f"{key}: expected seconds as a number, got {_kind(value)}")
            return None
        if value < 0 or (value == 0 and key != "rest_seconds"):
            self.add(node.line, where, f"{key}: must be above zero, got {value}")
            return None
        if value > 3600:
            self.add(node.line, where, f"{key}: {value} seconds is over an hour")
            return None
        return int(round(value))

    def tempo(self, parent: _Node, where: str) -> Tempo | None:
        node = parent.value.get("tempo")
        if node is None or node.value is None:
            return None
        if not isinstance(node.value, dict):
            self.add(node.line, where, f"tempo: expected up, top, down and bottom seconds, got {_kind(node.value)}")
            return None
        self.unknown_fields(node, _TEMPO_FIELDS, where + "tempo: ")
        values: dict[str, float] = {}
        for key in _TEMPO_FIELDS:
            item = node.value.get(key)
            if item is None:
                continue
            if isinstance(item.value, bool) or not isinstance(item.value, int | float):
                self.add(item.line, where, f"tempo: {key}: expected seconds, got {_kind(item.value)}")
            elif item.value < 0 or item.value > 60:
                self.add(item.line, where, f"tempo: {key}: must be between 0 and 60 seconds")
            else:
                values[key] = float(item.value)
        tempo = Tempo(**values)
        if tempo.period <= 0:
            self.add(node.line, where, "tempo: a rep must take some time")
            return None
        return tempo


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f'text ("{value[:30]}")'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _check_exercise(c: _Checker, node: _Node, index: int) -> Exercise | None:
    if not isinstance(node.value, dict):
        c.add(node.line, "", f"exercise {index}: expected fields (name, steps, ...), got {_kind(node.value)}")
        return None
    raw_name = node.value.get("name")
    label = (
        f'exercise "{raw_name.value}": ' if raw_name and isinstance(raw_name.value, str)
        else f"exercise {index}: "
    )
    before = len(c.problems)
    c.unknown_fields(node, _EXERCISE_FIELDS, label)
    name = c.text(node, "name", label, required=True)
    steps = c.texts(node, "steps", label, required=True)
    sets = c.range(node, "sets", label, "sets") or Range(1, 1)
    reps = c.range(node, "reps", label, "reps")
    hold = c.range(node, "hold_seconds", label, "seconds")
    if "reps" not in node.value and "hold_seconds" not in node.value:
        c.add(node.line, label, 'needs "reps" or "hold_seconds"')
    elif reps and hold:
        c.add(node.value["hold_seconds"].line, label,
              'give "reps" or "hold_seconds", not both (use tempo: top for a pause in each rep)')
    sides = c.texts(node, "sides", label, required=False)
    if len(set(sides)) != len(sides):
        c.add(node.value["sides"].line, label, "sides: the same side is listed twice")
    parts = c.texts(node, "parts", label, required=False)
    if parts and hold:
        c.add(node.value["parts"].line, label, "parts: only exercises with reps can have parts")
    exercise = Exercise(
        name=name or "",
        steps=steps,
        sets=sets,
        sides=sides,
        reps=reps,
        hold_seconds=hold,
        tempo=c.tempo(node, label),
        parts=parts,
        equipment=c.texts(node, "equipment", label, required=False),
        rest_seconds=c.seconds(node, "rest_seconds", label),
        harder=c.texts(node, "harder", label, required=False),
        tips=c.texts(node, "tips", label, required=False),
        line=node.line,
    )
    return exercise if len(c.problems) == before else None


def _check_pain_guide(c: _Checker, root: _Node) -> tuple[PainType, ...]:
    node = root.value.get("pain_guide")
    if node is None or node.value is None:
        return ()
    if not isinstance(node.value, list):
        c.add(node.line, "", f"pain_guide: expected a list, got {_kind(node.value)}")
        return ()
    out = []
    for i, item in enumerate(node.value, 1):
        where = f"pain_guide {i}: "
        if not isinstance(item.value, dict):
            c.add(item.line, where, f"expected id, name, signs and care, got {_kind(item.value)}")
            continue
        c.unknown_fields(item, _PAIN_FIELDS, where)
        pid = c.text(item, "id", where, required=True)
        name = c.text(item, "name", where, required=True)
        signs = c.texts(item, "signs", where, required=True)
        care = c.texts(item, "care", where, required=True)
        if pid and name:
            out.append(PainType(pid, name, signs, care))
    return tuple(out)


def parse_routine(data: bytes, file: str, default_name: str = "") -> Routine:
    """Validate the bytes of a routine file; raise RoutineError listing every problem."""
    if len(data) > MAX_FILE_BYTES:
        raise RoutineError([Problem(file, 1, f"file too large ({len(data)} bytes; the limit is {MAX_FILE_BYTES})")])
    text = _decode(data, file)
    if not text.strip():
        raise RoutineError([Problem(file, 1, "the file is empty")])
    root = _read_yaml(text, file)
    c = _Checker(file)
    if not isinstance(root.value, dict):
        got = _kind(root.value)
        raise RoutineError([Problem(file, root.line, f"expected routine fields (title, exercises, ...), got {got}")])
    c.unknown_fields(root, _ROUTINE_FIELDS, "")
    name = c.text(root, "name", "", required=False) or default_name
    if name and not _NAME_RE.match(name):
        c.add(root.value["name"].line if "name" in root.value else 1, "",
              f'name: "{name}" must be one word of letters, digits and dashes')
    title = c.text(root, "title", "", required=True)
    source = c.text(root, "source", "", required=True)
    safety = c.texts(root, "safety", "", required=True)
    rest = c.seconds(root, "rest_seconds", "")
    exercises: list[Exercise] = []
    ex_node = root.value.get("exercises")
    if ex_node is None or ex_node.value is None:
        c.add(root.line if ex_node is None else ex_node.line, "", 'missing "exercises" (a list)')
    elif not isinstance(ex_node.value, list):
        c.add(ex_node.line, "", f"exercises: expected a list, got {_kind(ex_node.value)}")
    elif not ex_node.value:
        c.add(ex_node.line, "", "exercises: the list is empty")
    else:
        seen: dict[str, int] = {}
        for i, item in enumerate(ex_node.value, 1):
            exercise = _check_exercise(c, item, i)
            if exercise is None:
                continue
            key = exercise.name.casefold()
            if key in seen:
                c.add(exercise.line, f'exercise "{exercise.name}": ',
                      f"duplicate exercise name (also on line {seen[key]})")
                continue
            seen[key] = exercise.line
            exercises.append(exercise)
    routine = Routine(
        name=name,
        title=title or "",
        source=source or "",
        exercises=tuple(exercises),
        safety=safety,
        intro=c.texts(root, "intro", "", required=False),
        aliases=c.texts(root, "aliases", "", required=False),
        helps_with=c.texts(root, "helps_with", "", required=False),
        equipment=c.texts(root, "equipment", "", required=False),
        rest_seconds=30 if rest is None else rest,
        pain_guide=_check_pain_guide(c, root),
        path=file,
    )
    if c.problems:
        raise RoutineError(sorted(c.problems, key=lambda p: p.line))
    return routine


def load_routine(path: str | Path) -> Routine:
    """Read and validate one routine file."""
    path = Path(path)
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise RoutineError([Problem(file, 0, "no such file")]) from None
    except IsADirectoryError:
        raise RoutineError([Problem(file, 0, "is a folder, not a routine file")]) from None
    except OSError as exc:
        raise RoutineError([Problem(file, 0, f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise RoutineError([Problem(file, 1, f"file too large (over {MAX_FILE_BYTES} bytes)")])
    return parse_routine(data, file, default_name=path.stem)


# --- finding routines ---------------------------------------------------------------


def bundled_dir() -> Path:
    """The routines that ship with voicecoach."""
    return Path(__file__).resolve().parent.parent / "routines"


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "voicecoach" / "routines"


def search_dirs() -> list[Path]:
    """Where routines are looked up by name: $VOICECOACH_ROUTINES, the user folder, bundled."""
    dirs = []
    extra = os.environ.get("VOICECOACH_ROUTINES")
    if extra:
        dirs.extend(Path(p) for p in extra.split(os.pathsep) if p)
    dirs.append(user_dir())
    dirs.append(bundled_dir())
    return dirs


def routine_files(dirs: list[Path] | None = None) -> list[Path]:
    """Every routine file in the search folders; a user file hides a bundled one of the same name."""
    found: dict[str, Path] = {}
    for folder in dirs if dirs is not None else search_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in ROUTINE_SUFFIXES and path.is_file():
                found.setdefault(path.stem, path)
    return sorted(found.values(), key=lambda p: p.stem)


def find_routine(ref: str, dirs: list[Path] | None = None) -> Routine:
    """Load a routine by path, by file name in the routine folders, or by an alias."""
    looks_like_path = os.sep in ref or "/" in ref or ref.endswith(ROUTINE_SUFFIXES)
    if looks_like_path:
        return load_routine(ref)
    if not _NAME_RE.match(ref) or ".." in ref:
        raise RoutineError([Problem(ref, 0, "not a routine name: use letters, digits and dashes")])
    files = routine_files(dirs)
    for path in files:
        if path.stem == ref:
            return load_routine(path)
    wanted = ref.casefold()
    for path in files:
        try:
            routine = load_routine(path)
        except RoutineError:
            continue
        if routine.name.casefold() == wanted or wanted in (a.casefold() for a in routine.aliases):
            return routine
    names = [p.stem for p in files]
    guess = difflib.get_close_matches(ref, names, n=1)
    hint = f' Did you mean "{guess[0]}"?' if guess else ""
    listing = ", ".join(names) if names else "none found"
    raise RoutineError([Problem(ref, 0, f"no routine by that name.{hint} Known routines: {listing}.")])


@dataclass
class RoutineListing:
    """A routine file found on disk, loaded or with its problems."""

    path: Path
    routine: Routine | None = None
    problems: list[Problem] = field(default_factory=list)


def list_routines(dirs: list[Path] | None = None) -> list[RoutineListing]:
    out = []
    for path in routine_files(dirs):
        try:
            out.append(RoutineListing(path, load_routine(path)))
        except RoutineError as exc:
            out.append(RoutineListing(path, None, exc.problems))
    return out
