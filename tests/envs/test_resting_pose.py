"""Ground truth knows where a prop rests whichever face it lies on (a flipped block is still on its base)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers the envs
from envs.scene_spec import ObjectSpec
from envs.tasks.predicates import holds, resting_poses

BLOCK = ObjectSpec("red block", "block", "red", 0.045, (0.5, 0.0))


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


@pytest.mark.parametrize(
    ("rot", "origin"),
    [
        (np.eye(3), (0.5, 0.0, 0.0)),  # upright: its own bottom face
        (_rot_x(math.pi), (0.5, 0.0, 0.045)),  # upside down: its own bottom face is on top
        (_rot_x(math.pi / 2), (0.5, 0.0225, 0.0225)),  # on its side: its own bottom face is beside it
    ],
)
def test_a_block_rests_at_its_lowest_face_however_it_lies(rot, origin):
    state = resting_poses((BLOCK,), np.array([origin]), np.array([rot]).reshape(1, 9))["red block"]
    assert state.pos == pytest.approx((0.5, 0.0, 0.0), abs=1e-9)
    assert state.top == pytest.approx(0.045)


def test_the_heading_of_a_block_on_its_side_comes_from_a_level_axis():
    rot = _rot_z(0.3) @ np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # rolled 90° about y, then turned 0.3 rad
    state = resting_poses((BLOCK,), np.zeros((1, 3)), rot.reshape(1, 9))["red block"]
    # Its x axis points up; its y axis is level and heads 0.3 + 90°: the same square footprint.
    assert math.remainder(state.yaw - 0.3, math.pi / 2) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("env_id", ["embodied/Tabletop-v0", "embodied/PybulletTabletop-v0"])
def test_a_block_flipped_upside_down_onto_another_is_on_it(env_id):
    env = gym.make(env_id, modalities=("rgb",), image_size=(48, 64))
    try:
        env.reset(seed=0)
        u = env.unwrapped
        world = u.world_state()
        blocks = [n for n, s in world.objects.items() if s.spec.kind == "block"]
        top, base = blocks[0], blocks[1]
        _flip_upside_down(u, top)
        b = world.get(base)
        u.set_object_pose(top, (b.pos[0], b.pos[1], b.top + 0.002))
        for _ in range(40):  # let it settle on the base
            env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        world = u.world_state()
        assert world.get(top).pos[2] == pytest.approx(world.get(base).top, abs=0.005)
        assert holds(world, ("on", top, base))
    finally:
        env.close()


def _flip_upside_down(u, name: str) -> None:
    """Turn a prop 180° about x in place (test-only access to each simulator's state)."""
    if hasattr(u, "data"):
        import mujoco

        from envs.tabletop.scene import body_name

        m, d = u.model, u.data
        adr = m.jnt_qposadr[m.body(body_name(name)).jntadr[0]]
        quat = d.qpos[adr + 3 : adr + 7].copy()
        flipped = np.zeros(4)
        mujoco.mju_mulQuat(flipped, quat, np.array([0.0, 1.0, 0.0, 0.0]))
        d.qpos[adr + 3 : adr + 7] = flipped
        mujoco.mj_forward(m, d)
    else:
        import pybullet as p

        body = next(b for b in u.props if b.name == name)
        com, quat = p.getBasePositionAndOrientation(body.uid, physicsClientId=u.client)
        _, flipped = p.multiplyTransforms((0, 0, 0), quat, (0, 0, 0), (1.0, 0.0, 0.0, 0.0))
        p.resetBasePositionAndOrientation(body.uid, com, flipped, physicsClientId=u.client)
