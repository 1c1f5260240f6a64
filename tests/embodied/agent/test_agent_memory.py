"""The agent with a persistent memory: composite skills learned in one run are reused in the next."""

from __future__ import annotations

import pytest

from embodied.agent.loop import Agent, Budgets
from embodied.core.decision import Decision, ToolCall
from embodied.errors import MemoryStoreError
from embodied.memory import Memory, Program, generalise
from embodied.planners.classical import ClassicalPlanner
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver
from tests.embodied.agent.test_loop import ListTracer, ScriptedPlanner


def _run(make_env, memory_path, task, seed, planner=None, budgets=None):
    """One episode in a fresh env with a memory opened on ``memory_path`` (as a new process would)."""
    env = make_env(task=task, seed=seed, modalities=(), terminate_on_success=False)
    tracer = ListTracer()
    with Memory(memory_path, embedder="lexical") as memory:
        agent = Agent(
            planner or ClassicalPlanner(),
            default_registry(),
            GroundTruthPerceiver(env),
            describe,
            memory=memory,
            tracer=tracer,
            budgets=budgets,
        )
        return agent.run(env, seed=seed), tracer


def _events(tracer, kind):
    return [d for k, d in tracer.events if k == kind]


@pytest.mark.slow
def test_second_run_calls_the_learned_composite_and_needs_fewer_decisions(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    first, _ = _run(make_env, path, "tower", 0)
    assert first.success and first.verified
    learned = first.stats["memory"]
    assert learned["created"] and learned["steps"] == 4  # pick, place, pick, place

    second, tracer = _run(make_env, path, "tower", 0)
    assert second.success
    calls = [d["name"] for d in _events(tracer, "tool_call")]
    assert calls == [learned["skill"]], calls  # the whole tower in one call of the learned skill
    result = _events(tracer, "tool_result")[0]
    assert result["success"] and [s["name"] for s in result["steps_run"]] == ["pick", "place", "pick", "place"]
    assert second.turns <= 0.7 * first.turns, (first.turns, second.turns)  # >= 30% fewer planner decisions
    assert second.stats["memory"]["skills_used"] == {learned["skill"]: True}

    with Memory(path, embedder="lexical") as memory:
        stored = memory.store.skill(learned["skill"])
    assert stored is not None and (stored.successes, stored.failures) == (2, 0)


@pytest.mark.slow
def test_learned_composite_is_reused_on_other_objects(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    first, _ = _run(make_env, path, "tower", 0)
    other, tracer = _run(make_env, path, "tower", 5)
    assert first.success and other.success
    call = _events(tracer, "tool_call")[0]
    assert call["name"] == first.stats["memory"]["skill"]
    assert set(call["arguments"].values()) == {name for atom in other.goal_atoms for name in atom[1:]}


def test_an_unverified_episode_teaches_no_skill_but_is_remembered(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    planner = ScriptedPlanner([Decision(tool_calls=(ToolCall("look"), ToolCall("open_gripper")))] * 2)
    result, tracer = _run(make_env, path, "stack", 1, planner, Budgets(max_turns=2))
    assert not result.verified
    update = _events(tracer, "memory_update")[0]
    assert "skill" not in update and update["episode_id"] == 1
    with Memory(path, embedder="lexical") as memory:
        assert memory.store.counts()["skill"] == 0
        episode = memory.store.episodes()[0]
    assert episode["instruction"] == result.instruction and not episode["verified"]
    assert [c["name"] for c in episode["calls"]] == ["look", "open_gripper"] * 2


def _library(count):
    """``count`` different composite skills (distinct steps), as a large library would hold."""
    registry = default_registry()
    programs = []
    for i in range(count):
        calls = [
            ToolCall("pick", {"object": f"block {i}"}),
            ToolCall("move_to", {"x": round(0.3 + 0.005 * i, 3), "y": 0.0, "z": 0.2}),
        ]
        program = generalise(f"lift block number {i} up", calls, {f"block {i}"}, registry)
        assert program is not None
        programs.append(program)
    return programs


def test_only_the_retrieved_skills_are_offered_as_tools(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    with Memory(path, embedder="lexical") as memory:
        for program in _library(40):
            memory.store.put_skill(program.to_json(), program.key(), "lift a block up")
        assert memory.store.counts()["skill"] == 40
    planner = ScriptedPlanner([])
    _run(make_env, path, "stack", 1, planner, Budgets(max_turns=1))
    context = planner.contexts[0]
    primitives = set(default_registry().names)
    offered = [name for name in context.tool_names if name not in primitives]
    assert 0 < len(offered) <= 3 and len(context.programs) == len(offered)


STACK = "stack the orange block on the small yellow block"


def _stack_skill(path, episode=False):
    """A memory file holding the composite learned from stacking the orange block on the small yellow one."""
    calls = [
        ToolCall("pick", {"object": "orange block"}),
        ToolCall("place", {"object": "orange block", "target": "small yellow block"}),
    ]
    program = generalise(STACK, calls, {"orange block", "small yellow block"}, default_registry())
    assert isinstance(program, Program)
    with Memory(path, embedder="lexical") as memory:
        memory.store.put_skill(program.to_json(), program.key(), STACK)
        if episode:
            memory.store.add_episode(STACK, True, "goal verified", [], {"turns": 2}, program.name)
    return program


def test_a_planner_can_call_a_recalled_composite_by_name(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    program = _stack_skill(path)
    call = ToolCall(program.name, {"object": "orange block", "target": "small yellow block"})
    planner = ScriptedPlanner(
        [Decision(tool_calls=(call,)), Decision(done=True, goal_atoms=(("on", "orange block", "small yellow block"),))]
    )
    result, tracer = _run(make_env, path, "stack", 3, planner, Budgets(max_turns=3))
    assert result.success and result.verified
    assert program.name in planner.contexts[0].tool_names
    assert _events(tracer, "tool_result")[0]["success"]


def test_a_composite_with_bad_arguments_fails_cleanly(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    program = _stack_skill(path)
    planner = ScriptedPlanner([Decision(tool_calls=(ToolCall(program.name, {"object": "unicorn"}),))])
    result, _ = _run(make_env, path, "stack", 3, planner, Budgets(max_turns=2))
    message = planner.contexts[1].tool_results[0].message
    assert not planner.contexts[1].tool_results[0].success and "target" in message
    assert result.stats["memory"]["skills_used"] == {program.name: False}


def test_a_memory_that_cannot_be_written_does_not_lose_the_episode(make_env, tmp_path, monkeypatch):
    path = tmp_path / "memory.sqlite"

    def broken(*args, **kwargs):
        raise MemoryStoreError(f"cannot write the memory file {path}: disk I/O error")

    monkeypatch.setattr("embodied.memory.store.MemoryStore.add_episode", broken)
    result, tracer = _run(make_env, path, "stack", 3)
    assert result.success
    assert "disk I/O error" in _events(tracer, "memory_update")[0]["error"]


def test_an_llm_planner_is_shown_the_recalled_skill_and_memory_lines(make_env, tmp_path):
    import json

    from embodied.llm import ScriptedChatModel
    from embodied.planners import LLMPlanner

    path = tmp_path / "memory.sqlite"
    instruction = STACK
    program = _stack_skill(path, episode=True)
    arguments = {"object": "orange block", "target": "small yellow block"}
    model = ScriptedChatModel(
        [
            json.dumps(
                {"thoughts": "a learned skill fits", "tool_calls": [{"name": program.name, "arguments": arguments}]}
            ),
            json.dumps({"thoughts": "it holds", "tool_calls": [], "done": True}),
        ]
    )
    result, _ = _run(make_env, path, "stack", 3, LLMPlanner(model), Budgets(max_turns=3))
    first = model.calls[0]
    offered = [t["function"]["name"] for t in first.tools] or [program.name] * (
        program.name in first.messages[0].content
    )
    assert program.name in offered
    prompt = first.messages[-1].content
    assert "Memory:" in prompt and f"Episode '{instruction}' succeeded" in prompt
    assert result.success


def test_the_planners_memory_query_steers_the_next_recall(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    with Memory(path, embedder="lexical") as memory:
        memory.store.add_episode(
            "open the drawer", False, "the handle slipped", [], {"turns": 4}, None, ["grip the handle lower"]
        )
    planner = ScriptedPlanner([Decision(memory_query="drawer handle", tool_calls=(ToolCall("look"),))] * 2)
    _, tracer = _run(make_env, path, "stack", 1, planner, Budgets(max_turns=2))
    first, second = _events(tracer, "memory_recall")
    assert first["query"] == planner.contexts[0].goal and second["query"].startswith("drawer handle")
    assert any("grip the handle lower" in hit for hit in planner.contexts[1].memory_hits)


def test_the_calls_a_skill_is_learned_from_leave_out_work_that_was_redone():
    from embodied.memory import CallRecord, EpisodeRecord

    pick, place = (
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "red block", "target": "bowl"}),
    )
    retried = EpisodeRecord(
        "put the red block in the bowl",
        True,
        "goal verified",
        (
            CallRecord(1, "pick", pick.arguments, True),
            CallRecord(1, "place", place.arguments, True),  # reported ok, but the block bounced out
            CallRecord(2, "pick", pick.arguments, True),
            CallRecord(2, "place", place.arguments, True),
        ),
        failed_turns=frozenset({1}),
    )
    assert retried.working_calls() == [pick, place]
    renamed = (
        ToolCall("pick", {"object": "small red block"}),
        ToolCall("place", {"object": "small red block", "target": "bowl"}),
    )
    only_renamed = EpisodeRecord(
        "put the small red block in the bowl",
        True,
        "goal verified",
        tuple(CallRecord(1, c.name, c.arguments, True) for c in renamed),  # perception now calls it "red block"
        failed_turns=frozenset({1}),
    )
    assert only_renamed.working_calls() == list(renamed)


def _record(verified, subgoals, calls, failed_turns=frozenset()):
    from embodied.memory import CallRecord, EpisodeRecord

    return EpisodeRecord(
        "clear the table into the bin",
        verified,
        "goal verified" if verified else "turn budget used up",
        tuple(CallRecord(turn, c.name, c.arguments, ok) for turn, c, ok in calls),
        failed_turns=frozenset(failed_turns),
        objects=frozenset({"red block", "green block", "bin"}),
        subgoals=subgoals,
    )


def test_a_failed_episode_teaches_each_subgoal_it_verified(tmp_path):
    from embodied.memory import SubgoalRecord

    pick_red, place_red = (
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "red block", "target": "bin"}),
    )
    pick_green = ToolCall("pick", {"object": "green block"})
    record = _record(
        False,
        (SubgoalRecord("in(red block, bin)", 1, 2),),
        [(1, pick_red, True), (2, place_red, True), (3, pick_green, True), (4, pick_green, False)],
    )
    with Memory(tmp_path / "memory.sqlite", embedder="lexical") as memory:
        learned = memory.learn(record, default_registry())
        assert "skill" not in learned  # the episode as a whole taught nothing
        (sub,) = learned["subgoal_skills"]
        assert sub["created"] and sub["subgoal"] == "in(red block, bin)"
        stored = memory.store.skill(sub["skill"])
        assert stored is not None and stored.source == "subgoal" and (stored.successes, stored.failures) == (1, 0)
        program = Program.from_json(stored.program)
        assert [s.skill for s in program.steps] == ["pick", "place"]  # turns 3-4 were not part of the subgoal
        assert sorted(program.parameters["properties"]) == ["object", "target"]
        assert stored.examples == ("pick and place red block in bin",)
        assert "'pick and place <object> in <target>'" in program.description
        recalled = memory.recall("put the blue block in the bin", default_registry())
        assert sub["skill"] in [p.name for p in recalled.programs]

        again = memory.learn(record, default_registry())  # the same subgoal again merges, counted
        assert again["subgoal_skills"][0] == {**sub, "created": False}
        assert memory.store.skill(sub["skill"]).successes == 2


def test_a_subgoal_of_one_call_or_of_a_verified_episode_teaches_no_subgoal_skill(tmp_path):
    from embodied.memory import SubgoalRecord

    pick_red, place_red = (
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "red block", "target": "bin"}),
    )
    one_call = _record(
        False, (SubgoalRecord("holding(red block)", 1, 1),), [(1, pick_red, True), (2, place_red, False)]
    )
    whole = _record(True, (SubgoalRecord("in(red block, bin)", 1, 1),), [(1, pick_red, True), (1, place_red, True)])
    with Memory(tmp_path / "memory.sqlite", embedder="lexical") as memory:
        assert "subgoal_skills" not in memory.learn(one_call, default_registry())  # nothing to compose
        learned = memory.learn(whole, default_registry())
        assert "subgoal_skills" not in learned and learned["skill"]  # the episode's own skill covers it
        assert [s.source for s in memory.store.skills()] == ["learned"]


@pytest.mark.slow
def test_a_placement_verified_before_the_budget_ran_out_is_reused_next_episode(make_env, tmp_path):
    path = tmp_path / "memory.sqlite"
    first, tracer = _run(make_env, path, "tower", 0, budgets=Budgets(max_turns=1))
    assert not first.verified and [d["holds"] for d in _events(tracer, "verification")] == [True]
    (sub,) = first.stats["memory"]["subgoal_skills"]
    assert sub["skill"].startswith("pick_place_on")

    second, tracer = _run(make_env, path, "stack", 3)  # another task, another scene: one placement
    assert second.success and second.verified
    assert sub["skill"] in _events(tracer, "memory_recall")[0]["skills"]
    assert [d["name"] for d in _events(tracer, "tool_call")] == [sub["skill"]]


def test_a_done_that_perception_does_not_confirm_teaches_no_skill(make_env, tmp_path):
    """A model picked, placed on the wrong spot and said done, without goal atoms: nothing may be learned."""
    path = tmp_path / "memory.sqlite"
    orange = {"object": "orange block"}
    wrong = Decision(tool_calls=(ToolCall("pick", orange), ToolCall("place", {**orange, "target": "right side"})))
    planner = ScriptedPlanner([wrong, Decision(thoughts="done", done=True)])
    result, tracer = _run(make_env, path, "stack", 3, planner, Budgets(max_turns=3))
    assert not result.success and not result.verified
    update = _events(tracer, "memory_update")[0]
    assert "skill" not in update and "subgoal_skills" not in update
    with Memory(path, embedder="lexical") as memory:
        assert memory.store.counts()["skill"] == 0
        assert [e["verified"] for e in memory.store.episodes()] == [0]  # remembered as a failure
