"""The history's journal: what a session recorded while the database could not take it.

When the history database is locked, full, read-only or damaged, each record goes to an
append-only file of JSON lines instead, synced to disk before the write returns, so a
finished set is as safe as a database commit.  The journal lives beside the database when
that folder can be written, else in a per-user folder under the system's temporary folder
(a full or read-only data disk rarely takes that one with it).  One file per session; the
writer holds an advisory lock on it, so another process never replays (and deletes) a
journal that is still being written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Op = dict[str, Any]
"""One record: {"op": "start" | "set" | "skip" | "pause" | "pain" | "decision" | "end" | "fault",
"session": token, ...the fields of that write}."""

SUFFIX = ".jsonl"


def journal_dirs(db_path: Path) -> list[Path]:
    """Where journals for the database at `db_path` may be, in the order they are tried."""
    db_path = Path(db_path).expanduser()
    key = hashlib.sha256(str(db_path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    fallback = Path(tempfile.gettempdir()) / f"voicecoach-{os.getuid()}" / key
    return [db_path.parent, fallback]


def _prefix(db_path: Path) -> str:
    return f"{Path(db_path).name}.journal-"


def pending(db_path: Path) -> list[Path]:
    """Journals waiting to be written into the database at `db_path`, oldest first."""
    found: list[Path] = []
    for folder in journal_dirs(db_path):
        with contextlib.suppress(OSError):
            found += [p for p in folder.iterdir()
                      if p.name.startswith(_prefix(db_path)) and p.name.endswith(SUFFIX)]
    return sorted(found, key=lambda p: _mtime(p))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def read_ops(path: Path) -> list[Op]:
    """The complete records of a journal.  A line cut off by a kill (no newline) or
    mangled is passed over: it was never reported written."""
    ops: list[Op] = []
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                op = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(op, dict) and isinstance(op.get("op"), str):
                ops.append(op)
    return ops


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """Hold `path`'s lock while replaying it; yields False when a running session holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class Journal:
    """One session's journal file, open for appending.  `write` returns once the records
    are on disk; OSError when no folder will take them."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.path: Path | None = None
        self._fd: int | None = None
        self._folder = 0
        self._written: list[Op] = []

    def write(self, ops: list[Op]) -> None:
        """Append `ops` and sync them to disk.  When the file's folder fails (full,
        read-only), the next folder gets a new file with everything written so far."""
        if self._fd is not None:
            try:
                self._append(ops)
                self._written += ops
                return
            except OSError:
                # Keep the old file (its complete lines still count) until the copy is safe.
                stale = self.path
                self._close_fd()
                self.path = None
                self._folder += 1
        else:
            stale = None
        everything = self._written + ops
        folders = journal_dirs(self.db_path)
        last: OSError | None = None
        while self._folder < len(folders):
            try:
                self._create(folders[self._folder])
                self._append(everything)
                self._written = everything
                if stale is not None:
                    with contextlib.suppress(OSError):
                        stale.unlink()
                return
            except OSError as exc:
                last = exc
                self._discard()
                self._folder += 1
        self._folder = 0  # every folder failed: the next write tries them all again
        raise last or OSError("no folder for the history journal")

    def _create(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{_prefix(self.db_path)}{uuid.uuid4().hex}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        self._fd, self.path = fd, path
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _append(self, ops: list[Op]) -> None:
        assert self._fd is not None
        data = b"".join(json.dumps(op, ensure_ascii=True).encode("ascii") + b"\n" for op in ops)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _discard(self) -> None:
        self._close_fd()
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None

    def remove(self) -> None:
        """Delete the journal: its records are in the database now."""
        self._discard()
        self._written = []
        self._folder = 0

    def close(self) -> None:
        """Close the file, keeping it for the next replay."""
        self._close_fd()
