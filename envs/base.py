"""What every tabletop backend shares: arguments, the episode life cycle, ``step``, ``info`` and ground truth.

A backend (MuJoCo, PyBullet) subclasses :class:`TabletopEnvBase` and supplies the simulator
parts: building a scene and starting an episode, applying an action and stepping physics,
detecting and undoing a divergence, the observation, the camera matrices and the ground truth.
Everything a user sees as the contract (the arguments, :class:`~envs.config.EnvConfig`, seeding,
task loading, action validation and clipping, termination, truncation, the ``info`` keys and the
ground-truth API) is declared here once.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.common import MAX_OBJECTS, ControllerConfig, make_observation_space
from envs.config import DEFAULT_CONTROL_HZ, RENDER_MODES, EnvConfig, env_config
from envs.errors import PhysicsDivergence
from envs.signals import signals_held
from envs.tasks import TaskInstance, WorldState, sample_task

log = logging.getLogger(__name__)

Step = tuple[dict[str, Any], float, bool, bool, dict[str, Any]]


def check_action(action: Any) -> tuple[np.ndarray, bool]:
    """``action`` as 5 floats clipped to [-1, 1], and whether clipping changed it; bad input raises."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (5,):
        raise ValueError(f"action must have 5 numbers (dx, dy, dz, dyaw, gripper), got shape {np.shape(action)}")
    values = a.tolist()  # 5 Python floats: cheaper to check and clip than 5-element numpy calls
    if not all(map(math.isfinite, values)):
        raise ValueError(f"action contains NaN or Inf: {values}")
    clipped = [-1.0 if v < -1.0 else 1.0 if v > 1.0 else v for v in values]
    return np.array(clipped), clipped != values


