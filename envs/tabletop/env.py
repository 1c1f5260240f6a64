"""``embodied/Tabletop-v0``: a Franka Panda at a table of blocks and containers, in MuJoCo.

Observation (a ``Dict``): ``rgb`` / ``depth`` / ``segmentation`` each a dict of camera name ->
image (uint8 HxWx3, float32 metres HxW, int32 instance ids HxW), and ``proprio`` (tool pose,
gripper width, joint positions and velocities). Camera intrinsics and OpenCV-convention
extrinsics are in ``info["cameras"]``; ``info["segmentation_ids"]`` maps object names to ids.

Action: ``(dx, dy, dz, dyaw, gripper)`` in ``[-1, 1]``; see :mod:`envs.tabletop.controller`.
``gripper`` -1 opens fully, +1 closes. Each step advances ``control_dt`` seconds of physics.

Ground truth (``env.unwrapped.world_state()``, ``.held_object()``, ``.contacts()``,
``.set_object_pose()``; declared on :class:`~envs.base.TabletopEnvBase`) is for success
predicates, perturbations and the privileged perception baseline only.
"""

from __future__ import annotations

import logging
from typing import Any

import mujoco
import numpy as np

from envs.base import TabletopEnvBase
from envs.common import DEFAULT_CAMERAS, FIRST_OBJECT_ID, MAX_JOINT_SPEED, ROBOT_ID, TABLE_ID, tcp_yaw
from envs.config import EnvConfig
from envs.scene_spec import SceneSpec
from envs.tabletop.camera import CameraRig
from envs.tabletop.controller import EndEffectorController, index_span
from envs.tabletop.robot import FINGER_BODIES, TCP_SITE
from envs.tabletop.scene import TIMESTEP, body_name, build_model
from envs.tasks import TaskInstance, WorldState
from envs.tasks.predicates import GoalCheck, RestingPoses

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

#: As an index of ``MjData.warning.number``.
BAD_STATE_ROWS = index_span(BAD_STATE_WARNINGS)


