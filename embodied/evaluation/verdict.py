"""Ground truth's verdict on a finished episode, beside the agent's own claim.

The agent decides it is done from perception; the simulator knows whether the task's predicate
holds. Where the two disagree, the evaluation counts it:

* ``false_success``: the episode ended on the agent's "done" (verified from perception, or
  unverifiable) while ground truth says the task is not done. The worst failure: a user stops
  checking, and the memory learns from it.
* ``missed_success``: ground truth holds, but the agent gave up (its planner failed, a budget ran
  out) instead of saying done.

For a false success the row also says which of the task's goal atoms ground truth rejects, and
where ground truth and the agent's last perceived scene put their objects. Ground truth is read
here, after the episode has ended; the agent never reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from embodied.agent.loop import TASK_COMPLETED, EpisodeResult, claims_done
from embodied.core.verification import format_atom
from envs.base import tabletop_env
from envs.tasks import TaskInstance
from envs.tasks.predicates import WorldState, holds


def verdict(result: EpisodeResult, env: gym.Env[Any, Any]) -> dict[str, Any]:
    """``claimed_done``, ``false_success``, ``missed_success`` and, for a false success, ``rejected``:
    one line per goal atom ground truth rejects, with what ground truth and perception place where."""
    claimed = claims_done(result.reason)
    row: dict[str, Any] = {
        "claimed_done": claimed,
        "false_success": claimed and not result.success,
        "missed_success": result.success and not claimed and not result.reason.startswith(TASK_COMPLETED),
    }
    if row["false_success"]:
        row["rejected"] = rejected_atoms(env, result.stats.get("last_seen", {}))
    return row


def rejected_atoms(env: gym.Env[Any, Any], seen: dict[str, list[float]]) -> list[str]:
    """The task's goal atoms that do not hold in the simulator, each with both views of its objects."""
    try:
        inner = tabletop_env(env)
    except TypeError:
        return []  # not a simulator: nothing to judge with
    if inner.task is None:
        return []
    world = inner.world_state()
    out = []
    for atom in inner.task.goal:
        if holds(world, atom):
            continue
        views = []
        for name in atom[1:]:
            state = world.objects.get(name)
            truth = _xyz(state.pos) if state is not None else "not in the world"
            perceived = _xyz(seen[name]) if name in seen else "not seen"
            views.append(f"{name}: ground truth base {truth}, perceived centre {perceived}")
        out.append(f"{format_atom(atom)} does not hold ({'; '.join(views)})")
    return out


def undone(tasks: Sequence[TaskInstance], upto: int, world: WorldState) -> list[str]:
    """Goal atoms of the chain links before ``upto`` that no longer hold in ``world`` although no
    link since then (up to and including ``upto``) moved either of their objects: link ``upto``
    undid an earlier one's work."""
    out = []
    for j in range(upto):
        moved = {a[1] for task in tasks[j + 1 : upto + 1] for a in task.goal}
        for atom in tasks[j].goal:
            if not set(atom[1:]) & moved and not holds(world, atom):
                out.append(f"{format_atom(atom)} (link {j + 1}, {tasks[j].instruction!r}) no longer holds")
    return out


def _xyz(pos: Any) -> str:
    return "(" + ", ".join(f"{float(v):.3f}" for v in pos) + ")"