class TabletopEnvBase(gym.Env[dict[str, Any], np.ndarray]):
    """The backend-neutral part of the tabletop envs.

    Args:
        config: the env's arguments (default: :class:`~envs.config.EnvConfig`'s defaults).
        **kwargs: fields of :class:`~envs.config.EnvConfig` (what ``gym.make`` passes); they
            override ``config``. An unknown name raises ``TypeError`` listing the valid ones.

    ``metadata["render_fps"]`` is the control rate as realised (``control_hz`` rounded to whole
    physics steps): one frame per control step plays back in real time.
    """

    metadata: dict[str, Any] = {"render_modes": list(RENDER_MODES), "render_fps": DEFAULT_CONTROL_HZ}  # noqa: RUF012
    #: Seconds of one physics step of the backend; a control step is a whole number of them.
    physics_timestep: ClassVar[float]

    def __init__(self, config: EnvConfig | None = None, **kwargs: Any) -> None:
        cfg = env_config(config, kwargs)
        substeps = round(1.0 / (cfg.control_hz * self.physics_timestep))
        if substeps < 1:
            physics_hz = 1 / self.physics_timestep
            raise ValueError(f"EnvConfig.control_hz={cfg.control_hz} is faster than the {physics_hz:.0f} Hz physics")
        self.config = cfg
        self.task_name, self._first_seed, self._instruction = cfg.task, cfg.seed, cfg.instruction
        self.cameras, self.image_size, self.modalities = cfg.cameras, cfg.image_size, cfg.modalities
        self.substeps, self.control_dt = substeps, substeps * self.physics_timestep
        self.metadata = {**type(self).metadata, "render_fps": 1.0 / self.control_dt}
        self.max_steps, self.terminate_on_success = cfg.max_steps, cfg.terminate_on_success
        self.raise_on_divergence, self.render_mode = cfg.raise_on_divergence, cfg.render_mode
        self.controller_config = cfg.controller or ControllerConfig()
        self.observation_space = make_observation_space(self.cameras, self.image_size, self.modalities)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(5,), dtype=np.float32)
        self.task: TaskInstance | None = None
        self.segmentation_ids: dict[str, int] = {}
        self._steps = 0
        self._needs_reset = True

    # ------------------------------------------------------------ lifecycle
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """New episode. ``options={"task": TaskInstance}`` loads a hand-made task (tests, chains)."""
        with signals_held():
            return self._reset(seed, options)

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is None and self._first_seed is not None and self.task is None:
            seed = self._first_seed
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            task = sample_task(self.task_name, self.np_random, self._instruction)
        elif not isinstance(task, TaskInstance):
            raise TypeError(f"options['task'] must be an envs.tasks.TaskInstance, got {type(task).__name__}")
        if len(task.scene.objects) > MAX_OBJECTS:
            raise ValueError(f"a scene holds at most {MAX_OBJECTS} objects, got {len(task.scene.objects)}")
        self.task = task
        self._start_episode(task)
        self._steps, self._needs_reset = 0, False
        obs = self._observation()
        return obs, self._info(clipped=False, action_clipped=False, error=None, success=self._success())

    def step(self, action: np.ndarray) -> Step:
        """One control step; Ctrl-C or SIGTERM during it is delivered when it returns (see ``envs.signals``)."""
        with signals_held():
            return self._step(action)

    def render(self) -> np.ndarray | None:  # type: ignore[override]
        """The first camera's rgb image when ``render_mode="rgb_array"``, else None."""
        with signals_held():
            return self._render_frame()

    def _step(self, action: np.ndarray) -> Step:
        if self._needs_reset or self.task is None:
            raise RuntimeError("call reset() before step(): the episode has ended or never started")
        a, action_clipped = check_action(action)
        snapshot = self._snapshot()
        clipped = self._advance(a)
        self._steps += 1
        error = self._divergence(snapshot)
        if error is not None:
            if self.raise_on_divergence:
                self._needs_reset = True
                raise PhysicsDivergence(error)
            log.warning("episode ended: %s", error)
            self._restore(snapshot)
        obs = self._observation()
        success = self._success()
        info = self._info(clipped, action_clipped, error, success)
        terminated = error is not None or (success and self.terminate_on_success)
        truncated = not terminated and self._steps >= self.max_steps
        self._needs_reset = terminated or truncated
        return obs, float(success), terminated, truncated, info

    def _success(self) -> bool:
        """The task's success predicate over ground truth (the reward and ``info["success"]``)."""
        assert self.task is not None
        return bool(self.task.success(self.world_state()))

    def _info(self, clipped: bool, action_clipped: bool, error: str | None, success: bool) -> dict[str, Any]:
        """Fresh ``info`` every call (Gymnasium's checker forbids sharing objects between steps)."""
        assert self.task is not None
        return {
            "cameras": self._camera_info(),
            "segmentation_ids": dict(self.segmentation_ids),
            "task": self.task.family,
            "instruction": self.task.instruction,
            "success": success,
            "clipped": clipped,
            "action_clipped": action_clipped,
            "physics_error": error,
            "sim_time": self._sim_time(),
            "steps": self._steps,
        }

    def with_task(self, task: TaskInstance) -> TaskInstance:
        """Swap the goal/instruction of the running episode (same scene), e.g. for task chains."""
        assert self.task is not None
        if task.scene.names != self.task.scene.names:
            raise ValueError("with_task keeps the scene: the new task must name the same objects")
        self.task = replace(task, scene=self.task.scene)
        return self.task

    # ------------------------------------------------------- backend hooks
    @abstractmethod
    def _start_episode(self, task: TaskInstance) -> None:
        """Build (or restore) ``task.scene``, put the robot at home and let the props settle."""

    @abstractmethod
    def _snapshot(self) -> Any:
        """Whatever :meth:`_restore` and :meth:`_divergence` need from before the step."""

    @abstractmethod
    def _advance(self, action: np.ndarray) -> bool:
        """Apply ``action`` (within [-1, 1]) and step physics one control period; True if a limit clipped it."""

    @abstractmethod
    def _divergence(self, snapshot: Any) -> str | None:
        """Why the physics diverged during the step, or None."""

    @abstractmethod
    def _restore(self, snapshot: Any) -> None:
        """After a divergence: the pre-step pose at rest, so the final observation is valid."""

    @abstractmethod
    def _observation(self) -> dict[str, Any]: ...

    @abstractmethod
    def _render_frame(self) -> np.ndarray | None: ...

    @abstractmethod
    def _camera_info(self) -> dict[str, Any]:
        """Fresh per-camera ``K``, ``cam_to_world``, ``width``, ``height``."""

    @abstractmethod
    def _sim_time(self) -> float: ...

    # ---------------------------------------------------------- ground truth
    # For success predicates, perturbations and the privileged perception baseline only.
    @abstractmethod
    def world_state(self) -> WorldState:
        """Every prop's pose (centre of its bottom face, yaw) and what the gripper holds."""

    @abstractmethod
    def held_object(self) -> str | None:
        """Name of the prop touched by both fingers, if any."""

    @abstractmethod
    def contacts(self) -> list[tuple[str, str]]:
        """Pairs of touching bodies by name (for debugging and tests)."""

    @abstractmethod
    def set_object_pose(self, name: str, pos: tuple[float, float, float]) -> None:
        """Teleport the free prop ``name`` (its bottom centre to ``pos``) at rest; a fixed prop raises ``ValueError``.

        For perturbations, tests and benchmarks; never for agents.
        """


def tabletop_env(env: gym.Env[Any, Any]) -> TabletopEnvBase:
    """The tabletop env under ``env``'s wrappers, typed, for its ground-truth API; ``TypeError`` for any other env."""
    inner = env.unwrapped
    if not isinstance(inner, TabletopEnvBase):
        raise TypeError(f"expected an embodied tabletop env, got {type(inner).__name__}")
    return inner
