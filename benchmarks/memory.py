"""Persistent skill memory: retrieval latency over a large library, and planner decisions saved by it.

* retrieval: a memory file with ``--skills`` distinct composite skills (default 10,000; learned with
  :func:`embodied.memory.generalise` from synthetic but realistic instructions: towers, clearing,
  stacking, bowls, plates, pushes, in 1-6 clauses with varied objects) and ``--episodes`` episode
  summaries (default 2,000, with reflections and last-seen facts). ``Memory.recall`` (what the agent
  calls before a decision: top-3 skills plus memory lines) and ``MemoryStore.search`` over skills
  are timed on ``--queries`` varied queries, with the MiniLM embedder and with the lexical FTS5
  fallback: median, p95, and the first (cold) query of a freshly opened file, which loads the vector
  cache. Half the queries restate a stored skill with other objects; ``hit_at_3`` is how often recall
  offers that very skill.
  Target: retrieval over 10k skills under 50 ms.
* planner decisions: for each family and seed, with a fresh memory file, episode 1 learns, episode 2
  repeats the same task, episode 3 is another scene of the family (seed + 1000) with the same file;
  the same scene is also run without memory (``fresh3``) for a fair comparison. Classical planner,
  vision perception, ground-truth success. Decisions are the agent's turns; runs that hit the turn
  budget weigh heavily on the means, so the median over seeds of each seed's reduction is given too.
* subgoals (what a failed episode teaches): each multi-placement task is cut off after one turn (one
  placement, verified from perception; the episode fails), then run in full on that memory file and,
  for comparison, without memory. Skill calls, decisions and primitive steps of the two full runs.

Run: ``python -m benchmarks.memory`` (writes benchmarks/results/memory.json; ~15 min on 2 cores, most of
it embedding the library with MiniLM); ``--quick`` is ``--skills 2000 --episodes 500 --queries 20 --seeds 1``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embodied.core.decision import ToolCall
from embodied.memory import Embedder, Memory, MemoryStore, Program, generalise, make_embedder, validate
from embodied.skills.primitives import default_registry
from embodied.skills.registry import SkillRegistry
from envs.scene_spec import COLOURS
from envs.tasks import sample_task

RESULTS = Path(__file__).parent / "results" / "memory.json"
TARGET_MS = 50.0
FAMILIES = ("tower", "clear_table", "sort_by_colour", "stack", "pick_place")
RUNS = ("run1", "run2", "run3", "fresh3")  # learn; same task again; other scene with memory; other scene without
OTHER_SEED = 1000
SEVERAL_PLACEMENTS = ("tower", "clear_table", "sort_by_colour")  # where one composite can replace several turns
DEFAULTS = {"skills": (10_000, 2000), "episodes": (2000, 500), "queries": (100, 20), "seeds": (5, 1)}  # full, quick
CLAUSES_P = (0.25, 0.3, 0.2, 0.12, 0.08, 0.05)  # how many clauses (1-6) an instruction has: mostly short ones

# ---------------------------------------------------------------------- synthetic skill library
BLOCKS = [
    f"{size}{colour} block" for size in ("", "small ", "large ") for colour in sorted(COLOURS) if colour != "grey"
]
REGIONS = ("left side", "right side", "front", "back")
PHRASES = {
    "stack": ("put the {a} on the {b}", "stack the {a} on top of the {b}", "pick up the {a} and stack it on the {b}"),
    "bowl": ("drop the {a} into the {b}", "put the {a} in the {b}"),
    "plate": ("set the {a} down on the {b}", "place the {a} on the {b}"),
    "bin": ("throw the {a} in the bin", "put the {a} into the bin"),
    "region": ("move the {a} to the {r} of the table", "carry the {a} over to the {r}"),
    "push": ("push the {a} to the {r}", "slide the {a} to the {r} of the table", "nudge the {a} towards the {r}"),
}
PREFIX = {"look": "first step back and look at the table, then ", "open": "open the gripper, then "}
SUFFIX = {"check": " and look again at the end", "park": ", then park the arm out of the way"}
# A spec is what an instruction says, with objects as slots: (prefix, clauses, suffix, template);
# a clause is (kind, subject slot, target slot, region, phrasing); a slot is (kind, index).
Slot = tuple[str, int]
Clause = tuple[str, Slot, Slot | None, str, int]
Spec = tuple[str, tuple[Clause, ...], str, str]


def random_spec(rng: np.random.Generator) -> Spec:
    """A random instruction structure: a tower or clearing template, or 1-6 clauses with reused objects."""
    prefix = str(rng.choice(["", "", "", *PREFIX]))
    suffix = str(rng.choice(["", "", "", *SUFFIX]))
    if rng.random() < 0.1:
        n, template = int(rng.integers(2, 7)), str(rng.choice(["tower", "clear"]))
        if template == "tower":
            clauses = tuple(("stack", ("block", i), ("block", i - 1), "", 0) for i in range(1, n))
        else:
            clauses = tuple(("bin", ("block", i), ("bin", 0), "", 0) for i in range(n))
        return prefix, clauses, suffix, template
    blocks, containers, out = 0, {"bowl": 0, "plate": 0}, []
    for _ in range(int(rng.choice(len(CLAUSES_P), p=CLAUSES_P)) + 1):
        kind = str(rng.choice(list(PHRASES)))
        subject: Slot = ("block", int(rng.integers(blocks))) if blocks and rng.random() < 0.25 else ("block", blocks)
        blocks = max(blocks, subject[1] + 1)
        target: Slot | None = None
        if kind == "stack":
            others = [i for i in range(blocks) if i != subject[1]]
            target = ("block", int(rng.choice(others))) if others and rng.random() < 0.5 else ("block", blocks)
            blocks = max(blocks, target[1] + 1)
        elif kind in containers:
            index = int(rng.integers(containers[kind])) if containers[kind] and rng.random() < 0.5 else containers[kind]
            target, containers[kind] = (kind, index), max(containers[kind], index + 1)
        elif kind == "bin":
            target = ("bin", 0)
        region = str(rng.choice(REGIONS)) if kind in ("region", "push") else ""
        out.append((kind, subject, target, region, int(rng.integers(len(PHRASES[kind])))))
    return prefix, tuple(out), suffix, ""


def render(spec: Spec, rng: np.random.Generator) -> tuple[str, list[ToolCall], set[str]]:
    """The instruction, the calls that carry it out and the objects in view, with random objects in the slots."""
    prefix, clauses, suffix, template = spec
    slots = {s for c in clauses for s in (c[1], c[2]) if s is not None}
    blocks = iter(rng.permutation(BLOCKS))
    colours = {kind: iter(rng.permutation(sorted(COLOURS))) for kind in ("bowl", "plate")}
    names = {
        s: "bin" if s[0] == "bin" else str(next(blocks if s[0] == "block" else colours[s[0]])) for s in sorted(slots)
    }
    names.update({s: f"{names[s]} {s[0]}" for s in slots if s[0] in colours})
    calls = [ToolCall("look", {"step_back": True})] if prefix == "look" else []
    calls += [ToolCall("open_gripper", {})] if prefix == "open" else []
    for kind, subject, target, region, _ in clauses:
        a = names[subject]
        if kind == "push":
            calls.append(ToolCall("push", {"object": a, "region": region}))
        else:
            calls += [
                ToolCall("pick", {"object": a}),
                ToolCall("place", {"object": a, "target": names[target] if target else region}),
            ]
    calls += [ToolCall("look", {})] if suffix == "check" else []
    calls += [ToolCall("move_to", {"x": 0.35, "y": 0.0, "z": 0.25})] if suffix == "park" else []
    if template == "tower":
        order = [names[("block", i)] for i in range(len(clauses) + 1)]
        text = f"make a tower of the {', the '.join(order[:-1])} and the {order[-1]}, from the bottom up"
    elif template == "clear":
        text = f"clear the table: the {', the '.join(names[c[1]] for c in clauses)} all go in the bin"
    else:
        parts = [PHRASES[k][p].format(a=names[s], b=names[t] if t else "", r=r) for k, s, t, r, p in clauses]
        text = ", then ".join(parts)
    return PREFIX.get(prefix, "") + text + SUFFIX.get(suffix, ""), calls, set(names.values())


def library(n: int, registry: SkillRegistry, seed: int = 0) -> list[tuple[Spec, str, Program]]:
    """``n`` (spec, instruction, program) with pairwise different program keys."""
    rng = np.random.default_rng(seed)
    out, keys = [], set()
    for _ in range(50 * n):
        spec = random_spec(rng)
        text, calls, objects = render(spec, rng)
        program = generalise(text, calls, objects, registry)
        if program is None or program.key() in keys:
            continue
        validate(program, registry)
        keys.add(program.key())
        out.append((spec, text, program))
        if len(out) == n:
            return out
    raise RuntimeError(f"only {len(out)} distinct composite skills in {50 * n} tries; lower --skills")


def fill(path: Path, skills: list[tuple[Spec, str, Program]], episodes: int, seed: int = 1) -> dict[str, float]:
    """Store the skills and ``episodes`` episode summaries (lexical store: vectors are backfilled later)."""
    rng = np.random.default_rng(seed)
    with MemoryStore(path) as store:
        t = time.perf_counter()
        for _, text, program in skills:
            store.put_skill(program.to_json(), program.key(), example=text)
        skill_s = time.perf_counter() - t
        counts = store.counts()
        if counts["skill"] != len(skills):
            raise RuntimeError(f"{len(skills)} distinct skills were put but the file holds {counts['skill']}")
        t = time.perf_counter()
        for i in range(episodes):
            spec, _, program = skills[i % len(skills)]
            store.add_episode(*episode_summary(spec, program, rng))
        episode_s = time.perf_counter() - t
        counts = store.counts()
        documents = int(store.db.execute("SELECT count(*) FROM documents").fetchone()[0])
    return {
        "insert_skills_per_s": len(skills) / skill_s,
        "insert_episodes_per_s": episodes / episode_s if episodes else 0.0,
        "stored_episodes": counts["episode"],
        "stored_reflections": counts["reflection"],
        "stored_facts": counts["fact"],
        "documents": documents,
        "file_mb_lexical": file_mb(path),
    }


def episode_summary(spec: Spec, program: Program, rng: np.random.Generator) -> tuple[Any, ...]:
    """The arguments of ``MemoryStore.add_episode`` for an episode of ``spec`` with other objects (80% succeed)."""
    text, calls, objects = render(spec, rng)
    ok = bool(rng.random() < 0.8)
    reflections = () if ok else (f"The {sorted(objects)[0]} slipped out of the gripper; approach it more slowly.",)
    facts = tuple(
        (o, "last_seen", f"at ({rng.uniform(0.36, 0.68):.2f}, {rng.uniform(-0.26, 0.26):.2f}, 0.02) m")
        for o in sorted(objects)[:3]
    )
    calls_json = [{"turn": j, "name": c.name, "arguments": c.arguments, "success": True} for j, c in enumerate(calls)]
    reason = "goal verified from perception" if ok else "budget exhausted"
    metrics = {"turns": len(program.steps), "skill_calls": len(calls)}
    return text, ok, reason, calls_json, metrics, program.name if ok else None, reflections, facts


def file_mb(path: Path) -> float:
    """The memory file and its write-ahead log, in MB."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6


