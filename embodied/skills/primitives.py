"""The primitive skills: thin ``@skill`` wrappers over the closed-loop policies in ``policies/``.

Units are metres and the world frame of the table (origin at the robot's base, ``x`` away from
the robot, ``y`` to its left, ``z`` up, the table top at ``z = 0``). Every skill reads object
positions from the context's scene graph (perception), checks its arguments against what is
visible, and reports success from re-perception and proprioception.
"""

from __future__ import annotations

import contextlib
from typing import Literal, get_args

from embodied.errors import SkillArgumentError
from embodied.skills.registry import Skill, SkillContext, SkillRegistry, SkillResult, skill
from envs.scene_spec import REGIONS
from perception.describe import describe
from policies.grasp import GRASPABLE_SHAPES, MIN_HOLD_WIDTH, grasp_problem, hidden_in_hand
from policies.grasp import pick as pick_policy
from policies.motion import clear_view, servo_to, set_gripper, unreachable_reason
from policies.place import CONTAINER_SHAPES, SUPPORT_SHAPES, target_problem
from policies.place import place as place_policy
from policies.push import PUSHABLE_SHAPES, push_problem
from policies.push import push as push_policy

#: The named table regions (``envs.scene_spec.REGIONS``) as a type, so the schema lists them.
Region = Literal["left side", "right side", "front", "back"]


@skill
def move_to(ctx: SkillContext, x: float, y: float, z: float) -> SkillResult:
    """Move the gripper's tool centre point (between the fingertips) to a point, keeping the gripper as it is.

    Args:
        x: metres forward from the robot's base (the table spans about 0.3 to 0.75).
        y: metres to the robot's left (negative: right; about -0.3 to 0.3).
        z: metres above the table top.
    """
    problem = unreachable_reason(ctx.driver, (x, y, z))
    if problem:
        raise SkillArgumentError(f"unreachable pose ({x}, {y}, {z}) m: {problem}")
    return SkillResult.from_policy(servo_to(ctx.driver, (x, y, z), max_steps=200))


@skill
def open_gripper(ctx: SkillContext) -> SkillResult:
    """Open the gripper fully (releases whatever it holds)."""
    return SkillResult.from_policy(set_gripper(ctx.driver, close=False))


@skill
def close_gripper(ctx: SkillContext) -> SkillResult:
    """Close the gripper; it holds a block between the fingers by friction."""
    result = set_gripper(ctx.driver, close=True)
    holding = result.details["width_m"] > MIN_HOLD_WIDTH
    note = " with something between the fingers" if holding else " on nothing"
    return SkillResult(True, result.message + note, details={**result.details, "holding": holding})


@skill
def pick(ctx: SkillContext, object: str) -> SkillResult:
    """Pick up a block and hold it above the table.

    Args:
        object: name of a visible block, exactly as observed (e.g. "red block").
    """
    return SkillResult.from_policy(pick_policy(ctx.driver, pick_target(ctx, object)))


def pick_target(ctx: SkillContext, object: str) -> str:
    """The visible block ``object`` names, checked to be graspable (else :class:`SkillArgumentError` says why)."""
    name = ctx.require_object(object, GRASPABLE_SHAPES).name
    problem = grasp_problem(ctx.scene, name)
    if problem:
        raise SkillArgumentError(problem)
    return name


@skill
def place(ctx: SkillContext, object: str, target: str) -> SkillResult:
    """Put a block on another block or a plate, into a bowl or the bin, or down in a table region.

    Picks the block up first if it is not already in the gripper.

    Args:
        object: name of the block to place (e.g. "red block").
        target: a visible block or plate to put it on, a bowl or "bin" to drop it in, or a region:
            "left side", "right side", "front" or "back".
    """
    name, target = place_arguments(ctx, object, target)
    return SkillResult.from_policy(place_policy(ctx.driver, name, target))


def place_arguments(ctx: SkillContext, object: str, target: str) -> tuple[str, str]:
    """The block and the target ``place`` was called with, as perceived, checked (else :class:`SkillArgumentError`)."""
    try:
        name = ctx.require_object(object, GRASPABLE_SHAPES).name
    except SkillArgumentError:
        if hidden_in_hand(ctx.driver, ctx.scene, object) is None:
            raise
        name = object  # in the gripper, hidden from the cameras by the hand
    if target not in REGIONS and ctx.scene.find(target) is None:
        with contextlib.suppress(SkillArgumentError):  # target_problem says what is valid
            target = ctx.require_object(target, SUPPORT_SHAPES + CONTAINER_SHAPES).name
    problem = target_problem(ctx.scene, name, target)
    if problem:
        raise SkillArgumentError(problem)
    return name, target


@skill
def push(ctx: SkillContext, object: str, region: Region) -> SkillResult:
    """Push a block along the table into a region, correcting its course between strokes.

    Args:
        object: name of a block standing on the table.
        region: the side of the table to push it to.
    """
    name = ctx.require_object(object, PUSHABLE_SHAPES).name
    problem = push_problem(ctx.scene, name, region)
    if problem:
        raise SkillArgumentError(problem)
    return SkillResult.from_policy(push_policy(ctx.driver, name, region))


@skill
def look(ctx: SkillContext, step_back: bool = False) -> SkillResult:
    """Look at the table again: re-perceive the scene and describe it.

    Args:
        step_back: first lift the hand and move it back toward the robot, out of the cameras' view.
    """
    if step_back:
        clear_view(ctx.driver)
    scene = ctx.refresh()
    return SkillResult(True, describe(scene), details={"objects": list(scene.names)})


PRIMITIVES: tuple[Skill, ...] = (move_to, open_gripper, close_gripper, pick, place, push, look)

if set(get_args(Region)) != set(REGIONS):  # pragma: no cover - guards the Literal against drift
    raise RuntimeError(f"Region {get_args(Region)} is out of date with envs.scene_spec.REGIONS {sorted(REGIONS)}")


def default_registry() -> SkillRegistry:
    """A registry holding the primitive skills."""
    return SkillRegistry(PRIMITIVES)
