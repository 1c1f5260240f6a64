"""Learned ``pick`` and ``place`` against the scripted ones, on seeds the policies were not trained on,
judged by ground truth.

Both run through the skill registry (the path a planner's calls take) with vision perception (the
target comes from the cameras), on the same seeded scenes of the ``pick_place`` family:

* ``pick``: the task's block is held by both fingers and its bottom is more than 4 cm above the table
  after the call (ground truth), the same check as ``benchmarks/skills.py``;
* ``place``: the scripted ``pick``, then ``place`` on the task's plate; the task's goal holds (ground truth);
* the skill's own verdict (from perception) is compared with ground truth: a call that says it
  succeeded when it did not is counted (``false_successes``);
* ``episodes``: whole ``pick_place`` episodes with the classical planner and the learned policies
  backing the skills (``--policy pick=learned:PATH``); task success by ground truth.

``--family stack`` runs the same on stack scenes instead: the block goes on another block, a
target the policies never saw in training (pick_place puts blocks on plates).

Also reported: mean control steps per call, the policy's inference time per control step (one
forward pass on the CPU, both cameras), and the checkpoint's own training record (time, samples).

Run: ``python -m benchmarks.learned_policy --pick checkpoints/pick --place checkpoints/place [--episodes 100]
[--seed 10000]``;
writes ``benchmarks/results/learned_policy.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.skills import Case, run_case
from embodied.factory import EpisodeConfig, build_episode, make_registry
from envs.tasks import WorldState, holds
from policies.learned.checkpoint import read_config

RESULTS = Path(__file__).parent / "results" / "learned_policy.json"


def _picked(state: WorldState, atom: tuple[str, ...]) -> bool:
    return state.held == atom[1] and state.get(atom[1]).pos[2] > 0.04


CASES = {
    "pick": Case("pick_place", lambda a: [("pick", {"object": a[1]})], _picked),
    "place": Case(
        "pick_place", lambda a: [("pick", {"object": a[1]}), ("place", {"object": a[1], "target": a[2]})], holds
    ),
}


def skill_run(
    skill: str, name: str, policies: tuple[str, ...], episodes: int, seed: int, family: str = "pick_place"
) -> dict[str, Any]:
    registry = make_registry((), policies)
    case = CASES[skill]
    row = run_case(Case(family, case.calls, case.check), registry, episodes, seed, perceiver="vision")
    row["false_successes"] = sum(1 for f in row["failures"] if f.get("said_success"))
    fn = registry.get(skill).fn
    policy = getattr(fn, "policy", None)
    if policy is not None:
        times = np.asarray(policy.inference_s) * 1000
        row["inference_ms_mean"] = round(float(times.mean()), 3)
        row["inference_ms_p95"] = round(float(np.percentile(times, 95)), 3)
        row["policy_steps"] = len(times)
    print(f"{name:10s} {skill} {row['success_rate']:6.1%}  mean steps {row['mean_steps']:6.1f}  ({row['wall_s']} s)")
    return row


def episode_run(policies: tuple[str, ...], episodes: int, seed: int, family: str = "pick_place") -> dict[str, Any]:
    ok, verified_wrong, failures = 0, 0, []
    t0 = time.perf_counter()
    for s in range(seed, seed + episodes):
        config = EpisodeConfig(family, s, planner="classical", modalities=("rgb", "depth"), policies=policies)
        with build_episode(config) as episode:
            result = episode.run()
        ok += result.success
        verified_wrong += result.verified and not result.success
        if not result.success:
            failures.append({"seed": s, "reason": result.reason})
    print(f"episodes   {ok}/{episodes}  ({time.perf_counter() - t0:.0f} s)")
    return {
        "family": family,
        "episodes": episodes,
        "successes": ok,
        "success_rate": ok / episodes,
        "false_successes": verified_wrong,
        "wall_s": round(time.perf_counter() - t0, 1),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pick", type=Path, help="a pick policy (embodied policy train --skill pick)")
    parser.add_argument("--place", type=Path, help="a place policy (embodied policy train --skill place)")
    parser.add_argument("--episodes", type=int, default=100, help="seeded scenes per skill (default 100)")
    parser.add_argument("--seed", type=int, default=10_000, help="first seed; keep it off the training seeds")
    parser.add_argument("--task-episodes", type=int, default=20, help="whole pick_place episodes (default 20)")
    parser.add_argument(
        "--family",
        default="pick_place",
        help="scenes to test on (default pick_place, what `embodied record --task pick_place` trains on); "
        "stack: blocks placed on blocks, targets the policies never saw",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    checkpoints = {skill: path for skill, path in (("pick", args.pick), ("place", args.place)) if path is not None}
    if not checkpoints:
        parser.error("give --pick and/or --place: checkpoints written by `embodied policy train`")
    report: dict[str, Any] = {
        "benchmark": "learned_policy",
        "command": " ".join(["python -m benchmarks.learned_policy", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "judged_by": "ground truth",
        "perception": "vision",
        "first_seed": args.seed,
        "family": args.family,
    }
    specs = []
    for skill, path in checkpoints.items():
        spec = f"{skill}=learned:{path}"
        specs.append(spec)
        _config, training = read_config(path)
        learned = skill_run(skill, "learned", (spec,), args.episodes, args.seed, args.family)
        scripted = skill_run(skill, "scripted", (), args.episodes, args.seed, args.family)
        report[skill] = {
            "training": {k: v for k, v in training.items() if k != "history"},
            "learned": learned,
            "scripted": scripted,
        }
        report[f"{skill}_success_learned"] = learned["success_rate"]
        report[f"{skill}_success_scripted"] = scripted["success_rate"]
        report[f"{skill}_inference_ms_per_step"] = learned.get("inference_ms_mean")
    if args.task_episodes:
        report["episodes_with_learned_skills"] = episode_run(tuple(specs), args.task_episodes, args.seed, args.family)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
