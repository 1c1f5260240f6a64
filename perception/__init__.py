"""Camera frames -> scene graph -> short text observation."""

from __future__ import annotations

from perception.ground_truth import GroundTruthPerceiver, scene_from_world
from perception.relations import compute_relations
from perception.scene_graph import DetectedObject, Perceiver, Relation, RobotState, SceneGraph

__all__ = [
    "DetectedObject",
    "GroundTruthPerceiver",
    "Perceiver",
    "Relation",
    "RobotState",
    "SceneGraph",
    "compute_relations",
    "scene_from_world",
]
