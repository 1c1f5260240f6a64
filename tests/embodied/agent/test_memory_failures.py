"""A memory file that fails during an episode: the episode goes on without memory, to its normal end.

Real files, damaged by writing garbage over pages past the first (header and schema intact).
"""

from __future__ import annotations

import logging

from embodied.agent.loop import Agent
from embodied.core.decision import Decision, ToolCall
from embodied.memory import Memory
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver
from tests.embodied.agent.test_loop import ListTracer, ScriptedPlanner
from tests.embodied.memory.test_damaged_files import damage, filled_memory

GOAL = (("on", "orange block", "small yellow block"),)


def _stack_planner() -> ScriptedPlanner:
    orange = {"object": "orange block"}
    place = ToolCall("place", {**orange, "target": "small yellow block"})
    return ScriptedPlanner(
        [
            Decision(tool_calls=(ToolCall("look"),), memory_query="stacking"),
            Decision(tool_calls=(ToolCall("pick", orange), place), goal_atoms=GOAL),
            Decision(done=True, goal_atoms=GOAL),
        ]
    )


def _run(make_env, memory: Memory, planner: ScriptedPlanner):
    env = make_env(task="stack", seed=3, modalities=(), terminate_on_success=False)
    tracer = ListTracer()
    agent = Agent(planner, default_registry(), GroundTruthPerceiver(env), describe, memory=memory, tracer=tracer)
    return agent.run(env, seed=3), tracer


def _memory_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "memory" in r.getMessage()]


def test_damaged_pages_met_at_recall_leave_the_episode_without_memory_to_its_normal_end(make_env, tmp_path, caplog):
    path = filled_memory(tmp_path / "memory.sqlite")
    damage(path, "skills", "documents")
    caplog.set_level(logging.WARNING)
    with Memory(path, embedder="lexical") as memory:
        result, tracer = _run(make_env, memory, _stack_planner())
    assert result.success and result.verified and result.reason == "goal verified from perception", result
    kinds = tracer.kinds()
    assert kinds[0] == "episode_start" and kinds[-1] == "episode_end" and result.turns == 3
    (error,) = [d for k, d in tracer.events if k == "memory_error"]
    assert error["turn"] == 1 and str(path) in error["error"] and "damaged" in error["error"]
    assert "memory_recall" not in kinds and "memory_update" not in kinds  # nothing more asked of the file
    assert len(_memory_warnings(caplog)) == 1
    assert "error" in result.stats["memory"] and "damaged" in result.stats["memory"]["error"]


def test_damaged_pages_met_when_learning_end_the_episode_normally_with_one_warning(make_env, tmp_path, caplog):
    path = filled_memory(tmp_path / "memory.sqlite")
    damage(path, "episodes")  # recall reads documents and skills; storing the episode meets the damage
    caplog.set_level(logging.WARNING)
    with Memory(path, embedder="lexical") as memory:
        result, tracer = _run(make_env, memory, _stack_planner())
    assert result.success and result.verified and result.turns == 3
    assert tracer.kinds()[-1] == "episode_end"
    (error,) = [d for k, d in tracer.events if k == "memory_error"]
    assert error["turn"] == 3 and "damaged" in error["error"]
    (update,) = [d for k, d in tracer.events if k == "memory_update"]
    assert "damaged" in update["error"] and update["skills_used"] == {}
    assert len(_memory_warnings(caplog)) == 1


def test_a_memory_file_made_read_only_learns_nothing_and_says_so(make_env, tmp_path):
    path = filled_memory(tmp_path / "memory.sqlite")
    path.chmod(0o444)
    before = path.read_bytes()
    with Memory(path, embedder="lexical") as memory:
        result, tracer = _run(make_env, memory, _stack_planner())
    assert result.success and result.verified
    assert "memory_recall" in tracer.kinds()  # reading works
    (error,) = [d for k, d in tracer.events if k == "memory_error"]
    assert "read-only" in error["error"]
    assert path.read_bytes() == before


def test_a_failing_memory_does_not_change_what_the_agent_does(make_env, tmp_path):
    """The same decisions with a sound memory file and with a damaged one: the same episode."""
    sound = filled_memory(tmp_path / "sound.sqlite")
    damaged = filled_memory(tmp_path / "damaged.sqlite")
    damage(damaged, "documents")
    outcomes = []
    for path in (sound, damaged):
        with Memory(path, embedder="lexical") as memory:
            result, _ = _run(make_env, memory, _stack_planner())
        outcomes.append((result.success, result.verified, result.turns, result.skill_calls, result.reason))
    assert outcomes[0] == outcomes[1] == (True, True, 3, 3, "goal verified from perception")
