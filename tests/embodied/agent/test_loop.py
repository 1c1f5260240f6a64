"""The agent loop: decide -> act -> verify -> reflect, budgets, and clean endings."""

from __future__ import annotations

import contextlib
import signal

import pytest

from embodied.agent.loop import Agent, Budgets
from embodied.core.decision import Context, Decision, Subgoal, ToolCall
from embodied.planners.classical import ClassicalPlanner
from embodied.skills.primitives import default_registry
from embodied.skills.registry import SkillContext, SkillResult, skill
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver


class ListTracer:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.frames = 0

    def event(self, kind, **data):
        self.events.append((kind, data))

    def set_overlay(self, **fields):
        pass

    def on_step(self, obs, info):
        self.frames += 1

    def kinds(self):
        return [k for k, _ in self.events]


class ScriptedPlanner:
    name = "scripted"

    def __init__(self, decisions):
        self.decisions = list(decisions)
        self.contexts: list[Context] = []

    def decide(self, context):
        self.contexts.append(context)
        return self.decisions.pop(0) if self.decisions else Decision(thoughts="nothing left")


def _agent(env, planner, budgets=None, tracer=None):
    return Agent(planner, default_registry(), GroundTruthPerceiver(env), describe, tracer=tracer, budgets=budgets)


@pytest.mark.slow
def test_classical_planner_stacks_with_verification_in_the_trace(make_env):
    env = make_env(task="stack", seed=3, modalities=())
    tracer = ListTracer()
    result = _agent(env, ClassicalPlanner(), tracer=tracer).run(env, seed=3)
    assert result.success and result.verified, result
    assert result.goal_atoms == (("on", "orange block", "small yellow block"),)
    kinds = tracer.kinds()
    assert kinds[0] == "episode_start" and kinds[-1] == "episode_end"
    for kind in ("observation", "context", "decision", "tool_call", "tool_result"):
        assert kind in kinds
    assert tracer.frames == result.stats["control_steps"] + 1


def test_turn_budget_ends_the_episode_with_the_reason(make_env):
    env = make_env(task="stack", seed=1, modalities=())
    planner = ScriptedPlanner([Decision(thoughts="look first", tool_calls=(ToolCall("look"),))] * 5)
    result = _agent(env, planner, Budgets(max_turns=2)).run(env, seed=1)
    assert not result.success and result.reason == "turn budget exhausted (2 turns)"
    assert result.turns == 2


def test_bad_calls_are_fed_back_not_fatal(make_env):
    env = make_env(task="stack", seed=1, modalities=())
    planner = ScriptedPlanner(
        [
            Decision(tool_calls=(ToolCall("teleport", {"object": "red block"}),)),
            Decision(tool_calls=(ToolCall("pick", {"object": "unicorn"}),)),
        ]
    )
    result = _agent(env, planner, Budgets(max_turns=3)).run(env, seed=1)
    second, third = planner.contexts[1], planner.contexts[2]
    assert not second.tool_results[0].success and "teleport" in second.tool_results[0].message
    assert "unicorn" in third.tool_results[0].message
    assert "turn budget" in result.reason


def test_failed_subgoal_is_verified_and_reflected_on(make_env):
    env = make_env(task="stack", seed=3, modalities=())
    claim = Subgoal("on(orange block, small yellow block)", "active", (("on", "orange block", "small yellow block"),))
    planner = ScriptedPlanner([Decision(thoughts="just look", subgoals=(claim,), tool_calls=(ToolCall("look"),))])
    tracer = ListTracer()
    result = _agent(env, planner, Budgets(max_turns=2), tracer).run(env, seed=3)
    verifications = [d for k, d in tracer.events if k == "verification"]
    assert verifications and verifications[0]["holds"] is False
    assert result.reflections and "did not hold" in result.reflections[0]
    assert planner.contexts[1].subgoals[0].status == "failed"
    assert planner.contexts[1].reflections == result.reflections[:1]


def test_premature_done_is_checked_against_perception(make_env):
    env = make_env(task="stack", seed=3, modalities=())
    goal = (("on", "orange block", "small yellow block"),)
    planner = ScriptedPlanner([Decision(thoughts="done!", done=True, goal_atoms=goal)])
    result = _agent(env, planner, Budgets(max_turns=2)).run(env, seed=3)
    assert not result.verified and not result.success
    assert any("Not done yet" in f for f in planner.contexts[1].feedback)


