"""Running a learned skill policy closed loop on the env, behind the same skill as the scripted one.

Every control step the policy sees the cameras and the proprio, plus the target the skill was
called on (where perception saw it when the call began), and predicts a chunk of actions with, for
each, whether the skill is over by then. The chunks predicted over the last steps are blended
(:class:`TemporalEnsemble`, ACT's temporal ensembling); the rollout ends when the blended "over"
passes one half, or after the config's ``max_steps``.

:class:`LearnedPolicy` plugs into the scripted skills' own loops: :meth:`LearnedPolicy.pick_attempt`
replaces one approach-grasp-lift of :func:`policies.grasp.pick`, which keeps its checks, its retries
and its success test from perception. The planner cannot tell the two apart, and a failure comes back
as text like any skill's.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from perception.scene_graph import DetectedObject, SceneGraph
from policies.driver import GRIPPER_CLOSE_CMD, GRIPPER_OPEN_CMD, EnvDriver, PolicyResult
from policies.grasp import GraspConfig
from policies.grasp import pick as scripted_pick
from policies.learned.checkpoint import load_checkpoint
from policies.learned.features import call_target, observation_images, state_vector, target_vector, vector_features
from policies.learned.model import VisuomotorPolicy
from policies.lookup import relocate
from policies.place import PlaceConfig, release_point
from policies.place import place as scripted_place

#: ACT's temporal ensembling weight: w_i = exp(-m * i), i = 0 for the oldest prediction of a step.
ENSEMBLE_DECAY = 0.01
DONE_THRESHOLD = 0.5
#: One thread: the forward pass of one sample is a few ms, and more threads only spin against the simulator and
#: renderer on the same cores (measured 3 ms with one thread, 140 ms with two on a loaded 2-core machine).
INFERENCE_THREADS = 1
#: How far (m) from the centre of a block below a learned release may land a block for it to count as on it.
ALIGN_TOLERANCE_M = 0.015


class TemporalEnsemble:
    """Blends the actions (and "over" probabilities) that successive chunks predicted for the same step."""

    def __init__(self, decay: float = ENSEMBLE_DECAY) -> None:
        self.decay = decay
        self._pending: defaultdict[int, list[tuple[np.ndarray, float]]] = defaultdict(list)

    def add(self, step: int, actions: np.ndarray, done: np.ndarray) -> None:
        """Record a chunk predicted at ``step``: row ``k`` is for step ``step + k``."""
        for k in range(len(actions)):
            self._pending[step + k].append((actions[k], float(done[k])))

    def blend(self, step: int) -> tuple[np.ndarray, float]:
        """The blended action and "over" probability for ``step`` (older predictions weigh a little more)."""
        preds = self._pending.pop(step)
        for old in [s for s in self._pending if s < step]:
            del self._pending[old]
        w = np.exp(-self.decay * np.arange(len(preds)))
        w /= w.sum()
        action = sum(wi * a for wi, (a, _) in zip(w, preds, strict=True))
        done = float(sum(wi * d for wi, (_, d) in zip(w, preds, strict=True)))
        return np.asarray(action, dtype=np.float64), done


class LearnedPolicy:
    """A trained :class:`~policies.learned.model.VisuomotorPolicy` that drives the env.

    Attributes:
        model: the network (eval mode, CPU).
        path: where it was loaded from.
        inference_s: seconds of every forward pass so far (for the benchmarks).
    """

    def __init__(self, model: VisuomotorPolicy, path: Path | str = "") -> None:
        self.model, self.path = model, Path(path)
        self.config = model.config
        self.inference_s: list[float] = []

    @classmethod
    def load(cls, folder: Path | str) -> LearnedPolicy:
        model, _training = load_checkpoint(folder)
        return cls(model, folder)

    def predict(
        self, obs: dict[str, object], target: np.ndarray, previous: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass: the chunk of actions (chunk, 5) and "over" probabilities (chunk,); ``previous`` is
        the action sent on the step before (None: the call's first step)."""
        t0 = time.perf_counter()
        images = torch.from_numpy(observation_images(obs)[None])
        proprio = obs["proprio"]
        assert isinstance(proprio, dict)
        prev = np.zeros(5, dtype=np.float32) if previous is None else previous
        vector = torch.from_numpy(vector_features(state_vector(proprio), target, prev)[None])
        threads = torch.get_num_threads()
        torch.set_num_threads(INFERENCE_THREADS)
        try:
            with torch.inference_mode():
                actions, done_logits = self.model(images, vector)
        finally:
            torch.set_num_threads(threads)
        self.inference_s.append(time.perf_counter() - t0)
        return actions[0].numpy(), torch.sigmoid(done_logits[0]).numpy()

    def run(self, driver: EnvDriver, target: np.ndarray) -> tuple[bool, int]:
        """Drive until the policy says the skill is over (True) or ``max_steps`` pass (False); and the steps."""
        ensemble = TemporalEnsemble()
        previous: np.ndarray | None = None
        for i in range(self.config.max_steps):
            if driver.done:
                return False, i
            actions, done = self.predict(driver.obs, target, previous)
            ensemble.add(i, actions, done)
            action, over = ensemble.blend(i)
            if over > DONE_THRESHOLD:
                return True, i
            gripper = GRIPPER_CLOSE_CMD if action[4] > 0 else GRIPPER_OPEN_CMD
            previous = np.append(np.clip(action[:4], -1.0, 1.0), gripper).astype(np.float32)  # what the env gets
            driver.step(action[:4], gripper)
        return False, self.config.max_steps

    # ------------------------------------------------------ as the skills' attempts
    def pick_attempt(self, driver: EnvDriver, scene: SceneGraph, obj: DetectedObject, cfg: GraspConfig) -> str:
        """One learned approach-grasp-lift toward ``obj``; empty when the policy ran to its end, else why not."""
        over, steps = self.run(driver, target_vector(obj.position, obj.size))
        if over:
            return ""
        if driver.done:
            return "the episode ended during the learned grasp"
        return f"the learned policy ({self.path.name or 'pick'}) did not finish within {steps} steps"

    def pick(self, driver: EnvDriver, name: str, config: GraspConfig | None = None) -> PolicyResult:
        """:func:`policies.grasp.pick` with this policy doing each approach-grasp-lift."""
        if self.config.skill != "pick":
            raise ValueError(f"this learned policy backs {self.config.skill!r}, not 'pick'")
        return scripted_pick(driver, name, config, attempt=self.pick_attempt)

    def place_carry(
        self, driver: EnvDriver, scene: SceneGraph, obj: DetectedObject, target: str, cfg: PlaceConfig
    ) -> tuple[str, np.ndarray]:
        """The learned carry-and-release of the held ``obj`` to ``target``: ``(what failed or "", release point)``;
        the release point is the scripted one, where :func:`policies.place.place` then looks for the block."""
        release = release_point(scene, obj, target)
        goal = call_target(scene, target)
        if goal is None:
            return f"the {target} is not visible", release
        over, steps = self.run(driver, goal)
        if over:
            return self._off_centre(driver, obj, scene.find(target), release), release
        if driver.done:
            return "the episode ended during the learned placing", release
        return f"the learned policy ({self.path.name or 'place'}) did not finish within {steps} steps", release

    @staticmethod
    def _off_centre(driver: EnvDriver, obj: DetectedObject, base: DetectedObject | None, release: np.ndarray) -> str:
        """Why a block let go on another block is not on it (empty when it looks centred).

        The scripted release is over the centre; a learned one can land a block half over the edge,
        where it tilts and leans on the block below, and the cameras, seeing its top at the right
        height, take it to be on. So on a block the learned release must land within
        :data:`ALIGN_TOLERANCE_M` of that centre (the place skill then picks it up and tries again).
        """
        if base is None or base.shape != "block":
            return ""
        now = relocate(driver.perceive(), obj, release, horizontal=True)
        if now is None:
            return ""  # the place skill's own check says where it went
        off = math.hypot(now.position[0] - float(release[0]), now.position[1] - float(release[1]))
        if off <= ALIGN_TOLERANCE_M:
            return ""
        return f"the learned release left the {obj.name} {off * 100:.1f} cm off the centre of the {base.name}"

    def place(self, driver: EnvDriver, name: str, target: str, config: PlaceConfig | None = None) -> PolicyResult:
        """:func:`policies.place.place` with this policy carrying the block and letting go."""
        if self.config.skill != "place":
            raise ValueError(f"this learned policy backs {self.config.skill!r}, not 'place'")
        return scripted_place(driver, name, target, config, carry=self.place_carry)

    def mean_inference_ms(self) -> float:
        return 1000.0 * float(np.mean(self.inference_s)) if self.inference_s else math.nan
