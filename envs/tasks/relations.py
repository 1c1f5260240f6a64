"""What "on" and "in" mean, written once: the task predicates judge ground truth with these functions
(:mod:`envs.tasks.predicates`) and perception reports its relations with them
(:mod:`perception.relations`), so "the agent saw it done" and "the task is done" are the same test
on two estimates of the world.

Each takes plain numbers: an ``xy`` centre, the height of an object's lowest point (``bottom``) and
of a support's top or rim. Perception does not estimate a block's heading: a base block with an
unknown heading (``base_yaw=None``) counts only the circle inscribed in its square top, which lies
inside the square whatever the heading, so the unknown heading can make perception miss an "on",
never claim one the square does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from envs.scene_spec import WALL_THICKNESS_M

#: How far (metres) a resting object's centre may stick out past its base block's edge.
XY_MARGIN = 0.004
#: How far (metres) an object's bottom may be from the top of the block or plate it rests on.
Z_TOLERANCE = 0.015
#: How far (metres) below a container's or plate's own bottom an object inside it may reach.
FLOOR_TOLERANCE = 0.005
#: How much of its half width an object's centre must stay inside a bowl's walls. A block resting on
#: the rim has its bottom at rim height and its centre near the wall; seen from the cameras, that
#: block hides part of the bowl and pulls the bowl's perceived centre toward itself by 1-2 cm.
INSIDE_FRACTION = 0.5

XY = Sequence[float]


def _local(xy: XY, frame_xy: XY, yaw: float) -> tuple[float, float]:
    dx, dy = xy[0] - frame_xy[0], xy[1] - frame_xy[1]
    c, s = math.cos(yaw), math.sin(yaw)
    return c * dx + s * dy, -s * dx + c * dy


def on_block(xy: XY, bottom: float, base_xy: XY, base_yaw: float | None, base_edge: float, base_top: float) -> bool:
    """An object with centre ``xy`` and lowest point ``bottom`` rests on a block (edge ``base_edge``)."""
    reach = base_edge / 2 + XY_MARGIN
    if base_yaw is None:
        inside = math.dist(xy[:2], base_xy[:2]) <= reach
    else:
        lx, ly = _local(xy, base_xy, base_yaw)
        inside = max(abs(lx), abs(ly)) <= reach
    return inside and abs(bottom - base_top) <= Z_TOLERANCE


def on_plate(xy: XY, bottom: float, plate_xy: XY, plate_radius: float, plate_bottom: float, plate_top: float) -> bool:
    """An object rests on a plate: inside its rim, between the plate's floor and just above its top."""
    inside = math.dist(xy[:2], plate_xy[:2]) <= plate_radius - WALL_THICKNESS_M
    return inside and plate_bottom - FLOOR_TOLERANCE <= bottom <= plate_top + Z_TOLERANCE


def in_bowl(
    xy: XY, bottom: float, half_width: float, bowl_xy: XY, bowl_radius: float, bowl_bottom: float, bowl_top: float
) -> bool:
    """An object (``half_width``: half its edge) is in a bowl: its lowest point below the rim, and its centre
    inside the walls by :data:`INSIDE_FRACTION` of its half width, so a block perched on the rim is not in."""
    inside = math.dist(xy[:2], bowl_xy[:2]) + INSIDE_FRACTION * half_width <= bowl_radius - WALL_THICKNESS_M
    return inside and bowl_bottom - FLOOR_TOLERANCE <= bottom <= bowl_top


def in_bin(
    xy: XY, bottom: float, bin_xy: XY, bin_yaw: float, half_extents: XY, bin_bottom: float, bin_top: float
) -> bool:
    """An object is in the bin (a box of ``half_extents`` turned by ``bin_yaw``): inside its walls, below its rim."""
    lx, ly = _local(xy, bin_xy, bin_yaw)
    inside = abs(lx) <= half_extents[0] - WALL_THICKNESS_M and abs(ly) <= half_extents[1] - WALL_THICKNESS_M
    return inside and bin_bottom - FLOOR_TOLERANCE <= bottom <= bin_top
