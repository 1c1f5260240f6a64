"""Pure helpers of the policies: heading choice next to tall objects, finding renamed objects again."""

from __future__ import annotations

import math

import numpy as np

from envs.scene_spec import WALL_THICKNESS_M
from perception.scene_graph import DetectedObject, Relation, SceneGraph
from policies.clearance import HEADINGS, clearance, roomiest_heading
from policies.lookup import kind_of, relocate
from policies.motion import wrap_half_turn
from policies.place import container_spot, held_offset, sized_as


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


BOWL = DetectedObject("red bowl", "red", "bowl", (0.5, 0.1, 0.0225), (0.15, 0.15, 0.045))


def _corner_reach(spot: tuple[float, float], edge: float) -> float:
    """How far from the bowl's centre the block's farthest corner can be, whatever its yaw."""
    return math.dist(spot, BOWL.position[:2]) + math.sqrt(2) * edge / 2


def test_the_first_block_goes_to_the_near_side_of_an_empty_bowl_clear_of_the_wall():
    large = block("large red block", "red", 0.5, -0.1, 0.055)  # comes from -y
    spot = container_spot(SceneGraph((BOWL, large)), BOWL, large)
    assert spot[1] < 0.1 and abs(spot[0] - 0.5) < 1e-9  # off centre, toward where it comes from
    inner = 0.075 - WALL_THICKNESS_M
    assert _corner_reach(spot, 0.055) <= inner - 0.009  # its corners stay inside the wall
    assert math.dist(spot, BOWL.position[:2]) >= 0.015  # leaving room on the far side


def test_the_second_block_goes_opposite_with_room_between_the_blocks():
    first = block("large red block", "red", 0.5, 0.08, 0.055)  # already against the -y side
    objects = (BOWL, first, block("small red block", "red", 0.3, 0.3, 0.035))
    scene = SceneGraph(objects, (Relation("large red block", "in", "red bowl"),))
    small = scene.get("small red block")
    spot = container_spot(scene, BOWL, small)
    assert spot[1] > 0.1  # the far side
    gap = math.dist(spot, first.position[:2]) - (0.055 + 0.035) / 2
    assert gap > 0.005
    assert _corner_reach(spot, 0.035) <= 0.075 - WALL_THICKNESS_M


def test_a_block_measured_small_in_the_hand_is_placed_as_big_as_its_name():
    seen_small = block("small red block", "red", 0.4, 0.0, 0.035)
    assert sized_as(seen_small, "large red block").size == (0.055, 0.055, 0.055)
    assert sized_as(seen_small, "small red block") is seen_small
    assert sized_as(block("red block", "red", 0.4, 0.0, 0.046), "red block").size[0] == 0.046


class _Hand:
    """What :func:`held_offset` reads of a driver: the tool centre point and heading."""

    def __init__(self, yaw: float) -> None:
        self.ee_pos, self.ee_yaw = np.array([0.5, 0.0, 0.2]), yaw


def test_a_held_blocks_offset_is_kept_only_along_the_pads():
    hand = _Hand(0.0)  # pads along x, fingers close along y
    held = DetectedObject("red block", "red", "block", (0.504, 0.024, 0.21), (0.045, 0.045, 0.045))
    offset = held_offset(hand, held)  # type: ignore[arg-type]
    np.testing.assert_allclose(offset, [0.004, 0.0, 0.01], atol=1e-9)  # the fingers centre it across
    far = DetectedObject(held.name, held.colour, held.shape, (0.53, 0.0, 0.2), held.size)
    np.testing.assert_allclose(held_offset(hand, far), [0.01, 0.0, 0.0], atol=1e-9)  # clipped along the pads
    turned = held_offset(_Hand(math.pi / 2), held)  # type: ignore[arg-type]
    np.testing.assert_allclose(turned, [0.0, 0.01, 0.01], atol=1e-9)  # pads now along y
