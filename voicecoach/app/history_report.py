"""`voicecoach history`: recent sessions as a table with the pain trend and the pain rules'
decisions, a JSON export, weekly adherence as a terminal bar chart, a small self-contained SVG
chart of sessions per week and of pain beside the sets done, and a one-page HTML report."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from voicecoach.app.history_charts import plot_svg
from voicecoach.core import pain_rules
from voicecoach.store import journal
from voicecoach.store.history import DB_FILENAME, History, HistoryUnavailable, default_data_dir, replay_pending

# How long a report waits for a session that is writing right now (its writes are tiny).
OPEN_TIMEOUT = 2.0
# A rise in knee pain (after minus before) this large is marked "up": the same rise for
# which the coach's summary advises seeing a professional (voicecoach/core/session.py).
PAIN_RISE = 3

NO_HISTORY = (
    "No sessions recorded yet. Start one with `voicecoach run ROUTINE`; "
    "each finished set is saved as you go."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `history` command's options to `parser`."""
    parser.add_argument("--json", action="store_true", help="export every session as JSON")
    parser.add_argument(
        "--week", action="store_true", help="sessions per week for each routine, as a chart"
    )
    parser.add_argument(
        "--weeks", type=_positive_int, default=8, metavar="N",
        help="how many weeks --week and --plot cover (default 8)",
    )
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.svg",
        help="write a chart of sessions per week, and of knee pain beside the sets done",
    )
    parser.add_argument(
        "--report", type=Path, metavar="FILE.html",
        help="write a one-page report for your physiotherapist: adherence, pain trend and decisions",
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help="folder holding the history (default: $VOICECOACH_DATA_DIR, "
        "$XDG_DATA_HOME/voicecoach or ~/.local/share/voicecoach)",
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N",
        help="how many recent sessions to list (default 20)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, not {value}")
    return value


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Carry out `voicecoach history` with parsed `args`; returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    data_dir = args.data_dir if args.data_dir is not None else _configured_data_dir()
    path = Path(data_dir).expanduser() / DB_FILENAME
    history = None
    waiting = journal_note(path)
    if path.exists():
        try:
            history = _open_for_reading(path)
        except HistoryUnavailable as exc:
            print(f"voicecoach history: cannot read the history: {exc.reason}", file=err)
            if waiting:
                print(waiting, file=err)
            return 1
        waiting = journal_note(path)  # opening may have saved them
    try:
        code = _report(history, args, out, err)
        # With --json, stdout carries only JSON, so notes go to stderr.
        notes = [n for n in (waiting, incidents_note(history)) if n]
        if notes and not args.week:
            print("\n" + "\n".join(notes), file=err if args.json else out)
        return code
    except HistoryUnavailable as exc:
        print(f"voicecoach history: cannot read the history: {exc.reason}", file=err)
        return 1
    except OSError as exc:
        print(f"voicecoach history: cannot write {exc.filename}: {exc.strerror}", file=err)
        return 1
    finally:
        if history is not None:
            history.close()


def _open_for_reading(path: Path) -> History:
    # Open normally first so a log left by a killed session, and any journal, are folded in;
    # fall back to a read-only open so a history on a read-only or full disk, or one that
    # another program has locked, can still be looked at.
    try:
        history = History.open(path, timeout=OPEN_TIMEOUT)
    except HistoryUnavailable as exc:
        if exc.kind in ("corrupt", "newer-schema", "missing"):
            raise
        return History.open(path, timeout=OPEN_TIMEOUT, read_only=True)
    with contextlib.suppress(HistoryUnavailable):
        replay_pending(history)
    return history


def journal_note(db_path: Path) -> str:
    """A line on sessions kept in a journal that wait for the history file, or ""."""
    waiting = journal.pending(db_path)
    if not waiting:
        return ""
    where = ", ".join(sorted({str(p.parent) for p in waiting}))
    return (f"{len(waiting)} session(s) could not be written to the history file and are kept in a "
            f"journal in {where}; they are saved into it at the next `voicecoach run` once it can be "
            "written.")


