"""What a learned skill policy sees: camera images and a vector of proprio and the skill's target.

One definition for training (frames decoded from a dataset) and for running (live observations),
so the two cannot drift apart. Everything here is numpy; the network is in
:mod:`policies.learned.model`.

- **images**: each camera's rgb, resized to :data:`IMAGE_SIZE` with area averaging, channels first.
- **state** (:data:`STATE_NAMES`, what a dataset's ``observation.state`` holds): the tool centre
  point, its yaw, the gripper's width and the nine joint positions.
- **target** (:data:`TARGET_NAMES`): where perception saw the object the skill was called on
  (its centre and size, metres) when the call began; for ``place`` the place to put it.
- **previous action**: the action sent on the step before (zeros at the call's first step). The
  scripted experts' servo sometimes dips below a waypoint and comes back up before going on; from
  the pose alone "coming back up" and "going on down" look the same, the last action tells them apart.
- **vector**: :func:`vector_features` turns state + target + previous action into the network's input,
  scaled to about unit range, with the target relative to the hand so the policy can generalise
  across the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from envs.scene_spec import REGIONS
from perception.scene_graph import SceneGraph

#: Camera views the policy looks at, in this order.
CAMERAS = ("front", "top")
#: ``(width, height)`` of each camera image the network sees.
IMAGE_SIZE = (64, 48)
STATE_NAMES = (
    "ee_x",
    "ee_y",
    "ee_z",
    "ee_yaw",
    "gripper_width",
    *(f"joint_{i}" for i in range(1, 8)),
    "finger_1",
    "finger_2",
)
TARGET_NAMES = ("target_x", "target_y", "target_z", "target_size_x", "target_size_y", "target_size_z")
ACTION_NAMES = ("dx", "dy", "dz", "dyaw", "gripper")
#: Length of :func:`vector_features`.
VECTOR_DIM = 18
_WORKSPACE_CENTRE = np.array([0.5, 0.0, 0.15])


def state_vector(proprio: Mapping[str, Any]) -> np.ndarray:
    """An observation's ``proprio`` dict as the :data:`STATE_NAMES` vector (float32)."""
    parts = [
        np.asarray(proprio["ee_pos"], dtype=np.float32).reshape(3),
        np.asarray(proprio["ee_yaw"], dtype=np.float32).reshape(1),
        np.asarray(proprio["gripper_width"], dtype=np.float32).reshape(1),
        np.asarray(proprio["joint_pos"], dtype=np.float32).reshape(9),
    ]
    return np.concatenate(parts)


def target_vector(position: Any, size: Any) -> np.ndarray:
    """A perceived object's centre and size (m) as the :data:`TARGET_NAMES` vector (float32)."""
    return np.concatenate([np.asarray(position, np.float32).reshape(3), np.asarray(size, np.float32).reshape(3)])


def call_target(scene: SceneGraph, name: str) -> np.ndarray | None:
    """The :data:`TARGET_NAMES` vector of what a call names: a visible object (its centre and size) or a
    table region (its centre on the table and its extent); None when perception does not see it."""
    if name in REGIONS:
        x0, x1, y0, y1 = REGIONS[name]
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2, 0.0, x1 - x0, y1 - y0, 0.0], dtype=np.float32)
    obj = scene.find(name)
    if obj is None:
        return None
    vec = target_vector(obj.position, obj.size)
    return vec if bool(np.all(np.isfinite(vec))) else None


def image_features(rgb: np.ndarray) -> np.ndarray:
    """One camera's HxWx3 uint8 rgb as the network's 3x48x64 uint8 input."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a camera image must be HxWx3, got shape {rgb.shape}")
    small = rgb if rgb.shape[1::-1] == IMAGE_SIZE else cv2.resize(rgb, IMAGE_SIZE, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small.transpose(2, 0, 1))


def observation_images(obs: Mapping[str, Any]) -> np.ndarray:
    """Every camera of :data:`CAMERAS` from a live observation, as a (cameras, 3, 48, 64) uint8 array."""
    rgb = obs.get("rgb")
    missing = [c for c in CAMERAS if not isinstance(rgb, Mapping) or c not in rgb]
    if missing:
        have = sorted(rgb) if isinstance(rgb, Mapping) else []
        raise ValueError(f"the learned policy needs rgb from cameras {list(CAMERAS)}; the observation has {have}")
    assert isinstance(rgb, Mapping)
    return np.stack([image_features(np.asarray(rgb[c])) for c in CAMERAS])


def vector_features(state: np.ndarray, target: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """State, target and previous action (one row, or N rows) as the network's :data:`VECTOR_DIM` inputs."""
    s = np.asarray(state, dtype=np.float32)
    t = np.broadcast_to(np.asarray(target, dtype=np.float32), (*s.shape[:-1], 6))
    prev = np.broadcast_to(np.asarray(previous, dtype=np.float32), (*s.shape[:-1], len(ACTION_NAMES)))
    ee, yaw, width = s[..., 0:3], s[..., 3:4], s[..., 4:5]
    rel = t[..., 0:3] - ee
    parts = [
        rel * 10.0,  # decimetres from the hand to the target
        (ee - _WORKSPACE_CENTRE.astype(np.float32)) * 5.0,
        np.sin(2 * yaw),  # the gripper looks the same turned by pi
        np.cos(2 * yaw),
        width * 25.0,
        t[..., 3:6] * 20.0,
        t[..., 2:3] * 10.0,
        prev,
    ]
    out = np.concatenate(parts, axis=-1).astype(np.float32)
    assert out.shape[-1] == VECTOR_DIM
    return out
