"""``embodied/PybulletTabletop-v0``: the PyBullet twin of ``embodied/Tabletop-v0``.

Same constructor, observation ``Dict``, ``info`` keys, action semantics, world frame, cameras,
home pose, tasks and ground-truth API as :class:`envs.tabletop.env.TabletopEnv`; only the
simulator differs. Each env owns one ``p.DIRECT`` physics client (never the global default),
steps physics at 240 Hz and renders headless with TinyRenderer (or the EGL plugin when asked).
Objects are held by friction between the fingers only: nothing glues them to the gripper.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pybullet as p

from envs.base import TabletopEnvBase
from envs.common import BACKGROUND_ID, DEFAULT_CAMERAS, FIRST_OBJECT_ID, MAX_JOINT_SPEED, ROBOT_ID, TABLE_ID, tcp_yaw
from envs.config import EnvConfig
from envs.errors import RenderingUnavailable
from envs.pybullet.camera import RENDERERS, PybulletCameraRig, forget_egl, load_egl, quiet_stdout
from envs.pybullet.robot import PandaController
from envs.pybullet.scene import TIMESTEP, PropBody, build_props, build_static, load_panda
from envs.scene_spec import SceneSpec
from envs.tasks import TaskInstance, WorldState
from envs.tasks.predicates import RestingPoses

log = logging.getLogger(__name__)


class PybulletTabletopEnv(TabletopEnvBase):
    """Tabletop manipulation with a Panda arm in PyBullet (spaces as in ``envs.tabletop.env``).

    Made with an :class:`~envs.config.EnvConfig` or its fields as keyword arguments (see
    :class:`~envs.base.TabletopEnvBase`); physics runs at 240 Hz. One more argument:

    Args:
        renderer: ``"auto"`` (the default: the EGL plugin where it loads, else TinyRenderer, with the
            reason logged), ``"egl"`` (PyBullet's EGL plugin: OpenGL, on a GPU or Mesa's software
            llvmpipe; 3-4× faster than TinyRenderer with two cameras here) or ``"tiny"`` (PyBullet's
            CPU TinyRenderer).
    """

    physics_timestep = TIMESTEP

    def __init__(self, config: EnvConfig | None = None, *, renderer: str = "auto", **kwargs: Any) -> None:
        if renderer not in (*RENDERERS, "auto"):
            raise ValueError(f"renderer={renderer!r}: choose one of {(*RENDERERS, 'auto')}")
        super().__init__(config, **kwargs)
        self.client = int(p.connect(p.DIRECT))
        self.renderer = self._load_renderer(renderer)
        self._rig: PybulletCameraRig | None = None
        self._scene_key: SceneSpec | None = None
        self._snapshot_id = -1
        self.sim_time = 0.0

    # ------------------------------------------------------------ lifecycle
    def _start_episode(self, task: TaskInstance) -> None:
        self._load_scene(task.scene)
        self.controller.reset()
        self._simulate()  # let props settle onto the table
        self.sim_time = self.control_dt

    def _load_scene(self, scene: SceneSpec) -> None:
        """Rebuild the world for a new scene; restore the built snapshot for the same one."""
        if scene == self._scene_key and self._snapshot_id >= 0:
            p.restoreState(self._snapshot_id, physicsClientId=self.client)
            return
        c = self.client
        p.resetSimulation(physicsClientId=c)
        self._floor, self._table = build_static(c)
        self.robot = load_panda(c)
        self.props: tuple[PropBody, ...] = build_props(c, scene)
        self._resting = RestingPoses(scene.objects)
        self.controller = PandaController(c, self.robot, self.controller_config)
        self.controller.reset()
        self._prop_of_uid = {b.uid: b for b in self.props}
        self.segmentation_ids = {b.name: FIRST_OBJECT_ID + i for i, b in enumerate(self.props)}
        self._body_instance = {self._floor: BACKGROUND_ID, self._table: TABLE_ID, self.robot: ROBOT_ID}
        self._body_instance.update({b.uid: self.segmentation_ids[b.name] for b in self.props})
        if self._rig is not None:
            self._rig.set_instances(self._body_instance)
        self._snapshot_id = int(p.saveState(physicsClientId=c))
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

    def _load_renderer(self, renderer: str) -> str:
        """Load the EGL plugin when asked for (before any body is built: it renders only bodies created
        after it); ``auto`` falls back to TinyRenderer when it cannot load. Returns the renderer used."""
        if renderer == "tiny" or not self.modalities:
            return "tiny"
        try:
            load_egl(self.client)
        except RenderingUnavailable as e:
            if renderer == "egl":
                raise
            log.info("PyBullet renders with TinyRenderer: %s", e)
            return "tiny"
        return "egl"

    def close(self) -> None:
        if self.client >= 0 and p.isConnected(physicsClientId=self.client):
            if forget_egl(self.client):
                with quiet_stdout():  # the EGL plugin says goodbye on stdout
                    p.disconnect(physicsClientId=self.client)
            else:
                p.disconnect(physicsClientId=self.client)
        self.client = -1

    # ------------------------------------------------------------------ step
    def _simulate(self) -> None:
        for _ in range(self.substeps):
            p.stepSimulation(physicsClientId=self.client)

    def _advance(self, action: np.ndarray) -> bool:
        clipped = self.controller.apply(action)
        self._simulate()
        self.sim_time += self.control_dt
        return clipped

    def _snapshot(self) -> dict[int, tuple[Any, Any]]:
        """Pre-step poses of every body and joint (cheap; restored after a divergence)."""
        c = self.client
        saved: dict[int, tuple[Any, Any]] = {
            b.uid: p.getBasePositionAndOrientation(b.uid, physicsClientId=c) for b in self.props
        }
        saved[-1] = (self.controller.joint_state()[0], None)
        return saved

    def _restore(self, snapshot: dict[int, tuple[Any, Any]]) -> None:
        """After a divergence: the pre-step pose at rest, so the final observation is valid."""
        c = self.client
        saved = dict(snapshot)
        q = saved.pop(-1)[0]
        if not np.all(np.isfinite(q)):
            q = np.array(self.controller.rest)
        for j, v in zip(self.controller.joints, q, strict=True):
            p.resetJointState(self.robot, j, float(v), 0.0, physicsClientId=c)
        for uid, (pos, orn) in saved.items():
            p.resetBasePositionAndOrientation(uid, pos, orn, physicsClientId=c)
            p.resetBaseVelocity(uid, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=c)

    def _divergence(self, snapshot: Any) -> str | None:
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

    def _camera_info(self) -> dict[str, Any]:
        return self.rig.camera_info() if self.modalities else {}

    def _sim_time(self) -> float:
        return float(self.sim_time)

    def _render_frame(self) -> np.ndarray | None:
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
        assert self.task is not None
        origins, rots = [], []
        for body in self.props:
            com, quat = p.getBasePositionAndOrientation(body.uid, physicsClientId=self.client)
            rot = np.array(p.getMatrixFromQuaternion(quat)).reshape(3, 3)
            origins.append(np.array(com) - body.com_offset * rot[:, 2])
            rots.append(rot)
        objects = self._resting(np.array(origins), np.array(rots))
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
        com_now, quat = p.getBasePositionAndOrientation(body.uid, physicsClientId=c)
        # ``pos`` is where the prop rests (world_state's pos): keep the centre of mass's offset from it,
        # which depends on the face the prop lies on.
        rests_at = np.array(self.world_state().get(name).pos)
        com = np.asarray(pos, dtype=float) + np.array(com_now) - rests_at
        p.resetBasePositionAndOrientation(body.uid, com.tolist(), quat, physicsClientId=c)
        p.resetBaseVelocity(body.uid, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=c)
