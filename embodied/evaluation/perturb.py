"""Disturbances injected mid-episode, as a tracer wrapper (the agent is not told).

* ``knock_off``: right after the first successful ``place``, the placed block is knocked off to
  a free spot on the table;
* ``move_target``: a few control steps into the first ``pick``, the block being reached for is
  moved 5-7 cm.

Both can only be recovered from by verifying from perception and replanning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from embodied.recording.tracing import Tracer, TracerWrapper
from envs.base import tabletop_env
from envs.scene_spec import WORKSPACE_X, WORKSPACE_Y

MOVE_AFTER_STEPS = 8
CLEARANCE = 0.09


class Perturber(TracerWrapper):
    """Wraps a tracer; applies one disturbance of ``kind`` to ``env`` once."""

    def __init__(self, inner: Tracer, env: Any, kind: str, rng: np.random.Generator) -> None:
        super().__init__(inner)
        self.env, self.kind, self.rng = tabletop_env(env), kind, rng
        self.done = False
        self.applied: dict[str, Any] = {}
        self._countdown: int | None = None
        self._target: str | None = None
        self._last_object = ""

    def event(self, kind: str, **data: Any) -> None:
        super().event(kind, **data)
        if self.done:
            return
        if self.kind == "knock_off" and kind == "tool_result" and data.get("name") == "place" and data.get("success"):
            self._knock(self._last_object)
        if kind == "tool_call":
            self._last_object = str(data.get("arguments", {}).get("object", ""))
            if self.kind == "move_target" and data.get("name") == "pick":
                self._target, self._countdown = self._last_object, MOVE_AFTER_STEPS

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        super().on_step(obs, info)
        if self._countdown is not None and not self.done:
            self._countdown -= 1
            if self._countdown <= 0 and self._target:
                self._move(self._target)

    def _free_spot(
        self, name: str, near: tuple[float, float] | None, radius: tuple[float, float]
    ) -> tuple[float, float]:
        others = [o.pos for n, o in self.env.world_state().objects.items() if n != name]
        for _ in range(200):
            if near is None:
                x, y = self.rng.uniform(*WORKSPACE_X), self.rng.uniform(*WORKSPACE_Y)
            else:
                angle, dist = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(*radius)
                x, y = near[0] + dist * math.cos(angle), near[1] + dist * math.sin(angle)
            inside = WORKSPACE_X[0] <= x <= WORKSPACE_X[1] and WORKSPACE_Y[0] <= y <= WORKSPACE_Y[1]
            if inside and all(math.hypot(x - p[0], y - p[1]) > CLEARANCE for p in others):
                return float(x), float(y)
        raise RuntimeError(f"no free spot for {name}")

    def _knock(self, name: str) -> None:
        if not name or name not in self.env.world_state().objects:
            return
        x, y = self._free_spot(name, None, (0.0, 0.0))
        self.env.set_object_pose(name, (x, y, 0.002))
        self._apply("knock_off", name, (x, y))

    def _move(self, name: str) -> None:
        state = self.env.world_state()
        if name not in state.objects or state.held == name:
            self._countdown = None
            return
        pos = state.objects[name].pos
        x, y = self._free_spot(name, (pos[0], pos[1]), (0.05, 0.07))
        self.env.set_object_pose(name, (x, y, pos[2] + 0.002))
        self._apply("move_target", name, (x, y))

    def _apply(self, kind: str, name: str, xy: tuple[float, float]) -> None:
        self.done, self._countdown = True, None
        self.applied = {"type": kind, "object": name, "to": [round(xy[0], 3), round(xy[1], 3)]}
        self.inner.event("perturbation", **self.applied)
