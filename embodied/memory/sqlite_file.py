"""The memory file as SQLite sees it: which files are ours, how to open them, and the one error boundary.

- **Ours or not.** A file embodied initialises carries :data:`APPLICATION_ID` in its header
  (``PRAGMA application_id``). A file without it is ours only when it is empty (a new memory) or
  holds our tables (written before the marker existed); anything else, a non-SQLite file or
  another application's database, is refused before a byte of it is written.
- **Read-only.** A file that cannot be written is opened read-only (``file:…?mode=ro``): it can be
  listed, searched and counted, and every write fails at once saying so. "Cannot be written" is
  decided from the file itself (:func:`read_only_reason`): no write bit in its mode, or
  ``os.access`` says this user may not write it or its folder. The mode bits count even for
  root, whom the kernel lets write anything: ``chmod a-w`` is how a user marks a memory that must
  not change, and a process running as root honours that.
- **One error boundary.** Every :class:`sqlite3.Error` raised while opening, reading, searching
  or writing becomes :class:`~embodied.errors.MemoryStoreError` (:func:`store_error`,
  :func:`guarded`), whose message names the file and what to do; callers catch that one type.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar
from urllib.request import pathname2url

from embodied.errors import MemoryStoreError

__all__ = [
    "APPLICATION_ID",
    "connect",
    "guarded",
    "read_only_error",
    "read_only_reason",
    "refuse_foreign_file",
    "refuse_foreign_schema",
    "retry_locked",
    "store_error",
]

APPLICATION_ID = 0x454D4244  # "EMBD": PRAGMA application_id of every file embodied initialises
OUR_TABLES = frozenset({"skills", "episodes", "reflections", "facts", "documents"})
SQLITE_HEADER = b"SQLite format 3\x00"

NOT_MEMORY = (
    "{path} is not a usable embodied memory file ({why}); it was left untouched: choose another file with --memory PATH"
)
DAMAGED = (
    "the memory file {path} is damaged ({why}); it was left as it is: move it aside (a new memory is started in "
    "its place; `sqlite3 {path} .recover` may salvage its rows), choose another file with --memory PATH, "
    "or run with --no-memory"
)


# ---------------------------------------------------------------------- ours or not
def refuse_foreign_file(path: Path) -> None:
    """A file that exists, is not empty and is not SQLite is someone else's: never open (and rewrite) it.

    SQLite itself refuses most such files, but takes a one-byte file for an empty database.
    """
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as e:
        raise MemoryStoreError(f"cannot read the memory file {path}: {e.strerror or e}") from e
    if head and head != SQLITE_HEADER:
        raise MemoryStoreError(NOT_MEMORY.format(path=path, why="no SQLite header"))


def refuse_foreign_schema(db: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite database that is not an embodied memory (it only reads: the file stays untouched).

    The marker, the version and the tables are read in one transaction: another process may be
    initialising the same new file, and each must be seen before or after that, never half-way.
    """
    db.execute("BEGIN")
    try:
        app = int(db.execute("PRAGMA application_id").fetchone()[0])
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        tables = sorted(
            str(r[0])
            for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        )
    finally:
        with contextlib.suppress(sqlite3.Error):  # a read transaction: ending it loses nothing
            db.execute("ROLLBACK")
    if app == APPLICATION_ID:
        return
    if app == 0 and ((not tables and version == 0) or (version >= 1 and set(tables) >= OUR_TABLES)):
        return  # a new (empty) memory, or one written before the marker
    shown = ", ".join(tables[:6]) + (", ..." if len(tables) > 6 else "")
    why = f"application id {app:#x}" if app else f"tables: {shown or 'none'}, schema version {version}"
    raise MemoryStoreError(
        f"{path} is an SQLite database of another application ({why}), not an embodied memory file; "
        "it was left untouched: choose another file with --memory PATH"
    )


# ---------------------------------------------------------------------- opening
def read_only_reason(path: Path) -> str | None:
    """Why ``path`` can only be read (see the module docstring), or None (writable, or not there yet)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if not mode & 0o222:
        return "its permissions allow no writing"
    if not os.access(path, os.W_OK):
        return "this user may not write it"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"this user may not write its folder {path.parent}, where SQLite keeps its -wal and -shm files"
    return None


def retry_locked(action: Callable[[], _R], timeout_s: float) -> _R:
    """Run ``action``, retrying while another process holds the lock (switching a new file to WAL
    fails at once instead of waiting on SQLite's busy timeout when two processes open it together)."""
    deadline, pause = time.monotonic() + timeout_s, 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def read_only_error(path: Path, why: str, doing: str = "write") -> MemoryStoreError:
    """The error of a write to (or a migration of) a file opened read-only."""
    return MemoryStoreError(
        f"cannot {doing} the memory file {path}: it is read-only ({why}); for embodied to learn, make it "
        f"writable for this user (chmod u+w {path}, as its owner) or choose another file with --memory PATH"
    )


def connect(path: Path, timeout_s: float, read_only: bool) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode (transactions are explicit), read-only if asked."""
    if read_only:
        # A WAL reader needs the -shm index beside the file; in a folder it may not write, SQLite cannot
        # make one. With no -wal file the database is the file alone: read it as immutable, without one.
        frozen = not os.access(path.parent, os.W_OK | os.X_OK) and not Path(f"{path}-wal").exists()
        uri = f"file:{pathname2url(str(path.resolve()))}?{'immutable=1' if frozen else 'mode=ro'}"
        db = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


# ---------------------------------------------------------------------- the error boundary
def store_error(path: Path, error: Exception, doing: str, timeout_s: float) -> MemoryStoreError:
    """``error`` (raised by SQLite, or a stored row that is not JSON) as the one documented error type."""
    code = str(getattr(error, "sqlite_errorname", ""))
    text = str(error)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return MemoryStoreError(
            f"cannot {doing} the memory file {path}: another process kept it locked (waited {timeout_s:.0f} s: "
            f"{text}); try again when it is done, or choose another file with --memory PATH"
        )
    if code.startswith("SQLITE_READONLY"):
        return read_only_error(path, text, doing)
    if code.startswith("SQLITE_NOTADB"):
        return MemoryStoreError(NOT_MEMORY.format(path=path, why=text))
    if code.startswith("SQLITE_CORRUPT") or isinstance(error, json.JSONDecodeError):
        return MemoryStoreError(DAMAGED.format(path=path, why=text))
    if isinstance(error, sqlite3.ProgrammingError) and "closed" in text:
        return MemoryStoreError(f"cannot {doing} the memory file {path}: it was closed ({text})")
    if code.startswith("SQLITE_FULL"):
        return MemoryStoreError(
            f"cannot {doing} the memory file {path}: the disk is full ({text}); free some space, "
            "or run with --no-memory"
        )
    return MemoryStoreError(
        f"cannot {doing} the memory file {path}: {text}; check the file and its folder, choose another file "
        "with --memory PATH, or run with --no-memory"
    )


class _File(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def timeout_s(self) -> float: ...


_F = TypeVar("_F", bound=_File)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def guarded(doing: str) -> Callable[[Callable[Concatenate[_F, _P], _R]], Callable[Concatenate[_F, _P], _R]]:
    """Decorate a method of the store: what SQLite raises in it leaves as :func:`store_error`'s error."""

    def decorate(method: Callable[Concatenate[_F, _P], _R]) -> Callable[Concatenate[_F, _P], _R]:
        @functools.wraps(method)
        def run(self: _F, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, json.JSONDecodeError) as e:
                raise store_error(self.path, e, doing, self.timeout_s) from e

        return run

    return decorate
