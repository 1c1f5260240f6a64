"""A scripted demonstration episode: privileged pick-and-place from ground truth.

Stands in for the agent loop until planners, skills and perception are wired together: it
reads goal atoms and object poses from the simulator (never do this in an agent) and moves
each object with a simple servo. It exists so that ``make run`` shows the robot working and
writes a video on a fresh machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.scene_spec import REGIONS

StepHook = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass
class DemoResult:
    success: bool
    steps: int
    reason: str


class ScriptedDemo:
    """Drives a ``TabletopEnv`` through its task's goal atoms with a ground-truth servo."""

    def __init__(self, env: Any, on_step: StepHook | None = None) -> None:
        self.env = env
        self.u = env.unwrapped
        self.on_step = on_step or (lambda obs, info: None)
        self.obs: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.done = False

    def _step(self, action: np.ndarray) -> None:
        self.obs, _, term, trunc, self.info = self.env.step(action)
        self.on_step(self.obs, self.info)
        self.done = term or trunc

    def _servo(self, target: np.ndarray, grip: float, tol: float = 0.004, limit: int = 80) -> None:
        for _ in range(limit):
            if self.done:
                return
            err = target - self.obs["proprio"]["ee_pos"]
            if float(np.linalg.norm(err)) < tol:
                return
            self._step(np.array([*np.clip(err / 0.025, -1.0, 1.0), 0.0, grip]))

    def _hold(self, grip: float, n: int) -> None:
        for _ in range(n):
            if self.done:
                return
            self._step(np.array([0.0, 0.0, 0.0, 0.0, grip]))

    def _move(self, name: str, dest: np.ndarray) -> None:
        obj = self.u.world_state().get(name)
        grasp = np.array([obj.pos[0], obj.pos[1], obj.pos[2] + obj.spec.size / 2])
        self._servo(grasp + [0, 0, 0.10], -1.0)
        self._servo(grasp, -1.0)
        self._hold(1.0, 8)
        self._servo(grasp + [0, 0, 0.15], 1.0)
        self._servo(dest + [0, 0, 0.10], 1.0)
        self._servo(dest, 1.0, tol=0.006)
        self._hold(-1.0, 6)
        self._servo(dest + [0, 0, 0.10], -1.0)

    def run(self, obs: dict[str, Any], info: dict[str, Any]) -> DemoResult:
        self.obs, self.info = obs, info
        self.on_step(obs, info)
        steps0 = int(info["steps"])
        for pred, a, b in self.u.task.goal:
            if self.done:
                break
            size = self.u.world_state().get(a).spec.size
            if pred == "in_region":
                x0, x1, y0, y1 = REGIONS[b]
                dest = np.array([(x0 + x1) / 2, (y0 + y1) / 2, size / 2])
            else:
                base = self.u.world_state().get(b)
                z = base.top + size / 2 + 0.01 if pred == "on" else base.pos[2] + size / 2 + 0.03
                dest = np.array([base.pos[0], base.pos[1], z])
            self._move(a, dest)
        self._hold(-1.0, 3)
        success = bool(self.info.get("success", False))
        reason = "goal reached" if success else "scripted demo did not reach the goal"
        return DemoResult(success, int(self.info["steps"]) - steps0, reason)
