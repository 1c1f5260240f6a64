"""Task = instruction + seeded scene + success predicate, independent of any simulator.

A :class:`TaskFamily` samples a :class:`TaskInstance` from a random generator: it lays out a
scene, chooses the goal atoms and words the instruction from one of several templates. The
instance's :meth:`TaskInstance.success` checks the goal against ground truth.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np

from envs.errors import SceneError
from envs.scene_spec import (
    BIN_HALF_EXTENTS,
    BLOCK_SIZES,
    BOWL_RADIUS,
    PLATE_RADIUS,
    WORKSPACE_X,
    WORKSPACE_Y,
    ObjectSpec,
    SceneSpec,
)
from envs.tasks.predicates import Atom, WorldState, holds

BLOCK_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
CLEARANCE = 0.02  # free gap between sampled footprints (m)


@dataclass(frozen=True)
class TaskInstance:
    """One concrete task: what to say, what the table holds, and what counts as done."""

    family: str
    instruction: str
    scene: SceneSpec
    goal: tuple[Atom, ...]

    def success(self, state: WorldState) -> bool:
        """True when every goal atom holds in ``state``."""
        return all(holds(state, atom) for atom in self.goal)

    def with_instruction(self, instruction: str) -> TaskInstance:
        """Same scene and goal, new wording (how paraphrases are evaluated)."""
        if not instruction.strip():
            raise ValueError("instruction must be a non-empty string")
        return replace(self, instruction=instruction)


def block_name(colour: str, size: str) -> str:
    """``"red block"`` for the medium size, else ``"large red block"`` / ``"small red block"``."""
    return f"{colour} block" if size == "medium" else f"{size} {colour} block"


def make_block(colour: str, size: str = "medium") -> ObjectSpec:
    return ObjectSpec(block_name(colour, size), "block", colour, BLOCK_SIZES[size], (0.0, 0.0))


def make_bowl(colour: str) -> ObjectSpec:
    return ObjectSpec(f"{colour} bowl", "bowl", colour, BOWL_RADIUS, (0.0, 0.0))


def make_plate(colour: str) -> ObjectSpec:
    return ObjectSpec(f"{colour} plate", "plate", colour, PLATE_RADIUS, (0.0, 0.0))


def make_bin() -> ObjectSpec:
    return ObjectSpec("bin", "bin", "grey", BIN_HALF_EXTENTS[0], (0.0, 0.0))


def place_objects(
    rng: np.random.Generator,
    objects: list[ObjectSpec],
    fixed: dict[str, tuple[float, float]] | None = None,
    tries: int = 500,
) -> SceneSpec:
    """Give each object a non-overlapping random pose in the workspace (``fixed`` ones keep theirs)."""
    fixed = fixed or {}
    placed: list[ObjectSpec] = []
    # Place big things first: they are the hardest to fit.
    order = sorted(objects, key=lambda o: (o.name not in fixed, -o.footprint_radius))
    for obj in order:
        for _ in range(tries):
            if obj.name in fixed:
                x, y = fixed[obj.name]
            else:
                r = obj.footprint_radius
                x = float(rng.uniform(WORKSPACE_X[0] + r * 0.5, WORKSPACE_X[1] - r * 0.5))
                y = float(rng.uniform(WORKSPACE_Y[0] + r * 0.5, WORKSPACE_Y[1] - r * 0.5))
            clear = all(
                math.hypot(x - p.pos[0], y - p.pos[1]) >= obj.footprint_radius + p.footprint_radius + CLEARANCE
                for p in placed
            )
            if clear:
                yaw = float(rng.uniform(-math.pi / 4, math.pi / 4)) if obj.kind == "block" else 0.0
                placed.append(replace(obj, pos=(x, y), yaw=yaw))
                break
            if obj.name in fixed:
                raise SceneError(f"fixed position of {obj.name!r} overlaps another object")
        else:
            raise SceneError(f"could not place {obj.name!r} without overlap after {tries} tries")
    by_name = {o.name: o for o in placed}
    return SceneSpec(tuple(by_name[o.name] for o in objects))


class TaskFamily(ABC):
    """A family of tasks with instruction templates, a scene randomiser and goal atoms."""

    name: str
    description: str
    templates: tuple[str, ...]

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> TaskInstance:
        """A seeded instance: scene, goal and one of the templates filled in."""

    def word(self, rng: np.random.Generator, **slots: str) -> str:
        """Fill a randomly chosen template with ``slots``."""
        template = self.templates[int(rng.integers(len(self.templates)))]
        return template.format(**slots)
