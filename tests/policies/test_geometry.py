"""Pure helpers of the policies: heading choice next to tall objects, finding renamed objects again."""

from __future__ import annotations

import math

import numpy as np

from perception.scene_graph import DetectedObject, SceneGraph
from policies.clearance import HEADINGS, clearance, roomiest_heading
from policies.lookup import kind_of, relocate
from policies.motion import wrap_half_turn


def block(name: str, colour: str, x: float, y: float, edge: float = 0.045) -> DetectedObject:
    return DetectedObject(name, colour, "block", (x, y, edge / 2), (edge, edge, edge))


BIN = DetectedObject("bin", "grey", "bin", (0.55, 0.15, 0.06), (0.20, 0.26, 0.12))


def test_default_heading_when_there_is_room():
    scene = SceneGraph((block("red block", "red", 0.5, 0.0), block("blue block", "blue", 0.5, -0.2)))
    assert roomiest_heading(scene, np.array([0.5, 0.0]), 0.0225, ignore=("red block",)) == 0.0


def test_hand_turns_away_from_the_bin_wall():
    # The block stands 7 cm from the bin's wall along +y: at heading 0 the hand (+-10.5 cm along y) hits it.
    scene = SceneGraph((block("red block", "red", 0.55, -0.05), BIN))
    xy = np.array([0.55, -0.05])
    assert clearance(scene, xy, 0.0225, 0.0, ignore=("red block",)) < 0.015
    yaw = roomiest_heading(scene, xy, 0.0225, ignore=("red block",))
    assert yaw != 0.0 and yaw in HEADINGS
    assert clearance(scene, xy, 0.0225, yaw, ignore=("red block",)) > clearance(scene, xy, 0.0225, 0.0, ("red block",))


def test_low_objects_do_not_block_the_hand():
    plate = DetectedObject("red plate", "red", "plate", (0.5, 0.09, 0.006), (0.16, 0.16, 0.012))
    scene = SceneGraph((block("blue block", "blue", 0.5, -0.03), plate))
    # The plate is under the hand's footprint but far below its underside; the fingers clear its rim.
    assert roomiest_heading(scene, np.array([0.5, -0.03]), 0.0225, ignore=("blue block",)) == 0.0


def test_relocate_by_name_then_by_colour_and_shape():
    before = block("orange block", "orange", 0.5, 0.0)
    renamed = SceneGraph((block("small orange block", "orange", 0.5, 0.01, 0.035), block("red block", "red", 0.5, 0.0)))
    found = relocate(renamed, before, (0.5, 0.0, 0.06))
    assert found is not None and found.name == "small orange block"
    assert relocate(renamed, before, (0.9, 0.5, 0.0)) is None  # too far: another object
    assert relocate(SceneGraph((before,)), before, (0.0, 0.0, 0.0)) is before
    assert kind_of("small orange block") == kind_of("orange block") == ("orange", "block")
    assert kind_of("bin") == ("bin",)


def test_wrap_half_turn():
    assert math.isclose(wrap_half_turn(math.pi), 0.0, abs_tol=1e-12)
    assert math.isclose(wrap_half_turn(3 * math.pi / 4), -math.pi / 4)
    assert -math.pi / 2 <= wrap_half_turn(1e6) < math.pi / 2


def test_relocate_horizontally_finds_a_block_dropped_into_a_container():
    before = block("blue block", "blue", 0.55, -0.2)  # as seen in the hand
    dropped = SceneGraph((block("large blue block", "blue", 0.553, -0.203, 0.055), BIN))
    release = (0.55, -0.2, 0.17)  # let go above the rim; it fell ~13 cm
    assert relocate(dropped, before, release) is None
    found = relocate(dropped, before, release, horizontal=True)
    assert found is not None and found.name == "large blue block"


def test_a_block_hidden_in_the_hand_gets_a_stand_in():
    from policies.driver import EnvDriver
    from policies.grasp import hidden_in_hand

    scene = SceneGraph((block("red block", "red", 0.4, 0.2),))

    def driver(width: float) -> EnvDriver:
        obs = {"proprio": {"ee_pos": [0.6, 0.0, 0.17], "ee_yaw": [0.0], "gripper_width": [width]}}
        return EnvDriver(None, None, obs, {})  # type: ignore[arg-type]

    stand_in = hidden_in_hand(driver(0.044), scene, "purple block")
    assert stand_in is not None and stand_in.colour == "purple" and stand_in.position == (0.6, 0.0, 0.17)
    assert hidden_in_hand(driver(0.08), scene, "purple block") is None  # open: holds nothing
    assert hidden_in_hand(driver(0.0), scene, "purple block") is None  # closed on nothing
    assert hidden_in_hand(driver(0.044), scene, "red block") is None  # visible elsewhere
