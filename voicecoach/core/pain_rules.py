"""The pain-monitoring model: what a knee-pain score (0-10) means for training.  Pure.

Physiotherapists who prescribe exercise for painful knees commonly let pain guide the load
(Thomeé 1997, for patellofemoral pain; Silbernagel and colleagues 2007): pain during
exercise may reach about 5 out of 10, should settle by the next morning, and should not
rise from one session to the next; when those limits are passed, the load goes down.

Three limits carry the model (defaults in `PainLimits`; the config's `[pain]` section and a
routine's `pain_limits` change them).  Each function here turns scores into a `Verdict`: an
action and the plain-words reason the coach says and the history keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What a before-score means today.
STOP_TODAY = "stop_today"
REDUCED = "reduced"
NORMAL = "normal"
# What a score during the session means.
SKIP = "skip"
CHOOSE = "choose"
# What the record of recent sessions means for the next one.
STEP_UP = "step_up"
HOLD = "hold"
STEP_DOWN = "step_down"
# What the coach did about pain in a session (recorded beside the verdicts above).
START_ANYWAY = "start_anyway"
SKIP_FOR_PAIN = "skip_for_pain"

# Each decision as the history shows it.
LABELS = {
    STOP_TODAY: "advised not to train", REDUCED: "easier targets today", NORMAL: "usual targets",
    START_ANYWAY: "trained anyway", SKIP_FOR_PAIN: "exercise skipped for pain",
    STEP_UP: "step up offered", HOLD: "targets held", STEP_DOWN: "stepped down",
}
CITATION = ("Thomeé R. A comprehensive treatment approach for patellofemoral pain syndrome in young women. "
            "Phys Ther. 1997;77(12):1690-1703. Silbernagel KG, Thomeé R, Eriksson BI, Karlsson J. "
            "Continued sports activity, using a pain-monitoring model, during rehabilitation in patients with "
            "Achilles tendinopathy: a randomized controlled study. Am J Sports Med. 2007;35(6):897-906.")


@dataclass(frozen=True)
class PainLimits:
    """The limits of the model, on the 0-10 scale."""

    stop: int = 7
    """A score before the session at or above this: don't train today."""
    caution: int = 5
    """Pain may reach this and no more: above it before the session the targets are reduced;
    at or above it during an exercise, the exercise is skipped; above it, the next session
    steps down."""
    rise: int = 2
    """A rise this large (after the session over before it, or from one session's before to
    the next) steps the next session down."""

    def problems(self) -> list[str]:
        """What is wrong with these limits, in words (empty when they make sense)."""
        out = []
        if not 1 <= self.stop <= 10:
            out.append(f"the stop level must be from 1 to 10, not {self.stop}")
        if not 0 <= self.caution <= 10:
            out.append(f"the caution level must be from 0 to 10, not {self.caution}")
        if not 1 <= self.rise <= 10:
            out.append(f"the rise limit must be from 1 to 10, not {self.rise}")
        if not out and self.caution >= self.stop:
            out.append(f"the caution level ({self.caution}) must be below the stop level ({self.stop})")
        return out


_DOWN_ONE_STEP = "the targets go down one step"
_AT_THE_BOTTOM = "the targets stay at the bottom of each range"


def limits_for(config: Any, routine_limits: PainLimits | None) -> PainLimits:
    """The limits for a routine: its own `pain_limits` if it has them, else the config's [pain]."""
    if routine_limits is not None:
        return routine_limits
    return PainLimits(config.stop_level, config.caution_level, config.rise_limit)


@dataclass(frozen=True)
class Verdict:
    """A decision and why, in words a person reads or hears."""

    action: str
    reason: str


def before_session(score: int | None, limits: PainLimits) -> Verdict:
    """What the score given before the session means for today."""
    if score is None:
        return Verdict(NORMAL, "No pain score before the session, so the usual targets.")
    if score >= limits.stop:
        return Verdict(STOP_TODAY, f"Pain of {score} out of 10 before the session is at or above the stop "
                                   f"level of {limits.stop}: better not to train today.")
    if score > limits.caution:
        return Verdict(REDUCED, f"Pain of {score} out of 10 before the session is above the caution level "
                                f"of {limits.caution}: easier targets today.")
    return Verdict(NORMAL, f"Pain of {score} out of 10 before the session is within the limit of "
                           f"{limits.caution}.")


