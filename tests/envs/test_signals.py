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
