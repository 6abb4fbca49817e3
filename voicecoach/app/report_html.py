"""`voicecoach history --report FILE`: one self-contained HTML page a user can hand to their
physiotherapist: adherence, the knee-pain trend beside the sets done, and every decision the
pain-monitoring rules made, with why.  No scripts, no files beside it, prints on one page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from voicecoach.app.history_charts import pain_svg
from voicecoach.core import pain_rules

STYLE = """
body { font-family: sans-serif; max-width: 52em; margin: 1.5em auto; color: #222; font-size: 11pt; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; width: 100%; font-size: 0.95em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } .num { text-align: right; } .note { color: #555; font-size: 0.9em; }
svg { max-width: 100%; height: auto; }
@media print { body { margin: 0; } h2 { break-after: avoid; } }
"""


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def _score(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rows(cells: Sequence[Sequence[str]], header: Sequence[str], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in cells)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_report(sessions: Sequence[dict[str, Any]], weekly: Sequence[dict[str, Any]],
                limits: pain_rules.PainLimits, now: float | None = None) -> str:
    """The report for `sessions` (oldest first, each with its "decisions", as
    `history_report.sessions_in` gives them) and `weekly` (as `History.weekly`)."""
    made = datetime.fromtimestamp(now) if now is not None else datetime.now()
    weeks = sorted({r["week"] for r in weekly})
    period = (f"{_day(sessions[0]['started_at'])} to {_day(sessions[-1]['started_at'])}" if sessions
              else "no sessions yet")
    planned = sum(s["planned_sets"] or 0 for s in sessions)
    done = sum(s["sets_done"] for s in sessions if s["planned_sets"])
    finished = sum(1 for s in sessions if s["outcome"] == "finished")
    active = len({r["week"] for r in weekly if r["sessions"]})
    adherence = (f"{len(sessions)} sessions ({finished} finished) in the last {len(weeks)} weeks; "
                 f"training in {active} of those weeks")
    if planned:
        adherence += f"; {done} of {planned} planned sets done ({round(100 * done / planned)}%)"
    week_rows = [(r["week"], r["routine"], str(r["sessions"]), str(r["finished"]), str(r["sets_done"]),
                  f"{r['minutes']:g}") for r in weekly]
    session_rows = [(_day(s["started_at"]), s["routine"],
                     f"{s['sets_done']}/{s['planned_sets']}" if s["planned_sets"] else str(s["sets_done"]),
                     _score(s["pain_before"]), _score(s.get("pain_worst_during")), _score(s["pain_after"]),
                     s["outcome"]) for s in sessions]
    decision_rows = [(_day(s["started_at"]), s["routine"], pain_rules.LABELS.get(d["kind"], d["kind"]), d["reason"])
                     for s in sessions for d in s.get("decisions", [])]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>Knee exercise report</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>Knee exercise report</h1>",
        f'<p class="note">Sessions {escape(period)}. Made by voicecoach on {made:%Y-%m-%d %H:%M}.</p>',
        "<h2>Adherence</h2>", f"<p>{escape(adherence)}.</p>",
        _rows(week_rows, ("Week", "Routine", "Sessions", "Finished", "Sets done", "Minutes"), {2, 3, 4, 5})
        if week_rows else "<p>No sessions in this time.</p>",
        "<h2>Knee pain (0 to 10) and sets done</h2>",
        pain_svg(sessions, limits),
        _rows(session_rows, ("Date", "Routine", "Sets", "Pain before", "Worst during", "Pain after", "Outcome"),
              {2, 3, 4, 5}) if session_rows else "",
        "<h2>Decisions</h2>",
        _rows(decision_rows, ("Date", "Routine", "Decision", "Why"), set())
        if decision_rows else "<p>No decisions recorded yet.</p>",
        "<h2>The pain-monitoring model</h2>",
        f"<p>Pain during exercise may reach {limits.caution} out of 10, should settle by the next morning and "
        "should not rise from one session to the next. The coach advises not to train when the pain before a "
        f"session is {limits.stop} or more; above {limits.caution} it trains at the easiest targets; a score of "
        f"{limits.caution} or more during an exercise skips it. It offers a step up only after finished "
        "sessions whose pain stayed within these limits and did not rise, and steps the targets down one step "
        f"when pain passed {limits.caution} or rose by {limits.rise} or more.</p>",
        f'<p class="note">{escape(pain_rules.CITATION)}</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
