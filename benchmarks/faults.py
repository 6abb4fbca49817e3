"""Disk faults in the middle of a session: is every finished set kept, and does the coach keep time?

Each run starts `voicecoach run ROUTINE --text` (a short routine, at a small time scale)
on a history that already holds an earlier session, and at a random moment of the session
does one of:

    lock-1s, lock-5s, lock-60s   another program holds an exclusive lock on the file
    full-5s, full-60s            the disk fills up, and is freed again after that long
    read-only                    the data folder is remounted read-only for the rest of it
                                 (a read-only bind mount: Linux still lets files opened
                                 before it be written, so only new files are refused)
    garbage                      the history file is overwritten with random bytes

Full disks and the remount need a private mount namespace (`unshare`, as the tests use);
they are skipped with the reason when one cannot be made.  Durations are real seconds.
After each run, once the fault is over, the history is opened as the next `voicecoach
run` would (which writes in any journal left; after "garbage" the damaged file is first
moved aside, as the message says to) and checked: every set the event log reported
finished must be in it, and a finished session must not be offered for resume.  A cue is
late when the event log's `say` record comes over 50 ms after it was due.

    .venv/bin/python benchmarks/faults.py --quick     # 3 runs of each, about 3 minutes
    .venv/bin/python benchmarks/faults.py             # 20 runs of each, about 15 minutes

Each also runs the same number of sessions without a fault ("none"), as a control for
how late cues are on the machine anyway; those are left out of the totals.

Targets: 0 sets lost, 0 finished sessions offered for resume, 0 cues over 50 ms late.
The last line printed is one JSON object with those totals.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicecoach.core.plan import Plan, PlanSettings  # noqa: E402
from voicecoach.core.routine import load_routine  # noqa: E402
from voicecoach.store.history import DB_FILENAME, History, open_durable  # noqa: E402

ROUTINE = """\
name: faulty
title: Fault check
source: benchmark
safety: [Stop if it hurts.]
exercises:
  - name: Lifts
    steps: [Lift.]
    sets: 3
    sides: [left, right]
    reps: 3
    tempo: {up: 0.5, top: 0, down: 0.5, bottom: 0}
  - name: Press
    steps: [Press.]
    sets: 3
    hold_seconds: 5
"""

FAULTS: dict[str, tuple[str, float | None]] = {
    "none": ("none", None),  # the control: how late cues are on this machine without a fault
    "lock-1s": ("lock", 1.0),
    "lock-5s": ("lock", 5.0),
    "lock-60s": ("lock", 60.0),
    "full-5s": ("full", 5.0),
    "full-60s": ("full", 60.0),
    "read-only": ("read-only", None),
    "garbage": ("garbage", None),
}
LATE = 0.050


def private_mounts(setup: str, after: str = ":") -> list[str]:
    """An argv prefix running a command in a private mount namespace after `setup`, then `after`."""
    ns = ["unshare", "--mount", "--propagation", "private"] if os.geteuid() == 0 else \
        ["unshare", "--user", "--map-root-user", "--mount"]
    return [*ns, "sh", "-c", f'set -e\n{setup}\nset +e\n"$@"\ncode=$?\n{after}\nexit $code', "sh"]


def namespaces_work(work: Path) -> str | None:
    """None when private mounts can be made here, else why not."""
    probe = work / "probe"
    probe.mkdir(exist_ok=True)
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    try:
        result = subprocess.run([*private_mounts(f"mount -t tmpfs -o size=64k tmpfs {probe}"), "true"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return result.stderr.strip() or f"exit {result.returncode}" if result.returncode else None


def earlier_session(db: Path) -> None:
    """A history as a user's would be: one earlier session in it."""
    with History.open(db) as store:
        sid = store.start_session("faulty", "Fault check", time.time() - 86400, planned_sets=9)
        store.record_set(sid, exercise="Lifts", exercise_index=0, set_no=1, sets=3, side="left",
                         side_index=0, kind="reps", done=3, target=3, finished_at=time.time() - 86300)
        store.end_session(sid, outcome="stopped", ended_at=time.time() - 86200)


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            out.append(json.loads(line))
    return out


