"""Specifications for the history store and the `voicecoach history` report: every method,
resume and progression rules, and the faults a home computer throws at a SQLite file."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from history_cli import report

from voicecoach.app import history_report
from voicecoach.store import journal
from voicecoach.store.history import (
    DB_FILENAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    DurableHistory,
    History,
    HistoryUnavailable,
    NullHistory,
    ResumePoint,
    _unavailable,
    default_data_dir,
    default_db_path,
    open_durable,
    replay_pending,
)

REPO = Path(__file__).resolve().parents[1]
# Wednesday 6 January 2021, noon UTC: ISO week 2021-W01, whose Sunday before is 2020-W53.
NOW = datetime(2021, 1, 6, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch):
    """Weeks and dates are local time; pin local time to UTC so tests mean the same anywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / DB_FILENAME


@pytest.fixture
def h(db: Path):
    with History.open(db, timeout=1.0) as store:
        yield store


def add_set(store, sid, ex, set_no, side_index=0, *, done=10.0, target=10.0, at=NOW,
            exercise=None, kind="reps", sets=2):
    store.record_set(
        sid, exercise=exercise or f"Exercise {ex}", exercise_index=ex, set_no=set_no, sets=sets,
        side=None if side_index == 0 else "right", side_index=side_index, kind=kind,
        done=done, target=target, finished_at=at,
    )


PLAN = [(0, 1, 0), (0, 2, 0), (1, 1, 0), (1, 1, 1), (1, 2, 0), (1, 2, 1), (2, 1, 0)]


def full_session(store, routine="hips", start=NOW, *, target=10.0, outcome="finished"):
    sid = store.start_session(routine, routine.title(), start, planned_sets=len(PLAN))
    for i, (ex, set_no, side) in enumerate(PLAN):
        add_set(store, sid, ex, set_no, side, target=target, done=target, at=start + 60 * i)
    store.end_session(sid, outcome=outcome, ended_at=start + 600)
    return sid


# ----- where the data lives ------------------------------------------------------------------


