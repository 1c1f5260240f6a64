"""Same-seed trajectory hashes: a refactor that claims "behaviour does not change" shows it here.

Runs one episode per (backend, family, seed) with the classical planner and vision perception,
and hashes every control step's proprio and every object's ground-truth pose (rounded to 1e-9),
plus the agent's verdict. Run before and after a change; the hashes must be identical.

    python -m benchmarks.trajectory_hash            # writes benchmarks/results/trajectory_hash.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

CASES = (("tabletop", "stack", 0), ("tabletop", "tower", 1), ("pybullet", "stack", 0))
OUT = Path(__file__).parent / "results" / "trajectory_hash.json"


class _Hasher:
    """A tracer that hashes what the robot and the objects did at every control step."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.digest = hashlib.sha256()
        self.steps = 0

    def event(self, kind: str, **data: Any) -> None:
        pass

    def set_overlay(self, **fields: str) -> None:
        pass

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.steps += 1
        for key in sorted(obs["proprio"]):
            self.digest.update(np.round(np.asarray(obs["proprio"][key], dtype=np.float64), 9).tobytes())
        world = self.env.unwrapped.world_state()
        for name in sorted(world.objects):
            state = world.objects[name]
            self.digest.update(name.encode())
            self.digest.update(np.round(np.asarray([*state.pos, state.yaw], dtype=np.float64), 9).tobytes())


def trajectory(backend: str, family: str, seed: int) -> dict[str, Any]:
    from embodied.factory import EpisodeConfig, build_episode

    episode = build_episode(EpisodeConfig(task=family, seed=seed, env=backend, planner="classical"), memory=None)
    hasher = _Hasher(episode.env)
    episode.agent.tracer = hasher
    try:
        result = episode.agent.run(episode.env, seed=seed)
    finally:
        episode.close()
    hasher.digest.update(json.dumps([result.success, result.verified, result.turns, result.skill_calls]).encode())
    return {"steps": hasher.steps, "success": result.success, "sha256": hasher.digest.hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = {f"{b}/{f}/{s}": trajectory(b, f, s) for b, f, s in CASES}
    for key, row in rows.items():
        print(key, row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
