"""The session log on disk: every session, set, skip, pause and pain check-in, kept in SQLite.

Each write is its own short transaction, committed before the call returns, so a set that
was reported finished survives Ctrl-C, SIGTERM or `kill -9`.  Anything that stops the store
from working (locked, read-only, damaged file, full disk) becomes `HistoryUnavailable` with a
reason a person can read; `NullHistory` and `SafeHistory` let a session carry on without
recording.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from voicecoach import paths

DB_FILENAME = "history.sqlite3"

SetKey = tuple[int, int, int]
"""A set's place in the plan: (exercise_index, set_no, side_index)."""

OUTCOMES = ("finished", "stopped", "interrupted")
PAIN_WHEN = ("before", "after", "during")
KINDS = ("reps", "hold")

# Each migration is a list of statements run in one transaction; the schema_version table
# records which have been applied.  Append new versions; never edit an applied one.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            """CREATE TABLE sessions (
                id INTEGER PRIMARY KEY,
                routine TEXT NOT NULL,
                title TEXT NOT NULL,
                started_at REAL NOT NULL,
                ended_at REAL,
                outcome TEXT CHECK (outcome IN ('finished', 'stopped', 'interrupted')),
                resumed_from INTEGER REFERENCES sessions(id),
                planned_sets INTEGER
            )""",
            "CREATE INDEX sessions_by_routine ON sessions (routine, started_at)",
            """CREATE TABLE sets (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id),
                exercise TEXT NOT NULL,
                exercise_index INTEGER NOT NULL,
                set_no INTEGER NOT NULL,
                sets INTEGER NOT NULL,
                side TEXT,
                side_index INTEGER NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('reps', 'hold')),
                done REAL NOT NULL,
                target REAL NOT NULL,
                finished_at REAL NOT NULL
            )""",
            "CREATE INDEX sets_by_session ON sets (session_id)",
            """CREATE TABLE skips (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id),
                exercise TEXT NOT NULL,
                exercise_index INTEGER NOT NULL,
                at REAL NOT NULL
            )""",
            "CREATE INDEX skips_by_session ON skips (session_id)",
            """CREATE TABLE pauses (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id),
                at REAL NOT NULL,
                seconds REAL NOT NULL
            )""",
            "CREATE INDEX pauses_by_session ON pauses (session_id)",
            """CREATE TABLE pains (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id),
                phase TEXT NOT NULL CHECK (phase IN ('before', 'after', 'during')),
                score INTEGER CHECK (score IS NULL OR score BETWEEN 0 AND 10),
                at REAL NOT NULL,
                note TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX pains_by_session ON pains (session_id)",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def default_data_dir() -> Path:
    """The folder for voicecoach's data when none is configured (see `paths.default_data_dir`)."""
    return paths.default_data_dir()


def default_db_path(data_dir: Path | None = None) -> Path:
    """The history database file inside `data_dir` (default: `default_data_dir()`)."""
    return (data_dir if data_dir is not None else default_data_dir()) / DB_FILENAME