def test_data_dir_prefers_voicecoach_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("VOICECOACH_DATA_DIR", str(tmp_path / "vc"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "vc"
    monkeypatch.delenv("VOICECOACH_DATA_DIR")
    assert default_data_dir() == tmp_path / "xdg" / "voicecoach"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "voicecoach"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "voicecoach" / DB_FILENAME


def test_open_creates_folders_wal_mode_and_schema_version(db):
    with History.open(db):
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "sets", "skips", "pauses", "pains", "schema_version"} <= tables
    conn.close()
    with History.open(db):  # reopening applies nothing twice
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


# ----- recording and reading back ------------------------------------------------------------


def test_every_write_is_visible_to_another_connection_at_once(h, db):
    sid = h.start_session("hips", "Hips for knees", NOW)
    add_set(h, sid, 0, 1)
    other = sqlite3.connect(db)
    assert other.execute("SELECT COUNT(*) FROM sets").fetchone()[0] == 1
    other.close()


def test_session_returns_sets_skips_pauses_and_pains_in_time_order(h):
    sid = h.start_session("hips", "Hips for knees", NOW, planned_sets=4)
    h.record_pain(sid, when="before", score=3, at=NOW + 1)
    add_set(h, sid, 0, 1, at=NOW + 60, done=12, target=12)
    add_set(h, sid, 0, 1, side_index=1, at=NOW + 120, kind="hold", done=25.5, target=30)
    h.record_pause(sid, at=NOW + 130, seconds=40)
    h.record_pain(sid, when="during", score=None, at=NOW + 200, note="it hurts")
    h.record_skip(sid, exercise="Exercise 1", exercise_index=1, at=NOW + 210)
    h.record_pain(sid, when="after", score=5, at=NOW + 300)
    h.end_session(sid, outcome="finished", ended_at=NOW + 310)

    s = h.session(sid)
    assert (s["routine"], s["title"], s["outcome"], s["ended_cleanly"]) == (
        "hips", "Hips for knees", "finished", True)
    assert s["duration_seconds"] == pytest.approx(310)
    assert (s["sets_done"], s["planned_sets"], s["skipped"]) == (2, 4, 1)
    assert (s["pain_before"], s["pain_after"], s["pain_stops"]) == (3, 5, 1)
    assert s["paused_seconds"] == 40
    assert [(x["side_index"], x["kind"], x["done"], x["target"]) for x in s["sets"]] == [
        (0, "reps", 12, 12), (1, "hold", 25.5, 30)]
    assert s["sets"][1]["side"] == "right"
    assert s["skips"] == [{"exercise": "Exercise 1", "exercise_index": 1, "at": NOW + 210}]
    assert s["pauses"] == [{"at": NOW + 130, "seconds": 40}]
    assert [(p["when"], p["score"], p["note"]) for p in s["pains"]] == [
        ("before", 3, ""), ("during", None, "it hurts"), ("after", 5, "")]


def test_recent_lists_newest_first_and_derives_interrupted_from_a_missing_end(h):
    first = full_session(h, start=NOW - 2 * DAY)
    second = h.start_session("hips", "Hips", NOW - DAY)
    add_set(h, second, 0, 1, at=NOW - DAY + 90)
    third = h.start_session("quads", "Quads", NOW)
    h.end_session(third, outcome="stopped", ended_at=NOW + 30)

    rows = h.recent()
    assert [r["id"] for r in rows] == [third, second, first]
    assert [r["outcome"] for r in rows] == ["stopped", "interrupted", "finished"]
    assert rows[1]["ended_cleanly"] is False
    # A killed session lasts until the last thing it recorded.
    assert rows[1]["duration_seconds"] == pytest.approx(90)
    assert [r["id"] for r in h.recent(limit=1)] == [third]


def test_end_session_first_end_wins(h):
    sid = h.start_session("hips", "Hips", NOW)
    h.end_session(sid, outcome="finished", ended_at=NOW + 10)
    h.end_session(sid, outcome="interrupted", ended_at=NOW + 20)  # a late clean-up path
    assert (h.session(sid)["outcome"], h.session(sid)["ended_at"]) == ("finished", NOW + 10)


def test_bad_arguments_are_value_errors_not_unavailable(h):
    sid = h.start_session("hips", "Hips", NOW)
    with pytest.raises(ValueError, match="0 to 10"):
        h.record_pain(sid, when="before", score=11, at=NOW)
    with pytest.raises(ValueError, match="when"):
        h.record_pain(sid, when="later", score=1, at=NOW)
    with pytest.raises(ValueError, match="kind"):
        add_set(h, sid, 0, 1, kind="laps")
    with pytest.raises(ValueError, match="outcome"):
        h.end_session(sid, outcome="done", ended_at=NOW)
    with pytest.raises(ValueError):
        add_set(h, 999, 0, 1)
    with pytest.raises(ValueError):
        h.end_session(999, outcome="finished", ended_at=NOW)
    with pytest.raises(ValueError):
        h.start_session("hips", "Hips", NOW, resumed_from=999)
    with pytest.raises(KeyError):
        h.session(999)


def test_export_json_holds_everything_and_round_trips(h):
    sid = full_session(h)
    h.record_pain(sid, when="after", score=2, at=NOW + 601)
    data = json.loads(json.dumps(h.export_json()))
    assert len(data) == 1
    assert data[0]["id"] == sid and len(data[0]["sets"]) == len(PLAN)
    assert data[0]["started"] == "2021-01-06T12:00:00+00:00"
    assert data[0]["pains"][0]["score"] == 2


# ----- weekly adherence ----------------------------------------------------------------------


def test_weekly_counts_sessions_per_iso_week_per_routine_with_empty_weeks(h):
    full_session(h, "hips", NOW)  # 2021-W01
    full_session(h, "hips", NOW - 3 * DAY)  # Sunday 3 January: 2020-W53
    interrupted = h.start_session("quads", "Quads", NOW - 3 * DAY)
    add_set(h, interrupted, 0, 1, at=NOW - 3 * DAY + 60)
    full_session(h, "hips", NOW - 30 * DAY)  # outside a three-week window

    rows = h.weekly(3, now=NOW)
    table = {(r["week"], r["routine"]): (r["sessions"], r["finished"]) for r in rows}
    assert table == {
        ("2020-W52", "hips"): (0, 0), ("2020-W52", "quads"): (0, 0),
        ("2020-W53", "hips"): (1, 1), ("2020-W53", "quads"): (1, 0),
        ("2021-W01", "hips"): (1, 1), ("2021-W01", "quads"): (0, 0),
    }
    assert [r["week_start"] for r in rows][::2] == ["2020-12-21", "2020-12-28", "2021-01-04"]
    assert h.weekly(3, now=NOW + 100 * DAY) == []


def test_weekly_counts_a_resumed_session_with_the_one_it_continues(h):
    first = h.start_session("hips", "Hips", NOW)
    add_set(h, first, 0, 1)
    second = h.start_session("hips", "Hips", NOW + 3600, resumed_from=first)
    add_set(h, second, 0, 2, at=NOW + 3660)
    h.end_session(second, outcome="finished", ended_at=NOW + 3700)
    (row,) = h.weekly(1, now=NOW)
    assert (row["sessions"], row["finished"], row["sets_done"]) == (1, 1, 2)


# ----- resume --------------------------------------------------------------------------------


def test_resume_point_is_none_without_sessions_or_after_a_clean_end(h):
    assert h.resume_point("hips", PLAN) is None
    full_session(h, outcome="finished")
    assert h.resume_point("hips", PLAN) is None
    sid = h.start_session("hips", "Hips", NOW + DAY)
    add_set(h, sid, 0, 1)
    h.end_session(sid, outcome="stopped", ended_at=NOW + DAY + 60)
    assert h.resume_point("hips", PLAN) is None


def test_resume_point_of_a_killed_session_is_the_first_unfinished_set(h):
    sid = h.start_session("hips", "Hips", NOW)
    for key in PLAN[:3]:
        add_set(h, sid, *key)
    point = h.resume_point("hips", PLAN)
    assert isinstance(point, ResumePoint)
    assert (point.session_id, point.next_set, point.sets_done) == (sid, (1, 1, 1), 3)
    # Recorded out of order (the user went back): the first gap in plan order wins.
    add_set(h, sid, 2, 1)
    assert h.resume_point("hips", PLAN).next_set == (1, 1, 1)


def test_resume_point_after_an_explicit_interrupted_end(h):
    sid = h.start_session("hips", "Hips", NOW)
    add_set(h, sid, 0, 1)
    h.end_session(sid, outcome="interrupted", ended_at=NOW + 60)
    assert h.resume_point("hips", PLAN).next_set == (0, 2, 0)


def test_resume_point_passes_over_skipped_exercises_unless_asked_not_to(h):
    sid = h.start_session("hips", "Hips", NOW)
    add_set(h, sid, 0, 1)
    add_set(h, sid, 0, 2)
    h.record_skip(sid, exercise="Exercise 1", exercise_index=1, at=NOW + 60)
    assert h.resume_point("hips", PLAN).next_set == (2, 1, 0)
    assert h.resume_point("hips", PLAN, skipped_ok=False).next_set == (1, 1, 0)
    assert h.resume_point("hips", PLAN).skipped_exercises == frozenset({1})


def test_resume_point_follows_a_chain_of_resumed_sessions(h):
    first = h.start_session("hips", "Hips", NOW)
    add_set(h, first, 0, 1)
    add_set(h, first, 0, 2)
    second = h.start_session("hips", "Hips", NOW + 600, resumed_from=first)
    add_set(h, second, 1, 1, 0)
    point = h.resume_point("hips", PLAN)
    assert (point.session_id, point.next_set, point.started_at) == (second, (1, 1, 1), NOW)
    # Killed again before doing anything: still points at the first gap of the chain.
    third = h.start_session("hips", "Hips", NOW + 900, resumed_from=second)
    assert h.resume_point("hips", PLAN).session_id == third
    assert h.resume_point("hips", PLAN).next_set == (1, 1, 1)


def test_resume_point_is_none_when_nothing_or_everything_was_done(h):
    h.start_session("hips", "Hips", NOW)  # killed during the introduction
    assert h.resume_point("hips", PLAN) is None
    sid = h.start_session("hips", "Hips", NOW + 60)
    for key in PLAN:
        add_set(h, sid, *key)
    assert h.resume_point("hips", PLAN) is None  # killed while saying goodbye


def test_resume_point_without_a_plan_reports_what_was_finished(h):
    sid = h.start_session("hips", "Hips", NOW)
    add_set(h, sid, 0, 1)
    point = h.resume_point("hips")
    assert point.next_set is None and point.finished == frozenset({(0, 1, 0)})


def test_resume_point_looks_only_at_the_latest_session_of_that_routine(h):
    old = h.start_session("hips", "Hips", NOW)
    add_set(h, old, 0, 1)
    full_session(h, "hips", NOW + DAY)
    other = h.start_session("quads", "Quads", NOW + 2 * DAY)
    add_set(h, other, 0, 1)
    assert h.resume_point("hips", PLAN) is None
    assert h.resume_point("quads", PLAN).session_id == other


# ----- progression ---------------------------------------------------------------------------


def test_completed_streak_needs_n_complete_sessions_at_target(h):
    assert not h.completed_streak("hips")
    full_session(h, start=NOW)
    assert not h.completed_streak("hips")
    full_session(h, start=NOW + DAY)
    assert h.completed_streak("hips")
    assert h.completed_streak("hips", targets={f"Exercise {i}": 10.0 for i in range(3)})
    # Sets done at last week's lower target do not earn another step.
    assert not h.completed_streak("hips", targets={f"Exercise {i}": 11.0 for i in range(3)})
    assert not h.completed_streak("hips", n=3)


@pytest.mark.parametrize("spoil", ["short", "skip", "stopped", "missing", "pain", "killed"])
def test_completed_streak_is_broken_by_any_shortfall(h, spoil):
    full_session(h, start=NOW)
    sid = h.start_session("hips", "Hips", NOW + DAY, planned_sets=len(PLAN))
    plan = PLAN[:-1] if spoil == "missing" else PLAN
    for key in plan:
        add_set(h, sid, *key, done=8 if spoil == "short" and key == PLAN[2] else 10)
    if spoil == "skip":
        h.record_skip(sid, exercise="Exercise 2", exercise_index=2, at=NOW + DAY + 500)
    if spoil == "pain":
        h.record_pain(sid, when="during", score=6, at=NOW + DAY + 500)
    if spoil != "killed":
        outcome = "stopped" if spoil == "stopped" else "finished"
        h.end_session(sid, outcome=outcome, ended_at=NOW + DAY + 600)
    assert not h.completed_streak("hips")


def test_completed_streak_counts_a_redone_set_and_a_resumed_finish(h):
    full_session(h, start=NOW)
    first = h.start_session("hips", "Hips", NOW + DAY, planned_sets=len(PLAN))
    add_set(h, first, *PLAN[0], done=7)
    add_set(h, first, *PLAN[0], done=10, at=NOW + DAY + 30)  # went back and did it again
    rest = h.start_session("hips", "Hips", NOW + DAY + 99, resumed_from=first)
    for key in PLAN[1:]:
        add_set(h, rest, *key, at=NOW + DAY + 200)
    h.end_session(rest, outcome="finished", ended_at=NOW + DAY + 900)
    assert h.completed_streak("hips")


# ----- faults --------------------------------------------------------------------------------

CHILD = """
import sys, time
from voicecoach.store.history import History
h = History.open(sys.argv[1])
sid = h.start_session("loop", "Loop", time.time())
print("session", sid, flush=True)
i = 0
while True:
    i += 1
    h.record_set(sid, exercise="Lift", exercise_index=i // 3, set_no=i % 3 + 1, sets=3,
                 side=None, side_index=0, kind="reps", done=i, target=10,
                 finished_at=time.time())
    print("set", sid, i, flush=True)
"""


@pytest.mark.slow  # a process killed on the real clock
def test_every_set_printed_before_kill_9_is_in_the_database(db):
    rng = random.Random(4)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reported: dict[int, set[int]] = {}
    for _ in range(20):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=env,
        )
        assert child.stdout is not None
        wanted = rng.randint(0, 30)
        lines: list[str] = []
        while sum(x.startswith("set") for x in lines) < wanted:
            line = child.stdout.readline()
            assert line, "the child stopped before it was killed"
            lines.append(line)
        time.sleep(rng.uniform(0, 0.01))  # land somewhere inside the next write
        child.send_signal(signal.SIGKILL)
        # Read the rest through the same buffered stream: lines it already holds count too.
        lines += child.stdout.read().splitlines(keepends=True)
        child.stdout.close()
        assert child.wait(timeout=10) == -signal.SIGKILL
        # Each line was printed after its commit returned; a cut-off last line does not count.
        for line in lines:
            words = line.split()
            if not line.endswith("\n"):
                continue
            if words[0] == "session":
                reported.setdefault(int(words[1]), set())
            elif words[0] == "set":
                reported[int(words[1])].add(int(words[2]))

    # A kill during start-up may come before the session exists; that is a case worth having.
    assert len(reported) >= 10 and sum(map(len, reported.values())) > 20
    with History.open(db) as store:
        for sid, printed in reported.items():
            stored = {int(s["done"]) for s in store.session(sid)["sets"]}
            assert printed <= stored, f"session {sid} lost {sorted(printed - stored)}"
        # None of them recorded an end, so every one reads as interrupted.
        assert {r["outcome"] for r in store.recent(limit=100)} == {"interrupted"}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def hold_write_lock(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_locked_file_is_unavailable_with_a_reason_within_the_timeout(db):
    with History.open(db):
        pass
    holder = hold_write_lock(db)
    try:
        started = time.monotonic()
        with pytest.raises(HistoryUnavailable) as caught:
            History.open(db, timeout=0.2)
        assert time.monotonic() - started < 2
        assert caught.value.kind == "locked"
        assert "locked by another program" in caught.value.reason
    finally:
        holder.close()


def test_a_write_waits_for_a_brief_lock_then_gives_up_on_a_long_one(db):
    store = History.open(db, timeout=3.0)
    sid = store.start_session("hips", "Hips", NOW)
    holder = hold_write_lock(db)
    threading.Timer(0.2, holder.rollback).start()
    add_set(store, sid, 0, 1)  # waited for the brief lock
    assert store.session(sid)["sets_done"] == 1
    holder.close()

    store.timeout = 0.2
    store._conn.execute("PRAGMA busy_timeout = 200")
    holder = hold_write_lock(db)
    try:
        with pytest.raises(HistoryUnavailable, match="locked"):
            add_set(store, sid, 0, 2)
    finally:
        holder.close()
        store.close()


def test_a_read_only_database_cannot_be_written(h, db):
    sid = h.start_session("hips", "Hips", NOW)
    with History.open(db, read_only=True) as ro:
        assert ro.session(sid)["routine"] == "hips"
        with pytest.raises(HistoryUnavailable) as caught:
            add_set(ro, sid, 0, 1)
    assert caught.value.kind == "read-only" and "read-only" in caught.value.reason


def test_a_read_only_file_and_folder_are_unavailable(db):
    with History.open(db):
        pass
    os.chmod(db, 0o444)
    os.chmod(db.parent, 0o555)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("running with rights that ignore file permissions (root): chmod cannot "
                        "make the file read-only; the mode=ro test covers the mapping")
        with pytest.raises(HistoryUnavailable) as caught:
            History.open(db, timeout=0.2)
        assert caught.value.kind in ("read-only", "cannot-open")
    finally:
        os.chmod(db.parent, 0o755)
        os.chmod(db, 0o644)


def test_a_folder_that_cannot_be_made_is_unavailable(tmp_path):
    (tmp_path / "plain-file").write_text("not a folder")
    with pytest.raises(HistoryUnavailable) as caught:
        History.open(tmp_path / "plain-file" / "sub" / DB_FILENAME)
    assert caught.value.kind == "cannot-open" and "plain-file" in caught.value.reason


def test_a_corrupt_file_is_unavailable_and_says_to_move_it_aside(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(bytes(random.Random(1).getrandbits(8) for _ in range(8192)))
    with pytest.raises(HistoryUnavailable) as caught:
        History.open(db)
    assert caught.value.kind == "corrupt"
    assert "damaged" in caught.value.reason and "move it aside" in caught.value.reason


def test_a_full_disk_is_unavailable_and_keeps_what_was_written(db):
    store = History.open(db)
    sid = store.start_session("hips", "Hips", NOW)
    add_set(store, sid, 0, 1)
    # SQLite refuses to grow the file past max_page_count with SQLITE_FULL, exactly as a
    # full disk does.
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(HistoryUnavailable) as caught:
        for n in range(2, 500):
            add_set(store, sid, 0, n, exercise="x" * 2000)
    store.close()
    assert caught.value.kind == "disk-full" and "disk is full" in caught.value.reason
    with History.open(db) as again:
        assert again.session(sid)["sets"][0]["set_no"] == 1


def test_os_level_disk_full_and_permission_errors_read_well(tmp_path):
    full = _unavailable(OSError(errno.ENOSPC, "No space left on device"), tmp_path, 1)
    assert full.kind == "disk-full" and "disk is full" in full.reason
    denied = _unavailable(PermissionError(errno.EACCES, "Permission denied"), tmp_path, 1)
    assert denied.kind == "read-only"


def test_a_file_from_a_newer_version_is_refused(db):
    with History.open(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    conn.commit()
    conn.close()
    with pytest.raises(HistoryUnavailable, match="newer voicecoach"):
        History.open(db)


# ----- carrying on without a record ----------------------------------------------------------


def test_null_history_records_nothing_and_says_why():
    null = NullHistory("the disk is full")
    sid = null.start_session("hips", "Hips", NOW)
    add_set(null, sid, 0, 1)
    null.record_skip(sid, exercise="x", exercise_index=0, at=NOW)
    null.record_pause(sid, at=NOW, seconds=1)
    null.record_pain(sid, when="before", score=1, at=NOW)
    null.end_session(sid, outcome="finished", ended_at=NOW)
    assert null.reason == "the disk is full"
    assert null.recent() == [] and null.weekly() == [] and null.export_json() == []
    assert null.resume_point("hips", PLAN) is None and not null.completed_streak("hips")
    with pytest.raises(KeyError):
        null.session(sid)


class Told:
    """Records what a DurableHistory tells the user."""

    def __init__(self) -> None:
        self.trouble: list[tuple[str, bool]] = []
        self.saved: list[int] = []

    def open(self, db: Path, timeout: float = 0.2) -> DurableHistory:
        return open_durable(db, timeout=timeout, on_trouble=lambda r, k: self.trouble.append((r, k)),
                            on_saved=self.saved.append)


def sets_in(db: Path) -> list[tuple[int, int]]:
    with History.open(db) as store:
        return [(s["exercise_index"], s["set_no"]) for x in store.export_json() for s in x["sets"]]


def test_a_corrupt_file_sends_the_session_to_the_journal_until_it_is_moved_aside(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 500)
    told = Told()
    store = told.open(db)
    assert not store.recording and "damaged" in told.trouble[0][0] and told.trouble[0][1]
    sid = store.start_session("hips", "Hips", NOW, planned_sets=2)
    add_set(store, sid, 0, 1)
    add_set(store, sid, 0, 2)
    store.end_session(sid, outcome="finished", ended_at=NOW + 60)
    path = store.journal_path
    store.close()
    assert len(told.trouble) == 1 and path is not None and path.exists() and path.parent == db.parent
    assert journal.pending(db) == [path]
    assert db.read_bytes() == b"garbage" * 500, "the damaged file is the user's to look at"

    db.rename(db.with_suffix(".damaged"))
    again = Told()
    with again.open(db) as store:
        assert store.recording and again.trouble == [] and again.saved == [0]
        [session] = store.export_json()
    assert session["outcome"] == "finished" and session["sets_done"] == 2
    assert journal.pending(db) == []
    with History.open(db) as reread:
        [incident] = reread.incidents()
    assert incident["kind"] == "corrupt" and incident["session_id"] == session["id"]


def test_a_lock_sends_writes_to_the_journal_and_they_reach_the_database_after_it(db, monkeypatch):
    import voicecoach.store.history as history_module

    monkeypatch.setattr(history_module, "RETRY_SECONDS", 0.0)
    told = Told()
    store = told.open(db)
    sid = store.start_session("hips", "Hips", NOW)
    add_set(store, sid, 0, 1)
    holder = hold_write_lock(db)
    try:
        add_set(store, sid, 0, 2)
        add_set(store, sid, 1, 1)
        assert not store.recording and "locked" in store.reason
        kept = journal.read_ops(store.journal_path)
        assert [op["op"] for op in kept] == ["fault", "start", "set", "set", "set"]
    finally:
        holder.close()
    add_set(store, sid, 1, 2)  # the lock is gone: this write saves the journal first
    assert store.recording and store.journal_path is None and journal.pending(db) == []
    store.end_session(sid, outcome="finished", ended_at=NOW + 60)
    store.close()
    assert len(told.trouble) == 1 and "locked" in told.trouble[0][0] and told.saved == [4]
    assert sets_in(db) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    with History.open(db) as again:
        assert again.recent()[0]["outcome"] == "finished"
        assert again.resume_point("hips") is None


def test_a_journal_left_at_the_end_is_saved_by_the_next_start_and_counts_its_end(db):
    store = Told().open(db)
    sid = store.start_session("hips", "Hips", NOW, planned_sets=len(PLAN))
    add_set(store, sid, 0, 1)
    holder = hold_write_lock(db)
    try:
        add_set(store, sid, 0, 2)
        store.end_session(sid, outcome="finished", ended_at=NOW + 60)
        store.close()  # still locked: the journal stays
    finally:
        holder.close()
    with History.open(db) as meanwhile:
        assert meanwhile.resume_point("hips", PLAN) is not None  # the database alone is behind
    assert len(journal.pending(db)) == 1
    with Told().open(db) as store:
        assert store.resume_point("hips", PLAN) is None, "a finished session is never offered to resume"
        assert store.recent()[0]["sets_done"] == 2


def test_replaying_a_journal_twice_adds_nothing_and_a_cut_line_is_passed_over(db, tmp_path):
    token = "t1"
    ops = [{"op": "start", "session": token, "routine": "hips", "title": "Hips", "started_at": NOW,
            "resumed_from": None, "planned_sets": 2},
           {"op": "set", "session": token, "exercise": "E", "exercise_index": 0, "set_no": 1, "sets": 2,
            "side": None, "side_index": 0, "kind": "reps", "done": 5, "target": 5, "finished_at": NOW + 1},
           {"op": "end", "session": token, "outcome": "stopped", "ended_at": NOW + 2}]
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(json.dumps(op).encode() + b"\n" for op in ops) + b'{"op": "set", "sess')
    assert journal.read_ops(path) == ops
    with History.open(db) as store:
        store.replay(ops)
        store.replay(ops)
        [session] = store.export_json()
    assert session["sets_done"] == 1 and len(session["sets"]) == 1 and session["outcome"] == "stopped"


def test_the_journal_falls_back_to_a_private_temporary_folder(db, tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the data folder should be")
    fallback = tmp_path / "fallback"
    monkeypatch.setattr(journal, "journal_dirs", lambda _db: [blocked / "data", fallback])
    kept = journal.Journal(db)
    kept.write([{"op": "start", "session": "x"}])
    kept.write([{"op": "end", "session": "x"}])
    assert kept.path is not None and kept.path.parent == fallback
    assert [op["op"] for op in journal.read_ops(kept.path)] == ["start", "end"]
    assert journal.pending(db) == [kept.path]
    kept.close()


def test_a_journal_that_a_running_session_writes_is_not_replayed_under_it(db):
    with History.open(db):
        pass
    running = journal.Journal(db)
    running.write([{"op": "start", "session": "x", "routine": "r", "title": "R", "started_at": NOW}])
    with History.open(db) as store:
        assert replay_pending(store) == 0 and store.recent() == []
    assert running.path is not None and running.path.exists()
    running.close()  # the session ended (or was killed): the lock is gone
    with History.open(db) as store:
        assert replay_pending(store) == 1 and store.recent()[0]["routine"] == "r"


def test_a_file_replaced_mid_session_gets_the_whole_session(db, monkeypatch):
    import voicecoach.store.history as history_module

    monkeypatch.setattr(history_module, "RETRY_SECONDS", 0.0)
    store = Told().open(db)
    sid = store.start_session("hips", "Hips", NOW)
    add_set(store, sid, 0, 1)
    db.rename(db.with_suffix(".old"))  # a backup tool moving it away; a new file will do
    add_set(store, sid, 0, 2)
    add_set(store, sid, 1, 1)
    store.close()
    assert sets_in(db) == [(0, 1), (0, 2), (1, 1)]


# ----- the `voicecoach history` report -------------------------------------------------------


@pytest.fixture
def filled(db: Path) -> Path:
    with History.open(db) as store:
        sid = full_session(store, "hips-for-knees", time.time() - 8 * DAY)
        store.record_pain(sid, when="before", score=3, at=time.time() - 8 * DAY)
        store.record_pain(sid, when="after", score=5, at=time.time() - 8 * DAY + 700)
        killed = store.start_session("quads", "Quads", time.time() - 3600, planned_sets=6)
        add_set(store, killed, 0, 1, at=time.time() - 3500)
        store.record_skip(killed, exercise="Exercise 1", exercise_index=1, at=time.time() - 3400)
    return db.parent


def test_report_without_history_is_friendly_and_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere"
    code, out, err = report(missing)
    assert code == 0 and "No sessions recorded yet" in out and err == ""
    assert not missing.exists()
    assert report(missing, "--json")[1].strip() == "[]"
    assert "No sessions" in report(missing, "--week")[1]


def test_report_lists_recent_sessions_as_a_table(filled):
    code, out, _ = report(filled)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == [
        "#", "Date", "Routine", "Duration", "Sets", "Skipped", "Pain", "Outcome"]
    assert "quads" in lines[2] and "1/6" in lines[2] and "interrupted" in lines[2]
    assert "hips-for-knees" in lines[3] and "7/7" in lines[3] and "10:00" in lines[3]
    assert "3->5" in lines[3] and "finished" in lines[3]
    assert len(report(filled, "--limit", "1")[1].splitlines()) == 3


def test_report_json_exports_every_session(filled):
    code, out, _ = report(filled, "--json")
    data = json.loads(out)
    assert code == 0 and [d["routine"] for d in data] == ["hips-for-knees", "quads"]
    assert data[1]["skips"][0]["exercise_index"] == 1


def test_report_week_shows_bars_per_routine(filled):
    code, out, _ = report(filled, "--week", "--weeks", "3")
    assert code == 0
    assert "hips-for-knees: 1 sessions, active in 1 of 3 weeks" in out
    week_lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(week_lines) == 6 and sum(("#" in x) or ("\u2588" in x) for x in week_lines) == 2


def test_report_plot_writes_a_well_formed_svg(filled, tmp_path):
    svg = tmp_path / "weeks.svg"
    code, out, _ = report(filled, "--plot", str(svg), "--weeks", "4")
    assert code == 0 and str(svg) in out
    root = ET.parse(svg).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert titles[0] == "Sessions per week"
    assert sum(1 for t in titles if t and ": 1" in t) == 2  # one bar per routine's session
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"hips-for-knees", "quads"} <= texts


def test_report_plot_without_history_is_still_a_valid_svg(tmp_path):
    svg = tmp_path / "empty.svg"
    assert report(tmp_path / "none", "--plot", str(svg))[0] == 0
    texts = [t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert "No sessions yet" in texts


def test_report_on_a_corrupt_file_fails_with_a_message_not_a_traceback(db):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\x00garbage" * 300)
    code, out, err = report(db.parent)
    assert code == 1 and out == ""
    assert err.startswith("voicecoach history: cannot read the history:") and "damaged" in err
    assert "Traceback" not in err


def test_report_on_a_locked_file_still_reads_it(filled, monkeypatch):
    """Another program holding an exclusive lock (a backup, `sqlite3` in a terminal): the
    report reads the file as it is on disk."""
    monkeypatch.setattr(history_report, "OPEN_TIMEOUT", 0.2)
    holder = sqlite3.connect(filled / DB_FILENAME, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        code, out, err = report(filled)
    finally:
        holder.close()
    assert code == 0 and "quads" in out and "hips-for-knees" in out, err
    assert time.monotonic() - started < 3


def test_report_tells_of_a_journal_waiting_and_of_past_incidents(filled):
    db = filled / DB_FILENAME
    waiting = journal.Journal(db)
    waiting.write([{"op": "start", "session": "x", "routine": "r", "title": "R", "started_at": NOW}])
    code, out, _ = report(filled)
    assert code == 0 and "1 session(s) could not be written to the history file" in out
    waiting.close()
    with History.open(db) as store:
        store.replay([{"op": "start", "session": "y", "routine": "r", "title": "R", "started_at": NOW},
                      {"op": "fault", "session": "y", "kind": "locked", "reason": "it was locked", "at": NOW}])
    code, out, _ = report(filled)
    assert code == 0 and "could not be written to the history file" not in out
    assert "When the history file could not be written:" in out and "it was locked" in out
