"""Closed-loop policies on the real tabletop, driven through EnvDriver (no embodied import)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.tasks.predicates import in_region, inside_container, on
from perception.ground_truth import GroundTruthPerceiver
from policies.driver import EnvDriver
from policies.grasp import GraspConfig, grasp_problem, pick
from policies.motion import MotionConfig, servo_to, set_gripper, unreachable_reason
from policies.place import PlaceConfig, free_spot, place
from policies.push import PushConfig, aim_point, push


@pytest.fixture
def drive(make_env):
    def factory(task: str, seed: int) -> tuple[EnvDriver, object]:
        env = make_env(task=task, modalities=(), terminate_on_success=False)
        obs, info = env.reset(seed=seed)
        return EnvDriver(env, GroundTruthPerceiver(env), obs, info), env

    return factory


def test_servo_reaches_target_and_times_out_when_blocked(drive):
    d, _ = drive("stack", 0)
    r = servo_to(d, (0.45, -0.1, 0.15))
    assert r.success and np.linalg.norm(d.ee_pos - [0.45, -0.1, 0.15]) < 0.006
    # Through the table: the controller clips z at 5 mm, so the servo times out with a message.
    r = servo_to(d, (0.45, -0.1, -0.05), max_steps=30)
    assert not r.success and "timed out" in r.message and r.steps == 30


def test_gripper_open_close(drive):
    d, _ = drive("stack", 0)
    assert set_gripper(d, close=True).details["width_m"] < 0.005
    assert set_gripper(d, close=False).success and d.gripper_width > 0.075


def test_unreachable_reasons(drive):
    d, _ = drive("stack", 0)
    assert unreachable_reason(d, (0.5, 0.0, 0.1)) is None
    assert "outside the reachable workspace x" in (unreachable_reason(d, (1.5, 0.0, 0.1)) or "")
    assert "not a finite" in (unreachable_reason(d, (float("nan"), 0.0, 0.1)) or "")
    assert "shoulder" in (unreachable_reason(d, (0.78, 0.44, 0.45)) or "")


@pytest.mark.parametrize("seed", [1, 4])
def test_pick_then_place_on_block(drive, seed):
    d, env = drive("stack", seed)
    _, top, base = env.unwrapped.task.goal[0]
    r = pick(d, top)
    assert r.success, r.message
    assert env.unwrapped.held_object() == top
    assert pick(d, top).message == f"already holding the {top}"
    r = place(d, top, base)
    assert r.success, r.message
    assert on(env.unwrapped.world_state(), top, base)


def test_place_into_bowl(drive):
    d, env = drive("sort_by_colour", 0)
    for _, block, bowl in env.unwrapped.task.goal:
        r = place(d, block, bowl)
        assert r.success, r.message
    state = env.unwrapped.world_state()
    assert all(inside_container(state, b, c) for _, b, c in env.unwrapped.task.goal)


@pytest.mark.parametrize("seed", [3, 8])
def test_push_to_region(drive, seed):
    d, env = drive("push_to_region", seed)
    _, block, region = env.unwrapped.task.goal[0]
    r = push(d, block, region)
    assert r.success, r.message
    assert in_region(env.unwrapped.world_state(), block, region)


def test_refusals_are_results_not_exceptions(drive):
    d, env = drive("put_in_container", 0)
    _, block, bowl = env.unwrapped.task.goal[0]
    assert "cannot be grasped" in (grasp_problem(d.perceive(), bowl) or "")
    r = pick(d, bowl)
    assert not r.success and "cannot be grasped" in r.message and r.steps == 0
    r = push(d, block, "middle")
    assert not r.success and "unknown region 'middle'" in r.message
    r = place(d, "ghost", bowl)
    assert not r.success and "no object 'ghost'" in r.message


def test_free_spot_and_aim_point_stay_inside(drive):
    d, _ = drive("push_to_region", 0)
    scene = d.perceive()
    x, y = free_spot(scene, "left side", scene.names[0])
    assert 0.17 < y < 0.32 and 0.36 < x < 0.68
    aim = aim_point(scene.objects[0], "back", 0.045)
    assert 0.62 + 0.04 < aim[0] < 0.74 - 0.04


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MotionConfig(tolerance=0), "MotionConfig.tolerance"),
        (lambda: MotionConfig(max_steps=0), "MotionConfig.max_steps"),
        (lambda: GraspConfig(attempts=0), "GraspConfig.attempts"),
        (lambda: PlaceConfig(retreat=-1), "PlaceConfig.retreat"),
        (lambda: PushConfig(done_margin=0.5), "PushConfig.done_margin"),
        (lambda: PushConfig(strokes=0), "PushConfig.strokes"),
    ],
)
def test_configs_validate_themselves(make, match):
    with pytest.raises(ValueError, match=match):
        make()
