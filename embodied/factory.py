"""Assemble and run one episode from plain options (what ``embodied run`` and evaluation use).

An episode is an env, a perceiver, a skill registry, a planner and a recorder. ``task`` is a
task family name or a free instruction; for a free instruction a scene of the task suite that
contains the objects it mentions is chosen (deterministically per seed) and the instruction's
own goal becomes the success predicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embodied.core.decision import Planner
from embodied.errors import EmbodiedError
from embodied.planners.classical import ClassicalPlanner
from embodied.planners.grounding import InstructionNotUnderstood, parse_instruction
from embodied.skills.registry import SkillRegistry
from envs.tasks import FAMILIES, ObjectState, TaskInstance, WorldState, sample_task
from perception.ground_truth import scene_from_world
from perception.scene_graph import Perceiver

ENV_IDS = {"tabletop": "embodied/Tabletop-v0", "pybullet": "embodied/PybulletTabletop-v0"}
PLANNERS = ("classical", "llm", "llm+p", "auto")
PERCEPTIONS = ("vision", "ground_truth")
SCENE_SEARCH_TRIES = 400


class UsageError(EmbodiedError, ValueError):
    """Options that do not fit together; the message says what is valid."""


@dataclass(frozen=True)
class EpisodeConfig:
    """What to run. ``task`` is a family name or a free instruction."""

    task: str = "stack"
    seed: int = 0
    instruction: str | None = None
    planner: str = "auto"
    llm: str | None = None
    perception: str = "vision"
    skills: tuple[str, ...] = ()
    max_steps: int = 2000

    def __post_init__(self) -> None:
        if self.planner not in PLANNERS:
            raise UsageError(f"planner {self.planner!r} is not one of {', '.join(PLANNERS)}")
        if self.perception not in PERCEPTIONS:
            raise UsageError(f"perception {self.perception!r} is not one of {', '.join(PERCEPTIONS)}")
        if self.planner in ("llm", "llm+p") and not self.llm:
            raise UsageError(f"--planner {self.planner} needs --llm (e.g. openai:MODEL, hf:PATH)")
        if not self.task.strip():
            raise UsageError("task must be a family name or an instruction")

    @property
    def is_family(self) -> bool:
        return self.task in FAMILIES

    @property
    def planner_name(self) -> str:
        if self.planner == "auto":
            return "llm+p" if self.llm else "classical"
        return self.planner


def _rest_scene(task: TaskInstance) -> Any:
    state = WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], o.z), o.yaw) for o in task.scene.objects})
    return scene_from_world(state)


def task_for_instruction(instruction: str, seed: int) -> TaskInstance:
    """A suite scene in which ``instruction`` can be grounded, with its goal as the success predicate."""
    families = sorted(FAMILIES)
    last_error = ""
    for attempt in range(SCENE_SEARCH_TRIES):
        base = sample_task(families[(seed + attempt) % len(families)], seed * 1000 + attempt)
        try:
            goal = parse_instruction(instruction, _rest_scene(base))
        except InstructionNotUnderstood as e:
            last_error = str(e)
            continue
        return TaskInstance("instruction", instruction, base.scene, goal)
    raise UsageError(f"no scene of the task suite fits {instruction!r} ({last_error})")


def make_task(config: EpisodeConfig) -> TaskInstance:
    if config.is_family:
        return sample_task(config.task, config.seed, config.instruction)
    if len(config.task.split()) < 2:
        raise UsageError(
            f"unknown task {config.task!r}; valid tasks are: {', '.join(sorted(FAMILIES))} "
            "(or give a whole instruction in quotes)"
        )
    return task_for_instruction(config.task, config.seed)


def make_registry(skill_modules: Sequence[str] = ()) -> SkillRegistry:
    """The primitive skills, skills from installed entry points, and the user's ``--skills`` modules."""
    from embodied.skills.loading import discover_entry_point_skills, load_skills
    from embodied.skills.primitives import default_registry

    registry = default_registry()
    registry.extend(discover_entry_point_skills())
    registry.extend(load_skills(skill_modules))
    return registry


def make_perceiver(kind: str, env: Any) -> Perceiver:
    if kind == "ground_truth":
        from perception.ground_truth import GroundTruthPerceiver

        return GroundTruthPerceiver(env)
    from perception.vision import VisionPerceiver

    return VisionPerceiver()


def make_planner(config: EpisodeConfig) -> Planner:
    """The planner the options ask for (auto = llm+p when an LLM is configured, else classical)."""
    name = config.planner_name
    if name == "classical":
        return ClassicalPlanner()
    from embodied.llm import make_chat_model
    from embodied.planners.language import LLMGoalPlanner, LLMPlanner

    assert config.llm is not None
    model = make_chat_model(config.llm)
    if name == "llm":
        return LLMPlanner(model)
    goal_planner = LLMGoalPlanner(model)
    planner = ClassicalPlanner(goal_source=lambda text, scene: goal_planner.propose_goal(text, scene.names))
    planner.name = "llm+p"
    return planner
