"""Backend-neutral pieces shared by every simulator backend of the tabletop.

The robot's joint names and home pose, the tool centre point, the camera rig, the controller's
limits, the instance-id convention of segmentation images and the observation space: pure data
that the MuJoCo and PyBullet envs must agree on to be drop-in twins. Nothing here imports a
simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gymnasium import spaces

from envs.errors import AssetNotFound
from envs.validation import require_positive

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
FINGER_BODIES = ("panda_leftfinger", "panda_rightfinger")
#: Tool centre point: between the fingertips, 0.107 m (flange) + 0.105 m below link 7.
TCP_OFFSET = 0.107 + 0.105
#: "Ready" pose: hand high and pulled back (TCP ~ (0.28, 0, 0.38)), out of the top camera's view.
HOME_QPOS = (0.0, -0.9, 0.0, -2.7, 0.0, 1.8, math.pi / 4)
FINGER_OPEN = 0.04  # metres of travel per finger (8 cm total opening)
#: The robot's colours on every backend: white links, a dark grey hand.
ROBOT_RGBA, HAND_RGBA = (0.93, 0.93, 0.95, 1.0), (0.2, 0.2, 0.22, 1.0)

#: Segmentation instance ids: background, table, robot, then scene objects from 3 in scene order.
BACKGROUND_ID, TABLE_ID, ROBOT_ID, FIRST_OBJECT_ID = 0, 1, 2, 3
MAX_OBJECTS = 16
FAR_DEPTH = 100.0  # metres: the far clipping plane (background pixels read as this)
MAX_JOINT_SPEED = 1e3  # rad/s or m/s: faster than this counts as a physics divergence
MODALITIES = ("rgb", "depth", "segmentation")


def panda_urdf_path() -> Path:
    """Path of ``franka_panda/panda.urdf`` inside ``pybullet_data``."""
    try:
        import pybullet_data
    except ImportError as e:
        raise AssetNotFound(
            "the Panda robot model ships in the `pybullet` package (pybullet_data); "
            "install it with `pip install pybullet` or `pip install -e .`"
        ) from e
    path = Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"
    if not path.is_file():
        raise AssetNotFound(f"{path} is missing; reinstall pybullet (`pip install --force-reinstall pybullet`)")
    return path


@dataclass(frozen=True)
class CameraSpec:
    """A fixed camera looking from ``pos`` at ``target`` with vertical field of view ``fovy`` (deg)."""

    name: str
    pos: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float = 45.0
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)


DEFAULT_CAMERAS: tuple[CameraSpec, ...] = (
    CameraSpec("front", pos=(1.32, 0.0, 0.78), target=(0.42, 0.0, 0.05), fovy=50.0),
    CameraSpec("top", pos=(0.52, 0.0, 1.05), target=(0.52, 0.0, 0.0), fovy=44.0, up=(1.0, 0.0, 0.0)),
)


@dataclass(frozen=True)
class ControllerConfig:
    """Limits of the end-effector controller (metres, radians, per control step)."""

    max_step_pos: float = 0.025
    max_step_yaw: float = 0.25
    max_lead: float = 0.05
    workspace_low: tuple[float, float, float] = (0.20, -0.45, 0.005)
    workspace_high: tuple[float, float, float] = (0.80, 0.45, 0.50)
    yaw_limit: float = 1.6
    damping: float = 0.05
    nullspace_gain: float = 0.2

    def __post_init__(self) -> None:
        require_positive(self, "max_step_pos", "max_step_yaw", "max_lead", "damping")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high, strict=True)):
            raise ValueError(
                f"ControllerConfig.workspace_low {self.workspace_low} must be below "
                f"workspace_high {self.workspace_high}"
            )


def tcp_yaw(xmat: np.ndarray) -> float:
    """Yaw of a fingers-down tool frame from its flattened (row-major) rotation matrix."""
    return math.atan2(xmat[3], xmat[0])


def camera_lookat_axes(cam: CameraSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit ``right``, ``up`` and ``forward`` vectors of ``cam`` in the world frame."""
    pos, target, up = (np.asarray(v, dtype=float) for v in (cam.pos, cam.target, cam.up))
    forward = target - pos
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    return right, np.cross(right, forward), forward


