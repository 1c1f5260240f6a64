"""The primitive skills on the real MuJoCo tabletop: objects really end where they should (ground truth)."""

from __future__ import annotations

from typing import Any

import pytest

from embodied.skills.primitives import PRIMITIVES, default_registry
from embodied.skills.registry import SkillContext
from envs.scene_spec import REGIONS
from envs.tasks.predicates import in_region, inside_container, on
from perception.ground_truth import GroundTruthPerceiver


@pytest.fixture
def start(make_env):
    """``start(task, seed, **env_kwargs) -> (ctx, env, goal atom)`` with the ground-truth perceiver."""

    def factory(task: str, seed: int, **kwargs: Any):
        kwargs.setdefault("modalities", ())
        env = make_env(task=task, terminate_on_success=False, **kwargs)
        ctx = SkillContext.reset(env, GroundTruthPerceiver(env), seed=seed)
        return ctx, env, env.unwrapped.task.goal[0]

    return factory


def test_registry_lists_the_primitives():
    reg = default_registry()
    assert reg.names == ("move_to", "open_gripper", "close_gripper", "pick", "place", "push", "look")
    push = next(t for t in reg.tools() if t["function"]["name"] == "push")
    assert sorted(push["function"]["parameters"]["properties"]["region"]["enum"]) == sorted(REGIONS)
    assert len(PRIMITIVES) == len(reg)


@pytest.mark.parametrize("seed", [0, 7])
def test_pick_lifts_the_block(start, seed):
    ctx, env, (_, block, _) = start("stack", seed)
    r = default_registry().call("pick", {"object": block}, ctx)
    state = env.unwrapped.world_state()
    assert r.success, r.message
    assert state.held == block and state.get(block).pos[2] > 0.04
    assert r.steps > 0 and r.steps == ctx.steps


@pytest.mark.parametrize(("task", "seed"), [("stack", 3), ("stack", 11), ("pick_place", 0), ("pick_place", 5)])
def test_place_on_block_or_plate(start, task, seed):
    ctx, env, (_, top, base) = start(task, seed)
    reg = default_registry()
    assert reg.call("pick", {"object": top}, ctx).success
    r = reg.call("place", {"object": top, "target": base}, ctx)
    assert r.success, r.message
    assert on(env.unwrapped.world_state(), top, base)


@pytest.mark.parametrize(("task", "seed"), [("put_in_container", 0), ("put_in_container", 4), ("clear_table", 1)])
def test_place_into_bowl_or_bin_picks_first_when_needed(start, task, seed):
    ctx, env, (_, block, box) = start(task, seed)
    r = default_registry().call("place", {"object": block, "target": box}, ctx)
    assert r.success, r.message
    assert inside_container(env.unwrapped.world_state(), block, box)


def test_place_in_a_region(start):
    ctx, env, (_, block, _) = start("stack", 2)
    r = default_registry().call("place", {"object": block, "target": "left side"}, ctx)
    assert r.success, r.message
    assert in_region(env.unwrapped.world_state(), block, "left side")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_push_into_region(start, seed):
    ctx, env, (_, block, region) = start("push_to_region", seed)
    r = default_registry().call("push", {"object": block, "region": region}, ctx)
    assert r.success, r.message
    state = env.unwrapped.world_state()
    assert in_region(state, block, region) and state.held is None


def test_move_to_and_gripper(start):
    ctx, _env, _ = start("stack", 0)
    reg = default_registry()
    r = reg.call("move_to", {"x": 0.5, "y": 0.1, "z": 0.2}, ctx)
    assert r.success, r.message
    assert abs(ctx.obs["proprio"]["ee_pos"] - [0.5, 0.1, 0.2]).max() < 0.008
    closed = reg.call("close_gripper", {}, ctx)
    assert closed.success and "on nothing" in closed.message and ctx.obs["proprio"]["gripper_width"][0] < 0.005
    assert reg.call("open_gripper", {}, ctx).success and ctx.obs["proprio"]["gripper_width"][0] > 0.07


def test_invalid_targets_fail_with_what_is_valid(start):
    ctx, _env, (_, block, bowl) = start("put_in_container", 0)
    reg = default_registry()
    r = reg.call("pick", {"object": bowl}, ctx)
    assert not r.success and f"the {bowl} is a bowl; this skill takes a block" in r.message
    r = reg.call("place", {"object": block, "target": "the moon"}, ctx)
    assert not r.success and "regions are ['back', 'front', 'left side', 'right side']" in r.message
    r = reg.call("place", {"object": block, "target": block}, ctx)
    assert not r.success and "on itself" in r.message
    r = reg.call("move_to", {"x": 0.5, "y": 0.0, "z": -0.2}, ctx)
    assert not r.success and "unreachable pose" in r.message and "z in [0.005, 0.500]" in r.message
    assert ctx.steps == 0  # nothing moved


def test_cannot_pick_a_block_with_another_on_top(start):
    ctx, _env, (_, top, base) = start("stack", 3)
    reg = default_registry()
    assert reg.call("place", {"object": top, "target": base}, ctx).success
    r = reg.call("pick", {"object": base}, ctx)
    assert not r.success and f"has ['{top}'] on top of it" in r.message


def test_recorder_sees_every_step_and_frames_are_counted(start):
    seen: list[int] = []
    ctx, env, (_, block, _) = start("stack", 0, modalities=("rgb",), cameras=("front",))
    ctx = SkillContext.reset(env, GroundTruthPerceiver(env), recorder=lambda o, i: seen.append(i["steps"]), seed=0)
    r = default_registry().call("open_gripper", {}, ctx)
    look = default_registry().call("look", {}, ctx)
    assert r.success and r.frames == r.steps > 0
    assert seen == list(range(r.steps + 1))  # reset observation, then every step
    assert block in look.message and look.steps == 0
    away = default_registry().call("look", {"step_back": True}, ctx)
    assert away.success and away.steps > 0 and ctx.obs["proprio"]["ee_pos"][2] > 0.25


def test_episode_end_mid_skill_is_not_a_crash(make_env):
    env = make_env(task="stack", modalities=())  # terminate_on_success=True
    ctx = SkillContext.reset(env, GroundTruthPerceiver(env), seed=3)
    _, top, base = env.unwrapped.task.goal[0]
    r = default_registry().call("place", {"object": top, "target": base}, ctx)
    assert r.success and ctx.done
    after = default_registry().call("pick", {"object": top}, ctx)
    assert isinstance(after.success, bool)


def test_skills_work_with_the_vision_perceiver(make_env):
    """No ground truth inside the skills: the same calls succeed on the OpenCV perceiver."""
    vision = pytest.importorskip("perception.vision")
    env = make_env(task="stack", modalities=("rgb", "depth"), image_size=(240, 320), terminate_on_success=False)
    ctx = SkillContext.reset(env, vision.VisionPerceiver(), seed=1000)
    _, top, base = env.unwrapped.task.goal[0]
    r = default_registry().call("place", {"object": top, "target": base}, ctx)
    assert r.success, r.message
    assert on(env.unwrapped.world_state(), top, base)
