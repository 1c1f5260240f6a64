"""Demonstrations: what a dataset keeps of each control step of an episode, gathered as it runs.

:class:`DemoTracer` sits in the agent's tracer chain. Each control step it keeps the observation
the action was chosen on (both cameras' rgb, the proprio as :data:`~policies.learned.features.STATE_NAMES`
and the end-effector pose), the action the env received, and which skill call was running. When a
skill is called it also keeps the call's *target* as perception saw it at that moment (the object
for ``pick``, the place for ``place``): what a learned policy is later conditioned on, computed the
same way it will be when that policy runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied.recording.tracing import NullTracer, Tracer, TracerWrapper
from perception.scene_graph import Perceiver
from policies.learned.features import CAMERAS, STATE_NAMES, TARGET_NAMES, call_target, state_vector

EE_POSE_NAMES = ("x", "y", "z", "qw", "qx", "qy", "qz")
NO_TARGET = np.zeros(len(TARGET_NAMES), dtype=np.float32)


@dataclass
class SkillCall:
    """One skill call of a demonstration: frames ``start`` (first) to ``end`` (one past the last)."""

    name: str
    arguments: dict[str, Any]
    start: int
    target: list[float] | None
    end: int = -1
    success: bool | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "arguments", "start", "end", "success", "message", "target")}


@dataclass
class Demonstration:
    """Everything recorded of one episode, one row per control step (``len(self)`` steps)."""

    images: dict[str, list[np.ndarray]] = field(default_factory=lambda: {c: [] for c in CAMERAS})
    state: list[np.ndarray] = field(default_factory=list)
    ee_pose: list[np.ndarray] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)
    call: list[int] = field(default_factory=list)
    target: list[np.ndarray] = field(default_factory=list)
    calls: list[SkillCall] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.action)

    def frames(self) -> dict[str, np.ndarray]:
        """The per-step columns of a dataset (everything but the videos)."""
        n = len(self)
        done = np.zeros((n, 1), dtype=bool)
        if n:
            done[-1] = True
        return {
            "observation.state": np.asarray(self.state, dtype=np.float32).reshape(n, len(STATE_NAMES)),
            "observation.ee_pose": np.asarray(self.ee_pose, dtype=np.float32).reshape(n, len(EE_POSE_NAMES)),
            "action": np.asarray(self.action, dtype=np.float32).reshape(n, 5),
            "skill.call": np.asarray(self.call, dtype=np.int64).reshape(n, 1),
            "skill.target": np.asarray(self.target, dtype=np.float32).reshape(n, len(TARGET_NAMES)),
            "next.done": done,
        }

    def videos(self) -> dict[str, np.ndarray]:
        return {f"observation.images.{c}": np.stack(frames) for c, frames in self.images.items()}


class DemoTracer(TracerWrapper):
    """Records a :class:`Demonstration` while forwarding everything to ``inner``.

    Args:
        perceiver: the agent's own perceiver (so a call's target is what the skill itself sees).
        inner: the tracer to forward to (default: none).
    """

    def __init__(self, perceiver: Perceiver, inner: Tracer | None = None) -> None:
        super().__init__(inner or NullTracer())
        self.perceiver = perceiver
        self.demo = Demonstration()
        self._last: tuple[dict[str, Any], dict[str, Any]] | None = None

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        super().on_step(obs, info)
        action = info.get("action")
        if action is not None and self._last is not None:
            self._keep(self._last[0], np.asarray(action, dtype=np.float32))
        self._last = (obs, info)

    def event(self, kind: str, **data: Any) -> None:
        super().event(kind, **data)
        if kind == "tool_call":
            self._close_call(None, "interrupted by the next call")
            args = dict(data.get("arguments") or {})
            self.demo.calls.append(SkillCall(str(data.get("name")), args, len(self.demo), self._target(args)))
        elif kind == "tool_result":
            self._close_call(bool(data.get("success")), str(data.get("message", "")))

    def finish(self) -> Demonstration:
        """The demonstration, with a call still open closed at the last step."""
        self._close_call(None, "the episode ended during the call")
        return self.demo

    # ------------------------------------------------------------------
    def _keep(self, obs: dict[str, Any], action: np.ndarray) -> None:
        demo = self.demo
        for cam in CAMERAS:
            demo.images[cam].append(np.array(obs["rgb"][cam], dtype=np.uint8, copy=True))
        proprio = obs["proprio"]
        demo.state.append(state_vector(proprio))
        pose = np.concatenate([np.asarray(proprio["ee_pos"]).reshape(3), np.asarray(proprio["ee_quat"]).reshape(4)])
        demo.ee_pose.append(pose.astype(np.float32))
        demo.action.append(action)
        open_call = demo.calls[-1] if demo.calls and demo.calls[-1].end < 0 else None
        demo.call.append(len(demo.calls) - 1 if open_call else -1)
        target = open_call.target if open_call and open_call.target is not None else None
        demo.target.append(np.asarray(target, dtype=np.float32) if target is not None else NO_TARGET)

    def _close_call(self, success: bool | None, message: str) -> None:
        if self.demo.calls and self.demo.calls[-1].end < 0:
            call = self.demo.calls[-1]
            call.end, call.success, call.message = len(self.demo), success, message

    def _target(self, arguments: dict[str, Any]) -> list[float] | None:
        """Where perception sees the call's target now: ``target`` (a place) if given, else ``object``."""
        name = arguments.get("target", arguments.get("object"))
        if not isinstance(name, str) or self._last is None:
            return None
        vec = call_target(self.perceiver.perceive(*self._last), name)
        return None if vec is None else [float(v) for v in vec]
