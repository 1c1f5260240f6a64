"""Pick up a block: approach from above, descend, close, lift, and check the grasp from perception.

The policy is closed loop at two levels: the servo reads proprioception every step, and each
attempt starts from a fresh perception of the object, so a grasp that slipped is retried from
where the object actually is. Success is judged from perception and proprioception only: the
fingers stopped on something (wider than a few mm, narrower than fully open) and the object rose
with the hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from envs.validation import require_positive
from perception.scene_graph import DetectedObject, SceneGraph
from policies.clearance import roomiest_heading
from policies.driver import EnvDriver, PolicyResult
from policies.lookup import kind_of, relocate
from policies.motion import GRIPPER_FULLY_OPEN, MotionConfig, servo_to, set_gripper, unreachable_reason

GRASPABLE_SHAPES = ("block",)
#: Widest object the 8 cm gripper can close on, with room for the fingers' approach.
MAX_GRASP_WIDTH = 0.065
MIN_HOLD_WIDTH = 0.005  # fingers closer than this closed on nothing
HIDDEN_BLOCK_EDGE = 0.045  # assumed size of a held block no camera sees (m)
TRAVEL_CLEARANCE = 0.07  # metres above the tallest object when moving across the table


@dataclass(frozen=True)
class GraspConfig:
    """How to pick.

    Attributes:
        approach_height: metres above the object's top to stop before descending.
        lift_height: how far (m) the object's bottom must rise for the grasp to count.
        settle_steps: steps to squeeze after the fingers stop.
        attempts: tries before giving up (each one re-perceives the object).
        motion: servo settings.
    """

    approach_height: float = 0.08
    lift_height: float = 0.04
    settle_steps: int = 4
    attempts: int = 3
    motion: MotionConfig = field(default_factory=MotionConfig)

    def __post_init__(self) -> None:
        require_positive(self, "approach_height", "lift_height")
        if self.attempts < 1 or self.settle_steps < 0:
            raise ValueError(f"GraspConfig.attempts must be >= 1 and settle_steps >= 0, got {self}")


def travel_height(scene: SceneGraph, carried: DetectedObject | None = None) -> float:
    """A tool height (m) from which the hand, and what it carries, clears every other object."""
    tops = [o.top for o in scene.objects if carried is None or o.name != carried.name]
    below = carried.size[2] if carried is not None else 0.0
    return max([0.12, *(t + TRAVEL_CLEARANCE + below for t in tops)])


def travel_to(
    driver: EnvDriver, target: np.ndarray, height: float, motion: MotionConfig, yaw: float | None = None
) -> PolicyResult:
    """Rise to ``height``, cross the table there (turning to ``yaw``; None keeps it), then descend onto ``target``."""
    start = driver.steps
    here = driver.ee_pos
    yaw = driver.ee_yaw if yaw is None else yaw
    z = max(height, float(target[2]))
    legs = []
    if float(np.linalg.norm(here[:2] - target[:2])) > 0.01:
        legs = [np.array([here[0], here[1], max(z, here[2])]), np.array([target[0], target[1], z])]
    legs.append(np.asarray(target, dtype=float))
    for leg in legs:
        res = servo_to(driver, leg, motion, yaw=yaw, tolerance=motion.tolerance if leg is legs[-1] else 0.015)
        if not res.success:
            return PolicyResult(False, res.message, driver.steps - start)
    return PolicyResult(True, "arrived", driver.steps - start)


def held_object(driver: EnvDriver, scene: SceneGraph) -> DetectedObject | None:
    """The perceived object between the fingers, if the gripper holds one."""
    if not MIN_HOLD_WIDTH < driver.gripper_width < GRIPPER_FULLY_OPEN - 0.005:
        return None
    ee = driver.ee_pos
    best: tuple[float, DetectedObject] | None = None
    for obj in scene.objects:
        d_xy = math.hypot(obj.position[0] - ee[0], obj.position[1] - ee[1])
        if d_xy < 0.035 and abs(obj.position[2] - ee[2]) < 0.04 and (best is None or d_xy < best[0]):
            best = (d_xy, obj)
    if best is not None:
        return best[1]
    holding = scene.robot.holding if scene.robot is not None else None
    return scene.find(holding) if holding else None


def hidden_in_hand(driver: EnvDriver, scene: SceneGraph, name: str) -> DetectedObject | None:
    """A stand-in for ``name`` when the fingers hold something no visible object explains.

    The hand can hide a held block from every camera; then the block is assumed to be ``name``,
    a medium block centred between the fingers (``name`` must not be visible elsewhere).
    """
    if scene.find(name) is not None or held_object(driver, scene) is not None:
        return None
    if not MIN_HOLD_WIDTH < driver.gripper_width < GRIPPER_FULLY_OPEN - 0.005:
        return None
    colour = kind_of(name)[0] if len(kind_of(name)) == 2 else ""
    edge = HIDDEN_BLOCK_EDGE
    x, y, z = (float(v) for v in driver.ee_pos)
    return DetectedObject(name, colour, "block", (x, y, z), (edge, edge, edge), 0.0)


def grasp_problem(scene: SceneGraph, name: str) -> str | None:
    """Why ``name`` cannot be picked up (None when it can)."""
    obj = scene.find(name)
    if obj is None:
        return f"no object {name!r} is visible; visible objects are {list(scene.names)}"
    if obj.shape not in GRASPABLE_SHAPES:
        graspable = [o.name for o in scene.objects if o.shape in GRASPABLE_SHAPES]
        return f"the {name} is a {obj.shape} and cannot be grasped; graspable objects are {graspable}"
    if min(obj.size[0], obj.size[1]) > MAX_GRASP_WIDTH:
        width = min(obj.size[:2]) * 100
        return f"the {name} is {width:.1f} cm wide; the gripper takes at most {MAX_GRASP_WIDTH * 100:.1f} cm"
    on_top = list(scene.related("on", name))
    if on_top:
        return f"the {name} has {on_top} on top of it; move that first"
    return None


#: One approach-grasp-lift: ``(driver, scene, obj, config) -> ""`` when it ran through, else what failed.
Attempt = Callable[[EnvDriver, SceneGraph, DetectedObject, GraspConfig], str]


def pick(
    driver: EnvDriver, name: str, config: GraspConfig | None = None, attempt: Attempt | None = None
) -> PolicyResult:
    """Pick up the object called ``name`` and lift it clear of the table.

    ``attempt`` does each approach-grasp-lift (default: the scripted one); the checks before, the
    retries and the success test from perception are the same whoever moves the arm (a learned
    policy, :mod:`policies.learned`).
    """
    cfg = config or GraspConfig()
    try_once = attempt or _attempt
    start = driver.steps
    scene = driver.perceive()
    holding = held_object(driver, scene)
    if holding is not None:
        if holding.name == name or (scene.find(name) is None and kind_of(holding.name) == kind_of(name)):
            return PolicyResult(True, f"already holding the {name}", 0, _offset(driver, holding))
        return PolicyResult(False, f"the gripper already holds the {holding.name}; place it before picking {name!r}")
    problem = grasp_problem(scene, name)
    if problem is not None:
        return PolicyResult(False, problem)
    reason = "no attempt made"
    obj = scene.get(name)
    for tries in range(1, cfg.attempts + 1):
        reason = try_once(driver, scene, obj, cfg)
        scene = driver.perceive()
        now = relocate(scene, obj, driver.ee_pos)
        if not reason and _lifted(driver, scene, obj, now, cfg):
            seen = {**_offset(driver, now), "seen_as": now.name} if now is not None else {"seen_as": None}
            details = {**seen, "attempts": tries}
            return PolicyResult(True, f"picked up the {name}", driver.steps - start, details)
        reason = reason or f"the {name} did not rise with the hand (gripper width {driver.gripper_width * 100:.1f} cm)"
        if driver.done:
            break
        set_gripper(driver, close=False, config=cfg.motion)
        servo_to(driver, driver.ee_pos + [0.0, 0.0, 0.05], cfg.motion, max_steps=20)
        scene = driver.perceive()
        found = relocate(scene, obj, obj.position)
        if found is None or grasp_problem(scene, found.name):
            break
        obj = found
    return PolicyResult(False, f"could not pick up the {name}: {reason}", driver.steps - start)


def _attempt(driver: EnvDriver, scene: SceneGraph, obj: DetectedObject, cfg: GraspConfig) -> str:
    """One approach-descend-close-lift; an empty string when it ran through, else what failed."""
    grasp = np.array([obj.position[0], obj.position[1], max(obj.position[2], 0.015)])
    problem = unreachable_reason(driver, (float(grasp[0]), float(grasp[1]), float(grasp[2])))
    if problem:
        return f"the {obj.name} is out of reach: {problem}"
    if driver.gripper_width < GRIPPER_FULLY_OPEN - 0.008:
        set_gripper(driver, close=False, config=cfg.motion)
    above = grasp + [0.0, 0.0, obj.size[2] / 2 + cfg.approach_height]
    yaw = roomiest_heading(scene, grasp[:2], float(grasp[2]), ignore=(obj.name,))
    res = travel_to(driver, above, travel_height(scene), cfg.motion, yaw=yaw)
    if res.success:
        res = servo_to(driver, grasp, cfg.motion, yaw=yaw)
    if not res.success:
        return f"approach failed: {res.message}"
    set_gripper(driver, close=True, config=cfg.motion)
    driver.hold(cfg.settle_steps)
    if driver.gripper_width <= MIN_HOLD_WIDTH:
        return "the fingers closed on nothing"
    lift = np.array([grasp[0], grasp[1], max(travel_height(scene, obj), grasp[2] + cfg.lift_height + 0.03)])
    res = servo_to(driver, lift, cfg.motion, yaw=yaw, tolerance=0.01)
    return "" if res.success else f"lift failed: {res.message}"


def _lifted(
    driver: EnvDriver, scene: SceneGraph, before: DetectedObject, now: DetectedObject | None, cfg: GraspConfig
) -> bool:
    """The fingers stopped on something and the object rose with the hand (or, hidden by the hand, left its place)."""
    if not MIN_HOLD_WIDTH < driver.gripper_width < GRIPPER_FULLY_OPEN - 0.005:
        return False
    ee = driver.ee_pos
    near_hand = now is not None and math.hypot(now.position[0] - ee[0], now.position[1] - ee[1]) < 0.035
    if near_hand and now is not None and now.bottom > before.bottom + cfg.lift_height:
        return True
    # A perceiver may still report the object where it stood because the hand now hides that spot
    # ("remembered"); that is not a sighting.
    still_there = relocate(scene, before, before.position, radius=0.03)
    gone = still_there is None or still_there.name in scene.meta.get("remembered", ())
    return gone and float(ee[2]) > before.top + cfg.lift_height


def _offset(driver: EnvDriver, obj: DetectedObject) -> dict[str, list[float]]:
    """Where the held object's centre sits relative to the tool centre point (m)."""
    return {"offset_m": [float(v) for v in np.asarray(obj.position) - driver.ee_pos]}
