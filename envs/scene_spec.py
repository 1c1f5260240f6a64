"""Backend-agnostic description of a tabletop scene: which props exist, where, and how big.

The scene spec is what a task's randomiser produces and what every simulator backend builds.
Coordinates are in the world frame: the robot base sits at the origin on the table top,
``+x`` points away from the robot, ``+y`` to the robot's left, ``+z`` up; the table top is
``z = 0``. Units are metres and radians.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from envs.validation import require_positive

OBJECT_KINDS: tuple[str, ...] = ("block", "bowl", "plate", "bin")

#: Colour name -> RGBA. Saturated, well-separated hues so colour is a usable cue from pixels;
#: ``grey`` is kept for the bin (the robot is white and the table a dark neutral).
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.12, 0.10, 1.0),
    "green": (0.12, 0.70, 0.20, 1.0),
    "blue": (0.10, 0.25, 0.90, 1.0),
    "yellow": (0.95, 0.85, 0.10, 1.0),
    "purple": (0.55, 0.15, 0.75, 1.0),
    "orange": (0.98, 0.50, 0.05, 1.0),
    "grey": (0.45, 0.45, 0.48, 1.0),
}

#: Block edge length (m) per size class.
BLOCK_SIZES: dict[str, float] = {"small": 0.035, "medium": 0.045, "large": 0.055}
#: Mass (kg) of a medium block; the other sizes scale with volume (see :func:`block_mass`).
BLOCK_MASS = 0.05

#: Outer radius and height (m) of the round containers; the bin's outer half-extents.
BOWL_RADIUS, BOWL_HEIGHT = 0.075, 0.045
PLATE_RADIUS, PLATE_HEIGHT = 0.08, 0.012
BIN_HALF_EXTENTS = (0.10, 0.13, 0.06)
WALL_THICKNESS_M = 0.008  # walls of bowls and the bin
#: Bowls and plates are a disc base this thick (m) plus a ring of this many wall boxes, and weigh
#: the base's mass plus each wall's (kg).
CONTAINER_BASE_THICKNESS = 0.006
CONTAINER_WALLS = 16
CONTAINER_BASE_MASS, CONTAINER_WALL_MASS = 0.15, 0.01

#: The arena every backend builds: a table box whose top surface is ``z = 0`` (half-extents in
#: metres, centred ``TABLE_CENTRE_X`` in front of the robot) on a floor one table height below.
TABLE_HALF = (0.55, 0.55, 0.375)
TABLE_CENTRE_X = 0.42
TABLE_RGBA = (0.36, 0.34, 0.31, 1.0)
FLOOR_RGBA = (0.55, 0.57, 0.60, 1.0)
#: A block whose bottom is this close (m) to ``z = 0`` rests on the table (judged from perception).
TABLE_HEIGHT_TOLERANCE = 0.015

#: Where props may be placed: x (forward) and y (left) bounds on the table, metres.
WORKSPACE_X = (0.36, 0.68)
WORKSPACE_Y = (-0.26, 0.26)

#: Named table regions for push tasks: name -> (xmin, xmax, ymin, ymax), world frame.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left side": (0.36, 0.68, 0.17, 0.32),
    "right side": (0.36, 0.68, -0.32, -0.17),
    "front": (0.30, 0.42, -0.30, 0.30),
    "back": (0.62, 0.74, -0.30, 0.30),
}


def in_region(position: Sequence[float], region: str, margin: float = 0.0) -> bool:
    """Whether the ``(x, y)`` of ``position`` lies in the named region shrunk by ``margin`` on every side.

    Points on the (shrunk) edges count as inside; a third coordinate, if any, is not looked at:
    whether the thing rests on the table is the caller's test. An unknown ``region`` raises
    ``KeyError`` naming the valid ones.
    """
    try:
        x0, x1, y0, y1 = REGIONS[region]
    except KeyError:
        raise KeyError(f"unknown region {region!r}; regions are {sorted(REGIONS)}") from None
    x, y = position[0], position[1]
    return x0 + margin <= x <= x1 - margin and y0 + margin <= y <= y1 - margin


def block_mass(size: float) -> float:
    """Mass (kg) of a block of edge length ``size`` (m): :data:`BLOCK_MASS` scaled by volume."""
    return BLOCK_MASS * (size / BLOCK_SIZES["medium"]) ** 3


@dataclass(frozen=True)
class ObjectSpec:
    """One prop on the table.

    Attributes:
        name: unique name in the scene, e.g. ``"red block"`` or ``"large blue block"``.
        kind: ``block``, ``bowl``, ``plate`` or ``bin``.
        colour: a key of :data:`COLOURS`.
        size: edge length for blocks; outer radius for bowls and plates; unused for the bin.
        pos: ``(x, y)`` of the object's centre on the table.
        yaw: rotation about the vertical axis, radians.
        z: height of the object's bottom above the table (0 = resting on the table).
    """

    name: str
    kind: str
    colour: str
    size: float
    pos: tuple[float, float]
    yaw: float = 0.0
    z: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in OBJECT_KINDS:
            raise ValueError(f"ObjectSpec.kind={self.kind!r} is not one of {OBJECT_KINDS}")
        if self.colour not in COLOURS:
            raise ValueError(f"ObjectSpec.colour={self.colour!r} is not one of {sorted(COLOURS)}")
        require_positive(self, "size")

    @property
    def height(self) -> float:
        """Height of the object's top above its bottom."""
        return {
            "block": self.size,
            "bowl": BOWL_HEIGHT,
            "plate": PLATE_HEIGHT,
            "bin": BIN_HALF_EXTENTS[2] * 2,
        }[self.kind]

    @property
    def footprint_radius(self) -> float:
        """Radius of a circle that covers the object's footprint, for non-overlap sampling."""
        if self.kind == "block":
            return self.size * 0.75
        if self.kind == "bin":
            return float((BIN_HALF_EXTENTS[0] ** 2 + BIN_HALF_EXTENTS[1] ** 2) ** 0.5)
        return self.size


@dataclass(frozen=True)
class SceneSpec:
    """All props of one scene. Object names are unique."""

    objects: tuple[ObjectSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"SceneSpec has duplicate object names: {dupes}")

    def get(self, name: str) -> ObjectSpec:
        """The object called ``name``; ``KeyError`` lists the valid names."""
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object {name!r} in the scene; objects are {[o.name for o in self.objects]}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)
