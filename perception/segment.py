"""Per-camera segmentation: saturated colour regions and the grey bin, as world-space fragments.

The props are painted in saturated hues while the table and the robot are not, so an HSV
threshold finds prop pixels and the hue names their colour. Each colour is labelled apart (so
touching regions of two colours stay apart without eroding either), and a region is cut on the
far side of a depth jump (a block in front of a bowl of the same colour); each connected region
becomes a :class:`Fragment`: its world points, found by back-projecting its pixels with the
camera's depth. The grey bin is not saturated; it is found as a large unsaturated region
standing on the table.

Orange and yellow are told apart by hue where the image is well exposed (H about 15 vs 27);
where a face is over-exposed both clip to H 30, so such fragments carry a low colour
confidence and the fusion step prefers another camera's opinion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from perception.frames import MAX_DEPTH, CameraView

#: OpenCV hue (0-179) ranges of the prop colours; "warm" is orange or yellow, decided per region.
HUE_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "red": ((0, 8), (166, 179)),
    "warm": ((9, 36),),
    "green": ((42, 85),),
    "blue": ((92, 128),),
    "purple": ((129, 165),),
}
LABELS: tuple[str, ...] = tuple(HUE_RANGES)
MIN_SATURATION, MIN_VALUE = 85, 35
MAX_GREY_SATURATION = 60
ORANGE_MAX_HUE = 20  # at or below: orange; well-exposed yellow is 26-30
WELL_EXPOSED_SATURATION = 200  # below this a warm pixel may be clipped (over-exposed top faces)
DEPTH_EDGE = 0.02  # metres a pixel lies behind its nearest 3x3 neighbour where a region is cut
MIN_PIXELS_320 = 12  # smallest region kept at 320x240 (scaled with the image area)
TABLE_CLEARANCE = 0.003  # metres above the table top for the bin's pixels
BIN_MAX_Z = 0.135
GREY_STEP = 2  # at 320x240; proportionally coarser on bigger images
BIN_MIN_X = 0.2  # the robot's base stands nearer than this

_LUT = np.zeros(256, dtype=np.uint8)
for _i, _name in enumerate(LABELS, start=1):
    for _lo, _hi in HUE_RANGES[_name]:
        _LUT[_lo : _hi + 1] = _i
_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Fragment:
    """One connected region of one colour in one camera, back-projected into the world.

    Attributes:
        camera: name of the camera.
        colour: ``red``, ``orange``, ``yellow``, ``green``, ``blue``, ``purple`` or ``grey``.
        colour_confidence: 1.0 when the hue is unambiguous, lower for over-exposed orange/yellow.
        xyz: ``(3, N)`` world points (metres), one row per axis.
        pixel_size: metres one pixel spans at the region's depth.
        camera_centre: the camera's position in the world.
        hue: ``(N,)`` OpenCV hue of each point's pixel.
        sat: ``(N,)`` saturation of each point's pixel.
    """

    camera: str
    colour: str
    colour_confidence: float
    xyz: np.ndarray
    pixel_size: float
    camera_centre: np.ndarray
    hue: np.ndarray
    sat: np.ndarray

    def subset(self, keep: np.ndarray, colour: str | None = None, confidence: float | None = None) -> Fragment:
        """The fragment of the selected points (optionally with another colour)."""
        return replace(
            self,
            colour=colour or self.colour,
            colour_confidence=self.colour_confidence if confidence is None else confidence,
            xyz=self.xyz[:, keep],
            hue=self.hue[keep],
            sat=self.sat[keep],
        )

    @property
    def family(self) -> str:
        """Colour family used for matching across cameras (orange and yellow can be confused)."""
        return "warm" if self.colour in ("orange", "yellow") else self.colour


def _min_pixels(view: CameraView) -> int:
    h, w = view.shape
    return max(3, round(MIN_PIXELS_320 * h * w / (240 * 320)))


def _components(mask: np.ndarray, min_pixels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pixel coordinates (rows, cols) of each 8-connected component of ``mask`` with enough pixels."""
    x0, y0, w0, h0 = cv2.boundingRect(mask)
    if w0 == 0 or h0 == 0:
        return []
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask[y0 : y0 + h0, x0 : x0 + w0], connectivity=8)
    out = []
    for i in np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= min_pixels):
        if i == 0:
            continue
        x, y, w, h = (int(v) for v in stats[i, :4])
        rr, cc = np.nonzero(labels[y : y + h, x : x + w] == i)
        out.append((rr + (y + y0), cc + (x + x0)))
    return out


def _share(mask: np.ndarray) -> float:
    """Fraction of True in a boolean array (0 when empty)."""
    return np.count_nonzero(mask) / mask.size if mask.size else 0.0