# ---------------------------------------------------------------------- retrieval timing
def queries(skills: list[tuple[Spec, str, Program]], n: int, seed: int = 2) -> list[tuple[str, str | None]]:
    """(query, key of the stored skill it restates or None): half restated skills, 30% new, 20% task instructions."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, str | None]] = []
    families = ("tower", "clear_table", "sort_by_colour", "stack", "pick_place", "put_in_container", "push_to_region")
    for i in range(n):
        if i % 10 < 5:
            spec, _, program = skills[int(rng.integers(len(skills)))]
            out.append((render(spec, rng)[0], program.key()))
        elif i % 10 < 8:
            out.append((render(random_spec(rng), rng)[0], None))
        else:
            out.append((sample_task(families[i % len(families)], 500 + i).instruction, None))
    return out


def stats_ms(times: list[float], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_ms_median": float(np.median(times) * 1e3),
        f"{prefix}_ms_p95": float(np.percentile(times, 95) * 1e3),
    }


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds ``fn(*args)`` took, and what it returned."""
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def retrieval(path: Path, embedder: Embedder | None, qs: list[tuple[str, str | None]], label: str) -> dict[str, Any]:
    """Recall and search latency on a freshly opened file (the first query is the cold one), and hit@3."""
    registry = default_registry()
    out: dict[str, Any] = {}
    with Memory(path, embedder=embedder) as memory:
        out[f"{label}_recall_ms_cold"] = timed(memory.recall, qs[0][0], registry)[0] * 1e3
        recall_times, hits, offered = [], [], []
        for query, key in qs:
            seconds, recalled = timed(memory.recall, query, registry)
            recall_times.append(seconds)
            offered.append(bool(recalled.programs))
            if key is not None:
                hits.append(any(p.key() == key for p in recalled.programs))
    with MemoryStore(path, embedder) as store:
        out[f"{label}_search_ms_cold"] = timed(store.search, qs[0][0], ("skill",), 5)[0] * 1e3
        search_times = [timed(store.search, query, ("skill",), 5)[0] for query, _ in qs]
    out.update(stats_ms(recall_times, f"{label}_recall"))
    out.update(stats_ms(search_times, f"{label}_search"))
    out[f"{label}_recall_offered_fraction"] = float(np.mean(offered))
    out[f"{label}_hit_at_3"] = float(np.mean(hits)) if hits else 0.0
    if embedder is not None:
        out.update(stats_ms([timed(embedder.encode, [query])[0] for query, _ in qs], f"{label}_query_embed"))
    return out


