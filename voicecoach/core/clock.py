"""Clocks: the real monotonic one, and a fake one that tests move by hand.

The runner asks a clock for the time and waits on it for the next due moment or the
next input, whichever comes first, so a test can run a whole session in
milliseconds with a fake clock.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import time
from typing import Any


class RealClock:
    """Seconds on the monotonic clock, waiting on a queue with a timeout."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, inbox: queue.Queue[Any], timeout: float | None) -> Any | None:
        """Return the next item from `inbox`, or None once `timeout` seconds have passed."""
        if timeout is None:
            return inbox.get()
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            remaining = deadline - time.monotonic()
            try:
                return inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait()
            except queue.Empty:
                # A timed wait can wake a hair early; never let a cue fire before it is due.
                if time.monotonic() >= deadline:
                    return None


class FakeClock:
    """A clock that moves only when waited on, delivering scheduled items on time."""

    def __init__(self, start: float = 0.0):
        self.t = start
        self._order = itertools.count()
        self._scheduled: list[tuple[float, int, Any]] = []

    def now(self) -> float:
        return self.t

    def schedule(self, at: float, item: Any) -> None:
        """Deliver `item` to the waiter at time `at`."""
        heapq.heappush(self._scheduled, (at, next(self._order), item))

    def wait(self, inbox: queue.Queue[Any], timeout: float | None) -> Any | None:
        try:
            return inbox.get_nowait()
        except queue.Empty:
            pass
        deadline = None if timeout is None else self.t + max(0.0, timeout)
        if self._scheduled and (deadline is None or self._scheduled[0][0] <= deadline):
            at, _, item = heapq.heappop(self._scheduled)
            self.t = max(self.t, at)
            return self._deliver(item, inbox)
        if deadline is None:
            return self._wait_forever(inbox)
        self.t = deadline
        return None

    def _deliver(self, item: Any, inbox: queue.Queue[Any]) -> Any:
        """What the waiter gets when a scheduled item falls due: the item itself."""
        return item

    def _wait_forever(self, inbox: queue.Queue[Any]) -> Any:
        raise RuntimeError("FakeClock: waiting forever with nothing scheduled")