class HistoryUnavailable(Exception):
    """The history store cannot be opened or written.

    `reason` is a sentence fragment for people ("the disk is full (...)"), made to follow
    "I can't record this session: ".  `kind` is a short code for programs: one of
    "locked", "read-only", "corrupt", "disk-full", "cannot-open", "missing", "newer-schema",
    "error".
    """

    def __init__(self, reason: str, kind: str = "error", path: Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.path = path


def _unavailable(exc: BaseException, path: Path, timeout: float) -> HistoryUnavailable:
    """Translate a sqlite3 or OS error into a HistoryUnavailable a person can act on."""
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return HistoryUnavailable(
                f"the disk is full (could not write {path})", "disk-full", path
            )
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return HistoryUnavailable(
                f"the folder for {path} is read-only or not mine to write ({exc.strerror})",
                "read-only",
                path,
            )
        return HistoryUnavailable(f"cannot use {path}: {exc.strerror or exc}", "cannot-open", path)
    # Extended result codes carry the primary code in the low byte.
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return HistoryUnavailable(
            f"the history file {path} is locked by another program "
            f"(waited {timeout:g} seconds for it)",
            "locked",
            path,
        )
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        # SQLite says "cannot open" when it may not create the files beside the database (the
        # WAL and its index); say what is really in the way when the system can tell.
        why = _why_read_only(path)
        if why is not None or code == sqlite3.SQLITE_READONLY:
            return HistoryUnavailable(f"the history file {path} {why or 'is read-only'}", "read-only", path)
    if code == sqlite3.SQLITE_FULL:
        return HistoryUnavailable(f"the disk is full (could not write {path})", "disk-full", path)
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return HistoryUnavailable(
            f"the history file {path} is damaged or is not a voicecoach history file "
            "(move it aside and a new one will be started)",
            "corrupt",
            path,
        )
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return HistoryUnavailable(
            f"cannot open the history file {path} (is its folder there and writable?)",
            "cannot-open",
            path,
        )
    if code == sqlite3.SQLITE_IOERR:
        return HistoryUnavailable(f"a disk error stopped writing {path}", "error", path)
    return HistoryUnavailable(f"the history file {path} could not be used: {exc}", "error", path)


def _why_read_only(path: Path) -> str | None:
    """Why `path` cannot be written, when the file system or the permissions show it."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
        if path.exists() and not os.access(path, os.W_OK):
            return "is read-only"
        if not os.access(path.parent, os.W_OK):
            return "is in a folder that is read-only"
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class ResumePoint:
    """Where an interrupted session of a routine can pick up again.

    `session_id` is the last session of the chain; pass it as `resumed_from` to the next
    `start_session`.  `next_set` is the first set key in plan order still to do (None when no
    plan order was given).  `finished` and `skipped_exercises` cover the whole chain of
    resumed sessions.
    """

    session_id: int
    routine: str
    started_at: float
    next_set: SetKey | None
    finished: frozenset[SetKey] = field(default_factory=frozenset)
    skipped_exercises: frozenset[int] = field(default_factory=frozenset)

    @property
    def sets_done(self) -> int:
        """How many distinct sets the interrupted sessions finished."""
        return len(self.finished)


def _iso(ts: float | None) -> str | None:
    """Local time with its UTC offset, for people and for JSON."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def iso_week(ts: float) -> tuple[int, int]:
    """The (ISO year, ISO week) of a unix time, in local time."""
    year, week, _ = datetime.fromtimestamp(ts).isocalendar()
    return year, week


def _week_monday(year: int, week: int) -> date:
    return date.fromisocalendar(year, week, 1)


class History:
    """The SQLite history store.  Open it with `History.open(path)`.

    Every write is committed before the method returns.  Any failure to read or write
    raises `HistoryUnavailable`; a call with a bad argument (unknown session, pain score
    out of range) raises ValueError.  Safe to share between threads of one process.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, timeout: float, read_only: bool):
        self._conn = conn
        self.path = path
        self.timeout = timeout
        self.read_only = read_only
        self.reason: str | None = None  # same attribute as NullHistory: None means recording
        # One connection shared by threads (the runner's signal handling may end a session
        # from another thread); sqlite3 objects are not safe for concurrent use.
        self._lock = threading.RLock()

    # ----- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, timeout: float = 5.0, read_only: bool = False) -> History:
        """Open (creating folders, file and schema as needed) the history at `path`.

        `timeout` is how long, in seconds, to wait for another program that holds a lock
        before giving up.  `read_only` opens without writing anything (for reports); the file
        must then exist already.
        """
        path = Path(path).expanduser()
        try:
            if read_only:
                if not path.exists():
                    raise HistoryUnavailable(
                        f"there is no history file at {path}", "missing", path
                    )
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unavailable(exc, path, timeout) from exc
        try:
            if read_only:
                # A URI is the only way to ask SQLite for read-only; as_uri() escapes the path.
                target = path.resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(
                    target, uri=True, timeout=timeout, isolation_level=None,
                    check_same_thread=False,
                )
            else:
                conn = sqlite3.connect(
                    path, timeout=timeout, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as exc:
            raise _unavailable(exc, path, timeout) from exc
        try:
            conn.row_factory = sqlite3.Row
            if not read_only:
                # WAL: readers (a `history` report) never block the writer, and a commit is
                # one append to the log, so a killed process leaves every commit intact.
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: each commit is synced, so a finished set survives a power cut too.
                # A handful of small writes per minute makes the cost invisible.
                conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            _migrate(conn, path, read_only)
        except HistoryUnavailable:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise _unavailable(exc, path, timeout) from exc
        return cls(conn, path, timeout, read_only)

    def close(self) -> None:
        """Close the database.  Everything written is already committed."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- low level -----------------------------------------------------------------------

    def _write(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        # isolation_level=None: a single statement is its own transaction, committed (and,
        # with synchronous=FULL, synced) before execute() returns.
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"cannot record this: {exc}") from exc
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path, self.timeout) from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path, self.timeout) from exc

    def _check_session(self, session_id: int) -> None:
        if not self._read("SELECT 1 FROM sessions WHERE id = ?", (session_id,)):
            raise ValueError(f"no session {session_id} in the history")

    # ----- writing -------------------------------------------------------------------------

    def start_session(
        self,
        routine: str,
        title: str,
        started_at: float,
        resumed_from: int | None = None,
        *,
        planned_sets: int | None = None,
    ) -> int:
        """Record that a session started; returns its id.

        `resumed_from` is the id of the interrupted session this one continues
        (`ResumePoint.session_id`).  `planned_sets` is how many set keys the plan has, so
        reports can show "done/planned" and progression can tell a complete session.
        """
        if resumed_from is not None:
            self._check_session(resumed_from)
        cur = self._write(
            "INSERT INTO sessions (routine, title, started_at, resumed_from, planned_sets)"
            " VALUES (?, ?, ?, ?, ?)",
            (routine, title, float(started_at), resumed_from, planned_sets),
        )
        return int(cur.lastrowid or 0)

    def record_set(
        self,
        session_id: int,
        *,
        exercise: str,
        exercise_index: int,
        set_no: int,
        sets: int,
        side: str | None,
        side_index: int,
        kind: str,
        done: float,
        target: float,
        finished_at: float,
    ) -> None:
        """Record one finished set: `done` versus `target` reps ("reps") or seconds ("hold")."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self._write(
            "INSERT INTO sets (session_id, exercise, exercise_index, set_no, sets, side,"
            " side_index, kind, done, target, finished_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, exercise, exercise_index, set_no, sets, side, side_index, kind,
             float(done), float(target), float(finished_at)),
        )

    def record_skip(
        self, session_id: int, *, exercise: str, exercise_index: int, at: float
    ) -> None:
        """Record that the user skipped an exercise (the rest of its sets)."""
        self._write(
            "INSERT INTO skips (session_id, exercise, exercise_index, at) VALUES (?, ?, ?, ?)",
            (session_id, exercise, exercise_index, float(at)),
        )

    def record_pause(self, session_id: int, *, at: float, seconds: float) -> None:
        """Record a pause that began at `at` and lasted `seconds`."""
        self._write(
            "INSERT INTO pauses (session_id, at, seconds) VALUES (?, ?, ?)",
            (session_id, float(at), float(seconds)),
        )

    def record_pain(
        self,
        session_id: int,
        *,
        when: str,
        score: int | None,
        at: float,
        note: str = "",
    ) -> None:
        """Record a pain check-in: `when` is "before", "after" or "during"; `score` is 0-10,
        or None when the user skipped the question (or, "during", said "pain" without a
        number)."""
        if when not in PAIN_WHEN:
            raise ValueError(f"when must be one of {PAIN_WHEN}, not {when!r}")
        if score is not None and not (isinstance(score, int) and 0 <= score <= 10):
            raise ValueError(f"a pain score is a whole number from 0 to 10, not {score!r}")
        self._write(
            "INSERT INTO pains (session_id, phase, score, at, note) VALUES (?, ?, ?, ?, ?)",
            (session_id, when, score, float(at), note),
        )

    def end_session(self, session_id: int, *, outcome: str, ended_at: float) -> None:
        """Record how a session ended.  The first end recorded wins, so a clean-up path that
        runs after a normal finish cannot turn it into "interrupted"."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        self._check_session(session_id)
        self._write(
            "UPDATE sessions SET outcome = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL",
            (outcome, float(ended_at), session_id),
        )

    # ----- reading -------------------------------------------------------------------------

    def _summaries(self, where: str = "", params: Sequence[Any] = (), limit: int = -1) -> list[
        dict[str, Any]
    ]:
        """Session rows with their per-session totals, newest first."""
        rows = self._read(
            f"""SELECT s.*,
                (SELECT COUNT(*) FROM (SELECT DISTINCT exercise_index, set_no, side_index
                    FROM sets WHERE session_id = s.id)) AS sets_done,
                (SELECT COUNT(*) FROM skips WHERE session_id = s.id) AS skipped,
                (SELECT COALESCE(SUM(seconds), 0) FROM pauses WHERE session_id = s.id)
                    AS paused_seconds,
                (SELECT score FROM pains WHERE session_id = s.id AND phase = 'before'
                    ORDER BY at DESC, id DESC LIMIT 1) AS pain_before,
                (SELECT score FROM pains WHERE session_id = s.id AND phase = 'after'
                    ORDER BY at DESC, id DESC LIMIT 1) AS pain_after,
                (SELECT COUNT(*) FROM pains WHERE session_id = s.id AND phase = 'during')
                    AS pain_stops,
                (SELECT MAX(t) FROM (
                    SELECT MAX(finished_at) AS t FROM sets WHERE session_id = s.id
                    UNION ALL SELECT MAX(at) FROM skips WHERE session_id = s.id
                    UNION ALL SELECT MAX(at + seconds) FROM pauses WHERE session_id = s.id
                    UNION ALL SELECT MAX(at) FROM pains WHERE session_id = s.id))
                    AS last_activity
            FROM sessions s {where}
            ORDER BY s.started_at DESC, s.id DESC LIMIT ?""",
            (*params, limit),
        )
        return [_summary(row) for row in rows]

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest `limit` sessions, newest first, each a dict of its totals:
        id, routine, title, started_at, ended_at, outcome ("interrupted" when no end was
        recorded), ended_cleanly, duration_seconds, sets_done, planned_sets, skipped,
        paused_seconds, pain_before, pain_after, pain_stops, resumed_from."""
        return self._summaries(limit=max(0, int(limit)))

    def session(self, session_id: int) -> dict[str, Any]:
        """One session with everything recorded in it: the `recent` fields plus lists
        "sets", "skips", "pauses" and "pains", each in time order.  KeyError if unknown."""
        found = self._summaries("WHERE s.id = ?", (session_id,))
        if not found:
            raise KeyError(session_id)
        result = found[0]
        result["sets"] = [
            {
                "exercise": r["exercise"], "exercise_index": r["exercise_index"],
                "set_no": r["set_no"], "sets": r["sets"], "side": r["side"],
                "side_index": r["side_index"], "kind": r["kind"], "done": r["done"],
                "target": r["target"], "finished_at": r["finished_at"],
            }
            for r in self._read(
                "SELECT * FROM sets WHERE session_id = ? ORDER BY finished_at, id", (session_id,)
            )
        ]
        result["skips"] = [
            {"exercise": r["exercise"], "exercise_index": r["exercise_index"], "at": r["at"]}
            for r in self._read(
                "SELECT * FROM skips WHERE session_id = ? ORDER BY at, id", (session_id,)
            )
        ]
        result["pauses"] = [
            {"at": r["at"], "seconds": r["seconds"]}
            for r in self._read(
                "SELECT * FROM pauses WHERE session_id = ? ORDER BY at, id", (session_id,)
            )
        ]
        result["pains"] = [
            {"when": r["phase"], "score": r["score"], "at": r["at"], "note": r["note"]}
            for r in self._read(
                "SELECT * FROM pains WHERE session_id = ? ORDER BY at, id", (session_id,)
            )
        ]
        return result

    def export_json(self) -> list[dict[str, Any]]:
        """Every session with everything in it (as `session()`), oldest first, ready for
        `json.dumps`.  Times are unix seconds, with local ISO 8601 copies alongside."""
        ids = [r["id"] for r in self._read("SELECT id FROM sessions ORDER BY started_at, id")]
        out = []
        for session_id in ids:
            item = self.session(session_id)
            item["started"] = _iso(item["started_at"])
            item["ended"] = _iso(item["ended_at"])
            out.append(item)
        return out

    def _chains(self, routine: str | None = None) -> list[list[dict[str, Any]]]:
        """Sessions grouped into workouts: a session and the sessions that resumed it.
        Each chain is oldest first; chains are ordered by their latest session, newest first.
        """
        where, params = ("WHERE s.routine = ?", (routine,)) if routine is not None else ("", ())
        sessions = self._summaries(where, params)
        by_id = {s["id"]: s for s in sessions}

        def root(s: dict[str, Any]) -> int:
            seen = {s["id"]}
            # Follow resumed_from back; stop on another routine's session or a cycle, which a
            # hand-edited file could contain.
            while s["resumed_from"] in by_id and s["resumed_from"] not in seen:
                s = by_id[s["resumed_from"]]
                seen.add(s["id"])
            return s["id"]

        groups: dict[int, list[dict[str, Any]]] = {}
        for s in sessions:  # newest first, so each chain is newest first too
            groups.setdefault(root(s), []).append(s)
        chains = [list(reversed(g)) for g in groups.values()]
        chains.sort(key=lambda c: (c[-1]["started_at"], c[-1]["id"]), reverse=True)
        return chains

    def weekly(self, weeks: int = 8, *, now: float | None = None) -> list[dict[str, Any]]:
        """Sessions per ISO week per routine for the last `weeks` weeks (this week included),
        oldest week first.  One row per week and per routine seen in that time, zero weeks
        included, so adherence gaps show:
        {"week": "2024-W05", "week_start": "2024-01-29", "routine", "sessions", "finished",
        "sets_done", "minutes"}.  A resumed session counts with the one it continues, in the
        week that one started.  Empty when there were no sessions in that time."""
        weeks = max(1, int(weeks))
        now = time.time() if now is None else now
        this_monday = _week_monday(*iso_week(now))
        mondays = [this_monday - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
        counts: dict[tuple[date, str], dict[str, Any]] = {}
        routines: set[str] = set()
        shown = set(mondays)
        for chain in self._chains():
            head = chain[0]
            monday = _week_monday(*iso_week(head["started_at"]))
            if monday not in shown:
                continue
            routines.add(head["routine"])
            cell = counts.setdefault(
                (monday, head["routine"]),
                {"sessions": 0, "finished": 0, "sets_done": 0, "seconds": 0.0},
            )
            cell["sessions"] += 1
            cell["finished"] += chain[-1]["outcome"] == "finished"
            cell["sets_done"] += sum(s["sets_done"] for s in chain)
            cell["seconds"] += sum(s["duration_seconds"] or 0 for s in chain)
        rows = []
        for monday in mondays:
            year, week, _ = monday.isocalendar()
            for routine in sorted(routines):
                cell = counts.get((monday, routine), {})
                rows.append({
                    "week": f"{year}-W{week:02d}",
                    "week_start": monday.isoformat(),
                    "routine": routine,
                    "sessions": cell.get("sessions", 0),
                    "finished": cell.get("finished", 0),
                    "sets_done": cell.get("sets_done", 0),
                    "minutes": round(cell.get("seconds", 0.0) / 60, 1),
                })
        return rows

    def _set_rows(self, session_ids: Iterable[int]) -> list[sqlite3.Row]:
        ids = list(session_ids)
        marks = ",".join("?" * len(ids))
        return self._read(
            f"SELECT * FROM sets WHERE session_id IN ({marks}) ORDER BY finished_at, id", ids
        )

    def _skip_rows(self, session_ids: Iterable[int]) -> list[sqlite3.Row]:
        ids = list(session_ids)
        marks = ",".join("?" * len(ids))
        return self._read(f"SELECT * FROM skips WHERE session_id IN ({marks})", ids)

    def resume_point(
        self,
        routine: str,
        set_order: Sequence[SetKey] | None = None,
        *,
        skipped_ok: bool = True,
    ) -> ResumePoint | None:
        """Where to continue `routine`, or None when there is nothing to continue.

        There is something to continue when the routine's last session ended "interrupted"
        or has no recorded end (the process was killed), and it (with the sessions it
        resumed) finished or skipped something.  `set_order` is the plan's set keys in
        order; `next_set` is then the first key neither finished nor, when `skipped_ok`, in
        a skipped exercise, and None is returned if no such key is left.  Call it before
        `start_session` for the new session, which would otherwise be the last one.
        """
        chains = self._chains(routine)
        if not chains:
            return None
        chain = chains[0]
        last = chain[-1]
        if last["outcome"] != "interrupted":
            return None
        ids = [s["id"] for s in chain]
        finished = frozenset(
            (r["exercise_index"], r["set_no"], r["side_index"]) for r in self._set_rows(ids)
        )
        skipped = frozenset(r["exercise_index"] for r in self._skip_rows(ids))
        if not finished and not skipped:
            return None  # nothing was done: continuing is the same as starting afresh
        next_set: SetKey | None = None
        if set_order is not None:
            for key in set_order:
                key = (int(key[0]), int(key[1]), int(key[2]))
                if key in finished or (skipped_ok and key[0] in skipped):
                    continue
                next_set = key
                break
            if next_set is None:
                return None  # every set of the plan is done or skipped
        return ResumePoint(
            session_id=last["id"],
            routine=routine,
            started_at=chain[0]["started_at"],
            next_set=next_set,
            finished=finished,
            skipped_exercises=skipped,
        )

    def completed_streak(
        self,
        routine: str,
        n: int = 2,
        *,
        targets: Mapping[str, float] | None = None,
    ) -> bool:
        """True when the last `n` workouts of `routine` each completed every set at its
        target: the session (or the last session that resumed it) ended "finished", nothing
        was skipped, no pain stop, every set's latest record reached its target, and, where
        `planned_sets` was given, every planned set was done.

        `targets` maps exercise name -> the target reps or hold seconds the next session
        would use; when given, only sets done at exactly those targets count, so a step
        accepted last time needs `n` new sessions at the new target before the next step.
        Ask before `start_session` of the new session.
        """
        if n < 1:
            return False
        chains = self._chains(routine)[:n]
        if len(chains) < n:
            return False
        for chain in chains:
            if chain[-1]["outcome"] != "finished":
                return False
            if any(s["skipped"] or s["pain_stops"] for s in chain):
                return False
            latest: dict[SetKey, sqlite3.Row] = {}
            for r in self._set_rows(s["id"] for s in chain):  # time order: later ones win
                latest[(r["exercise_index"], r["set_no"], r["side_index"])] = r
            if not latest:
                return False
            planned = chain[0]["planned_sets"] or chain[-1]["planned_sets"]
            if planned and len(latest) < planned:
                return False
            for r in latest.values():
                if r["done"] < r["target"]:
                    return False
                if targets is not None and targets.get(r["exercise"]) != r["target"]:
                    return False
            if targets is not None and set(targets) - {r["exercise"] for r in latest.values()}:
                return False
        return True


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    """A session row as the dict `recent()` promises, with the end derived at read time."""
    ended_at = row["ended_at"]
    # No recorded end means the process died (or is still running): report it as
    # interrupted rather than rewriting rows at open time, which would break a second
    # process that is recording right now.
    outcome = row["outcome"] if ended_at is not None else "interrupted"
    end = ended_at if ended_at is not None else row["last_activity"]
    duration = max(0.0, end - row["started_at"]) if end is not None else None
    return {
        "id": row["id"],
        "routine": row["routine"],
        "title": row["title"],
        "started_at": row["started_at"],
        "ended_at": ended_at,
        "outcome": outcome,
        "ended_cleanly": ended_at is not None,
        "duration_seconds": duration,
        "sets_done": row["sets_done"],
        "planned_sets": row["planned_sets"],
        "skipped": row["skipped"],
        "paused_seconds": row["paused_seconds"],
        "pain_before": row["pain_before"],
        "pain_after": row["pain_after"],
        "pain_stops": row["pain_stops"],
        "resumed_from": row["resumed_from"],
    }


def _migrate(conn: sqlite3.Connection, path: Path, read_only: bool) -> None:
    """Bring the schema up to SCHEMA_VERSION, in one transaction per open."""
    if read_only:
        version = _schema_version(conn)
        if version < SCHEMA_VERSION:
            raise HistoryUnavailable(
                f"the history file {path} needs upgrading; open it once with write access",
                "read-only",
                path,
            )
    else:
        # IMMEDIATE takes the write lock now, so two processes opening a new file at once
        # cannot both create the tables; it also shows a locked file at open time.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version"
                " (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            version = _schema_version(conn)
            for number, statements in MIGRATIONS:
                if number > version:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                        (number, time.time()),
                    )
            # SQLite opens a file it may not write in read-only mode without a word, and in
            # WAL mode even BEGIN IMMEDIATE succeeds; a real (undone) write finds out now
            # rather than at the first finished set.
            conn.execute("SAVEPOINT probe")
            conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (-1, 0)")
            conn.execute("ROLLBACK TO probe")
            conn.execute("RELEASE probe")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    if version > SCHEMA_VERSION:
        raise HistoryUnavailable(
            f"the history file {path} was written by a newer voicecoach "
            f"(schema {version}; this one knows up to {SCHEMA_VERSION})",
            "newer-schema",
            path,
        )


def _schema_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


class NullHistory:
    """A history that records nothing, used when the real one is unavailable.

    It has History's methods; `reason` says why nothing is recorded, for "I can't record
    this session: <reason>".
    """

    def __init__(self, reason: str, kind: str = "error") -> None:
        self.reason: str | None = reason
        self.kind = kind
        self.path: Path | None = None
        self._ids = itertools.count(1)

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> NullHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_session(
        self,
        routine: str,
        title: str,
        started_at: float,
        resumed_from: int | None = None,
        *,
        planned_sets: int | None = None,
    ) -> int:
        """Return a made-up session id; nothing is stored."""
        return next(self._ids)

    def record_set(self, session_id: int, **fields: Any) -> None:
        """Record nothing."""

    def record_skip(self, session_id: int, **fields: Any) -> None:
        """Record nothing."""

    def record_pause(self, session_id: int, **fields: Any) -> None:
        """Record nothing."""

    def record_pain(self, session_id: int, **fields: Any) -> None:
        """Record nothing."""

    def end_session(self, session_id: int, **fields: Any) -> None:
        """Record nothing."""

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """No sessions."""
        return []

    def session(self, session_id: int) -> dict[str, Any]:
        """No session is known."""
        raise KeyError(session_id)

    def weekly(self, weeks: int = 8, *, now: float | None = None) -> list[dict[str, Any]]:
        """No weeks."""
        return []

    def resume_point(
        self,
        routine: str,
        set_order: Sequence[SetKey] | None = None,
        *,
        skipped_ok: bool = True,
    ) -> ResumePoint | None:
        """Nothing to resume."""
        return None

    def completed_streak(
        self, routine: str, n: int = 2, *, targets: Mapping[str, float] | None = None
    ) -> bool:
        """No streak without a record."""
        return False

    def export_json(self) -> list[dict[str, Any]]:
        """Nothing to export."""
        return []


class SafeHistory:
    """Wraps a History so that a failure never stops a session.

    The first HistoryUnavailable from any call switches it to a NullHistory with that
    reason and calls `on_unavailable(reason)` once, so the runner can say "I can't record
    this session: <reason>" and carry on.  `recording` tells whether it still records.
    """

    def __init__(
        self,
        history: History | NullHistory,
        on_unavailable: Callable[[str], None] | None = None,
    ) -> None:
        self._inner: History | NullHistory = history
        self._on_unavailable = on_unavailable

    @property
    def reason(self) -> str | None:
        """Why nothing is recorded, or None while recording."""
        return self._inner.reason

    @property
    def recording(self) -> bool:
        """True while writes reach the database."""
        return isinstance(self._inner, History)

    def _fail(self, exc: HistoryUnavailable) -> None:
        broken = self._inner
        self._inner = NullHistory(exc.reason, exc.kind)
        if isinstance(broken, History):
            # It is already failing; closing is best effort.
            with contextlib.suppress(sqlite3.Error):
                broken.close()
        if self._on_unavailable is not None:
            self._on_unavailable(exc.reason)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._inner, name)(*args, **kwargs)
        except HistoryUnavailable as exc:
            self._fail(exc)
            return getattr(self._inner, name)(*args, **kwargs)

    def start_session(self, *args: Any, **kwargs: Any) -> int:
        """As History.start_session."""
        return self._call("start_session", *args, **kwargs)

    def record_set(self, *args: Any, **kwargs: Any) -> None:
        """As History.record_set."""
        self._call("record_set", *args, **kwargs)

    def record_skip(self, *args: Any, **kwargs: Any) -> None:
        """As History.record_skip."""
        self._call("record_skip", *args, **kwargs)

    def record_pause(self, *args: Any, **kwargs: Any) -> None:
        """As History.record_pause."""
        self._call("record_pause", *args, **kwargs)

    def record_pain(self, *args: Any, **kwargs: Any) -> None:
        """As History.record_pain."""
        self._call("record_pain", *args, **kwargs)

    def end_session(self, *args: Any, **kwargs: Any) -> None:
        """As History.end_session."""
        self._call("end_session", *args, **kwargs)

    def recent(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """As History.recent."""
        return self._call("recent", *args, **kwargs)

    def session(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """As History.session."""
        return self._call("session", *args, **kwargs)

    def weekly(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """As History.weekly."""
        return self._call("weekly", *args, **kwargs)

    def resume_point(self, *args: Any, **kwargs: Any) -> ResumePoint | None:
        """As History.resume_point."""
        return self._call("resume_point", *args, **kwargs)

    def completed_streak(self, *args: Any, **kwargs: Any) -> bool:
        """As History.completed_streak."""
        return self._call("completed_streak", *args, **kwargs)

    def export_json(self) -> list[dict[str, Any]]:
        """As History.export_json."""
        return self._call("export_json")

    def close(self) -> None:
        """Close the underlying store."""
        # Closing cannot lose anything: every write is committed already.
        with contextlib.suppress(sqlite3.Error):
            self._inner.close()


def open_safe(
    path: Path | str | None = None,
    *,
    timeout: float = 5.0,
    on_unavailable: Callable[[str], None] | None = None,
) -> SafeHistory:
    """Open the history at `path` (default: `default_db_path()`) for a session; never raises
    HistoryUnavailable.  If it cannot be opened, `on_unavailable(reason)` is called at once
    and the result records nothing."""
    try:
        inner: History | NullHistory = History.open(
            default_db_path() if path is None else path, timeout=timeout
        )
    except HistoryUnavailable as exc:
        inner = NullHistory(exc.reason, exc.kind)
        if on_unavailable is not None:
            on_unavailable(exc.reason)
    return SafeHistory(inner, on_unavailable)
