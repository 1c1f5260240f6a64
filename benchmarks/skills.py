"""Reliability of the primitive skills over seeded random scenes, judged with ground truth.

Each primitive runs through the skill registry (the same path a planner's calls take) with the
privileged ground-truth perceiver on ``--episodes`` seeded scenes of a task family, and success
is judged from the simulator's ground truth (the object really ends where it should):

* ``pick``: a ``stack`` scene's top block is held and lifted more than 4 cm;
* ``place_on_plate``: ``pick_place`` scenes, pick then place; the block is ``on`` the plate;
* ``stack``: ``stack`` scenes, pick then place; the block is ``on`` the other block;
* ``put_in_bowl``: ``put_in_container`` scenes, one ``place`` call (it picks first); ``in`` the bowl;
* ``put_in_bin``: ``clear_table`` scenes, the first block into the bin;
* ``place_in_region``: ``push_to_region`` scenes, the block placed in the task's region;
* ``push``: ``push_to_region`` scenes; the block rests inside the region.

Run: ``python benchmarks/skills.py [--episodes 50] [--seed 1000]``; writes
``benchmarks/results/skills.json`` (success rate, mean control steps, failures with messages).
``--perceiver vision`` runs the same skills on the OpenCV perceiver (rgb + depth rendered every
step, so slower); the file keeps one run per perceiver. Success is always judged by ground truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder is sys.path[0], and benchmarks/perception.py would shadow the
# perception package: drop it (the repository root comes from the editable install or PYTHONPATH).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the env, picks the headless GL platform)
from embodied.skills.primitives import default_registry
from embodied.skills.registry import SkillContext, SkillRegistry, SkillResult
from envs.tasks import WorldState, holds
from perception.ground_truth import GroundTruthPerceiver
from perception.scene_graph import Perceiver
from perception.vision import VisionPerceiver

RESULTS = Path(__file__).parent / "results" / "skills.json"


@dataclass(frozen=True)
class Case:
    """One benchmarked skill: the task family, the calls to make, and the ground-truth check."""

    family: str
    calls: Callable[[tuple[str, ...]], list[tuple[str, dict[str, Any]]]]
    check: Callable[[WorldState, tuple[str, ...]], bool]


def _picked(state: WorldState, atom: tuple[str, ...]) -> bool:
    return state.held == atom[1] and state.get(atom[1]).pos[2] > 0.04


CASES: dict[str, Case] = {
    "pick": Case("stack", lambda a: [("pick", {"object": a[1]})], _picked),
    "place_on_plate": Case(
        "pick_place",
        lambda a: [("pick", {"object": a[1]}), ("place", {"object": a[1], "target": a[2]})],
        holds,
    ),
    "stack": Case("stack", lambda a: [("pick", {"object": a[1]}), ("place", {"object": a[1], "target": a[2]})], holds),
    "put_in_bowl": Case("put_in_container", lambda a: [("place", {"object": a[1], "target": a[2]})], holds),
    "put_in_bin": Case("clear_table", lambda a: [("place", {"object": a[1], "target": a[2]})], holds),
    "place_in_region": Case("push_to_region", lambda a: [("place", {"object": a[1], "target": a[2]})], holds),
    "push": Case("push_to_region", lambda a: [("push", {"object": a[1], "region": a[2]})], holds),
}


def make_env_and_perceiver(family: str, perceiver: str) -> tuple[gym.Env[Any, Any], Perceiver]:
    """The env (rendering only what the perceiver needs) and the perceiver."""
    if perceiver == "vision":
        env = gym.make("embodied/Tabletop-v0", task=family, modalities=("rgb", "depth"), terminate_on_success=False)
        return env, VisionPerceiver()
    env = gym.make("embodied/Tabletop-v0", task=family, modalities=(), terminate_on_success=False)
    return env, GroundTruthPerceiver(env)


def run_case(
    case: Case, registry: SkillRegistry, episodes: int, seed0: int, perceiver: str = "ground_truth"
) -> dict[str, Any]:
    """Success rate (ground truth), the skill's own verdict, and control steps of the last call."""
    env, perc = make_env_and_perceiver(case.family, perceiver)
    ok, agreed, steps, failures = 0, 0, [], []
    t0 = time.perf_counter()
    for i in range(episodes):
        seed = seed0 + i
        ctx = SkillContext.reset(env, perc, seed=seed)
        atom = env.unwrapped.task.goal[0]
        results: list[SkillResult] = [registry.call(skill, args, ctx) for skill, args in case.calls(atom)]
        truth = case.check(env.unwrapped.world_state(), atom)
        ok += truth
        agreed += truth == results[-1].success
        steps.append(results[-1].steps)
        if not truth:
            said = results[-1].success  # the skill's own verdict (perception) said it worked: a false success
            failures.append({"seed": seed, "atom": list(atom), "message": results[-1].message, "said_success": said})
    env.close()
    return {
        "family": case.family,
        "episodes": episodes,
        "successes": ok,
        "success_rate": ok / episodes,
        "self_report_agreement": agreed / episodes,
        "mean_steps": float(np.mean(steps)),
        "wall_s": round(time.perf_counter() - t0, 2),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=50, help="seeded scenes per skill (default 50)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the first scene (default 1000)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these skills")
    parser.add_argument("--perceiver", choices=("ground_truth", "vision"), default="ground_truth")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    registry = default_registry()
    results = {}
    for name in args.only or CASES:
        results[name] = run_case(CASES[name], registry, args.episodes, args.seed, args.perceiver)
        r = results[name]
        print(f"{name:16s} {r['success_rate']:6.1%}  mean steps {r['mean_steps']:6.1f}  ({r['wall_s']} s)")
    run = {
        "episodes": args.episodes,
        "first_seed": args.seed,
        "command": " ".join(["python", "benchmarks/skills.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "skills": results,
    }
    # One file, one run per perceiver: a vision run keeps the ground-truth figures and vice versa.
    report: dict[str, Any] = {"benchmark": "skills", "judged_by": "ground truth", "runs": {}}
    if args.out.is_file():
        previous = json.loads(args.out.read_text())
        report["runs"].update(previous.get("runs", {}))
    report["runs"][args.perceiver] = run
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
