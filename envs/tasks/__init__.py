"""The tabletop task suite: families, seeded sampling and ground-truth success predicates."""

from __future__ import annotations

import numpy as np

from envs.errors import UnknownTaskError
from envs.tasks.base import TaskFamily, TaskInstance
from envs.tasks.families import FAMILIES
from envs.tasks.predicates import Atom, ObjectState, WorldState, holds

__all__ = [
    "FAMILIES",
    "Atom",
    "ObjectState",
    "TaskFamily",
    "TaskInstance",
    "WorldState",
    "get_family",
    "holds",
    "sample_task",
]


def get_family(name: str) -> TaskFamily:
    """The family called ``name``; an unknown name lists the valid ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks are: {', '.join(sorted(FAMILIES))}") from None


def sample_task(name: str, seed: int | np.random.Generator, instruction: str | None = None) -> TaskInstance:
    """A deterministic instance of family ``name`` for ``seed``; ``instruction`` rewords it only."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    task = get_family(name).sample(rng)
    return task.with_instruction(instruction) if instruction is not None else task