def history_status(db_path: Path) -> tuple[str, str, str]:
    """For `doctor`: ("ok" | "warn" | "fail", what was found, what to do)."""
    waiting = journal_note(db_path)
    if not db_path.exists():
        if waiting:
            return "warn", waiting, "run a session once the data folder can be written"
        return "ok", f"no history yet at {db_path}", ""
    try:
        history = _open_for_reading(db_path)
    except HistoryUnavailable as exc:
        detail = f"cannot read the history: {exc.reason}" + (f". {waiting}" if waiting else "")
        return "fail", detail, "see the reason; `voicecoach history` shows the same"
    try:
        sessions = len(history.recent(1_000_000))
        incidents = history.incidents(1)
        read_only = history.read_only
    finally:
        history.close()
    detail = f"{db_path}: {sessions} sessions"
    if read_only:
        detail += " (could only be opened read-only)"
    if waiting:
        return "warn", f"{detail}. {waiting}", "free the history file (lock, disk space, permissions)"
    if incidents:
        last = incidents[0]
        when = datetime.fromtimestamp(last["at"]).strftime("%Y-%m-%d %H:%M")
        detail += (f"; last time it could not be written ({when}: {last['reason']}) the session was kept "
                   "in the journal and saved later")
    return ("warn" if read_only else "ok"), detail, ""


def incidents_note(history: History | None, limit: int = 5) -> str:
    """Lines on the latest spells when the history file could not be written, or ""."""
    if history is None:
        return ""
    lines = []
    for i in history.incidents(limit):
        when = datetime.fromtimestamp(i["at"]).strftime("%Y-%m-%d %H:%M")
        saved = datetime.fromtimestamp(i["saved_at"]).strftime("%Y-%m-%d %H:%M")
        session = f"session {i['session_id']}" if i["session_id"] is not None else "a session"
        lines.append(f"  {when}, {session}: {i['reason']}; kept in the journal and saved on {saved}.")
    if not lines:
        return ""
    return "When the history file could not be written:\n" + "\n".join(lines)


