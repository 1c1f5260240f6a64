"""A Ctrl-C swallowed by a binding is raised again at the agent's next check (``embodied.interrupts``)."""

from __future__ import annotations

import contextlib
import signal

import pytest

from embodied.interrupts import interrupts_latched, raise_if_interrupted


def swallowed_ctrl_c() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_check():
    with interrupts_latched():
        raise_if_interrupted()  # nothing yet
        swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    raise_if_interrupted()  # forgotten once the episode is over
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_the_latch_a_swallowed_ctrl_c_is_lost():
    swallowed_ctrl_c()
    raise_if_interrupted()  # nothing remembered it


def test_sigterm_is_latched_only_where_it_already_means_keyboard_interrupt():
    received: list[int] = []
    custom = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with interrupts_latched():
            signal.raise_signal(signal.SIGTERM)
            raise_if_interrupted()  # the program's own handler took it; it is not an interrupt
        assert received == [signal.SIGTERM]
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # what `embodied run` sets
        with interrupts_latched():
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)
            with pytest.raises(KeyboardInterrupt):
                raise_if_interrupted()
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, custom)


def test_nested_blocks_keep_the_latch_until_the_outer_one_ends():
    with interrupts_latched():
        with interrupts_latched():
            swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
