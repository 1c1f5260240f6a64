"""Put a held block on a block or plate, into a bowl or the bin, or down in a named table region.

The release point comes from perception of the target; the offset of the block in the hand
(perceived, bounded by what the grip allows: see :func:`held_offset`) is subtracted so the block's
centre, not the fingers, ends over the target. In a bowl each block goes against the wall, so a
second one fits beside it (:func:`container_spot`). Success is re-perceived after the hand has
withdrawn: the scene graph must relate the block to the target (``on`` / ``in``) or show it
resting inside the region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from envs.scene_spec import BLOCK_SIZES, REGIONS, WALL_THICKNESS_M, WORKSPACE_X
from perception.scene_graph import DetectedObject, Relation, SceneGraph
from policies.clearance import roomiest_heading
from policies.driver import EnvDriver, PolicyResult
from policies.grasp import GraspConfig, held_object, hidden_in_hand, pick, travel_height, travel_to
from policies.lookup import kind_of, relocate
from policies.motion import clear_view, servo_to, set_gripper, unreachable_reason, wrap_half_turn

SUPPORT_SHAPES = ("block", "plate")
CONTAINER_SHAPES = ("bowl", "bin")
REGION_MARGIN = 0.045  # keep a placed block this far inside a region's edges (m)


@dataclass(frozen=True)
class PlaceConfig:
    """How to place.

    Attributes:
        release_gap: metres between the block's bottom and the support when the fingers open.
        drop_gap: metres above a container's rim at release (the block drops inside).
        retreat: metres to rise after releasing.
        attempts: carry-and-release tries (a block that was dropped is picked up again).
        grasp: settings of the pick that precedes a place when the block is not in hand.
    """

    release_gap: float = 0.008
    drop_gap: float = 0.015
    retreat: float = 0.08
    attempts: int = 2
    grasp: GraspConfig = field(default_factory=GraspConfig)

    def __post_init__(self) -> None:
        for name in ("release_gap", "drop_gap", "retreat"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"PlaceConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.attempts < 1:
            raise ValueError(f"PlaceConfig.attempts must be >= 1, got {self.attempts!r}")


def target_problem(scene: SceneGraph, name: str, target: str) -> str | None:
    """Why ``name`` cannot be placed at ``target`` (None when it can)."""
    if target in REGIONS:
        return None
    base = scene.find(target)
    if base is None:
        return (
            f"no object or region {target!r}; visible objects are {list(scene.names)} and regions are {sorted(REGIONS)}"
        )
    if target == name:
        return f"cannot place the {name} on itself"
    if base.shape not in SUPPORT_SHAPES + CONTAINER_SHAPES:
        return f"the {target} is a {base.shape}; targets are blocks, plates, bowls, the bin or a region"
    if base.shape == "block":
        on_top = [s for s in scene.related("on", target) if s != name]
        if on_top:
            return f"the {target} already has {on_top} on top of it"
    return None


def free_spot(scene: SceneGraph, region: str, moving: str) -> tuple[float, float]:
    """The point of ``region`` (inside a margin) farthest from every other object."""
    x0, x1, y0, y1 = REGIONS[region]
    x0, x1 = max(x0, WORKSPACE_X[0] - 0.04), min(x1, WORKSPACE_X[1] + 0.04)
    xs = np.linspace(x0 + REGION_MARGIN, x1 - REGION_MARGIN, 7)
    ys = np.linspace(y0 + REGION_MARGIN, y1 - REGION_MARGIN, 7)
    others = [o for o in scene.objects if o.name != moving]
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)

    def score(p: tuple[float, float]) -> tuple[float, float]:
        clear = min(
            [math.hypot(p[0] - o.position[0], p[1] - o.position[1]) - max(o.size[:2]) / 2 for o in others],
            default=1.0,
        )
        return (min(clear, 0.08), -math.dist(p, centre))

    return max(((float(x), float(y)) for x in xs for y in ys), key=score)


WALL_MARGIN = 0.012  # metres kept from the bin's wall
PAD_SLIP = 0.01  # metres a held block's centre can be off the tool centre along the finger pads
BOWL_MARGIN = 0.01  # metres between a block's farthest corner and a bowl's wall


def release_point(scene: SceneGraph, obj: DetectedObject, target: str) -> np.ndarray:
    """Where the carried block's centre should be when the fingers open."""
    half = obj.size[2] / 2
    if target in REGIONS:
        x, y = free_spot(scene, target, obj.name)
        return np.array([x, y, half + 0.008])
    base = scene.get(target)
    gap = 0.008 if base.shape in SUPPORT_SHAPES else 0.015
    x, y = container_spot(scene, base, obj) if base.shape in ("bowl", "bin") else base.position[:2]
    return np.array([x, y, base.top + half + gap])


