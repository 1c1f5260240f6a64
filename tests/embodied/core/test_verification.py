"""Goal atoms checked against perception, including a block hidden under another in a container."""

from __future__ import annotations

from embodied.core.verification import atom_holds
from perception.relations import compute_relations
from perception.scene_graph import DetectedObject, RobotState, SceneGraph


def _scene(*objs: DetectedObject, holding: str | None = None) -> SceneGraph:
    return SceneGraph(objs, compute_relations(objs, holding), RobotState((0.3, 0, 0.4), 0.0, 0.04, holding))


BIN = DetectedObject("bin", "grey", "bin", (0.55, 0.2, 0.06), (0.2, 0.26, 0.12))


def test_in_and_on_follow_the_perceived_relations():
    red = DetectedObject("red block", "red", "block", (0.55, 0.2, 0.03), (0.045,) * 3)
    blue = DetectedObject("blue block", "blue", "block", (0.4, 0.0, 0.0225), (0.045,) * 3)
    top = DetectedObject("green block", "green", "block", (0.4, 0.0, 0.0675), (0.045,) * 3)
    scene = _scene(BIN, red, blue, top)
    assert atom_holds(scene, ("in", "red block", "bin"))
    assert atom_holds(scene, ("on", "green block", "blue block"))
    assert not atom_holds(scene, ("on", "blue block", "green block"))
    assert not atom_holds(_scene(BIN, red, holding="red block"), ("in", "red block", "bin"))


def test_a_block_hidden_under_another_in_the_bin_counts_as_in_it():
    high = DetectedObject("yellow block", "yellow", "block", (0.55, 0.2, 0.07), (0.055,) * 3)
    assert atom_holds(_scene(BIN, high), ("in", "orange block", "bin"))
    low = DetectedObject("yellow block", "yellow", "block", (0.55, 0.2, 0.03), (0.055,) * 3)
    assert not atom_holds(_scene(BIN, low), ("in", "orange block", "bin"))  # nothing can be under it


def test_a_missing_block_whose_look_alike_is_in_the_bowl_counts_as_in_it():
    bowl = DetectedObject("blue bowl", "blue", "bowl", (0.5, 0.0, 0.0225), (0.15, 0.15, 0.045))
    merged = DetectedObject("blue block", "blue", "block", (0.5, 0.0, 0.03), (0.045,) * 3)
    assert atom_holds(_scene(bowl, merged), ("in", "small blue block", "blue bowl"))
    assert not atom_holds(_scene(bowl, merged), ("in", "small red block", "blue bowl"))
