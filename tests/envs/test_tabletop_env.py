"""What only the MuJoCo env is checked for here: seeds vary scenes, instruction overrides, GL platform errors.

The contract both backends keep (Gymnasium checker, determinism, control limits, divergence,
cameras) is tested once for each in ``test_env_contract.py``.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from envs.errors import RenderingUnavailable
from envs.tabletop.gl import gl_context_class


def test_different_seeds_give_different_scenes(make_env):
    env = make_env(task="stack")
    _, _a = env.reset(seed=1)
    pos_a = {k: v.pos for k, v in env.unwrapped.world_state().objects.items()}
    _, _b = env.reset(seed=2)
    pos_b = {k: v.pos for k, v in env.unwrapped.world_state().objects.items()}
    assert pos_a != pos_b


def test_instruction_override_keeps_scene_and_goal(make_env):
    plain = make_env(task="stack", seed=3)
    worded = make_env(task="stack", seed=3, instruction="put that block up there")
    _, info_a = plain.reset()
    _, info_b = worded.reset()
    assert info_b["instruction"] == "put that block up there"
    assert info_a["instruction"] != info_b["instruction"]
    assert plain.unwrapped.task.scene == worded.unwrapped.task.scene
    assert plain.unwrapped.task.goal == worded.unwrapped.task.goal


def test_bad_gl_platform_names_the_packages(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "vulkan")
    with pytest.raises(RenderingUnavailable, match="libegl1"):
        gl_context_class()


def test_steps_leave_the_signal_handlers_as_the_program_set_them(make_env):
    """Signals are held only during an env call: between calls ``embodied.interrupts`` and the CLI read and
    replace the handlers they set, so the env must not leave its own installed."""
    env = make_env(task="stack", seed=0, modalities=())
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        env.reset()
        for _ in range(3):
            env.step(np.zeros(5))
            assert signal.getsignal(signal.SIGTERM) is handler
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.raise_signal(signal.SIGTERM)  # between steps: straight to the program's handler
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