def make_observation_space(
    cameras: tuple[str, ...], image_size: tuple[int, ...], modalities: tuple[str, ...]
) -> spaces.Dict:
    """The observation ``Dict`` every tabletop backend returns (see ``envs.tabletop.env``)."""
    h, w = image_size
    per_cam: dict[str, Callable[[], spaces.Box]] = {
        "rgb": lambda: spaces.Box(0, 255, (h, w, 3), np.uint8),
        "depth": lambda: spaces.Box(0.0, FAR_DEPTH, (h, w), np.float32),
        "segmentation": lambda: spaces.Box(0, FIRST_OBJECT_ID + MAX_OBJECTS, (h, w), np.int32),
    }
    proprio = spaces.Dict(
        {
            "ee_pos": spaces.Box(-2.0, 2.0, (3,), np.float64),
            "ee_quat": spaces.Box(-1.0, 1.0, (4,), np.float64),
            "ee_yaw": spaces.Box(-np.pi, np.pi, (1,), np.float64),
            "gripper_width": spaces.Box(0.0, 0.1, (1,), np.float64),
            "joint_pos": spaces.Box(-2 * np.pi, 2 * np.pi, (9,), np.float64),
            "joint_vel": spaces.Box(-MAX_JOINT_SPEED, MAX_JOINT_SPEED, (9,), np.float64),
        }
    )
    images = {m: spaces.Dict({c: per_cam[m]() for c in cameras}) for m in modalities}
    return spaces.Dict({**images, "proprio": proprio})


def pinhole_intrinsics(fovy_deg: float, width: int, height: int) -> np.ndarray:
    """3x3 K of a rendered camera: square pixels, principal point at the image centre.

    In OpenCV's convention pixel (0, 0) is the centre of the first pixel, so the image centre is
    at ((W - 1) / 2, (H - 1) / 2), not (W / 2, H / 2).
    """
    f = 0.5 * height / math.tan(math.radians(fovy_deg) / 2)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def advance_target(
    config: ControllerConfig,
    target_pos: np.ndarray,
    target_yaw: float,
    tcp: np.ndarray,
    action: np.ndarray,
) -> tuple[np.ndarray, float, bool]:
    """Move the end-effector target by a normalised action, within the workspace, lead and yaw limits.

    Returns the new target position and yaw, and whether a limit clipped the request. It runs every
    control step, so the three coordinates are Python floats rather than 3-element numpy calls.
    """
    step, low, high = config.max_step_pos, config.workspace_low, config.workspace_high
    move = action.tolist()
    wanted = [p + m * step for p, m in zip(target_pos.tolist(), move[:3], strict=True)]
    target = [min(max(w, lo), hi) for w, lo, hi in zip(wanted, low, high, strict=True)]
    here = tcp.tolist()
    lead = [t - h for t, h in zip(target, here, strict=True)]
    dist = math.sqrt(np.dot(lead, lead))  # as np.linalg.norm computes it, to the last bit
    if dist > config.max_lead:
        scale = config.max_lead / dist
        target = [h + v * scale for h, v in zip(here, lead, strict=True)]
    clipped = max(abs(target[0] - wanted[0]), abs(target[1] - wanted[1]), abs(target[2] - wanted[2])) > 1e-9
    yaw = target_yaw + move[3] * config.max_step_yaw
    if abs(yaw) > config.yaw_limit:
        yaw, clipped = math.copysign(config.yaw_limit, yaw), True
    return np.array(target), yaw, clipped


def finger_target(action: np.ndarray) -> float:
    """Per-finger opening (m) for the gripper command ``action[4]``: -1 fully open, +1 closed."""
    return FINGER_OPEN * (1.0 - float(action[4])) / 2.0
