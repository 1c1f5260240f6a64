"""Push a block across the table into a named region, re-perceiving and correcting after each stroke.

Each stroke: perceive the block, aim at the nearest point well inside the region, lower the
closed fingers to the table on the far side of the block from that point (behind it), push
along the line through the block toward the point, back off and rise. Strokes are short, so
a block that turned or slid sideways is corrected by the next one. Success is judged from
perception: the block rests inside the region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from envs import scene_spec
from envs.scene_spec import REGIONS
from envs.validation import require_positive
from perception.scene_graph import DetectedObject, SceneGraph
from policies.driver import EnvDriver, PolicyResult
from policies.grasp import travel_to
from policies.lookup import relocate
from policies.motion import MAX_REACH, SHOULDER, MotionConfig, clear_view, servo_to, set_gripper, unreachable_reason

PUSHABLE_SHAPES = ("block",)
#: A block whose bottom is below this height (m) stands on the table and can be pushed.
ON_TABLE_HEIGHT = 0.01
#: Free space (m) a push keeps on each side of the block's and the fingers' path.
PUSH_CLEARANCE = 0.015


@dataclass(frozen=True)
class PushConfig:
    """How to push.

    Attributes:
        margin: metres inside the region's edges to aim for.
        done_margin: metres inside the edges at which the block counts as arrived.
        stroke: longest push of one stroke (m).
        push_height: tool height above the table while pushing (m).
        standoff: gap between fingers and block before a stroke (m).
        strokes: most strokes before giving up.
        speed: fraction of the servo's top speed while in contact (slow pushes do not tip blocks).
        motion: servo settings.
    """

    margin: float = 0.045
    done_margin: float = 0.02
    stroke: float = 0.10
    push_height: float = 0.012
    standoff: float = 0.03
    strokes: int = 8
    speed: float = 0.3
    motion: MotionConfig = field(default_factory=lambda: MotionConfig(step_pos=0.025, max_steps=80))

    def __post_init__(self) -> None:
        require_positive(self, "margin", "stroke", "push_height", "standoff")
        if not 0 <= self.done_margin <= self.margin:
            raise ValueError(f"PushConfig.done_margin must be in [0, margin={self.margin}], got {self.done_margin}")
        if self.strokes < 1:
            raise ValueError(f"PushConfig.strokes must be >= 1, got {self.strokes!r}")


def push_problem(scene: SceneGraph, name: str, region: str) -> str | None:
    """Why ``name`` cannot be pushed to ``region`` (None when it can)."""
    obj = scene.find(name)
    if obj is None:
        return f"no object {name!r} is visible; visible objects are {list(scene.names)}"
    if region not in REGIONS:
        return f"unknown region {region!r}; regions are {sorted(REGIONS)}"
    if obj.shape not in PUSHABLE_SHAPES:
        pushable = [o.name for o in scene.objects if o.shape in PUSHABLE_SHAPES]
        return f"the {name} is a {obj.shape} and cannot be pushed; pushable objects are {pushable}"
    if obj.bottom > ON_TABLE_HEIGHT:
        return f"the {name} is not standing on the table (it is on or in something); pick it instead"
    return None


def push_blockers(scene: SceneGraph, name: str, region: str, config: PushConfig | None = None) -> list[str]:
    """What stands in the way of pushing ``name`` into ``region``: the other objects near the corridor
    the block and fingers sweep (from where the fingers come down behind it to where it should stop),
    and a stroke that starts or ends out of the arm's reach. A push through objects would shove them
    along (undoing what they were placed for); an unreachable one cannot start. Carry the block instead."""
    cfg = config or PushConfig()
    obj = scene.get(name)
    behind, end, d = _stroke_points(obj, region, cfg, stroke=math.inf)
    if d is None:
        return []
    blockers = [
        f"the stroke's {which} is out of reach"
        for which, point in (("start", behind), ("end", end))
        if math.dist((float(point[0]), float(point[1]), cfg.push_height), SHOULDER) > MAX_REACH
    ]
    length = float(np.dot(end - behind, d)) + _half_extent_along(obj, d) + 0.012  # to the block's final centre
    half_width = max(obj.size[0], obj.size[1]) / 2 + PUSH_CLEARANCE
    for other in scene.objects:
        if other.name == name:
            continue
        q = np.array(other.position[:2])
        t = float(np.clip(np.dot(q - behind, d), 0.0, length))
        if float(np.linalg.norm(q - (behind + d * t))) < half_width + max(other.size[0], other.size[1]) / 2:
            blockers.append(other.name)
    return blockers


def _stroke_points(
    obj: DetectedObject, region: str, cfg: PushConfig, stroke: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Where the fingers come down behind the block, where they stop after a stroke of at most ``stroke``
    metres toward the region, and the push direction (None: the block is at its aim point)."""
    p = np.array(obj.position[:2])
    goal = aim_point(obj, region, cfg.margin)
    dist = float(np.linalg.norm(goal - p))
    if dist < 1e-3:
        return p, p, None
    d = (goal - p) / dist
    reach_back = _half_extent_along(obj, d) + 0.012  # fingertip half thickness
    return p - d * (reach_back + cfg.standoff), p + d * (min(dist, stroke) - reach_back), d


