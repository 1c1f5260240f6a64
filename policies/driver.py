"""The one object a low-level policy talks to: an env, a perceiver and a per-step hook.

:class:`EnvDriver` steps a Gymnasium env, remembers the latest observation and the last
gripper command (so a move keeps holding what the gripper holds), counts control steps and
hands every ``(obs, info)`` to an ``on_step`` hook (a recorder), the action the env received added
to ``info`` as ``info["action"]``. Once the episode has ended (terminated or truncated) ``step``
does nothing, so a policy that finishes the task on the way does not crash: its success check
still runs on the last observation.

Object positions come only from :meth:`EnvDriver.perceive` (a :class:`perception.Perceiver`);
policies never read the simulator's ground truth. Proprioception (``obs["proprio"]``) is fine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perception.scene_graph import Perceiver, SceneGraph

StepHook = Callable[[dict[str, Any], dict[str, Any]], None]

GRIPPER_OPEN_CMD, GRIPPER_CLOSE_CMD = -1.0, 1.0


def _no_op(obs: dict[str, Any], info: dict[str, Any]) -> None:
    """The default step hook: records nothing."""


@dataclass(frozen=True)
class PolicyResult:
    """What a policy reports: did it succeed, why (or why not), and how many control steps it used."""

    success: bool
    message: str
    steps: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class EnvDriver:
    """Steps ``env`` with end-effector delta actions and perceives its observations.

    Args:
        env: a Gymnasium env with the ``embodied`` action layout ``(dx, dy, dz, dyaw, gripper)``.
        perceiver: turns ``(obs, info)`` into a :class:`SceneGraph`.
        obs: the current observation (from ``env.reset()`` or the last step).
        info: the current info dict.
        on_step: called with every ``(obs, info)`` the env produces (a recorder); default: no-op.
    """

    def __init__(
        self,
        env: Any,
        perceiver: Perceiver,
        obs: dict[str, Any],
        info: dict[str, Any],
        on_step: StepHook | None = None,
    ) -> None:
        self.env, self.perceiver = env, perceiver
        self.obs, self.info = obs, info
        self.on_step: StepHook = on_step or _no_op
        self.steps = 0
        self.frames = 0
        self.done = False
        self.gripper_cmd = GRIPPER_OPEN_CMD
        self._scene: SceneGraph | None = None

    # ----------------------------------------------------------- perception
    @property
    def scene(self) -> SceneGraph:
        """The latest scene graph (perceived on first use)."""
        if self._scene is None:
            return self.perceive()
        return self._scene

    @property
    def last_scene(self) -> SceneGraph | None:
        """The scene graph perceived last, or ``None`` when nothing has been perceived yet."""
        return self._scene

    def perceive(self) -> SceneGraph:
        """Perceive the current observation; the result becomes :attr:`scene`."""
        self._scene = self.perceiver.perceive(self.obs, self.info)
        return self._scene

    # --------------------------------------------------------- proprioception
    @property
    def ee_pos(self) -> np.ndarray:
        """Tool centre point (between the fingertips), world metres."""
        return np.asarray(self.obs["proprio"]["ee_pos"], dtype=float).reshape(3)

    @property
    def ee_yaw(self) -> float:
        return float(np.asarray(self.obs["proprio"]["ee_yaw"]).reshape(-1)[0])

    @property
    def gripper_width(self) -> float:
        """Distance between the fingers, metres (0.08 fully open)."""
        return float(np.asarray(self.obs["proprio"]["gripper_width"]).reshape(-1)[0])

    # ----------------------------------------------------------------- acting
    def step(self, delta: np.ndarray | tuple[float, ...], gripper: float | None = None) -> bool:
        """One control step: ``delta`` is ``(dx, dy, dz, dyaw)`` in [-1, 1]; False once the episode is over."""
        if self.done:
            return False
        if gripper is not None:
            self.gripper_cmd = float(gripper)
        action = np.zeros(5, dtype=np.float64)
        action[:4] = np.clip(np.asarray(delta, dtype=np.float64), -1.0, 1.0)
        action[4] = self.gripper_cmd
        self.obs, _reward, terminated, truncated, self.info = self.env.step(action)
        self.info["action"] = action  # what the env received, for the on_step hook (the recorder keeps it)
        self.steps += 1
        if any(k in self.obs for k in ("rgb", "depth", "segmentation")):
            self.frames += 1
        self.done = bool(terminated or truncated)
        self.on_step(self.obs, self.info)
        return True

    def hold(self, n: int, gripper: float | None = None) -> int:
        """Stay still for ``n`` steps (with an optional new gripper command); the steps taken."""
        taken = 0
        for _ in range(n):
            if not self.step((0.0, 0.0, 0.0, 0.0), gripper):
                break
            taken += 1
        return taken
