"""`TypedListener`: commands typed on a text stream (stdin in text mode), parsed with the
same command table as speech so typed and spoken commands behave the same.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from voicecoach.core import commands
from voicecoach.voice.base import Heard, Listener


class TypedListener(Listener):
    """Reads lines on a daemon thread; each line that parses is a command.

    Blank lines are ignored; any other line that is not a command goes to
    `on_unknown(text)` (the runner prints a did-you-mean hint); end of the stream
    calls `on_closed("end of input")`.  A blocked read cannot be interrupted, which
    is why the thread is a daemon: `close` just stops delivering.
    """

    def __init__(self, stream: TextIO | None = None,
                 on_unknown: Callable[[str], None] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin
        reconfigure = getattr(self.stream, "reconfigure", None)
        if reconfigure is not None:
            # A byte that is not UTF-8 (a terminal in another encoding, a stray key) must
            # neither end typed input nor reach the event log as a lone surrogate.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")
        self.on_unknown = on_unknown
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, on_heard: Callable[[Heard], None], on_closed: Callable[[str], None]) -> None:
        if self._thread is not None:
            raise RuntimeError("the listener is already started")
        self._thread = threading.Thread(target=self._read, args=(on_heard, on_closed),
                                        name="typed-listener", daemon=True)
        self._thread.start()

    def _read(self, on_heard: Callable[[Heard], None], on_closed: Callable[[str], None]) -> None:
        try:
            for line in self.stream:
                if self._closed.is_set():
                    return
                text = line.strip()
                if not text:
                    continue
                command = commands.parse(text)
                if command is not None:
                    on_heard(Heard(command=command, text=text))
                elif self.on_unknown is not None:
                    self.on_unknown(text)
        except (OSError, ValueError):  # stream closed under us (ValueError: I/O on closed file)
            pass
        if not self._closed.is_set():
            on_closed("end of input")

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reader to finish (tests with a finite stream)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self._closed.set()