def container_spot(scene: SceneGraph, box: DetectedObject, obj: DetectedObject) -> tuple[float, float]:
    """Where to drop ``obj`` into ``box`` so that later blocks still fit beside it.

    A bowl holds two blocks side by side only if each stands against the wall: the first block
    dropped at the centre leaves no room, and the second lands on its edge, above the rim. So a
    block goes as far out as its corners allow (whatever its yaw), on the side it comes from
    when the bowl is empty, else opposite the blocks already inside (the point of the circle
    with the most room between block edges). The bin is large: its centre, or the free point
    of a 3 x 3 grid farthest from blocks already inside.
    """
    inside = [o for o in scene.objects if o.name != obj.name and Relation(o.name, "in", box.name) in scene.relations]
    cx, cy = float(box.position[0]), float(box.position[1])
    if box.shape == "bowl":
        return _bowl_spot(box, obj, inside)
    if not inside:
        return cx, cy
    reach_x = max(0.0, box.size[0] / 2 - WALL_MARGIN - 0.6 * obj.size[0])
    reach_y = max(0.0, box.size[1] / 2 - WALL_MARGIN - 0.6 * obj.size[1])
    points = [(cx + fx * reach_x, cy + fy * reach_y) for fx in (-1, 0, 1) for fy in (-1, 0, 1)]
    best = max(points, key=lambda p: min(np.hypot(p[0] - o.position[0], p[1] - o.position[1]) for o in inside))
    return float(best[0]), float(best[1])


def _bowl_spot(box: DetectedObject, obj: DetectedObject, inside: list[DetectedObject]) -> tuple[float, float]:
    cx, cy = float(box.position[0]), float(box.position[1])
    inner = box.size[0] / 2 - WALL_THICKNESS_M
    half = _half_edge(obj)
    reach = max(0.0, inner - math.sqrt(2) * half - BOWL_MARGIN)  # a corner stays clear of the wall at any yaw
    if not inside:
        away = math.atan2(obj.position[1] - cy, obj.position[0] - cx)  # the near side: the shortest carry
        return cx + reach * math.cos(away), cy + reach * math.sin(away)

    def room(angle: float) -> float:
        x, y = cx + reach * math.cos(angle), cy + reach * math.sin(angle)
        return min(math.hypot(x - o.position[0], y - o.position[1]) - half - _half_edge(o) for o in inside)

    best = max(np.linspace(0.0, 2 * np.pi, 32, endpoint=False), key=room)
    return cx + reach * math.cos(best), cy + reach * math.sin(best)


def _named_edge(name: str) -> float:
    """The edge length a block's name promises (``large red block``: 5.5 cm; no size word: medium)."""
    return next((size for cls, size in BLOCK_SIZES.items() if name.startswith(f"{cls} ")), BLOCK_SIZES["medium"])


def _half_edge(obj: DetectedObject) -> float:
    """Half a block's edge: measured, but never less than its name promises."""
    return max(max(obj.size[:2]), _named_edge(obj.name) if obj.shape == "block" else 0.0) / 2


def sized_as(held: DetectedObject, name: str) -> DetectedObject:
    """The held block at least as big as ``name`` says: in the hand it is measured from its visible
    sides only, can look a size smaller, and perception may even rename it after that size."""
    edge = _named_edge(name)
    if held.shape != "block" or min(held.size) >= edge:
        return held
    x, y, z = (max(s, edge) for s in held.size)
    return replace(held, size=(x, y, z))


def placed(scene: SceneGraph, obj: DetectedObject, target: str, near: Sequence[float] | np.ndarray) -> bool:
    """Whether perception shows ``obj`` (released near ``near``) at ``target``, resting, not in the hand."""
    now = relocate(scene, obj, near, horizontal=True)
    if now is None:
        return False
    if target in REGIONS:
        x0, x1, y0, y1 = REGIONS[target]
        return x0 <= now.position[0] <= x1 and y0 <= now.position[1] <= y1 and now.bottom < 0.01
    base = scene.find(target)
    if base is None:
        return False
    rels = {(r.subject, r.predicate, r.object) for r in scene.relations}
    return (now.name, "on", base.name) in rels or (now.name, "in", base.name) in rels


#: Carry the held block over the target and let go: ``(driver, scene, obj, target, config) -> (what failed or "",
#: the release point)``.
Carry = Callable[[EnvDriver, SceneGraph, DetectedObject, str, PlaceConfig], tuple[str, np.ndarray]]