def check(db: Path, routine: Path, since: float, out: Path) -> None:
    """What the next start finds (journals written in): the sets of sessions started after
    `since`, and whether it would offer to resume."""
    keys = Plan(load_routine(routine), PlanSettings(ready_seconds=1, rest_seconds=1)).set_keys()
    with open_durable(db, timeout=5.0) as store:
        recording = store.recording
        reason = store.reason
        sessions = [s for s in store.export_json() if s["started_at"] >= since]
        point = store.resume_point("faulty", keys)
    result = {
        "recording": recording,
        "reason": reason,
        "sets": [[s["exercise_index"], s["set_no"], s["side_index"], s["done"], s["target"]]
                 for x in sessions for s in x["sets"]],
        "ended": [x["outcome"] for x in sessions if x["ended"] is not None],
        "offered_resume": point is not None,
    }
    out.write_text(json.dumps(result), encoding="utf-8")


def one_run(name: str, n: int, work: Path, scale: float, length: float, seed: int) -> dict[str, Any]:
    kind, duration = FAULTS[name]
    rng = random.Random(seed)
    home = work / f"{name}-{n}"
    data = home / "data"
    data.mkdir(parents=True)
    routine = home / "faulty.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    db = data / DB_FILENAME
    seed_db = home / "seed" / DB_FILENAME
    seed_db.parent.mkdir()
    earlier_session(seed_db)
    events, result_file, go = home / "events.jsonl", home / "check.json", home / "go"
    env = dict(os.environ, VOICECOACH_DATA_DIR=str(data), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "share"), PYTHONUNBUFFERED="1")
    env.pop("VOICECOACH_CONFIG", None)
    checker = [sys.executable, str(Path(__file__).resolve()), "--check", str(db), str(routine)]
    prefix: list[str] = []
    since = time.time() - 1
    if kind == "full":
        freed = home / "freed"
        fill = (f"(while [ ! -e {go} ]; do sleep 0.01; done; dd if=/dev/zero of={data}/filler bs=4096 "
                f"2>/dev/null || true; sleep {duration}; rm -f {data}/filler; touch {freed}) &")
        # `wait` alone has been seen to return before that job ended: poll for its mark.
        prefix = private_mounts(f"mount -t tmpfs -o size=1m tmpfs {data}; cp {seed_db} {data}/; {fill}",
                                f"touch {go}; while [ ! -e {freed} ]; do sleep 0.05; done; "
                                f"{' '.join(checker)} {since} {result_file}")
    elif kind == "read-only":
        shutil.copy(seed_db, db)
        remount = (f"(while [ ! -e {go} ]; do sleep 0.01; done; "
                   f"mount -o remount,bind,ro {data} {data}) &")
        prefix = private_mounts(f"mount --bind {data} {data}; {remount}", f"touch {go}; wait")
    else:
        shutil.copy(seed_db, db)
    argv = [*prefix, sys.executable, "-m", "voicecoach", "run", str(routine), "--text", "--time-scale",
            str(scale), "--ready", "1", "--rest", "1", "--no-checkins", "--events", str(events)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=home)
    deadline = time.monotonic() + 60
    while not any(r["type"] == "session_start" for r in records(events)):
        if proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    time.sleep(rng.uniform(0, length))
    holder: threading.Thread | None = None
    if kind == "lock":
        locked = threading.Event()

        def hold() -> None:
            conn = sqlite3.connect(db, isolation_level=None, timeout=30)
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(duration or 0)
            conn.close()

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        locked.wait(30)
    elif kind == "garbage":
        with open(db, "r+b") as f:
            f.write(rng.randbytes(16384))
    elif kind != "none":
        go.touch()
    out, err = proc.communicate(timeout=600)
    (home / "stderr.txt").write_text(err, encoding="utf-8")
    if holder is not None:
        holder.join()
    if kind == "garbage":
        db.rename(db.with_suffix(".damaged"))  # what the coach's message tells the user to do
    if kind != "full":
        subprocess.run([*checker, str(since), str(result_file)], check=True, timeout=120)
    found = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else None
    logged = records(events)
    finished = [r for r in logged if r["type"] == "set_finished"]
    stored = {tuple(s) for s in found["sets"]} if found else set()
    lost = sum((r["exercise_index"], r["set"], r.get("side_index") or 0, r["done"], r["target"]) not in stored
               for r in finished)
    ends = [r["outcome"] for r in logged if r["type"] == "session_end"]
    late = [r["t"] - r["due"] for r in logged if r["type"] == "say" and r.get("due") is not None]
    return {
        "fault": name, "n": n, "rc": proc.returncode, "stderr": err[-2000:], "traceback": "Traceback" in err,
        "sets_finished": len(finished), "sets_lost": lost,
        "finished_offered_resume": int(bool(ends and ends[-1] == "finished" and found and found["offered_resume"])),
        "told": out.count("I can't save to your history just now"),
        "cues": len(late), "cues_late": sum(x > LATE for x in late), "max_late": max(late, default=0.0),
        "end_recorded": bool(found and found["ended"]), "checked": found is not None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each fault (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each fault")
    parser.add_argument("--time-scale", type=float, default=0.05,
                        help="the session's time scale (default 0.05: about 10 s a session)")
    parser.add_argument("--jobs", type=int, default=4, help="runs at once (default 4)")
    parser.add_argument("--only", nargs="*", choices=list(FAULTS), help="only these faults")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--check", nargs=4, metavar=("DB", "ROUTINE", "SINCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        db, routine, since, out = args.check
        check(Path(db), Path(routine), float(since), Path(out))
        return 0
    runs = 3 if args.quick else args.runs
    plan = Plan(load_routine_text(), PlanSettings(ready_seconds=1, rest_seconds=1))
    length = plan.total_seconds() * args.time_scale
    work = Path(tempfile.mkdtemp(prefix="voicecoach-faults-"))
    skipped = {}
    why = namespaces_work(work)
    names = args.only or list(FAULTS)
    if why is not None:
        for name in names:
            if FAULTS[name][0] in ("full", "read-only"):
                skipped[name] = f"no private mount namespace: {why}"
    todo = [(name, n) for name in names if name not in skipped for n in range(runs)]
    print(f"{len(todo)} runs, a session of {length:.1f} s (time scale {args.time_scale:g}), {args.jobs} at once")
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(one_run, name, n, work, args.time_scale, length, args.seed * 1000 + i)
                   for i, (name, n) in enumerate(todo)]
        for future in futures:
            results.append(future.result())
    bad = [r for r in results if r["sets_lost"] or r["finished_offered_resume"] or not r["checked"]]
    if bad:
        print(f"kept {work} to look at: " + ", ".join(f"{r['fault']}-{r['n']}" for r in bad))
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'fault':<10} {'runs':>4} {'sets':>5} {'lost':>4} {'resume':>6} {'told':>4} {'ends':>4} "
          f"{'cues':>5} {'>50ms':>5} {'max late':>9} {'crash':>5}")
    for name in names:
        if name in skipped:
            print(f"{name:<10} skipped: {skipped[name]}")
            continue
        rs = [r for r in results if r["fault"] == name]
        print(f"{name:<10} {len(rs):>4} {sum(r['sets_finished'] for r in rs):>5} {sum(r['sets_lost'] for r in rs):>4} "
              f"{sum(r['finished_offered_resume'] for r in rs):>6} {sum(r['told'] > 0 for r in rs):>4} "
              f"{sum(r['end_recorded'] for r in rs):>4} {sum(r['cues'] for r in rs):>5} "
              f"{sum(r['cues_late'] for r in rs):>5} {max(r['max_late'] for r in rs) * 1000:>7.1f}ms "
              f"{sum(r['rc'] != 0 or r['traceback'] for r in rs):>5}")
    print(f"'told': runs where the coach said it could not save just now (a fault that begins after the last "
          f"record needs no word); 'ends': runs whose end is in the history; 'none' is the control, left out of "
          f"the totals. {time.monotonic() - started:.0f} s.")
    faulty = [r for r in results if r["fault"] != "none"]
    total = {
        "runs": len(faulty),
        "sets_finished": sum(r["sets_finished"] for r in faulty),
        "sets_lost": sum(r["sets_lost"] for r in faulty),
        "finished_offered_resume": sum(r["finished_offered_resume"] for r in faulty),
        "cues_late_over_50ms": sum(r["cues_late"] for r in faulty),
    }
    print(json.dumps(total))
    return 0 if not (total["sets_lost"] or total["finished_offered_resume"]) else 1


def load_routine_text() -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "faulty.yaml"
        path.write_text(ROUTINE, encoding="utf-8")
        return load_routine(path)


if __name__ == "__main__":
    sys.exit(main())
