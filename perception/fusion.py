"""Fuse the fragments of all cameras into object hypotheses: class, size class and pose.

Fragments are grouped in world coordinates, so an object seen by two cameras (or cut into
pieces by an occluding arm) becomes one hypothesis, and a block that only one camera sees
(stacked under another, half hidden) is still found. Geometry comes from the union of the
group's world points:

* containers (a colour region wider than any block) are bowls or plates by their height, with
  the centre of the smallest circle around their points; same-coloured pieces near their rim
  or at floor level belong to them, a same-coloured block standing inside them does not;
* blocks take their centre from the rectangle around their top face and their edge length from
  its size, snapped to the nearest size class. When no camera sees the whole top face (a block
  with another stacked on it, a block held in the hand) the edge comes from the height of the
  visible side, up to the bottom of the block above, and the centre lies behind the visible
  sides; a thin visible sliver of a bottom block around a smaller block on it is merged back;
* the bin is the one large grey region standing on the table.

Orange and yellow fragments may merge when one of them is unsure of its colour (over-exposure);
two sure fragments of different colours never do, so an orange block on a yellow one stays two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from envs.scene_spec import BIN_HALF_EXTENTS, BLOCK_SIZES, BOWL_HEIGHT, BOWL_RADIUS, PLATE_HEIGHT, PLATE_RADIUS
from perception.segment import Fragment, warm_colour

CONTAINER_MIN_SPAN = 0.09  # metres: wider than a block's diagonal (5.5 cm * sqrt 2 = 7.8 cm)
BOWL_MIN_TOP = 0.025  # a container whose top is higher than this is a bowl (bowl 4.5 cm, plate 1.2 cm)
MERGE_XY = 0.035  # block fragments whose centroids are closer than this can be one block
MERGE_GAP = 0.008  # ... or whose xy boxes are closer than this
Z_OVERLAP_TOL = 0.003
TOP_FACE_BAND = 0.008  # points this close below the highest point form the top face
EDGE_PIXELS = -0.6  # measured: a top face's rectangle is this many pixels (at its depth) too wide
SUPPORT_SNAP = 0.012  # a side seen down to this height stands on the table
SLIVER_EDGE = 0.025  # a "block" measured narrower than this is a visible sliver of a bigger one
SLIVER_REACH = 0.06
SIDE_VIEW_SHIFT = 0.42  # centre behind the visible sides' centroid, in edge lengths (0.5 at 0 deg, 0.35 at 45)
INNER_RADIUS = 0.062  # inside a bowl's or plate's rim (bowl inner wall at 6.7 cm)
INNER_MIN_Z = 0.02  # above a plate's rim (1.2 cm) and a bowl's floor (0.6 cm)
INNER_MIN_POINTS = 10
INNER_MAX_SPAN = 0.065
INNER_MAX_MEDIAN_RADIUS = 0.052  # a block touching the wall has its centre at most 4.5 cm from the middle
BIN_MIN_SPANS = (0.08, 0.12)  # short and long side of a grey region that can be the bin
BIN_SIZE = (2 * BIN_HALF_EXTENTS[0], 2 * BIN_HALF_EXTENTS[1], 2 * BIN_HALF_EXTENTS[2])


@dataclass(frozen=True)
class Hypothesis:
    """One fused object before naming.

    Attributes:
        colour: colour name.
        shape: ``block``, ``bowl``, ``plate`` or ``bin``.
        size_class: ``small``/``medium``/``large`` for blocks, ``""`` otherwise.
        position: bounding-box centre in the world (metres).
        size: extent along x, y, z (metres).
        edge: measured block edge length (metres; 0 for other shapes).
        confidence: 0-1.
        colour_confidence: how sure the colour is (over-exposed orange/yellow is unsure).
        top_seen: whether a camera saw the block's top face (else its size comes from its side).
    """

    colour: str
    shape: str
    size_class: str
    position: tuple[float, float, float]
    size: tuple[float, float, float]
    edge: float
    confidence: float
    colour_confidence: float
    top_seen: bool = True


def _xy(xyz: np.ndarray) -> np.ndarray:
    """``(N, 2)`` float32 x, y of ``(3, N)`` points, as OpenCV's point functions want them."""
    return np.ascontiguousarray(xyz[:2].T, dtype=np.float32)


