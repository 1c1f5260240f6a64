"""A simulator behind the ROS interface a real robot's driver provides (``embodied ros serve``).

The node wraps ``embodied/Tabletop-v0`` (MuJoCo) or ``embodied/PybulletTabletop-v0`` and
serves exactly what :class:`~envs.ros.env.RosTabletopEnv` reads and writes (docs/ros.md):

* each control step starts when a ``TwistStamped`` and a finger ``JointState`` with the same
  stamp have arrived; the simulator steps once and publishes, all stamped after the command:
  rgb / depth (/ segmentation) images and ``CameraInfo`` per camera, ``JointState``, the tool
  pose on ``/tf``, and a JSON step report on ``~status`` (clipping, divergence, sim time);
* ``~reset`` (``std_srvs/Trigger``) loads the task in the request parameter (the env's
  scene, instruction and goal; cameras, image size and modalities) and answers it as JSON;
* ``~world_state`` (``std_srvs/Trigger``) answers ground truth as JSON: every prop's pose, what
  the gripper holds and the task predicate's verdict. The evaluation reads it; the agent never does.

Observation topics are latched, so a subscriber that connects late still gets the latest frame.
The simulator runs on the node's main thread (MuJoCo's GL context belongs to it); ROS callbacks
only queue work for it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import asdict
from typing import Any

import gymnasium as gym
import numpy as np

from envs.base import TabletopEnvBase, tabletop_env
from envs.common import ARM_JOINTS, FINGER_JOINTS, FINGER_OPEN
from envs.ros.convert import image_fields, matrix_to_quat_xyzw, task_from_json, task_to_json, world_to_json
from envs.ros.ros1 import import_rospy, stamp_ns
from envs.ros.transport import PARAM_NAMESPACE, RosBridgeConfig

log = logging.getLogger(__name__)

BACKENDS = {"tabletop": "embodied/Tabletop-v0", "pybullet": "embodied/PybulletTabletop-v0"}
ENCODING = {"rgb": "rgb8", "depth": "32FC1", "segmentation": "32SC1"}
NODE_NAME = "embodied_sim"
#: The names the node announces under /embodied/bridge (the env reads them from there).
ANNOUNCED = [
    "rgb_topic",
    "depth_topic",
    "segmentation_topic",
    "camera_info_topic",
    "joint_states_topic",
    "world_frame",
    "ee_frame",
    "ee_twist_topic",
    "gripper_topic",
    "status_topic",
    "reset_service",
    "world_state_service",
    "reset_request_param",
]


def optical_frame(camera: str) -> str:
    return f"{camera}_camera_optical_frame"


class SimNode:
    """The simulator ``backend`` (``tabletop`` or ``pybullet``) as a ROS node; :meth:`spin` runs it."""

    def __init__(self, backend: str, config: RosBridgeConfig | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown simulator {backend!r}; choose one of {sorted(BACKENDS)}")
        self.backend, self.config = backend, config or RosBridgeConfig()
        self.rospy = import_rospy()
        self.env: TabletopEnvBase | None = None
        self._env_key: tuple[Any, ...] | None = None
        self._jobs: queue.Queue[tuple[str, Any, queue.Queue[Any] | None]] = queue.Queue()
        self._lock = threading.Lock()
        self._twists: dict[int, Any] = {}
        self._grippers: dict[int, Any] = {}
        self.steps = 0

    # ----------------------------------------------------------------- ROS
    def start(self) -> None:
        """Start the node, announce the interface, advertise topics and services."""
        from geometry_msgs.msg import TwistStamped
        from sensor_msgs.msg import JointState
        from std_srvs.srv import Trigger

        rospy, cfg = self.rospy, self.config
        rospy.init_node(NODE_NAME, disable_signals=True)
        for name in ANNOUNCED:
            rospy.set_param(f"{PARAM_NAMESPACE}/{name}", getattr(cfg, name))
        rospy.set_param(f"{PARAM_NAMESPACE}/simulator", self.backend)
        self._pubs: dict[str, Any] = {}
        rospy.Subscriber(cfg.ee_twist_topic, TwistStamped, self._on_twist, queue_size=10, tcp_nodelay=True)
        rospy.Subscriber(cfg.gripper_topic, JointState, self._on_gripper, queue_size=10, tcp_nodelay=True)
        rospy.Service(cfg.reset_service, Trigger, lambda _req: self._ask("reset"))
        rospy.Service(cfg.world_state_service, Trigger, lambda _req: self._ask("world_state"))

    def _pub(self, topic: str, msg_type: Any) -> Any:
        if topic not in self._pubs:
            self._pubs[topic] = self.rospy.Publisher(topic, msg_type, queue_size=2, latch=True, tcp_nodelay=True)
        return self._pubs[topic]

    def _ask(self, job: str) -> Any:
        """Run ``job`` on the main thread (a service callback's thread waits for it)."""
        from std_srvs.srv import TriggerResponse

        answer: queue.Queue[Any] = queue.Queue()
        self._jobs.put((job, None, answer))
        ok, message = answer.get()
        return TriggerResponse(success=ok, message=message)

    def _on_twist(self, msg: Any) -> None:
        self._pair(stamp_ns(msg.header.stamp), twist=msg)

    def _on_gripper(self, msg: Any) -> None:
        self._pair(stamp_ns(msg.header.stamp), gripper=msg)

    def _pair(self, stamp: int, twist: Any = None, gripper: Any = None) -> None:
        with self._lock:
            if twist is not None:
                self._twists[stamp] = twist
            if gripper is not None:
                self._grippers[stamp] = gripper
            if stamp in self._twists and stamp in self._grippers:
                self._jobs.put(("step", (self._twists.pop(stamp), self._grippers.pop(stamp)), None))
            for pending in (self._twists, self._grippers):  # a partner lost for good: drop the oldest
                while len(pending) > 8:
                    pending.pop(min(pending))

    def spin(self) -> None:
        """Serve until ROS shuts down (Ctrl-C, SIGTERM or ``rosnode kill``)."""
        while not self.rospy.is_shutdown():
            try:
                job, payload, answer = self._jobs.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                result: Any = getattr(self, f"_do_{job}")(payload)
                ok = True
            except Exception as e:
                log.exception("%s failed", job)
                result, ok = f"{type(e).__name__}: {e}", False
            if answer is not None:
                answer.put((ok, result))

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    # ------------------------------------------------------------ simulator
    def _make_env(self, request: dict[str, Any]) -> TabletopEnvBase:
        key = (
            tuple(request.get("cameras", ("front", "top"))),
            tuple(request.get("image_size", (240, 320))),
            tuple(request.get("modalities", ("rgb", "depth"))),
            float(request.get("control_hz", 20.0)),
        )
        if self.env is None or key != self._env_key:
            self.close()
            cameras, image_size, modalities, control_hz = key
            big = 1 << 30  # the env across the bridge counts steps and truncates, not the node
            env = gym.make(
                BACKENDS[self.backend],
                cameras=cameras,
                image_size=image_size,
                modalities=modalities,
                control_hz=control_hz,
                terminate_on_success=False,
                max_steps=big,
                max_episode_steps=big,
                disable_env_checker=True,
            )
            self.env, self._env_key = tabletop_env(env), key
        return self.env

    def _do_reset(self, _payload: Any) -> str:
        raw = self.rospy.get_param(self.config.reset_request_param, None)
        if raw is None:
            raise ValueError(f"no reset request in the parameter {self.config.reset_request_param}")
        request = json.loads(raw)
        env = self._make_env(request)
        task = task_from_json(request["task"])
        obs, info = env.reset(options={"task": task})
        self.steps = 0
        self._publish_static(info)
        self._publish(obs, info)
        return json.dumps(
            {
                "task": task_to_json(task),
                "instruction": task.instruction,
                "ground_truth": True,
                "status": True,
                "simulator": self.backend,
                "controller": asdict(env.controller_config),
                "segmentation_ids": info["segmentation_ids"],
            }
        )

    def _do_world_state(self, _payload: Any) -> str:
        if self.env is None or self.env.task is None:
            raise RuntimeError("no episode yet: call the reset service first")
        state = self.env.world_state()
        data = world_to_json(state, self.env.contacts())
        data["success"] = self.env.task.success(state)
        return json.dumps(data)

    def _do_step(self, payload: tuple[Any, Any]) -> None:
        twist, gripper = payload
        env = self.env
        if env is None or env.task is None:
            log.warning("a command came before the first reset; ignored")
            return
        cfg, dt = env.controller_config, env.control_dt
        lin, ang = twist.twist.linear, twist.twist.angular
        finger = float(np.mean(gripper.position)) if len(gripper.position) else FINGER_OPEN
        action = np.array(
            [
                lin.x * dt / cfg.max_step_pos,
                lin.y * dt / cfg.max_step_pos,
                lin.z * dt / cfg.max_step_pos,
                ang.z * dt / cfg.max_step_yaw,
                1.0 - 2.0 * finger / FINGER_OPEN,
            ]
        )
        action = np.clip(action, -1.0, 1.0)
        try:
            obs, _r, _term, _trunc, info = env.step(action)
        except RuntimeError as e:  # stepped after a divergence ended the episode
            self._publish_status({"physics_error": str(e)}, stamp_ns(self.rospy.Time.now()))
            return
        self.steps += 1
        self._publish(obs, info)

    # ------------------------------------------------------------- publish
    def _publish_static(self, info: dict[str, Any]) -> None:
        from geometry_msgs.msg import TransformStamped
        from tf2_msgs.msg import TFMessage

        now = self.rospy.Time.now()
        transforms = []
        for cam, ci in info["cameras"].items():
            t = TransformStamped()
            t.header.stamp, t.header.frame_id, t.child_frame_id = now, self.config.world_frame, optical_frame(cam)
            _fill_transform(t, np.asarray(ci["cam_to_world"]))
            transforms.append(t)
        self._pub(self.config.tf_static_topic, TFMessage).publish(TFMessage(transforms=transforms))

    def _publish(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        from geometry_msgs.msg import TransformStamped
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from tf2_msgs.msg import TFMessage

        cfg = self.config
        now = self.rospy.Time.now()
        for cam, ci in info["cameras"].items():
            for m in ("rgb", "depth", "segmentation"):
                if m in obs:
                    msg = Image(**image_fields(obs[m][cam], ENCODING[m]))
                    msg.header.stamp, msg.header.frame_id = now, optical_frame(cam)
                    self._pub(cfg.topic(m, cam), Image).publish(msg)
            k = np.asarray(ci["K"], dtype=float)
            cinfo = CameraInfo(height=int(ci["height"]), width=int(ci["width"]), distortion_model="plumb_bob")
            cinfo.header.stamp, cinfo.header.frame_id = now, optical_frame(cam)
            cinfo.D = [0.0] * 5
            cinfo.K = k.reshape(-1).tolist()
            cinfo.R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            cinfo.P = np.hstack([k, np.zeros((3, 1))]).reshape(-1).tolist()
            self._pub(cfg.topic("camera_info", cam), CameraInfo).publish(cinfo)
        p = obs["proprio"]
        joints = JointState(name=[*ARM_JOINTS, *FINGER_JOINTS])
        joints.header.stamp = now
        joints.position, joints.velocity = p["joint_pos"].tolist(), p["joint_vel"].tolist()
        self._pub(cfg.joint_states_topic, JointState).publish(joints)
        tcp = TransformStamped()
        tcp.header.stamp, tcp.header.frame_id, tcp.child_frame_id = now, cfg.world_frame, cfg.ee_frame
        w, x, y, z = (float(v) for v in p["ee_quat"])
        tcp.transform.translation.x, tcp.transform.translation.y, tcp.transform.translation.z = map(float, p["ee_pos"])
        tcp.transform.rotation.x, tcp.transform.rotation.y, tcp.transform.rotation.z, tcp.transform.rotation.w = (
            x,
            y,
            z,
            w,
        )
        self._pub(cfg.tf_topic, TFMessage).publish(TFMessage(transforms=[tcp]))
        status = {k: info[k] for k in ("clipped", "action_clipped", "physics_error", "sim_time", "steps")}
        self._publish_status(status, stamp_ns(now))

    def _publish_status(self, status: dict[str, Any], stamp: int) -> None:
        from std_msgs.msg import String

        self._pub(self.config.status_topic, String).publish(String(data=json.dumps({**status, "stamp_ns": stamp})))


def _fill_transform(t: Any, pose: np.ndarray) -> None:
    x, y, z, w = matrix_to_quat_xyzw(pose[:3, :3])
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in pose[:3, 3])
    t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = x, y, z, w


def serve(backend: str, config: RosBridgeConfig | None = None, ready: threading.Event | None = None) -> None:
    """Run the simulator node until ROS shuts down."""
    node = SimNode(backend, config)
    node.start()
    log.info("embodied sim node (%s) serving %s", backend, node.config.reset_service)
    if ready is not None:
        ready.set()
    try:
        node.spin()
    finally:
        node.close()
        node.rospy.signal_shutdown("embodied sim node stopped")
