"""The MuJoCo tabletop env: Gymnasium contract, determinism, control limits, divergence, cameras."""

from __future__ import annotations

import numpy as np
import pytest

from envs.errors import PhysicsDivergence, RenderingUnavailable
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


def test_observation_layout_and_camera_info(make_env):
    env = make_env(task="sort_by_colour", seed=0)
    obs, info = env.reset()
    assert env.observation_space.contains(obs)
    assert obs["rgb"]["front"].shape == (120, 160, 3) and obs["rgb"]["front"].dtype == np.uint8
    assert obs["depth"]["top"].dtype == np.float32
    assert set(info["cameras"]) == {"front", "top"}
    k = info["cameras"]["top"]["K"]
    assert k.shape == (3, 3) and k[0, 2] == 79.5 and k[1, 2] == 59.5  # pixel centres, OpenCV convention
    ids = set(np.unique(obs["segmentation"]["top"]))
    assert set(info["segmentation_ids"].values()) <= ids  # every prop is seen from above


def test_camera_matrices_project_objects_onto_their_pixels(make_env):
    """K and cam_to_world agree with the rendered depth and segmentation (what perception relies on)."""
    env = make_env(task="pick_place", seed=4, image_size=(240, 320))
    obs, info = env.reset()
    for name, state in env.unwrapped.world_state().objects.items():
        top_centre = np.array([*state.pos[:2], state.top, 1.0])
        for cam in ("top", "front"):
            world_to_cam = np.linalg.inv(info["cameras"][cam]["cam_to_world"])
            p = world_to_cam @ top_centre
            u, v, _ = info["cameras"][cam]["K"] @ (p[:3] / p[2])
            ui, vi = round(u), round(v)
            if cam == "front" and obs["segmentation"][cam][vi, ui] != info["segmentation_ids"][name]:
                continue  # occluded by the arm from the front; the top view must see it
            assert obs["segmentation"][cam][vi, ui] == info["segmentation_ids"][name], (name, cam)
            if state.spec.kind == "block":  # a solid top face; a bowl's or plate's top centre is open
                assert obs["depth"][cam][vi, ui] == pytest.approx(p[2], abs=0.005), (name, cam)


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
    servo(grasp + [0, 0, 0.15], 1)
    assert u.world_state().get(name).pos[2] > 0.12  # lifted with the hand
    for _ in range(15):
        obs, *_ = env.step(np.array([0, 0, 0, 0, -1.0]))
    assert u.held_object() is None
    assert u.world_state().get(name).pos[2] < 0.01  # released: it fell back to the table


def test_nan_physics_ends_episode_with_reason(make_env):
    env = make_env(task="stack", seed=0, modalities=())
    env.reset()
    env.unwrapped.data.qvel[:] = np.nan
    obs, _reward, terminated, _truncated, info = env.step(np.zeros(5))
    assert terminated and "diverged" in info["physics_error"]
    assert np.all(np.isfinite(obs["proprio"]["joint_pos"]))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(5))


def test_divergence_can_raise(make_env):
    env = make_env(task="stack", seed=0, modalities=(), raise_on_divergence=True)
    env.reset()
    env.unwrapped.data.qvel[:] = np.nan
    with pytest.raises(PhysicsDivergence):
        env.step(np.zeros(5))


def test_bad_gl_platform_names_the_packages(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "vulkan")
    with pytest.raises(RenderingUnavailable, match="libegl1"):
        gl_context_class()