def in_region(obj: DetectedObject, region: str, margin: float = 0.0) -> bool:
    """Whether the block's centre lies ``margin`` inside the region and it rests on the table."""
    return scene_spec.in_region(obj.position, region, margin) and obj.bottom < ON_TABLE_HEIGHT


def aim_point(obj: DetectedObject, region: str, margin: float) -> np.ndarray:
    """The point of the region (``margin`` inside its edges) nearest to the block."""
    x0, x1, y0, y1 = REGIONS[region]
    return np.array(
        [
            float(np.clip(obj.position[0], x0 + margin, x1 - margin)),
            float(np.clip(obj.position[1], y0 + margin, y1 - margin)),
        ]
    )


def push(driver: EnvDriver, name: str, region: str, config: PushConfig | None = None) -> PolicyResult:
    """Push the block ``name`` into ``region`` (a key of ``envs.scene_spec.REGIONS``)."""
    cfg = config or PushConfig()
    start = driver.steps
    scene = driver.perceive()
    problem = push_problem(scene, name, region)
    if problem is not None:
        return PolicyResult(False, problem)
    obj = scene.get(name)
    for stroke in range(cfg.strokes):
        if in_region(obj, region, cfg.done_margin):
            break
        if driver.gripper_width > 0.005:
            set_gripper(driver, close=True, config=cfg.motion)
        reason = _stroke(driver, obj, region, cfg)
        seen = _find_again(driver, obj, cfg) if not reason else obj
        if reason or seen is None:
            why = reason or "lost sight of it after a stroke"
            return PolicyResult(False, f"could not push the {name}: {why}", driver.steps - start, {"strokes": stroke})
        obj = seen
        if driver.done:
            break
    if not in_region(obj, region) and not driver.done:
        obj = _find_again(driver, obj, cfg, look_from_afar=True) or obj
    if in_region(obj, region):
        return PolicyResult(True, f"pushed the {name} into the {region}", driver.steps - start)
    where = f"({obj.position[0]:.3f}, {obj.position[1]:.3f}) m"
    return PolicyResult(False, f"the {name} stopped at {where}, outside the {region}", driver.steps - start)


def _find_again(
    driver: EnvDriver, obj: DetectedObject, cfg: PushConfig, look_from_afar: bool = False
) -> DetectedObject | None:
    """The pushed block in a fresh perception; moves the hand out of view first if asked or if it is not seen."""
    if not look_from_afar:
        found = relocate(driver.perceive(), obj, obj.position, radius=cfg.stroke + 0.05)
        if found is not None:
            return found
    clear_view(driver, cfg.motion)
    return relocate(driver.perceive(), obj, obj.position, radius=cfg.stroke + 0.05)


def _stroke(driver: EnvDriver, obj: DetectedObject, region: str, cfg: PushConfig) -> str:
    """One stroke toward the region; an empty string when it ran through, else what failed."""
    behind, end, d = _stroke_points(obj, region, cfg, cfg.stroke)
    if d is None:
        return ""
    yaw = _push_yaw(d)
    z = cfg.push_height
    for point in (behind, end):
        problem = unreachable_reason(driver, (float(point[0]), float(point[1]), z))
        if problem:
            return f"the push path leaves the workspace: {problem}"
    hover = obj.top + 0.05
    res = travel_to(driver, np.array([behind[0], behind[1], z]), hover, cfg.motion, yaw=yaw)
    if res.success:
        servo_to(
            driver, np.array([end[0], end[1], z]), cfg.motion, yaw=yaw, tolerance=0.006, max_steps=90, speed=cfg.speed
        )
    back = driver.ee_pos - np.array([d[0], d[1], 0.0]) * cfg.standoff
    back[2] = z
    servo_to(driver, back, cfg.motion, yaw=yaw, tolerance=0.008, max_steps=20, speed=cfg.speed)
    up = driver.ee_pos + [0.0, 0.0, hover - driver.ee_pos[2]]
    servo_to(driver, up, cfg.motion, yaw=yaw, tolerance=0.01, max_steps=30)
    return "" if res.success or driver.done else f"could not get behind the block: {res.message}"


def _half_extent_along(obj: DetectedObject, d: np.ndarray) -> float:
    """Half the block's axis-aligned extent measured along unit direction ``d``."""
    return float(abs(d[0]) * obj.size[0] / 2 + abs(d[1]) * obj.size[1] / 2)


def _push_yaw(d: np.ndarray) -> float:
    """Tool yaw that puts the closed fingers side by side across the push direction."""
    yaw = math.atan2(float(d[1]), float(d[0]))
    while yaw > math.pi / 2:
        yaw -= math.pi
    while yaw < -math.pi / 2:
        yaw += math.pi
    return yaw
