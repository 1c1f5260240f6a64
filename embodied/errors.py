"""The one error hierarchy of embodied.

``envs`` sits below ``embodied`` in the import layers and keeps its own small hierarchy
(:mod:`envs.errors`); those classes are re-exported here so callers need one import.
"""

from __future__ import annotations

from envs.errors import (
    AssetNotFound,
    EnvError,
    PhysicsDivergence,
    RenderingUnavailable,
    SceneError,
    UnknownTaskError,
)

__all__ = [
    "AssetNotFound",
    "DependencyNotInstalled",
    "EmbodiedError",
    "EnvError",
    "MemoryStoreError",
    "PhysicsDivergence",
    "ProgramError",
    "RenderingUnavailable",
    "SceneError",
    "SkillArgumentError",
    "SkillDefinitionError",
    "SkillLoadError",
    "UnknownEnvError",
    "UnknownSkillError",
    "UnknownTaskError",
]


class EmbodiedError(Exception):
    """Base class of errors raised by the agent layer."""


class DependencyNotInstalled(EmbodiedError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs `{package}`: install it with `pip install 'embodied[{extra}]'`")
        self.package, self.extra = package, extra


class UnknownEnvError(EmbodiedError, ValueError):
    """An env name that is not registered; the message lists the valid ones."""


class SkillDefinitionError(EmbodiedError, TypeError):
    """A skill function that cannot become a tool (missing hint, undocumented argument, ...)."""


class SkillLoadError(SkillDefinitionError):
    """A user skills module or entry point that cannot be imported or holds no skill."""


class SkillArgumentError(EmbodiedError, ValueError):
    """A skill call whose arguments do not match the skill's schema."""


class UnknownSkillError(EmbodiedError, KeyError):
    """A call to a skill that is not registered."""


class MemoryStoreError(EmbodiedError, RuntimeError):
    """The memory file cannot be opened, read or written; the message names the file and what to do."""


class ProgramError(EmbodiedError, ValueError):
    """A composite skill's program that is malformed or does not fit the registered skills."""
