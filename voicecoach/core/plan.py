"""Turn a Routine into a Plan: the ordered blocks of a session, each a timeline of cues.

Pure: the same routine and settings always give the same plan, so `voicecoach plan`
prints exactly what the coach will say and when.  Times are seconds from the start
of each block; the session places blocks on the clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from voicecoach.core.routine import Exercise, Range, Routine, Tempo

# Kinds of cue.  Sentences may slip later while the coach is still talking;
# counts and ticks are time-critical and are said exactly when due.
SENTENCE = "say"
COUNT = "count"
TICK = "tick"


@dataclass(frozen=True)
class PlanSettings:
    """Timings the routine file does not fix."""

    ready_seconds: float = 15.0
    """Countdown to get into position before an exercise's first set (seconds)."""
    rest_seconds: float | None = None
    """Rest between sets (seconds); None uses the routine's own value."""
    switch_seconds: float = 10.0
    """Pause to change side within a round (seconds)."""
    tempo: Tempo = Tempo()
    """Rep tempo for exercises whose routine gives none."""
    words_per_second: float = 2.6
    """Speaking speed used to estimate how long a sentence takes."""
    sentence_gap: float = 0.5
    """Silence between two sentences (seconds)."""
    brief: bool = False
    """For a returning user: a short welcome, the safety lines, and each exercise's name and
    first step; `steps_block` has all the steps, for "repeat"."""


@dataclass(frozen=True)
class Cue:
    at: float
    text: str
    kind: str = SENTENCE
    count: int | None = None


@dataclass(frozen=True)
class Block:
    """One step of the session: it starts, says its cues at their offsets, and ends at `duration`."""

    kind: str  # intro, exercise, ready, reps, hold, rest, switch, harder, finish
    cues: tuple[Cue, ...]
    duration: float
    exercise: int | None = None
    set_no: int | None = None
    side_index: int | None = None
    target: int | None = None
    part_starts: tuple[float, ...] = ()
    """Offsets at which each part of a set with parts begins (its name is said there)."""

    @property
    def set_key(self) -> tuple[int, int, int] | None:
        if self.kind in ("reps", "hold") and self.exercise is not None:
            return (self.exercise, self.set_no or 1, self.side_index or 0)
        return None

    @property
    def is_step(self) -> bool:
        """Whether `back` can land here: exercise introductions, sets and the ending."""
        return self.kind in ("intro", "exercise", "reps", "hold", "finish")


def with_timings(settings: PlanSettings, *, rest_seconds: float | None = None,
                 ready_seconds: float | None = None) -> PlanSettings:
    """`settings` with the rest and get-ready times given (None keeps them)."""
    changes = {k: v for k, v in (("rest_seconds", rest_seconds), ("ready_seconds", ready_seconds))
               if v is not None}
    return replace(settings, **changes) if changes else settings


def speech_seconds(text: str, settings: PlanSettings) -> float:
    """How long saying `text` takes, roughly."""
    words = max(1, len(text.split()))
    return words / settings.words_per_second + 0.2


