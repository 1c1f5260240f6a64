"""Instruction grounding: the pattern grounder, SmolLM2 zero-shot, SmolLM2 fine-tuned, and the default.

For every case the scene at rest is built from ground truth (as perception sees it when nothing
moves) and the instruction is grounded into goal atoms by:

* ``pattern``: the offline pattern grounder (:func:`embodied.planners.grounding.parse_instruction`);
* ``zero_shot``: SmolLM2-135M-Instruct without the adapter (``--llm local:base``), one LLM+P goal
  proposal (:meth:`~embodied.planners.language.LLMGoalPlanner.propose_goal`) under the goal schema;
* ``finetuned``: the same with the shipped LoRA adapter (``--llm local``): the model's first answer;
* ``default``: what ``--planner auto`` does with no ``--llm``: the fine-tuned model (asked again when
  its goal fails the consistency check) and the pattern grounder, the check deciding
  (:class:`embodied.planners.readings.TwoReadings`).

Case sets: (a) ``template``: each family's own wording, (b) ``paraphrase``: the paraphrase suite's
wording (``embodied eval --suite paraphrase``), both over seeds ``0..n-1``; (c) ``heldout`` and
``heldout_b``: the independent held-out sets A and B (``benchmarks/heldout``, each written apart
from the training generator and never trained on; 12-14% of each cannot be grounded, and there the
right answer is no goal). Set A's failures were studied while the position-word reader
(``embodied/planners/references.py``) was written, so since then it is a development set; set B
was written afterwards and read by nobody working on the grounders.

Scores: ``exact`` (the goal's atoms as a set equal the gold; for an ungroundable case, no goal),
``wrong_goal`` (a goal that is not the gold: the robot would do something it was not asked, the
worst failure) and ``no_goal`` (nothing grounded where something should have been: the episode
stops safely). Latency is per grounding call (median, p95); for ``finetuned`` it is the model's
first call, for ``default`` the whole two-reading grounding.

Run: ``python -m benchmarks.language`` (``--n`` seeds per family for (a) and (b), default 3;
``--no-model`` for the pattern grounder alone; ``--models finetuned`` to skip zero-shot).
Writes benchmarks/results/language.json.
"""

from __future__ import annotations

import argparse
import contextlib
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

from benchmarks.heldout import SETS as HELDOUT_SETS
from benchmarks.heldout import load_heldout
from embodied.errors import EmbodiedError
from embodied.evaluation.suites import paraphrase
from embodied.planners.grounding import goal_consistency, parse_instruction
from envs.tasks import FAMILIES, ObjectState, TaskInstance, WorldState, sample_task
from perception.ground_truth import scene_from_world
from perception.scene_graph import SceneGraph

RESULTS = Path(__file__).parent / "results" / "language.json"
SETS = ("template", "paraphrase", *HELDOUT_SETS)
Atoms = frozenset[tuple[str, ...]]
#: A grounder returns the goal and the seconds its model call took (``None``: time the whole call).
Grounder = Callable[[str, SceneGraph], tuple[Sequence[tuple[str, ...]], float | None]]


@dataclass(frozen=True)
class Case:
    family: str
    seed: int
    wording: str
    instruction: str
    scene: SceneGraph
    gold: Atoms | None  # None: cannot be grounded in this scene
    kind: str = ""


def scene_at_rest(task: TaskInstance) -> SceneGraph:
    """What perception reports for ``task``'s scene before anything moves (from ground truth)."""
    world = WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], 0.0), o.yaw) for o in task.scene.objects})
    return scene_from_world(world)


def cases(families: Sequence[str], n: int) -> list[Case]:
    """Every family x seeds ``0..n-1`` in both suite wordings, then the held-out sets."""
    out = []
    for family in families:
        for seed in range(n):
            task = sample_task(family, seed)
            scene, gold = scene_at_rest(task), frozenset(task.goal)
            words = {"template": task.instruction, "paraphrase": paraphrase(task, np.random.default_rng([seed, 17]))}
            out += [Case(family, seed, w, words[w], scene, gold) for w in ("template", "paraphrase")]
    for name, (path, _) in HELDOUT_SETS.items():
        for item in load_heldout(path):
            scene = scene_at_rest(sample_task(item.family, item.seed))
            gold = None if item.goal is None else frozenset(item.goal)
            out.append(Case(item.family, item.seed, name, item.instruction, scene, gold, item.kind))
    return out


