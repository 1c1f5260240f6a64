"""Move-to-pose servo on proprioception, gripper open/close, and the reachable workspace.

The servo is closed loop: every control step it reads the tool centre point from
``obs["proprio"]`` and commands a delta toward the target, until the error is below a tolerance
or a step budget runs out (a timeout is a failed :class:`PolicyResult`, never an exception).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.common import ControllerConfig
from envs.validation import require_positive
from policies.driver import GRIPPER_CLOSE_CMD, GRIPPER_OPEN_CMD, EnvDriver, PolicyResult

#: Shoulder of the Panda (world metres) and the farthest the tool centre point can be from it.
SHOULDER = (0.0, 0.0, 0.333)
MAX_REACH = 0.80
GRIPPER_FULLY_OPEN = 0.08
#: Tool pose (m) up and back near the robot, out of the cameras' view of the table.
VIEW_POSE = (0.30, 0.0, 0.32)
#: The env integrates yaw commands into its target, so a full-gain yaw servo overshoots and rings.
YAW_GAIN = 0.4
YAW_TOLERANCE = 0.08  # radians


def wrap_half_turn(angle: float) -> float:
    """``angle`` wrapped into [-pi/2, pi/2): the parallel gripper looks the same turned by pi."""
    return (angle + math.pi / 2) % math.pi - math.pi / 2


@dataclass(frozen=True)
class MotionConfig:
    """Servo gains and limits.

    Attributes:
        step_pos: metres per unit action (the env's ``max_step_pos``).
        step_yaw: radians per unit action (the env's ``max_step_yaw``).
        tolerance: position error (m) at which a move counts as arrived.
        max_steps: step budget of one move before it times out.
        gripper_steps: steps budget of opening or closing the gripper.
    """

    step_pos: float = 0.025
    step_yaw: float = 0.25
    tolerance: float = 0.004
    max_steps: int = 120
    gripper_steps: int = 25

    def __post_init__(self) -> None:
        require_positive(self, "step_pos", "step_yaw", "tolerance")
        for name in ("max_steps", "gripper_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"MotionConfig.{name} must be >= 1, got {getattr(self, name)!r}")


def workspace_bounds(driver: EnvDriver) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Low and high corners of the box the env's controller lets the tool centre point reach."""
    cfg = getattr(getattr(driver.env, "unwrapped", driver.env), "controller_config", None)
    if not isinstance(cfg, ControllerConfig):
        cfg = ControllerConfig()
    return cfg.workspace_low, cfg.workspace_high


def unreachable_reason(driver: EnvDriver, target: tuple[float, float, float]) -> str | None:
    """Why the tool centre point cannot reach ``target`` (None when it can)."""
    if not all(math.isfinite(v) for v in target):
        return f"target {target} is not a finite position"
    low, high = workspace_bounds(driver)
    for axis, v, lo, hi in zip("xyz", target, low, high, strict=True):
        if not lo <= v <= hi:
            return f"{axis}={v:.3f} m is outside the reachable workspace {axis} in [{lo:.3f}, {hi:.3f}] m"
    reach = math.dist(target, SHOULDER)
    if reach > MAX_REACH:
        return f"the point is {reach:.2f} m from the robot's shoulder; the arm reaches {MAX_REACH:.2f} m"
    return None


def servo_to(
    driver: EnvDriver,
    target: np.ndarray | tuple[float, float, float],
    config: MotionConfig | None = None,
    yaw: float | None = None,
    tolerance: float | None = None,
    max_steps: int | None = None,
    speed: float = 1.0,
) -> PolicyResult:
    """Drive the tool centre point to ``target`` (world m) at heading ``yaw``, keeping the gripper command.

    ``yaw`` None keeps the heading the tool has when the move starts. ``speed`` in (0, 1] scales
    the largest commanded step (1 = the env's full ``step_pos`` per step).
    """
    cfg = config or MotionConfig()
    goal = np.asarray(target, dtype=float).reshape(3)
    tol = cfg.tolerance if tolerance is None else tolerance
    budget = cfg.max_steps if max_steps is None else max_steps
    start = driver.steps
    heading = driver.ee_yaw if yaw is None else yaw
    for _ in range(budget):
        err = goal - driver.ee_pos
        dist = float(np.linalg.norm(err))
        yaw_err = wrap_half_turn(heading - driver.ee_yaw)
        if dist < tol and abs(yaw_err) < YAW_TOLERANCE:
            return PolicyResult(True, f"reached {_fmt(goal)}", driver.steps - start, {"error_m": dist})
        delta = (
            *np.clip(err / cfg.step_pos, -speed, speed),
            float(np.clip(YAW_GAIN * yaw_err / cfg.step_yaw, -0.5, 0.5)),
        )
        if not driver.step(delta):
            return PolicyResult(False, "the episode has ended", driver.steps - start, {"error_m": dist})
    dist = float(np.linalg.norm(goal - driver.ee_pos))
    ok = dist < 2 * tol
    msg = f"reached {_fmt(goal)}" if ok else f"timed out {dist * 100:.1f} cm short of {_fmt(goal)}"
    return PolicyResult(ok, msg, driver.steps - start, {"error_m": dist})


def clear_view(driver: EnvDriver, config: MotionConfig | None = None) -> PolicyResult:
    """Lift the hand straight up, then back toward the robot, so the cameras see the table unobstructed."""
    start = driver.steps
    here = driver.ee_pos
    up = servo_to(driver, (float(here[0]), float(here[1]), max(float(here[2]), VIEW_POSE[2])), config, tolerance=0.02)
    back = servo_to(driver, VIEW_POSE, config, tolerance=0.03, max_steps=40)
    ok = up.success and back.success
    return PolicyResult(ok, "hand out of view" if ok else back.message, driver.steps - start)


def set_gripper(driver: EnvDriver, close: bool, config: MotionConfig | None = None) -> PolicyResult:
    """Open or close the gripper and wait until the fingers stop moving."""
    cfg = config or MotionConfig()
    start, last = driver.steps, driver.gripper_width
    command = GRIPPER_CLOSE_CMD if close else GRIPPER_OPEN_CMD
    still = 0
    for _ in range(cfg.gripper_steps):
        if not driver.step((0.0, 0.0, 0.0, 0.0), command):
            break
        width = driver.gripper_width
        still = still + 1 if abs(width - last) < 2e-4 else 0
        last = width
        if still >= 2 and driver.steps - start >= 4:
            break
    width = driver.gripper_width
    steps = driver.steps - start
    if close:
        return PolicyResult(True, f"gripper closed (width {width * 100:.1f} cm)", steps, {"width_m": width})
    ok = width > GRIPPER_FULLY_OPEN - 0.008
    msg = f"gripper open (width {width * 100:.1f} cm)" if ok else f"gripper stuck at {width * 100:.1f} cm"
    return PolicyResult(ok, msg, steps, {"width_m": width})


def _fmt(p: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in p) + ") m"
