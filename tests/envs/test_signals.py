"""Ctrl-C and SIGTERM that arrive during an env call land when it returns (``envs.signals``)."""

from __future__ import annotations

import signal
import threading

import pytest

from envs.signals import signals_held


def test_ctrl_c_inside_the_block_lands_after_it():
    finished = []
    with pytest.raises(KeyboardInterrupt), signals_held():
        signal.raise_signal(signal.SIGINT)
        finished.append("rest of the block")
    assert finished == ["rest of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_each_signal_reaches_the_handler_set_before_once_even_when_nested():
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with signals_held():
            with signals_held():
                signal.raise_signal(signal.SIGTERM)
                signal.raise_signal(signal.SIGTERM)
            assert received == []  # the outer block still holds it
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_quiet_block_changes_nothing():
    with signals_held():
        value = 1 + 1
    assert value == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_other_threads_run_the_block_without_touching_handlers():
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with signals_held():  # signal.signal() would raise ValueError outside the main thread
                pass
        except BaseException as e:  # noqa: BLE001 - any error, reported to the main thread
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert errors == []


def test_ignored_and_default_handlers_come_back_as_they_were():
    """The swap goes through the C module (SIG_IGN / SIG_DFL as plain ints): ``signal`` still reads its own values."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with signals_held():
            signal.raise_signal(signal.SIGTERM)  # held, then handed to SIG_IGN: nothing happens
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with signals_held():
            pass
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_error_in_the_block_still_puts_the_handler_back_and_delivers():
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(ValueError, match="step failed"), signals_held():
            signal.raise_signal(signal.SIGTERM)
            raise ValueError("step failed")
        assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