def run(grounder: Grounder, todo: Sequence[Case], log: Path | None = None, name: str = "") -> list[dict[str, Any]]:
    """Ground every case; each row is also appended to ``log`` (JSON lines) as soon as it is done."""
    rows = []
    for case in todo:
        start = time.perf_counter()
        try:
            goal, model_s = grounder(case.instruction, case.scene)
            got: Atoms | None = frozenset(tuple(a) for a in goal) or None
            error = ""
        except EmbodiedError as e:
            got, error, model_s = None, str(e), None
        seconds = time.perf_counter() - start if model_s is None else model_s
        rows.append(
            {
                "family": case.family,
                "seed": case.seed,
                "set": case.wording,
                "kind": case.kind,
                "instruction": case.instruction,
                "gold": None if case.gold is None else sorted(map(list, case.gold)),
                "got": None if got is None else sorted(map(list, got)),
                "exact": got == case.gold,
                "wrong_goal": got is not None and got != case.gold,
                "no_goal": got is None and case.gold is not None,
                "error": error[:200],
                "seconds": round(seconds, 4),
            }
        )
        if log is not None:
            with log.open("a") as f:
                f.write(json.dumps({"grounder": name, **rows[-1]}) + "\n")
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["seconds"] for r in rows]
    out: dict[str, Any] = {
        "latency_median_s": round(statistics.median(times), 4),
        "latency_p95_s": round(float(np.percentile(times, 95)), 4),
    }
    for name in SETS:
        part = [r for r in rows if r["set"] == name]
        if not part:
            continue
        out[name] = {
            "cases": len(part),
            "exact": sum(r["exact"] for r in part),
            "accuracy": round(sum(r["exact"] for r in part) / len(part), 3),
            "wrong_goal": sum(r["wrong_goal"] for r in part),
            "no_goal": sum(r["no_goal"] for r in part),
            "ungroundable_refused": f"{sum(r['exact'] for r in part if r['gold'] is None)}"
            f"/{sum(r['gold'] is None for r in part)}",
            "per_family": {
                f: f"{sum(r['exact'] for r in part if r['family'] == f)}/{sum(r['family'] == f for r in part)}"
                for f in sorted({r["family"] for r in part})
            },
        }
    return out


class TimedModel:
    """A chat model that remembers how long each call took."""

    def __init__(self, model: Any) -> None:
        self.model, self.name, self.calls = model, model.name, []

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.model.chat(*args, **kwargs)
        finally:
            self.calls.append(time.perf_counter() - start)


