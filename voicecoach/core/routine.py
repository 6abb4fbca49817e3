"""Load routine files, validate them, and return plain dataclasses.

A routine is a YAML file (see docs/routine-format.md).  Every problem found is a
`Problem` naming the file, the line, the exercise and the field; loading never
raises anything but `RoutineError`, whatever bytes the file holds.
"""

from __future__ import annotations

import difflib
import importlib.resources
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voicecoach.core.pain_rules import PainLimits

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 20
MAX_NODES = 50_000

ROUTINE_SUFFIXES = (".yaml", ".yml")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LINE_BREAKS_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a routine file."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        # One problem, one line, whatever a file name or a quoted value holds.
        file = _LINE_BREAKS_RE.sub(" ", self.file)
        message = _LINE_BREAKS_RE.sub(" ", self.message)
        if self.line <= 0:  # the file itself is the problem (missing, unreadable)
            return f"{file}: {message}"
        return f"{file}:{self.line}: {message}"


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
    optional_equipment: tuple[str, ...] = ()
    """Things the exercise can use but does not need ("a resistance band, to make it harder"):
    named with the exercise, never in the routine's list of what you will need."""
    step_seconds: float | None = None
    """Walking: each count is a step taken at this pace (seconds a step), not a slow rep."""
    sides_match: bool = False
    """Each later side does as many as the first side did (band walks: equal steps both ways)."""
    max_effort: bool = False
    """A hold for as long as you can: `hold_seconds` is the goal, counted up to, not a fixed time."""
    skip_when_sore: bool = False
    """Left out on a day when knee pain before the session is above the caution level."""

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
    pain_limits: PainLimits | None = None
    """The pain-monitoring limits for this routine (None: the config's [pain])."""

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
            "pain_limits": (
                {"stop": self.pain_limits.stop, "caution": self.pain_limits.caution, "rise": self.pain_limits.rise}
                if self.pain_limits else None
            ),
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
                    "optional_equipment": list(ex.optional_equipment),
                    "step_seconds": ex.step_seconds,
                    "sides_match": ex.sides_match,
                    "max_effort": ex.max_effort,
                    "skip_when_sore": ex.skip_when_sore,
                }
                for ex in self.exercises
            ],
        }


# --- reading YAML with line numbers -------------------------------------------------

# Always PyYAML's pure-Python parser, never libyaml (CSafeLoader), though libyaml is faster
# (a routine in 1 ms rather than 5 ms, a 1 MB file in 20 ms rather than 500 ms).  Whether PyYAML
# has libyaml depends on how it was built, and libyaml accepts some files the pure-Python
# parser refuses ("0\t"), words its errors differently and, since PyYAML 6.0.4, stops deep
# nesting with a message of its own: the answer for a file must not depend on the build.
_LOADER = yaml.SafeLoader
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
# No explicit tags at all, not even the standard ones: a routine is plain data, and "!!str 12"
# or "!!int 010" would make a value other than the one a reader sees.
_MAP_TAGS = {None, "!"}
_SEQ_TAGS = {None, "!"}
# The only ways to write a number: plain decimal, no leading zeros, underscores, signs
# other than minus, exponents or colons.  YAML 1.1 reads "010" as 8 and "1:30" as 90.
_PLAIN_INT_RE = re.compile(r"-?(0|[1-9][0-9]*)")
_PLAIN_FLOAT_RE = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]+")
_NUMBER_EXPECTED = "expected a number written plainly, like 12 or 0.5 (no leading zeros, +, colons, _ or 0x)"
# C0 and C1 control characters (but tab, line feed and carriage return) and the two
# non-characters YAML refuses: none belongs in a routine, all mean binary or a wrong encoding.
# YAML also breaks lines at U+2028 and U+2029, which editors do not: refused too, so
# that every line number in a message is the line an editor shows.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\u2028\u2029]")
_TEXT_BAD_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class _Node:
    """A parsed YAML value with the line it started on (1-based); mappings keep their keys' lines."""

    __slots__ = ("value", "line", "keys")

    def __init__(self, value: Any, line: int, keys: dict[str, int] | None = None):
        self.value = value
        self.line = line
        self.keys = keys