def spoken_list(items: list[str] | tuple[str, ...]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def equipment_sentences(items: list[str] | tuple[str, ...], lead: str) -> list[str]:
    """What to have ready, heard easily: one thing in one sentence; more as how many, then
    one short sentence each ("You will need 3 things." "A step or block." ...)."""
    items = list(items)
    if len(items) <= 1:
        return [f"{lead} {item}." for item in items]
    return [f"{lead} {plural(len(items), 'thing')}.", *(item[0].upper() + item[1:] + "." for item in items)]


# The body part the sides of an exercise are named for, when they all name the same one.
_SIDE_WORDS = ("leg", "foot", "ankle", "arm")


def side_word(sides: tuple[str, ...]) -> str:
    """What each side is: "leg" for "left leg on the wall" and "right leg on the wall", else "side"."""
    for word in _SIDE_WORDS:
        if sides and all(re.search(rf"\b{word}\b", side) for side in sides):
            return word
    return "side"


HARDER_LEAD = "When this gets easy, make it harder."


class _Timeline:
    def __init__(self, settings: PlanSettings, start: float = 0.0):
        self.settings = settings
        self.t = start
        self.cues: list[Cue] = []

    def say(self, *texts: str) -> None:
        for text in texts:
            self.cues.append(Cue(round(self.t, 3), text, SENTENCE))
            self.t += speech_seconds(text, self.settings) + self.settings.sentence_gap

    def announce(self, text: str, timed_as: str) -> None:
        """Say `text`, but leave the time that `timed_as` would take."""
        self.cues.append(Cue(round(self.t, 3), text, SENTENCE))
        self.t += speech_seconds(timed_as, self.settings) + self.settings.sentence_gap

    def at(self, t: float, text: str, kind: str, count: int | None = None) -> None:
        self.cues.append(Cue(round(t, 3), text, kind, count))


class Plan:
    """The blocks of a session for one routine."""

    def __init__(self, routine: Routine, settings: PlanSettings | None = None,
                 rounds: Mapping[int, int] | None = None):
        self.routine = routine
        self.settings = settings or PlanSettings()
        # Rounds of each exercise this session, by index: the bottom of a range like "2-3 rounds"
        # unless progression has added some (kept within the range).
        self._rounds = {e: min(ex.sets.max, max(ex.sets.min, int((rounds or {}).get(e, ex.sets.min))))
                        for e, ex in enumerate(routine.exercises)}
        self.blocks: list[Block] = self._build()

    def with_rounds(self, rounds: Mapping[int, int]) -> Plan:
        """The same plan with these rounds for the exercises named (the others as they are)."""
        return Plan(self.routine, self.settings, {**self._rounds, **rounds})

    def rounds(self, e: int) -> int:
        """How many rounds of exercise `e` this plan does (a round: one set on each side)."""
        return self._rounds[e]

    # -- structure ------------------------------------------------------------------

    def tempo(self, exercise: Exercise) -> Tempo:
        if exercise.step_seconds is not None:
            return Tempo(up=0.0, top=0.0, down=exercise.step_seconds, bottom=0.0)  # a step is counted as taken
        return exercise.tempo or self.settings.tempo

    def rest_seconds(self, exercise: Exercise) -> float:
        if exercise.rest_seconds is not None:
            return float(exercise.rest_seconds)
        if self.settings.rest_seconds is not None:
            return self.settings.rest_seconds
        return float(self.routine.rest_seconds)

    def set_keys(self) -> list[tuple[int, int, int]]:
        """Every set in the order it is done: (exercise index, set number, side index)."""
        return [b.set_key for b in self.blocks if b.set_key is not None]

    def total_seconds(self) -> float:
        return sum(b.duration for b in self.blocks)

    def first_block_of_exercise(self, exercise: int) -> int:
        for i, block in enumerate(self.blocks):
            if block.exercise == exercise:
                return i
        return len(self.blocks) - 1

    def index_of_set(self, key: tuple[int, int, int]) -> int | None:
        for i, block in enumerate(self.blocks):
            if block.set_key == key:
                return i
        return None

    def _build(self) -> list[Block]:
        routine = self.routine
        body: list[Block] = []
        count = len(routine.exercises)
        for e, ex in enumerate(routine.exercises):
            body.append(self._exercise_intro(e, ex, count))
            body.append(self._ready(e, ex))
            sides = ex.sides or ("",)
            for s in range(1, self.rounds(e) + 1):
                for side_i in range(len(sides)):
                    body.append(self.set_block(e, s, side_i))
                    nxt = self._next_set(ex, s, side_i, self.rounds(e))
                    if nxt is None:
                        continue
                    if nxt[0] == s:
                        body.append(self._switch(e, ex, nxt))
                    else:
                        body.append(self._rest(e, ex, nxt))
            if ex.harder:
                body.append(self._harder(e, ex))
        body.append(self._finish())
        return [self._intro(sum(b.duration for b in body)), *body]

    @staticmethod
    def _next_set(ex: Exercise, set_no: int, side_i: int, rounds: int) -> tuple[int, int] | None:
        if side_i + 1 < max(1, len(ex.sides)):
            return (set_no, side_i + 1)
        if set_no < rounds:
            return (set_no + 1, 0)
        return None

    # -- words ----------------------------------------------------------------------

    def set_label(self, ex: Exercise, set_no: int, side_i: int) -> str:
        """How a set is named aloud and on screen: "Set 2 of 3", or "Round 2 of 3, left leg"
        when each round has a set on each side (every side's set counts as a set done)."""
        parts = []
        rounds = self.rounds(self.routine.exercises.index(ex))
        if rounds > 1:
            # Holds are counted as holds ("Hold 2 of 3, left leg"), sets on each side as rounds.
            word = "Hold" if ex.hold_seconds else "Round" if ex.sides else "Set"
            parts.append(f"{word} {set_no} of {rounds}")
        if ex.sides:
            parts.append(ex.sides[side_i])
        return ", ".join(parts)

    def work_summary(self, ex: Exercise) -> str:
        sets = ex.sets.spoken()
        if ex.hold_seconds and ex.sides and ex.sets.max > 1:
            # Holds are counted on each side: "3 holds on each leg", never "3 sets".
            each = (f"each as long as you can, working up to {ex.hold_seconds.max} seconds" if ex.max_effort
                    else f"{ex.hold_seconds.spoken()} seconds each")
            text = f"{sets} holds on each {side_word(ex.sides)}, {each}"
        elif ex.hold_seconds:
            what = f"hold for {ex.hold_seconds.spoken()} seconds"
            if ex.max_effort:
                what = f"hold as long as you can, working up to {ex.hold_seconds.max} seconds"
            text = f"{sets} {'holds' if ex.sets.max > 1 else 'hold'}: {what}" if ex.sets.max > 1 else what.capitalize()
        else:
            assert ex.reps is not None
            reps = f"{ex.reps.spoken()} {unit(ex)}"
            if ex.parts:
                reps = f"{ex.reps.spoken()} {unit(ex)} of each part"
            # With sides, a round is a set on each side: each side's set counts as one set done.
            word = "round" if ex.sides else "set"
            text = f"{sets} {word}s of {reps}" if ex.sets.max > 1 else reps[0].upper() + reps[1:]
        if ex.sides:
            text += f", on each of: {spoken_list(ex.sides)}" if len(ex.sides) > 2 else (
                f", {ex.sides[0]} then {ex.sides[1]}" if len(ex.sides) == 2 else f", {ex.sides[0]}")
        rounds = self.rounds(self.routine.exercises.index(ex))
        if rounds < ex.sets.max:
            # Only while progression can still add one (see `progression.step_up_rounds`).
            word = "round" if ex.sides or ex.hold_seconds else "set"
            text += f". We'll do {plural(rounds, word)} today, and add a {word} as you get stronger"
        return text + "."

    def sets_in(self, e: int) -> int:
        """How many sets exercise `e` has in this plan: one per round and side."""
        return self.rounds(e) * max(1, len(self.routine.exercises[e].sides))

    # -- blocks ---------------------------------------------------------------------

    def _intro(self, rest_of_plan: float) -> Block:
        if self.settings.brief:
            return self._brief_intro(rest_of_plan)
        r = self.routine
        tl = _Timeline(self.settings)
        tl.say(f"Welcome. This is {r.title}.")
        tl.say(*r.intro)
        tl.say(*equipment_sentences(r.all_equipment(), "You will need"))
        if any(ex.optional_equipment for ex in r.exercises):
            tl.say("Some exercises can use other things too. I'll name them with those exercises.")
        tl.say("A word on safety.", *r.safety)
        minutes = max(1, round(rest_of_plan / 60))
        count = len(r.exercises)
        verb = "is" if count == 1 else "are"
        tl.say(f"There {verb} {plural(count, 'exercise')}, about {plural(minutes, 'minute')} in all.")
        tl.say("Say help at any time to hear what you can say.")
        return Block("intro", tuple(tl.cues), round(tl.t, 3))

    def _brief_intro(self, rest_of_plan: float) -> Block:
        r = self.routine
        tl = _Timeline(self.settings)
        tl.say(f"Welcome back to {r.title}.")
        tl.say(*r.safety)
        count = len(r.exercises)
        minutes = max(1, round(rest_of_plan / 60))
        tl.say(f"{plural(count, 'exercise')}, about {plural(minutes, 'minute')}.")
        tl.say("I'll give each exercise's first step. Say repeat to hear all its steps.")
        return Block("intro", tuple(tl.cues), round(tl.t, 3))

    def _steps(self, ex: Exercise) -> list[str]:
        """All of an exercise's steps, with its parts."""
        lines = list(ex.steps)
        if ex.parts:
            names = [p[0].lower() + p[1:] for p in ex.parts]
            lines.append(f"Each set has {plural(len(ex.parts), 'part')}: {spoken_list(names)}.")
        return lines

    def steps_block(self, e: int) -> Block:
        """Every step of exercise `e`, read in place of its introduction (a brief session's "repeat")."""
        tl = _Timeline(self.settings)
        tl.say(*self._steps(self.routine.exercises[e]))
        return Block("exercise", tuple(tl.cues), round(tl.t, 3), exercise=e)

    def _exercise_intro(self, e: int, ex: Exercise, count: int) -> Block:
        tl = _Timeline(self.settings)
        tl.say(f"Exercise {e + 1} of {count}: {ex.name}.")
        if self.settings.brief:
            tl.say(ex.steps[0])
            return Block("exercise", tuple(tl.cues), round(tl.t, 3), exercise=e)
        tl.say(*equipment_sentences(ex.equipment, "You need"))
        tl.say(*(f"You can also use {item}." for item in ex.optional_equipment))
        tl.say(self.work_summary(ex))
        tl.say(*self._steps(ex))
        tl.say(*ex.tips)
        return Block("exercise", tuple(tl.cues), round(tl.t, 3), exercise=e)

    def _harder(self, e: int, ex: Exercise) -> Block:
        """After an exercise's sets: how to make it harder next time."""
        tl = _Timeline(self.settings)
        tl.say(HARDER_LEAD, *ex.harder)
        return Block("harder", tuple(tl.cues), round(tl.t, 3), exercise=e)

    def _max_effort_block(self, e: int, ex: Exercise, set_no: int, side_i: int, label: str,
                          goal: int) -> Block:
        """A hold for as long as you can: counted up toward `goal`; "done" records the time held."""
        tl = _Timeline(self.settings)
        tl.say(_sentence(label, f"Hold as long as you can. Your goal is {goal} seconds", "Get set."))
        tl.say("Hold.")
        start = tl.t
        ticks = _max_effort_ticks(goal)
        for elapsed, text in sorted(ticks.items()):
            tl.at(start + elapsed, text, TICK, count=elapsed)
        tl.t = start + goal + speech_seconds(ticks[goal], self.settings) + 0.5
        return Block("hold", tuple(tl.cues), round(tl.t, 3), e, set_no, side_i, goal)

    def _ready(self, e: int, ex: Exercise) -> Block:
        d = self.settings.ready_seconds
        tl = _Timeline(self.settings)
        tl.say(f"Get into position. We start in {plural(round(d), 'second')}. Say go when you're ready.")
        _countdown(tl, d, 3)
        return Block("ready", tuple(tl.cues), d, exercise=e)

    def _rest(self, e: int, ex: Exercise, nxt: tuple[int, int]) -> Block:
        d = self.rest_seconds(ex)
        tl = _Timeline(self.settings)
        label = self.set_label(ex, nxt[0], nxt[1])
        tl.say(f"Rest for {plural(round(d), 'second')}. Next: {label}.")
        if d >= 20:
            tl.at(d - 10, "Ten seconds.", TICK)
        _countdown(tl, d, 3)
        return Block("rest", tuple(tl.cues), d, exercise=e, set_no=nxt[0], side_index=nxt[1])

    def _switch(self, e: int, ex: Exercise, nxt: tuple[int, int]) -> Block:
        d = self.settings.switch_seconds
        tl = _Timeline(self.settings)
        tl.say(f"Switch sides. Next: {ex.sides[nxt[1]]}.")
        _countdown(tl, d, 3)
        return Block("switch", tuple(tl.cues), d, exercise=e, set_no=nxt[0], side_index=nxt[1])

    def _finish(self) -> Block:
        tl = _Timeline(self.settings)
        tl.say(f"That's the end of {self.routine.title}. Well done.")
        return Block("finish", tuple(tl.cues), round(tl.t, 3))

    def set_block(self, e: int, set_no: int, side_i: int, target: int | None = None,
                  matched: bool = False) -> Block:
        """The block for one set, counting to `target` (default: the bottom of the range).
        `matched`: the target is what the first side did (`sides_match`), and is said so."""
        ex = self.routine.exercises[e]
        label = self.set_label(ex, set_no, side_i)
        if ex.hold_seconds is not None:
            return self._hold_block(e, ex, set_no, side_i, label, target or ex.hold_seconds.min)
        assert ex.reps is not None
        return self._reps_block(e, ex, set_no, side_i, label, target or ex.reps.min, matched)

    def _reps_block(self, e: int, ex: Exercise, set_no: int, side_i: int, label: str,
                    target: int, matched: bool = False) -> Block:
        reps: Range = ex.reps  # type: ignore[assignment]
        tempo = self.tempo(ex)
        tl = _Timeline(self.settings)

        def announcement(n: int) -> str:
            what = f"{n} {unit(ex)}" if not ex.parts else f"{n} {unit(ex)} of each part"
            if matched:
                what += ", as many as on the first side"
            elif reps.max > n:
                what += f", up to {reps.max} if you say more"
            return _sentence(label, what, "Begin.")

        # Counts keep their times when `more` raises the target, so the lead-in is
        # timed on the announcement for the default target, not the current one.
        tl.announce(announcement(target), announcement(target if matched else reps.min))
        period = tempo.period
        parts = ex.parts or ("",)
        part_starts: list[float] = []
        for p, part in enumerate(parts):
            if part:
                if p > 0:
                    tl.t += 0.5
                part_starts.append(round(tl.t, 3))
                tl.say(part + ".")
            start = tl.t
            for n in range(1, target + 1):
                rep_start = start + (n - 1) * period
                if tempo.top >= 2:
                    tl.at(rep_start + tempo.up, "Hold.", TICK)
                count_at = rep_start + tempo.up + tempo.top + tempo.down
                tl.at(count_at, str(n), COUNT, count=n)
            tl.t = start + target * period
        tl.t += 0.3
        tl.say("Good. That set is done.")
        return Block("reps", tuple(tl.cues), round(tl.t, 3), e, set_no, side_i, target,
                     part_starts=tuple(part_starts))

    def _hold_block(self, e: int, ex: Exercise, set_no: int, side_i: int, label: str,
                    target: int) -> Block:
        hold: Range = ex.hold_seconds  # type: ignore[assignment]
        tl = _Timeline(self.settings)
        if ex.max_effort:
            return self._max_effort_block(e, ex, set_no, side_i, label, target)

        def announcement(n: int) -> str:
            what = f"Hold for {n} seconds"
            if hold.max > n:
                what += f", or up to {hold.max} if you say more"
            return _sentence(label, what, "Get set.")

        tl.announce(announcement(target), announcement(hold.min))
        tl.say("Hold.")
        start = tl.t
        for elapsed in range(1, target + 1):
            left = target - elapsed
            if left >= 1 and left <= 5:
                tl.at(start + elapsed, str(left), TICK, count=elapsed)
            elif left > 5 and left % 10 == 0 and elapsed >= 5:
                tl.at(start + elapsed, f"{left} seconds to go.", TICK, count=elapsed)
        tl.at(start + target, "And release.", TICK, count=target)
        tl.t = start + target + speech_seconds("And release.", self.settings) + 0.5
        return Block("hold", tuple(tl.cues), round(tl.t, 3), e, set_no, side_i, target)


def unit(ex: Exercise) -> str:
    """What an exercise counts: steps when walking, else reps."""
    return "steps" if ex.step_seconds is not None else "reps"


def _max_effort_ticks(goal: int) -> dict[int, str]:
    """What is said at each second of a hold for as long as you can: it counts up, with
    milestones every ten seconds and the last seconds to the goal."""
    said = {n: f"{n} seconds." for n in range(10, goal, 10)}
    if goal > 10:
        said[goal - 5] = f"{goal - 5} seconds. 5 to your goal."
    for n in range(goal - 3, goal):
        if n > 0:
            said.setdefault(n, str(n))
    said[goal] = f"{goal} seconds. That's your goal. And release."
    return said


def _sentence(label: str, what: str, tail: str) -> str:
    text = f"{label}. {what}. {tail}" if label else f"{what}. {tail}"
    return text[0].upper() + text[1:]


def _countdown(tl: _Timeline, duration: float, n: int) -> None:
    for i in range(n, 0, -1):
        if duration - i > tl.t:
            tl.at(duration - i, str(i), TICK)


def hold_start(block: Block) -> float:
    """Offset at which a hold block's clock starts (just after "Hold.")."""
    for cue in block.cues:
        if cue.kind == TICK and cue.count is not None:
            return cue.at - cue.count
    return 0.0


def format_plan(plan: Plan) -> str:
    """The whole script with times, as `voicecoach plan` prints it."""
    lines = [f"# {plan.routine.title} ({plan.routine.name})",
             f"# about {round(plan.total_seconds() / 60)} minutes, {plural(len(plan.set_keys()), 'set')} "
             "(a set is one round on one side); times are minutes:seconds from the start",
             ""]
    t = 0.0
    for block in plan.blocks:
        heading = block.kind
        if block.exercise is not None:
            ex = plan.routine.exercises[block.exercise]
            heading += f": {ex.name}"
            if block.set_key:
                label = plan.set_label(ex, block.set_no or 1, block.side_index or 0)
                if label:
                    heading += f" ({label})"
        lines.append(f"[{_clock(t)}] -- {heading} --")
        for cue in block.cues:
            lines.append(f"[{_clock(t + cue.at)}] {cue.text}")
        if block.kind == "finish":
            lines.append(f"[{_clock(t + block.duration)}] (a summary of what you did and how long it took)")
        t += block.duration
    lines.append(f"[{_clock(t)}] -- end --")
    return "\n".join(lines) + "\n"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    tenths = int(round((seconds - whole) * 10))
    if tenths == 10:
        whole, tenths = whole + 1, 0
    return f"{whole // 60:02d}:{whole % 60:02d}.{tenths}"


def retarget(plan: Plan, block: Block, target: int, matched: bool = False) -> Block:
    """The same set, counting to a new target (`matched`: the first side's count)."""
    assert block.exercise is not None
    return plan.set_block(block.exercise, block.set_no or 1, block.side_index or 0, target, matched)
