"""Detector boxes -> kept detections -> world positions and sizes (the geometry of :mod:`perception.vlm`).

Boxes are pixel ``(x0, y0, x1, y1)`` in one camera's image; back-projection uses the camera's
pinhole matrix, pose and depth image through :class:`perception.frames.CameraView`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.frames import MAX_DEPTH, CameraView

SURFACE_Z_MIN = -0.01  # metres: pixels below the table top (z = 0) are not objects
NMS_IOU = 0.5  # a box overlapping a better box of another query by more than this is dropped


@dataclass(frozen=True)
class Detection:
    """One kept box: the query it answers, its score and its pixel box ``(x0, y0, x1, y1)``."""

    query: str
    score: float
    box: tuple[float, float, float, float]


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def select_detections(
    scores: np.ndarray, boxes: np.ndarray, queries: tuple[str, ...], threshold: float
) -> list[Detection]:
    """The best box per query above ``threshold``, minus those overlapping a better kept box.

    Args:
        scores: ``(P, Q)`` probability of each of ``P`` boxes for each of ``Q`` queries.
        boxes: ``(P, 4)`` pixel boxes ``(x0, y0, x1, y1)``.
        queries: the ``Q`` query texts.
        threshold: the lowest score kept.

    Returns:
        Detections sorted by decreasing score, at most one per query.
    """
    best = np.argmax(scores, axis=0)
    candidates = [
        Detection(q, float(scores[best[i], i]), tuple(float(v) for v in boxes[best[i]]))  # type: ignore[arg-type]
        for i, q in enumerate(queries)
        if scores[best[i], i] >= threshold
    ]
    kept: list[Detection] = []
    for det in sorted(candidates, key=lambda d: (-d.score, d.query)):
        if all(_iou(det.box, k.box) <= NMS_IOU for k in kept):
            kept.append(det)
    return kept


def _clip(view: CameraView, box: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    """``box`` clipped to the image (``None`` when it has no area inside it)."""
    h, w = view.shape
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h))
    return (x0, y0, x1, y1) if x1 - x0 >= 0.5 and y1 - y0 >= 0.5 else None  # False for NaN too


def locate(
    view: CameraView, box: tuple[float, float, float, float], min_z: float = SURFACE_Z_MIN
) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    """World ``(position, size)`` of the object in pixel box ``box`` (``None`` when nothing in it is on the table).

    ``box`` is in continuous image coordinates (pixel ``i`` spans ``[i, i + 1)``) and is clipped
    to the image. Only pixels with valid depth whose world point is at or above ``min_z`` count
    (the table top is at ``z = 0``; the floor seen past its edge is not an object). ``x, y`` are
    the box centre back-projected at the median depth of those pixels; the horizontal extent is
    the box size at that depth, rotated into the world; ``z`` and the height span the 5th to 95th
    percentile of their heights.
    """
    clipped = _clip(view, box)
    if clipped is None:
        return None
    bx0, by0, bx1, by1 = clipped
    x0, y0 = int(bx0), int(by0)
    rows, cols = np.nonzero(view.depth[y0 : int(np.ceil(by1)), x0 : int(np.ceil(bx1))] < MAX_DEPTH)
    rows, cols = rows + y0, cols + x0
    heights = view.points(rows, cols)[2]
    above = heights >= min_z
    if not np.any(above):
        return None
    d = float(np.median(view.depth[rows[above], cols[above]]))
    u, v = (bx0 + bx1) / 2 - 0.5, (by0 + by1) / 2 - 0.5  # pixel centres are at integer indices
    rot = view.cam_to_world[:3, :3]
    centre = view.centre + d * (rot @ np.linalg.solve(view.K, np.array([u, v, 1.0])))
    extent = np.abs(rot) @ np.array([(bx1 - bx0) * d / view.K[0, 0], (by1 - by0) * d / view.K[1, 1], 0.0])
    z_lo, z_hi = np.percentile(heights[above], [5.0, 95.0])
    position = (float(centre[0]), float(centre[1]), float((z_lo + z_hi) / 2))
    size = (float(extent[0]), float(extent[1]), float(max(z_hi - z_lo, 0.0)))
    return position, size
