"""Pure conversions the bridge needs on both sides: image buffers, poses, tasks and world states as JSON.

No ROS import here: an image is described by its ``encoding``, ``height``, ``width``, ``step``,
``is_bigendian`` and ``data`` (the fields of ``sensor_msgs/Image``), so the same functions serve
the env, the simulator node and the tests. cv_bridge is not needed.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from envs.common import ControllerConfig
from envs.scene_spec import ObjectSpec, SceneSpec
from envs.tasks import TaskInstance, WorldState
from envs.tasks.predicates import ObjectState

#: ``sensor_msgs/Image`` encodings the bridge reads and writes: (numpy dtype, channels).
ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("uint8", 3),
    "bgr8": ("uint8", 3),
    "32FC1": ("float32", 1),
    "32SC1": ("int32", 1),
    "16UC1": ("uint16", 1),  # depth in millimetres, as many real depth cameras publish it
}


def image_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """The ``sensor_msgs/Image`` fields of ``array`` (HxW or HxWxC) in ``encoding``, little-endian."""
    dtype, channels = ENCODINGS[encoding]
    a = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<"))
    if a.shape[2:] not in ((), (channels,)) or (channels > 1 and a.ndim != 3):
        want = f"(H, W, {channels})" if channels > 1 else "(H, W)"
        raise ValueError(f"a {encoding} image needs shape {want}, got {a.shape}")
    h, w = a.shape[:2]
    return {
        "encoding": encoding,
        "height": h,
        "width": w,
        "step": w * channels * a.itemsize,
        "is_bigendian": 0,
        "data": a.tobytes(),
    }


def image_array(encoding: str, height: int, width: int, step: int, is_bigendian: int, data: bytes) -> np.ndarray:
    """The numpy image of a ``sensor_msgs/Image`` (a fresh array: rgb8 HxWx3 uint8, 32FC1 HxW float32, ...).

    ``bgr8`` becomes rgb and ``16UC1`` (millimetres) becomes float32 metres, so a real camera's
    usual encodings arrive as the observation expects them.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"image encoding {encoding!r} is not supported; use one of {sorted(ENCODINGS)}")
    dtype_name, channels = ENCODINGS[encoding]
    dtype = np.dtype(dtype_name).newbyteorder(">" if is_bigendian else "<")
    row = width * channels * dtype.itemsize
    if step < row or len(data) < step * height:
        raise ValueError(f"{encoding} image {width}x{height}: step {step} / {len(data)} bytes do not hold its pixels")
    rows = np.frombuffer(data, dtype=np.uint8, count=step * height).reshape(height, step)[:, :row]
    flat = (
        np.ascontiguousarray(rows).view(dtype).reshape((height, width, channels) if channels > 1 else (height, width))
    )
    out = flat.astype(dtype.newbyteorder("="), copy=True)
    if encoding == "bgr8":
        out = np.ascontiguousarray(out[..., ::-1])
    if encoding == "16UC1":
        metres = out.astype(np.float32) / np.float32(1000.0)
        metres[out == 0] = np.nan  # 0 means no reading
        return metres
    return out


def quat_xyzw_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion in ROS order (x, y, z, w)."""
    n = math.sqrt(x * x + y * y + z * z + w * w) or 1.0
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat_xyzw(r: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix."""
    m = np.asarray(r, dtype=float)
    t = float(np.trace(m))
    if t > 0:
        s = math.sqrt(t + 1.0) * 2
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    if w < 0:
        x, y, z, w = -x, -y, -z, -w
    return float(x), float(y), float(z), float(w)


def pose_matrix(translation: tuple[float, float, float], quat_xyzw: tuple[float, float, float, float]) -> np.ndarray:
    """4x4 homogeneous pose."""
    out = np.eye(4)
    out[:3, :3] = quat_xyzw_to_matrix(*quat_xyzw)
    out[:3, 3] = translation
    return out


# ----------------------------------------------------------------- JSON
def task_to_json(task: TaskInstance) -> dict[str, Any]:
    """A task as plain JSON values (the reset request and answer)."""
    return {
        "family": task.family,
        "instruction": task.instruction,
        "scene": [asdict(o) for o in task.scene.objects],
        "goal": [list(a) for a in task.goal],
    }


def task_from_json(data: dict[str, Any]) -> TaskInstance:
    """The task of :func:`task_to_json`; a malformed one raises ``ValueError`` naming the problem."""
    try:
        objects = tuple(
            ObjectSpec(
                str(o["name"]),
                str(o["kind"]),
                str(o["colour"]),
                float(o["size"]),
                (float(o["pos"][0]), float(o["pos"][1])),
                float(o.get("yaw", 0.0)),
                float(o.get("z", 0.0)),
            )
            for o in data["scene"]
        )
        goal = tuple(tuple(str(t) for t in atom) for atom in data["goal"])
        return TaskInstance(str(data["family"]), str(data["instruction"]), SceneSpec(objects), goal)
    except (KeyError, TypeError, IndexError) as e:
        raise ValueError(f"a task needs family, instruction, scene (objects) and goal: {type(e).__name__} {e}") from e


def world_to_json(state: WorldState, contacts: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Ground truth as JSON: per object its spec, base-centre position and yaw; what is held; contacts."""
    return {
        "objects": {
            n: {"spec": asdict(s.spec), "pos": [float(v) for v in s.pos], "yaw": float(s.yaw)}
            for n, s in state.objects.items()
        },
        "held": state.held,
        "contacts": [list(c) for c in contacts or ()],
    }


def world_from_json(data: dict[str, Any]) -> WorldState:
    """The :class:`WorldState` of :func:`world_to_json`."""
    objects = {}
    for name, o in data["objects"].items():
        spec = task_from_json({"family": "", "instruction": "", "scene": [o["spec"]], "goal": []}).scene.objects[0]
        objects[str(name)] = ObjectState(
            spec, (float(o["pos"][0]), float(o["pos"][1]), float(o["pos"][2])), float(o["yaw"])
        )
    held = data.get("held")
    return WorldState(objects, str(held) if held is not None else None)


def controller_from_json(data: dict[str, Any] | None) -> ControllerConfig:
    """The controller limits a simulator reports (the defaults when it reports none)."""
    if not data:
        return ControllerConfig()
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return ControllerConfig(**fields)
