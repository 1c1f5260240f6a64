"""Workers that die with their parent: a killed evaluation leaves no episode running.

Nothing tells a spawned worker that its parent was killed (SIGKILL, the OOM killer, a lost
terminal): it would go on calling the model server and writing into episode folders (and the
memory file) that a rerun is writing too. Two watches, either one enough, end it:

- **parent-death signal** (Linux): ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` makes the kernel kill
  the worker the moment its parent is gone. A parent that died before the call (the worker was
  still importing) is caught by comparing ``os.getppid()`` with the parent's pid afterwards.
  (Linux sends it when the *thread* that started the worker ends; ``run_local`` starts its
  workers and waits for them on one thread.)
- **lifeline** (everywhere): the read end of a pipe whose only write end the parent holds. The
  parent never writes; when it is gone, however it died, the read returns end-of-file and a
  daemon thread ends the worker with ``os._exit`` (no cleanup: its episode is abandoned, and a
  half-recorded episode is not learned or stored).

multiprocessing's resource tracker, which the parent starts for the result queue's lock, needs
neither: it reads a pipe of its own that the parent and the workers hold, and exits once the
last of them is gone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

WATCHES: tuple[str, ...] = ("pdeathsig", "lifeline")  # both; a test switches one off to prove the other alone
ORPHANED = 1  # the exit status of a worker that found its parent gone
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass(frozen=True)
class Lifeline:
    """What a worker needs to watch its parent: the parent's pid and the lifeline's read end."""

    parent_pid: int
    read_end: Connection


class ParentWatch:
    """The parent's side: the lifeline's write end, held open for as long as the block runs.

    ``ctx`` is the multiprocessing context the workers are started with; the read end travels to
    each worker as a process argument (a spawned worker receives only the descriptors it is given,
    so the write end stays the parent's alone).
    """

    def __init__(self, ctx: Any) -> None:
        self._read_end, self._write_end = ctx.Pipe(duplex=False)
        self.lifeline = Lifeline(os.getpid(), self._read_end)

    def __enter__(self) -> ParentWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._write_end.close()  # a worker still running now ends: its parent is done with it
        self._read_end.close()


def tie_to_parent(lifeline: Lifeline) -> None:
    """Called first thing in a worker: from now on, the worker ends as soon as its parent is gone."""
    if "pdeathsig" in WATCHES:
        _set_parent_death_signal()
    if os.getppid() != lifeline.parent_pid:  # the parent died before the signal was set
        log.warning("the evaluation that started this worker (pid %d) is gone; exiting", lifeline.parent_pid)
        os._exit(ORPHANED)
    if "lifeline" in WATCHES:
        threading.Thread(target=_watch, args=(lifeline.read_end,), name="lifeline", daemon=True).start()


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False where that is not available."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), 0, 0)
    except (OSError, AttributeError) as e:
        log.warning("no parent-death signal (%s); the lifeline alone ties this worker to its parent", e)
        return False
    if failed:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def _watch(read_end: Connection) -> None:
    """Block on the lifeline until the parent's end closes, then end this process at once."""
    try:
        while True:
            read_end.recv_bytes()  # the parent never writes: this returns only by raising at end-of-file
    except (EOFError, OSError):
        pass
    os._exit(ORPHANED)
