"""Camera frames -> scene graph -> short text observation.

The default perceiver is :class:`VisionPerceiver` (OpenCV on rgb + depth + camera matrices);
:class:`GroundTruthPerceiver` reads the simulator's state and is a privileged baseline only.
:func:`describe` turns a scene graph into the text the planner reads.
"""

from __future__ import annotations

from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver, scene_from_world
from perception.relations import compute_relations
from perception.scene_graph import DetectedObject, Perceiver, Relation, RobotState, SceneGraph
from perception.vision import VisionPerceiver
from perception.vlm import VLMPerceiver

__all__ = [
    "DetectedObject",
    "GroundTruthPerceiver",
    "Perceiver",
    "Relation",
    "RobotState",
    "SceneGraph",
    "VLMPerceiver",
    "VisionPerceiver",
    "compute_relations",
    "describe",
    "scene_from_world",
]
