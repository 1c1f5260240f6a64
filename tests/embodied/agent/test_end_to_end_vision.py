"""Offline default end to end: classical planner + vision perception (no ground truth in the loop)."""

from __future__ import annotations

import pytest

from embodied.agent.loop import Agent
from embodied.planners.classical import ClassicalPlanner
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.vision import VisionPerceiver


@pytest.mark.slow
@pytest.mark.parametrize(("task", "seed"), [("stack", 3), ("tower", 3), ("sort_by_colour", 1)])
def test_classical_planner_with_vision_solves(make_env, task, seed):
    env = make_env(task=task, seed=seed, image_size=(240, 320), modalities=("rgb", "depth"))
    agent = Agent(ClassicalPlanner(), default_registry(), VisionPerceiver(), describe)
    result = agent.run(env, seed=seed)
    assert result.success, result
    assert result.planner == "classical"
