"""Evaluation throughput with 1 vs 2 worker processes, warm vs fresh, measured side by side in one run.

The same seeded episodes (classical planner, ground-truth perception so the figure is about the
runner) are evaluated with ``--workers 1`` and ``--workers 2`` into fresh folders, each way twice:
with warm workers that run many episodes (the default) and with a fresh process per episode (the
runner before the warm pool). The ratio of episodes per second with 2 vs 1 warm workers is the
parallel scaling (target >= 1.8x on 2 cores).
Run: ``python -m benchmarks.eval_throughput`` (writes benchmarks/results/eval_throughput.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from embodied.evaluation.runner import EvalOptions, evaluate
from embodied.evaluation.suites import build_suite

RESULTS = Path(__file__).parent / "results" / "eval_throughput.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8, help="seeds of each family used")
    parser.add_argument("--family", action="append", default=None)
    args = parser.parse_args()
    families = tuple(args.family or ("stack", "put_in_container"))
    specs = build_suite("standard", args.episodes, families)
    options = EvalOptions(planner="classical", perception="ground_truth", record=False)
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