def retrieval_benchmark(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    registry = default_registry()
    generation_s, skills = timed(library, args.skills, registry)
    path = folder / "library.sqlite"
    result: dict[str, Any] = {"skills": args.skills, "library_generation_s": generation_s}
    result["skill_steps_median"] = float(np.median([len(p.steps) for _, _, p in skills]))
    result.update(fill(path, skills, args.episodes))
    qs = queries(skills, args.queries)
    result["queries"] = len(qs)
    result.update(retrieval(path, None, qs, "lexical"))
    embedder = make_embedder("minilm")
    assert embedder is not None
    result["minilm_model_load_s"] = timed(embedder.encode, ["warm up"])[0]
    with MemoryStore(path, embedder) as store:  # the first vector search embeds every document
        result["minilm_backfill_s"] = timed(store.search, "warm up", ("skill",), 1)[0]
    result["minilm_backfill_docs_per_s"] = result["documents"] / result["minilm_backfill_s"]
    result["file_mb_minilm"] = file_mb(path)
    result.update(retrieval(path, embedder, qs, "minilm"))
    result["target_ms"] = TARGET_MS
    result["minilm_recall_p95_under_target"] = result["minilm_recall_ms_p95"] < TARGET_MS
    result["lexical_recall_p95_under_target"] = result["lexical_recall_ms_p95"] < TARGET_MS
    return result


# ---------------------------------------------------------------------- planner decisions
class _Calls:
    """Tracer that counts primitive skill executions and calls of learned composites."""

    def __init__(self, primitives: set[str]) -> None:
        self.primitives, self.composites, self.steps = primitives, 0, 0

    def event(self, kind: str, **data: Any) -> None:
        if kind == "tool_result":
            self.steps += len(data.get("steps_run", ())) or 1
            self.composites += data["name"] not in self.primitives

    def set_overlay(self, **fields: str) -> None:
        return None

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        return None


def episode(family: str, seed: int, memory: Memory | None, max_turns: int | None = None) -> dict[str, Any]:
    """One episode (classical planner, vision perception) and what it cost; ``max_turns`` cuts it short."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)
    from embodied.agent.loop import Agent, Budgets
    from embodied.planners.classical import ClassicalPlanner
    from perception.describe import describe
    from perception.vision import VisionPerceiver

    registry = default_registry()
    tracer = _Calls(set(registry.names))
    env = gym.make("embodied/Tabletop-v0", task=family, terminate_on_success=False)
    try:
        budgets = Budgets() if max_turns is None else Budgets(max_turns=max_turns)
        agent = Agent(
            ClassicalPlanner(), registry, VisionPerceiver(), describe, memory=memory, tracer=tracer, budgets=budgets
        )
        wall_s, result = timed(agent.run, env, None, seed)
    finally:
        env.close()
    learned = result.stats.get("memory", {})
    return {
        "seed": seed,
        "instruction": result.instruction,
        "decisions": result.turns,
        "skill_calls": result.skill_calls,
        "primitive_steps": tracer.steps,
        "success": bool(result.success),
        "verified": bool(result.verified),
        "composite_called": tracer.composites > 0,
        "composite_worked": any(learned.get("skills_used", {}).values()),
        "learned": learned.get("skill"),
        "learned_from_subgoals": [sub["skill"] for sub in learned.get("subgoal_skills", ())],
        "wall_s": wall_s,
    }


def family_runs(family: str, seed: int, folder: Path, embedder: str) -> dict[str, dict[str, Any]]:
    """run1 and run2 on ``seed`` and run3 on another scene with one fresh memory file; fresh3 without memory."""
    path = folder / f"{family}-{seed}.sqlite"
    rows = {}
    for run, s in (("run1", seed), ("run2", seed), ("run3", seed + OTHER_SEED)):
        with Memory(path, embedder=embedder) as memory:
            rows[run] = episode(family, s, memory)
    rows["fresh3"] = episode(family, seed + OTHER_SEED, None)
    return rows


def summary(rows: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Means over seeds of decisions, success and composite use per run, and the reductions of decisions:
    of the means, and the median over seeds of each seed's own reduction (robust to budget-length runs)."""
    out: dict[str, Any] = {}
    for run in RUNS:
        out[f"decisions_{run}"] = float(np.mean([r[run]["decisions"] for r in rows]))
        out[f"decisions_{run}_median"] = float(np.median([r[run]["decisions"] for r in rows]))
        out[f"skill_calls_{run}"] = float(np.mean([r[run]["skill_calls"] for r in rows]))
        out[f"success_{run}"] = float(np.mean([r[run]["success"] for r in rows]))
        out[f"wall_s_{run}"] = float(np.mean([r[run]["wall_s"] for r in rows]))
    out["learned_run1"] = float(np.mean([r["run1"]["learned"] is not None for r in rows]))
    for run in ("run2", "run3"):
        out[f"composite_used_{run}"] = float(np.mean([r[run]["composite_called"] for r in rows]))
    for run, base in (("run2", "run1"), ("run3", "run1"), ("run3", "fresh3")):
        out[f"reduction_{run}_vs_{base}"] = 1 - out[f"decisions_{run}"] / out[f"decisions_{base}"]
        paired = [1 - r[run]["decisions"] / r[base]["decisions"] for r in rows]
        out[f"reduction_{run}_vs_{base}_median_paired"] = float(np.median(paired))
    # The measure: the same task again after a first run the agent verified (so it learned).
    pairs = [r for r in rows if r["run1"]["verified"] and r["run1"]["success"]]
    out["verified_pairs"] = len(pairs)
    if pairs:
        first, again = sum(r["run1"]["decisions"] for r in pairs), sum(r["run2"]["decisions"] for r in pairs)
        out["decisions_run1_verified"], out["decisions_run2_verified"] = first, again
        out["reduction_run2_vs_run1_verified"] = 1 - again / first
        out["composite_used_run2_verified"] = float(np.mean([r["run2"]["composite_called"] for r in pairs]))
        out["success_run2_verified"] = float(np.mean([r["run2"]["success"] for r in pairs]))
    return out


def planner_benchmark(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    per_family: dict[str, Any] = {}
    every = []
    for family in args.families:
        rows = []
        for seed in range(args.seeds):
            rows.append(family_runs(family, seed, folder, args.embedder))
            r = rows[-1]
            print(
                f"{family:15s} seed {seed}: decisions "
                + " / ".join(f"{run} {r[run]['decisions']}{'' if r[run]['success'] else '(fail)'}" for run in RUNS),
                flush=True,
            )
        per_family[family] = {**summary(rows), "episodes": rows}
        every += rows
    result = {f"planner_{k}": v for k, v in summary(every).items()}
    several = [r for family in args.families if family in SEVERAL_PLACEMENTS for r in per_family[family]["episodes"]]
    if several:
        result.update({f"planner_several_placements_{k}": v for k, v in summary(several).items()})
    result.update(
        {"planner_embedder": args.embedder, "planner_seeds": args.seeds, "planner_families": ",".join(args.families)}
    )
    result["planner_per_family"] = per_family
    return result


def subgoal_benchmark(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """What a failed episode teaches: each multi-placement task is first cut off after one turn (one
    placement, verified), then run in full with that memory file, against the full run with no memory."""
    rows: list[dict[str, Any]] = []
    for family in SEVERAL_PLACEMENTS:
        for seed in range(args.seeds):
            path = folder / f"subgoal-{family}-{seed}.sqlite"
            with Memory(path, embedder=args.embedder) as memory:
                cut = episode(family, seed, memory, max_turns=1)
            with Memory(path, embedder=args.embedder) as memory:
                after = episode(family, seed, memory)
            fresh = episode(family, seed, None)
            rows.append({"family": family, "cut": cut, "after": after, "fresh": fresh})
            print(
                f"{family:15s} seed {seed}: cut off after 1 turn learned {cut['learned_from_subgoals']}; "
                f"full run {after['skill_calls']} calls / {after['decisions']} decisions "
                f"vs {fresh['skill_calls']} / {fresh['decisions']} without memory",
                flush=True,
            )
    taught = [r for r in rows if r["cut"]["learned_from_subgoals"]]
    out: dict[str, Any] = {
        "subgoal_runs": len(rows),
        "subgoal_cut_runs_that_taught": len(taught),
        "subgoal_cut_runs_verified": sum(r["cut"]["verified"] for r in rows),
    }
    if taught:
        for key in ("skill_calls", "decisions", "primitive_steps"):
            with_memory, without = (sum(r[run][key] for r in taught) for run in ("after", "fresh"))
            out[f"subgoal_{key}_after"], out[f"subgoal_{key}_fresh"] = with_memory, without
            out[f"subgoal_{key}_reduction"] = 1 - with_memory / without
        out["subgoal_composite_used_after"] = float(np.mean([r["after"]["composite_called"] for r in taught]))
        out["subgoal_success_after"] = float(np.mean([r["after"]["success"] for r in taught]))
        out["subgoal_success_fresh"] = float(np.mean([r["fresh"]["success"] for r in taught]))
    out["subgoal_episodes"] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skills", type=int, help="distinct composite skills in the library (10000; quick 2000)")
    parser.add_argument("--episodes", type=int, help="episode summaries stored beside the skills (2000; quick 500)")
    parser.add_argument("--queries", type=int, help="timed queries (100; quick 20)")
    parser.add_argument("--seeds", type=int, help="seeds per family for the planner runs (5; quick 1)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--embedder", choices=("minilm", "lexical"), default="lexical", help="for the planner runs")
    parser.add_argument("--quick", action="store_true", help="the smaller defaults (a few minutes)")
    parser.add_argument(
        "--part",
        choices=("all", "retrieval", "planner", "subgoals"),
        default="all",
        help="rerun one part; the other's figures stay",
    )
    args = parser.parse_args()
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    result: dict[str, Any] = json.loads(RESULTS.read_text()) if args.part != "all" and RESULTS.is_file() else {}
    result.update({"machine": platform.machine(), "cpus": os.cpu_count(), "quick": args.quick})
    result["load_1min_start"] = os.getloadavg()[0]  # the machine may be shared: latencies depend on it
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "retrieval"):
            retrieval_figures = retrieval_benchmark(args, Path(tmp))
            result.update(retrieval_figures)
            show(retrieval_figures)
        if args.part in ("all", "planner"):
            planner = planner_benchmark(args, Path(tmp))
            result.update(planner)
            show(planner)
        if args.part in ("all", "subgoals"):
            subgoals = subgoal_benchmark(args, Path(tmp))
            result.update(subgoals)
            show(subgoals)
    result["load_1min_end"] = os.getloadavg()[0]
    result["benchmark_wall_s"] = time.perf_counter() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'benchmark_wall_s':40s} {result['benchmark_wall_s']:.1f}")


def show(figures: dict[str, Any]) -> None:
    for k, v in figures.items():
        if not isinstance(v, dict):
            print(f"{k:40s} {v:.3f}" if isinstance(v, float) else f"{k:40s} {v}", flush=True)


if __name__ == "__main__":
    main()
