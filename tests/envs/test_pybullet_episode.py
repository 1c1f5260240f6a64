"""Upper layers run unchanged on the PyBullet backend: skills, perceivers and planners."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the envs)
from embodied.agent.loop import Agent
from embodied.planners.classical import ClassicalPlanner
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver

ENV_ID = "embodied/PybulletTabletop-v0"


@pytest.mark.slow
def test_classical_agent_stacks_with_ground_truth_perception():
    env = gym.make(ENV_ID, task="stack", seed=3)
    try:
        agent = Agent(ClassicalPlanner(), default_registry(), GroundTruthPerceiver(env), describe)
        result = agent.run(env, seed=3)
        assert result.success, result
        (atom,) = env.unwrapped.task.goal
        top, base = env.unwrapped.world_state().get(atom[1]), env.unwrapped.world_state().get(atom[2])
        assert top.pos[2] == pytest.approx(base.top, abs=0.01)  # the block really rests on the other
    finally:
        env.close()


@pytest.mark.slow
def test_classical_agent_with_vision_perception():
    from perception.vision import VisionPerceiver

    env = gym.make(ENV_ID, task="stack", seed=3, image_size=(240, 320), modalities=("rgb", "depth"))
    try:
        agent = Agent(ClassicalPlanner(), default_registry(), VisionPerceiver(), describe)
        result = agent.run(env, seed=3)
        assert result.success, result
    finally:
        env.close()


def test_vision_perceiver_finds_every_prop_in_pybullet_frames():
    """The OpenCV perceiver reads PyBullet's rgb + depth + camera matrices without any backend switch."""
    from perception.vision import VisionPerceiver

    env = gym.make(ENV_ID, task="sort_by_colour", seed=1, image_size=(240, 320), modalities=("rgb", "depth"))
    try:
        obs, info = env.reset()
        scene = VisionPerceiver().perceive(obs, info)
        truth = env.unwrapped.world_state()
        for name, state in truth.objects.items():
            seen = scene.find(name)
            assert seen is not None, (name, scene.names)
            assert np.hypot(seen.position[0] - state.pos[0], seen.position[1] - state.pos[1]) < 0.02, name
    finally:
        env.close()