def _report(
    history: History | None, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    weekly = history.weekly(args.weeks) if history is not None else []
    # With --json, stdout carries only JSON, so notes go to stderr.
    note_to = err if args.json else out
    if args.plot is not None or getattr(args, "report", None) is not None:
        shown = sessions_in(history, weekly)
        limits = _configured_pain_limits()
    if args.plot is not None:
        args.plot.write_text(plot_svg(weekly, shown, limits), encoding="utf-8")
        print(f"Wrote a chart of sessions per week and of knee pain to {args.plot}", file=note_to)
    if getattr(args, "report", None) is not None:
        from voicecoach.app.report_html import html_report

        args.report.write_text(html_report(shown, weekly, limits), encoding="utf-8")
        print(f"Wrote a one-page report to {args.report}", file=note_to)
    if args.json:
        data = history.export_json() if history is not None else []
        json.dump(data, out, indent=2)
        out.write("\n")
        return 0
    if args.week:
        print(weekly_text(weekly, args.weeks, _bar_char(out)), file=out)
        return 0
    sessions = history.recent(args.limit) if history is not None else []
    print(sessions_table(sessions) if sessions else NO_HISTORY, file=out)
    decided = decisions_text(with_decisions(history, sessions)) if history is not None else ""
    if decided:
        print("\n" + decided, file=out)
    return 0


def with_decisions(history: History, sessions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`sessions` (as `History.recent()` gives them), each with its "decisions"."""
    return [{**s, "decisions": history.session(s["id"])["decisions"]} for s in sessions]


def sessions_in(history: History | None, weekly: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sessions of the weeks in `weekly`, oldest first, each with its decisions."""
    if history is None or not weekly:
        return []
    start = datetime.fromisoformat(min(r["week_start"] for r in weekly)).timestamp()
    recent = [s for s in history.recent(1_000_000) if s["started_at"] >= start]
    return with_decisions(history, list(reversed(recent)))


def decisions_text(sessions: Sequence[dict[str, Any]]) -> str:
    """What the pain rules decided in each session, with why, newest session first."""
    lines = []
    for s in sessions:
        for d in s.get("decisions", []):
            when = datetime.fromtimestamp(s["started_at"]).strftime("%Y-%m-%d")
            label = pain_rules.LABELS.get(d["kind"], d["kind"])
            lines.append(f"  #{s['id']} {when}  {label}: {d['reason']}")
    return "Decisions (pain-monitoring model):\n" + "\n".join(lines) if lines else ""


def _bar_char(out: TextIO) -> str:
    # A full block reads best; fall back to '#' where the terminal cannot show it.
    try:
        "\u2588".encode(getattr(out, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "#"
    return "\u2588"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}:{secs:02d}"


def _pain(before: int | None, after: int | None, during: int | None = None) -> str:
    if before is None and after is None and during is None:
        return "-"
    text = f"{'-' if before is None else before}->{'-' if after is None else after}"
    if before is not None and after is not None and after - before >= PAIN_RISE:
        text += " up"
    if during is not None:
        text += f" (during {during})"
    return text


def sessions_table(sessions: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of sessions (as `History.recent()` gives them), newest first."""
    header = ("#", "Date", "Routine", "Duration", "Sets", "Skipped", "Pain", "Outcome")
    rows = []
    for s in sessions:
        planned = s["planned_sets"]
        sets = f"{s['sets_done']}/{planned}" if planned else str(s["sets_done"])
        outcome = s["outcome"]
        if not s["ended_cleanly"]:
            outcome += " (no end recorded)"
        if s["resumed_from"] is not None:
            outcome += f", resumes #{s['resumed_from']}"
        if s["pain_stops"]:
            outcome += f", pain stop x{s['pain_stops']}"
        rows.append((
            str(s["id"]),
            datetime.fromtimestamp(s["started_at"]).strftime("%Y-%m-%d %H:%M"),
            s["routine"],
            _duration(s["duration_seconds"]),
            sets,
            str(s["skipped"]) if s["skipped"] else "-",
            _pain(s["pain_before"], s["pain_after"], s.get("pain_worst_during")),
            outcome,
        ))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def weekly_text(weekly: Sequence[dict[str, Any]], weeks: int, bar: str = "#") -> str:
    """Sessions per ISO week for each routine, with a bar per week."""
    if not weekly:
        return f"No sessions in the last {weeks} weeks. {NO_HISTORY}"
    most = max(1, max(r["sessions"] for r in weekly))
    scale = min(1.0, 30 / most)  # keep bars within a narrow terminal
    routines = sorted({r["routine"] for r in weekly})
    lines = [f"Sessions per week, last {weeks} weeks (finished in brackets)"]
    for routine in routines:
        rows = [r for r in weekly if r["routine"] == routine]
        total = sum(r["sessions"] for r in rows)
        active = sum(1 for r in rows if r["sessions"])
        lines += ["", f"{routine}: {total} sessions, active in {active} of {len(rows)} weeks"]
        for r in rows:
            monday = datetime.fromisoformat(r["week_start"]).strftime("%b %d")
            bars = bar * max(1 if r["sessions"] else 0, round(r["sessions"] * scale))
            count = f"{r['sessions']} ({r['finished']})" if r["sessions"] else "0"
            lines.append(f"  {r['week']}  {monday}  {bars.ljust(round(most * scale))}  {count}")
    return "\n".join(lines)


def _configured_pain_limits() -> pain_rules.PainLimits:
    """The config's [pain] limits, or the model's defaults if the config can't be read."""
    try:
        from voicecoach.config import load_config

        return pain_rules.limits_for(load_config().config.pain, None)
    except Exception:  # a broken config must not hide the history; `voicecoach config` reports it
        return pain_rules.PainLimits()


def _configured_data_dir() -> Path:
    """The data folder from the configuration file, or the default if it can't be read."""
    try:
        from voicecoach.config import load_config

        return Path(load_config().config.data.folder)
    except Exception:  # a broken config must not hide the history; `voicecoach config` reports it
        return default_data_dir()
