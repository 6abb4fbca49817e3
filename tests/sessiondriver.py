"""Drive a Session with a fake clock and scripted commands, for tests."""

from __future__ import annotations

from pathlib import Path

from voicecoach.core.commands import Command
from voicecoach.core.plan import Plan, PlanSettings
from voicecoach.core.routine import load_routine
from voicecoach.core.session import Event, Output, Say, Session, SessionOptions

FIXTURES = Path(__file__).parent / "fixtures"


class Driver:
    """Moves a session's time forward and records everything it outputs, with times."""

    def __init__(self, routine: str = "mini.yaml", options: SessionOptions | None = None,
                 settings: PlanSettings | None = None):
        path = Path(routine) if "/" in routine else FIXTURES / routine
        self.plan = Plan(load_routine(path), settings)
        self.session = Session(self.plan, options)
        self.t = 0.0
        self.log: list[tuple[float, Output]] = []
        self._take(self.session.start(0.0))

    def _take(self, outputs: list[Output]) -> list[Output]:
        self.log.extend((self.t, o) for o in outputs)
        return outputs

    def advance(self, to: float) -> list[Output]:
        """Let time pass until `to`, firing everything due on the way."""
        out: list[Output] = []
        while not self.session.finished:
            due = self.session.next_due()
            if due is None or due > to:
                break
            self.t = max(self.t, due)
            out += self._take(self.session.tick(self.t))
        self.t = max(self.t, to)
        return out

    def say(self, name: str, value: int | None = None) -> list[Output]:
        return self._take(self.session.handle(Command(name, value), self.t))

    def until(self, predicate, limit: float = 10_000.0) -> None:
        """Advance cue by cue until `predicate(session)` holds."""
        while not predicate(self.session):
            due = self.session.next_due()
            assert due is not None and due < limit, "session stalled before the condition held"
            self.t = max(self.t, due)
            self._take(self.session.tick(self.t))

    def until_block(self, kind: str, exercise: int | None = None) -> None:
        self.until(lambda s: s.block.kind == kind and (exercise is None or s.block.exercise == exercise))

    def run_out(self, limit: float = 100_000.0) -> None:
        """Let the session run to its end with no more commands."""
        for _ in range(100_000):  # a bound, so a session that never ends fails instead of hanging
            if self.session.finished:
                return
            due = self.session.next_due()
            if due is None:
                self._take(self.session.input_closed(self.t))
                continue
            assert due < limit, "session did not end"
            self.t = max(self.t, due)
            self._take(self.session.tick(self.t))
        raise AssertionError("session did not end")

    def texts(self, since: int = 0) -> list[str]:
        return [o.text for _, o in self.log[since:] if isinstance(o, Say)]

    def events(self, kind: str) -> list[Event]:
        return [o for _, o in self.log if isinstance(o, Event) and o.type == kind]
