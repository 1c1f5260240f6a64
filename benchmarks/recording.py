"""Recording overhead: the same episode with and without the recorder's video, side by side.

Runs one seeded episode (classical planner, ground-truth perception so that only recording
differs) ``--rounds`` times each way, alternating, and reports the median wall times and the
overhead ratio (target <= 0.10x of the episode's time). Encoding runs on a writer thread.
Run: ``python -m benchmarks.recording`` (writes benchmarks/results/recording.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from embodied.agent.loop import Agent
from embodied.planners.classical import ClassicalPlanner
from embodied.recording.recorder import Recorder
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver

RESULTS = Path(__file__).parent / "results" / "recording.json"


def episode(video: bool, task: str, seed: int) -> tuple[float, int]:
    env = gym.make(envs.TABLETOP_ID, task=task, seed=seed, modalities=("rgb",))
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(Path(tmp), video=video, fps=20)
        agent = Agent(ClassicalPlanner(), default_registry(), GroundTruthPerceiver(env), describe, tracer=recorder)
        t = time.perf_counter()
        result = agent.run(env, seed=seed)
        recorder.finish(vars(result))
        elapsed = time.perf_counter() - t
    env.close()
    return elapsed, int(result.stats["control_steps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--task", default="tower")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    episode(False, args.task, args.seed)  # warm-up: imports, planner engine, GL context
    with_video, without = [], []
    steps = 0
    for _ in range(args.rounds):
        t, steps = episode(False, args.task, args.seed)
        without.append(t)
        t, _ = episode(True, args.task, args.seed)
        with_video.append(t)
    base, rec = float(np.median(without)), float(np.median(with_video))
    result = {
        "machine": platform.machine(),
        "task": args.task,
        "seed": args.seed,
        "control_steps": steps,
        "episode_without_video_s": base,
        "episode_with_video_s": rec,
        "recording_overhead_ratio": (rec - base) / base,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:28s} {v:.3f}" if isinstance(v, float) else f"{k:28s} {v}")


if __name__ == "__main__":
    main()
