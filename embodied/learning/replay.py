"""``embodied replay``: re-execute a recorded episode's actions from its seed and compare where the props end.

The env is rebuilt as the episode was recorded (family, seed, backend), reset to the same scene, and
stepped with the recorded actions, one per frame, without cameras (rendering does not move anything).
If the dataset holds everything the episode did, every prop ends where the recording says it ended.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied.datasets import Dataset
from embodied.factory import ENV_IDS, UsageError
from embodied.learning.record import poses
from envs.base import tabletop_env
from envs.tasks import FAMILIES, sample_task

#: How far (m) a prop may end from its recorded final position for a replay to count as matching.
POSITION_TOLERANCE_M = 0.005


@dataclass(frozen=True)
class ReplayResult:
    """How a replay ended against the recording."""

    episode: int
    steps: int
    errors_m: dict[str, float]
    tolerance_m: float

    @property
    def max_error_m(self) -> float:
        return max(self.errors_m.values(), default=0.0)

    @property
    def matches(self) -> bool:
        return self.max_error_m <= self.tolerance_m


def replay(root: Path | str, episode: int, tolerance_m: float = POSITION_TOLERANCE_M) -> ReplayResult:
    """Replay episode ``episode`` of the dataset at ``root``."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)

    ds = Dataset(root)
    if not 0 <= episode < ds.num_episodes:
        raise UsageError(f"episode {episode} is not in {root}: it has episodes 0..{ds.num_episodes - 1}")
    meta = ds.episode(episode)
    family, seed, backend = str(meta["family"]), int(meta["seed"]), str(meta["env"])
    if family not in FAMILIES or backend not in ENV_IDS or backend == "ros":
        raise UsageError(f"episode {episode} was recorded on {backend!r} with task {family!r}: it cannot be replayed")
    actions = np.asarray(ds.episode_frames(episode)["action"], dtype=np.float64).reshape(-1, 5)
    recorded: dict[str, list[float]] = json.loads(str(meta["final_poses"]))
    steps = len(actions) + 1
    kwargs: dict[str, Any] = {"task": family, "modalities": (), "terminate_on_success": False, "max_steps": steps}
    env = gym.make(ENV_IDS[backend], max_episode_steps=steps, **kwargs)
    try:
        env.reset(seed=seed, options={"task": sample_task(family, seed)})
        for a in actions:
            env.step(a)
        final = poses(tabletop_env(env).world_state())
    finally:
        env.close()
    errors = {name: _distance(recorded[name], final.get(name)) for name in recorded}
    return ReplayResult(episode, len(actions), errors, tolerance_m)


def _distance(a: list[float], b: list[float] | None) -> float:
    return math.inf if b is None else math.dist(a[:3], b[:3])


def describe(result: ReplayResult) -> dict[str, Any]:
    """The result as a JSON-able dict (what the CLI prints with ``--json``)."""
    return {
        "episode": result.episode,
        "steps": result.steps,
        "max_error_m": result.max_error_m,
        "tolerance_m": result.tolerance_m,
        "matches": result.matches,
        "errors_m": result.errors_m,
    }
