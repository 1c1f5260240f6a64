"""Simulated robots as Gymnasium envs and the tabletop task suite.

Importing this package registers ``embodied/Tabletop-v0`` (MuJoCo) and
``embodied/PybulletTabletop-v0`` (PyBullet) with string entry points,
so a backend's heavy imports happen only when that env is made. It also picks a headless GL
platform (``MUJOCO_GL``) before MuJoCo is imported anywhere.
"""

from __future__ import annotations

import gymnasium as gym

from envs.tabletop.gl import choose_mujoco_gl

choose_mujoco_gl()

TABLETOP_ID = "embodied/Tabletop-v0"
PYBULLET_TABLETOP_ID = "embodied/PybulletTabletop-v0"


def register_envs() -> None:
    """Register the embodied envs with Gymnasium (idempotent)."""
    if TABLETOP_ID not in gym.registry:
        gym.register(id=TABLETOP_ID, entry_point="envs.tabletop.env:TabletopEnv", disable_env_checker=False)
    if PYBULLET_TABLETOP_ID not in gym.registry:
        gym.register(
            id=PYBULLET_TABLETOP_ID, entry_point="envs.pybullet.env:PybulletTabletopEnv", disable_env_checker=False
        )


register_envs()
