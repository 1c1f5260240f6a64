"""The default perceiver: OpenCV on rgb + depth + camera matrices, no privileged information.

Pipeline per call of :meth:`VisionPerceiver.perceive`:

1. check the frames (:mod:`perception.frames`), raising ``ValueError`` that names the camera;
2. per camera, segment saturated colours and the grey bin into world-space fragments
   (:mod:`perception.segment`);
3. fuse the fragments of all cameras into objects (:mod:`perception.fusion`);
4. keep names stable through the episode (:mod:`perception.tracking`);
5. read the robot state from proprioception and decide what the gripper holds;
6. compute relations (:func:`perception.relations.compute_relations`).

The segmentation images in ``obs`` are never read.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from perception.frames import CameraView, camera_views
from perception.fusion import Hypothesis, fuse
from perception.relations import compute_relations
from perception.scene_graph import DetectedObject, RobotState, SceneGraph
from perception.segment import Fragment, fragments
from perception.tracking import Tracker

log = logging.getLogger(__name__)

GRIPPER_CLOSED = 0.005  # metres: narrower than this, the fingers hold nothing
GRIPPER_OPEN = 0.075  # metres: wider than this, the fingers hold nothing
OCCLUDER_MARGIN = 0.03  # metres nearer than an object's top that something must be to hide it
REMEMBERED_CONFIDENCE = 0.5
HOLD_XY, HOLD_Z = 0.035, 0.045  # how far an object's centre may be from the TCP and still be held


def _scalar(value: Any, what: str) -> float:
    arr = np.asarray(value, dtype=float).reshape(-1)
    if arr.size < 1 or not np.isfinite(arr[0]):
        raise ValueError(f"obs['proprio'][{what!r}] must be a finite number, got {value!r}")
    return float(arr[0])


def robot_state(proprio: Any) -> RobotState | None:
    """The robot state in ``obs['proprio']`` (``None`` when there is none)."""
    if proprio is None:
        return None
    if not isinstance(proprio, dict) or "ee_pos" not in proprio or "gripper_width" not in proprio:
        raise ValueError("obs['proprio'] must be a dict with 'ee_pos' (3,), 'ee_yaw' (1,) and 'gripper_width' (1,)")
    ee = np.asarray(proprio["ee_pos"], dtype=float).reshape(-1)
    if ee.shape != (3,) or not np.all(np.isfinite(ee)):
        raise ValueError(f"obs['proprio']['ee_pos'] must be 3 finite numbers, got {proprio['ee_pos']!r}")
    yaw = _scalar(proprio.get("ee_yaw", 0.0), "ee_yaw")
    return RobotState(
        (float(ee[0]), float(ee[1]), float(ee[2])), yaw, _scalar(proprio["gripper_width"], "gripper_width")
    )


def _episode_step(info: dict[str, Any]) -> int | None:
    """The env's control step in ``info["steps"]`` (0 right after a reset); ``None`` when there is none."""
    step = info.get("steps")
    return int(step) if isinstance(step, int | np.integer) and not isinstance(step, bool) else None


def held_object(objects: tuple[DetectedObject, ...], robot: RobotState) -> str | None:
    """The block between the fingers: gripper part-closed and a block centred at the TCP."""
    if not GRIPPER_CLOSED < robot.gripper_width < GRIPPER_OPEN:
        return None
    ee = np.asarray(robot.ee_position)
    best: tuple[float, str] | None = None
    for o in objects:
        if o.shape != "block":
            continue
        dxy = float(np.hypot(o.position[0] - ee[0], o.position[1] - ee[1]))
        dz = abs(o.position[2] - ee[2])
        fits = robot.gripper_width <= o.size[0] + 0.015
        if dxy <= HOLD_XY and dz <= HOLD_Z and fits and (best is None or dxy < best[0]):
            best = (dxy, o.name)
    return best[1] if best else None


