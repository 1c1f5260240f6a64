"""Skills backed by learned policies: ``--policy pick=learned:PATH``.

The skill keeps its name, description and schema, and its argument checks; only the motion comes
from the trained network (:mod:`policies.learned`). Its success is judged from perception exactly
as the scripted skill's is, and a failure comes back to the planner as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from embodied.errors import EmbodiedError
from embodied.skills.primitives import pick_target, place_arguments
from embodied.skills.registry import SkillContext, SkillFn, SkillRegistry, SkillResult
from policies.learned import LEARNABLE_SKILLS

if TYPE_CHECKING:
    from policies.learned.rollout import LearnedPolicy

SPEC_FORM = "SKILL=learned:PATH (e.g. pick=learned:checkpoints/pick)"


class PolicySpecError(EmbodiedError, ValueError):
    """A ``--policy`` option that cannot be used; the message says what is valid."""


def parse_policy_spec(spec: str) -> tuple[str, str]:
    """``"pick=learned:PATH"`` -> ``("pick", "PATH")``."""
    skill, sep, rest = spec.partition("=")
    kind, colon, path = rest.partition(":")
    if not sep or not colon or kind != "learned" or not path.strip():
        raise PolicySpecError(f"--policy {spec!r} is not of the form {SPEC_FORM}")
    if skill not in LEARNABLE_SKILLS:
        raise PolicySpecError(
            f"--policy {spec!r}: a learned policy can back {', '.join(LEARNABLE_SKILLS)}, not {skill!r}"
        )
    return skill, path.strip()


def load_policy(skill: str, path: str) -> LearnedPolicy:
    """The learned policy at ``path``, checked to be one for ``skill``."""
    from policies.learned.checkpoint import CheckpointError
    from policies.learned.rollout import LearnedPolicy

    try:
        policy = LearnedPolicy.load(path)
    except CheckpointError as e:
        raise PolicySpecError(f"--policy {skill}=learned:{path}: {e}") from e
    if policy.config.skill != skill:
        raise PolicySpecError(
            f"--policy {skill}=learned:{path}: that checkpoint was trained for {policy.config.skill!r}"
        )
    return policy


def learned_pick(path: str) -> SkillFn:
    """The ``pick`` skill's function with the trained policy at ``path`` doing the grasping."""
    policy = load_policy("pick", path)

    def pick(ctx: SkillContext, object: str) -> SkillResult:
        return SkillResult.from_policy(policy.pick(ctx.driver, pick_target(ctx, object)))

    pick.policy = policy  # type: ignore[attr-defined]  # for benchmarks: its inference times
    return pick


def learned_place(path: str) -> SkillFn:
    """The ``place`` skill's function with the trained policy at ``path`` carrying the block and letting go."""
    policy = load_policy("place", path)

    def place(ctx: SkillContext, object: str, target: str) -> SkillResult:
        name, where = place_arguments(ctx, object, target)
        return SkillResult.from_policy(policy.place(ctx.driver, name, where))

    place.policy = policy  # type: ignore[attr-defined]
    return place


def back_with_policies(registry: SkillRegistry, specs: Iterable[str]) -> None:
    """Back each skill named in ``specs`` (``SKILL=learned:PATH``) with its learned policy."""
    makers = {"pick": learned_pick, "place": learned_place}
    for spec in specs:
        skill, path = parse_policy_spec(spec)
        registry.back(skill, makers[skill](path))
