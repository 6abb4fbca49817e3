"""The session log on disk: every session, set, skip, pause and pain check-in, kept in SQLite.

Each write is its own short transaction, committed before the call returns, so a set that
was reported finished survives Ctrl-C, SIGTERM or `kill -9`.  Anything that stops the store
from working (locked, read-only, damaged file, full disk) becomes `HistoryUnavailable` with a
reason a person can read.  A session writes through `DurableHistory` (`open_durable`), which
keeps what the database will not take in a journal (`voicecoach.store.journal`) and writes it in
once the database works again; `NullHistory` records nothing.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from voicecoach import paths
from voicecoach.core.tally import is_done
from voicecoach.store import journal
from voicecoach.store.journal import Op

DB_FILENAME = "history.sqlite3"

log = logging.getLogger(__name__)

SetKey = tuple[int, int, int]
"""A set's place in the plan: (exercise_index, set_no, side_index)."""

OUTCOMES = ("finished", "stopped", "interrupted")
PAIN_WHEN = ("before", "after", "during")
KINDS = ("reps", "hold")
# `tally.is_done` in SQL: a set row counts as a set done when it did something.
DONE_SQL = "done > 0"
# A set's row, one per (session, exercise, round, side): a set done again replaces it.
_SAME_SET_SQL = "session_id = ? AND exercise_index = ? AND set_no = ? AND side_index = ?"

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
MIGRATIONS.append(
    (
        2,
        [
            # A spell when the database could not be written and the session went to the
            # journal: what was wrong, and when its records reached the database.
            """CREATE TABLE incidents (
                id INTEGER PRIMARY KEY,
                session_id INTEGER REFERENCES sessions(id),
                kind TEXT NOT NULL,
                reason TEXT NOT NULL,
                at REAL NOT NULL,
                saved_at REAL NOT NULL,
                records INTEGER NOT NULL
            )""",
        ],
    )
)
MIGRATIONS.append(
    (
        3,
        [
            # What the pain-monitoring rules decided and why (voicecoach.core.pain_rules): a step up
            # offered or held, a step down, a day at reduced targets, an exercise skipped for pain.
            """CREATE TABLE decisions (
                id INTEGER PRIMARY KEY,
                session_id INTEGER NOT NULL REFERENCES sessions(id),
                kind TEXT NOT NULL,
                reason TEXT NOT NULL,
                at REAL NOT NULL
            )""",
            "CREATE INDEX decisions_by_session ON decisions (session_id)",
        ],
    )
)
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