def _pick_and_place(target):
    orange = {"object": "orange block"}
    return Decision(tool_calls=(ToolCall("pick", orange), ToolCall("place", {**orange, "target": target})))


def test_done_without_goal_atoms_is_checked_against_a_goal_grounded_from_the_instruction(make_env):
    env = make_env(task="stack", seed=3, modalities=(), terminate_on_success=False)
    planner = ScriptedPlanner([_pick_and_place("right side"), Decision(thoughts="done!", done=True)])
    tracer = ListTracer()
    result = _agent(env, planner, Budgets(max_turns=3), tracer).run(env, seed=3)
    assert not result.success and not result.verified, result
    assert result.goal_atoms == (("on", "orange block", "small yellow block"),)
    final = [d for k, d in tracer.events if k == "verification"][-1]
    assert final["holds"] is False and final["missing"] == ["on(orange block, small yellow block)"]
    assert any("Not done yet" in f for f in planner.contexts[2].feedback)


def test_done_without_goal_atoms_is_verified_when_the_grounded_goal_holds(make_env):
    env = make_env(task="stack", seed=3, modalities=(), terminate_on_success=False)
    planner = ScriptedPlanner([_pick_and_place("small yellow block"), Decision(done=True)])
    result = _agent(env, planner, Budgets(max_turns=3)).run(env, seed=3)
    assert result.success and result.verified and result.reason == "goal verified from perception", result


def test_done_that_nothing_can_check_ends_the_episode_unverified(make_env):
    env = make_env(task="stack", seed=3, modalities=(), terminate_on_success=False)
    planner = ScriptedPlanner([Decision(tool_calls=(ToolCall("look"),)), Decision(done=True)])
    result = _agent(env, planner, Budgets(max_turns=5)).run(env, instruction="make the table look nice", seed=3)
    assert not result.verified and result.turns == 2 and result.goal_atoms == ()
    assert result.reason.startswith("the planner declared the task done, but no goal could be grounded")
    assert "make the table look nice" in result.reason


def test_ununderstood_instruction_suggests_an_llm(make_env):
    env = make_env(task="stack", seed=3, modalities=())
    result = _agent(env, ClassicalPlanner()).run(env, instruction="make me a sandwich", seed=3)
    assert not result.success
    assert result.reason.startswith("planner failed") and "configure an LLM" in result.reason


def test_ctrl_c_ends_the_episode_as_interrupted(make_env):
    env = make_env(task="stack", seed=3, modalities=())

    class Interrupting:
        name = "interrupting"

        def decide(self, context):
            raise KeyboardInterrupt

    result = _agent(env, Interrupting()).run(env, seed=3)
    assert result.interrupted and result.reason == "interrupted by the user"


@skill
def wait_swallowing_interrupts(ctx: SkillContext, steps: int = 3) -> SkillResult:
    """Hold still; a Ctrl-C during it is swallowed, as a binding converting arguments can do.

    Args:
        steps: control steps to wait.
    """
    with contextlib.suppress(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    ctx.driver.hold(steps)
    return SkillResult(True, "waited")


def test_a_ctrl_c_swallowed_inside_a_skill_still_ends_the_episode(make_env):
    env = make_env(task="stack", seed=3, modalities=())
    registry = default_registry()
    registry.register(wait_swallowing_interrupts)
    later = ToolCall("open_gripper", {})
    planner = ScriptedPlanner([Decision(tool_calls=(ToolCall("wait_swallowing_interrupts", {}), later))] * 3)
    tracer = ListTracer()
    agent = Agent(planner, registry, GroundTruthPerceiver(env), describe, tracer=tracer)
    result = agent.run(env, seed=3)
    assert result.interrupted and result.reason == "interrupted by the user"
    called = [d["name"] for kind, d in tracer.events if kind == "tool_call"]
    assert called == ["wait_swallowing_interrupts"]  # nothing ran after the interrupt
    assert tracer.frames == 2  # the reset and the one step during which the interrupt was noticed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
