"""Evaluation throughput with 1 vs 2 worker processes, warm vs fresh, measured side by side in one run.

The same seeded episodes (classical planner, ground-truth perception so the figure is about the
runner) are evaluated with ``--workers 1`` and ``--workers 2`` into fresh folders, each way twice:
with warm workers that run many episodes (the default) and with a fresh process per episode (the
runner before the warm pool). The ratio of episodes per second with 2 vs 1 warm workers is the
parallel scaling (target >= 1.8x on 2 cores).

With ``--ray``, the same episodes on a local Ray instead (a fresh ``ray.init`` with a CPU per core
for each measurement, as a new ``embodied eval --ray`` gets): each episode as a Ray task (the runner
before the actors) against the runner's warm actors, alternating, ``--rounds`` times each; the
figures are added to the results file beside the local ones.
Run: ``python -m benchmarks.eval_throughput [--ray]`` (writes benchmarks/results/eval_throughput.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from embodied.evaluation.runner import EvalOptions, evaluate, run_episode
from embodied.evaluation.suites import EpisodeSpec, build_suite

RESULTS = Path(__file__).parent / "results" / "eval_throughput.json"


def _ray_once(ray: Any, actors: bool, specs: list[EpisodeSpec], options: EvalOptions) -> float:
    """Seconds to run ``specs`` on a fresh local Ray: as the runner's actors, or one task per episode."""
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            if actors:
                rows = evaluate(specs, options, Path(tmp), ray_address="local")
            else:
                task = ray.remote(max_retries=0)(run_episode)
                rows = ray.get([task.remote(spec, options, tmp) for spec in specs])
            elapsed = time.perf_counter() - t
    finally:
        ray.shutdown()
    assert len(rows) == len(specs) and not any(r.get("worker_failure") for r in rows), rows
    return elapsed


def ray_side(specs: list[EpisodeSpec], options: EvalOptions, rounds: int) -> dict[str, Any]:
    """Episodes per second of Ray tasks and of Ray actors (medians of ``rounds``, alternating)."""
    import ray

    seconds: dict[bool, list[float]] = {False: [], True: []}
    for r in range(rounds):
        for actors in (False, True) if r % 2 == 0 else (True, False):
            seconds[actors].append(_ray_once(ray, actors, specs, options))
    tasks_s, actors_s = float(np.median(seconds[False])), float(np.median(seconds[True]))
    return {
        "ray_load_at_start": os.getloadavg()[0],
        "ray_rounds": rounds,
        "ray_seconds_tasks": seconds[False],
        "ray_seconds_actors": seconds[True],
        "episodes_per_s_ray_tasks": len(specs) / tasks_s,
        "episodes_per_s_ray_actors": len(specs) / actors_s,
        "ray_actors_vs_tasks": tasks_s / actors_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8, help="seeds of each family used")
    parser.add_argument("--family", action="append", default=None)
    parser.add_argument("--ray", action="store_true", help="measure Ray tasks against Ray actors instead")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each Ray side (with --ray)")
    args = parser.parse_args()
    families = tuple(args.family or ("stack", "put_in_container"))
    specs = build_suite("standard", args.episodes, families)
    options = EvalOptions(planner="classical", perception="ground_truth", record=False)
    if args.ray:
        previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        ray_result = {"ray_episodes": len(specs), **ray_side(specs, options, args.rounds)}
        RESULTS.write_text(json.dumps({**previous, **ray_result}, indent=2) + "\n")
        for k, v in ray_result.items():
            print(f"{k:26s} {v:.3f}" if isinstance(v, float) else f"{k:26s} {v}")
        return
    load = os.getloadavg()[0]
    timings = {}
    for mode, per_worker in (("warm", None), ("fresh", 1)):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                rows = evaluate(specs, options, Path(tmp), workers=workers, episodes_per_worker=per_worker)
                timings[mode, workers] = time.perf_counter() - t
                assert len(rows) == len(specs)
                assert not any(r.get("worker_failure") for r in rows), rows
    n = len(specs)
    result = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_at_start": load,
        "episodes": n,
        **{f"seconds_{mode}_{w}_worker{'s' * (w > 1)}": v for (mode, w), v in timings.items()},
        **{f"episodes_per_s_{mode}_{w}_worker{'s' * (w > 1)}": n / v for (mode, w), v in timings.items()},
        "scaling_2_vs_1": timings["warm", 1] / timings["warm", 2],
        "scaling_2_vs_1_fresh": timings["fresh", 1] / timings["fresh", 2],
        "warm_vs_fresh_2_workers": timings["fresh", 2] / timings["warm", 2],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:26s} {v:.3f}" if isinstance(v, float) else f"{k:26s} {v}")


if __name__ == "__main__":
    main()
