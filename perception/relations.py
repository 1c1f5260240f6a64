"""Spatial relations between perceived objects, computed the same way for every perceiver.

``left_of`` / ``right_of`` are from the robot's point of view (``+y`` is the robot's left).
"""

from __future__ import annotations

import math

from perception.scene_graph import DetectedObject, Relation

NEAR_DISTANCE = 0.12  # metres between centres
LATERAL_MARGIN = 0.03  # y difference needed for left/right
STACK_Z_TOLERANCE = 0.02


def _xy(o: DetectedObject) -> tuple[float, float]:
    return o.position[0], o.position[1]


def _over(a: DetectedObject, b: DetectedObject, shrink: float = 0.0) -> bool:
    """Whether ``a``'s centre lies over ``b``'s footprint."""
    return (
        abs(a.position[0] - b.position[0]) <= b.size[0] / 2 - shrink
        and abs(a.position[1] - b.position[1]) <= b.size[1] / 2 - shrink
    )


def compute_relations(objects: tuple[DetectedObject, ...], holding: str | None = None) -> tuple[Relation, ...]:
    """All ``on``/``in``/``left_of``/``right_of``/``near`` relations, in a stable order."""
    rels: list[Relation] = []
    for a in objects:
        if a.name == holding:
            continue
        for b in objects:
            if a is b:
                continue
            if b.shape in ("bowl", "bin") and _over(a, b, 0.01) and b.bottom - 0.01 <= a.bottom <= b.top:
                rels.append(Relation(a.name, "in", b.name))
            elif b.shape in ("block", "plate") and _over(a, b) and abs(a.bottom - b.top) <= STACK_Z_TOLERANCE:
                rels.append(Relation(a.name, "on", b.name))
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
