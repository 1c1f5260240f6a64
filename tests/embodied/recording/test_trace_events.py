"""Real episode traces validate against the documented trace schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from embodied.agent.loop import Agent, Budgets
from embodied.planners.classical import ClassicalPlanner
from embodied.recording.recorder import Recorder
from embodied.recording.trace_events import TRACE_EVENT_SCHEMA
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver


@pytest.mark.slow
@pytest.mark.parametrize(("task", "instruction"), [("tower", None), ("stack", "make me a sandwich")])
def test_episode_trace_matches_the_schema(make_env, tmp_path, task, instruction):
    env = make_env(task=task, seed=3, modalities=())
    recorder = Recorder(tmp_path, video=False)
    agent = Agent(
        ClassicalPlanner(),
        default_registry(),
        GroundTruthPerceiver(env),
        describe,
        tracer=recorder,
        budgets=Budgets(max_turns=4),
    )
    result = agent.run(env, instruction=instruction, seed=3)
    recorder.finish(vars(result))
    validator = jsonschema.Draft202012Validator(TRACE_EVENT_SCHEMA)
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    for event in events:
        validator.validate(event)
    assert [e["i"] for e in events] == list(range(len(events)))
    assert events[0]["kind"] == "episode_start" and events[-1]["kind"] == "episode_end"


@pytest.mark.slow
def test_traces_with_memory_match_the_schema(make_env, tmp_path):
    from embodied.memory import Memory

    validator = jsonschema.Draft202012Validator(TRACE_EVENT_SCHEMA)
    kinds = set()
    with Memory(tmp_path / "memory.sqlite", embedder="lexical") as memory:
        for run in ("learns", "reuses"):
            env = make_env(task="tower", seed=3, modalities=())
            recorder = Recorder(tmp_path / run, video=False)
            agent = Agent(ClassicalPlanner(), default_registry(), GroundTruthPerceiver(env), describe, memory, recorder)
            recorder.finish(vars(agent.run(env, seed=3)))
            for line in (tmp_path / run / "trace.jsonl").read_text().splitlines():
                event = json.loads(line)
                validator.validate(event)
                kinds.add(event["kind"])
    assert {"memory_recall", "memory_update"} <= kinds


def test_the_schema_rejects_a_malformed_event():
    validator = jsonschema.Draft202012Validator(TRACE_EVENT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"i": 0, "t": 0.0, "frame": 0, "kind": "tool_result", "turn": 1, "name": "pick"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"i": 0, "t": 0.0, "frame": 0, "kind": "dance"})
