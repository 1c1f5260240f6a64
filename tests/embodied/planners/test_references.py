"""Reading object mentions against the scene: names, position words, and what stays ambiguous."""

from __future__ import annotations

import pytest

from embodied.planners.grounding import parse_instruction
from embodied.planners.references import read_mentions
from perception.scene_graph import DetectedObject, SceneGraph

EDGE = {"small": 0.035, "medium": 0.045, "large": 0.055}


def _block(name: str, x: float, y: float) -> DetectedObject:
    words = name.split()
    size = words[0] if words[0] in EDGE else "medium"
    return DetectedObject(name, words[-2], "block", (x, y, 0.02), (EDGE[size],) * 3)


def _thing(name: str, shape: str, x: float, y: float) -> DetectedObject:
    return DetectedObject(name, name.split()[0], shape, (x, y, 0.02), (0.15, 0.15, 0.045))


#: +x away from the robot, +y to its left. Red is nearest the robot, blue farthest back, green leftmost.
SCENE = SceneGraph(
    (
        _block("small red block", 0.40, 0.00),
        _block("large blue block", 0.65, -0.05),
        _block("green block", 0.52, 0.25),
        _thing("yellow bowl", "bowl", 0.55, 0.10),
        _thing("purple plate", "plate", 0.40, -0.25),
    )
)


def _names(text: str, scene: SceneGraph = SCENE) -> list[str | None]:
    return [m.name for m in read_mentions(text, scene) if not m.anchor]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("the leftmost block", "green block"),
        ("the block on the far left", "green block"),
        ("the block closest to you", "small red block"),
        ("the block nearest the robot", "small red block"),
        ("the one that s farthest back", "large blue block"),
        ("the block at the back", "large blue block"),
        ("the block furthest to the right", "large blue block"),
        ("the largest block", "large blue block"),
        ("the smallest one", "small red block"),
        ("the block nearest to the plate", "small red block"),
        ("the block left of the yellow bowl", "green block"),
        ("the block behind the yellow bowl", "large blue block"),
        ("the cube that is in front of the bowl", "small red block"),
        ("the big cube", "large blue block"),
        ("the green one", "green block"),
    ],
)
def test_position_and_size_words_pick_one_block(text: str, name: str) -> None:
    assert _names(text)[0] == name


def test_the_anchor_of_a_position_is_marked_and_not_the_object_meant() -> None:
    mentions = read_mentions("put the block behind the yellow bowl in the bin", SCENE)
    block, bowl = mentions[0], mentions[1]
    assert block.name == "large blue block" and block.relative_to == "yellow bowl"
    assert bowl.anchor and bowl.name == "yellow bowl"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("put the block in the bowl", "'the block' could be any of small red block, large blue block, green block"),
        ("put the pink block in the bowl", "no 'pink block' is visible"),
        ("put the red block in the bin", "no 'bin' is visible"),
        ("put the block right of the yellow bowl on the plate", "could be any of"),  # red and blue are both right of it
    ],
)
def test_what_is_not_there_or_not_said_is_a_problem(text: str, problem: str) -> None:
    problems = [m.problem(SCENE) for m in read_mentions(text, SCENE)]
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "put the blocks in the bowl",  # plural
        "put a block on the plate",  # any block
        "put the other block on the plate",
        "put each block in the bowl of the same colour",
        "put the block in front of it on the plate",  # a position this reader cannot parse
    ],
)
def test_mentions_that_are_not_one_definite_object_are_no_problem(text: str) -> None:
    assert [p for p in (m.problem(SCENE) for m in read_mentions(text, SCENE)) if p] == []


def test_a_position_word_without_a_clear_winner_picks_nothing() -> None:
    close = SceneGraph((_block("red block", 0.50, 0.10), _block("blue block", 0.51, -0.10)))
    assert _names("the block closest to you", close) == [None]  # 1 cm apart: within the margin
    assert _names("the leftmost block", close) == ["red block"]


def test_the_middle_of_three() -> None:
    row = SceneGraph((_block("red block", 0.5, 0.2), _block("blue block", 0.5, 0.0), _block("green block", 0.5, -0.2)))
    assert _names("the block in the middle", row) == ["blue block"]


@pytest.mark.parametrize(
    ("instruction", "goal"),
    [
        ("put the leftmost block on the plate", {("on", "green block", "purple plate")}),
        ("put the block behind the yellow bowl into it", {("in", "large blue block", "yellow bowl")}),
        ("stack the block closest to you on the big one", {("on", "small red block", "large blue block")}),
    ],
)
def test_the_pattern_grounder_reads_what_positions_pick(instruction: str, goal: set[tuple[str, ...]]) -> None:
    assert set(parse_instruction(instruction, SCENE)) == goal
