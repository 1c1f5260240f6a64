"""The Gymnasium contract every tabletop backend keeps, checked the same way on each."""

from __future__ import annotations

import math
import signal
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.common import ROBOT_ID, TABLE_ID
from envs.errors import PhysicsDivergence, UnknownTaskError

BACKENDS = {
    "embodied/Tabletop-v0": "envs.tabletop.env:TabletopEnv",
    "embodied/PybulletTabletop-v0": "envs.pybullet.env:PybulletTabletopEnv",
}


MUJOCO, PYBULLET = "embodied/Tabletop-v0", "embodied/PybulletTabletop-v0"
# Depth at an object's top centre: MuJoCo within 5 mm for blocks (a bowl's or plate's top centre is
# open); PyBullet's TinyRenderer within 1 cm for every object.
DEPTH_CHECK = {MUJOCO: (0.005, ("block",)), PYBULLET: (0.01, None)}


def poison(env: gym.Env[Any, Any]) -> None:
    """Make the physics state NaN, as a diverging simulation would."""
    u = env.unwrapped
    if env.spec is not None and env.spec.id == PYBULLET:
        import pybullet as p

        p.resetBaseVelocity(u.props[0].uid, [math.nan] * 3, [math.nan] * 3, physicsClientId=u.client)
    else:
        u.data.qvel[:] = np.nan


def assert_nothing_glues_the_hand(env: gym.Env[Any, Any]) -> None:
    """Holding is by contact and friction: no weld or attachment constraint exists."""
    u = env.unwrapped
    if env.spec is not None and env.spec.id == PYBULLET:
        import pybullet as p

        for i in range(p.getNumConstraints(physicsClientId=u.client)):
            info = p.getConstraintInfo(p.getConstraintUniqueId(i, physicsClientId=u.client), physicsClientId=u.client)
            assert info[0] == info[2] == u.robot  # only the fingers' mimic-joint gear
    else:
        import mujoco

        assert all(t == mujoco.mjtEq.mjEQ_JOINT for t in u.model.eq_type)  # only the fingers' coupling


@pytest.fixture(params=sorted(BACKENDS))
def env_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_check_env_passes_with_warnings_as_errors(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)


def test_registered_with_string_entry_point(env_id):
    assert gym.spec(env_id).entry_point == BACKENDS[env_id]


def test_same_seed_same_episode(make_env, env_id):
    runs = []
    for _ in range(2):
        env = make_env(env_id=env_id, task="tower", seed=7)
        obs, info = env.reset()
        frames = [obs["rgb"]["front"]]
        for t in range(6):
            obs, *_ = env.step(np.array([0.5, -0.3, -0.4, 0.2, 1.0 if t > 3 else -1.0]))
            frames.append(obs["rgb"]["top"])
        runs.append((info["instruction"], obs["proprio"]["joint_pos"], frames, obs["depth"]["front"]))
    (i1, q1, f1, d1), (i2, q2, f2, d2) = runs
    assert i1 == i2
    np.testing.assert_array_equal(q1, q2)
    np.testing.assert_array_equal(d1, d2)
    for a, b in zip(f1, f2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_observation_layout_and_camera_info(make_env, env_id):
    env = make_env(env_id=env_id, task="sort_by_colour", seed=0)
    obs, info = env.reset()
    assert env.observation_space.contains(obs)
    assert obs["rgb"]["front"].shape == (120, 160, 3) and obs["rgb"]["front"].dtype == np.uint8
    assert obs["depth"]["top"].dtype == np.float32
    assert set(info["cameras"]) == {"front", "top"}
    k = info["cameras"]["top"]["K"]
    assert k.shape == (3, 3) and k[0, 2] == 79.5 and k[1, 2] == 59.5  # pixel centres, OpenCV convention
    ids = set(np.unique(obs["segmentation"]["top"]).tolist())
    assert set(info["segmentation_ids"].values()) <= ids  # every prop is seen from above
    assert {TABLE_ID, ROBOT_ID} <= ids


def test_camera_matrices_project_objects_onto_their_pixels(make_env, env_id):
    """K and cam_to_world agree with the rendered depth and segmentation (what perception relies on)."""
    env = make_env(env_id=env_id, task="pick_place", seed=4, image_size=(240, 320))
    obs, info = env.reset()
    tolerance, kinds = DEPTH_CHECK[env_id]
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
            if kinds is None or state.spec.kind in kinds:
                assert obs["depth"][cam][vi, ui] == pytest.approx(pt[2], abs=tolerance), (name, cam)


def test_gripper_holds_by_friction_not_by_attachment(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=3, modalities=(), terminate_on_success=False)
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
    assert_nothing_glues_the_hand(env)
    assert u.world_state().get(name).pos[2] > 0.12  # lifted with the hand
    for _ in range(15):
        obs, *_ = env.step(np.array([0, 0, 0, 0, -1.0]))
    assert u.held_object() is None
    assert u.world_state().get(name).pos[2] < 0.01  # released: it fell back to the table


def test_nan_physics_ends_episode_with_reason(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=())
    env.reset()
    poison(env)
    obs, _reward, terminated, _truncated, info = env.step(np.zeros(5))
    assert terminated and "diverged" in info["physics_error"]
    assert np.all(np.isfinite(obs["proprio"]["joint_pos"]))
    assert all(np.isfinite(o.pos).all() for o in env.unwrapped.world_state().objects.values())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(5))


