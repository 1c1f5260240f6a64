"""``embodied/RosTabletop-v0``: the tabletop env contract over ROS topics (a simulator node or a real robot).

Observations come from ROS: ``rgb`` and ``depth`` images (and ``segmentation`` when asked for),
``CameraInfo`` for ``K``, tf for the camera extrinsics and the tool pose, ``JointState`` for the
joints and the gripper width. Actions go out as a ``TwistStamped`` (tool velocity held for one
control step) and a ``JointState`` finger command. The observation dict, action space, ``info``
keys and the termination contract are the simulators' (:class:`~envs.base.TabletopEnvBase`), so
perception, skills and planners run unchanged.

Synchronisation: every command is stamped, and :meth:`step` returns only once every sensor stream
holds a message stamped after it. No fresh message within ``timeout_s`` ends the episode
(``terminated``, the reason in ``info["physics_error"]``, as a diverged simulation does), with
the last good observation.

Reset calls the ``reset`` service with the task (scene, instruction, goal) sampled here from the
family and seed exactly as the simulators sample it, so the same task specs work across the
bridge. Ground truth (``world_state()``) comes from the separate ``world_state`` service of a
simulator node; like the simulators' it is for success checks and the evaluation only. A real
robot has none: ``info["success"]`` is then always False and ``world_state()`` raises.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from envs.base import TabletopEnvBase
from envs.common import ARM_JOINTS, FINGER_JOINTS, FINGER_OPEN
from envs.config import EnvConfig, env_config
from envs.ros.convert import controller_from_json, task_from_json, task_to_json, world_from_json
from envs.ros.transport import FIELDS, SERVE_HINT, Command, RosBridgeConfig, RosBridgeError, Sensors, Transport
from envs.tasks import TaskInstance, WorldState
from envs.tasks.predicates import ObjectState

log = logging.getLogger(__name__)

#: What the ROS env renders unless told: what vision perception reads (a real robot has no segmentation).
ROS_MODALITIES = ("rgb", "depth")
JOINTS = (*ARM_JOINTS, *FINGER_JOINTS)


class RosTabletopEnv(TabletopEnvBase):
    """The tabletop contract over ROS.

    Args:
        config: the env's arguments (:class:`~envs.config.EnvConfig`); ``modalities`` defaults to
            ``("rgb", "depth")``.
        transport: the ROS client (default: ROS 1 through rospy, connected now).
        **kwargs: fields of :class:`~envs.config.EnvConfig` and of
            :class:`~envs.ros.transport.RosBridgeConfig` (topic names, ``timeout_s``, ...).

    Raises:
        RosNotInstalled: rospy is missing (the message names the Debian packages).
        RosBridgeError: no master, or no node answers the reset service (the message names the command to run).
    """

    physics_timestep = 0.001  # the far side's physics is its own; this only makes control_dt = 1 / control_hz

    def __init__(self, config: EnvConfig | None = None, transport: Transport | None = None, **kwargs: Any) -> None:
        ros_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in FIELDS}
        if config is None and "modalities" not in kwargs:
            kwargs["modalities"] = ROS_MODALITIES
        super().__init__(env_config(config, kwargs))
        self._sensors: Sensors | None = None
        self._obs: dict[str, Any] | None = None
        self._status: dict[str, Any] = {}
        self._link_error: str | None = None
        self._world: WorldState | None = None
        self._ground_truth = True
        self.last_image_latency_s: list[float] = []
        if transport is None:
            from envs.ros import ros1

            ros1.check_master()
            ros1.init_node(RosBridgeConfig().node_name)
            import rospy

            self.ros = RosBridgeConfig.resolve(ros_kwargs, lambda name: rospy.get_param(name, None))
            transport = ros1.Ros1Transport(self.ros)
        else:
            self.ros = RosBridgeConfig.resolve(ros_kwargs, lambda name: None)
        self.transport: Transport = transport
        if not self.transport.wait_for_service(self.ros.reset_service, self.ros.connect_timeout_s):
            raise RosBridgeError(
                f"no node offers {self.ros.reset_service} within {self.ros.connect_timeout_s:g} s: start the simulator "
                f"node with `{SERVE_HINT}` (or the robot's driver, docs/ros.md)"
            )
        self.transport.wait_for_service(self.ros.world_state_service, 0.2)  # a simulator's; a robot has none
        # Subscribe once, here: registering with the master later (in reset) would happen inside the
        # caller's warning filters, and rospy's threads fail on a warning turned into an error.
        self.transport.open(self.cameras, self.modalities)

    # ------------------------------------------------------------ lifecycle
    def _start_episode(self, task: TaskInstance) -> None:
        request = {
            "task": task_to_json(task),
            "cameras": list(self.cameras),
            "image_size": list(self.image_size),
            "modalities": list(self.modalities),
            "control_hz": float(self.config.control_hz),
        }
        self._link_error, self._world = None, None
        before = self.transport.now_ns()
        answer = self.transport.call_json(self.ros.reset_service, request, self.ros.connect_timeout_s)
        self.task = task_from_json(answer["task"]) if "task" in answer else task
        self._ground_truth = bool(answer.get("ground_truth", False))
        self.controller_config = controller_from_json(answer.get("controller"))
        self.segmentation_ids = {str(k): int(v) for k, v in answer.get("segmentation_ids", {}).items()}
        self.transport.expect_status(bool(answer.get("status", False)))
        if not self.transport.wait_for_subscribers(self.ros.connect_timeout_s):
            raise RosBridgeError(
                f"nothing subscribes to {self.ros.ee_twist_topic} and {self.ros.gripper_topic}: the simulator node "
                "or the robot's cartesian controller is not listening (docs/ros.md)"
            )
        fresh = self.transport.wait_fresh(before, self.ros.timeout_s)
        if isinstance(fresh, str):
            raise RosBridgeError(f"no observation after reset: {fresh}")
        self._take(fresh)

    def _snapshot(self) -> None:
        return None

    def _advance(self, action: np.ndarray) -> bool:
        if self._link_error is not None:
            return False
        cfg, dt = self.controller_config, self.control_dt
        command = Command(
            (
                float(action[0]) * cfg.max_step_pos / dt,
                float(action[1]) * cfg.max_step_pos / dt,
                float(action[2]) * cfg.max_step_pos / dt,
            ),
            float(action[3]) * cfg.max_step_yaw / dt,
            FINGER_OPEN * (1.0 - float(action[4])) / 2.0,
            dt,
        )
        sent = self.transport.publish(command)
        fresh = self.transport.wait_fresh(sent, self.ros.timeout_s)
        if isinstance(fresh, str):
            self._link_error = f"lost the ROS link: {fresh} (did the simulator node or robot driver stop?)"
            return False
        self._take(fresh)
        return bool(self._status.get("clipped", False))

    def _divergence(self, snapshot: Any) -> str | None:
        if self._link_error is not None:
            return self._link_error
        error = self._status.get("physics_error")
        return str(error) if error else None

    def _restore(self, snapshot: Any) -> None:
        """Nothing to undo here: the far side keeps its own state; the last observation stays."""

    def _take(self, sensors: Sensors) -> None:
        self._sensors, self._status = sensors, dict(sensors.status or {})
        now = self.transport.now_ns()
        self.last_image_latency_s = [(now - s) / 1e9 for s in sensors.image_stamps_ns.values()]
        self._obs = self._build_observation(sensors)

    def _build_observation(self, s: Sensors) -> dict[str, Any]:
        obs: dict[str, Any] = {m: {c: s.images[m][c] for c in self.cameras} for m in self.modalities}
        index = {n: i for i, n in enumerate(s.joint_names)}
        missing = [j for j in JOINTS if j not in index]
        if missing:
            raise RosBridgeError(
                f"{self.ros.joint_states_topic} lacks the joints {missing}; it names {list(s.joint_names)}"
            )
        order = [index[j] for j in JOINTS]
        q, qd = s.joint_pos[order], s.joint_vel[order]
        r = s.ee_pose[:3, :3]
        x, y, z, w = s.ee_quat_xyzw
        obs["proprio"] = {
            "ee_pos": s.ee_pose[:3, 3].copy(),
            "ee_quat": np.array([w, x, y, z]),  # (w, x, y, z) as the simulators report it
            "ee_yaw": np.array([math.atan2(r[1, 0], r[0, 0])]),
            "gripper_width": np.array([np.clip(q[7:].sum(), 0.0, 0.1)]),
            "joint_pos": q,
            "joint_vel": qd,
        }
        return obs

    def _observation(self) -> dict[str, Any]:
        assert self._obs is not None
        return {
            k: ({c: a.copy() for c, a in v.items()} if k != "proprio" else {n: a.copy() for n, a in v.items()})
            for k, v in self._obs.items()
        }

    def _render_frame(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._obs is None or "rgb" not in self._obs:
            return None
        return np.asarray(self._obs["rgb"][self.cameras[0]]).copy()

    def _camera_info(self) -> dict[str, Any]:
        if self._sensors is None:
            return {}
        return {
            c: {
                "K": self._sensors.cameras[c].K.copy(),
                "cam_to_world": self._sensors.cam_to_world[c].copy(),
                "width": int(self._sensors.cameras[c].width),
                "height": int(self._sensors.cameras[c].height),
            }
            for c in self.cameras
        }

    def _sim_time(self) -> float:
        return float(self._status.get("sim_time", self._steps * self.control_dt))

    def close(self) -> None:
        self.transport.close()
        super().close()

    # ---------------------------------------------------------- ground truth
    def _ground_truth_json(self) -> dict[str, Any]:
        if not self._ground_truth:
            raise RosBridgeError(
                "this ROS robot offers no ground truth (its reset answered ground_truth: false); "
                "success can only be judged by a person or from perception"
            )
        return self.transport.call_json(self.ros.world_state_service, None, self.ros.connect_timeout_s)

    def world_state(self) -> WorldState:
        """Ground truth from the ``world_state`` service (the last known one once the link is lost)."""
        if not self._ground_truth:
            if self.task is None:
                raise RosBridgeError("call reset() first")
            # No ground truth: every pose unknown (NaN), so no goal atom holds and info["success"] stays False.
            nan = math.nan
            return WorldState({o.name: ObjectState(o, (nan, nan, nan), nan) for o in self.task.scene.objects})
        if self._link_error is not None and self._world is not None:
            return self._world
        try:
            self._world = world_from_json(self._ground_truth_json())
        except RosBridgeError as e:
            if self._world is None:
                raise
            self._link_error = self._link_error or f"lost the ROS link: {e}"
        return self._world

    def held_object(self) -> str | None:
        """Name of the prop the gripper holds (ground truth)."""
        return self.world_state().held

    def contacts(self) -> list[tuple[str, str]]:
        """Pairs of touching bodies (ground truth, from the simulator node)."""
        data = self._ground_truth_json()
        return [(str(a), str(b)) for a, b in data.get("contacts", [])]

    def set_object_pose(self, name: str, pos: tuple[float, float, float]) -> None:
        raise ValueError(
            f"cannot move {name!r} over ROS: perturbations need a simulator env (--env tabletop or --env pybullet)"
        )
