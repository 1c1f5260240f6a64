"""Two readings of one instruction (the model's and the pattern grounder's): the check decides, both are noted."""

from __future__ import annotations

import pytest

from embodied.planners.grounding import InstructionNotUnderstood
from embodied.planners.parsing import GoalRefused
from embodied.planners.readings import TwoReadings
from perception.scene_graph import DetectedObject, SceneGraph


def _obj(name: str, colour: str, shape: str, x: float, y: float) -> DetectedObject:
    return DetectedObject(
        name, colour, shape, (x, y, 0.02), (0.045, 0.045, 0.045) if shape == "block" else (0.15, 0.15, 0.045)
    )


SCENE = SceneGraph(
    (
        _obj("red block", "red", "block", 0.5, 0.1),
        _obj("blue block", "blue", "block", 0.45, -0.1),
        _obj("green block", "green", "block", 0.6, 0.0),
        _obj("yellow bowl", "yellow", "bowl", 0.55, 0.2),
    )
)
TOWER = "make a tower of the blue block, the red block and the green block"
TOWER_GOAL = (("on", "red block", "blue block"), ("on", "green block", "red block"))


def model_says(*goal: tuple[str, ...]):
    return lambda text, scene: tuple(goal)


def test_agreement_is_noted_and_used() -> None:
    readings = TwoReadings(model_says(("on", "red block", "blue block")))
    assert readings("put the red block on the blue block", SCENE) == (("on", "red block", "blue block"),)
    assert "agree" in readings.note


def test_the_check_rejects_a_tower_read_as_one_atom() -> None:
    readings = TwoReadings(model_says(("on", "red block", "blue block")))
    assert readings(TOWER, SCENE) == TOWER_GOAL  # the pattern grounder's reading passes, the model's does not
    assert "tower of 3 blocks needs 2" in readings.note and "pattern grounder reads" in readings.note


def test_when_both_hold_and_differ_the_preference_decides_and_both_are_noted() -> None:
    instruction = "put the red block in the yellow bowl"
    model = (("in", "red block", "yellow bowl"), ("in", "green block", "yellow bowl"))  # an extra atom: it may hold
    readings = TwoReadings(model_says(*model))
    assert readings(instruction, SCENE) == (("in", "red block", "yellow bowl"),)  # the pattern grounder, by default
    assert "the model reads in(red block, yellow bowl), in(green block, yellow bowl)" in readings.note
    assert "pattern grounder's reading is preferred" in readings.note
    assert TwoReadings(model_says(*model), prefer="model")(instruction, SCENE) == model


def test_a_model_that_guesses_which_block_a_position_picks_loses_to_the_positions() -> None:
    instruction = "put the block right of the yellow bowl in the bin"  # the model sees names, not positions
    scene = SceneGraph(
        (
            _obj("red block", "red", "block", 0.5, 0.3),
            _obj("blue block", "blue", "block", 0.55, 0.0),
            _obj("yellow bowl", "yellow", "bowl", 0.55, 0.2),
            _obj("bin", "grey", "bin", 0.4, -0.25),
        )
    )
    readings = TwoReadings(model_says(("in", "red block", "bin")))
    assert readings(instruction, scene) == (("in", "blue block", "bin"),)
    assert "it leaves out blue block ('the block right of the yellow bowl')" in readings.note
    assert "only it passes the check" in readings.note


def test_a_refusal_falls_back_to_a_reading_that_holds() -> None:
    def refuse(text: str, scene: SceneGraph) -> tuple[tuple[str, ...], ...]:
        raise GoalRefused("the model finds no reading")

    readings = TwoReadings(refuse)
    assert readings("put the red block on the blue block", SCENE) == (("on", "red block", "blue block"),)
    assert "the model gives no goal (the model finds no reading)" in readings.note


def test_nobody_can_ground_it_so_nothing_moves() -> None:
    def refuse(text: str, scene: SceneGraph) -> tuple[tuple[str, ...], ...]:
        raise GoalRefused("the model finds no reading")

    with pytest.raises(InstructionNotUnderstood, match=r"could not ground 'make me a coffee'.*model.*pattern grounder"):
        TwoReadings(refuse)("make me a coffee", SCENE)


def test_a_model_goal_that_drops_a_named_object_loses_to_the_pattern_reading() -> None:
    readings = TwoReadings(model_says(("on", "red block", "green block")))
    assert readings("put the red block on the blue block", SCENE) == (("on", "red block", "blue block"),)
    assert "leaves out blue block" in readings.note