def place(
    driver: EnvDriver, name: str, target: str, config: PlaceConfig | None = None, carry: Carry | None = None
) -> PolicyResult:
    """Place ``name`` at ``target`` (an object's name or a region of ``envs.scene_spec.REGIONS``).

    ``carry`` moves the held block over the target and lets go (default: the scripted motion); picking
    first, the retries and the check from perception are the same whoever moves the arm.
    """
    cfg = config or PlaceConfig()
    carry_and_release = carry or _carry_and_release
    start = driver.steps
    scene = driver.perceive()
    problem = target_problem(scene, name, target)
    if problem is not None:
        return PolicyResult(False, problem)
    # What the gripper holds, if it has the colour and shape of ``name``, is taken to be ``name``:
    # perceivers may rename a block the hand partly hides.
    in_hand = held_object(driver, scene)
    if in_hand is not None and kind_of(in_hand.name) != kind_of(name):
        in_hand = None
    moving, base = in_hand or scene.find(name) or hidden_in_hand(driver, scene, name), scene.find(target)
    if moving is None:
        return PolicyResult(False, f"no object {name!r} is visible; visible objects are {list(scene.names)}")
    reason = ""
    for _ in range(cfg.attempts):
        held, reason, scene = _in_hand(driver, scene, moving, cfg)
        if held is None:
            return PolicyResult(False, reason, driver.steps - start)
        where = _target_name(scene, base, target)
        if where is None:
            reason = f"the {target} is no longer visible"
            break
        reason, release = carry_and_release(driver, scene, sized_as(held, name), where, cfg)
        scene = driver.perceive()
        if not reason and _confirm(driver, held, base, target, release, cfg):
            at = f"in the {target}" if target in REGIONS else f"at the {target}"
            return PolicyResult(True, f"placed the {name} {at}", driver.steps - start)
        scene = driver.scene
        reason = reason or f"the {name} did not end at the {target}"
        moving = relocate(scene, moving, release, horizontal=True) or moving
        if driver.done or target_problem(scene, moving.name, target):
            break
    return PolicyResult(False, f"could not place the {name}: {reason}", driver.steps - start)


def _in_hand(
    driver: EnvDriver, scene: SceneGraph, moving: DetectedObject, cfg: PlaceConfig
) -> tuple[DetectedObject | None, str, SceneGraph]:
    """The block in the gripper, picking ``moving`` up first if needed: ``(held or None, why not, scene)``."""
    held = held_object(driver, scene) or hidden_in_hand(driver, scene, moving.name)
    if held is not None and kind_of(held.name) == kind_of(moving.name):
        return held, "", scene
    got = pick(driver, moving.name, cfg.grasp)
    if not got.success:
        return None, got.message, driver.scene
    scene = driver.perceive()
    # A block hidden by the hand is taken to be centred between the fingers.
    x, y, z = (float(v) for v in driver.ee_pos)
    return held_object(driver, scene) or replace(moving, position=(x, y, z)), "", scene


def _confirm(
    driver: EnvDriver,
    held: DetectedObject,
    base: DetectedObject | None,
    target: str,
    release: np.ndarray,
    cfg: PlaceConfig,
) -> bool:
    """Whether perception shows the block at the target; looks again with the hand out of view before saying no."""
    scene = driver.scene
    if placed(scene, held, _target_name(scene, base, target) or target, release):
        return True
    if driver.done:
        return False
    clear_view(driver, cfg.grasp.motion)  # the hand may hide the block (e.g. inside the bin)
    scene = driver.perceive()
    return placed(scene, held, _target_name(scene, base, target) or target, release)


def _target_name(scene: SceneGraph, base: DetectedObject | None, target: str) -> str | None:
    """The target's current name: a region keeps its own; an object is looked up again (it may be renamed)."""
    if base is None:
        return target
    found = relocate(scene, base, base.position, radius=0.05)
    return found.name if found is not None else None


def _carry_and_release(
    driver: EnvDriver, scene: SceneGraph, obj: DetectedObject, target: str, cfg: PlaceConfig
) -> tuple[str, np.ndarray]:
    """Carry the held ``obj`` over ``target`` and let go: ``(what failed or "", release point)``."""
    release = release_point(scene, obj, target)
    yaw = roomiest_heading(scene, release[:2], float(release[2]), ignore=(obj.name,))
    tcp = release - _turn(held_offset(driver, obj), yaw - driver.ee_yaw)
    problem = unreachable_reason(driver, (float(tcp[0]), float(tcp[1]), float(tcp[2])))
    if problem:
        return f"the release point over the {target} is out of reach: {problem}", release
    motion = cfg.grasp.motion
    res = travel_to(driver, tcp, travel_height(scene, obj), motion, yaw=yaw)
    if not res.success:
        return f"carrying failed: {res.message}", release
    set_gripper(driver, close=False, config=motion)
    driver.hold(3)
    servo_to(driver, driver.ee_pos + [0.0, 0.0, cfg.retreat], motion, tolerance=0.01, max_steps=30)
    return "", release


def held_offset(driver: EnvDriver, obj: DetectedObject) -> np.ndarray:
    """The held block's centre relative to the tool centre point, as the grip allows it to be.

    Perception sees a held block from its sides only and can put its centre 2 cm off; the
    fingers, though, centre a block on their closing axis, and it can sit off centre only along
    their pads, by little. So the perceived offset keeps its height and its component along the
    pads, clipped to :data:`PAD_SLIP`.
    """
    offset = np.asarray(obj.position, dtype=float) - driver.ee_pos
    yaw = driver.ee_yaw
    along_pads = np.array([math.cos(yaw), math.sin(yaw)])
    slip = float(np.clip(offset[:2] @ along_pads, -PAD_SLIP, PAD_SLIP))
    return np.array([slip * along_pads[0], slip * along_pads[1], offset[2]])


def _turn(offset: np.ndarray, angle: float) -> np.ndarray:
    """``offset`` (the block's centre relative to the tool) after the hand turns by ``angle``."""
    angle = wrap_half_turn(angle)
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * offset[0] - s * offset[1], s * offset[0] + c * offset[1], offset[2]])
