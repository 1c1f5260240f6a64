"""``embodied/Tabletop-v0``: a Franka Panda at a table of blocks and containers, in MuJoCo.

Observation (a ``Dict``): ``rgb`` / ``depth`` / ``segmentation`` each a dict of camera name ->
image (uint8 HxWx3, float32 metres HxW, int32 instance ids HxW), and ``proprio`` (tool pose,
gripper width, joint positions and velocities). Camera intrinsics and OpenCV-convention
extrinsics are in ``info["cameras"]``; ``info["segmentation_ids"]`` maps object names to ids.

Action: ``(dx, dy, dz, dyaw, gripper)`` in ``[-1, 1]``; see :mod:`envs.tabletop.controller`.
``gripper`` -1 opens fully, +1 closes. Each step advances ``control_dt`` seconds of physics.

Ground truth (``env.unwrapped.world_state()``, ``.held_object()``, ``.contacts()``) is for
success predicates and the privileged perception baseline only.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from envs.common import (
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
from envs.scene_spec import SceneSpec
from envs.tabletop.camera import CameraRig
from envs.tabletop.controller import EndEffectorController
from envs.tabletop.robot import FINGER_BODIES, TCP_SITE
from envs.tabletop.scene import TIMESTEP, body_name, build_model
from envs.tasks import TaskInstance, WorldState, sample_task
from envs.tasks.predicates import ObjectState

log = logging.getLogger(__name__)

BAD_STATE_WARNINGS = [
    int(w)
    for w in (
        mujoco.mjtWarning.mjWARN_BADQPOS,
        mujoco.mjtWarning.mjWARN_BADQVEL,
        mujoco.mjtWarning.mjWARN_BADQACC,
        mujoco.mjtWarning.mjWARN_BADCTRL,
    )
]


class TabletopEnv(gym.Env[dict[str, Any], np.ndarray]):
    """Tabletop manipulation with a Panda arm (see the module docstring for the spaces).

    Args:
        task: task family name (``envs.tasks.FAMILIES``).
        seed: seed of the first reset when ``reset`` is called without one.
        instruction: new wording for the sampled task; scene and success predicate stay.
        cameras: which of the scene cameras to render (``front``, ``top``).
        image_size: ``(height, width)`` of every camera image.
        modalities: which of ``rgb``, ``depth``, ``segmentation`` to render each step.
        control_hz: control rate; physics runs at 500 Hz underneath.
        max_steps: steps before the episode is truncated.
        terminate_on_success: end the episode as soon as the goal holds.
        raise_on_divergence: raise :class:`PhysicsDivergence` instead of ending the episode.
        render_mode: ``"rgb_array"`` (the first camera) or ``None``.
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
    ) -> None:
        sample_task(task, 0)  # fail now, with the list of valid tasks, on an unknown name
        known = tuple(c.name for c in DEFAULT_CAMERAS)
        if not cameras or any(c not in known for c in cameras):
            raise ValueError(f"cameras={cameras!r}: choose one or more of {known}")
        if any(m not in MODALITIES for m in modalities):
            raise ValueError(f"modalities={modalities!r}: choose from {MODALITIES}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}: supported modes are {self.metadata['render_modes']}")
        substeps = round(1.0 / (control_hz * TIMESTEP))
        if substeps < 1:
            raise ValueError(f"control_hz={control_hz} is faster than the {1 / TIMESTEP:.0f} Hz physics")
        self.task_name, self._first_seed, self._instruction = task, seed, instruction
        self.cameras, self.image_size, self.modalities = tuple(cameras), tuple(image_size), tuple(modalities)
        self.substeps, self.control_dt = substeps, substeps * TIMESTEP
        self.max_steps, self.terminate_on_success = max_steps, terminate_on_success
        self.raise_on_divergence, self.render_mode = raise_on_divergence, render_mode
        self.controller_config = controller or ControllerConfig()
        self.observation_space = self._make_observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, shape=(5,), dtype=np.float32)
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self.task: TaskInstance | None = None
        self._rig: CameraRig | None = None
        self._scene_key: SceneSpec | None = None
        self._steps = 0
        self._needs_reset = True

    # ----------------------------------------------------------------- spaces
    def _make_observation_space(self) -> spaces.Dict:
        return make_observation_space(self.cameras, self.image_size, self.modalities)

    # ------------------------------------------------------------ lifecycle
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """New episode. ``options={"task": TaskInstance}`` loads a hand-made task (tests, chains)."""
        if seed is None and self._first_seed is not None and self.task is None:
            seed = self._first_seed
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task")
        if task is None:
            task = sample_task(self.task_name, self.np_random, self._instruction)
        elif not isinstance(task, TaskInstance):
            raise TypeError(f"options['task'] must be an envs.tasks.TaskInstance, got {type(task).__name__}")
        if len(task.scene.objects) > MAX_OBJECTS:
            raise ValueError(f"a scene holds at most {MAX_OBJECTS} objects, got {len(task.scene.objects)}")
        self.task = task
        self._load_scene(task.scene)
        assert self.model is not None and self.data is not None
        mujoco.mj_resetData(self.model, self.data)
        self.controller.reset(self.data)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)  # let props settle onto the table
        self._steps, self._needs_reset = 0, False
        obs = self._observation()
        return obs, self._info(clipped=False, action_clipped=False, error=None)

    def _load_scene(self, scene: SceneSpec) -> None:
        """Compile the scene (a few ms) unless the same scene is already loaded."""
        if scene == self._scene_key and self.model is not None:
            return
        self._close_rig()
        h, w = self.image_size
        self.model = build_model(scene, DEFAULT_CAMERAS, max_image=(h, w))
        self.data = mujoco.MjData(self.model)
        self._scene_key = scene
        self.controller = EndEffectorController(self.model, self.controller_config)
        m = self.model
        self._obj_names = scene.names
        self._obj_specs = scene.objects
        self._obj_body = np.array([m.body(body_name(n)).id for n in self._obj_names], dtype=int)
        self._finger_body = tuple(m.body(b).id for b in FINGER_BODIES)
        self._obj_of_body = {int(b): n for b, n in zip(self._obj_body, self._obj_names, strict=True)}
        self._tcp = m.site(TCP_SITE).id
        self._qpos_arm = np.concatenate((self.controller.arm_qpos, self.controller.finger_qpos))
        self._qvel_arm = np.array([m.jnt_dofadr[m.jnt_qposadr.tolist().index(a)] for a in self._qpos_arm])
        self._geom_instance = self._instance_ids()
        self.segmentation_ids = {n: FIRST_OBJECT_ID + i for i, n in enumerate(self._obj_names)}
        self._qpos_prev = np.zeros(m.nq)
        self._qvel_prev = np.zeros(m.nv)
        self._camera_info: dict[str, Any] | None = None

    def _instance_ids(self) -> np.ndarray:
        m = self.model
        assert m is not None
        ids = np.zeros(m.ngeom, dtype=np.int32)
        obj_of_body = {int(b): FIRST_OBJECT_ID + i for i, b in enumerate(self._obj_body)}
        for g in range(m.ngeom):
            body = int(m.geom_bodyid[g])
            if body in obj_of_body:
                ids[g] = obj_of_body[body]
            elif m.geom(g).name == "table":
                ids[g] = TABLE_ID
            elif m.body(body).name.startswith("panda_") or (body == 0 and m.geom(g).name not in ("floor", "table")):
                ids[g] = ROBOT_ID
        return ids

    @property
    def rig(self) -> CameraRig:
        """The camera renderer, created on first use (so envs without images need no GL)."""
        if self._rig is None:
            assert self.model is not None
            h, w = self.image_size
            modalities = self.modalities or ("rgb",)
            self._rig = CameraRig(self.model, self.cameras, h, w, modalities, self._geom_instance)
        return self._rig

    def _close_rig(self) -> None:
        if self._rig is not None:
            self._rig.close()
            self._rig = None

    def close(self) -> None:
        self._close_rig()

    # ------------------------------------------------------------------ step
    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self._needs_reset or self.model is None or self.data is None:
            raise RuntimeError("call reset() before step(): the episode has ended or never started")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (5,):
            raise ValueError(f"action must have 5 numbers (dx, dy, dz, dyaw, gripper), got shape {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or Inf: {a.tolist()}")
        clipped_a = np.clip(a, -1.0, 1.0)
        action_clipped = bool(np.any(clipped_a != a))
        d, m = self.data, self.model
        np.copyto(self._qpos_prev, d.qpos)
        np.copyto(self._qvel_prev, d.qvel)
        clipped = self.controller.apply(d, clipped_a)
        bad_before = self._bad_state_warnings()
        mujoco.mj_step(m, d, nstep=self.substeps)
        self._steps += 1
        error = self._divergence(bad_before)
        if error is not None:
            if self.raise_on_divergence:
                self._needs_reset = True
                raise PhysicsDivergence(error)
            log.warning("episode ended: %s", error)
            self._restore_last_good_state()
        obs = self._observation()
        info = self._info(clipped, action_clipped, error)
        success = bool(info["success"])
        terminated = error is not None or (success and self.terminate_on_success)
        truncated = not terminated and self._steps >= self.max_steps
        self._needs_reset = terminated or truncated
        return obs, float(success), terminated, truncated, info

    def _restore_last_good_state(self) -> None:
        """After a divergence: the pre-step pose at rest, so the final observation is valid."""
        m, d = self.model, self.data
        assert m is not None and d is not None
        if np.all(np.isfinite(self._qpos_prev)):
            d.qpos[:] = self._qpos_prev
        else:
            mujoco.mj_resetData(m, d)
            self.controller.reset(d)
        d.qvel[:] = 0.0
        mujoco.mj_forward(m, d)

    def _bad_state_warnings(self) -> int:
        assert self.data is not None
        return int(self.data.warning.number[BAD_STATE_WARNINGS].sum())

    def _divergence(self, bad_before: int) -> str | None:
        d = self.data
        assert d is not None
        if self._bad_state_warnings() > bad_before:
            return "physics diverged: MuJoCo found NaN/Inf or huge values in the state and reset it"
        speed = float(np.abs(d.qvel).max())  # NaN/Inf are caught by MuJoCo's own checks above
        if speed > MAX_JOINT_SPEED:
            return f"physics unstable: joint speed {speed:.3g} exceeds {MAX_JOINT_SPEED:g}"
        return None

    # ----------------------------------------------------------- observation
    def _observation(self) -> dict[str, Any]:
        d = self.data
        assert d is not None
        obs: dict[str, Any] = self.rig.render(d) if self.modalities else {}
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, d.site_xmat[self._tcp])
        fingers = d.qpos[self.controller.finger_qpos]
        obs["proprio"] = {
            "ee_pos": d.site_xpos[self._tcp].copy(),
            "ee_quat": quat,
            "ee_yaw": np.array([tcp_yaw(d.site_xmat[self._tcp])]),
            "gripper_width": np.array([np.clip(fingers.sum(), 0.0, 0.1)]),
            "joint_pos": d.qpos[self._qpos_arm].copy(),
            "joint_vel": d.qvel[self._qvel_arm].copy(),
        }
        return obs

    def _info(self, clipped: bool, action_clipped: bool, error: str | None) -> dict[str, Any]:
        assert self.task is not None and self.data is not None
        if self._camera_info is None:
            self._camera_info = self.rig.camera_info(self.data) if self.modalities else {}
        cameras = {
            c: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in ci.items()}
            for c, ci in self._camera_info.items()
        }
        return {
            "cameras": cameras,
            "segmentation_ids": dict(self.segmentation_ids),
            "task": self.task.family,
            "instruction": self.task.instruction,
            "success": self.task.success(self.world_state()),
            "clipped": clipped,
            "action_clipped": action_clipped,
            "physics_error": error,
            "sim_time": float(self.data.time),
            "steps": self._steps,
        }

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        if self.render_mode != "rgb_array" or self.data is None:
            return None
        return self.rig.render_rgb(self.data, self.cameras[0])

    # ---------------------------------------------------------- ground truth
    def held_object(self) -> str | None:
        """Name of the prop touched by both fingers, if any (ground truth)."""
        d, m = self.data, self.model
        assert d is not None and m is not None
        if d.ncon == 0:
            return None
        pairs = m.geom_bodyid[d.contact.geom[: d.ncon]]
        left, right = self._finger_body
        touching_left = set(pairs[pairs[:, 0] == left, 1].tolist()) | set(pairs[pairs[:, 1] == left, 0].tolist())
        touching_right = set(pairs[pairs[:, 0] == right, 1].tolist()) | set(pairs[pairs[:, 1] == right, 0].tolist())
        for body in sorted(touching_left & touching_right):
            if body in self._obj_of_body:
                return self._obj_of_body[body]
        return None

    def world_state(self) -> WorldState:
        """Every prop's pose and what the gripper holds (ground truth)."""
        d = self.data
        assert d is not None
        pos = d.xpos[self._obj_body].tolist()
        mats = d.xmat[self._obj_body]
        yaws = np.arctan2(mats[:, 3], mats[:, 0]).tolist()
        objects = {
            spec.name: ObjectState(spec, (p[0], p[1], p[2]), yaw)
            for spec, p, yaw in zip(self._obj_specs, pos, yaws, strict=True)
        }
        return WorldState(objects, self.held_object())

    def contacts(self) -> list[tuple[str, str]]:
        """Pairs of touching bodies by name (ground truth, for debugging and tests)."""
        d, m = self.data, self.model
        assert d is not None and m is not None
        return [(m.body(m.geom_bodyid[c.geom1]).name, m.body(m.geom_bodyid[c.geom2]).name) for c in d.contact[: d.ncon]]

    def set_object_pose(self, name: str, pos: tuple[float, float, float]) -> None:
        """Teleport a free prop (perturbation tests and suites; not for agents)."""
        m, d = self.model, self.data
        assert m is not None and d is not None and self.task is not None
        self.task.scene.get(name)
        joint = m.body(body_name(name)).jntadr[0]
        if joint < 0:
            raise ValueError(f"{name!r} is fixed to the table and cannot be moved")
        adr = m.jnt_qposadr[joint]
        d.qpos[adr : adr + 3] = pos
        d.qvel[m.jnt_dofadr[joint] : m.jnt_dofadr[joint] + 6] = 0.0
        mujoco.mj_forward(m, d)

    def with_task(self, task: TaskInstance) -> TaskInstance:
        """Swap the goal/instruction of the running episode (same scene), e.g. for task chains."""
        assert self.task is not None
        if task.scene.names != self.task.scene.names:
            raise ValueError("with_task keeps the scene: the new task must name the same objects")
        self.task = replace(task, scene=self.task.scene)
        return self.task
