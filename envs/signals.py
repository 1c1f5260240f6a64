"""Ctrl-C and SIGTERM wait for the end of an env call instead of landing in the middle of it.

A ``KeyboardInterrupt`` raised inside a simulator or GL call can be swallowed or changed into
another error by the binding (PyOpenGL turns one raised while it converts a ctypes argument into
``ctypes.ArgumentError``), which a caller then reports as an ordinary failure instead of stopping.
It can also leave physics half stepped. :func:`signals_held` makes an env call atomic with respect
to these signals: one that arrives during the call is delivered, to the handler that was set
before, as soon as the call returns.

The handlers are swapped around every call and put back after it, so outside env calls
``signal.getsignal`` reads what the program set (other code, ``embodied.interrupts`` among it,
decides by it). The swap goes through ``_signal``, the C functions that ``signal.signal`` and
``signal.getsignal`` wrap: the wrappers look every handler up in an ``Enum`` (a failed lookup for a
function), which cost about 3 µs a call, 4 calls a step, against about 0.5 µs.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

try:
    import _signal as _raw  # CPython's C module behind ``signal``: handlers as plain ints or callables
except ImportError:  # pragma: no cover - other interpreters: the public wrappers do the same, slower
    _raw = signal

HELD = (signal.SIGINT, signal.SIGTERM)


def set_handler(sig: int, handler: Any) -> None:
    """``signal.signal`` that cannot be cut short. ``signal.signal`` first runs the handlers of signals
    that are pending; one that raises (KeyboardInterrupt) would leave ``handler`` unset. Here it is set
    anyway and the exception raised afterwards."""
    _set(sig, int(handler) if isinstance(handler, int) else handler)  # SIG_DFL / SIG_IGN as the C module takes them


def _set(sig: int, handler: Any) -> None:
    error: BaseException | None = None
    while True:
        try:
            _raw.signal(sig, handler)
            break
        except KeyboardInterrupt as e:
            error = e
    if error is not None:
        raise error


class _Held:
    """One :func:`signals_held` block: the handlers it replaced and the signals it caught."""

    __slots__ = ("pending", "previous")

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.previous: list[tuple[int, Any]] = []

    def hold(self, signum: int, _frame: FrameType | None) -> None:
        self.pending.append(signum)

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # Python runs signal handlers in the main thread only, so other threads are never interrupted
        # A handler set outside Python reads as None and could not be put back: such a signal is left alone.
        getsignal = _raw.getsignal
        self.previous = [(sig, handler) for sig in HELD if (handler := getsignal(sig)) is not None]
        hold = self.hold
        try:
            for sig, _ in self.previous:
                _set(sig, hold)
        except BaseException:
            self.__exit__(None, None, None)  # a signal that was pending on entry: put everything back first
            raise

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        """Put the handlers back, then deliver each signal that arrived (once); raise the first error."""
        error: BaseException | None = None
        for sig, handler in self.previous:
            try:
                _set(sig, handler)
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the other handlers are back
                error = error or e
        for sig in dict.fromkeys(self.pending):
            try:
                signal.raise_signal(sig)
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the other signals landed
                error = error or e
        if error is not None:
            raise error


def signals_held() -> _Held:
    """Hold SIGINT and SIGTERM during the ``with`` block; deliver any that arrived once it ends (main thread only).

    Blocks nest: a signal held by an inner block is handed to the outer one, which delivers it when it ends.
    """
    return _Held()
