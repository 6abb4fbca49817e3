"""When a session is brief: a returning user hears a short welcome, the safety lines and each
exercise's name and first step ("repeat" gives all the steps), not the whole introduction.

Pure: the rule reads the history's session summaries, and the setting is `[coach] brief`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CHOICES = ("auto", "always", "never")
"""`[coach] brief`: auto (brief once the routine has been done), always or never."""


def has_done(sessions: Iterable[dict[str, Any]], routine: str) -> bool:
    """Whether a past session of `routine` finished or did at least one set."""
    return any(s.get("routine") == routine and (s.get("outcome") == "finished" or (s.get("sets_done") or 0) > 0)
               for s in sessions)


def is_brief(setting: str, done_before: bool) -> bool:
    """Whether this session is brief, for the `[coach] brief` setting."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    return done_before
