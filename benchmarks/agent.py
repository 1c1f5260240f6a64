"""Agent loop figures: prompt tokens per decision and framework overhead per decision.

* prompt tokens: the LLM planner's messages for real contexts of every task family (full
  primitive skill list, mid-episode turns with results, reflections and feedback), counted
  with the documented chars/4 estimate, in both answer modes (skills in the prompt as JSON,
  or as native tool schemas beside it);
* the same with memory: three recalled composite skills offered as tools (2, 4 and 6 steps,
  learned from a stack, a tower and a clear-the-table episode) and three memory lines — what
  every turn costs once memory is on, however large the library (only the top 3 are offered);
* overhead per decision, excluding the model: building the context (describe + skill
  schemas), building the prompt, parsing the answer and writing the trace events, with an
  instant scripted model. Perception and physics are measured by their own benchmarks.

Run: ``python -m benchmarks.agent`` (writes benchmarks/results/agent.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from embodied.core.decision import Context, Subgoal, ToolCall, ToolOutcome
from embodied.llm import ScriptedChatModel
from embodied.memory import generalise
from embodied.planners.language import LLMPlanner
from embodied.planners.prompting import PromptConfig, build_messages, count_prompt_tokens
from embodied.recording.recorder import Recorder
from embodied.skills.primitives import default_registry
from envs.tasks import FAMILIES, ObjectState, WorldState, sample_task
from perception.describe import describe
from perception.ground_truth import scene_from_world

RESULTS = Path(__file__).parent / "results" / "agent.json"
ANSWER = json.dumps({"thoughts": "pick it", "tool_calls": [{"name": "look", "arguments": {}}], "done": False})


def contexts(seeds: int) -> list[Context]:
    tools = tuple(default_registry().tools())
    out = []
    for family in sorted(FAMILIES):
        for seed in range(seeds):
            task = sample_task(family, seed)
            ws = WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], 0.0), o.yaw) for o in task.scene.objects})
            scene = scene_from_world(ws)
            call = ToolCall("pick", {"object": scene.objects[0].name})
            out.append(
                Context(
                    goal=task.instruction,
                    observation=describe(scene),
                    subgoals=tuple(Subgoal(f"{a[0]}({a[1]}, {a[2]})", "pending", (a,)) for a in task.goal),
                    tool_results=(ToolOutcome(call, False, "pick(object=...) failed: the block slipped"),),
                    tools=tools,
                    reflections=("The block slipped out of the gripper; approach it more slowly.",),
                    feedback=("Not done yet: perception shows on(a, b) does not hold.",),
                    turn=3,
                    scene=scene,
                )
            )
    return out


def recalled_memory() -> tuple[tuple[dict, ...], tuple[str, ...]]:
    """Three composite skills as memory offers them, and three memory lines."""
    registry = default_registry()
    blocks = ["red block", "blue block", "green block"]
    episodes = {
        "stack the red block on the blue block": [("red block", "blue block")],
        "build a tower of the blue, red and green blocks": [("red block", "blue block"), ("green block", "red block")],
        "put all the blocks in the bin": [(b, "bin") for b in blocks],
    }
    tools = []
    for instruction, moves in episodes.items():
        calls = []
        for obj, target in moves:
            calls += [ToolCall("pick", {"object": obj}), ToolCall("place", {"object": obj, "target": target})]
        program = generalise(instruction, calls, {*blocks, "bin"}, registry)
        assert program is not None
        tools.append(program.tool_schema())
    hits = (
        "Episode 'stack the red block on the blue block' succeeded (goal verified from perception) in 2 turns; "
        "calls: pick, place",
        "Reflection on 'put the green block in the bowl': the block slipped at the rim; place it from higher up.",
        "red block last seen at (0.52, 0.04, 0.06) m, on the blue block",
    )
    return tuple(tools), hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="scenes per task family")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    ctxs = contexts(args.seeds)
    tools = list(ctxs[0].tools)
    json_mode = [count_prompt_tokens(build_messages(c)) for c in ctxs]
    native = [count_prompt_tokens(build_messages(c, PromptConfig(list_tools=False)), tools=tools) for c in ctxs]
    composites, hits = recalled_memory()
    with_memory = [
        count_prompt_tokens(build_messages(replace(c, tools=c.tools + composites, memory_hits=hits))) for c in ctxs
    ]
    planner = LLMPlanner(ScriptedChatModel(lambda messages: ANSWER))
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(Path(tmp), video=False)
        times = []
        for _ in range(args.repeats):
            for c in ctxs:
                t = time.perf_counter()
                context = Context(
                    c.goal,
                    describe(c.scene),
                    c.subgoals,
                    (),
                    c.tool_results,
                    tuple(default_registry().tools()),
                    c.reflections,
                    c.feedback,
                    c.turn,
                    c.scene,
                )
                recorder.event("context", context=context.to_json())
                decision = planner.decide(context)
                recorder.event("decision", decision=decision.to_json())
                times.append(time.perf_counter() - t)
        recorder.finish({})
    result = {
        "machine": platform.machine(),
        "skills": len(tools),
        "contexts": len(ctxs),
        "prompt_tokens_json_mode_median": float(np.median(json_mode)),
        "prompt_tokens_json_mode_max": int(max(json_mode)),
        "prompt_tokens_native_tools_median": float(np.median(native)),
        "prompt_tokens_native_tools_max": int(max(native)),
        "prompt_tokens_json_mode_with_memory_median": float(np.median(with_memory)),
        "prompt_tokens_json_mode_with_memory_max": int(max(with_memory)),
        "overhead_ms_per_decision_median": float(np.median(times) * 1e3),
        "overhead_ms_per_decision_p95": float(np.percentile(times, 95) * 1e3),
        "token_counter": "chars/4 estimate (embodied.planners.prompting.estimate_tokens)",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:36s} {v:.2f}" if isinstance(v, float) else f"{k:36s} {v}")


if __name__ == "__main__":
    main()
