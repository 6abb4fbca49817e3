"""The coach's brain: a cursor over the Plan that reacts to the time and to commands.

Pure: no sleeping, no audio, no printing.  Given the session time (seconds of routine
time since the start) and, now and then, a command, it returns what happens next as
a list of outputs: things to say, speech to cut off, and events to record.  The
runner owns the real clock and the devices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicecoach.core import pain_rules, questions
from voicecoach.core.commands import Command, help_text, is_answer, works_while_paused
from voicecoach.core.pain_rules import PainLimits, Verdict
from voicecoach.core.plan import COUNT, HARDER_LEAD, SENTENCE, TICK, Block, Plan, hold_start, plural, retarget
from voicecoach.core.questions import Decision, Question, Questions
from voicecoach.core.tally import Tally, is_done

REPLY = "reply"
BACK_RESTARTS_AFTER = 3.0  # seconds into a step after which `back` restarts it
TEMPO_STEP = 1.25
TEMPO_LIMITS = (0.5, 2.0)
LOUDER_STEP_DB = 3.0
LOUDER_MAX_DB = 12.0  # four steps: beyond that a small speaker only distorts


@dataclass(frozen=True)
class Say:
    """Say `text`.  `due` is the session time it was scheduled for (None for a reply)."""

    text: str
    due: float | None = None
    kind: str = REPLY


@dataclass(frozen=True)
class Hush:
    """Cut off whatever is being said."""


@dataclass(frozen=True)
class Event:
    """Something worth recording: a set finished, an exercise skipped, the end."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


Output = Say | Hush | Event


@dataclass
class SessionOptions:
    checkins: bool = False
    """Ask for knee pain (0-10) before and after the session."""
    resume_at: tuple[int, int, int] | None = None
    """Offer to continue from this set (exercise, set number, side index)."""
    step_up: dict[int, int] = field(default_factory=dict)
    """Offer higher targets: exercise index -> new target (reps or hold seconds)."""
    notices: list[str] = field(default_factory=list)
    """Said first, before anything else: problems the user should hear about."""
    done_before: frozenset[tuple[int, int, int]] = frozenset()
    """The sets the sessions this one resumes did, counted in the summary with this one's."""
    step_up_rounds: dict[int, int] = field(default_factory=dict)
    """Offer more rounds: exercise index -> new rounds (its target starts again at the bottom)."""
    pain_limits: PainLimits = field(default_factory=PainLimits)
    """The limits of the pain-monitoring model (see `voicecoach.core.pain_rules`)."""
    decision: Verdict | None = None
    """What the last sessions decided for this one (`pain_rules.next_session`): recorded at the
    start, and said when the targets step down."""