def during_session(score: int | None, limits: PainLimits) -> Verdict:
    """What a score given after "pain" means: skip the exercise, or let the user choose."""
    if score is None:
        return Verdict(SKIP, "No pain score given, so the exercise is skipped to be safe.")
    if score >= limits.caution:
        return Verdict(SKIP, f"Pain of {score} out of 10 is at or above the caution level of "
                             f"{limits.caution}.")
    return Verdict(CHOOSE, f"Pain of {score} out of 10 is below the caution level of {limits.caution}.")


@dataclass(frozen=True)
class Workout:
    """What one workout (a session and the sessions that resumed it) tells the model."""

    before: int | None = None
    after: int | None = None
    worst_during: int | None = None
    """The highest score given after "pain" during it, if any."""


def _breach(w: Workout, earlier: Workout | None, limits: PainLimits) -> str | None:
    """Why this workout passed the limits, or None when it did not."""
    scores = [("before", w.before), ("after", w.after), ("during", w.worst_during)]
    for when, score in scores:
        if score is not None and score > limits.caution:
            return f"pain reached {score} out of 10 {when} the session, above the caution level of {limits.caution}"
    if w.before is not None and w.after is not None and w.after - w.before >= limits.rise:
        return f"pain rose from {w.before} to {w.after} during the session"
    if earlier is not None and earlier.before is not None and w.before is not None \
            and w.before - earlier.before >= limits.rise:
        return f"pain before the session rose from {earlier.before} to {w.before} since the session before"
    return None


def next_session(workouts: Sequence[Workout], limits: PainLimits, finished: bool, streak: int = 2) -> Verdict:
    """What the last workouts (newest first) mean for the next one.

    `finished`: each of the last `streak` workouts ended "finished" with every planned set done
    at its target and nothing skipped (the history store tells).  Step down one step when the
    newest workout passed the limits (pain above the caution level, or a rise of `limits.rise`
    or more, within the session or from one session's before-score to the next).  Step up only
    when `finished` and the pain of each of those workouts stayed within the limits and did not
    rise.  Otherwise hold the targets.
    """
    if not workouts:
        return Verdict(HOLD, "No sessions yet: starting at the bottom of each range.")
    why = _breach(workouts[0], workouts[1] if len(workouts) > 1 else None, limits)
    if why is not None:
        return Verdict(STEP_DOWN, f"Last time {why}, so {_DOWN_ONE_STEP}.")
    recent = workouts[:streak]
    if len(recent) < streak or not finished:
        return Verdict(HOLD, f"Same targets: not every set was done in each of your last {streak} sessions.")
    for i, w in enumerate(recent):
        earlier = workouts[i + 1] if i + 1 < len(workouts) else None
        why = _breach(w, earlier, limits)
        if why is not None:
            return Verdict(HOLD, f"Same targets: in a recent session {why}.")
        if w.before is not None and w.after is not None and w.after > w.before:
            return Verdict(HOLD, f"Same targets: pain went up from {w.before} to {w.after} in a recent session.")
    return Verdict(STEP_UP, f"You finished every set in your last {streak} sessions and your pain stayed "
                            "within the limits.")


def apply(verdict: Verdict, higher: Mapping[int, int], lower: Mapping[int, int]
          ) -> tuple[Verdict, dict[int, int], dict[int, int]]:
    """What a `next_session` verdict does to the targets, given the targets one step `higher`
    and one step `lower` (by exercise index, only those that can move): the verdict (its words
    fitted to what can move), the step up to offer, and the lowered targets."""
    if verdict.action == STEP_UP:
        if not higher:
            return Verdict(HOLD, "Same targets: every exercise is at the top of its range."), {}, {}
        return verdict, dict(higher), {}
    if verdict.action == STEP_DOWN:
        if not lower:
            return Verdict(STEP_DOWN, verdict.reason.replace(_DOWN_ONE_STEP, _AT_THE_BOTTOM)), {}, {}
        return verdict, {}, dict(lower)
    return verdict, {}, {}
