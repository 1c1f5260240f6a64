"""Shared fixtures: small, seeded tabletop envs that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers embodied/Tabletop-v0 and picks the GL platform)


@pytest.fixture
def make_env() -> Iterator[Callable[..., gym.Env[Any, Any]]]:
    """Factory for tabletop envs (MuJoCo unless ``env_id`` says otherwise; small images), closed after the test."""
    made: list[gym.Env[Any, Any]] = []

    def factory(env_id: str = "embodied/Tabletop-v0", **kwargs: Any) -> gym.Env[Any, Any]:
        kwargs.setdefault("image_size", (120, 160))
        env = gym.make(env_id, **kwargs)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


@pytest.fixture(autouse=True)
def _memory_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own memory file: nothing is read from or written to the user's data folder."""
    monkeypatch.setenv("EMBODIED_MEMORY", str(tmp_path_factory.mktemp("memory") / "memory.sqlite"))