class Session:
    """Runs a Plan against a clock it is told about."""

    def __init__(self, plan: Plan, options: SessionOptions | None = None):
        self.plan = plan
        self.options = options or SessionOptions()
        self.idx = 0
        self.block: Block = plan.blocks[0]
        self.t0 = 0.0
        self.scale = 1.0
        self.cue_i = 0
        self.tempo = 1.0
        self.paused_since: float | None = None
        self.questions = Questions()
        self.targets: dict[int, int] = {}
        self.started_at = 0.0
        self._finished = False
        self._outcome: str | None = None
        self.tally = Tally()
        self.last_sentence = ""
        self.last_count: int | None = None
        self.counts_fired = 0
        self.parts_cut = False  # a part of this set was ended early ("done" during a part)
        self.waiting_for_go = False  # "no" to "say go when you're ready": "go" starts the set
        self.ending = False
        self.resume_target: int | None = None
        self.gain_db = 0.0
        # The block clock as last told in a block_started or clock event: (running, deadline).
        self._clock_told: tuple[bool, float | None] | None = None
        # Exercises left out today because knee pain is above the caution level (skip_when_sore).
        self.sore_skips: set[int] = set()

    # -- the clock ------------------------------------------------------------------

    def start(self, now: float) -> list[Output]:
        """Begin the session at session time `now`."""
        self.started_at = now
        self.t0 = now
        out: list[Output] = [Event("session_start", {
            "routine": self.plan.routine.name, "title": self.plan.routine.title,
            "sets_planned": len(self.plan.set_keys()), "exercises": len(self.plan.routine.exercises),
            "done_before": sorted(self._done_before()),
        }), self._block_event()]
        out += [Say(text) for text in self.options.notices]
        # The welcome comes first: the opening questions follow it, then the rest of the introduction.
        if self.block.cues:
            cue = self.block.cues[0]
            self.cue_i = 1
            out += self._fire(cue.text, now, cue.kind, cue.count)
        out += self._announce_decision()
        if self.options.resume_at is not None and self.plan.index_of_set(self.options.resume_at) is not None:
            e, s, side = self.options.resume_at
            ex = self.plan.routine.exercises[e]
            label = self.plan.set_label(ex, s, side)
            where = f"{ex.name}, {label[0].lower()}{label[1:]}" if label else ex.name
            self.questions.queue(questions.resume_offer(where))
        # Pain first: a score above the caution level withdraws the step up before it is offered.
        if self.options.checkins:
            self.questions.queue(questions.checkin("before"))
        if self.options.step_up or self.options.step_up_rounds:
            self.questions.queue(questions.step_up_offer())
        first = self.questions.close()
        if first is not None:
            self.paused_since = now
            out += self._ask(first, now)
        else:
            out += self.tick(now)
        return out + self._clock_changes(now)

    def next_due(self) -> float | None:
        """Session time of the next thing that will happen on its own, or None."""
        if self.finished:
            return None
        if self.question is not None:
            return self.question.timeout_at
        if self.paused_since is not None:
            return None
        if self.cue_i < len(self.block.cues):
            return min(self._due(self.cue_i), self._block_end())
        return self._block_end()

    @property
    def finished(self) -> bool:
        """Whether the session is over (nothing more will happen)."""
        return self._finished

    @property
    def can_pause(self) -> bool:
        """Whether "pause" would stop the clock now: running, no question open, not ending."""
        return not self._finished and not self.ending and self.question is None and self.paused_since is None

    @property
    def waiting_for_resume(self) -> bool:
        """Paused (by "pause", not by a question) until "resume"."""
        return self.paused_since is not None and self.question is None and not self._finished

    @property
    def outcome(self) -> str | None:
        """How it ended (finished, stopped, interrupted), or how it is ending; None before that."""
        return self._outcome

    def interrupt(self, now: float, reason: str) -> list[Output]:
        """End the session at once (Ctrl-C, a signal): nothing more is said or done."""
        if self._finished:
            return []
        self._finished = True
        self._outcome = "interrupted"
        return [Event("session_end", {**self._summary_data(now), "reason": reason})]

    @property
    def question(self) -> Question | None:
        """The open question, if any."""
        return self.questions.open

    @property
    def wants_number(self) -> bool:
        """Whether the open question is answered with a number (a pain check-in)."""
        return self.question is not None and self.question.wants_number

    @property
    def wants_answer(self) -> bool:
        """Whether a question is open that "yes" or "no" answers (any but a pain check-in)."""
        return self.question is not None and not self.question.wants_number

    def next_is_sentence(self) -> bool:
        """Whether the next due thing is a sentence, which may wait for speech to finish."""
        return (self.question is None and self.paused_since is None
                and self.cue_i < len(self.block.cues)
                and self.block.cues[self.cue_i].kind == SENTENCE
                and self._due(self.cue_i) <= self._block_end())

    def defer(self, now: float) -> None:
        """Move the current block later so that its next cue is due at `now`."""
        if self.cue_i < len(self.block.cues):
            lateness = now - self._due(self.cue_i)
            if lateness > 0:
                self.t0 += lateness

    def tick(self, now: float) -> list[Output]:
        """Everything that is due by `now`, in order."""
        out: list[Output] = []
        for _ in range(10_000):  # a bound, not an expectation: each pass fires or ends one thing
            if self.finished:
                break
            if self.question is not None:
                q = self.question
                if q.timeout_at is not None and now >= q.timeout_at:
                    out += self._answer_timeout(q, q.timeout_at)
                    continue
                break
            if self.paused_since is not None:
                break
            end = self._block_end()
            if self.cue_i < len(self.block.cues) and self._due(self.cue_i) <= min(now, end):
                cue = self.block.cues[self.cue_i]
                due = self._due(self.cue_i)
                self.cue_i += 1
                if cue.kind in (COUNT, TICK) and self._next_timed_also_due(now):
                    continue  # a stale count is worse than none: say only the latest
                out += self._fire(cue.text, due, cue.kind, cue.count)
                continue
            if end <= now:
                out += self._end_block(end)
                continue
            break
        return out + self._clock_changes(now)

    # -- commands -------------------------------------------------------------------

    def handle(self, command: Command, now: float) -> list[Output]:
        """React to a command heard at session time `now`."""
        out = self._handle(command, now)
        return out + self._clock_changes(now)

    def _handle(self, command: Command, now: float) -> list[Output]:
        out = self.tick(now)
        out.append(Event("command", {"name": command.name, "value": command.value}))
        if self.finished:
            return out + [Say("The session is over.")]
        if self.question is not None:
            return out + self._answer(command, now)
        name = command.name
        if self.ending:
            if name == "pain":
                return out + self._cmd_pain(now, command)
            # Only the goodbye is left: nothing to move to, pause or skip.
            if name in ("next", "done", "skip", "stop"):
                return out + [Hush()] + self._end_block(now)
            return out + [Say("We're at the end of the session.")]
        if self.paused_since is not None and not works_while_paused(name):
            out += self._unpause(now)
            if name in ("resume", "yes") and not self.waiting_for_go:
                return out + [Say("Carrying on.")]
        if is_answer(name) and not (name in ("yes", "no") and self.block.kind == "ready"):
            if name == "number":
                return out + [Say("I only need a number when I ask how your knee feels.")]
            return out + [Say("I didn't ask a question. Say help to hear what you can say.")]
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return out + [Say("I can't do that now. " + help_text())]
        return out + handler(now, command)

    def input_closed(self, now: float) -> list[Output]:
        """No more commands will come: never wait for one again."""
        out = self.tick(now)
        assumed = self.questions.input_closed()
        if assumed is not None:
            out += self._answer(assumed, now)
        if self.paused_since is not None and self.question is None and not self.finished:
            out += [Say("No more input. Ending the session.")] + self._begin_ending(now, "stopped")
        return out + self._clock_changes(now)

    def _cmd_next(self, now: float, _c: Command) -> list[Output]:
        kind = self.block.kind
        part = self._next_part(now) if kind == "reps" else None
        if part is not None:
            return self._skip_to_part(part, now)
        if kind in ("reps", "hold"):
            return self._finish_set(now, early=True)
        if kind == "finish":
            return [Hush()] + self._end_block(now)
        return [Hush()] + self._goto(self._next_index(), now)

    _cmd_done = _cmd_next

    def _next_part(self, now: float) -> int | None:
        """The part after the one under way, in a set with parts; None in its last part."""
        starts = self.block.part_starts
        current = max(0, sum(1 for at in starts if self.t0 + at * self.scale <= now) - 1)
        return current + 1 if current < len(starts) - 1 else None

    def _skip_to_part(self, part: int, now: float) -> list[Output]:
        """End the part under way early and start part `part` of the same set now."""
        at = self.block.part_starts[part]
        self.t0 = now - at * self.scale
        self.cue_i = next(i for i, c in enumerate(self.block.cues) if c.at >= at)
        self.parts_cut = True
        return [Hush(), Event("part_skipped", {**self._where(), "part": part}), Say("Next part.")] + self.tick(now)

    def _cmd_back(self, now: float, _c: Command) -> list[Output]:
        kind = self.block.kind
        if self.block.is_step and now - self.t0 > BACK_RESTARTS_AFTER:
            return [Hush(), Say("From the top.")] + self._goto(self.idx, now)
        for i in range(self.idx - 1, -1, -1):
            if self.plan.blocks[i].is_step:
                return [Hush(), Say("Going back.")] + self._goto(i, now)
        if kind == "intro":
            return [Hush(), Say("From the top.")] + self._goto(self.idx, now)
        return [Say("This is the start.")]

    def _cmd_repeat(self, now: float, _c: Command) -> list[Output]:
        kind = self.block.kind
        brief_intro = self.plan.settings.brief and kind == "exercise"
        if (kind == "ready" or brief_intro) and self.block.exercise is not None:
            # The steps again (all of them, in a brief session too), then the countdown from the
            # start: not the whole introduction.
            out: list[Output] = [Hush(), *self._unpause(now)] if self.paused_since is not None else [Hush()]
            return out + self._read_all_steps(self.block.exercise, now)
        if kind in ("reps", "hold", "rest", "switch"):
            first = self.block.cues[0].text if self.block.cues else ""
            return [Say(first + " " + self._progress_text(now))] if kind in ("reps", "hold") else [Say(first)]
        return [Say(self.last_sentence or "Nothing to repeat yet.")]

    def _read_all_steps(self, e: int, now: float) -> list[Output]:
        """Read every step of exercise `e` in place of its introduction, then the countdown again."""
        out = self._enter(self.plan.first_block_of_exercise(e), now)
        self.block = self.plan.steps_block(e)
        return out + self.tick(now)

    def _cmd_more(self, now: float, _c: Command) -> list[Output]:
        if self.block.kind not in ("reps", "hold") or self.block.exercise is None:
            return [Say("Say more during a set to go to the top of its range.")]
        ex = self.plan.routine.exercises[self.block.exercise]
        rng = ex.reps if self.block.kind == "reps" else ex.hold_seconds
        assert rng is not None and self.block.target is not None
        if ex.max_effort:
            return [Say(f"Keep going as long as you can. Your goal is {self.block.target} seconds.")]
        if self._matched_target(self.block) is not None:
            return [Say(f"This side matches the first side: {self.block.target}.")]
        if rng.max == rng.min:
            return [Say(f"This set is a fixed {rng.min}.")]
        if self.block.target >= rng.max:
            return [Say(f"We're already going to {rng.max}, the top of the range.")]
        self.block = retarget(self.plan, self.block, rng.max)
        self.cue_i = next((i for i in range(len(self.block.cues)) if self._due(i) > now),
                          len(self.block.cues))
        return [Event("target_changed", {"target": rng.max, "deadline": self._deadline()}),
                Say(f"Keep going, up to {rng.max}.")]

    def _cmd_pause(self, now: float, _c: Command) -> list[Output]:
        if self.paused_since is not None:
            return [Say("Already paused. Say resume to carry on.")]
        self.paused_since = now
        return [Hush(), Event("paused"), Say("Paused. Say resume when you're ready.")]

    def _cmd_resume(self, now: float, _c: Command) -> list[Output]:
        if self.block.kind in ("ready", "exercise"):
            # "Go" while the steps are read: on to the get-into-position countdown.
            return [Hush()] + self._goto(self._next_index(), now)
        return [Say("We're already going. Say pause to stop the clock.")]

    def _cmd_skip(self, now: float, _c: Command) -> list[Output]:
        e = self.block.exercise
        if self.block.kind == "intro":
            return [Hush(), Say("Skipping the introduction.")] + self._goto(self.idx + 1, now)
        if e is None:
            return [Say("There is nothing left to skip.")]
        return [Hush()] + self._skip_exercise(e, now)

    def _cmd_stop(self, now: float, _c: Command) -> list[Output]:
        if self.paused_since is None:
            self.paused_since = now
        return [Hush()] + self._ask(questions.stop_question(), now)

    def _cmd_slower(self, now: float, c: Command) -> list[Output]:
        factor = TEMPO_STEP if c.name == "slower" else 1 / TEMPO_STEP
        new = min(TEMPO_LIMITS[1], max(TEMPO_LIMITS[0], self.tempo * factor))
        if abs(new - self.tempo) < 1e-9:
            return [Say(f"That's as {'slow' if c.name == 'slower' else 'fast'} as I count.")]
        self.tempo = new
        if self.block.kind == "reps":
            self._rescale(now, new)
            return [Say("Slower." if c.name == "slower" else "Faster.")]
        word = "slower" if c.name == "slower" else "faster"
        if self.block.kind == "hold":
            return [Say(f"A hold has no count. I'll count {word} from the next set of reps.")]
        return [Say(f"I'll count {word} in the next set of reps.")]

    _cmd_faster = _cmd_slower

    def _cmd_status(self, now: float, _c: Command) -> list[Output]:
        return [Say(self.status_text(now))]

    def _cmd_help(self, now: float, _c: Command) -> list[Output]:
        return [Say(help_text())]

    def _cmd_yes(self, now: float, _c: Command) -> list[Output]:
        # Only reached in the get-ready countdown ("yes" to "say go when you're ready").
        return [Hush()] + self._goto(self._next_index(), now)

    def _cmd_no(self, now: float, _c: Command) -> list[Output]:
        # Only reached in the get-ready countdown: not ready yet, so the countdown waits for "go".
        self.paused_since = now
        self.waiting_for_go = True
        return [Hush(), Event("paused"), Say("Take your time. Say go when you're ready.")]

    def _cmd_louder(self, now: float, _c: Command) -> list[Output]:
        if self.gain_db + LOUDER_STEP_DB > LOUDER_MAX_DB:
            return [Say("That's as loud as I go.")]
        self.gain_db += LOUDER_STEP_DB
        return [Event("volume", {"gain_db": self.gain_db}), Say("Louder.")]

    def _cmd_harder(self, now: float, _c: Command) -> list[Output]:
        e = self.block.exercise
        if e is None:
            return [Say("Say harder during an exercise to hear how to make it harder.")]
        ex = self.plan.routine.exercises[e]
        if not ex.harder:
            return [Say(f"I don't have a harder version of {ex.name}.")]
        return [Say(" ".join((HARDER_LEAD, *ex.harder)))]

    def _cmd_pain(self, now: float, _c: Command) -> list[Output]:
        if self.paused_since is None:
            self.paused_since = now
        out: list[Output] = [Hush(), Event("pain_reported", self._where())]
        # The words fit the moment: "stop this exercise" only while one runs, and the routine's
        # safety lines only around an exercise, not in the welcome or the goodbye.
        safety = " ".join(self.plan.routine.safety)
        if self.ending or self.block.exercise is None:
            out.append(Say("I've stopped the clock."))
        elif self.block.set_key is not None:
            out.append(Say("Stop this exercise now. " + safety))
        else:
            out.append(Say("I've stopped the clock. " + safety))
        return out + self._ask(questions.pain_score_question(), now)

    # -- the pain-monitoring model (voicecoach.core.pain_rules) ---------------------------

    def _announce_decision(self) -> list[Output]:
        """The last sessions' decision: recorded, and said when the targets step down."""
        v = self.options.decision
        if v is None:
            return []
        out: list[Output] = [Event("decision", {"kind": v.action, "reason": v.reason})]
        if v.action == pain_rules.STEP_DOWN:
            out.append(Say(v.reason))
        return out

    def _scored(self, q: Question, said: list[Output], score: int | None, now: float,
                timed_out: bool) -> list[Output]:
        """A pain score (or none) given to a check-in or after "pain": record it, then act on it."""
        note = "unanswered" if timed_out else ("skipped" if score is None else "")
        if q.kind == "pain_score":
            return self._pain_scored(said, score, note, now)
        data: dict[str, Any] = {"when": "before" if q.kind == "checkin_before" else "after", "score": score}
        if note:
            data["note"] = note
        out: list[Output] = [self._tallied("pain_score", data), *said]
        if q.kind == "checkin_before":
            out += self._before_verdict(score)
        return self._close_question(now, out)

    def _before_verdict(self, score: int | None) -> list[Output]:
        v = pain_rules.before_session(score, self.options.pain_limits)
        if v.action == pain_rules.STOP_TODAY:
            self.questions.waiting.insert(0, questions.stop_today_question())
            return [Event("decision", {"kind": v.action, "reason": v.reason}),
                    Say("I'm sorry it hurts. With pain that strong it is better not to train today. Rest, and "
                        "if the pain stays, see a physiotherapist or doctor.")]
        if v.action == pain_rules.REDUCED:
            return self._go_easy(v, f"Your knee pain is above {self.options.pain_limits.caution} today, so we'll go "
                                    "easy:")
        return []

    def _go_easy(self, v: Verdict, opening: str) -> list[Output]:
        """A day with pain above the caution level: the bottom of every range, no step up, and the
        exercises marked skip_when_sore left out."""
        from voicecoach.core.progression import reduced_targets

        routine = self.plan.routine
        self.targets.update(reduced_targets(routine))
        self.options.step_up, self.options.step_up_rounds = {}, {}
        self.questions.waiting = [w for w in self.questions.waiting if w.kind != "step_up"]
        self.sore_skips = {e for e, ex in enumerate(routine.exercises) if ex.skip_when_sore}
        text = f"{opening} the lowest number of reps and the shortest holds."
        left_out = [routine.exercises[e].name for e in sorted(self.sore_skips)]
        if left_out:
            text += " And we'll leave out " + " and ".join(left_out) + " today."
        return [Event("decision", {"kind": v.action, "reason": v.reason}), Say(text)]

    def _pain_scored(self, said: list[Output], score: int | None, note: str, now: float) -> list[Output]:
        """The score after "pain": at or above the caution level the exercise is skipped; below it
        the user chooses (skip, carry on, stop)."""
        limits = self.options.pain_limits
        where = {} if self.ending else self._where()
        data: dict[str, Any] = {"when": "during", "score": score, **where}
        if note:
            data["note"] = note
        out: list[Output] = [self._tallied("pain_score", data), *said]
        v = pain_rules.during_session(score, limits)
        self.questions.open = None
        if self.ending:
            if v.action == pain_rules.SKIP:
                out.append(Say("Rest now, and if the pain stays, see a physiotherapist or doctor."))
            return self._close_question(now, out)
        e = self.block.exercise
        if v.action == pain_rules.SKIP and e is not None:
            name = self.plan.routine.exercises[e].name
            why = ("No answer, so" if note == "unanswered" else "All right," if score is None
                   else f"That's at or above your limit of {limits.caution}, so")
            out += [Event("decision", {"kind": pain_rules.SKIP_FOR_PAIN, "reason": f"{v.reason} Skipped {name}."}),
                    Say(f"{why} we'll skip {name} to spare your knee.")]
            self._unpause_quietly(now)
            return out + self._skip_exercise(e, now)
        if v.action == pain_rules.SKIP and score is not None:
            out.append(Say(f"That's at or above your limit of {limits.caution}. If it doesn't settle, it is "
                           "better to stop for today."))
        return out + self._ask(questions.pain_question(e is not None), now)

    # -- questions ------------------------------------------------------------------

    def _ask(self, q: Question, now: float) -> list[Output]:
        q = self.questions.ask(q, now)
        self.last_sentence = q.prompt
        return [Event("question", {"kind": q.kind}), Say(q.prompt)]

    def _answer(self, c: Command, now: float) -> list[Output]:
        q = self.questions.open
        assert q is not None
        decision = self.questions.decide(c, in_exercise=self.block.exercise is not None)
        if decision.outcome == questions.AGAIN:
            return [Say(decision.reply or q.prompt)]
        answered = {"kind": q.kind, "answer": c.name, "value": c.value, "timed_out": False}
        return [Event("question_answered", answered), *self._carry_out(q, decision, c.value, now)]

    def _answer_timeout(self, q: Question, now: float) -> list[Output]:
        answered = Event("question_answered", {"kind": q.kind, "answer": None, "value": None, "timed_out": True})
        return [answered, *self._carry_out(q, self.questions.silence(), None, now, timed_out=True)]

    def _carry_out(self, q: Question, decision: Decision, value: int | None, now: float,
                   timed_out: bool = False) -> list[Output]:
        """Do what an answer (or silence) to `q` decided."""
        outcome = decision.outcome
        said: list[Output] = [Say(decision.reply)] if decision.reply else []
        if outcome == questions.PAIN:
            # Pain is always heard: the open question waits its turn again.
            self.questions.set_aside(now)
            return self._cmd_pain(now, Command("pain"))
        if outcome == questions.END and q.kind == "stop_today":
            # Not training today: the kind words are the goodbye (no check-in, no "0 of 6 sets").
            self.questions.open = None
            self.questions.waiting.clear()
            self._outcome = "stopped"
            self._finished = True
            return [*said, Event("session_end", self._summary_data(now))]
        if outcome == questions.END:
            self.questions.open = None
            return said + self._begin_ending(now, "stopped")
        if outcome == questions.SKIP_EXERCISE:
            self.questions.open = None
            self._unpause_quietly(now)
            assert self.block.exercise is not None
            return self._skip_exercise(self.block.exercise, now)
        if outcome in (questions.SCORE, questions.NO_SCORE):
            return self._scored(q, said, value if outcome == questions.SCORE else None, now, timed_out)
        if outcome == questions.START_ANYWAY:
            v = Verdict(pain_rules.START_ANYWAY, "Trained anyway after a pain score at or above the stop level, at the "
                                        "easiest targets.")
            return self._close_question(now, self._go_easy(v, "All right. We'll go easy:"))
        if outcome == questions.START_OVER:
            return self._close_question(now, [Event("resume_declined"), *said])
        if outcome == questions.STEP_UP:
            return self._close_question(now, [*self._step_up(), *said])
        return self._close_question(now, said, resume=outcome == questions.RESUME)

    def _step_up(self) -> list[Output]:
        """Take the offered step: higher targets, and more rounds where a target is at its top."""
        targets = dict(self.options.step_up)
        rounds = dict(self.options.step_up_rounds)
        for e in rounds:
            ex = self.plan.routine.exercises[e]
            targets[e] = (ex.reps or ex.hold_seconds).min  # type: ignore[union-attr]
        self.targets.update(targets)
        out: list[Output] = [Event("step_up", {"targets": targets, "rounds": rounds})]
        if rounds:
            self._swap_plan(self.plan.with_rounds(rounds))
            out.append(Event("plan_changed", {"sets_planned": len(self.plan.set_keys())}))
        return out

    def _swap_plan(self, plan: Plan) -> None:
        """Go on with `plan` (the same routine with other rounds) from the same place."""
        def where(b: Block) -> tuple[str, int | None, int | None, int | None]:
            return (b.kind, b.exercise, b.set_no, b.side_index)

        here = where(self.plan.blocks[self.idx])
        resumed = self.plan.blocks[self.resume_target].set_key if self.resume_target is not None else None
        self.plan = plan
        self.idx = next((i for i, b in enumerate(plan.blocks) if where(b) == here), self.idx)
        if resumed is not None:
            self.resume_target = plan.index_of_set(resumed)
        if self.block.kind == "intro":
            self.block = plan.blocks[0]  # its length in minutes is said later in it

    def _close_question(self, now: float, out: list[Output], resume: bool = False) -> list[Output]:
        q = self.questions.open
        nxt = self.questions.close()
        if nxt is not None:
            if resume:
                out += self._jump_to_resume(now)
                self.paused_since = now
            return out + self._ask(nxt, now)
        if q is not None and q.kind == "checkin_after":
            self.paused_since = None
            return out + self._start_finish(now)
        self._unpause_quietly(now)
        if resume:
            out += self._jump_to_resume(now)
        elif self.block.kind == "intro" and self.cue_i < len(self.block.cues):
            # The opening questions came after the welcome: the introduction goes on at once.
            self.t0 = min(self.t0, now - self.block.cues[self.cue_i].at * self.scale)
        return out + self.tick(now)

    def _jump_to_resume(self, now: float) -> list[Output]:
        key = self.options.resume_at
        idx = self.plan.index_of_set(key) if key else None
        if key is None or idx is None:
            return []
        event = Event("resumed_from", {"exercise_index": key[0], "set": key[1], "side_index": key[2]})
        # Land on the first unfinished set, after the get-into-position countdown.
        ready = self.plan.first_block_of_exercise(key[0]) + 1
        if self.plan.blocks[ready].kind != "ready":
            return [event, *self._goto(idx, now)]
        out = self._enter(ready, now)
        self.resume_target = idx
        return [event, *out, *self.tick(now)]

    def _next_index(self) -> int:
        """The block after this one: the resumed set when leaving its get-ready countdown."""
        target = self.resume_target
        if target is not None and self.block.kind == "ready" and \
                self.plan.blocks[target].exercise == self.block.exercise:
            return target
        return self.idx + 1

    # -- moving around ----------------------------------------------------------------

    def _goto(self, idx: int, now: float) -> list[Output]:
        """Start block `idx` at `now`."""
        if idx >= len(self.plan.blocks) - 1:
            return self._begin_ending(now, "finished")
        return self._enter(idx, now) + self.tick(now)

    def _enter(self, idx: int, t: float) -> list[Output]:
        block = self.plan.blocks[idx]
        if block.kind == "exercise" and block.exercise in self.sore_skips:
            self.sore_skips.discard(block.exercise)
            return self._skip_exercise(block.exercise, t)
        if block.set_key is not None and block.exercise in self.targets:
            ex = self.plan.routine.exercises[block.exercise]
            rng = ex.reps or ex.hold_seconds
            assert rng is not None
            block = retarget(self.plan, block, min(rng.max, self.targets[block.exercise]))
        matched = self._matched_target(block)
        if matched is not None:
            block = retarget(self.plan, block, matched, matched=True)
        if block.set_key is not None or block.exercise != self.block.exercise:
            self.resume_target = None
        self.idx = idx
        self.block = block
        self.t0 = t
        self.cue_i = 0
        self.counts_fired = 0
        self.last_count = None
        self.parts_cut = False
        self.waiting_for_go = False
        self.scale = self.tempo if block.kind == "reps" else 1.0
        return [self._block_event()]

    def _matched_target(self, block: Block) -> int | None:
        """A later side's target when the sides must match: what the first side did, if anything."""
        key = block.set_key
        if key is None or key[2] == 0 or not self.plan.routine.exercises[key[0]].sides_match:
            return None
        first = self.tally.sets.get((key[0], key[1], 0))
        if first is None or not is_done(first):
            return None
        return max(1, int(first["done"]))

    def _end_block(self, end: float) -> list[Output]:
        out: list[Output] = []
        if self.block.set_key is not None:
            out += self._record_set(end, early=self.parts_cut)
        if self.block.kind == "finish":
            self._finished = True
            return out + [Event("session_end", self._summary_data(end))]
        nxt = self._next_index()
        if nxt >= len(self.plan.blocks) - 1:
            return out + self._begin_ending(end, "finished")
        return out + self._enter(nxt, end)

    def _finish_set(self, now: float, early: bool) -> list[Output]:
        out: list[Output] = [Hush()]
        recorded = self._record_set(now, early=early)
        out += recorded
        record = next(e.data for e in recorded if isinstance(e, Event))
        out.append(Say(self._set_done_text(record)))
        nxt = self.idx + 1
        if nxt >= len(self.plan.blocks) - 1:
            return out + self._begin_ending(now, "finished")
        return out + self._enter(nxt, now) + self.tick(now)

    def _set_done_text(self, record: dict[str, Any]) -> str:
        """What is said when a set is ended with "done"."""
        if not is_done(record):
            return "Moving on. That set doesn't count as done."
        ex = self.plan.routine.exercises[record["exercise_index"]]
        if ex.max_effort:
            held, goal = int(record["done"]), int(record["target"])
            if held >= goal:
                return f"Good. You held {goal} seconds, your goal."
            return f"Good. You held {plural(held, 'second')}. Your goal is {goal}."
        return "Good. That set is done."

    def _record_set(self, t: float, early: bool) -> list[Output]:
        block = self.block
        assert block.exercise is not None and block.target is not None
        ex = self.plan.routine.exercises[block.exercise]
        if block.kind == "hold":
            start = self.t0 + hold_start(block) * self.scale
            done = float(min(block.target, max(0.0, t - start)))
        else:
            parts = max(1, len(ex.parts))
            done = float(self.counts_fired) / parts if early else float(block.target)
        record = {
            **self._where(),
            "kind": block.kind,
            "done": round(done, 1),
            "target": block.target,
            "ended_early": early,
        }
        return [self._tallied("set_finished", record)]

    def _skip_exercise(self, e: int, now: float) -> list[Output]:
        ex = self.plan.routine.exercises[e]
        out: list[Output] = [self._tallied("exercise_skipped", {"exercise_index": e, "exercise": ex.name}),
                             Say(f"Skipping {ex.name}.")]
        nxt = next((i for i, b in enumerate(self.plan.blocks) if b.exercise is not None and b.exercise > e),
                   len(self.plan.blocks) - 1)
        return out + self._goto(nxt, now)

    def _begin_ending(self, now: float, outcome: str) -> list[Output]:
        if self.ending:
            return self._start_finish(now)
        self.ending = True
        self._outcome = outcome
        self.paused_since = None
        if self.options.checkins:
            self.paused_since = now
            return self._ask(questions.checkin("after"), now)
        return self._start_finish(now)

    def _start_finish(self, now: float) -> list[Output]:
        self.paused_since = None  # the goodbye is never paused (pain may have paused the ending)
        idx = len(self.plan.blocks) - 1
        self.idx = idx
        base = self.plan.blocks[idx]
        lines = [c.text for c in base.cues] if self.outcome == "finished" else ["Stopping here."]
        lines += self.summary_lines(now)
        cues = []
        t = 0.0
        for text in lines:
            cues.append(type(base.cues[0])(round(t, 3), text))
            t += len(text.split()) / self.plan.settings.words_per_second + 0.2 + self.plan.settings.sentence_gap
        self.block = Block("finish", tuple(cues), round(t, 3))
        self.t0 = now
        self.cue_i = 0
        self.scale = 1.0
        return [self._block_event(), *self.tick(now)]

    # -- helpers ----------------------------------------------------------------------

    def _fire(self, text: str, due: float, kind: str, count: int | None) -> list[Output]:
        out: list[Output] = []
        if kind == SENTENCE:
            self.last_sentence = text
        if kind == COUNT:
            self.counts_fired += 1
            self.last_count = count
            out.append(Event("count", {"count": count, "target": self.block.target}))
        elif kind == TICK and self.block.kind == "hold" and count is not None:
            target = self.block.target or 0
            out.append(Event("hold_tick", {"held": count, "left": target - count}))
        return out + [Say(text, due, kind)]

    # -- the story told to the view, the history and the log ----------------------------

    def _tallied(self, kind: str, data: dict[str, Any]) -> Event:
        """An event that counts towards what was done, taken into the tally as it is made."""
        self.tally.apply(kind, data)
        return Event(kind, data)

    def _running(self) -> bool:
        return self.paused_since is None and self.question is None and not self.finished

    def _countdown_from(self) -> float | None:
        """Session time the block's countdown starts (a hold: after "Hold."), or None."""
        kind = self.block.kind
        if kind == "hold":
            return round(self.t0 + hold_start(self.block) * self.scale, 4)
        if kind in ("ready", "rest", "switch"):
            return round(self.t0, 4)
        return None

    def _deadline(self) -> float | None:
        """Session time the block's countdown reaches zero, or None when it has none."""
        start = self._countdown_from()
        if start is None:
            return None
        if self.block.kind == "hold":
            return round(start + (self.block.target or 0) * self.scale, 4)
        return round(self._block_end(), 4)

    def _block_event(self) -> Event:
        """`set_started` for a set, `block_started` for any other block: where we are now."""
        block = self.block
        data: dict[str, Any] = {**self._where(), "kind": block.kind,
                                "exercises": len(self.plan.routine.exercises),
                                "countdown_from": self._countdown_from(), "deadline": self._deadline()}
        running = self._running()
        self._clock_told = (running, data["deadline"])
        data["running"] = running
        if block.set_key is not None:
            ex = self.plan.routine.exercises[block.exercise]  # type: ignore[index]
            top = (ex.reps or ex.hold_seconds).max  # type: ignore[union-attr]
            return Event("set_started", {**data, "target": block.target, "top": top, "max_effort": ex.max_effort})
        if block.kind in ("rest", "switch") and block.exercise is not None:
            ex = self.plan.routine.exercises[block.exercise]
            side = block.side_index or 0
            data["next"] = (ex.sides[side] if block.kind == "switch" and ex.sides
                            else self.plan.set_label(ex, block.set_no or 1, side))
        return Event("block_started", data)

    def _clock_changes(self, now: float) -> list[Output]:
        """A `clock` event when the block's clock stopped, started or moved since last told."""
        if self.finished:
            return []
        state = (self._running(), self._deadline())
        if state == self._clock_told:
            return []
        self._clock_told = state
        return [Event("clock", {"running": state[0], "deadline": state[1], "countdown_from": self._countdown_from(),
                                "at": round(now, 4)})]

    def _next_timed_also_due(self, now: float) -> bool:
        i = self.cue_i
        return (i < len(self.block.cues) and self.block.cues[i].kind in (COUNT, TICK)
                and self._due(i) <= min(now, self._block_end()))

    def _due(self, i: int) -> float:
        return self.t0 + self.block.cues[i].at * self.scale

    def _block_end(self) -> float:
        return self.t0 + self.block.duration * self.scale

    def _rescale(self, now: float, scale: float) -> None:
        offset = (now - self.t0) / self.scale
        self.scale = scale
        self.t0 = now - offset * scale

    def _unpause(self, now: float) -> list[Output]:
        paused = self._unpause_quietly(now)
        return [Event("resumed", {"paused_seconds": round(paused, 3)})]

    def _unpause_quietly(self, now: float) -> float:
        if self.paused_since is None:
            return 0.0
        paused = now - self.paused_since
        self.t0 += paused
        self.paused_since = None
        return paused

    def _where(self) -> dict[str, Any]:
        block = self.block
        if block.exercise is None:
            return {}
        ex = self.plan.routine.exercises[block.exercise]
        data: dict[str, Any] = {"exercise_index": block.exercise, "exercise": ex.name}
        if block.set_key is not None:
            side_i = block.side_index or 0
            data.update({
                "set": block.set_no, "sets": self.plan.rounds(block.exercise),
                "side": ex.sides[side_i] if ex.sides else None, "side_index": side_i,
                "label": self.plan.set_label(ex, block.set_no or 1, side_i),
            })
        return data

    def _progress_text(self, now: float) -> str:
        block = self.block
        if block.kind == "hold":
            start = self.t0 + hold_start(block) * self.scale
            held = min(block.target or 0, max(0, int(now - start)))
            if block.exercise is not None and self.plan.routine.exercises[block.exercise].max_effort:
                return f"{plural(held, 'second')} held. Your goal is {block.target}."
            left = max(0, round(block.target - max(0.0, now - start))) if block.target else 0
            return f"{plural(left, 'second')} to go."
        done = self.last_count or 0
        return f"You've done {done} of {block.target}."

    def status_text(self, now: float) -> str:
        routine = self.plan.routine
        block = self.block
        if block.exercise is None:
            return "We're at the start of the routine." if block.kind == "intro" else "We're at the end."
        ex = routine.exercises[block.exercise]
        text = f"Exercise {block.exercise + 1} of {len(routine.exercises)}, {ex.name}."
        if block.set_key is not None:
            label = self.plan.set_label(ex, block.set_no or 1, block.side_index or 0)
            if label:
                text += f" {label[0].upper()}{label[1:]}."
            text += " " + self._progress_text(now)
        elif block.kind == "switch":
            text += " Switching sides."
            if ex.sides:
                text += f" Next: {ex.sides[block.side_index or 0]}."
        elif block.kind == "rest":
            text += " Resting."
        left = len(routine.exercises) - block.exercise - 1
        text += f" {plural(left, 'exercise')} left after this one." if left else " This is the last exercise."
        if self.paused_since is not None:
            text += " We're paused."
        return text

    def _summary_data(self, now: float) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "sets_done": self.tally.sets_done,
            "sets_planned": len(self.plan.set_keys()),
            "sets_done_before": len(self._done_before()),
            "skipped": list(self.tally.skipped),
            "seconds": round(now - self.started_at, 3),
            "pain": dict(self.tally.pain),
        }

    def _done_before(self) -> set[tuple[int, int, int]]:
        """The sets of this plan that the resumed sessions did and this one did not do again."""
        keys = set(self.plan.set_keys())
        return self.tally.done_before({k for k in self.options.done_before if k in keys})

    def _max_effort_lines(self) -> list[str]:
        """For each hold for as long as you can: the longest hold today, against its goal."""
        best: dict[int, tuple[float, int]] = {}
        for (e, _s, _side), record in self.tally.sets.items():
            if self.plan.routine.exercises[e].max_effort and is_done(record):
                held = float(record["done"])
                if e not in best or held > best[e][0]:
                    best[e] = (held, int(record["target"]))
        lines = []
        for e, (held, goal) in sorted(best.items()):
            name = self.plan.routine.exercises[e].name
            if held >= goal:
                lines.append(f"{name}: you held your goal of {goal} seconds.")
            else:
                lines.append(f"{name}: your longest hold was {plural(int(held), 'second')}, "
                             f"working up to {goal}.")
        return lines

    def summary_lines(self, now: float) -> list[str]:
        planned = len(self.plan.set_keys())
        before = self._done_before()
        done = self.tally.done_in_all(before)
        minutes = max(0, round((now - self.started_at) / 60))
        duration = "under a minute" if minutes == 0 else plural(minutes, "minute")
        if before:
            lines = [f"You finished {done} of {plural(planned, 'set')}, {len(before)} of them last time. "
                     f"Today took {duration}."]
        else:
            lines = [f"You finished {done} of {plural(planned, 'set')} in {duration}."]
        lines += self._max_effort_lines()
        if self.tally.skipped:
            lines.append("You skipped " + ", ".join(self.tally.skipped) + ".")
        before, after = self.tally.pain.get("before"), self.tally.pain.get("after")
        if before is not None and after is not None:
            if after - before >= 3:
                lines.append(f"Your knee pain went up from {before} to {after}. "
                             "Please rest, and see a physiotherapist or doctor if it stays.")
            else:
                lines.append(f"Knee pain: {before} before, {after} after.")
        return lines


__all__ = ["Event", "Hush", "Output", "Say", "Session", "SessionOptions", "TICK"]
