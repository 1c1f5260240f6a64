"""One evaluation at a time per results folder: an exclusive ``flock`` on ``OUT/.eval.lock``.

Two runs into one folder would run the same episodes twice, write into the same episode folders
and, with a memory file, store the same episodes twice. The first run holds the lock for as long
as it runs; a second one is refused at once with the folder and the pid that holds it.

``flock`` belongs to the open file, not to a path or a pid, so the kernel releases it when the
last descriptor of that open file closes: on any exit, SIGKILL included, with no stale lock file
to clean up (the file stays; only the lock matters). Each local worker receives a duplicate of
the descriptor, so a folder stays locked until the last process of its run is gone, even a
worker that has not yet noticed its parent die (:mod:`embodied.evaluation.lifeline`).
"""

from __future__ import annotations

import errno
import os
import sys
from multiprocessing import reduction
from pathlib import Path
from typing import Any

from embodied.errors import EmbodiedError

LOCK_FILE = ".eval.lock"


class EvalFolderError(EmbodiedError, OSError):
    """The results folder of an evaluation cannot be used; the message names it and why."""


class EvalFolderBusy(EvalFolderError):
    """Another evaluation is running into the same results folder."""


class FolderLock:
    """``with FolderLock(out_dir):`` holds the folder for one evaluation (created if missing)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise EvalFolderError(f"cannot use '{self.out_dir}' as the results folder: {e.strerror or e}") from e
        try:
            _lock(fd, self.out_dir)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # no LOCK_UN: a worker still alive keeps the folder until it is gone
            self._fd = None

    def for_worker(self) -> WorkerHold | None:
        """The lock as a spawned worker holds it (a process argument); None when not held."""
        return None if self._fd is None else WorkerHold(self._fd)


class WorkerHold:
    """A duplicate of the lock's descriptor for a spawned worker, open until the worker exits.

    Only a ``spawn`` start can pass it (the descriptor travels with the process's arguments).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _received, (reduction.DupFd(self.fd),)


def _received(dup: Any) -> WorkerHold:
    return WorkerHold(dup.detach())


def _lock(fd: int, out_dir: Path) -> None:
    """Take the exclusive lock on ``fd`` without waiting; :class:`EvalFolderBusy` when it is held."""
    if sys.platform == "win32":
        return  # no flock: one run per folder is then up to the user
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise EvalFolderError(f"cannot lock '{out_dir / LOCK_FILE}': {e.strerror or e}") from e
        raise EvalFolderBusy(
            f"'{out_dir}' is in use by another evaluation ({_holder(fd)}): wait for it to end, "
            "or give this one another --out"
        ) from None


def _holder(fd: int) -> str:
    """Who holds the lock, from the pid its holder wrote into the lock file."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    if not text.isdigit():
        return "pid unknown"
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"pid {pid}, which has ended; its workers are still stopping"
    except PermissionError:
        pass  # alive, another user's
    return f"pid {pid}"