class VisionPerceiver:
    """Scene graphs from rgb + depth of every camera in ``obs`` (the default perceiver).

    Keeps tracks between calls so an object keeps the name it was first given for the whole
    episode, however its size is measured later (lifted, tilted, half hidden, carried far between
    two calls). Call :meth:`reset` at the start of each episode; an ``info["steps"]`` lower than
    the last one, or a step-0 frame other than the last, is taken as a reset too.

    With ``remember`` (the default), an object seen before and now hidden behind something nearer
    in every camera (the arm) is still reported at its last position, with half its confidence,
    and listed in ``scene.meta["remembered"]``; an object whose spot is now seen empty is not.

    Args:
        remember: report tracked objects hidden by an occluder (see above).
    """

    def __init__(self, remember: bool = True) -> None:
        self.tracker = Tracker()
        self.remember = remember
        self._held: str | None = None
        self._step: int | None = None  # info["steps"] of the last call
        self._start: np.ndarray | None = None  # a depth image of the last step-0 frame

    def reset(self) -> None:
        """Forget the tracked objects and free their names (call at the start of an episode)."""
        self.tracker.reset()
        self._held = None
        self._step = self._start = None

    def _new_episode(self, step: int | None, views: list[CameraView]) -> bool:
        """Whether the env was reset since the last call: its step count went back, or a new step-0 frame."""
        last, self._step = self._step, step
        if step != 0:
            return step is not None and last is not None and step < last
        start, self._start = self._start, views[0].depth
        if last is not None and last > 0:
            return True
        return start is not None and not np.array_equal(start, self._start)  # the same frame again is no reset

    def hypotheses(self, obs: dict[str, Any], info: dict[str, Any]) -> list[Hypothesis]:
        """Unnamed object hypotheses of one observation (no tracking state is touched)."""
        return self._hypotheses(camera_views(obs, info))

    @staticmethod
    def _hypotheses(views: list[CameraView]) -> list[Hypothesis]:
        frags: list[Fragment] = []
        for view in views:
            frags.extend(fragments(view))
        return fuse(frags)

    def _remembered(self, views: list[CameraView]) -> list[tuple[str, Hypothesis]]:
        """Tracked objects not seen now because something stands in front of them in every camera."""
        if not self.remember:
            return []
        out = []
        for track in self.tracker.unseen():
            if track.name == self._held:
                continue  # it moved with the hand: its last position is stale
            h = track.last
            top = (h.position[0], h.position[1], h.position[2] + h.size[2] / 2)
            looks = [d for d in (view.depth_at(top) for view in views) if d is not None]
            if looks and all(observed < expected - OCCLUDER_MARGIN for expected, observed in looks):
                out.append((track.name, replace(h, confidence=h.confidence * REMEMBERED_CONFIDENCE)))
        return out

    def perceive(self, obs: dict[str, Any], info: dict[str, Any]) -> SceneGraph:
        """The scene graph of one observation.

        Raises:
            ValueError: when a frame or camera matrix is malformed (the message names the camera
                and the expected shape). Invalid depth pixels (NaN, inf) are ignored; a frame
                with no valid depth yields no objects.
        """
        views = camera_views(obs, info)
        step = _episode_step(info)
        if self._new_episode(step, views):
            self.tracker.reset()
            self._held = None
        named = self.tracker.update(self._hypotheses(views), step)
        remembered = self._remembered(views)
        named = sorted(named + remembered, key=lambda nh: nh[0])
        objects = tuple(
            DetectedObject(
                name,
                h.colour,
                h.shape,
                tuple(round(v, 4) for v in h.position),  # type: ignore[arg-type]
                h.size,
                round(h.confidence, 3),
            )
            for name, h in named
        )
        robot = robot_state(obs.get("proprio"))
        holding = held_object(objects, robot) if robot is not None else None
        if robot is not None and holding is not None:
            robot = RobotState(robot.ee_position, robot.ee_yaw, robot.gripper_width, holding)
        self._held = holding
        meta = {"source": "vision", "cameras": sorted(obs["rgb"]), "remembered": sorted(n for n, _ in remembered)}
        return SceneGraph(objects, compute_relations(objects, holding), robot, meta)
