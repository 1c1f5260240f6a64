"""Fixtures of the perception tests: small tabletop envs, scene edits and a grasp servo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers embodied/Tabletop-v0 and picks the GL platform)

IMAGE_SIZE = (240, 320)
Obs = tuple[dict[str, Any], dict[str, Any]]


@pytest.fixture
def tabletop() -> Iterator[Callable[..., gym.Env[Any, Any]]]:
    """Factory for 320x240 ``embodied/Tabletop-v0`` envs that do not end on success; closed after the test."""
    made: list[gym.Env[Any, Any]] = []

    def factory(**kwargs: Any) -> gym.Env[Any, Any]:
        kwargs.setdefault("image_size", IMAGE_SIZE)
        kwargs.setdefault("terminate_on_success", False)
        env = gym.make("embodied/Tabletop-v0", **kwargs)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


def stack_blocks(env: gym.Env[Any, Any], top: str, bottom: str) -> Obs:
    """Teleport ``top`` onto ``bottom`` and render a fresh observation (gripper open, arm still)."""
    u = env.unwrapped
    b = u.world_state().get(bottom)  # type: ignore[attr-defined]
    u.set_object_pose(top, (b.pos[0], b.pos[1], b.pos[2] + b.spec.size + 0.001))  # type: ignore[attr-defined]
    obs, _, _, _, info = env.step(np.array([0.0, 0.0, 0.0, 0.0, -1.0]))
    return obs, info


def servo(
    env: gym.Env[Any, Any],
    obs: dict[str, Any],
    target: np.ndarray,
    grip: float,
    steps: int = 60,
    each: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> Obs:
    """Drive the TCP to ``target`` with gripper command ``grip``, calling ``each(obs, info)`` every step."""
    info: dict[str, Any] = {}
    for _ in range(steps):
        err = target - obs["proprio"]["ee_pos"]
        obs, _, _, _, info = env.step(np.array([*np.clip(err / 0.025, -1, 1), 0.0, grip]))
        if each is not None:
            each(obs, info)
        if np.linalg.norm(err) < 0.004:
            break
    return obs, info


def grasp_and_lift(
    env: gym.Env[Any, Any],
    obs: dict[str, Any],
    name: str,
    each: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> Obs:
    """Pick block ``name`` from above and lift it 15 cm (the scripted grasp of the env tests)."""
    block = env.unwrapped.world_state().get(name)  # type: ignore[attr-defined]
    grasp = np.array([block.pos[0], block.pos[1], block.pos[2] + block.spec.size / 2])
    obs, _ = servo(env, obs, grasp + [0, 0, 0.1], -1, each=each)
    obs, _ = servo(env, obs, grasp, -1, each=each)
    for _ in range(10):
        obs, _ = servo(env, obs, grasp, 1, steps=1, each=each)
    return servo(env, obs, grasp + [0, 0, 0.15], 1, each=each)


@pytest.fixture
def stack() -> Callable[[gym.Env[Any, Any], str, str], Obs]:
    """:func:`stack_blocks` as a fixture (test modules do not import conftest)."""
    return stack_blocks


@pytest.fixture
def grasp() -> Callable[..., Obs]:
    """:func:`grasp_and_lift` as a fixture."""
    return grasp_and_lift


@pytest.fixture
def move() -> Callable[..., Obs]:
    """:func:`servo` as a fixture."""
    return servo
