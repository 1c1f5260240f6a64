"""Where the hand fits: choosing a tool heading that keeps fingers and hand off neighbouring objects.

The Panda hand is long along the fingers' closing axis (about +-10 cm) and its underside sits
about 4 cm above the tool centre point; the open fingers reach about 5 cm to each side and 7 mm
below it. Going down next to a tall object (the bin, a tower, a bowl's rim) the hand can land on
it. A block can be grasped at any heading, so the heading with the most room wins.
"""

from __future__ import annotations

import math

import numpy as np

from perception.scene_graph import DetectedObject, SceneGraph

HAND_HALF_LENGTH = 0.105  # along the closing axis, from the tool centre (m)
HAND_HALF_WIDTH = 0.033  # across it (m)
HAND_BOTTOM = 0.039  # height of the hand's underside above the tool centre (m)
FINGER_OFFSETS = (0.04, 0.053, 0.066)  # open fingers: distances from the tool centre along the axis (m)
FINGER_BOTTOM = 0.007  # fingertips reach this far below the tool centre (m)
HEADINGS = (0.0, 1.5, 0.75, -0.75)  # candidate headings, within the wrist's +-1.6 rad
ROOMY = 0.015  # metres of clearance that is enough: keep the first (simplest) heading that has it


def footprint_distance(p: np.ndarray, obj: DetectedObject) -> float:
    """Horizontal distance from point ``p`` to an object's axis-aligned footprint (0 inside)."""
    dx = max(abs(float(p[0]) - obj.position[0]) - obj.size[0] / 2, 0.0)
    dy = max(abs(float(p[1]) - obj.position[1]) - obj.size[1] / 2, 0.0)
    return math.hypot(dx, dy)


def _points(centre: np.ndarray, yaw: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Sample points of the open fingers and of the hand's footprint at ``yaw``."""
    axis = np.array([-math.sin(yaw), math.cos(yaw)])
    across = np.array([math.cos(yaw), math.sin(yaw)])
    fingers = [centre + s * r * axis for r in FINGER_OFFSETS for s in (-1.0, 1.0)]
    hand = [
        centre + t * axis + w * across
        for t in np.linspace(-HAND_HALF_LENGTH, HAND_HALF_LENGTH, 9)
        for w in (-HAND_HALF_WIDTH, 0.0, HAND_HALF_WIDTH)
    ]
    return fingers, hand


def clearance(scene: SceneGraph, xy: np.ndarray, tool_z: float, yaw: float, ignore: tuple[str, ...] = ()) -> float:
    """Smallest horizontal gap (m) between the hand at ``(xy, tool_z, yaw)`` and any object it could hit."""
    fingers, hand = _points(np.asarray(xy, dtype=float)[:2], yaw)
    gap = 1.0
    for obj in scene.objects:
        if obj.name in ignore:
            continue
        if obj.top > tool_z - FINGER_BOTTOM:
            gap = min(gap, *(footprint_distance(p, obj) for p in fingers))
        if obj.top > tool_z + HAND_BOTTOM:
            gap = min(gap, *(footprint_distance(p, obj) for p in hand))
    return gap


def roomiest_heading(scene: SceneGraph, xy: np.ndarray, tool_z: float, ignore: tuple[str, ...] = ()) -> float:
    """The first heading of :data:`HEADINGS` with enough room, else the one with the most."""
    room = {yaw: clearance(scene, xy, tool_z, yaw, ignore) for yaw in HEADINGS}
    for yaw in HEADINGS:
        if room[yaw] >= ROOMY:
            return yaw
    return max(HEADINGS, key=lambda y: room[y])
