"""Evaluation throughput with 1 vs 2 worker processes, measured side by side in one run.

The same seeded episodes (classical planner, ground-truth perception so the figure is about the
runner) are evaluated with ``--workers 1`` and ``--workers 2`` into fresh folders; the ratio of
episodes per second is the parallel scaling (target >= 1.8x on 2 cores).
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
    parser.add_argument("--episodes", type=int, default=4, help="seeds of each family used")
    parser.add_argument("--family", action="append", default=None)
    args = parser.parse_args()
    families = tuple(args.family or ("stack", "put_in_container"))
    specs = build_suite("standard", args.episodes, families)
    options = EvalOptions(planner="classical", perception="ground_truth", record=False)
    timings = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            rows = evaluate(specs, options, Path(tmp), workers=workers)
            timings[workers] = time.perf_counter() - t
            assert len(rows) == len(specs)
    result = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "episodes": len(specs),
        "seconds_1_worker": timings[1],
        "seconds_2_workers": timings[2],
        "episodes_per_s_1_worker": len(specs) / timings[1],
        "episodes_per_s_2_workers": len(specs) / timings[2],
        "scaling_2_vs_1": timings[1] / timings[2],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:26s} {v:.3f}" if isinstance(v, float) else f"{k:26s} {v}")


if __name__ == "__main__":
    main()
