"""``embodied/PybulletTabletop-v0``: the PyBullet twin of ``embodied/Tabletop-v0``.

Same constructor, observation ``Dict``, ``info`` keys, action semantics, world frame, cameras,
home pose, tasks and ground-truth API as :class:`envs.tabletop.env.TabletopEnv`; only the
simulator differs. Each env owns one ``p.DIRECT`` physics client (never the global default),
steps physics at 240 Hz and renders headless with TinyRenderer (or the EGL plugin when asked).
Objects are held by friction between the fingers only: nothing glues them to the gripper.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p
from gymnasium import spaces

from envs.common import (
    BACKGROUND_ID,
    DEFAULT_CAMERAS,
    FIRST_OBJECT_ID,
    MAX_JOINT_SPEED,
    MAX_OBJECTS,
    MODALITIES,
    ROBOT_ID,
    TABLE_ID,
    ControllerConfig,
    make_observation_space,
    tcp_yaw,
)
from envs.errors import PhysicsDivergence
from envs.pybullet.camera import RENDERERS, PybulletCameraRig
from envs.pybullet.robot import PandaController
from envs.pybullet.scene import TIMESTEP, PropBody, build_props, build_static, load_panda
from envs.scene_spec import SceneSpec
from envs.tasks import TaskInstance, WorldState, sample_task
from envs.tasks.predicates import ObjectState

log = logging.getLogger(__name__)

Step = tuple[dict[str, Any], float, bool, bool, dict[str, Any]]


class PybulletTabletopEnv(gym.Env[dict[str, Any], np.ndarray]):
    """Tabletop manipulation with a Panda arm in PyBullet (spaces as in ``envs.tabletop.env``).

    Args:
        task: task family name (``envs.tasks.FAMILIES``).
        seed: seed of the first reset when ``reset`` is called without one.
        instruction: new wording for the sampled task; scene and success predicate stay.
        cameras: which of the scene cameras to render (``front``, ``top``).
        image_size: ``(height, width)`` of every camera image.
        modalities: which of ``rgb``, ``depth``, ``segmentation`` to render each step.
        control_hz: control rate; physics runs at 240 Hz underneath.
        max_steps: steps before the episode is truncated.
        terminate_on_success: end the episode as soon as the goal holds.
        raise_on_divergence: raise :class:`PhysicsDivergence` instead of ending the episode.
        controller: limits of the end-effector controller.
        render_mode: ``"rgb_array"`` (the first camera) or ``None``.
        renderer: ``"tiny"`` (software, deterministic; the default) or ``"egl"`` (GPU plugin).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012 - Gymnasium's attribute

    def __init__(
        self,
        task: str = "pick_place",
        seed: int | None = None,
        instruction: str | None = None,
        cameras: tuple[str, ...] = ("front", "top"),
        image_size: tuple[int, int] = (240, 320),
        modalities: tuple[str, ...] = MODALITIES,
        control_hz: float = 20.0,
        max_steps: int = 2000,
        terminate_on_success: bool = True,
        raise_on_divergence: bool = False,
        controller: ControllerConfig | None = None,
        render_mode: str | None = None,
        renderer: str = "tiny",
    ) -> None:
        sample_task(task, 0)  # fail now, with the list of valid tasks, on an unknown name
        known = tuple(c.name for c in DEFAULT_CAMERAS)
        if not cameras or any(c not in known for c in cameras):
            raise ValueError(f"cameras={cameras!r}: choose one or more of {known}")
        if any(m not in MODALITIES for m in modalities):
            raise ValueError(f"modalities={modalities!r}: choose from {MODALITIES}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: supported modes are {self.metadata['render_modes']}")
        if renderer not in RENDERERS:
            raise ValueError(f"renderer={renderer!r}: choose one of {RENDERERS}")
        substeps = round(1.0 / (control_hz * TIMESTEP))
        if substeps < 1:
            raise ValueError(f"control_hz={control_hz} is faster than the {1 / TIMESTEP:.0f} Hz physics")
        self.task_name, self._first_seed, self._instruction = task, seed, instruction
        self.cameras, self.image_size, self.modalities = tuple(cameras), tuple(image_size), tuple(modalities)
        self.substeps, self.control_dt = substeps, substeps * TIMESTEP
        self.max_steps, self.terminate_on_success = max_steps, terminate_on_success
        self.raise_on_divergence, self.render_mode, self.renderer = raise_on_divergence, render_mode, renderer
        self.controller_config = controller or ControllerConfig()
        self.observation_space = make_observation_space(self.cameras, self.image_size, self.modalities)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(5,), dtype=np.float32)
        self.client = int(p.connect(p.DIRECT))
        self.task: TaskInstance | None = None
        self._rig: PybulletCameraRig | None = None
        self._scene_key: SceneSpec | None = None
        self._snapshot = -1
        self._steps, self.sim_time = 0, 0.0
        self._needs_reset = True

    # ------------------------------------------------------------ lifecycle
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """New episode. ``options={"task": TaskInstance}`` loads a hand-made task (tests, chains)."""
        if seed is None and self._first_seed is not None and self.task is None:
            seed = self._first_seed
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = sample_task(self.task_name, self.np_random, self._instruction)
        elif not isinstance(task, TaskInstance):
            raise TypeError(f"options['task'] must be an envs.tasks.TaskInstance, got {type(task).__name__}")
        if len(task.scene.objects) > MAX_OBJECTS:
            raise ValueError(f"a scene holds at most {MAX_OBJECTS} objects, got {len(task.scene.objects)}")
        self.task = task
        self._load_scene(task.scene)
        self.controller.reset()
        self._simulate()  # let props settle onto the table
        self._steps, self.sim_time, self._needs_reset = 0, self.control_dt, False
        return self._observation(), self._info(clipped=False, action_clipped=False, error=None)

    def _load_scene(self, scene: SceneSpec) -> None:
        """Rebuild the world for a new scene; restore the built snapshot for the same one."""
        if scene == self._scene_key and self._snapshot >= 0:
            p.restoreState(self._snapshot, physicsClientId=self.client)
            return
        c = self.client
        p.resetSimulation(physicsClientId=c)
        self._floor, self._table = build_static(c)
        self.robot = load_panda(c)
        self.props: tuple[PropBody, ...] = build_props(c, scene)
        self.controller = PandaController(c, self.robot, self.controller_config)
        self.controller.reset()
        self._prop_of_uid = {b.uid: b for b in self.props}
        self.segmentation_ids = {b.name: FIRST_OBJECT_ID + i for i, b in enumerate(self.props)}
        self._body_instance = {self._floor: BACKGROUND_ID, self._table: TABLE_ID, self.robot: ROBOT_ID}
        self._body_instance.update({b.uid: self.segmentation_ids[b.name] for b in self.props})
        if self._rig is not None:
            self._rig.set_instances(self._body_instance)
        self._snapshot = int(p.saveState(physicsClientId=c))
        self._scene_key = scene

    @property
    def rig(self) -> PybulletCameraRig:
        """The camera renderer, created on first use."""
        if self._rig is None:
            h, w = self.image_size
            specs = tuple(c for name in self.cameras for c in DEFAULT_CAMERAS if c.name == name)
            self._rig = PybulletCameraRig(self.client, specs, h, w, self.modalities or ("rgb",), self.renderer)
            self._rig.set_instances(getattr(self, "_body_instance", {}))
        return self._rig

    def close(self) -> None:
        if self.client >= 0 and p.isConnected(physicsClientId=self.client):
            p.disconnect(physicsClientId=self.client)
        self.client = -1

    # ------------------------------------------------------------------ step
    def _simulate(self) -> None:
        for _ in range(self.substeps):
            p.stepSimulation(physicsClientId=self.client)

    def step(self, action: np.ndarray) -> Step:
        if self._needs_reset or self.task is None:
            raise RuntimeError("call reset() before step(): the episode has ended or never started")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (5,):
            raise ValueError(f"action must have 5 numbers (dx, dy, dz, dyaw, gripper), got shape {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or Inf: {a.tolist()}")
        clipped_a = np.clip(a, -1.0, 1.0)
        action_clipped = bool(np.any(clipped_a != a))
        before = self._save_state()
        clipped = self.controller.apply(clipped_a)
        self._simulate()
        self._steps += 1
        self.sim_time += self.control_dt
        error = self._divergence()
        if error is not None:
            if self.raise_on_divergence:
                self._needs_reset = True
                raise PhysicsDivergence(error)
            log.warning("episode ended: %s", error)
            self._restore_at_rest(before)
        obs = self._observation()
        info = self._info(clipped, action_clipped, error)
        success = bool(info["success"])
        terminated = error is not None or (success and self.terminate_on_success)
        truncated = not terminated and self._steps >= self.max_steps
        self._needs_reset = terminated or truncated
        return obs, float(success), terminated, truncated, info

    def _save_state(self) -> dict[int, tuple[Any, Any]]:
        """Pre-step poses of every body and joint (cheap; restored after a divergence)."""
        c = self.client
        saved: dict[int, tuple[Any, Any]] = {
            b.uid: p.getBasePositionAndOrientation(b.uid, physicsClientId=c) for b in self.props
        }
        saved[-1] = (self.controller.joint_state()[0], None)
        return saved

    def _restore_at_rest(self, saved: dict[int, tuple[Any, Any]]) -> None:
        """After a divergence: the pre-step pose at rest, so the final observation is valid."""
        c = self.client
        q = saved.pop(-1)[0]
        if not np.all(np.isfinite(q)):
            q = np.array(self.controller.rest)
        for j, v in zip(self.controller.joints, q, strict=True):
            p.resetJointState(self.robot, j, float(v), 0.0, physicsClientId=c)
        for uid, (pos, orn) in saved.items():
            p.resetBasePositionAndOrientation(uid, pos, orn, physicsClientId=c)
            p.resetBaseVelocity(uid, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=c)

    def _divergence(self) -> str | None:
        c = self.client
        q, qd = self.controller.joint_state()
        vel = [np.concatenate(p.getBaseVelocity(b.uid, physicsClientId=c)) for b in self.props if not b.fixed]
        pos = [p.getBasePositionAndOrientation(b.uid, physicsClientId=c)[0] for b in self.props]
        state = np.concatenate([q, qd, *vel, np.ravel(pos)])
        if not np.all(np.isfinite(state)):
            return "physics diverged: PyBullet produced NaN/Inf in the state"
        speed = float(np.abs(np.concatenate([qd, *vel])).max())
        if speed > MAX_JOINT_SPEED:
            return f"physics unstable: joint speed {speed:.3g} exceeds {MAX_JOINT_SPEED:g}"
        return None

    # ----------------------------------------------------------- observation
    def _observation(self) -> dict[str, Any]:
        obs: dict[str, Any] = self.rig.render() if self.modalities else {}
        pos, (x, y, z, w) = self.controller.tcp_pose()
        q, qd = self.controller.joint_state()
        mat = np.array(p.getMatrixFromQuaternion((x, y, z, w)))
        obs["proprio"] = {
            "ee_pos": pos,
            "ee_quat": np.array([w, x, y, z]),  # (w, x, y, z) as MuJoCo reports it
            "ee_yaw": np.array([tcp_yaw(mat)]),
            "gripper_width": np.array([np.clip(q[7:].sum(), 0.0, 0.1)]),
            "joint_pos": q,
            "joint_vel": qd,
        }
        return obs

    def _info(self, clipped: bool, action_clipped: bool, error: str | None) -> dict[str, Any]:
        assert self.task is not None
        cameras = self.rig.camera_info() if self.modalities else {}
        return {
            "cameras": cameras,
            "segmentation_ids": dict(self.segmentation_ids),
            "task": self.task.family,
            "instruction": self.task.instruction,
            "success": self.task.success(self.world_state()),
            "clipped": clipped,
            "action_clipped": action_clipped,
            "physics_error": error,
            "sim_time": float(self.sim_time),
            "steps": self._steps,
        }

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array" or self.task is None:
            return None
        return self.rig.render_rgb(self.cameras[0])

    # ---------------------------------------------------------- ground truth
    def held_object(self) -> str | None:
        """Name of the prop touched by both fingers, if any (ground truth)."""
        c, touching = self.client, []
        for link in self.controller.finger_links:
            points = p.getContactPoints(bodyA=self.robot, linkIndexA=link, physicsClientId=c)
            touching.append({pt[2] for pt in points})
        for uid in sorted(touching[0] & touching[1]):
            if uid in self._prop_of_uid:
                return self._prop_of_uid[uid].name
        return None

    def world_state(self) -> WorldState:
        """Every prop's pose (centre of its bottom face, yaw) and what the gripper holds."""
        objects = {}
        assert self.task is not None
        for spec, body in zip(self.task.scene.objects, self.props, strict=True):
            com, quat = p.getBasePositionAndOrientation(body.uid, physicsClientId=self.client)
            rot = p.getMatrixFromQuaternion(quat)
            bottom = np.array(com) - body.com_offset * np.array([rot[2], rot[5], rot[8]])
            yaw = math.atan2(rot[3], rot[0])
            objects[spec.name] = ObjectState(spec, (float(bottom[0]), float(bottom[1]), float(bottom[2])), yaw)
        return WorldState(objects, self.held_object())

    def _body_name(self, uid: int, link: int) -> str:
        if uid in self._prop_of_uid:
            return f"obj:{self._prop_of_uid[uid].name}"
        if uid == self.robot:
            return "panda_link0" if link < 0 else self.controller.link_names[link]
        return "world"

    def contacts(self) -> list[tuple[str, str]]:
        """Pairs of touching bodies by name (ground truth, for debugging and tests)."""
        points = p.getContactPoints(physicsClientId=self.client)
        return [(self._body_name(pt[1], pt[3]), self._body_name(pt[2], pt[4])) for pt in points]

    def set_object_pose(self, name: str, pos: tuple[float, float, float]) -> None:
        """Teleport a free prop (perturbation tests and suites; not for agents)."""
        assert self.task is not None
        self.task.scene.get(name)
        body = next(b for b in self.props if b.name == name)
        if body.fixed:
            raise ValueError(f"{name!r} is fixed to the table and cannot be moved")
        c = self.client
        _, quat = p.getBasePositionAndOrientation(body.uid, physicsClientId=c)
        rot = p.getMatrixFromQuaternion(quat)
        com = np.array(pos, dtype=float) + body.com_offset * np.array([rot[2], rot[5], rot[8]])
        p.resetBasePositionAndOrientation(body.uid, com.tolist(), quat, physicsClientId=c)
        p.resetBaseVelocity(body.uid, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=c)

    def with_task(self, task: TaskInstance) -> TaskInstance:
        """Swap the goal/instruction of the running episode (same scene), e.g. for task chains."""
        assert self.task is not None
        if task.scene.names != self.task.scene.names:
            raise ValueError("with_task keeps the scene: the new task must name the same objects")
        self.task = replace(task, scene=self.task.scene)
        return self.task
