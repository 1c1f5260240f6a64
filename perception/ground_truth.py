"""Privileged baseline: a scene graph read from the simulator's ground truth.

For debugging and upper bounds only; reported numbers use the vision perceiver.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.scene_spec import BIN_HALF_EXTENTS
from envs.tasks import WorldState
from envs.tasks.predicates import ObjectState
from perception.relations import compute_relations
from perception.scene_graph import DetectedObject, RobotState, SceneGraph


def _extent(o: ObjectState) -> tuple[float, float, float]:
    s = o.spec
    if s.kind == "block":
        return (s.size, s.size, s.size)
    if s.kind == "bin":
        return (2 * BIN_HALF_EXTENTS[0], 2 * BIN_HALF_EXTENTS[1], 2 * BIN_HALF_EXTENTS[2])
    return (2 * s.size, 2 * s.size, s.height)


def scene_from_world(state: WorldState, proprio: dict[str, Any] | None = None) -> SceneGraph:
    """Scene graph of a ground-truth world state (objects sorted by name)."""
    objects = []
    for name in sorted(state.objects):
        o = state.objects[name]
        size = _extent(o)
        centre = (o.pos[0], o.pos[1], o.pos[2] + size[2] / 2)
        objects.append(DetectedObject(name, o.spec.colour, o.spec.kind, centre, size, 1.0))
    robot = None
    if proprio is not None:
        ee = np.asarray(proprio["ee_pos"], dtype=float)
        robot = RobotState(
            (float(ee[0]), float(ee[1]), float(ee[2])),
            float(np.asarray(proprio["ee_yaw"]).reshape(-1)[0]),
            float(np.asarray(proprio["gripper_width"]).reshape(-1)[0]),
            state.held,
        )
    objs = tuple(objects)
    return SceneGraph(objs, compute_relations(objs, state.held), robot, {"source": "ground_truth"})


class GroundTruthPerceiver:
    """Reads object poses from ``env.unwrapped.world_state()`` (privileged baseline)."""

    def __init__(self, env: Any) -> None:
        self.env = env.unwrapped if hasattr(env, "unwrapped") else env

    def perceive(self, obs: dict[str, Any], info: dict[str, Any]) -> SceneGraph:
        return scene_from_world(self.env.world_state(), obs.get("proprio"))