def _rect(xyz: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centre and (long, short) sides of the smallest rotated rectangle around the x, y of ``(3, N)`` points."""
    (cx, cy), (w, h), _ = cv2.minAreaRect(_xy(xyz))
    return (float(cx), float(cy)), (max(w, h), min(w, h))


@dataclass
class _Summary:
    frag: Fragment
    centroid: tuple[float, float]
    span: float  # longest side of the axis-aligned xy box
    z_lo: float
    z_hi: float
    box: tuple[float, float, float, float]  # xy box: x_lo, y_lo, x_hi, y_hi


def _quantiles(values: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Two order statistics with one partial sort (``np.percentile`` is slow on small arrays)."""
    n = len(values)
    k_lo, k_hi = int(lo * (n - 1)), int(hi * (n - 1))
    part = np.partition(values, (k_lo, k_hi))
    return float(part[k_lo]), float(part[k_hi])


def _summarise(frag: Fragment) -> _Summary:
    xy = frag.xyz[:2]
    lo, hi, mid = xy.min(axis=1), xy.max(axis=1), xy.mean(axis=1)
    z_lo, z_hi = _quantiles(frag.xyz[2], 0.02, 0.98)
    box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    return _Summary(frag, (float(mid[0]), float(mid[1])), float((hi - lo).max()), z_lo, z_hi, box)


def _family(colour: str) -> str:
    return "warm" if colour in ("orange", "yellow") else colour


def _best_colour(group: list[_Summary]) -> tuple[str, float]:
    best = max(group, key=lambda s: (s.frag.colour_confidence, s.frag.xyz.shape[1]))
    return best.frag.colour, best.frag.colour_confidence


def snap_block_size(edge: float) -> str:
    """The size class whose edge length is nearest ``edge`` (metres)."""
    return min(BLOCK_SIZES, key=lambda k: abs(BLOCK_SIZES[k] - edge))


def _bin(greys: list[_Summary]) -> Hypothesis | None:
    big = []
    for s in greys:
        _, (long_side, short_side) = _rect(s.frag.xyz)
        if short_side >= BIN_MIN_SPANS[0] and long_side >= BIN_MIN_SPANS[1]:
            big.append(s)
    if not big:
        return None
    pts = np.concatenate([s.frag.xyz for s in big], axis=1)
    (cx, cy), _ = _rect(pts)
    conf = min(1.0, pts.shape[1] / 400)
    return Hypothesis("grey", "bin", "", (cx, cy, BIN_SIZE[2] / 2), BIN_SIZE, 0.0, conf, 1.0)


def _split_inner(group: list[_Summary], cx: float, cy: float) -> tuple[list[_Summary], list[Fragment]]:
    """Take the points standing up inside a container's rim out of it: a block touching its wall."""
    rest: list[_Summary] = []
    inner: list[Fragment] = []
    for s in group:
        p = s.frag.xyz
        radius = np.hypot(p[0] - cx, p[1] - cy)
        up = (radius < INNER_RADIUS) & (p[2] > INNER_MIN_Z)
        n = int(np.count_nonzero(up))
        if n < INNER_MIN_POINTS or n == p.shape[1] or float(np.median(radius[up])) > INNER_MAX_MEDIAN_RADIUS:
            rest.append(s)  # nothing inside, or points hugging the rim: the wall seen off a misplaced circle
            continue
        block = s.frag.subset(up)
        if block.family == "warm":
            block = block.subset(np.ones(n, dtype=bool), *warm_colour(block.hue, block.sat))
        if float(np.ptp(block.xyz[:2], axis=1).max()) > INNER_MAX_SPAN:
            rest.append(s)  # an arc of the wall (the circle is off), not a block
            continue
        inner.append(block)
        rest.append(_summarise(s.frag.subset(~up)))
    return rest, inner


def _containers(frags: list[_Summary]) -> tuple[list[tuple[Hypothesis, tuple[float, float, float]]], list[Fragment]]:
    """Bowls/plates with their circle ``(cx, cy, r)``, and fragments of blocks standing inside them."""
    out = []
    inside: list[Fragment] = []
    left = sorted(frags, key=lambda s: -s.frag.xyz.shape[1])
    while left:
        anchor = left[0]
        group = [s for s in left if _same_container(anchor, s)]
        left = [s for s in left if not any(s is g for g in group)]
        pts = np.concatenate([s.frag.xyz for s in group], axis=1)
        (cx, cy), r = cv2.minEnclosingCircle(_xy(pts))
        inner: list[Fragment] = []
        if r >= min(BOWL_RADIUS, PLATE_RADIUS) - 0.008:  # the whole rim is seen: its circle can be trusted
            group, inner = _split_inner(group, float(cx), float(cy))
            inside.extend(inner)
        if inner:
            pts = np.concatenate([s.frag.xyz for s in group], axis=1)
        top = _quantiles(pts[2], 0.5, 0.98)[1]
        shape, radius, height = (
            ("bowl", BOWL_RADIUS, BOWL_HEIGHT) if top > BOWL_MIN_TOP else ("plate", PLATE_RADIUS, PLATE_HEIGHT)
        )
        conf = min(1.0, pts.shape[1] / 300)
        colour, colour_conf = _best_colour(group)
        centre = (float(cx), float(cy), height / 2)
        hyp = Hypothesis(colour, shape, "", centre, (2 * radius, 2 * radius, height), 0.0, conf, colour_conf)
        out.append((hyp, (float(cx), float(cy), max(float(r), radius))))
    return out, inside


def _same_container(anchor: _Summary, s: _Summary) -> bool:
    a, b = anchor.frag, s.frag
    if a.family != b.family or (a.colour != b.colour and min(a.colour_confidence, b.colour_confidence) >= 1.0):
        return False
    return math.dist(s.centroid, anchor.centroid) < 1.5 * BOWL_RADIUS


def _belongs_to_container(s: _Summary, containers: list[tuple[Hypothesis, tuple[float, float, float]]]) -> bool:
    for hyp, (cx, cy, r) in containers:
        if hyp.colour != s.frag.colour and s.frag.family != "warm":
            continue
        if s.frag.family == "warm" and hyp.colour not in ("orange", "yellow"):
            continue
        d = math.hypot(s.centroid[0] - cx, s.centroid[1] - cy)
        if d <= r + 0.01 and (d > r - 0.025 or s.z_hi < 0.02):
            return True
    return False


def _box_gap(a: _Summary, b: _Summary) -> float:
    """Distance between the xy boxes of two fragments (0 when they overlap)."""
    gx = max(0.0, a.box[0] - b.box[2], b.box[0] - a.box[2])
    gy = max(0.0, a.box[1] - b.box[3], b.box[1] - a.box[3])
    return math.hypot(gx, gy)


def _affinity(a: _Summary, b: _Summary) -> float | None:
    """How much two block fragments overlap in height if they may be one block, else ``None``."""
    if a.frag.family != b.frag.family:
        return None
    if math.dist(a.centroid, b.centroid) > MERGE_XY and _box_gap(a, b) > MERGE_GAP:
        return None
    overlap = min(a.z_hi, b.z_hi) - max(a.z_lo, b.z_lo)
    return overlap if overlap >= -Z_OVERLAP_TOL else None


def _group(blocks: list[_Summary]) -> list[list[_Summary]]:
    """Greedy union of block fragments, best height overlap first; a group never holds two sure colours."""
    parent = list(range(len(blocks)))
    sure = [{s.frag.colour} if s.frag.colour_confidence >= 1.0 else set() for s in blocks]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = []
    for i in range(len(blocks)):
        for j in range(i + 1, len(blocks)):
            overlap = _affinity(blocks[i], blocks[j])
            if overlap is not None:
                pairs.append((-overlap, i, j))
    for _, i, j in sorted(pairs):
        ri, rj = root(i), root(j)
        if ri != rj and len(sure[ri] | sure[rj]) <= 1:
            parent[ri] = rj
            sure[rj] |= sure[ri]
    groups: dict[int, list[_Summary]] = {}
    for i, s in enumerate(blocks):
        groups.setdefault(root(i), []).append(s)
    return list(groups.values())


def _block(group: list[_Summary], hidden_top: float | None = None) -> Hypothesis:
    """A block from its fragments; ``hidden_top``: height of its top face when another block hides it."""
    pts = np.concatenate([s.frag.xyz for s in group], axis=1)
    top_z = max(s.z_hi for s in group)
    pixel = min(s.frag.pixel_size for s in group)
    face = pts[:, pts[2] > top_z - TOP_FACE_BAND]
    (cx, cy), (long_side, short_side) = _rect(face) if face.shape[1] >= 3 else ((0.0, 0.0), (0.0, 0.0))
    top_seen = hidden_top is None and short_side >= 0.6 * min(BLOCK_SIZES.values()) and short_side >= 0.7 * long_side
    if top_seen:
        edge = (long_side + short_side) / 2 + EDGE_PIXELS * pixel
    else:
        # No camera sees the (whole) top face: size from the visible side's height, up to the block above.
        bottom = _quantiles(pts[2], 0.02, 0.5)[0]
        top_z = hidden_top if hidden_top is not None else top_z
        edge = top_z - (0.0 if bottom < SUPPORT_SNAP else bottom)
        size_guess = BLOCK_SIZES[snap_block_size(edge)]
        (cx, cy), (_, short_all) = _rect(pts)
        if short_all < 0.75 * size_guess:
            # Only the sides facing one camera: the centre lies behind them, away from that camera.
            main = max(group, key=lambda s: s.frag.xyz.shape[1])
            centroid = pts[:2].mean(axis=1)
            away = centroid - main.frag.camera_centre[:2]
            away /= max(float(np.linalg.norm(away)), 1e-9)
            cx, cy = (float(v) for v in centroid + away * size_guess * SIDE_VIEW_SHIFT)
    size_class = snap_block_size(edge)
    s = BLOCK_SIZES[size_class]
    colour, colour_conf = _best_colour(group)
    conf = min(1.0, pts.shape[1] / 60) * (0.5 + 0.5 * colour_conf)
    return Hypothesis(
        colour, "block", size_class, (cx, cy, top_z - s / 2), (s, s, s), edge, conf, colour_conf, top_seen
    )


def _near(a: Hypothesis, b: Hypothesis, dist: float) -> bool:
    return math.dist(a.position[:2], b.position[:2]) < dist


def _bottom(h: Hypothesis) -> float:
    return h.position[2] - h.size[2] / 2


def _top(h: Hypothesis) -> float:
    return h.position[2] + h.size[2] / 2


def _points(group: list[_Summary]) -> int:
    return sum(s.frag.xyz.shape[1] for s in group)


def _absorb_slivers(groups: list[list[_Summary]], blocks: list[Hypothesis]) -> list[int]:
    """Merge a "block" that cannot be one into its neighbour of the same colour family.

    That is a thin one (a sliver of a bottom block around a smaller block standing on it) or
    one that would interpenetrate a bigger-looking neighbour at the same height (a side face
    seen apart from the rest of its block). ``groups`` is extended in place; returns the indices
    of the groups that remain.
    """
    keep = list(range(len(groups)))
    for i in sorted(range(len(blocks)), key=lambda k: _points(groups[k])):
        b = blocks[i]
        hosts = []
        for j, a in enumerate(blocks):
            if j == i or j not in keep or _family(a.colour) != _family(b.colour):
                continue
            if not _bottom(a) - 0.01 <= b.position[2] <= _top(a) + 0.01:
                continue
            thin = b.edge < SLIVER_EDGE <= a.edge and _near(a, b, SLIVER_REACH)
            inside = _points(groups[j]) > _points(groups[i]) and _near(a, b, 0.45 * (a.size[0] + b.size[0]))
            if thin or inside:
                hosts.append(j)
        if hosts:
            host = min(hosts, key=lambda j: math.dist(blocks[j].position[:2], b.position[:2]))
            groups[host] = groups[host] + groups[i]
            keep.remove(i)
    return keep


def _blocks(groups: list[list[_Summary]]) -> list[Hypothesis]:
    """Blocks of the groups; a block with another standing on it reaches up to that block's bottom."""
    first = [_block(g) for g in groups]
    sizes = [len(g) for g in groups]
    kept = _absorb_slivers(groups, first)
    # Only groups that absorbed a sliver change; the others keep their first estimate.
    blocks = [first[i] if len(groups[i]) == sizes[i] else _block(groups[i]) for i in kept]
    groups = [groups[i] for i in kept]
    for i, (group, b) in enumerate(zip(groups, blocks, strict=True)):
        seen_top = max(s.z_hi for s in group)
        above = [
            _bottom(a)
            for a in blocks
            if a is not b and _near(a, b, MERGE_XY) and seen_top - 0.01 <= _bottom(a) <= seen_top + 0.03
        ]
        if above:
            blocks[i] = _block(group, hidden_top=min(above))
    return blocks


def fuse(frags: list[Fragment]) -> list[Hypothesis]:
    """Object hypotheses from the fragments of every camera (unsorted, unnamed)."""
    summaries = [_summarise(f) for f in frags if f.xyz.shape[1] >= 3]
    greys = [s for s in summaries if s.frag.colour == "grey"]
    coloured = [s for s in summaries if s.frag.colour != "grey"]
    wide = [s for s in coloured if s.span >= CONTAINER_MIN_SPAN]
    containers, inside = _containers(wide)
    small = [s for s in coloured if s.span < CONTAINER_MIN_SPAN and not _belongs_to_container(s, containers)]
    small.extend(_summarise(f) for f in inside)
    out = [hyp for hyp, _ in containers]
    out.extend(_blocks(_group(small)))
    bin_hyp = _bin(greys)
    if bin_hyp is not None:
        out.append(bin_hyp)
    return out
