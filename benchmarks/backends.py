"""MuJoCo vs PyBullet tabletop, side by side: simulation throughput and agent success.

* step: ``env.step`` without images (steps/s, 20 Hz control);
* full step: ``env.step`` rendering two 320x240 cameras of rgb + metric depth;
* success: the agent (classical planner + ground-truth perceiver over ``--seeds`` scenes per task
  family, and + vision perceiver over ``--vision-seeds`` scenes per family) on each backend.

Timing blocks alternate between the backends so that machine noise hits both alike.
Run: ``python -m benchmarks.backends [--seeds N] [--vision-seeds M]`` (writes benchmarks/results/backends.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers both backends and picks the headless GL platform)
from embodied.agent.loop import Agent
from embodied.planners.classical import ClassicalPlanner
from embodied.skills.primitives import default_registry
from envs.tasks import FAMILIES
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver
from perception.vision import VisionPerceiver

RESULTS = Path(__file__).parent / "results" / "backends.json"
BACKENDS = {"mujoco": "embodied/Tabletop-v0", "pybullet": "embodied/PybulletTabletop-v0"}
IMAGES: dict[str, Any] = {"image_size": (240, 320), "modalities": ("rgb", "depth")}


def _stepper(env_id: str, **kwargs: Any) -> tuple[gym.Env[Any, Any], Any]:
    env = gym.make(env_id, task="stack", seed=0, terminate_on_success=False, **kwargs)
    env.reset()
    u = env.unwrapped
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, size=(4096, 5))
    k = [0]

    def step() -> None:
        k[0] += 1
        *_, term, trunc, _ = u.step(actions[k[0] % len(actions)])
        if term or trunc:
            u.reset(seed=0)

    return env, step


def bench_throughput(rounds: int, n: int, **kwargs: Any) -> dict[str, float]:
    """Median steps/s of each backend over ``rounds`` interleaved blocks of ``n`` steps."""
    made = {name: _stepper(env_id, **kwargs) for name, env_id in BACKENDS.items()}
    times: dict[str, list[float]] = {name: [] for name in BACKENDS}
    for _ in range(rounds):
        for name, (_, step) in made.items():
            t = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - t) / n)
    for env, _ in made.values():
        env.close()
    out = {f"{name}_steps_per_s": 1.0 / float(np.median(ts)) for name, ts in times.items()}
    out["pybullet_over_mujoco"] = out["pybullet_steps_per_s"] / out["mujoco_steps_per_s"]
    return out


def run_episode(env_id: str, family: str, seed: int, vision: bool) -> dict[str, Any]:
    """One agent episode; returns success, why it ended, wall time and control steps."""
    kwargs: dict[str, Any] = IMAGES if vision else {"modalities": ()}
    env = gym.make(env_id, task=family, seed=seed, **kwargs)
    perceiver = VisionPerceiver() if vision else GroundTruthPerceiver(env)
    agent = Agent(ClassicalPlanner(), default_registry(), perceiver, describe)
    t = time.perf_counter()
    try:
        result = agent.run(env, seed=seed)
        ok, reason, steps = bool(result.success), result.reason, result.stats.get("control_steps")
    except Exception as e:  # noqa: BLE001 - a crash is a failed episode, recorded with its reason
        ok, reason, steps = False, f"crashed: {type(e).__name__}: {e}", None
    finally:
        env.close()
    return {
        "family": family,
        "seed": seed,
        "success": ok,
        "reason": reason,
        "steps": steps,
        "wall_s": time.perf_counter() - t,
    }


def bench_success(seeds: int, vision: bool, backends: list[str]) -> dict[str, Any]:
    """Success rate per backend and task family (``seeds`` scenes per family)."""
    out: dict[str, Any] = {}
    for name in backends:
        episodes = [run_episode(BACKENDS[name], f, s, vision) for f in sorted(FAMILIES) for s in range(seeds)]
        per_family = {f: sum(e["success"] for e in episodes if e["family"] == f) / seeds for f in sorted(FAMILIES)}
        out[name] = {
            "success_rate": sum(e["success"] for e in episodes) / len(episodes),
            "episodes": len(episodes),
            "per_family": per_family,
            "median_episode_wall_s": float(np.median([e["wall_s"] for e in episodes])),
            "failures": [e for e in episodes if not e["success"]],
        }
        print(f"{'vision' if vision else 'ground truth'} {name:9s} success {out[name]['success_rate']:.1%}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="scenes per task family")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing blocks per backend")
    parser.add_argument("--vision-seeds", type=int, default=1, help="scenes per family with vision (0 skips)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result: dict[str, Any] = {
        "command": f"python -m benchmarks.backends --seeds {args.seeds} --vision-seeds {args.vision_seeds}",
        # The agent's planner/skills iterate over sets of names: runs differ with the hash seed.
        "pythonhashseed": os.environ.get("PYTHONHASHSEED", "random"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "seeds": args.seeds,
        "vision_seeds": args.vision_seeds,
    }
    result["step_no_images"] = bench_throughput(args.rounds, 100, modalities=())
    print("step, no images:", json.dumps(result["step_no_images"]), flush=True)
    result["step_two_cameras_rgb_depth_320x240"] = bench_throughput(args.rounds, 10, **IMAGES)
    print("step, 2 cams rgb+depth:", json.dumps(result["step_two_cameras_rgb_depth_320x240"]), flush=True)
    result["success_ground_truth"] = bench_success(args.seeds, False, args.backends)
    if args.vision_seeds > 0:
        result["success_vision"] = bench_success(args.vision_seeds, True, args.backends)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
