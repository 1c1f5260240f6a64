"""Ctrl-C and SIGTERM wait for the end of an env call instead of landing in the middle of it.

A ``KeyboardInterrupt`` raised inside a simulator or GL call can be swallowed or changed into
another error by the binding (PyOpenGL turns one raised while it converts a ctypes argument into
``ctypes.ArgumentError``), which a caller then reports as an ordinary failure instead of stopping.
It can also leave physics half stepped. :func:`signals_held` makes an env call atomic with respect
to these signals: one that arrives during the call is delivered, to the handler that was set
before, as soon as the call returns.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM)


def set_handler(sig: int, handler: Any) -> None:
    """``signal.signal`` that cannot be cut short. ``signal.signal`` first runs the handlers of signals
    that are pending; one that raises (KeyboardInterrupt) would leave ``handler`` unset. Here it is set
    anyway and the exception raised afterwards."""
    error: BaseException | None = None
    while True:
        try:
            signal.signal(sig, handler)
            break
        except KeyboardInterrupt as e:
            error = e
    if error is not None:
        raise error


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during the block; deliver any that arrived once it ends (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only, so other threads are never interrupted
        return
    pending: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    # A handler set outside Python reads as None and could not be put back: such a signal is left alone.
    previous = [(sig, handler) for sig in HELD if (handler := signal.getsignal(sig)) is not None]
    try:
        for sig, _ in previous:
            set_handler(sig, hold)
        yield
    finally:
        _each_then_raise([partial(set_handler, sig, handler) for sig, handler in previous])
        _each_then_raise([partial(signal.raise_signal, sig) for sig in dict.fromkeys(pending)])


def _each_then_raise(actions: list[Any]) -> None:
    """Run every action even if one raises (a handler raising KeyboardInterrupt); then raise the first error."""
    error: BaseException | None = None
    for action in actions:
        try:
            action()
        except BaseException as e:  # noqa: BLE001 - re-raised below, after the other actions ran
            error = error or e
    if error is not None:
        raise error