@runtime_checkable
class HistoryStore(Protocol):
    """What a session and the commands need of a history: `History` (the SQLite store),
    `DurableHistory` (a session's writer, with its journal) and `NullHistory` (records nothing)
    all provide it, and code that takes a history takes this."""

    def start_session(self, routine: str, title: str, started_at: float, resumed_from: int | None = None, *,
                      planned_sets: int | None = None) -> int: ...
    def record_set(self, session_id: int, *, exercise: str, exercise_index: int, set_no: int, sets: int,
                   side: str | None, side_index: int, kind: str, done: float, target: float,
                   finished_at: float) -> None: ...
    def record_skip(self, session_id: int, *, exercise: str, exercise_index: int, at: float) -> None: ...
    def record_pause(self, session_id: int, *, at: float, seconds: float) -> None: ...
    def record_pain(self, session_id: int, *, when: str, score: int | None, at: float, note: str = "") -> None: ...
    def record_decision(self, session_id: int, *, kind: str, reason: str, at: float) -> None: ...
    def end_session(self, session_id: int, *, outcome: str, ended_at: float) -> None: ...
    def recent(self, limit: int = 20) -> list[dict[str, Any]]: ...
    def session(self, session_id: int) -> dict[str, Any]: ...
    def weekly(self, weeks: int = 8, *, now: float | None = None) -> list[dict[str, Any]]: ...
    def resume_point(self, routine: str, set_order: Sequence[SetKey] | None = None, *,
                     skipped_ok: bool = True) -> ResumePoint | None: ...
    def completed_streak(self, routine: str, n: int = 2, *,
                         targets: Mapping[str, float] | None = None) -> bool: ...
    def pain_workouts(self, routine: str, n: int = 3) -> list[dict[str, Any]]: ...
    def export_json(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


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
                return cls._open_read_only(path, timeout)
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

    @classmethod
    def _open_read_only(cls, path: Path, timeout: float) -> History:
        """Open for reading: shared (`mode=ro`) first; where that fails (a read-only folder
        without the WAL index, a lock another program holds, a full disk) as an immutable
        file, which reads what is on disk without taking a lock or creating anything."""
        failure: HistoryUnavailable | None = None
        # A URI is the only way to ask SQLite for read-only; as_uri() escapes the path.
        for query in ("?mode=ro", "?immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(
                    path.resolve().as_uri() + query, uri=True, timeout=min(timeout, 1.0),
                    isolation_level=None, check_same_thread=False,
                )
                conn.row_factory = sqlite3.Row
                _migrate(conn, path, True)
                conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
            except sqlite3.Error as exc:
                failure = _unavailable(exc, path, timeout)
            except HistoryUnavailable as exc:
                failure = exc
            else:
                return cls(conn, path, timeout, True)
            if conn is not None:
                conn.close()
            if failure.kind in ("corrupt", "newer-schema", "missing"):
                break
        assert failure is not None
        raise failure

    def set_timeout(self, timeout: float) -> None:
        """How long later writes wait for another program's lock, in seconds."""
        with self._lock:
            self.timeout = timeout
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

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
        """Record one finished set: `done` versus `target` reps ("reps") or seconds ("hold").

        A set is one row: the same set finished again in the session (after "back") replaces it."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        # One statement at a time, each safe on its own: an update of the set's row if it has one.
        updated = self._write(
            f"UPDATE sets SET exercise = ?, sets = ?, side = ?, kind = ?, done = ?, target = ?, finished_at = ?"
            f" WHERE {_SAME_SET_SQL}",
            (exercise, sets, side, kind, float(done), float(target), float(finished_at),
             session_id, exercise_index, set_no, side_index),
        )
        if updated.rowcount:
            return
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

    def record_decision(self, session_id: int, *, kind: str, reason: str, at: float) -> None:
        """Record what the pain rules decided (`kind`, e.g. "step_down") and why, in words."""
        self._write(
            "INSERT INTO decisions (session_id, kind, reason, at) VALUES (?, ?, ?, ?)",
            (session_id, str(kind), str(reason), float(at)),
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

    # ----- the journal ---------------------------------------------------------------------

    def replay(self, ops: Sequence[Op], *, wait: float | None = None,
               saved_at: float | None = None) -> dict[str, int]:
        """Write a journal's records (see `voicecoach.store.journal`) into the database in one
        transaction, leaving out any already there, so replaying twice adds nothing.
        Returns each journal session token's id here.  `wait` overrides how long to wait
        for another program's lock."""
        with self._lock:
            conn = self._conn
            try:
                if wait is not None:
                    conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        ids = _replay(conn, ops, time.time() if saved_at is None else saved_at)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                finally:
                    if wait is not None:
                        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path, self.timeout) from exc
        return ids

    def incidents(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest spells when sessions were kept in the journal, newest first: kind,
        reason, at (when it began), saved_at, records (how many were saved late), session_id."""
        if not self._has_table("incidents"):
            return []  # a file from before incidents were kept, read without upgrading it
        rows = self._read("SELECT * FROM incidents ORDER BY at DESC, id DESC LIMIT ?", (int(limit),))
        return [dict(r) for r in rows]

    # ----- reading -------------------------------------------------------------------------

    def _summaries(self, where: str = "", params: Sequence[Any] = (), limit: int = -1) -> list[
        dict[str, Any]
    ]:
        """Session rows with their per-session totals, newest first."""
        rows = self._read(
            f"""SELECT s.*,
                (SELECT COUNT(*) FROM (SELECT DISTINCT exercise_index, set_no, side_index
                    FROM sets WHERE session_id = s.id AND {DONE_SQL})) AS sets_done,
                (SELECT COUNT(*) FROM skips WHERE session_id = s.id) AS skipped,
                (SELECT COALESCE(SUM(seconds), 0) FROM pauses WHERE session_id = s.id)
                    AS paused_seconds,
                (SELECT score FROM pains WHERE session_id = s.id AND phase = 'before'
                    ORDER BY at DESC, id DESC LIMIT 1) AS pain_before,
                (SELECT score FROM pains WHERE session_id = s.id AND phase = 'after'
                    ORDER BY at DESC, id DESC LIMIT 1) AS pain_after,
                (SELECT COUNT(*) FROM pains WHERE session_id = s.id AND phase = 'during')
                    AS pain_stops,
                (SELECT MAX(score) FROM pains WHERE session_id = s.id AND phase = 'during')
                    AS pain_worst_during,
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
        paused_seconds, pain_before, pain_after, pain_stops, pain_worst_during, resumed_from."""
        return self._summaries(limit=max(0, int(limit)))

    def session(self, session_id: int) -> dict[str, Any]:
        """One session with everything recorded in it: the `recent` fields plus lists
        "sets", "skips", "pauses", "pains" and "decisions", each in time order.  KeyError if unknown."""
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
        result["decisions"] = self._decisions(session_id)
        return result

    def _decisions(self, session_id: int) -> list[dict[str, Any]]:
        if not self._has_table("decisions"):
            return []  # a file from before decisions were kept, read without upgrading it
        return [
            {"kind": r["kind"], "reason": r["reason"], "at": r["at"]}
            for r in self._read("SELECT * FROM decisions WHERE session_id = ? ORDER BY at, id", (session_id,))
        ]

    def _has_table(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))

    def pain_workouts(self, routine: str, n: int = 3) -> list[dict[str, Any]]:
        """The pain scores of the last `n` workouts of `routine` (a session and the sessions
        that resumed it), newest first: before (the first session's), after (the last one's)
        and worst_during (the highest score given after "pain"), each None when not given.
        Ask before `start_session` of the new session."""
        out = []
        for chain in self._chains(routine)[: max(0, int(n))]:
            during = [s["pain_worst_during"] for s in chain if s["pain_worst_during"] is not None]
            out.append({
                "before": next((s["pain_before"] for s in chain if s["pain_before"] is not None), None),
                "after": next((s["pain_after"] for s in reversed(chain) if s["pain_after"] is not None), None),
                "worst_during": max(during) if during else None,
            })
        return out

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
        latest = {(r["exercise_index"], r["set_no"], r["side_index"]): r for r in self._set_rows(ids)}
        finished = frozenset(key for key, r in latest.items() if is_done(dict(r)))
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


def _replay(conn: sqlite3.Connection, ops: Sequence[Op], saved_at: float) -> dict[str, int]:
    """The body of `History.replay`, inside its transaction."""
    ids: dict[str, int] = {}
    faults: list[Op] = []
    saved = 0

    def exists(sql: str, params: Sequence[Any]) -> bool:
        return conn.execute(sql, params).fetchone() is not None

    for op in ops:
        kind, token = op.get("op"), op.get("session")
        try:
            if kind == "fault":
                faults.append(op)
                continue
            if kind == "start":
                key = (op["routine"], op["title"], float(op["started_at"]))
                row = conn.execute(
                    "SELECT id FROM sessions WHERE routine = ? AND title = ? AND started_at = ?", key
                ).fetchone()
                if row is not None:
                    ids[token] = int(row[0])
                    continue
                resumed = op.get("resumed_from")
                if resumed is not None and not exists("SELECT 1 FROM sessions WHERE id = ?", (resumed,)):
                    resumed = None  # that session was in a file that is gone
                cur = conn.execute(
                    "INSERT INTO sessions (routine, title, started_at, resumed_from, planned_sets)"
                    " VALUES (?, ?, ?, ?, ?)", (*key, resumed, op.get("planned_sets")))
                ids[token] = int(cur.lastrowid or 0)
                saved += 1
                continue
            sid = ids.get(token)
            if sid is None:
                continue  # its session's start is not in this journal: nothing to attach it to
            if kind == "set":
                key = (sid, op["exercise_index"], op["set_no"], op["side_index"], float(op["finished_at"]))
                if exists(f"SELECT 1 FROM sets WHERE {_SAME_SET_SQL} AND finished_at >= ?", key):
                    continue  # this record, or a later one of the same set, is there already
                conn.execute(f"DELETE FROM sets WHERE {_SAME_SET_SQL} AND finished_at < ?", key)
                conn.execute(
                    "INSERT INTO sets (session_id, exercise, exercise_index, set_no, sets, side,"
                    " side_index, kind, done, target, finished_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sid, op["exercise"], op["exercise_index"], op["set_no"], op["sets"], op.get("side"),
                     op["side_index"], op["kind"], float(op["done"]), float(op["target"]), key[-1]))
            elif kind == "skip":
                key = (sid, op["exercise_index"], float(op["at"]))
                if exists("SELECT 1 FROM skips WHERE session_id = ? AND exercise_index = ? AND at = ?", key):
                    continue
                conn.execute("INSERT INTO skips (session_id, exercise, exercise_index, at)"
                             " VALUES (?, ?, ?, ?)", (sid, op["exercise"], key[1], key[2]))
            elif kind == "pause":
                key = (sid, float(op["at"]))
                if exists("SELECT 1 FROM pauses WHERE session_id = ? AND at = ?", key):
                    continue
                conn.execute("INSERT INTO pauses (session_id, at, seconds) VALUES (?, ?, ?)",
                             (*key, float(op["seconds"])))
            elif kind == "pain":
                key = (sid, op["when"], float(op["at"]))
                if exists("SELECT 1 FROM pains WHERE session_id = ? AND phase = ? AND at = ?", key):
                    continue
                conn.execute("INSERT INTO pains (session_id, phase, score, at, note) VALUES (?, ?, ?, ?, ?)",
                             (*key, op.get("score"), op.get("note", "")))
            elif kind == "decision":
                key = (sid, op["kind"], float(op["at"]))
                if exists("SELECT 1 FROM decisions WHERE session_id = ? AND kind = ? AND at = ?", key):
                    continue
                conn.execute("INSERT INTO decisions (session_id, kind, reason, at) VALUES (?, ?, ?, ?)",
                             (sid, key[1], str(op.get("reason", "")), key[2]))
            elif kind == "end":
                cur = conn.execute(
                    "UPDATE sessions SET outcome = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL",
                    (op["outcome"], float(op["ended_at"]), sid))
                saved += cur.rowcount > 0
                continue
            else:
                continue
            saved += 1
        except (KeyError, TypeError, ValueError, sqlite3.IntegrityError):
            continue  # a damaged or hand-edited line: keep the rest
    for op in faults:
        sid = ids.get(op.get("session"))
        at = float(op.get("at") or saved_at)
        if exists("SELECT 1 FROM incidents WHERE session_id IS ? AND at = ?", (sid, at)):
            continue
        conn.execute("INSERT INTO incidents (session_id, kind, reason, at, saved_at, records)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     (sid, str(op.get("kind", "error")), str(op.get("reason", "")), at, saved_at, saved))
    return ids


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
        "pain_worst_during": row["pain_worst_during"],
        "resumed_from": row["resumed_from"],
    }


def _migrate(conn: sqlite3.Connection, path: Path, read_only: bool) -> None:
    """Bring the schema up to SCHEMA_VERSION, in one transaction per open."""
    if read_only:
        version = _schema_version(conn)
        if version < 1:
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

    def record_decision(self, session_id: int, **fields: Any) -> None:
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

    def pain_workouts(self, routine: str, n: int = 3) -> list[dict[str, Any]]:
        """No workouts."""
        return []

    def export_json(self) -> list[dict[str, Any]]:
        """Nothing to export."""
        return []


SQLITE_HEADER = b"SQLite format 3\x00"
RETRY_SECONDS = 1.0  # how often a session in the journal tries the database again
RETRY_WAIT = 0.1  # how long such a try waits for another program's lock


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (device, inode); None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _check_header(path: Path) -> None:
    """A file overwritten under an open connection is only found out here: SQLite would
    otherwise go on appending to its write-ahead log beside a file that is garbage."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return  # whatever is wrong, the write itself will tell
    if head and head != SQLITE_HEADER:
        raise HistoryUnavailable(
            f"the history file {path} is damaged or is not a voicecoach history file "
            "(move it aside and a new one will be started)", "corrupt", path)


class DurableHistory:
    """The history as a session writes it: nothing it is given is lost, and it never raises
    HistoryUnavailable.

    Each write goes to the database; while that fails (locked, full, read-only, damaged,
    replaced), it goes to the journal (`voicecoach.store.journal`) instead, with everything this
    store wrote before, and the database is tried again at most every RETRY_SECONDS.  Once a
    try succeeds, the journal is written into the database and deleted.  A journal left at
    the end is replayed by the next `open_durable`.  Each write returns when its record is
    committed or synced to the journal.  `on_trouble(reason, kept)` is called once, at the
    first failure (`kept`: the journal took the records); `on_saved(records)` when a
    journal reaches the database.  Reads answer from the database, or as NullHistory while
    it is unavailable.
    """

    def __init__(
        self,
        path: Path,
        history: History | None,
        fault: HistoryUnavailable | None = None,
        *,
        timeout: float = 5.0,
        on_trouble: Callable[[str, bool], None] | None = None,
        on_saved: Callable[[int], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._db = history
        self._fault = fault if history is None else None
        self._timeout = timeout
        self.on_trouble = on_trouble
        self.on_saved = on_saved
        self._told = fault is not None
        self._identity = _identity(self.path) if history is not None else None
        self._ops: list[Op] = []
        self._tokens: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._handles = itertools.count(1)
        self._journal: journal.Journal | None = None
        self._next_try = 0.0
        self._fault_op: Op = {}
        self._lock = threading.RLock()
        self.lost = 0
        """How many records neither the database nor any journal folder would take."""

    # ----- state ---------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        """True while writes reach the database."""
        return self._fault is None and self._db is not None

    @property
    def reason(self) -> str | None:
        """Why writes go to the journal, or None while they reach the database."""
        return None if self._fault is None else self._fault.reason

    @property
    def journal_path(self) -> Path | None:
        """The journal being written, if any."""
        return None if self._journal is None else self._journal.path

    # ----- writing -------------------------------------------------------------------------

    def start_session(self, routine: str, title: str, started_at: float,
                      resumed_from: int | None = None, *, planned_sets: int | None = None) -> int:
        """As History.start_session; the id is this store's own (the database's may change
        when the file is replaced)."""
        handle = next(self._handles)
        token = uuid.uuid4().hex
        self._tokens[handle] = token
        self._write({"op": "start", "session": token, "routine": routine, "title": title,
                     "started_at": float(started_at), "resumed_from": resumed_from,
                     "planned_sets": planned_sets})
        return handle

    def record_set(self, session_id: int, **fields: Any) -> None:
        """As History.record_set."""
        if fields.get("kind") not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {fields.get('kind')!r}")
        self._write({"op": "set", "session": self._token(session_id), **fields})

    def record_skip(self, session_id: int, **fields: Any) -> None:
        """As History.record_skip."""
        self._write({"op": "skip", "session": self._token(session_id), **fields})

    def record_pause(self, session_id: int, **fields: Any) -> None:
        """As History.record_pause."""
        self._write({"op": "pause", "session": self._token(session_id), **fields})

    def record_pain(self, session_id: int, **fields: Any) -> None:
        """As History.record_pain."""
        if fields.get("when") not in PAIN_WHEN:
            raise ValueError(f"when must be one of {PAIN_WHEN}, not {fields.get('when')!r}")
        self._write({"op": "pain", "session": self._token(session_id), **fields})

    def record_decision(self, session_id: int, **fields: Any) -> None:
        """As History.record_decision."""
        self._write({"op": "decision", "session": self._token(session_id), **fields})

    def end_session(self, session_id: int, **fields: Any) -> None:
        """As History.end_session (the first end recorded wins)."""
        if fields.get("outcome") not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {fields.get('outcome')!r}")
        self._write({"op": "end", "session": self._token(session_id), **fields})

    def _token(self, handle: int) -> str:
        try:
            return self._tokens[handle]
        except KeyError:
            raise ValueError(f"no session {handle} in the history") from None

    def _write(self, op: Op) -> None:
        with self._lock:
            self._ops.append(op)
            if self._fault is None and self._db is not None:
                try:
                    _check_header(self.path)
                    if _identity(self.path) != self._identity:
                        raise HistoryUnavailable(
                            f"the history file {self.path} was moved, deleted or replaced",
                            "replaced", self.path)
                    self._apply(self._db, op)
                    return
                except HistoryUnavailable as exc:
                    self._fault = exc
            assert self._fault is not None
            if self._journal is None:
                self._fault_op = {"op": "fault", "session": op["session"], "kind": self._fault.kind,
                                  "reason": self._fault.reason, "at": time.time()}
                # A new journal holds everything, so it alone can rebuild the session.
                self._to_journal([self._fault_op, *self._ops])
            else:
                self._to_journal([op])
                self._try_database()

    def _apply(self, db: History, op: Op) -> None:
        fields = {k: v for k, v in op.items() if k not in ("op", "session")}
        kind, token = op["op"], op["session"]
        if kind == "start":
            self._ids[token] = db.start_session(**fields)
            return
        sid = self._ids[token]
        method = {"set": db.record_set, "skip": db.record_skip, "pause": db.record_pause,
                  "pain": db.record_pain, "decision": db.record_decision, "end": db.end_session}[kind]
        method(sid, **fields)

    def _to_journal(self, ops: list[Op]) -> None:
        if self._journal is None:
            self._journal = journal.Journal(self.path)
        try:
            self._journal.write(ops)
            kept = True
        except OSError as exc:
            self.lost += sum(op["op"] != "fault" for op in ops)
            log.warning("the history journal could not be written either: %s", exc)
            kept = False
        if not self._told:
            self._told = True
            if self.on_trouble is not None:
                assert self._fault is not None
                self.on_trouble(self._fault.reason, kept)

    def _try_database(self, wait: float = RETRY_WAIT, *, now: bool = False) -> bool:
        """Write the journal into the database if it works again; True when it did."""
        if not now and time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + RETRY_SECONDS
        assert self._journal is not None
        try:
            _check_header(self.path)
            if self._db is None or _identity(self.path) != self._identity:
                if self._db is not None:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.close()
                    self._db = None
                self._db = History.open(self.path, timeout=wait)
                self._db.set_timeout(self._timeout)  # the short wait was for this try only
                self._identity = _identity(self.path)
            # Everything this store was given, not only what is in the journal: records
            # committed to a file since replaced must reach the new one too.
            self._ids = self._db.replay([self._fault_op, *self._ops], wait=wait)
        except HistoryUnavailable:
            return False
        records = sum(op["op"] not in ("fault", "start") for op in self._ops)
        self._journal.remove()
        self._journal = None
        self._fault = None
        if self.on_saved is not None:
            self.on_saved(records)
        return True

    # ----- reading -------------------------------------------------------------------------

    def _read(self, name: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._fault is not None or self._db is None:
                return default
            try:
                return getattr(self._db, name)(*args, **kwargs)
            except HistoryUnavailable:
                return default

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """As History.recent."""
        return self._read("recent", [], limit)

    def session(self, session_id: int) -> dict[str, Any]:
        """As History.session (by the database's id)."""
        found = self._read("session", None, session_id)
        if found is None:
            raise KeyError(session_id)
        return found

    def weekly(self, weeks: int = 8, *, now: float | None = None) -> list[dict[str, Any]]:
        """As History.weekly."""
        return self._read("weekly", [], weeks, now=now)

    def resume_point(self, routine: str, set_order: Sequence[SetKey] | None = None, *,
                     skipped_ok: bool = True) -> ResumePoint | None:
        """As History.resume_point."""
        return self._read("resume_point", None, routine, set_order, skipped_ok=skipped_ok)

    def completed_streak(self, routine: str, n: int = 2, *,
                         targets: Mapping[str, float] | None = None) -> bool:
        """As History.completed_streak."""
        return self._read("completed_streak", False, routine, n, targets=targets)

    def export_json(self) -> list[dict[str, Any]]:
        """As History.export_json."""
        return self._read("export_json", [])

    def pain_workouts(self, routine: str, n: int = 3) -> list[dict[str, Any]]:
        """As History.pain_workouts."""
        return self._read("pain_workouts", [], routine, n)

    def close(self) -> None:
        """Try the database once more, then close; a journal still waiting is left for the
        next start."""
        with self._lock:
            if self._journal is not None:
                self._try_database(wait=min(self._timeout, 1.0), now=True)
            if self._journal is not None:
                self._journal.close()
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()

    def __enter__(self) -> DurableHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay_pending(db: History) -> int:
    """Write every journal left for `db` by earlier sessions into it, deleting each once it
    is in; a journal a running session still writes is left alone.  Returns how many were
    written.  HistoryUnavailable when the database will not take them."""
    done = 0
    for path in journal.pending(db.path):
        with journal.claimed(path) as mine:
            if not mine:
                continue
            try:
                ops = journal.read_ops(path)
            except OSError:
                continue
            db.replay(ops)
            with contextlib.suppress(OSError):
                path.unlink()
            done += 1
    return done


def open_durable(
    path: Path | str | None = None,
    *,
    timeout: float = 5.0,
    on_trouble: Callable[[str, bool], None] | None = None,
    on_saved: Callable[[int], None] | None = None,
) -> DurableHistory:
    """Open the history at `path` (default: `default_db_path()`) for a session, first writing
    in any journal an earlier session left.  Never raises HistoryUnavailable: when the file
    cannot be used, `on_trouble(reason, True)` is called at once and the session is kept
    in a journal (see DurableHistory)."""
    path = Path(default_db_path() if path is None else path).expanduser()
    fault: HistoryUnavailable | None = None
    db: History | None = None
    try:
        db = History.open(path, timeout=timeout)
        if replay_pending(db) and on_saved is not None:
            on_saved(0)
    except HistoryUnavailable as exc:
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
            db = None
        fault = exc
        if on_trouble is not None:
            on_trouble(exc.reason, True)
    return DurableHistory(path, db, fault, timeout=timeout, on_trouble=on_trouble, on_saved=on_saved)