def test_divergence_can_raise(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=(), raise_on_divergence=True)
    env.reset()
    poison(env)
    with pytest.raises(PhysicsDivergence):
        env.step(np.zeros(5))


def test_unknown_task_lists_valid_ones(env_id):
    with pytest.raises(UnknownTaskError, match=r"valid tasks are: .*stack"):
        gym.make(env_id, task="juggle")


def test_actions_are_validated_and_clipped(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=())
    env.reset()
    with pytest.raises(ValueError, match="5 numbers"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0, 0, 0, 0]))
    *_, info = env.step(np.array([3.0, 0, 0, 0, 0]))
    assert info["action_clipped"]


def test_workspace_limit_clips_and_reports(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=())
    obs, _ = env.reset()
    clipped = []
    for _ in range(40):
        obs, _, _, _, info = env.step(np.array([0, 0, 1.0, 0, -1.0]))
        clipped.append(info["clipped"])
    assert any(clipped)
    assert obs["proprio"]["ee_pos"][2] <= 0.50 + 0.01


def test_truncates_at_max_steps(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=(), max_steps=3)
    env.reset()
    flags = [env.step(np.zeros(5))[3] for _ in range(3)]
    assert flags == [False, False, True]


@pytest.mark.parametrize("kwargs", [{"cameras": ("side",)}, {"modalities": ("thermal",)}, {"control_hz": 1e4}])
def test_bad_constructor_arguments_say_what_is_valid(env_id, kwargs):
    with pytest.raises(ValueError, match=r"choose|faster"):
        gym.make(env_id, **kwargs)


def test_pybullet_rejects_an_unknown_renderer():
    with pytest.raises(ValueError, match="choose"):
        gym.make("embodied/PybulletTabletop-v0", renderer="vulkan")


def test_ctrl_c_during_a_step_lands_after_the_step(make_env, env_id):
    """A KeyboardInterrupt inside rendering would be turned into an ordinary error by the GL binding."""
    env = make_env(env_id=env_id, task="stack", seed=0)
    env.reset()
    rig = env.unwrapped.rig
    render, finished = rig.render, []

    def interrupted_render(*args: Any) -> Any:
        signal.raise_signal(signal.SIGINT)
        images = render(*args)
        finished.append("render")
        return images

    rig.render = interrupted_render
    with pytest.raises(KeyboardInterrupt):
        env.step(np.zeros(5))
    assert finished == ["render"]  # the step, rendering included, ran to its end first
    rig.render = render
    obs, *_ = env.step(np.zeros(5))  # and the env is usable afterwards
    assert env.observation_space.contains(obs)
