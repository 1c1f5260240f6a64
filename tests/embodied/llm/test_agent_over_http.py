"""Whole MuJoCo episodes driven through the OpenAI-compatible HTTP backend on loopback."""

from __future__ import annotations

import json

import pytest

from embodied.agent.loop import Agent, Budgets
from embodied.llm import make_chat_model
from embodied.planners.classical import ClassicalPlanner
from embodied.planners.language import LLMGoalPlanner, LLMPlanner
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver


def _call(name: str, **arguments: str) -> dict:
    return {"name": name, "arguments": json.dumps(arguments)}


@pytest.mark.slow
def test_llm_tool_calls_over_http_stack_the_blocks(make_env, openai_server):
    env = make_env(task="stack", seed=3, modalities=())
    server = openai_server(
        [
            {
                "content": "The orange block must go on the small yellow block; first pick it.",
                "tool_calls": [_call("pick", object="orange block")],
            },
            {
                "content": "Holding it; now place it.",
                "tool_calls": [_call("place", object="orange block", target="small yellow block")],
            },
            {"content": '{"thoughts": "It is stacked.", "done": true}'},
        ]
    )
    model = make_chat_model("openai:fake-model", base_url=server.url, api_key="test")
    agent = Agent(
        LLMPlanner(model), default_registry(), GroundTruthPerceiver(env), describe, budgets=Budgets(max_turns=5)
    )
    result = agent.run(env, seed=3)
    assert result.success, result
    assert result.planner == "llm"
    assert len(server.requests) >= 2
    first = server.requests[0]
    assert {t["function"]["name"] for t in first["tools"]} >= {"pick", "place", "push"}
    prompt = json.dumps(first["messages"])
    assert "stack the orange block on the small yellow block" in prompt and "small yellow block" in prompt


@pytest.mark.slow
def test_llm_plus_p_over_http_writes_only_the_goal(make_env, openai_server):
    env = make_env(task="tower", seed=3, modalities=())
    goal = {"goal": [["on", "green block", "orange block"], ["on", "small yellow block", "green block"]]}
    server = openai_server([{"content": json.dumps(goal)}])
    model = make_chat_model("openai:fake-model", base_url=server.url, api_key="test")
    goals = LLMGoalPlanner(model)
    planner = ClassicalPlanner(goal_source=lambda text, scene: goals.propose_goal(text, scene.names))
    agent = Agent(planner, default_registry(), GroundTruthPerceiver(env), describe)
    result = agent.run(env, seed=3)
    assert result.success and result.verified, result
    assert len(server.requests) == 1  # the model is asked once, for the goal; the planner does the rest
    assert result.goal_atoms == (("on", "green block", "orange block"), ("on", "small yellow block", "green block"))


def test_a_dead_server_ends_the_episode_cleanly(make_env, closed_port_url):
    env = make_env(task="stack", seed=3, modalities=())
    model = make_chat_model("openai:fake-model", base_url=closed_port_url, api_key="test", max_retries=1)
    agent = Agent(LLMPlanner(model), default_registry(), GroundTruthPerceiver(env), describe)
    result = agent.run(env, seed=3)
    assert not result.success
    assert result.reason.startswith("planner failed") and "127.0.0.1" in result.reason


def test_a_model_that_never_answers_usably_ends_the_episode_after_three_turns(make_env, openai_server):
    env = make_env(task="stack", seed=3, modalities=())
    server = openai_server([{"content": "As an AI I cannot move blocks."}])
    model = make_chat_model("openai:fake-model", base_url=server.url, api_key="test")
    agent = Agent(LLMPlanner(model), default_registry(), GroundTruthPerceiver(env), describe)
    result = agent.run(env, seed=3)
    assert not result.success and result.turns == 3 and result.skill_calls == 0
    assert result.reason.startswith("planner failed: the model gives no usable answer: 3 turns in a row")
    assert result.reason.endswith("last problem: the answer contains no JSON object (after 3 attempt(s))")
    assert len(server.requests) == 9  # three turns of one try and two retries, not the whole turn budget
    assert all(r["response_format"]["type"] == "json_schema" for r in server.requests)


def test_llm_plus_p_without_a_usable_goal_ends_the_episode_with_the_reason(make_env, openai_server):
    env = make_env(task="stack", seed=3, modalities=())
    server = openai_server([{"content": json.dumps({"goal": [["under", "orange block", "small yellow block"]]})}])
    goals = LLMGoalPlanner(make_chat_model("openai:fake-model", base_url=server.url, api_key="test"))
    planner = ClassicalPlanner(goal_source=lambda text, scene: goals.propose_goal(text, scene.names))
    result = Agent(planner, default_registry(), GroundTruthPerceiver(env), describe).run(env, seed=3)
    assert not result.success and result.turns == 1 and result.skill_calls == 0
    assert result.reason.startswith("planner failed: the model gives no usable answer: no valid goal after 3 attempt")
    assert "unknown predicate 'under'" in result.reason and len(server.requests) == 3
