"""Simulated robots as Gymnasium envs and the tabletop task suite.

Importing this package registers ``embodied/Tabletop-v0`` (MuJoCo),
``embodied/PybulletTabletop-v0`` (PyBullet) and ``embodied/RosTabletop-v0`` (the same contract
over ROS topics, :mod:`envs.ros`) with string entry points,
so a backend's heavy imports happen only when that env is made. It also picks a headless GL
platform (``MUJOCO_GL``) before MuJoCo is imported anywhere.

Both are registered with ``max_episode_steps`` equal to the env's own ``max_steps`` default
(:data:`envs.config.DEFAULT_MAX_STEPS`), so ``gym.make`` wraps them in a ``TimeLimit`` that agrees
with the env. A longer episode passes the same number twice:
``gym.make(id, max_steps=n, max_episode_steps=n)``; the env truncates at ``max_steps`` itself too,
so a shorter ``max_steps`` alone is enough.
"""

from __future__ import annotations

import gymnasium as gym

from envs.config import DEFAULT_MAX_STEPS
from envs.tabletop.gl import choose_mujoco_gl

choose_mujoco_gl()

TABLETOP_ID = "embodied/Tabletop-v0"
PYBULLET_TABLETOP_ID = "embodied/PybulletTabletop-v0"
ROS_TABLETOP_ID = "embodied/RosTabletop-v0"


def register_envs() -> None:
    """Register the embodied envs with Gymnasium (idempotent)."""
    entry_points = {
        TABLETOP_ID: "envs.tabletop.env:TabletopEnv",
        PYBULLET_TABLETOP_ID: "envs.pybullet.env:PybulletTabletopEnv",
        ROS_TABLETOP_ID: "envs.ros.env:RosTabletopEnv",
    }
    for env_id, entry_point in entry_points.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id, entry_point=entry_point, max_episode_steps=DEFAULT_MAX_STEPS, disable_env_checker=False
            )


register_envs()
