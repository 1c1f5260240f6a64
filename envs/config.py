"""What a tabletop env is made with: one :class:`EnvConfig` for every backend.

``gym.make("embodied/Tabletop-v0", task="stack", seed=0, ...)`` passes its keyword arguments to
the env, which turns them into an :class:`EnvConfig` (the fields below are the arguments); code
may also build the config itself and pass it as ``config=``. The config checks itself, so a bad
argument fails when the env is made, with the field, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from numbers import Integral
from typing import Any

from envs.common import DEFAULT_CAMERAS, MODALITIES, ControllerConfig
from envs.tasks import sample_task
from envs.validation import require_positive

#: Steps before an episode is truncated, unless ``max_steps`` says otherwise; also the
#: ``max_episode_steps`` the envs are registered with (see ``envs/__init__.py``).
DEFAULT_MAX_STEPS = 2000
DEFAULT_CONTROL_HZ = 20.0
RENDER_MODES = ("rgb_array",)


@dataclass(frozen=True)
class EnvConfig:
    """The arguments of every tabletop backend.

    Attributes:
        task: task family name (``envs.tasks.FAMILIES``).
        seed: seed of the first reset when ``reset`` is called without one.
        instruction: new wording for the sampled task; scene and success predicate stay.
        cameras: which of the scene cameras to render (``front``, ``top``).
        image_size: ``(height, width)`` of every camera image.
        modalities: which of ``rgb``, ``depth``, ``segmentation`` to render each step.
        control_hz: control rate; physics runs faster underneath (MuJoCo 500 Hz, PyBullet 240 Hz),
            a whole number of physics steps per control step.
        max_steps: steps before the episode is truncated. Through ``gym.make``, pass the same
            number as ``max_episode_steps`` when it differs from :data:`DEFAULT_MAX_STEPS`, or the
            registered ``TimeLimit`` truncates at the default first.
        terminate_on_success: end the episode as soon as the goal holds.
        raise_on_divergence: raise :class:`~envs.errors.PhysicsDivergence` instead of ending the episode.
        controller: limits of the end-effector controller (None: the defaults).
        render_mode: ``"rgb_array"`` (the first camera) or ``None``.
    """

    task: str = "pick_place"
    seed: int | None = None
    instruction: str | None = None
    cameras: tuple[str, ...] = ("front", "top")
    image_size: tuple[int, int] = (240, 320)
    modalities: tuple[str, ...] = MODALITIES
    control_hz: float = DEFAULT_CONTROL_HZ
    max_steps: int = DEFAULT_MAX_STEPS
    terminate_on_success: bool = True
    raise_on_divergence: bool = False
    controller: ControllerConfig | None = None
    render_mode: str | None = None

    def __post_init__(self) -> None:
        for name in ("cameras", "image_size", "modalities"):  # lists from a caller become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        sample_task(self.task, 0)  # fail now, with the list of valid tasks, on an unknown name
        known = tuple(c.name for c in DEFAULT_CAMERAS)
        if not self.cameras or any(c not in known for c in self.cameras):
            raise ValueError(f"EnvConfig.cameras={self.cameras!r}: choose one or more of {known}")
        if len(self.image_size) != 2 or not all(isinstance(n, Integral) and n > 0 for n in self.image_size):
            raise ValueError(f"EnvConfig.image_size={self.image_size!r}: choose (height, width) in positive pixels")
        if any(m not in MODALITIES for m in self.modalities):
            raise ValueError(f"EnvConfig.modalities={self.modalities!r}: choose from {MODALITIES}")
        if self.render_mode not in (None, *RENDER_MODES):
            raise ValueError(f"EnvConfig.render_mode={self.render_mode!r}: choose None or one of {RENDER_MODES}")
        require_positive(self, "control_hz", "max_steps")


FIELDS = tuple(f.name for f in fields(EnvConfig))


def env_config(config: EnvConfig | None = None, overrides: Mapping[str, Any] | None = None) -> EnvConfig:
    """``config`` (default: :class:`EnvConfig`'s defaults) with the fields named in ``overrides`` replaced.

    An unknown name raises ``TypeError`` listing the valid ones, as a misspelt keyword argument would.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown tabletop env argument(s) {unknown}; the arguments are {list(FIELDS)}")
    return replace(config, **overrides) if config is not None else EnvConfig(**overrides)
