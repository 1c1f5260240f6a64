"""ROS 2 messages as ``mcap_ros2`` writes them: the message definitions (``ros2msg`` schema text) and
builders that turn an observation, ``info`` and trace events into message dicts.

Only standard interfaces are used (``sensor_msgs``, ``geometry_msgs``, ``tf2_msgs``, ``std_msgs``,
``rosgraph_msgs``), so ``ros2 bag`` and Foxglove decode every topic without any package of ours.
A definition is the ``.msg`` text of the type followed by those of the types it uses, each after a
``MSG: package/Type`` separator line, as rosbag2 stores them.

Frames: ``world`` (the robot base on the table), ``panda_tcp`` (the tool centre point between the
fingertips) and ``<camera>_camera_optical_frame`` (OpenCV axes: x right, y down, z forward, the ROS
optical-frame convention, which is also what the envs' ``cam_to_world`` uses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_SEP = "=" * 80 + "\n"

_DEFS: dict[str, str] = {
    "builtin_interfaces/Time": "int32 sec\nuint32 nanosec\n",
    "std_msgs/Header": "builtin_interfaces/Time stamp\nstring frame_id\n",
    "std_msgs/String": "string data\n",
    "std_msgs/Float64": "float64 data\n",
    "std_msgs/MultiArrayDimension": "string label\nuint32 size\nuint32 stride\n",
    "std_msgs/MultiArrayLayout": "MultiArrayDimension[] dim\nuint32 data_offset\n",
    "std_msgs/Float64MultiArray": "MultiArrayLayout layout\nfloat64[] data\n",
    "geometry_msgs/Vector3": "float64 x\nfloat64 y\nfloat64 z\n",
    "geometry_msgs/Point": "float64 x\nfloat64 y\nfloat64 z\n",
    "geometry_msgs/Quaternion": "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n",
    "geometry_msgs/Pose": "Point position\nQuaternion orientation\n",
    "geometry_msgs/PoseStamped": "std_msgs/Header header\nPose pose\n",
    "geometry_msgs/Transform": "Vector3 translation\nQuaternion rotation\n",
    "geometry_msgs/TransformStamped": "std_msgs/Header header\nstring child_frame_id\nTransform transform\n",
    "tf2_msgs/TFMessage": "geometry_msgs/TransformStamped[] transforms\n",
    "sensor_msgs/Image": (
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\n"
        "uint32 step\nuint8[] data\n"
    ),
    "sensor_msgs/RegionOfInterest": (
        "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n"
    ),
    "sensor_msgs/CameraInfo": (
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\nfloat64[] d\n"
        "float64[9] k\nfloat64[9] r\nfloat64[12] p\nuint32 binning_x\nuint32 binning_y\nRegionOfInterest roi\n"
    ),
    "sensor_msgs/JointState": (
        "std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\nfloat64[] effort\n"
    ),
    "rosgraph_msgs/Clock": "builtin_interfaces/Time clock\n",
}

_USES: dict[str, tuple[str, ...]] = {
    "std_msgs/Header": ("builtin_interfaces/Time",),
    "std_msgs/MultiArrayLayout": ("std_msgs/MultiArrayDimension",),
    "std_msgs/Float64MultiArray": ("std_msgs/MultiArrayLayout",),
    "geometry_msgs/Pose": ("geometry_msgs/Point", "geometry_msgs/Quaternion"),
    "geometry_msgs/PoseStamped": ("std_msgs/Header", "geometry_msgs/Pose"),
    "geometry_msgs/Transform": ("geometry_msgs/Vector3", "geometry_msgs/Quaternion"),
    "geometry_msgs/TransformStamped": ("std_msgs/Header", "geometry_msgs/Transform"),
    "tf2_msgs/TFMessage": ("geometry_msgs/TransformStamped",),
    "sensor_msgs/Image": ("std_msgs/Header",),
    "sensor_msgs/CameraInfo": ("std_msgs/Header", "sensor_msgs/RegionOfInterest"),
    "sensor_msgs/JointState": ("std_msgs/Header",),
    "rosgraph_msgs/Clock": ("builtin_interfaces/Time",),
}


def _dependencies(name: str, seen: list[str]) -> list[str]:
    for dep in _USES.get(name, ()):
        if dep not in seen:
            seen.append(dep)
            _dependencies(dep, seen)
    return seen


def msgdef(datatype: str) -> str:
    """The ``ros2msg`` schema text of ``datatype`` (``"sensor_msgs/msg/Image"``) with its dependencies."""
    package, _, name = datatype.partition("/msg/")
    key = f"{package}/{name}"
    if key not in _DEFS:
        raise KeyError(f"no message definition for {datatype!r}; known: {sorted(_DEFS)}")
    text = _DEFS[key]
    for dep in _dependencies(key, []):
        text += f"{_SEP}MSG: {dep}\n{_DEFS[dep]}"
    return text


#: The message types written, as ``package/msg/Type``.
IMAGE, CAMERA_INFO, JOINT_STATE = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/JointState"
TF, POSE, CLOCK = "tf2_msgs/msg/TFMessage", "geometry_msgs/msg/PoseStamped", "rosgraph_msgs/msg/Clock"
STRING, FLOAT64, FLOAT64_ARRAY = "std_msgs/msg/String", "std_msgs/msg/Float64", "std_msgs/msg/Float64MultiArray"

WORLD_FRAME, EE_FRAME = "world", "panda_tcp"
ACTION_LABEL = "dx,dy,dz,dyaw,gripper"


def camera_frame(camera: str) -> str:
    return f"{camera}_camera_optical_frame"


def stamp(ns: int) -> dict[str, int]:
    """``builtin_interfaces/Time`` of a nanosecond timestamp."""
    return {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}


def header(ns: int, frame_id: str) -> dict[str, Any]:
    return {"stamp": stamp(ns), "frame_id": frame_id}


def image(ns: int, camera: str, data: bytes, height: int, width: int, encoding: str) -> dict[str, Any]:
    """``sensor_msgs/Image`` of raw little-endian pixel bytes: ``rgb8`` (HxWx3 uint8) or ``32FC1`` (HxW float32)."""
    channel_bytes = {"rgb8": 3, "32FC1": 4}[encoding]
    return {
        "header": header(ns, camera_frame(camera)),
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": channel_bytes * width,
        "data": data,
    }


def image_encoding(pixels: np.ndarray) -> tuple[np.ndarray, str]:
    """``pixels`` as contiguous little-endian data and its encoding: HxWx3 -> ``rgb8``, HxW -> ``32FC1``."""
    if pixels.ndim == 3:
        return np.ascontiguousarray(pixels, dtype=np.uint8), "rgb8"
    return np.ascontiguousarray(pixels, dtype="<f4"), "32FC1"


def image_array(msg: Any) -> np.ndarray:
    """The pixels of a decoded ``rgb8`` or ``32FC1`` ``sensor_msgs/Image`` (a copy)."""
    if msg.encoding == "rgb8":
        return np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3).copy()
    if msg.encoding == "32FC1":
        dtype = ">f4" if msg.is_bigendian else "<f4"
        return np.frombuffer(msg.data, dtype=dtype).reshape(msg.height, msg.width).astype(np.float32)
    raise ValueError(f"image encoding {msg.encoding!r} is not one of rgb8, 32FC1")


def camera_info(ns: int, camera: str, info: Mapping[str, Any]) -> dict[str, Any]:
    """``sensor_msgs/CameraInfo`` of an env camera (``K``, ``width``, ``height``; no distortion)."""
    k = np.asarray(info["K"], dtype=float).reshape(3, 3)
    p = np.zeros((3, 4))
    p[:, :3] = k
    return {
        "header": header(ns, camera_frame(camera)),
        "height": int(info["height"]),
        "width": int(info["width"]),
        "distortion_model": "plumb_bob",
        "d": [0.0] * 5,
        "k": k.reshape(-1).tolist(),
        "r": np.eye(3).reshape(-1).tolist(),
        "p": p.reshape(-1).tolist(),
        "binning_x": 0,
        "binning_y": 0,
        "roi": {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0, "do_rectify": False},
    }


def joint_state(ns: int, names: Sequence[str], position: np.ndarray, velocity: np.ndarray) -> dict[str, Any]:
    return {
        "header": header(ns, ""),
        "name": list(names),
        "position": np.asarray(position, dtype=float).reshape(-1).tolist(),
        "velocity": np.asarray(velocity, dtype=float).reshape(-1).tolist(),
        "effort": [],
    }


def quat_xyzw(rotation: np.ndarray) -> list[float]:
    """Unit quaternion ``(x, y, z, w)`` of a 3x3 rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    arr = np.asarray(q)
    return (arr / np.linalg.norm(arr)).tolist()  # type: ignore[no-any-return]


