"""The gate between the coach's mouth and its ears: a thread-safe record of when the
coach's audio plays, so the listener can ignore the microphone while it does.

Half-duplex: a microphone chunk is let through only if it does not overlap any
stretch of coach audio, extended by a tail for the room's echo and the device
buffers.  A stretch starts the moment `say` is called (before the first sample
reaches the speaker, so nothing slips through while the audio is being queued) and
ends at the time the speaker reports its last sample left the device.

Barge-in (hearing "stop" while the coach talks) is the listener's business: with an
echo canceller that has learnt the room (`barge_in`), it feeds the recognizer what
is left of the microphone while the gate is closed; without one, the gate is the
whole story and the coach is deaf while it speaks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Finished stretches older than this are forgotten; a listener more than this far
# behind real time has bigger problems than the gate.
_HISTORY_SECONDS = 120.0


@dataclass
class Utterance:
    """One stretch of coach audio, in `time.monotonic()` seconds."""

    token: int
    text: str
    requested: float
    """When `say` was called: the gate is closed from here."""
    start: float | None = None
    """When the first sample reached the output device (None until it did)."""
    end: float | None = None
    """When the last sample left the device, or the moment it was cut off; None while playing."""
    cut_off: bool = False


class Gate:
    """Record of coach speech; `is_open(t0, t1)` says whether a mic chunk may be heard."""

    def __init__(self, tail: float = 0.35, clock: Callable[[], float] = time.monotonic) -> None:
        if tail < 0:
            raise ValueError("the gate tail cannot be negative")
        self.tail = tail
        self._clock = clock
        self._lock = threading.Lock()
        self._utterances: list[Utterance] = []
        self._next_token = 1

    def begin(self, text: str = "", at: float | None = None) -> int:
        """The coach is about to speak: close the gate from now (or `at`).  Returns a token."""
        now = self._clock() if at is None else at
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._utterances.append(Utterance(token, text, requested=now))
            self._prune(now)
        return token

    def started(self, token: int, at: float) -> None:
        """The first sample of utterance `token` reached the device at `at`."""
        with self._lock:
            u = self._find(token)
            if u is not None and u.start is None:
                u.start = at

    def ended(self, token: int, at: float, cut_off: bool = False) -> None:
        """Utterance `token` stopped sounding at `at` (played out, or cut off)."""
        with self._lock:
            u = self._find(token)
            if u is not None and u.end is None:
                # Never let a stretch end before it was requested: a clock estimate
                # that ran early must not open the gate early.
                u.end = max(at, u.requested)
                u.cut_off = cut_off

    def is_open(self, t_start: float, t_end: float) -> bool:
        """True if a chunk captured over [t_start, t_end] contains no coach audio."""
        with self._lock:
            for u in self._utterances:
                closed_until = float("inf") if u.end is None else u.end + self.tail
                if t_end > u.requested and t_start < closed_until:
                    return False
        return True

    def is_speaking(self, at: float | None = None) -> bool:
        """True while an utterance has been requested and has not finished sounding."""
        now = self._clock() if at is None else at
        with self._lock:
            return any(u.requested <= now and (u.end is None or u.end > now)
                       for u in self._utterances)

    def quiet_at(self) -> float | None:
        """When the gate will reopen, or None if the coach is still speaking."""
        with self._lock:
            ends = [u.end for u in self._utterances]
        if any(e is None for e in ends):
            return None
        return max((e for e in ends if e is not None), default=0.0) + self.tail

    def utterances(self) -> list[Utterance]:
        """A copy of the recorded stretches, oldest first (for logs and tests)."""
        with self._lock:
            return [Utterance(**vars(u)) for u in self._utterances]

    def _find(self, token: int) -> Utterance | None:
        for u in reversed(self._utterances):
            if u.token == token:
                return u
        return None

    def _prune(self, now: float) -> None:
        horizon = now - _HISTORY_SECONDS
        self._utterances = [u for u in self._utterances
                            if u.end is None or u.end + self.tail >= horizon]
