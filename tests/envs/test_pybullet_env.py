"""The PyBullet tabletop env: the same Gymnasium contract as the MuJoCo one, checked the same way."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p
import pytest

import envs  # noqa: F401  (registers the envs)
from envs.errors import PhysicsDivergence

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


def test_observation_layout_and_camera_info(make_env):
    env = make_env(task="sort_by_colour", seed=0)
    obs, info = env.reset()
    assert env.observation_space.contains(obs)
    assert obs["rgb"]["front"].shape == (120, 160, 3) and obs["rgb"]["front"].dtype == np.uint8
    assert obs["depth"]["top"].dtype == np.float32
    assert set(info["cameras"]) == {"front", "top"}
    k = info["cameras"]["top"]["K"]
    assert k.shape == (3, 3) and k[0, 2] == 79.5 and k[1, 2] == 59.5
    ids = set(np.unique(obs["segmentation"]["top"]).tolist())
    assert set(info["segmentation_ids"].values()) <= ids  # every prop is seen from above
    assert {1, 2} <= ids  # table and robot


def test_camera_matrices_project_objects_onto_their_pixels(make_env):
    """K and cam_to_world agree with the rendered depth and segmentation (what perception relies on)."""
    env = make_env(task="pick_place", seed=4, image_size=(240, 320))
    obs, info = env.reset()
    for name, state in env.unwrapped.world_state().objects.items():
        top_centre = np.array([*state.pos[:2], state.top, 1.0])
        for cam in ("top", "front"):
            world_to_cam = np.linalg.inv(info["cameras"][cam]["cam_to_world"])
            pt = world_to_cam @ top_centre
            u, v, _ = info["cameras"][cam]["K"] @ (pt[:3] / pt[2])
            ui, vi = round(u), round(v)
            if cam == "front" and obs["segmentation"][cam][vi, ui] != info["segmentation_ids"][name]:
                continue  # occluded by the arm from the front; the top view must see it
            assert obs["segmentation"][cam][vi, ui] == info["segmentation_ids"][name], (name, cam)
            assert obs["depth"][cam][vi, ui] == pytest.approx(pt[2], abs=0.01), (name, cam)


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


def test_gripper_holds_by_friction_not_by_attachment(make_env):
    env = make_env(task="stack", seed=3, modalities=(), terminate_on_success=False)
    obs, _ = env.reset()
    u = env.unwrapped
    name = u.task.goal[0][1]
    block = u.world_state().get(name)
    grasp = np.array([block.pos[0], block.pos[1], block.pos[2] + block.spec.size / 2])

    def servo(target, grip, steps=60):
        nonlocal obs
        for _ in range(steps):
            err = target - obs["proprio"]["ee_pos"]
            obs, *_ = env.step(np.array([*np.clip(err / 0.025, -1, 1), 0.0, grip]))
            if np.linalg.norm(err) < 0.004:
                break

    servo(grasp + [0, 0, 0.1], -1)
    servo(grasp, -1)
    for _ in range(10):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 1.0]))
    assert u.held_object() == name
    assert obs["proprio"]["gripper_width"][0] == pytest.approx(block.spec.size, abs=0.005)
    servo(grasp + [0, 0, 0.15], 1)
    for i in range(p.getNumConstraints(physicsClientId=u.client)):  # nothing glues the block to the hand
        info = p.getConstraintInfo(p.getConstraintUniqueId(i, physicsClientId=u.client), physicsClientId=u.client)
        assert info[0] == info[2] == u.robot  # only the fingers' mimic-joint gear
    assert u.world_state().get(name).pos[2] > 0.12  # lifted with the hand
    for _ in range(15):
        obs, *_ = env.step(np.array([0, 0, 0, 0, -1.0]))
    assert u.held_object() is None
    assert u.world_state().get(name).pos[2] < 0.01  # released: it fell back to the table


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


def _poison(env: gym.Env[Any, Any]) -> None:
    u = env.unwrapped
    uid = u.props[0].uid
    p.resetBaseVelocity(uid, [math.nan] * 3, [math.nan] * 3, physicsClientId=u.client)


def test_nan_physics_ends_episode_with_reason(make_env):
    env = make_env(task="stack", seed=0, modalities=())
    env.reset()
    _poison(env)
    obs, _reward, terminated, _truncated, info = env.step(np.zeros(5))
    assert terminated and "diverged" in info["physics_error"]
    assert np.all(np.isfinite(obs["proprio"]["joint_pos"]))
    assert all(np.isfinite(o.pos).all() for o in env.unwrapped.world_state().objects.values())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(5))


def test_divergence_can_raise(make_env):
    env = make_env(task="stack", seed=0, modalities=(), raise_on_divergence=True)
    env.reset()
    _poison(env)
    with pytest.raises(PhysicsDivergence):
        env.step(np.zeros(5))


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