class _Open:
    """A list or mapping whose events are still arriving."""

    __slots__ = ("is_map", "line", "anchor", "items", "values", "keys", "key", "size", "height")

    def __init__(self, is_map: bool, line: int, anchor: str | None):
        self.is_map = is_map
        self.line = line
        self.anchor = anchor
        self.items: list[_Node] = []
        self.values: dict[str, _Node] = {}
        self.keys: dict[str, int] = {}
        self.key: tuple[str, int] | None = None
        self.size = 1
        self.height = 1


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class _Builder:
    """Builds `_Node` trees from YAML events, with no recursion and hard limits.

    Working from the event stream (rather than PyYAML's composer) keeps every limit
    cheap to enforce: depth is checked as a list or mapping opens, the value count
    (with each alias counted at the full size of what it repeats, which defuses
    "billion laughs" files) as values arrive, and parsing stops at the first breach.
    """

    def __init__(self, file: str):
        self.file = file
        self.count = 0
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[_Node, int, int]] = {}
        self.root: _Node | None = None
        self.doc_line = 1

    def fail(self, line: int, message: str) -> RoutineError:
        return RoutineError([Problem(self.file, line, self.where() + message)])

    def where(self) -> str:
        """Where the parser is, in the checker's words: 'exercise "Wall sit": tempo: '."""
        words: list[str] = []
        for depth, frame in enumerate(self.stack):
            if frame.is_map:
                if frame.key is None:
                    break  # reading a field name: the mapping is the place
                words.append(_clip(frame.key[0], 30))
                continue
            index = len(frame.items) + 1
            container = words.pop() if words else ""
            child = self.stack[depth + 1] if depth + 1 < len(self.stack) else None
            if container == "exercises" and depth == 1:
                name = child.values.get("name") if child is not None and child.is_map else None
                if name is not None and isinstance(name.value, str) and name.value.strip():
                    words.append(f'exercise "{_clip(name.value)}"')
                else:
                    words.append(f"exercise {index}")
            elif container and not container[-1].isdigit():
                words.append(f"{container} {index}")
            else:
                words.append(container)  # a list in a list: the outer place says enough
        words = [word for word in words if word]
        if len(words) > 3:  # deeper than any routine field: the start of the path is enough
            words = [*words[:3], "..."]
        return "".join(word + ": " for word in words)

    def counted(self, size: int, line: int) -> None:
        self.count += size
        if self.count > MAX_NODES:
            message = f"too many values (over {MAX_NODES}): is this a routine file?"
            raise RoutineError([Problem(self.file, line, message)])

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, yaml.DocumentStartEvent):
            self.doc_line = line
        elif isinstance(event, yaml.ScalarEvent):
            if not self.stack and self._empty(event):
                return  # an empty document ("---" alone) holds nothing
            self._start_value(line)
            self.counted(1, line)
            self._deliver(self._scalar(event, line), 1, 0, event.anchor)
        elif isinstance(event, yaml.AliasEvent):
            self._start_value(line)
            self._deliver(*self._alias(event.anchor, line))
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            is_map = isinstance(event, yaml.MappingStartEvent)
            if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                raise self.fail(line, self._tag_message(event.tag))
            self._start_value(line)
            if self.stack and self.stack[-1].is_map and self.stack[-1].key is None:
                raise self.fail(line, "field names must be plain words, not lists or mappings")
            if len(self.stack) >= MAX_DEPTH:
                raise self.fail(line, f"nested too deeply (more than {MAX_DEPTH} levels)")
            self.counted(1, line)
            self.stack.append(_Open(is_map, line, event.anchor))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            done = self.stack.pop()
            value: Any = done.values if done.is_map else done.items
            node = _Node(value, done.line, done.keys if done.is_map else None)
            self._deliver(node, done.size, done.height, done.anchor)

    @staticmethod
    def _empty(event: yaml.ScalarEvent) -> bool:
        return event.value == "" and event.tag is None and event.anchor is None and event.implicit[0]

    def _start_value(self, line: int) -> None:
        if not self.stack and self.root is not None:
            raise self.fail(self.doc_line, "one routine per file: found a second document")

    def _tag_message(self, tag: str) -> str:
        shown = _short_tag(tag)
        if len(shown) > 40:
            shown = shown[:40] + "..."
        return f'the YAML tag "{shown}" is not allowed: a routine holds only text, numbers, lists and fields'

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> _Node:
        tag = event.tag
        if tag not in (None, "!"):
            raise self.fail(line, self._tag_message(tag))
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        in_key = bool(self.stack) and self.stack[-1].is_map and self.stack[-1].key is None
        if tag == _CORE + "merge" and in_key:
            raise self.fail(line, 'merge keys ("<<") are not supported: write the fields out')
        if tag in (_CORE + "merge", _CORE + "value"):
            tag = _CORE + "str"  # only special as keys; as values they are just text
        if tag not in _SCALAR_TAGS:
            raise self.fail(line, self._tag_message(tag))
        if in_key or tag in (_CORE + "str", _CORE + "timestamp"):
            # Field names stay as written ("yes", "1.0"), and a date is text in a routine.
            value: Any = event.value
        elif tag in (_CORE + "int", _CORE + "float") and not (
            _PLAIN_INT_RE.fullmatch(event.value) or _PLAIN_FLOAT_RE.fullmatch(event.value)
        ):
            raise self.fail(line, f'{_NUMBER_EXPECTED}, got "{_clip(event.value)}"')
        else:
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            try:
                value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
            except (ValueError, OverflowError, ArithmeticError, yaml.YAMLError):
                # Such as a 5000-digit number: keep the text, and the checker says what it expected.
                value = event.value
        if isinstance(value, str) and _TEXT_BAD_RE.search(value):
            raise self.fail(line, "text with a control character or an invalid character in it")
        return _Node(value, line)

    def _alias(self, anchor: str, line: int) -> tuple[_Node, int, int, None]:
        if anchor not in self.anchors:
            if any(frame.anchor == anchor for frame in self.stack):
                raise self.fail(line, f'the alias "*{_clip(anchor)}" repeats the value it is inside')
            raise self.fail(line, f'the alias "*{_clip(anchor)}" has no anchor "&{_clip(anchor)}" before it')
        node, size, height = self.anchors[anchor]
        if len(self.stack) + height > MAX_DEPTH:
            raise self.fail(line, f"nested too deeply (more than {MAX_DEPTH} levels)")
        self.counted(size, line)
        return node, size, height, None

    def _deliver(self, node: _Node, size: int, height: int, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (node, size, height)
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if not parent.is_map:
            parent.items.append(node)
            return
        if parent.key is None:
            value = node.value
            if isinstance(value, list | dict) or value is None or value == "":
                raise self.fail(node.line, "field names must be plain words")
            name = str(value) if not isinstance(value, bool) else ("true" if value else "false")
            if name in parent.keys:
                raise self.fail(node.line, f'field "{_clip(name)}" appears twice (first on line {parent.keys[name]})')
            parent.key = (name, node.line)
            return
        name, key_line = parent.key
        parent.key = None
        parent.keys[name] = key_line
        # An empty value ("reps:") has no line of its own; point at its field.
        parent.values[name] = node if node.value is not None else _Node(None, key_line)


def _clip(text: str, limit: int = 40) -> str:
    """User text for a one-line message: short, and without line breaks."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_yaml(text: str, file: str) -> _Node:
    builder = _Builder(file)
    events = yaml.parse(text, Loader=_LOADER)
    try:
        for event in events:
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = exc.problem or exc.context or "invalid YAML"
        if mark and _char_at(text, mark.line, mark.column) == "\t":
            reason = "a tab where YAML needs spaces (indent with spaces only)"
        raise RoutineError([Problem(file, line, f"not valid YAML: {_clip(reason, 120)}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text[: max(0, exc.position)].count("\n") + 1
        raise RoutineError([Problem(file, line, f"not valid YAML: {_clip(exc.reason, 120)}")]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([Problem(file, 1, f"not valid YAML: {_clip(str(exc), 120)}")]) from None
    finally:
        events.close()
    if builder.root is None:
        raise RoutineError([Problem(file, 1, "the file is empty")])
    return builder.root


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n", line + 1)
    return lines[line][column : column + 1] if line < len(lines) else ""


def _decode(data: bytes, file: str) -> str:
    if b"\x00" in data:
        raise RoutineError([Problem(file, data[: data.index(b"\x00")].count(b"\n") + 1,
                                    "this is binary data, not a routine file")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RoutineError([Problem(file, line, "not UTF-8 text (binary data?)")]) from None
    bad = _CONTROL_RE.search(text)
    if bad:
        line = text[: bad.start()].count("\n") + 1
        if bad.group() in "\u2028\u2029":
            message = "a Unicode line or paragraph separator: use plain line breaks"
        else:
            message = "control characters found: not a text file"
        raise RoutineError([Problem(file, line, message)])
    return text


# --- validation ---------------------------------------------------------------------

_ROUTINE_FIELDS = {
    "name", "title", "source", "aliases", "helps_with", "equipment", "rest_seconds",
    "intro", "safety", "pain_guide", "exercises", "pain_limits",
}
_EXERCISE_FIELDS = {
    "name", "steps", "sets", "sides", "reps", "hold_seconds", "tempo", "parts",
    "equipment", "rest_seconds", "harder", "tips", "optional_equipment", "step_seconds", "sides_match",
    "max_effort", "skip_when_sore",
}
_TEMPO_FIELDS = {"up", "top", "down", "bottom"}
_PAIN_FIELDS = {"id", "name", "signs", "care"}
_PAIN_LIMIT_FIELDS = {"stop": 10, "caution": 10, "rise": 10}  # each a whole number from 0 to this
# ASCII digits only, and few of them: int() of a 5000-digit string raises.
# No leading zeros either: "08" must not be 8 here when "010" is refused as a number.
_NUMBER_RE = re.compile(r"^\s*(-?(?:0|[1-9][0-9]{0,8}))\s*$")
_RANGE_RE = re.compile(r"^\s*(-?(?:0|[1-9][0-9]{0,8}))\s*(?:-|to|–)\s*(-?(?:0|[1-9][0-9]{0,8}))\s*$")
# The most a routine may ask for: beyond these it is a typo, and a plan of millions of
# cues would take `plan`, `list` and `run` minutes to build.
_MAX_COUNT = {"sets": 50, "reps": 1000, "hold_seconds": 3600}
MAX_ROUTINE_SECONDS = 4 * 3600
MIN_REP_SECONDS = 1.0
# A walking step: about one a second; faster is a shuffle, slower is not walking.
MIN_STEP_SECONDS, MAX_STEP_SECONDS = 0.5, 3.0


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
                line = node.keys.get(key, value.line) if node.keys else value.line
                self.add(line, where, f'unknown field "{_clip(key)}"{hint}')

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
            single = _NUMBER_RE.match(value)
            match = _RANGE_RE.match(value)
            if single:
                low = high = int(single.group(1))
            elif match:
                low, high = int(match.group(1)), int(match.group(2))
            elif re.match(r"\s*-?0[0-9]", value):
                self.add(node.line, where, f'{key}: expected a number or a range like 10-15 without leading zeros, '
                         f'got "{_clip(value)}"')
                return None
            else:
                self.add(node.line, where, f'{key}: expected a number or a range like 10-15, got "{_clip(value)}"')
                return None
        else:
            self.add(node.line, where, f"{key}: expected a number or a range like 10-15, got {_kind(value)}")
            return None
        if low <= 0 or high <= 0:
            self.add(node.line, where, f"{key}: must be above zero, got {low if low <= 0 else high}")
            return None
        if low > high:
            self.add(node.line, where, f"{key}: minimum {low} is above maximum {high}")
            return None
        limit = _MAX_COUNT.get(key, 1000)
        if high > limit:
            shown = str(high) if high < 10**12 else "so many"
            self.add(node.line, where, f"{key}: {shown} {unit} is more than anyone should do (at most {limit})")
            return None
        return Range(low, high)

    def seconds(self, parent: _Node, key: str, where: str) -> int | None:
        node = parent.value.get(key)
        if node is None or node.value is None:
            return None
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.add(node.line, where, f"{key}: expected seconds as a number, got {_kind(value)}")
            return None
        if value < 0:
            self.add(node.line, where, f"{key}: cannot be negative, got {value}")
            return None
        if value > 3600:
            self.add(node.line, where, f"{key}: {value} seconds is over an hour")
            return None
        return int(round(value))

    def flag(self, parent: _Node, key: str, where: str) -> bool:
        node = parent.value.get(key)
        if node is None or node.value is None:
            return False
        if not isinstance(node.value, bool):
            self.add(node.line, where, f"{key}: expected true or false, got {_kind(node.value)}")
            return False
        return node.value

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
            if isinstance(item.value, bool) or not isinstance(item.value, int | float) or not math.isfinite(item.value):
                self.add(item.line, where, f"tempo: {key}: expected seconds, got {_kind(item.value)}")
            elif item.value < 0 or item.value > 60:
                self.add(item.line, where, f"tempo: {key}: must be between 0 and 60 seconds")
            else:
                values[key] = float(item.value)
        tempo = Tempo(**values)
        if len(values) == sum(1 for k in _TEMPO_FIELDS if k in node.value) and tempo.period < MIN_REP_SECONDS:
            self.add(node.line, where, f"tempo: a rep must take at least {MIN_REP_SECONDS:g} second in all")
            return None
        return tempo


    def step_seconds(self, parent: _Node, where: str) -> float | None:
        node = parent.value.get("step_seconds")
        if node is None or node.value is None:
            return None
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.add(node.line, where, f"step_seconds: expected seconds a step, got {_kind(value)}")
            return None
        if not MIN_STEP_SECONDS <= value <= MAX_STEP_SECONDS:
            self.add(node.line, where, f"step_seconds: must be between {MIN_STEP_SECONDS:g} and "
                                       f"{MAX_STEP_SECONDS:g} seconds a step, got {value}")
            return None
        return float(value)



def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f'text ("{_clip(value, 30)}")'
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
        f'exercise "{_clip(raw_name.value)}": ' if raw_name and isinstance(raw_name.value, str)
        and raw_name.value.strip() else f"exercise {index}: "
    )
    before = len(c.problems)
    c.unknown_fields(node, _EXERCISE_FIELDS, label)
    name = c.text(node, "name", label, required=True)
    steps = c.texts(node, "steps", label, required=True)
    sets = c.range(node, "sets", label, "sets") or Range(1, 1)
    reps = c.range(node, "reps", label, "reps")
    hold = c.range(node, "hold_seconds", label, "seconds")
    given = {k for k in ("reps", "hold_seconds") if k in node.value and node.value[k].value is not None}
    if not given:
        c.add(node.line, label, 'needs "reps" or "hold_seconds"')
    elif len(given) == 2:
        c.add(node.value["hold_seconds"].line, label,
              'give "reps" or "hold_seconds", not both (use tempo: top for a pause in each rep)')
    sides = c.texts(node, "sides", label, required=False)
    if len(set(sides)) != len(sides):
        c.add(node.value["sides"].line, label, "sides: the same side is listed twice")
    parts = c.texts(node, "parts", label, required=False)
    if parts and hold:
        c.add(node.value["parts"].line, label, "parts: only exercises with reps can have parts")
    step_seconds = c.step_seconds(node, label)
    if step_seconds is not None and (hold or node.value.get("tempo") is not None):
        c.add(node.value["step_seconds"].line, label,
              "step_seconds: only for steps counted like reps, and not with a tempo (a step has no phases)")
    max_effort = c.flag(node, "max_effort", label)
    if max_effort and (hold is None or hold.min != hold.max):
        c.add(node.value["max_effort"].line, label,
              "max_effort: needs hold_seconds as one number, the goal to work up to")
    sides_match = c.flag(node, "sides_match", label)
    if sides_match and len(sides) < 2:
        c.add(node.value["sides_match"].line, label, "sides_match: needs at least two sides")
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
        optional_equipment=c.texts(node, "optional_equipment", label, required=False),
        step_seconds=step_seconds,
        sides_match=sides_match,
        max_effort=max_effort,
        skip_when_sore=c.flag(node, "skip_when_sore", label),
    )
    return exercise if len(c.problems) == before else None


def _longest_seconds(exercises: list[Exercise], rest: int) -> float:
    """A rough length of the routine with every range at its top, to refuse absurd files early."""
    total = 0.0
    for ex in exercises:
        rounds = ex.sets.max * max(1, len(ex.sides))
        if ex.reps is not None:
            period = ex.step_seconds or (ex.tempo or Tempo()).period
            work = ex.reps.max * max(1, len(ex.parts)) * period
        else:
            work = ex.hold_seconds.max if ex.hold_seconds is not None else 0
        pause = ex.rest_seconds if ex.rest_seconds is not None else rest
        # About ten seconds to announce each set and half a minute to introduce each exercise.
        total += 30 + rounds * (work + 10) + (ex.sets.max - 1) * pause
    return total


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


def _check_pain_limits(c: _Checker, root: _Node) -> PainLimits | None:
    node = root.value.get("pain_limits")
    if node is None or node.value is None:
        return None
    where = "pain_limits: "
    if not isinstance(node.value, dict):
        c.add(node.line, where, f"expected stop, caution and rise (0 to 10), got {_kind(node.value)}")
        return None
    c.unknown_fields(node, set(_PAIN_LIMIT_FIELDS), where)
    values: dict[str, int] = {}
    for key, top in _PAIN_LIMIT_FIELDS.items():
        item = node.value.get(key)
        if item is None:
            continue
        if isinstance(item.value, bool) or not isinstance(item.value, int) or not 0 <= item.value <= top:
            c.add(item.line, where, f"{key}: expected a whole number from 0 to {top}, got {_kind(item.value)}")
        else:
            values[key] = item.value
    limits = PainLimits(**values)
    if len(values) == sum(1 for k in _PAIN_LIMIT_FIELDS if k in node.value):
        for problem in limits.problems():
            c.add(node.line, where, problem)
    return limits


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
    given_name = c.text(root, "name", "", required=False)
    name = given_name or default_name
    if given_name and not _NAME_RE.match(given_name):
        c.add(root.value["name"].line, "", f'name: "{_clip(name)}" must be one word of letters, digits and dashes')
    elif name and not _NAME_RE.match(name) and root.value.get("name") is None:
        # No name written: it comes from the file name, which the user may not think of as one.
        c.add(1, "", f'the file name "{_clip(name)}" is not a routine name: add "name:" with one word '
                     "of letters, digits and dashes, or rename the file")
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
        hours = _longest_seconds(exercises, 30 if rest is None else rest) / 3600
        if hours * 3600 > MAX_ROUTINE_SECONDS:
            c.add(ex_node.line, "", f"exercises: at the top of every range this routine takes about {hours:.0f} "
                                    f"hours; keep it under {MAX_ROUTINE_SECONDS // 3600} hours")
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
        pain_limits=_check_pain_limits(c, root),
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
    """The routines that ship with voicecoach: package data `voicecoach.routines`.

    The repository keeps them in the top-level routines/ folder; pyproject.toml maps that
    folder into the package, for a wheel and an editable install alike.
    """
    return Path(str(importlib.resources.files("voicecoach.routines")))


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "voicecoach" / "routines"


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
        try:
            entries = sorted(folder.iterdir()) if folder.is_dir() else []
        except OSError:
            continue  # an unreadable folder hides its routines, it does not stop the others
        for path in entries:
            if path.suffix in ROUTINE_SUFFIXES and path.is_file():
                found.setdefault(path.stem, path)
    return sorted(found.values(), key=lambda p: p.stem)


def looks_like_path(ref: str) -> bool:
    """A reference the user typed as a path: it has a slash, or starts with "." or "~"."""
    return "/" in ref or os.sep in ref or ref.startswith((".", "~"))


def find_routine(ref: str, dirs: list[Path] | None = None) -> Routine:
    """Load a routine by path, by file name in the routine folders, or by its name or an alias.

    A path (see `looks_like_path`) is read as given, like any file the user names. A name
    is only ever compared with the files listed in the routine folders, never joined onto
    a folder, so no name can reach a file outside them. "x.yaml" with no slash is the file
    in the current folder when there is one, else the routine named "x".
    """
    if looks_like_path(ref):
        return load_routine(Path(ref).expanduser())
    if ref.endswith(ROUTINE_SUFFIXES) and Path(ref).is_file():
        return load_routine(ref)
    shown = _clip(ref) or '""'
    name = ref[: -len(Path(ref).suffix)] if ref.endswith(ROUTINE_SUFFIXES) else ref
    if not name.strip() or _LINE_BREAKS_RE.search(name):
        raise RoutineError([Problem(shown, 0, "not a routine name: see `voicecoach list`")])
    files = routine_files(dirs)
    for path in files:
        if path.stem == name:
            return load_routine(path)
    wanted = " ".join(name.casefold().split())
    known: list[str] = []
    for path in files:
        try:
            routine = load_routine(path)
        except RoutineError:
            known.append(path.stem)
            continue
        known += [path.stem, routine.name, *routine.aliases]
        if wanted in (routine.name.casefold(), *(" ".join(a.casefold().split()) for a in routine.aliases)):
            return routine
    guess = difflib.get_close_matches(name, list(dict.fromkeys(known)), n=1)
    stems = [p.stem for p in files]
    hint = f' Did you mean "{guess[0]}"?' if guess else ""
    listing = ", ".join(stems) if stems else "none found"
    raise RoutineError([Problem(shown, 0, f"no routine by that name.{hint} Known routines: {listing}.")])


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
