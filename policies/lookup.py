"""Finding an object again in a newer scene graph, when a perceiver may have renamed it.

A vision perceiver names blocks by colour, shape and measured size; while the hand hides part of
a held block its size (so its name) can change (``"orange block"`` -> ``"small orange block"``).
Policies therefore look an object up by name first and then by colour and shape near where it
should be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from perception.scene_graph import DetectedObject, SceneGraph

RELOCATE_RADIUS = 0.12  # metres: farther than this, a same-looking object is another object


def kind_of(name: str) -> tuple[str, ...]:
    """``("orange", "block")`` for ``"small orange block"``: the name without its size word."""
    return tuple(name.split()[-2:])


def relocate(
    scene: SceneGraph,
    ref: DetectedObject,
    near: Sequence[float] | np.ndarray,
    radius: float = RELOCATE_RADIUS,
    horizontal: bool = False,
) -> DetectedObject | None:
    """``ref`` in ``scene``: by name, else the same-coloured object of its shape nearest to ``near``.

    ``horizontal`` measures the distance in x and y only (a block dropped into a container ends
    well below the point where it was let go).
    """
    obj = scene.find(ref.name)
    if obj is not None:
        return obj
    same = [o for o in scene.objects if o.colour == ref.colour and o.shape == ref.shape]
    dims = 2 if horizontal else 3

    def dist(o: DetectedObject) -> float:
        return math.dist(o.position[:dims], tuple(near)[:dims])

    best = min(same, key=dist, default=None)
    return best if best is not None and dist(best) <= radius else None
