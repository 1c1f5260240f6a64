"""What only the PyBullet env is checked for here: its own physics client, being MuJoCo's twin, ground truth.

The contract both backends keep is tested once for each in ``test_env_contract.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p
import pytest

import envs  # noqa: F401  (registers the envs)

ENV_ID = "embodied/PybulletTabletop-v0"


@pytest.fixture
def make_env(make_env: Callable[..., gym.Env[Any, Any]]) -> Callable[..., gym.Env[Any, Any]]:
    """The shared factory (tests/conftest.py), making ``embodied/PybulletTabletop-v0`` envs."""
    return functools.partial(make_env, ENV_ID)


def test_each_env_owns_its_physics_client(make_env):
    a, b = make_env(task="stack", seed=0, modalities=()), make_env(task="stack", seed=1, modalities=())
    a.reset()
    b.reset()
    client_a, client_b = a.unwrapped.client, b.unwrapped.client
    assert client_a != client_b and p.isConnected(physicsClientId=client_a)
    a.close()
    assert not p.isConnected(physicsClientId=client_a)
    assert p.isConnected(physicsClientId=client_b)
    b.step(np.zeros(5))  # the other env is untouched


def test_same_world_frame_home_pose_and_scene_as_mujoco(make_env):
    """A drop-in twin: same task, same props where the scene spec puts them, same home tool pose."""
    twin = gym.make("embodied/Tabletop-v0", task="put_in_container", seed=5, modalities=())
    env = make_env(task="put_in_container", seed=5, modalities=())
    try:
        obs_m, info_m = twin.reset()
        obs_p, info_p = env.reset()
        assert info_m["instruction"] == info_p["instruction"]
        np.testing.assert_allclose(obs_p["proprio"]["ee_pos"], obs_m["proprio"]["ee_pos"], atol=0.01)
        assert obs_p["proprio"]["ee_yaw"][0] == pytest.approx(obs_m["proprio"]["ee_yaw"][0], abs=0.02)
        np.testing.assert_allclose(obs_p["proprio"]["joint_pos"][:7], obs_m["proprio"]["joint_pos"][:7], atol=0.02)
        truth_m, truth_p = twin.unwrapped.world_state(), env.unwrapped.world_state()
        for name, state in truth_m.objects.items():
            np.testing.assert_allclose(truth_p.get(name).pos, state.pos, atol=0.003)
    finally:
        twin.close()


def test_yaw_moves_a_quarter_radian_per_step(make_env):
    env = make_env(task="stack", seed=0, modalities=())
    obs, _ = env.reset()
    for _ in range(4):
        obs, *_ = env.step(np.array([0, 0, 0, 1.0, -1.0]))
    for _ in range(4):
        obs, *_ = env.step(np.zeros(5) + np.array([0, 0, 0, 0, -1.0]))
    assert obs["proprio"]["ee_yaw"][0] == pytest.approx(1.0, abs=0.03)


def test_set_object_pose_and_contacts(make_env):
    env = make_env(task="put_in_container", seed=1, modalities=(), terminate_on_success=False)
    env.reset()
    u = env.unwrapped
    block = next(n for n, o in u.world_state().objects.items() if o.spec.kind == "block")
    u.set_object_pose(block, (0.45, 0.0, 0.2))
    assert u.world_state().get(block).pos == pytest.approx((0.45, 0.0, 0.2), abs=1e-6)
    for _ in range(10):
        env.step(np.array([0, 0, 0, 0, -1.0]))
    assert u.world_state().get(block).pos[2] < 0.01  # it fell onto the table
    assert (f"obj:{block}", "world") in u.contacts() or ("world", f"obj:{block}") in u.contacts()
    if "bin" in u.task.scene.names:
        with pytest.raises(ValueError, match="fixed"):
            u.set_object_pose("bin", (0.5, 0.0, 0.0))


def test_hand_made_task_and_with_task(make_env):
    from envs.tasks import sample_task

    env = make_env(task="stack", modalities=())
    task = sample_task("stack", 11)
    _, info = env.reset(options={"task": task})
    assert info["instruction"] == task.instruction
    assert set(env.unwrapped.world_state().objects) == set(task.scene.names)
    swapped = env.unwrapped.with_task(task.with_instruction("just look"))
    assert swapped.instruction == "just look" and swapped.scene == task.scene
    with pytest.raises(TypeError, match="TaskInstance"):
        env.reset(options={"task": "stack"})


def test_egl_and_tiny_renderers_see_the_same_scene(make_env):
    """The EGL plugin (the default where it loads) and TinyRenderer give the same instance ids and depths."""
    mods = ("rgb", "depth", "segmentation")
    egl = make_env(task="stack", seed=3, renderer="egl", modalities=mods)
    tiny = make_env(task="stack", seed=3, renderer="tiny", modalities=mods)
    assert make_env(task="stack", seed=3, modalities=mods).unwrapped.renderer == "egl"  # auto picks it here
    a, _ = egl.reset(seed=3)
    b, _ = tiny.reset(seed=3)
    for cam in a["depth"]:
        seg_a, seg_b = a["segmentation"][cam], b["segmentation"][cam]
        assert set(np.unique(seg_a)) == set(np.unique(seg_b))  # every prop, the robot, table and floor in both
        assert (seg_a == seg_b).mean() > 0.98  # they differ only along edges
        both = seg_a == seg_b
        assert np.median(np.abs(a["depth"][cam] - b["depth"][cam])[both]) < 0.005  # metres