def wxyz_to_xyzw(quat_wxyz: np.ndarray) -> list[float]:
    """The envs report quaternions as MuJoCo does, ``(w, x, y, z)``; ROS wants ``(x, y, z, w)``."""
    w, x, y, z = (float(v) for v in np.asarray(quat_wxyz, dtype=float).reshape(4))
    return [x, y, z, w]


def _xyz(v: Sequence[float]) -> dict[str, float]:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


def _xyzw(q: Sequence[float]) -> dict[str, float]:
    return {"x": float(q[0]), "y": float(q[1]), "z": float(q[2]), "w": float(q[3])}


def transform(ns: int, child: str, translation: Sequence[float], rotation_xyzw: Sequence[float]) -> dict[str, Any]:
    """``geometry_msgs/TransformStamped`` of ``child`` in the world frame."""
    return {
        "header": header(ns, WORLD_FRAME),
        "child_frame_id": child,
        "transform": {"translation": _xyz(translation), "rotation": _xyzw(rotation_xyzw)},
    }


def camera_transform(ns: int, camera: str, cam_to_world: np.ndarray) -> dict[str, Any]:
    m = np.asarray(cam_to_world, dtype=float).reshape(4, 4)
    return transform(ns, camera_frame(camera), m[:3, 3].tolist(), quat_xyzw(m[:3, :3]))


def pose(ns: int, position: Sequence[float], orientation_xyzw: Sequence[float]) -> dict[str, Any]:
    """``geometry_msgs/PoseStamped`` in the world frame."""
    return {
        "header": header(ns, WORLD_FRAME),
        "pose": {"position": _xyz(position), "orientation": _xyzw(orientation_xyzw)},
    }


def float64(value: float) -> dict[str, float]:
    return {"data": float(value)}


def action(values: np.ndarray) -> dict[str, Any]:
    """``std_msgs/Float64MultiArray`` of the 5 action numbers, labelled ``dx,dy,dz,dyaw,gripper``."""
    data = np.asarray(values, dtype=float).reshape(-1).tolist()
    dim = {"label": ACTION_LABEL, "size": len(data), "stride": len(data)}
    return {"layout": {"dim": [dim], "data_offset": 0}, "data": data}


def clock(sim_time_s: float) -> dict[str, Any]:
    """``rosgraph_msgs/Clock``: the simulator's time (``/clock``, as a ROS 2 simulator publishes it)."""
    return {"clock": stamp(round(sim_time_s * 1e9))}


def string(text: str) -> dict[str, str]:
    return {"data": text}