class TabletopEnv(TabletopEnvBase):
    """Tabletop manipulation with a Panda arm (see the module docstring for the spaces).

    Made with an :class:`~envs.config.EnvConfig` or its fields as keyword arguments (see
    :class:`~envs.base.TabletopEnvBase`); physics runs at 500 Hz.
    """

    physics_timestep = TIMESTEP

    def __init__(self, config: EnvConfig | None = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self._rig: CameraRig | None = None
        self._scene_key: SceneSpec | None = None

    # ------------------------------------------------------------ lifecycle
    def _start_episode(self, task: TaskInstance) -> None:
        self._load_scene(task.scene)
        assert self.model is not None and self.data is not None
        mujoco.mj_resetData(self.model, self.data)
        self.controller.reset(self.data)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)  # let props settle onto the table

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
        self._resting = RestingPoses(scene.objects)
        self._goal_task: TaskInstance | None = None  # the task _goal_check was compiled for
        self._goal_check: GoalCheck | None = None
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
        self._cameras: dict[str, Any] | None = None
        self._bind_views()

    def _bind_views(self) -> None:
        """Views into ``self.data`` that every step reads (they live as long as ``self.data``), and the
        indices into them as slices where the rows are consecutive (a slice gives a view, not a copy)."""
        d = self.data
        assert d is not None
        self._qpos, self._qvel, self._warning_counts = d.qpos, d.qvel, d.warning.number
        self._tcp_xpos, self._tcp_xmat = d.site_xpos[self._tcp], d.site_xmat[self._tcp]
        self._obj_rows = index_span(self._obj_body)
        self._proprio_qpos, self._proprio_qvel = index_span(self._qpos_arm), index_span(self._qvel_arm)
        self._finger_qpos = self.controller.finger_qpos.tolist()

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
    def _snapshot(self) -> int:
        """Keep the pre-step joints; return MuJoCo's bad-state warning count."""
        np.copyto(self._qpos_prev, self._qpos)
        np.copyto(self._qvel_prev, self._qvel)
        return self._bad_state_warnings()

    def _advance(self, action: np.ndarray) -> bool:
        assert self.model is not None and self.data is not None
        clipped = self.controller.apply(self.data, action)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        return clipped

    def _restore(self, snapshot: int) -> None:
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
        return sum(self._warning_counts[BAD_STATE_ROWS].tolist())  # 4 ints: cheaper summed in Python

    def _divergence(self, snapshot: int) -> str | None:
        if self._bad_state_warnings() > snapshot:
            return "physics diverged: MuJoCo found NaN/Inf or huge values in the state and reset it"
        speed = float(np.abs(self._qvel).max())  # NaN/Inf are caught by MuJoCo's own checks above
        if speed > MAX_JOINT_SPEED:
            return f"physics unstable: joint speed {speed:.3g} exceeds {MAX_JOINT_SPEED:g}"
        return None

    # ----------------------------------------------------------- observation
    def _observation(self) -> dict[str, Any]:
        d = self.data
        assert d is not None
        obs: dict[str, Any] = self.rig.render(d) if self.modalities else {}
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self._tcp_xmat)
        qpos = self._qpos
        width = sum(qpos[self._finger_qpos].tolist())
        # Fresh arrays every call: a caller may keep the previous observation.
        obs["proprio"] = {
            "ee_pos": self._tcp_xpos.copy(),
            "ee_quat": quat,
            "ee_yaw": np.array([tcp_yaw(self._tcp_xmat)]),
            "gripper_width": np.array([min(max(width, 0.0), 0.1)]),
            "joint_pos": qpos[self._proprio_qpos].copy(),
            "joint_vel": self._qvel[self._proprio_qvel].copy(),
        }
        return obs

    def _camera_info(self) -> dict[str, Any]:
        assert self.data is not None
        if self._cameras is None:  # fixed cameras: computed once per scene, copied per call
            self._cameras = self.rig.camera_info(self.data) if self.modalities else {}
        return {
            c: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in ci.items()}
            for c, ci in self._cameras.items()
        }

    def _sim_time(self) -> float:
        assert self.data is not None
        return float(self.data.time)

    def _render_frame(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.data is None:
            return None
        return self.rig.render_rgb(self.data, self.cameras[0])

    # ---------------------------------------------------------- ground truth
    def _success(self) -> bool:
        """``task.success(world_state())`` judged straight from ``data`` (see :class:`GoalCheck`): the
        same verdict without building the :class:`WorldState`, and without the contacts unless needed."""
        task, d = self.task, self.data
        assert task is not None and d is not None
        if task is not self._goal_task:  # a new episode's task, or one swapped in by with_task
            self._goal_task, self._goal_check = task, GoalCheck.compile(self._resting.specs, task.goal)
        if self._goal_check is None:
            return super()._success()  # a goal GoalCheck does not judge: the plain path (and its errors)
        rows = self._obj_rows
        return self._goal_check(d.xpos[rows].tolist(), d.xmat[rows].tolist(), self.held_object)

    def held_object(self) -> str | None:
        """Name of the prop touched by both fingers, if any (ground truth)."""
        d, m = self.data, self.model
        assert d is not None and m is not None
        if d.ncon == 0:
            return None
        left, right = self._finger_body
        touching_left: set[int] = set()
        touching_right: set[int] = set()
        for a, b in m.geom_bodyid[d.contact.geom[: d.ncon]].tolist():  # body pairs in contact
            if a == left:
                touching_left.add(b)
            elif a == right:
                touching_right.add(b)
            if b == left:
                touching_left.add(a)
            elif b == right:
                touching_right.add(a)
        for body in sorted(touching_left & touching_right):
            if body in self._obj_of_body:
                return self._obj_of_body[body]
        return None

    def world_state(self) -> WorldState:
        """Every prop's pose and what the gripper holds (ground truth)."""
        d = self.data
        assert d is not None
        objects = self._resting(d.xpos[self._obj_rows], d.xmat[self._obj_rows])
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
        # ``pos`` is where the prop rests (world_state's pos), not its body origin: they differ for a
        # block lying on another face than its own bottom.
        rests_at = np.array(self.world_state().get(name).pos)
        d.qpos[adr : adr + 3] = np.asarray(pos, dtype=float) + d.qpos[adr : adr + 3] - rests_at
        d.qvel[m.jnt_dofadr[joint] : m.jnt_dofadr[joint] + 6] = 0.0
        mujoco.mj_forward(m, d)
