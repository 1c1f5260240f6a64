"""describe(): the short, deterministic text observation."""

from __future__ import annotations

from perception.describe import describe
from perception.relations import compute_relations
from perception.scene_graph import DetectedObject, RobotState, SceneGraph


def _block(name: str, x: float, y: float, z: float, size: float = 0.045, colour: str = "red") -> DetectedObject:
    return DetectedObject(name, colour, "block", (x, y, z + size / 2), (size, size, size))


def _scene(objects: tuple[DetectedObject, ...], robot: RobotState | None = None) -> SceneGraph:
    holding = robot.holding if robot else None
    return SceneGraph(objects, compute_relations(objects, holding), robot)


def test_objects_positions_relations_and_gripper_in_cm() -> None:
    blue = _block("blue block", 0.52, -0.03, 0.0, colour="blue")
    red = _block("red block", 0.52, -0.03, 0.045)
    robot = RobotState((0.284, 0.0, 0.375), 0.0, 0.08)
    text = describe(_scene((red, blue), robot))
    assert text == (
        "objects (x forward, y left, z up; cm): blue block at (52, -3, 2); red block at (52, -3, 7). "
        "red block on blue block. gripper at (28, 0, 38) cm, open, holding nothing."
    )


def test_same_scene_same_text_whatever_the_order() -> None:
    a = _block("red block", 0.4, 0.1, 0.0)
    b = _block("large green block", 0.6, -0.2, 0.0, 0.055, "green")
    bowl = DetectedObject("blue bowl", "blue", "bowl", (0.5, 0.0, 0.0225), (0.15, 0.15, 0.045))
    assert describe(_scene((a, b, bowl))) == describe(_scene((bowl, b, a)))


def test_no_negative_zero_and_short() -> None:
    objs = tuple(_block(f"b{i}", 0.5 + 0.05 * i, -0.004, 0.0) for i in range(6))
    text = describe(_scene(objs, RobotState((0.3, -0.001, 0.3), 0.0, 0.0)))
    assert "-0," not in text and "(-0" not in text
    assert len(text) < 400
    assert text.endswith("gripper at (30, 0, 30) cm, closed, holding nothing.")


def test_holding_and_partly_open_gripper() -> None:
    held = _block("small red block", 0.5, 0.0, 0.15, 0.035)
    assert describe(_scene((held,), RobotState((0.5, 0.0, 0.17), 0.0, 0.035, "small red block"))).endswith(
        "gripper at (50, 0, 17) cm, holding small red block."
    )
    assert "4 cm open, holding nothing" in describe(_scene((), RobotState((0.5, 0.0, 0.17), 0.0, 0.04)))


def test_empty_scene() -> None:
    assert describe(SceneGraph(())) == "no objects visible."


def test_remembered_objects_are_marked_hidden() -> None:
    block = _block("red block", 0.5, 0.0, 0.0)
    scene = SceneGraph((block,), (), None, {"remembered": ["red block"]})
    assert describe(scene) == "objects (x forward, y left, z up; cm): red block at (50, 0, 2) (hidden)."
