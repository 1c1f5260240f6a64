"""Spatial relations between perceived objects, computed the same way for every perceiver.

``on`` and ``in`` are the task predicates' own definitions (:mod:`envs.tasks.relations`) applied to
the perceived positions and sizes, so a relation perception reports is the atom ground truth checks.

``left_of`` / ``right_of`` are from the robot's point of view (``+y`` is the robot's left).
"""

from __future__ import annotations

import math

from envs.tasks import relations as task_relations
from perception.scene_graph import DetectedObject, Relation

NEAR_DISTANCE = 0.12  # metres between centres
LATERAL_MARGIN = 0.03  # y difference needed for left/right


def _xy(o: DetectedObject) -> tuple[float, float]:
    return o.position[0], o.position[1]


def _rests(a: DetectedObject, b: DetectedObject) -> str | None:
    """``on`` or ``in`` when ``a`` rests on or in ``b`` by the tasks' own definitions, else None."""
    if b.shape == "block":  # a cube: its height is its edge; its heading is not perceived
        return "on" if task_relations.on_block(a.position, a.bottom, b.position, None, b.size[2], b.top) else None
    radius = (b.size[0] + b.size[1]) / 4  # bowls and plates are round: half the mean width
    if b.shape == "plate":
        return "on" if task_relations.on_plate(a.position, a.bottom, b.position, radius, b.bottom, b.top) else None
    if b.shape == "bowl":
        # A cube's height is its edge (its width in the images grows as it turns).
        half_width = a.size[2] / 2 if a.shape == "block" else max(a.size[0], a.size[1]) / 2
        inside = task_relations.in_bowl(a.position, a.bottom, half_width, b.position, radius, b.bottom, b.top)
        return "in" if inside else None
    if b.shape == "bin":
        half = (b.size[0] / 2, b.size[1] / 2)  # the bin stands square to the table's axes
        return "in" if task_relations.in_bin(a.position, a.bottom, b.position, 0.0, half, b.bottom, b.top) else None
    return None


def compute_relations(objects: tuple[DetectedObject, ...], holding: str | None = None) -> tuple[Relation, ...]:
    """All ``on``/``in``/``left_of``/``right_of``/``near`` relations, in a stable order."""
    rels: list[Relation] = []
    for a in objects:
        if a.name == holding:
            continue
        for b in objects:
            if a is not b and (predicate := _rests(a, b)) is not None:
                rels.append(Relation(a.name, predicate, b.name))
    for a in objects:
        for b in objects:
            if a is b or a.shape == "bin" or b.shape == "bin":
                continue
            dy = a.position[1] - b.position[1]
            if abs(dy) > LATERAL_MARGIN and abs(dy) > abs(a.position[0] - b.position[0]):
                rels.append(Relation(a.name, "left_of" if dy > 0 else "right_of", b.name))
            if a.name < b.name and math.dist(_xy(a), _xy(b)) <= NEAR_DISTANCE:
                rels.append(Relation(a.name, "near", b.name))
    return tuple(rels)
