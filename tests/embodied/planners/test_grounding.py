"""Offline instruction grounding: templates of every family, paraphrases, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodied.evaluation.suites import paraphrase
from embodied.planners.grounding import InstructionNotUnderstood, goal_consistency, parse_instruction
from envs.tasks import FAMILIES, ObjectState, WorldState, sample_task
from perception.ground_truth import scene_from_world
from perception.scene_graph import DetectedObject, SceneGraph


def _scene_of(task):
    ws = WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], 0.0), o.yaw) for o in task.scene.objects})
    return scene_from_world(ws)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_template_instance_grounds_to_the_task_goal(family):
    for seed in range(60):
        task = sample_task(family, seed)
        assert set(parse_instruction(task.instruction, _scene_of(task))) == set(task.goal), task.instruction


def _obj(name, colour, shape, x, y):
    size = {"block": (0.045,) * 3, "bowl": (0.15, 0.15, 0.045), "plate": (0.16, 0.16, 0.012), "bin": (0.2, 0.26, 0.12)}
    return DetectedObject(name, colour, shape, (x, y, 0.02), size[shape])


SCENE = SceneGraph(
    (
        _obj("red block", "red", "block", 0.5, 0.1),
        _obj("large blue block", "blue", "block", 0.45, -0.1),
        _obj("small green block", "green", "block", 0.6, 0.0),
        _obj("yellow bowl", "yellow", "bowl", 0.55, 0.2),
        _obj("purple plate", "purple", "plate", 0.4, 0.2),
        _obj("bin", "grey", "bin", 0.55, -0.25),
    )
)


@pytest.mark.parametrize(
    ("instruction", "goal"),
    [
        ("Please put the red block on top of the blue block.", {("on", "red block", "large blue block")}),
        ("could you drop the green cube into the yellow bowl", {("in", "small green block", "yellow bowl")}),
        ("I'd like the big blue block on the purple plate", {("on", "large blue block", "purple plate")}),
        ("grab the red block and set it down on the plate", {("on", "red block", "purple plate")}),
        ("Red block into the bin, please", {("in", "red block", "bin")}),
        ("slide the red block over to the right", {("in_region", "red block", "right side")}),
        (
            "throw every block in the bin",
            {("in", n, "bin") for n in ("red block", "large blue block", "small green block")},
        ),
        (
            "first put the green block on the red block, and then put the blue block on the green block",
            {("on", "small green block", "red block"), ("on", "large blue block", "small green block")},
        ),
    ],
)
def test_paraphrases_outside_the_templates(instruction, goal):
    assert set(parse_instruction(instruction, SCENE)) == goal


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        ("make me a sandwich", "configure an LLM"),
        ("", "empty"),
        ("put the pink block on the red block", "no 'pink block' is visible"),
        ("put the block on the bowl", "configure an LLM"),
        ("stack the red block on the red block", "asks for the impossible: on\\(red block, red block\\)"),
        ("put the red block on the blue block, then put the blue block on the red block", "is a loop"),
        ("把红色方块放在蓝色方块上", "no words the offline grounder reads"),
        ("   ", "empty"),
    ],
)
def test_unusable_instructions_fail_clearly(instruction, reason):
    with pytest.raises(InstructionNotUnderstood, match=reason):
        parse_instruction(instruction, SCENE)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text):
    try:
        goal = parse_instruction(text, SCENE)
    except InstructionNotUnderstood:
        return
    for atom in goal:
        assert atom[0] in ("on", "in", "in_region")
        assert atom[1] in SCENE.names


@pytest.mark.parametrize(
    ("instruction", "goal", "problem"),
    [
        # what SmolLM2 answered zero-shot: a goal that drops the target the instruction names
        ("stack the red block on the blue block", [("on", "small green block", "red block")], "leaves out large blue"),
        ("put the red block on the blue block", [("on", "red block", "red block")], "on itself"),
        ("put the red block on the blue block", [("on", "red block", "large blue block")], None),
        # a spatial reference's anchor is not part of the goal; the block it picks is
        ("put the block behind the red block in the yellow bowl", [("in", "small green block", "yellow bowl")], None),
        ("put the block behind the red block in the yellow bowl", [("in", "red block", "yellow bowl")], "leaves out"),
        # ... and where it picks no one block, no goal is a reading of it
        (
            "put the block left of the blue block in the yellow bowl",
            [("in", "red block", "yellow bowl")],
            "'the block' could be any of",
        ),
        # a position word picks one of several blocks; an object that is not there grounds nothing
        ("put the leftmost block in the bin", [("in", "red block", "bin")], None),
        ("put the leftmost block in the bin", [("in", "small green block", "bin")], "leaves out red block"),
        ("put the block closest to you in the bin", [("in", "large blue block", "bin")], None),
        ("put the block farthest back on the plate", [("on", "small green block", "purple plate")], None),
        ("put the pink block in the bin", [("in", "red block", "bin")], "no 'pink block' is visible"),
        ("put the block in the bin", [("in", "red block", "bin")], "could be any of"),
        ("put everything in the bin", [("in", "red block", "bin")], None),
        # a tower of three read as one atom (a false success once: it was executed and "verified")
        (
            "build a tower of the blue block, the red block and the green block",
            [("on", "red block", "large blue block"), ("in", "small green block", "bin")],
            "tower of 3 blocks needs 2",
        ),
        (
            "build a tower of the blue block, the red block and the green block",
            [("on", "red block", "large blue block"), ("on", "small green block", "red block")],
            None,
        ),
        # atoms the objects cannot satisfy (SmolLM2 wrote these for held-out wordings)
        ("red in red, green in yellow", [("in", "small green block", "red block")], "no bowl or bin"),
        (
            "put the red block on the blue block with the green block on top",
            [("on", "red block", "large blue block"), ("on", "small green block", "large blue block")],
            "both the red block and the small green block would sit on the large blue block",
        ),
        ("put the bowl on the red block", [("on", "yellow bowl", "red block")], "only blocks are moved"),
        ("put the red block on the bowl", [("on", "red block", "yellow bowl")], "not on it"),
        # "stack" as a verb over two placements is no tower
        (
            "stack the red block on the blue block and put the green block in the bin",
            [("on", "red block", "large blue block"), ("in", "small green block", "bin")],
            None,
        ),
    ],
)
def test_a_goal_must_name_what_the_instruction_names(instruction, goal, problem):
    problems = goal_consistency(instruction, SCENE, goal)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_task_goal_is_consistent_with_its_own_instruction(family):
    """The check never refuses the right reading: each family's true goal passes, over many scenes,
    in the template wording and in the paraphrase suite's ("the bowl that has the same color")."""
    for seed in range(60):
        task = sample_task(family, seed)
        for text in (task.instruction, paraphrase(task, np.random.default_rng([seed, 17]))):
            assert goal_consistency(text, _scene_of(task), task.goal) == [], (seed, text)
