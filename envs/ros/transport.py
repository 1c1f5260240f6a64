"""What the ROS env needs from a ROS client library, as a small protocol, and the bridge's settings.

:class:`~envs.ros.env.RosTabletopEnv` talks to ROS only through a :class:`Transport`: publish one
command, wait for sensor messages newer than it, call a JSON service, read a parameter. ROS 1
(``rospy``) implements it in :mod:`envs.ros.ros1`; a ROS 2 (``rclpy``) transport is one more module
with the same five methods. Messages cross this seam as plain numpy and Python values
(:class:`Sensors`), so the env itself imports no ROS package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np

from envs.errors import EnvError
from envs.validation import require_positive

#: Where the bridge's settings live on the parameter server (a real robot's launch file sets them).
PARAM_NAMESPACE = "/embodied/bridge"
#: Debian packages that bring ROS 1 to the venv (``.ci/setup.sh`` installs them).
ROS_APT_PACKAGES = (
    "ros-core python3-rospy python3-rostopic python3-roslaunch python3-rosservice python3-rosmaster "
    "python3-sensor-msgs python3-geometry-msgs python3-std-msgs python3-std-srvs python3-tf2-ros"
)
SERVE_HINT = "embodied ros serve --env tabletop"


class RosBridgeError(EnvError, RuntimeError):
    """ROS cannot be reached or does not answer as the bridge expects; the message says what to start."""


class RosNotInstalled(EnvError, ImportError):
    """``rospy`` or a message package is missing; the message names the Debian packages to install."""

    def __init__(self, module: str) -> None:
        super().__init__(
            f"the ROS bridge needs ROS 1's `{module}`, which is not importable: install the Debian packages "
            f"(`sudo apt-get install -y {ROS_APT_PACKAGES}`) and make the venv see them "
            "(`.ci/setup.sh` does both; see docs/ros.md)"
        )
        self.module = module


@dataclass(frozen=True)
class RosBridgeConfig:
    """Names and limits of the ROS interface (docs/ros.md lists the message types).

    Every field can be set as a ROS parameter ``/embodied/bridge/<field>`` or as a keyword of the
    env (``gym.make("embodied/RosTabletop-v0", timeout_s=2.0)``); a keyword wins over a parameter.
    Topic names may hold ``{camera}``, replaced by each camera's name.

    Attributes:
        rgb_topic: ``sensor_msgs/Image`` ``rgb8`` per camera.
        depth_topic: ``sensor_msgs/Image`` ``32FC1`` metres per camera, registered to the rgb image.
        segmentation_topic: ``sensor_msgs/Image`` ``32SC1`` instance ids (only when the
            ``segmentation`` modality is asked for; a real robot needs a segmenter node).
        camera_info_topic: ``sensor_msgs/CameraInfo`` per camera; its ``header.frame_id`` is the
            camera's optical frame (x right, y down, z forward) looked up in tf.
        joint_states_topic: ``sensor_msgs/JointState`` with the 7 arm and 2 finger joints.
        tf_topic / tf_static_topic: ``tf2_msgs/TFMessage``.
        world_frame: the frame every pose is expressed in (the robot's base on the table).
        ee_frame: the tool centre point frame (between the fingertips, z down when grasping).
        ee_twist_topic: ``geometry_msgs/TwistStamped`` end-effector velocity to hold for one control step.
        gripper_topic: ``sensor_msgs/JointState`` finger command (``position``: metres per finger).
        status_topic: ``std_msgs/String`` JSON step report of a simulator (clipping, divergence);
            optional, a real robot leaves it unpublished.
        reset_service / world_state_service: ``std_srvs/Trigger``; ``reset`` reads the request
            (JSON) from the parameter ``reset_request_param`` and answers the task as JSON;
            ``world_state`` answers ground truth as JSON (simulators only: the evaluation reads it).
        reset_request_param: the parameter the reset request is written to before the call.
        timeout_s: a step (or reset) that sees no fresh message within this ends the episode with the reason.
        connect_timeout_s: how long to wait for the master and the reset service when the env is made.
        node_name: the agent's node name (made anonymous).
    """

    rgb_topic: str = "/camera/{camera}/color/image_raw"
    depth_topic: str = "/camera/{camera}/depth/image_raw"
    segmentation_topic: str = "/camera/{camera}/segmentation/image_raw"
    camera_info_topic: str = "/camera/{camera}/color/camera_info"
    joint_states_topic: str = "/joint_states"
    tf_topic: str = "/tf"
    tf_static_topic: str = "/tf_static"
    world_frame: str = "world"
    ee_frame: str = "panda_tcp"
    ee_twist_topic: str = "/embodied/ee_twist"
    gripper_topic: str = "/embodied/gripper_command"
    status_topic: str = "/embodied_sim/status"
    reset_service: str = "/embodied_sim/reset"
    world_state_service: str = "/embodied_sim/world_state"
    reset_request_param: str = "/embodied_sim/reset_request"
    timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    node_name: str = "embodied_agent"

    def __post_init__(self) -> None:
        require_positive(self, "timeout_s", "connect_timeout_s")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and not value.strip():
                raise ValueError(f"RosBridgeConfig.{f.name} is empty: give a ROS name")

    def topic(self, kind: str, camera: str) -> str:
        """The topic of ``kind`` (``rgb``, ``depth``, ``segmentation``, ``camera_info``) for ``camera``."""
        return str(getattr(self, f"{kind}_topic")).format(camera=camera)

    @classmethod
    def resolve(cls, overrides: Mapping[str, Any], param: Callable[[str], Any]) -> RosBridgeConfig:
        """Defaults, then the parameters ``param(name)`` finds (None: unset), then ``overrides``."""
        names = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise TypeError(f"unknown ROS bridge argument(s) {unknown}; the arguments are {sorted(names)}")
        cfg = cls()
        from_params = {}
        for name in names:
            value = param(f"{PARAM_NAMESPACE}/{name}")
            if value is not None:
                from_params[name] = type(getattr(cfg, name))(value)
        return replace(cfg, **{**from_params, **overrides})


FIELDS = tuple(f.name for f in fields(RosBridgeConfig))


@dataclass
class CameraStream:
    """One camera's latest calibration: ``K`` (3x3), image size and optical frame."""

    K: np.ndarray
    width: int
    height: int
    frame_id: str


@dataclass
class Sensors:
    """Everything fresh after one command, converted to numpy.

    Attributes:
        images: ``{modality: {camera: image}}`` as the observation holds them.
        cameras: per camera, its :class:`CameraStream`.
        cam_to_world: per camera, the 4x4 optical-frame pose in the world frame (from tf).
        ee_pose: 4x4 pose of the tool frame in the world frame (from tf).
        ee_quat_xyzw: its orientation as the driver sent it (when published straight from the world frame).
        joint_names / joint_pos / joint_vel: from ``JointState``, in the order named.
        status: the simulator's step report (``None`` from a real robot).
        stamp_ns: the newest stamp among the messages.
        image_stamps_ns: per image topic, its header stamp (for latency figures).
    """

    images: dict[str, dict[str, np.ndarray]]
    cameras: dict[str, CameraStream]
    cam_to_world: dict[str, np.ndarray]
    ee_pose: np.ndarray
    ee_quat_xyzw: tuple[float, float, float, float]
    joint_names: tuple[str, ...]
    joint_pos: np.ndarray
    joint_vel: np.ndarray
    status: dict[str, Any] | None
    stamp_ns: int
    image_stamps_ns: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """One control step's command: tool velocity (m/s, rad/s) for ``duration_s`` and finger opening (m)."""

    linear: tuple[float, float, float]
    yaw_rate: float
    finger: float
    duration_s: float


class Transport(Protocol):
    """The ROS client library behind the env (ROS 1 today: :class:`envs.ros.ros1.Ros1Transport`)."""

    def open(self, cameras: tuple[str, ...], modalities: tuple[str, ...]) -> None:
        """Subscribe to the sensors of ``cameras`` / ``modalities`` (and the status); advertise the commands."""

    def expect_status(self, on: bool) -> None:
        """Whether a fresh step report must come with the sensors (a simulator sends one, a robot does not)."""

    def wait_for_service(self, service: str, timeout_s: float) -> bool:
        """Whether some node offers ``service`` within ``timeout_s``."""

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        """Whether the command topics have a subscriber within ``timeout_s`` (else a command would be lost)."""

    def now_ns(self) -> int:
        """The transport's clock (ns), the one command and sensor stamps use."""

    def publish(self, command: Command) -> int:
        """Send ``command`` stamped now; return the stamp (ns)."""

    def wait_fresh(self, after_ns: int, timeout_s: float) -> Sensors | str:
        """Sensor messages all stamped after ``after_ns``, or the reason none came within ``timeout_s``."""

    def call_json(self, service: str, request: dict[str, Any] | None, timeout_s: float) -> dict[str, Any]:
        """Call a JSON ``Trigger`` service (the request, if any, goes in the reset parameter)."""

    def close(self) -> None:
        """Unsubscribe and unadvertise (the process's node stays up for a next env)."""
