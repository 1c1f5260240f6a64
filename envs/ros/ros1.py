"""The ROS 1 transport (``rospy``): the env's side of the bridge.

``rospy`` and the message packages come from Debian (``.ci/setup.sh``) and are imported here
only, when a ROS env is made; a missing one raises :class:`~envs.ros.transport.RosNotInstalled`
naming the packages. The process's node is started once (``disable_signals=True``, so Ctrl-C and
SIGTERM keep reaching the CLI's own handlers) and shared by every env the process makes.

Callbacks run on rospy's threads and only keep the newest message of each stream; conversion to
numpy happens on the caller's thread in :meth:`Ros1Transport.wait_fresh`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any

import numpy as np

from envs.ros.convert import image_array, matrix_to_quat_xyzw, pose_matrix
from envs.ros.transport import (
    SERVE_HINT,
    CameraStream,
    Command,
    RosBridgeConfig,
    RosBridgeError,
    RosNotInstalled,
    Sensors,
)

log = logging.getLogger(__name__)

IMAGE_BUFFER = 1 << 24  # bytes: a whole 640x480 depth image in one read (rospy's default 64 KiB stalls)
_init_lock = threading.Lock()


def import_rospy() -> Any:
    """``rospy``, or :class:`RosNotInstalled` naming what to install."""
    try:
        import rospy
        from geometry_msgs.msg import TwistStamped  # noqa: F401
        from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: F401
        from std_msgs.msg import String  # noqa: F401
        from std_srvs.srv import Trigger  # noqa: F401
        from tf2_msgs.msg import TFMessage  # noqa: F401
    except ImportError as e:
        raise RosNotInstalled(e.name or "rospy") from e
    return rospy


def master_uri() -> str:
    import rosgraph

    return str(rosgraph.get_master_uri())


def check_master(timeout_s: float = 2.0) -> None:
    """Raise :class:`RosBridgeError` naming the command to run when no ROS master answers."""
    import_rospy()
    import rosgraph

    uri = master_uri()
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        rosgraph.Master("/embodied_probe", master_uri=uri).getPid()
    except (OSError, rosgraph.MasterException) as e:
        raise RosBridgeError(
            f"no ROS master at {uri} ({e}): start the simulator node with `{SERVE_HINT}` (it starts a master "
            "when none runs), or `roscore` for a robot; set ROS_MASTER_URI if the master runs elsewhere"
        ) from e
    finally:
        socket.setdefaulttimeout(old)


def init_node(name: str) -> None:
    """Start this process's node once (anonymous; rospy's signal handlers left out)."""
    rospy = import_rospy()
    with _init_lock:
        if not rospy.core.is_initialized():
            rospy.init_node(name, anonymous=True, disable_signals=True)


def stamp_ns(stamp: Any) -> int:
    return int(stamp.secs) * 1_000_000_000 + int(stamp.nsecs)


class Ros1Transport:
    """:class:`~envs.ros.transport.Transport` over rospy topics and services."""

    def __init__(self, config: RosBridgeConfig) -> None:
        self.config = config
        self.rospy = import_rospy()
        self._cond = threading.Condition()
        self._latest: dict[str, Any] = {}
        self._tf: dict[str, Any] = {}  # child frame -> TransformStamped (static and dynamic)
        self._subs: list[Any] = []
        self._pubs: list[Any] = []
        self._proxies: dict[str, Any] = {}
        self._cameras: tuple[str, ...] = ()
        self._modalities: tuple[str, ...] = ()
        self._with_status = False

    # ------------------------------------------------------------- set-up
    def open(self, cameras: tuple[str, ...], modalities: tuple[str, ...]) -> None:
        from geometry_msgs.msg import TwistStamped
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import String
        from tf2_msgs.msg import TFMessage

        self._unsubscribe()
        self._cameras, self._modalities = cameras, modalities
        cfg, sub = self.config, self._subscribe
        for cam in cameras:
            for m in modalities:
                sub(cfg.topic(m, cam), Image, f"{m}/{cam}", IMAGE_BUFFER)
            sub(cfg.topic("camera_info", cam), CameraInfo, f"camera_info/{cam}")
        sub(cfg.joint_states_topic, JointState, "joints")
        for topic in (cfg.tf_topic, cfg.tf_static_topic):
            self._subs.append(self.rospy.Subscriber(topic, TFMessage, self._on_tf, queue_size=50, tcp_nodelay=True))
        sub(cfg.status_topic, String, "status")
        self._twist = self.rospy.Publisher(cfg.ee_twist_topic, TwistStamped, queue_size=10, tcp_nodelay=True)
        self._gripper = self.rospy.Publisher(cfg.gripper_topic, JointState, queue_size=10, tcp_nodelay=True)
        self._pubs = [self._twist, self._gripper]

    def _subscribe(self, topic: str, msg_type: Any, key: str, buff_size: int = 65536) -> None:
        def keep(msg: Any) -> None:
            with self._cond:
                self._latest[key] = msg
                self._cond.notify_all()

        self._subs.append(
            self.rospy.Subscriber(topic, msg_type, keep, queue_size=1, buff_size=buff_size, tcp_nodelay=True)
        )

    def _on_tf(self, msg: Any) -> None:
        with self._cond:
            for t in msg.transforms:
                self._tf[t.child_frame_id.lstrip("/")] = t
            self._cond.notify_all()

    def expect_status(self, on: bool) -> None:
        self._with_status = on

    def wait_for_service(self, service: str, timeout_s: float) -> bool:
        from std_srvs.srv import Trigger

        try:
            self.rospy.wait_for_service(service, timeout=timeout_s)
        except self.rospy.ROSException:
            return False
        if service not in self._proxies:  # connected now, so an episode's calls make no new connection
            self._proxies[service] = self.rospy.ServiceProxy(service, Trigger, persistent=True)
        return True

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_num_connections() > 0 for p in self._pubs):
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        self._unsubscribe()
        for proxy in self._proxies.values():
            proxy.close()
        self._proxies = {}

    def _unsubscribe(self) -> None:
        for s in self._subs:
            s.unregister()
        for p in self._pubs:
            p.unregister()
        self._subs, self._pubs = [], []
        with self._cond:
            self._latest.clear()
            self._tf.clear()

    # ---------------------------------------------------------- commands
    def now_ns(self) -> int:
        return stamp_ns(self.rospy.Time.now())

    def publish(self, command: Command) -> int:
        from geometry_msgs.msg import TwistStamped
        from sensor_msgs.msg import JointState

        now = self.rospy.Time.now()
        twist = TwistStamped()
        twist.header.stamp, twist.header.frame_id = now, self.config.world_frame
        twist.twist.linear.x, twist.twist.linear.y, twist.twist.linear.z = command.linear
        twist.twist.angular.z = command.yaw_rate
        grip = JointState()
        grip.header.stamp = now
        grip.name = ["panda_finger_joint1", "panda_finger_joint2"]
        grip.position = [command.finger, command.finger]
        self._gripper.publish(grip)  # the simulator pairs the two by stamp
        self._twist.publish(twist)
        return stamp_ns(now)

    def call_json(self, service: str, request: dict[str, Any] | None, timeout_s: float) -> dict[str, Any]:
        from std_srvs.srv import Trigger

        rospy = self.rospy
        try:
            if request is not None:
                rospy.set_param(self.config.reset_request_param, json.dumps(request))
            if service not in self._proxies:
                rospy.wait_for_service(service, timeout=timeout_s)
                self._proxies[service] = rospy.ServiceProxy(service, Trigger, persistent=True)
            answer = self._proxies[service]()
        except (rospy.ROSException, rospy.ServiceException, OSError) as e:
            stale = self._proxies.pop(service, None)
            if stale is not None:
                stale.close()
            raise RosBridgeError(
                f"the service {service} did not answer ({e}): is `{SERVE_HINT}` (or the robot's driver) running?"
            ) from e
        if not answer.success:
            raise RosBridgeError(f"{service} refused: {answer.message}")
        try:
            data = json.loads(answer.message)
        except json.JSONDecodeError as e:
            raise RosBridgeError(f"{service} answered no JSON object: {answer.message[:200]!r}") from e
        if not isinstance(data, dict):
            raise RosBridgeError(f"{service} answered {type(data).__name__}, not a JSON object")
        return data

    # ---------------------------------------------------------- sensors
    def _keys(self) -> list[str]:
        keys = [f"{m}/{c}" for c in self._cameras for m in self._modalities]
        keys += [f"camera_info/{c}" for c in self._cameras] + ["joints"]
        return keys + (["status"] if self._with_status else [])

    def _stale(self, after_ns: int) -> list[str]:
        stale = [k for k in self._keys() if k not in self._latest or self._stamp(k) <= after_ns]
        ee = self._tf.get(self.config.ee_frame)
        if ee is None or stamp_ns(ee.header.stamp) <= after_ns:
            stale.append(f"tf {self.config.ee_frame}")
        return stale

    def _stamp(self, key: str) -> int:
        msg = self._latest[key]
        if key == "status":
            return int(json.loads(msg.data).get("stamp_ns", 0))
        return stamp_ns(msg.header.stamp)

    def wait_fresh(self, after_ns: int, timeout_s: float) -> Sensors | str:
        deadline = time.monotonic() + timeout_s
        while True:
            with self._cond:
                while stale := self._stale(after_ns):
                    left = deadline - time.monotonic()
                    if left <= 0 or self.rospy.is_shutdown():
                        return f"no fresh message within {timeout_s:g} s on: {', '.join(self._describe(stale))}"
                    self._cond.wait(min(left, 0.1))
                latest, tf = dict(self._latest), dict(self._tf)
            sensors = self._sensors(latest, tf)
            if not isinstance(sensors, str) or time.monotonic() >= deadline:
                return sensors
            with self._cond:  # a tf frame not in yet (/tf_static comes on its own connection): wait for it
                self._cond.wait(min(deadline - time.monotonic(), 0.05))

    def _describe(self, keys: list[str]) -> list[str]:
        cfg = self.config
        out = []
        for k in keys:
            kind, _, cam = k.partition("/")
            if cam:
                out.append(cfg.topic(kind, cam))
            elif k == "joints":
                out.append(cfg.joint_states_topic)
            elif k == "status":
                out.append(cfg.status_topic)
            else:
                out.append(f"{cfg.tf_topic} ({k})")
        return out

    def _sensors(self, latest: dict[str, Any], tf: dict[str, Any]) -> Sensors | str:
        images: dict[str, dict[str, np.ndarray]] = {m: {} for m in self._modalities}
        image_stamps: dict[str, int] = {}
        cameras, cam_to_world = {}, {}
        for cam in self._cameras:
            for m in self._modalities:
                msg = latest[f"{m}/{cam}"]
                images[m][cam] = image_array(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
                image_stamps[f"{m}/{cam}"] = stamp_ns(msg.header.stamp)
            info = latest[f"camera_info/{cam}"]
            cameras[cam] = CameraStream(
                np.array(info.K, dtype=float).reshape(3, 3), info.width, info.height, info.header.frame_id
            )
            pose = self._chain(tf, info.header.frame_id)
            if isinstance(pose, str):
                return pose
            cam_to_world[cam] = pose
        ee = self._chain(tf, self.config.ee_frame)
        if isinstance(ee, str):
            return ee
        t = tf[self.config.ee_frame]
        if t.header.frame_id.lstrip("/") == self.config.world_frame:  # keep the driver's quaternion (and its sign)
            q = t.transform.rotation
            ee_quat = (float(q.x), float(q.y), float(q.z), float(q.w))
        else:
            ee_quat = matrix_to_quat_xyzw(ee[:3, :3])
        joints = latest["joints"]
        status = json.loads(latest["status"].data) if "status" in latest else None
        stamps = [*image_stamps.values(), stamp_ns(joints.header.stamp)]
        return Sensors(
            images,
            cameras,
            cam_to_world,
            ee,
            ee_quat,
            tuple(joints.name),
            np.asarray(joints.position, dtype=np.float64),
            np.asarray(joints.velocity if len(joints.velocity) else np.zeros(len(joints.name)), dtype=np.float64),
            status,
            max(stamps),
            image_stamps,
        )

    def _chain(self, tf: dict[str, Any], frame: str) -> np.ndarray | str:
        """World pose of ``frame`` by walking tf parents up to the world frame."""
        pose, seen = np.eye(4), frame
        for _ in range(32):
            if seen == self.config.world_frame:
                return pose
            t = tf.get(seen)
            if t is None:
                return f"no tf path from {self.config.world_frame!r} to {frame!r} (stuck at {seen!r})"
            tr, q = t.transform.translation, t.transform.rotation
            pose = pose_matrix((tr.x, tr.y, tr.z), (q.x, q.y, q.z, q.w)) @ pose
            seen = t.header.frame_id.lstrip("/")
        return f"tf from {self.config.world_frame!r} to {frame!r} has a loop"
