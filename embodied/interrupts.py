"""A Ctrl-C that cannot get lost during an episode.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives. A
binding can swallow it there: pybind11 clears the error while it tries another overload, and
ctypes turns it into ``ArgumentError``, which a skill then reports as an ordinary failure. The
episode would go on as if nothing had been pressed.

:func:`interrupts_latched` remembers the signal as well as raising it, and the agent calls
:func:`raise_if_interrupted` after every control step and before every turn, so a swallowed
interrupt is raised again within one step. It only latches signals whose handler already is
Python's ``KeyboardInterrupt`` handler (SIGINT by default; the CLI gives SIGTERM the same
meaning), so it never changes what a signal means to the program.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from envs.signals import set_handler

CANDIDATES = (signal.SIGINT, signal.SIGTERM)

_received: int | None = None
_depth = 0


def _latch(signum: int, _frame: FrameType | None) -> None:
    global _received
    _received = signum
    raise KeyboardInterrupt


@contextmanager
def interrupts_latched() -> Iterator[None]:
    """Within the block, SIGINT (and SIGTERM where it means KeyboardInterrupt) are also remembered."""
    global _depth, _received
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    latched = [s for s in CANDIDATES if signal.getsignal(s) is signal.default_int_handler]
    if _depth == 0:
        _received = None
    _depth += 1
    try:
        for sig in latched:
            set_handler(sig, _latch)
        yield
    finally:
        _depth -= 1
        try:
            for sig in latched:
                set_handler(sig, signal.default_int_handler)
        finally:
            if _depth == 0:
                _received = None


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` again if a latched signal arrived (its first raise may have been swallowed)."""
    if _received is not None:
        raise KeyboardInterrupt
