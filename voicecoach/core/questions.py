"""The questions the coach asks, and what each answer decides.

Pure: a small state machine with one open question and a queue of questions waiting
to be asked.  It does not act: `decide` turns a command into a `Decision` (an
outcome and the words to say), and the session carries the outcome out.  So the
rules of every question (which words answer it, what silence means, what help
says) are in one table here, not spread through the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from voicecoach.core.commands import Command

# What an answer decides.  The session carries these out.
AGAIN = "again"  # not an answer: say `reply` and keep waiting
END = "end"  # end the session
CARRY_ON = "carry_on"  # close the question and carry on where we were
SKIP_EXERCISE = "skip_exercise"
SCORE = "score"  # a pain score (the command's value)
NO_SCORE = "no_score"  # the pain check-in skipped
RESUME = "resume"  # continue where the last session stopped
START_OVER = "start_over"
STEP_UP = "step_up"
KEEP_TARGETS = "keep_targets"
PAIN = "pain"  # pain reported while another question is open: that one waits
START_ANYWAY = "start_anyway"  # train although the pain before the session says not to

CHECKIN_TIMEOUT = 20.0
OFFER_TIMEOUT = 20.0


@dataclass(frozen=True)
class Question:
    """One question: its kind, its words, and how long it waits for an answer."""

    kind: str  # stop, pain_score, pain, checkin_before, checkin_after, resume, step_up, stop_today
    prompt: str
    timeout: float | None = None
    """Seconds to wait for an answer before silence decides; None: wait as long as it takes."""
    timeout_at: float | None = None
    """Session time silence decides, once asked."""

    @property
    def wants_number(self) -> bool:
        """Answered with a number from 0 to 10 (a pain check-in), not yes or no."""
        return self.kind in ("checkin_before", "checkin_after", "pain_score")

    @property
    def help(self) -> str:
        return _HELP[self.kind]


@dataclass(frozen=True)
class Decision:
    outcome: str
    reply: str | None = None


def stop_question() -> Question:
    return Question("stop", "Stopped. Do you want to end the session? Say yes to end, or no to carry on.")


def pain_score_question() -> Question:
    """How bad the pain is, asked at once after "pain"; silence skips (the exercise, if any)."""
    return Question("pain_score", "How bad is the pain, from 0 to 10? Say a number.", CHECKIN_TIMEOUT)


def pain_question(in_exercise: bool) -> Question:
    """What to do next, once the pain score is known and below the caution level."""
    if in_exercise:
        return Question("pain", "Say skip to move on to the next exercise, resume to carry on, "
                        "or stop to end the session.")
    return Question("pain", "Say resume to carry on, or stop to end the session.")


def stop_today_question() -> Question:
    """After a before-score at or above the stop level: silence ends the session."""
    return Question("stop_today", "Say stop to end here, or start anyway to train at easier targets.",
                    OFFER_TIMEOUT)


def checkin(when: str) -> Question:
    if when == "before":
        return Question("checkin_before", "Before we start: how is your knee, from 0 to 10, "
                        "where 0 is no pain? Say a number, or say skip.", CHECKIN_TIMEOUT)
    return Question("checkin_after", "How is your knee now, from 0 to 10? Say a number, or say skip.",
                    CHECKIN_TIMEOUT)


def resume_offer(where: str) -> Question:
    return Question("resume", f"Last time you stopped at {where}. Say yes to continue where you "
                    "stopped, or no to start from the beginning.", OFFER_TIMEOUT)


def step_up_offer() -> Question:
    return Question("step_up", "You finished every set at your targets in your last sessions. "
                    "Shall we step up a little today? Say yes or no.", OFFER_TIMEOUT)


# kind -> ((command names, outcome, reply), ...) tried in order; anything else is asked again.
_RULES: dict[str, tuple[tuple[tuple[str, ...], str, str | None], ...]] = {
    "stop": ((("yes", "stop", "done"), END, "Ending the session."),
             (("no", "resume", "next"), CARRY_ON, "Carrying on.")),
    # "yes" and "no" answer nothing here: "no" once carried on past the pain unexamined.
    "pain": ((("skip", "next"), SKIP_EXERCISE, None),
             (("stop", "done"), END, "Ending the session. Look after that knee."),
             (("resume",), CARRY_ON, "Carrying on. Say pain again if it hurts.")),
    "pain_score": ((("skip", "next"), NO_SCORE, None),
                   (("stop", "done"), END, "Ending the session. Look after that knee.")),
    "checkin_before": ((("skip", "no", "next", "done"), NO_SCORE, None),),
    "checkin_after": ((("skip", "no", "next", "done"), NO_SCORE, None),),
    "resume": ((("yes", "resume", "next"), RESUME, "Picking up where you stopped."),
               (("no", "skip"), START_OVER, "Starting from the beginning.")),
    "step_up": ((("yes", "more"), STEP_UP, "Great. A little more today."),
                (("no", "skip"), KEEP_TARGETS, "Same targets as last time.")),
    "stop_today": ((("start_anyway",), START_ANYWAY, None),
                   (("stop", "done", "no", "skip"), END, "Rest today, and take care.")),
}
_ASK_AGAIN = {
    "stop": "Please say yes to end, or no to carry on.",
    "checkin_before": "Say a number from 0 to 10, or say skip.",
    "checkin_after": "Say a number from 0 to 10, or say skip.",
    "pain_score": "How bad is it? Say a number from 0 to 10.",
    "stop_today": "Say stop to end here, or start anyway.",
    "resume": "Say yes to continue, or no to start over.",
    "step_up": "Say yes to step up, or no to keep your targets.",
}
_SILENCE = {"resume": Decision(RESUME, "I'll take that as a yes."),
            "checkin_before": Decision(NO_SCORE), "checkin_after": Decision(NO_SCORE),
            "pain_score": Decision(NO_SCORE), "stop_today": Decision(END, "Rest today, and take care.")}
_HELP = {
    "stop": "Say yes to end the session, or no to carry on.",
    "pain": "Say skip to move on, stop to end the session, or resume to carry on.",
    "pain_score": "Say a number from 0 for no pain to 10 for the worst pain, or say stop to end the session.",
    "stop_today": "Your knee hurts too much to train today. Say stop to end here, or start anyway to "
                  "train at easier targets.",
    "checkin_before": "Say a number from 0 for no pain to 10 for the worst pain, or say skip.",
    "checkin_after": "Say a number from 0 for no pain to 10 for the worst pain, or say skip.",
    "resume": "Say yes to continue where you stopped, or no to start over.",
    "step_up": "Say yes for slightly higher targets today, or no to keep them.",
}


@dataclass
class Questions:
    """The open question, if any, and the ones waiting their turn."""

    open: Question | None = None
    waiting: list[Question] = field(default_factory=list)

    def queue(self, question: Question) -> None:
        self.waiting.append(question)

    def ask(self, question: Question, now: float) -> Question:
        """Open `question` at session time `now` (its timeout starts now)."""
        if question.timeout is not None:
            question = replace(question, timeout_at=now + question.timeout)
        self.open = question
        return question

    def close(self) -> Question | None:
        """Close the open question; the next waiting one, if any, is returned (not yet asked)."""
        self.open = None
        return self.waiting.pop(0) if self.waiting else None

    def set_aside(self, now: float) -> None:
        """Close the open question to ask it again later (pain came first), with the time it had left."""
        q, self.open = self.open, None
        if q is None or q.kind == "stop":
            return  # "end the session?" is offered by the pain question anyway
        left = None if q.timeout_at is None else max(q.timeout_at - now, 1.0)
        self.waiting.insert(0, replace(q, timeout=left, timeout_at=None))

    def decide(self, command: Command, in_exercise: bool) -> Decision:
        """What `command` decides for the open question."""
        q = self.open
        assert q is not None
        name = command.name
        if name == "repeat":
            return Decision(AGAIN, q.prompt)
        if name == "help":
            return Decision(AGAIN, q.help)
        if name == "pain" and q.kind not in ("pain", "pain_score"):
            return Decision(PAIN)
        if q.wants_number and name == "number":
            if command.value is None or not 0 <= command.value <= 10:
                return Decision(AGAIN, _ASK_AGAIN[q.kind])
            return Decision(SCORE, f"Thanks. {command.value} out of 10.")
        for names, outcome, reply in _RULES[q.kind]:
            if name in names and (outcome != SKIP_EXERCISE or in_exercise):
                return Decision(outcome, reply)
        return Decision(AGAIN, _ASK_AGAIN.get(q.kind, q.prompt))

    def silence(self) -> Decision:
        """What silence until the timeout decides for the open question."""
        assert self.open is not None
        return _SILENCE.get(self.open.kind, Decision(CARRY_ON))

    def input_closed(self) -> Command | None:
        """The answer to assume when no more input can come, for a question that waits forever."""
        q = self.open
        if q is None or q.timeout_at is not None:
            return None
        return Command("yes" if q.kind == "stop" else "resume")