def model_grounders(spec: str, threads: int | None) -> tuple[dict[str, Grounder], dict[str, Any]]:
    """The model alone (its first answer) and, for the fine-tuned model, the two-reading default."""
    from embodied.llm import make_chat_model
    from embodied.llm.answers import GOAL_PREDICATES, REGION_NAMES
    from embodied.planners.language import LLMGoalPlanner
    from embodied.planners.parsing import DecisionParseError, parse_goal
    from embodied.planners.readings import TwoReadings

    start = time.perf_counter()
    model = TimedModel(make_chat_model(spec, num_threads=threads))
    load_s = time.perf_counter() - start
    planner = LLMGoalPlanner(model)  # type: ignore[arg-type]
    start = time.perf_counter()
    planner.propose_goal("put the red block on the blue block", ["red block", "blue block"])
    info = {"model": model.name, "load_s": round(load_s, 2), "warmup_s": round(time.perf_counter() - start, 2)}

    def alone(instruction: str, scene: SceneGraph) -> tuple[Sequence[tuple[str, ...]], float | None]:
        model.calls.clear()
        try:
            return planner.propose_goal(instruction, scene.names), model.calls[0]
        except DecisionParseError:
            if model.calls:
                return (), model.calls[0]
            raise

    readings = TwoReadings(
        lambda text, scene: planner.propose_goal(
            text, scene.names, check=lambda atoms: goal_consistency(text, scene, atoms)
        )
    )

    firsts: list[tuple[Sequence[tuple[str, ...]], float | None]] = []

    def default(instruction: str, scene: SceneGraph) -> tuple[Sequence[tuple[str, ...]], float | None]:
        """The two-reading grounding; the model's first answer and its time are kept in ``firsts``."""
        model.calls.clear()
        planner.exchanges = []
        try:
            return readings(instruction, scene), None
        finally:
            atoms: Sequence[tuple[str, ...]] = ()
            if planner.exchanges:
                with contextlib.suppress(DecisionParseError):
                    atoms = parse_goal(planner.exchanges[0].response, scene.names, REGION_NAMES, GOAL_PREDICATES, True)
            firsts.append((atoms, model.calls[0] if model.calls else None))

    replayed = iter(firsts)

    def first_answer(instruction: str, scene: SceneGraph) -> tuple[Sequence[tuple[str, ...]], float | None]:
        """The fine-tuned model alone: its first answer in the default pass (greedy: what one call gives)."""
        return next(replayed)

    return {"alone": alone, "default": default, "first_answer": first_answer}, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3, help="seeds per family for the template and paraphrase sets")
    parser.add_argument("--families", nargs="*", default=sorted(FAMILIES), help="task families (default: all)")
    parser.add_argument("--no-model", action="store_true", help="measure the pattern grounder only")
    parser.add_argument("--models", nargs="*", default=["finetuned", "zero_shot"], help="finetuned and/or zero_shot")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads for the model")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS, help="case sets, run in this order")
    parser.add_argument("--shuffle", type=int, default=None, help="shuffle the cases with this seed")
    parser.add_argument("--log", type=Path, default=None, help="append each row to this JSON-lines file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    todo = [c for c in cases(args.families, args.n) if c.wording in args.sets]
    todo.sort(key=lambda c: args.sets.index(c.wording))  # in the order --sets names them
    if args.shuffle is not None:
        np.random.default_rng(args.shuffle).shuffle(todo)  # type: ignore[arg-type]
    import torch

    result: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads or torch.get_num_threads(),
        "seeds_per_family": args.n,
        "cases": {s: sum(c.wording == s for c in todo) for s in SETS},
        "load_average_at_start": round(os.getloadavg()[0], 2),  # other work on the machine inflates latency
    }
    groundings: dict[str, list[dict[str, Any]]] = {
        "pattern": run(lambda text, scene: (parse_instruction(text, scene), None), todo)
    }
    if not args.no_model:
        for which in args.models:
            spec = {"finetuned": "local", "zero_shot": "local:base"}[which]
            grounders, info = model_grounders(spec, args.threads)
            result[f"{which}_model"] = info
            if which == "finetuned":
                groundings["default"] = run(grounders["default"], todo, args.log, "default")
                groundings["finetuned"] = run(grounders["first_answer"], todo)
            else:
                groundings[which] = run(grounders["alone"], todo, args.log, which)
    for name, rows in groundings.items():
        stats = summary(rows)
        result.setdefault(name, {}).update(stats)
        for s in SETS:  # top-level scalars for benchmarks/results.md
            if s in stats:
                result[f"{name}_{s}_accuracy"] = stats[s]["accuracy"]
        result[f"{name}_latency_median_s"] = stats["latency_median_s"]
        result[f"{name}_latency_p95_s"] = stats["latency_p95_s"]
        for s in SETS:
            if s in stats:
                st = stats[s]
                print(
                    f"{name:9s} {s:10s} exact {st['exact']:3d}/{st['cases']:<3d} ({st['accuracy']:.1%})  "
                    f"wrong goal {st['wrong_goal']:3d}  no goal {st['no_goal']:3d}  "
                    f"ungroundable refused {st['ungroundable_refused']}"
                )
        print(f"{name:9s} latency median {stats['latency_median_s']:.3f} s, p95 {stats['latency_p95_s']:.3f} s")
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["rows"] = groundings
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