def warm_colour(hue: np.ndarray, sat: np.ndarray) -> tuple[str, float]:
    """Orange or yellow, and how sure, for the pixels of one warm-coloured surface."""
    orange = hue <= ORANGE_MAX_HUE
    exposed = sat >= WELL_EXPOSED_SATURATION
    if _share(exposed) >= 0.3:
        return ("orange" if _share(orange[exposed]) > 0.5 else "yellow"), 1.0
    # Over-exposed: both clip towards H 30; orange keeps some low-hue pixels on its shaded edges.
    if _share(orange) >= 0.03 or _share(hue <= 28) >= 0.5:
        return "orange", 0.6
    return "yellow", 0.4


def _warm_split(hue: np.ndarray, sat: np.ndarray) -> list[tuple[str, float, np.ndarray]]:
    """Orange/yellow decision for a warm region: ``(colour, confidence, pixel selector)`` parts."""
    exposed = sat >= WELL_EXPOSED_SATURATION
    if _share(exposed) >= 0.3:
        orange = hue <= ORANGE_MAX_HUE
        if 0.2 <= _share(orange[exposed]) <= 0.8:
            # Two well-exposed hues in one region: an orange and a yellow block touching in the image.
            return [("orange", 1.0, orange), ("yellow", 1.0, ~orange)]
    colour, conf = warm_colour(hue, sat)
    return [(colour, conf, np.ones(hue.shape, dtype=bool))]


def _fragment(
    view: CameraView, hsv: np.ndarray, colour: str, conf: float, rows: np.ndarray, cols: np.ndarray
) -> Fragment:
    pts = view.points(rows, cols)
    depth = view.depth[rows, cols]
    pixel = float(depth.sum()) / (len(depth) * float(view.K[0, 0]))
    hs = hsv[rows, cols]
    return Fragment(view.name, colour, conf, pts, pixel, view.centre, hs[:, 0], hs[:, 1])


def _colour_fragments(view: CameraView, hsv: np.ndarray, jump: np.ndarray) -> list[Fragment]:
    """Fragments of the saturated (prop-coloured) regions of one camera."""
    saturated = cv2.inRange(hsv, (0, MIN_SATURATION, MIN_VALUE), (180, 255, 255))
    x0, y0, w, h = cv2.boundingRect(saturated)  # work on the box around the saturated pixels only
    if w == 0 or h == 0:
        return []
    box = (slice(y0, y0 + h), slice(x0, x0 + w))
    hue, sat = hsv[box][..., 0], hsv[box][..., 1]
    label = cv2.LUT(hue, _LUT)
    label[(saturated[box] == 0) | (view.depth[box] >= MAX_DEPTH)] = 0  # no valid depth: cannot be placed
    smooth = jump[box] <= DEPTH_EDGE
    frags: list[Fragment] = []
    min_pixels = _min_pixels(view)
    for k, name in enumerate(LABELS, start=1):
        # One colour at a time, so regions of two colours that touch stay apart without eroding either.
        this = label == k
        if np.count_nonzero(this) < min_pixels:
            continue
        for rows, cols in _components((this & smooth).view(np.uint8), min_pixels):
            if name != "warm":
                frags.append(_fragment(view, hsv, name, 1.0, rows + y0, cols + x0))
                continue
            for colour, conf, sel in _warm_split(hue[rows, cols], sat[rows, cols]):
                if int(np.count_nonzero(sel)) >= min_pixels:
                    frags.append(_fragment(view, hsv, colour, conf, rows[sel] + y0, cols[sel] + x0))
    return frags


def _grey_fragments(view: CameraView, hsv: np.ndarray, jump: np.ndarray) -> list[Fragment]:
    """Fragments of unsaturated regions standing on the table in the workspace (bin candidates).

    The bin is large, so this runs on every second pixel (every fourth at 640x480) in each direction.
    """
    step = max(GREY_STEP, view.shape[1] // 160)
    height = view.height_map(step)
    mask = (hsv[::step, ::step, 1] < MAX_GREY_SATURATION) & (height > TABLE_CLEARANCE) & (height < BIN_MAX_Z)
    mask &= view.depth[::step, ::step] < MAX_DEPTH
    mask &= jump[::step, ::step] < 0.2  # keep walls attached to floor, drop silhouettes against the background
    frags = []
    big = 40 * _min_pixels(view) // (step * step)
    for rows, cols in _components(mask.view(np.uint8), big):
        frag = _fragment(view, hsv, "grey", 1.0, rows * step, cols * step)
        if float(frag.xyz[0].mean()) > BIN_MIN_X:
            frags.append(frag)
    return frags


def fragments(view: CameraView) -> list[Fragment]:
    """All fragments of one camera: coloured regions first, then grey bin candidates."""
    hsv = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2HSV)
    jump = view.depth - cv2.erode(view.depth, _KERNEL)  # > 0 on the far side of a depth edge only
    return _colour_fragments(view, hsv, jump) + _grey_fragments(view, hsv, jump)
