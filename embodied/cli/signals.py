"""Signals during ``embodied run``: SIGTERM means Ctrl-C, and the end of an episode is not cut short.

:func:`terminate_means_interrupt` makes SIGTERM (a ``timeout``, a cluster stopping the job) raise
``KeyboardInterrupt`` like Ctrl-C for the whole command, so both end an episode the same way.
:func:`interrupts_noted` lets the episode folder be finished (video, ``episode.json``, report)
without a second signal cutting that short: a signal during the block is only noted.
:func:`envs.signals.signals_held` (re-exported here) holds a signal until its block ends, so the
episode folder and the recorder that finishes it come into being together.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from envs.signals import HELD, set_handler, signals_held

__all__ = ["interrupts_noted", "signals_held", "terminate_means_interrupt"]


@contextmanager
def terminate_means_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` (main thread only; elsewhere a no-op)."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield  # signals reach the main thread only; a handler set outside Python could not be put back
        return
    set_handler(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        set_handler(signal.SIGTERM, previous)


@contextmanager
def interrupts_noted() -> Iterator[list[int]]:
    """Within the block, SIGINT and SIGTERM are appended to the list it yields instead of being raised."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        noted.append(signum)

    previous = [(sig, handler) for sig in HELD if (handler := signal.getsignal(sig)) is not None]
    for sig, _ in previous:
        set_handler(sig, note)
    try:
        yield noted
    finally:
        for sig, handler in previous:
            set_handler(sig, handler)
