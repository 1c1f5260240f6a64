"""Ground-truth world state and the goal predicates that task success is judged by.

A goal is a conjunction of ground atoms such as ``("on", "red block", "blue block")``,
``("in", "red block", "green bowl")`` or ``("in_region", "red block", "left side")``. The same
atoms are what a planner reasons about; here they are checked against the simulator's ground
truth (never against perception).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from envs import scene_spec
from envs.scene_spec import BIN_HALF_EXTENTS, ObjectSpec
from envs.tasks import relations

Atom = tuple[str, ...]

#: How far (metres) a block in a region may be above the table (on and in: :mod:`envs.tasks.relations`).
TABLE_Z_TOLERANCE = 0.01
#: A block's x axis steeper than this (sine of its tilt) gives no heading; its y axis does.
LEVEL_AXIS_TILT = 0.7


@dataclass(frozen=True)
class ObjectState:
    """Where one prop is: ``pos`` is the centre of its bottom face, ``yaw`` its heading."""

    spec: ObjectSpec
    pos: tuple[float, float, float]
    yaw: float

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def top(self) -> float:
        return self.pos[2] + self.spec.height


@dataclass(frozen=True)
class WorldState:
    """Ground truth at one instant: every prop's pose and what the gripper holds."""

    objects: dict[str, ObjectState]
    held: str | None = None

    def get(self, name: str) -> ObjectState:
        try:
            return self.objects[name]
        except KeyError:
            raise KeyError(f"no object {name!r}; objects are {sorted(self.objects)}") from None


class RestingPoses:
    """Each prop's resting pose from its body frame, whichever face it rests on (built once per scene).

    Called with ``origins`` (n×3: the centres of the props' own bottom faces) and ``rots`` (n×9,
    row-major body-to-world rotations). A block knocked over or flipped upside down rests on another
    face: its own bottom face is then beside or above its centre. Its ``pos`` is the point below its
    geometric centre at the height of its lowest point, and its ``yaw`` the heading of a level side
    axis (a block's footprint is square: any level axis gives the same footprint). An upright prop
    gets its own bottom-face centre and heading back.
    """

    def __init__(self, specs: Sequence[ObjectSpec]) -> None:
        self.specs = tuple(specs)
        self._half = np.array([_half_extents(spec) for spec in self.specs]).reshape(-1, 3)
        self._is_block = np.array([spec.kind == "block" for spec in self.specs], dtype=bool)

    def __call__(self, origins: np.ndarray, rots: np.ndarray) -> dict[str, ObjectState]:
        r = np.asarray(rots, dtype=float).reshape(-1, 9)
        half_height = self._half[:, 2:]
        centres = np.asarray(origins, dtype=float) + r[:, 2::3] * half_height  # + the body z axis × h/2
        lowest = centres[:, 2] - (np.abs(r[:, 6:9]) * self._half).sum(axis=1)
        use_y = self._is_block & (np.abs(r[:, 6]) >= LEVEL_AXIS_TILT)  # x axis steep: head by y
        yaws = np.arctan2(np.where(use_y, r[:, 4], r[:, 3]), np.where(use_y, r[:, 1], r[:, 0]))
        return {
            spec.name: ObjectState(spec, (c[0], c[1], z), yaw)
            for spec, c, z, yaw in zip(self.specs, centres.tolist(), lowest.tolist(), yaws.tolist(), strict=True)
        }


def resting_poses(specs: Sequence[ObjectSpec], origins: np.ndarray, rots: np.ndarray) -> dict[str, ObjectState]:
    """:class:`RestingPoses` of ``specs``, once (an env keeps one per scene instead)."""
    return RestingPoses(specs)(origins, rots)


def _half_extents(spec: ObjectSpec) -> tuple[float, float, float]:
    if spec.kind == "bin":
        return (BIN_HALF_EXTENTS[0], BIN_HALF_EXTENTS[1], spec.height / 2)
    radius = spec.size / 2 if spec.kind == "block" else spec.size
    return (radius, radius, spec.height / 2)


def on(state: WorldState, a: str, b: str) -> bool:
    """``a`` rests on top of ``b`` (a block or a plate) and is not held (:mod:`envs.tasks.relations`)."""
    top, base = state.get(a), state.get(b)
    if state.held == a or a == b:
        return False
    if base.spec.kind == "block":
        return relations.on_block(top.pos, top.pos[2], base.pos, base.yaw, base.spec.size, base.top)
    if base.spec.kind == "plate":
        return relations.on_plate(top.pos, top.pos[2], base.pos, base.spec.size, base.pos[2], base.top)
    return inside_container(state, a, b)


def inside_container(state: WorldState, a: str, c: str) -> bool:
    """``a`` is inside bowl/bin/plate ``c`` (horizontally within its walls, below its rim) and not held."""
    obj, box = state.get(a), state.get(c)
    if state.held == a or a == c:
        return False
    kind = box.spec.kind
    if kind == "plate":
        return on(state, a, c)
    if kind == "bowl":
        half_width = obj.spec.size / 2 if obj.spec.kind == "block" else obj.spec.size
        return relations.in_bowl(obj.pos, obj.pos[2], half_width, box.pos, box.spec.size, box.pos[2], box.top)
    if kind == "bin":
        return relations.in_bin(obj.pos, obj.pos[2], box.pos, box.yaw, BIN_HALF_EXTENTS, box.pos[2], box.top)
    return False


def in_region(state: WorldState, a: str, region: str) -> bool:
    """``a`` rests on the table inside the named region (:func:`envs.scene_spec.in_region`) and is not held."""
    obj = state.get(a)
    inside = scene_spec.in_region(obj.pos, region)  # first, so an unknown region always raises
    return inside and state.held != a and abs(obj.pos[2]) <= TABLE_Z_TOLERANCE


PREDICATES: dict[str, Callable[[WorldState, str, str], bool]] = {
    "on": on,
    "in": inside_container,
    "in_region": in_region,
}


def holds(state: WorldState, atom: Atom) -> bool:
    """Whether one goal atom holds; unknown predicates raise with the valid names."""
    name, *args = atom
    try:
        pred = PREDICATES[name]
    except KeyError:
        raise KeyError(f"unknown predicate {name!r}; predicates are {sorted(PREDICATES)}") from None
    return pred(state, *args)
