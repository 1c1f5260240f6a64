"""The scene graph: what perception reports about the table, and its text description.

Positions are world-frame metres: ``position`` is the centre of the object's axis-aligned
bounding box, ``size`` its extent along x, y and z. ``describe`` turns a graph into the short,
deterministic text observation the planner reads (units in cm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SHAPES = ("block", "bowl", "plate", "bin")
RELATIONS = ("on", "in", "left_of", "right_of", "near")


@dataclass(frozen=True)
class DetectedObject:
    """One object as perceived: stable ``name`` (e.g. ``"large blue block"``), class and geometry."""

    name: str
    colour: str
    shape: str
    position: tuple[float, float, float]
    size: tuple[float, float, float]
    confidence: float = 1.0

    @property
    def bottom(self) -> float:
        return self.position[2] - self.size[2] / 2

    @property
    def top(self) -> float:
        return self.position[2] + self.size[2] / 2


@dataclass(frozen=True)
class Relation:
    """``subject predicate object``, e.g. ``Relation("red block", "on", "blue block")``."""

    subject: str
    predicate: str
    object: str


@dataclass(frozen=True)
class RobotState:
    """The robot as perceived from proprioception (and contact with what it holds)."""

    ee_position: tuple[float, float, float]
    ee_yaw: float
    gripper_width: float
    holding: str | None = None

    @property
    def gripper_open(self) -> bool:
        return self.gripper_width > 0.07 and self.holding is None


@dataclass(frozen=True)
class SceneGraph:
    """Objects, their relations and the robot state at one instant."""

    objects: tuple[DetectedObject, ...]
    relations: tuple[Relation, ...] = ()
    robot: RobotState | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)

    def get(self, name: str) -> DetectedObject:
        """The object called ``name``; ``KeyError`` lists the visible names."""
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object {name!r} is visible; visible objects are {list(self.names)}")

    def find(self, name: str) -> DetectedObject | None:
        return next((o for o in self.objects if o.name == name), None)

    def related(self, predicate: str, obj: str) -> tuple[str, ...]:
        """Subjects ``s`` with ``s predicate obj``."""
        return tuple(r.subject for r in self.relations if r.predicate == predicate and r.object == obj)


@runtime_checkable
class Perceiver(Protocol):
    """Turns one observation (and its info: camera matrices) into a scene graph."""

    def perceive(self, obs: dict[str, Any], info: dict[str, Any]) -> SceneGraph: ...
