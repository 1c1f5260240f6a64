"""Assemble one episode from plain options: what ``embodied run``, evaluation and other entry points share.

:func:`build_episode` turns an :class:`EpisodeConfig` into an :class:`Episode`: the gym env, the
task, a skill registry, a planner, a perceiver, the memory and the :class:`~embodied.agent.loop.Agent`
that puts them together. It runs nothing; :meth:`Episode.run` (or the caller) does.

``task`` is a task family name or a free instruction; for a free instruction a scene of the task
suite that contains the objects it mentions is chosen (deterministically per seed) and the
instruction's own goal becomes the success predicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embodied.core.decision import Planner
from embodied.errors import EmbodiedError
from embodied.memory import EMBEDDERS
from embodied.planners.classical import ClassicalPlanner
from embodied.planners.grounding import InstructionNotUnderstood, goal_consistency, parse_instruction
from embodied.planners.readings import TwoReadings
from embodied.recording.tracing import Tracer
from embodied.skills.learned import PolicySpecError, parse_policy_spec
from embodied.skills.registry import SkillRegistry
from envs.common import MODALITIES
from envs.tasks import FAMILIES, ObjectState, TaskInstance, WorldState, sample_task
from envs.tasks.chains import CHAIN_LENGTH
from envs.validation import require_positive
from perception.ground_truth import scene_from_world
from perception.scene_graph import Perceiver

if TYPE_CHECKING:
    import gymnasium as gym

    from embodied.agent.loop import Agent, EpisodeResult
    from embodied.memory import Memory

ENV_IDS = {
    "tabletop": "embodied/Tabletop-v0",
    "pybullet": "embodied/PybulletTabletop-v0",
    "ros": "embodied/RosTabletop-v0",  # the same contract over ROS topics (docs/ros.md)
}
PLANNERS = ("classical", "llm", "llm+p", "auto")
PERCEPTIONS = ("vision", "ground_truth")
SCENE_SEARCH_TRIES = 400
#: The chat model LLM+P uses when no --llm is given: SmolLM2 with the shipped adapter, offline.
DEFAULT_LLM = "local"


class UsageError(EmbodiedError, ValueError):
    """Options that do not fit together; the message says what is valid."""


@dataclass(frozen=True)
class EpisodeConfig:
    """What to run; checks itself and names the bad field, its value and what is allowed.

    Attributes:
        task: a task family name or a free instruction.
        seed: seed of the scene and instruction.
        instruction: new wording for a family's task (scene and goal stay).
        planner: ``classical`` (the pattern grounder), ``llm``, ``llm+p`` or ``auto`` (llm+p, with
            ``llm`` or else the local model).
        llm: chat model spec (``local``, ``openai:MODEL``, ``ollama:MODEL``, ``hf:PATH``, ``scripted:FILE``).
        perception: ``vision`` or ``ground_truth`` (privileged baseline).
        skills: modules with ``@skill`` functions to add to the registry.
        max_steps: control steps before the episode is cut off (per task of a chain).
        env: simulator backend, a key of :data:`ENV_IDS`.
        modalities: images rendered each step; ``None``: the backend's default (all of them).
        env_samples_task: the env is made with ``seed`` and ``instruction`` and samples the family's
            task itself at reset (evaluation suites); otherwise the factory resolves ``task`` (a
            family or a free instruction) and hands it to the env at reset (``embodied run``).
        chain: a task chain (CALVIN-style): the caller brings the tasks, one scene, no reset
            between them; the env's step budget is ``max_steps`` per task.
        memory: the memory file to recall from and learn into; ``None``: no memory.
        embedder: memory retrieval, ``auto``, ``minilm`` or ``lexical``.
        policies: skills backed by learned policies, ``SKILL=learned:PATH`` each (``--policy``).
    """

    task: str = "stack"
    seed: int = 0
    instruction: str | None = None
    planner: str = "auto"
    llm: str | None = None
    perception: str = "vision"
    skills: tuple[str, ...] = ()
    max_steps: int = 2000
    env: str = "tabletop"
    modalities: tuple[str, ...] | None = None
    env_samples_task: bool = False
    chain: bool = False
    memory: str | None = None
    embedder: str = "auto"
    policies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_choice("planner", self.planner, PLANNERS)
        _check_choice("perception", self.perception, PERCEPTIONS)
        if self.planner == "llm" and not self.llm:
            raise UsageError("--planner llm needs --llm (e.g. local, openai:MODEL, hf:PATH)")
        if not self.task.strip():
            raise UsageError(
                f"task {self.task!r} is empty: give a task family (see `embodied tasks`) or an instruction"
            )
        if self.instruction is not None and not self.instruction.strip():
            raise UsageError(
                f"instruction {self.instruction!r} is empty: give the task's new wording, or leave --instruction out"
            )
        if self.seed < 0:
            raise UsageError(f"seed {self.seed} is negative: give an integer >= 0")
        _check_choice("env", self.env, tuple(ENV_IDS))
        _check_choice("embedder", self.embedder, EMBEDDERS)
        require_positive(self, "max_steps", error=UsageError)
        bad = [m for m in self.modalities or () if m not in MODALITIES]
        if bad:
            raise UsageError(f"modalities {bad} are not among {', '.join(MODALITIES)}")
        for spec in self.policies:
            try:
                parse_policy_spec(spec)
            except PolicySpecError as e:
                raise UsageError(str(e)) from e
        if self.env_samples_task and not (self.is_family or self.chain):
            raise UsageError(f"env_samples_task needs a task family, got {self.task!r}")

    @property
    def is_family(self) -> bool:
        return self.task in FAMILIES

    @property
    def planner_name(self) -> str:
        """The planner that runs: ``auto`` is LLM+P (the model sets the goal, the classical planner plans)."""
        return "llm+p" if self.planner == "auto" else self.planner

    @property
    def llm_spec(self) -> str | None:
        """The chat model of an LLM planner: ``--llm``, else the local model (``None`` for classical)."""
        if self.planner_name == "classical":
            return None
        return self.llm or DEFAULT_LLM


def _check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{field} {value!r} is not one of {', '.join(allowed)}")


@dataclass
class Episode:
    """One assembled episode; :meth:`close` it (or use ``with``) to release the env and the memory.

    Attributes:
        config: what it was built from.
        env: the gym env (not reset yet).
        agent: the agent; set ``agent.tracer`` to watch it (it starts with the tracer given).
        task: the task handed to the env at reset; ``None`` when the env samples its own
            (``config.env_samples_task``) or the caller brings the tasks (``config.chain``).
        memory: the open memory, or ``None``.
    """

    config: EpisodeConfig
    env: gym.Env[Any, Any]
    agent: Agent
    task: TaskInstance | None
    memory: Memory | None = None

    @property
    def reset_options(self) -> dict[str, Any] | None:
        """``env.reset`` options: the resolved task, if any."""
        return {"task": self.task} if self.task is not None else None

    def run(self) -> EpisodeResult:
        """Reset the env with the config's seed (and task) and let the agent pursue the task."""
        return self.agent.run(self.env, seed=self.config.seed, options=self.reset_options)

    def close(self) -> None:
        try:
            self.env.close()
        finally:
            if self.memory is not None:
                self.memory.close()

    def __enter__(self) -> Episode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_episode(config: EpisodeConfig, *, memory: Memory | None = None, tracer: Tracer | None = None) -> Episode:
    """Assemble the episode ``config`` describes; nothing is run.

    The checks that need no simulator come first (task, skills, planner, memory), so a bad option
    fails before an env is made. ``memory`` is an already open memory to use instead of opening
    ``config.memory``; the episode closes it either way. ``tracer`` receives the agent's trace
    (default: nothing is recorded).
    """
    from embodied.agent.loop import Agent
    from perception.describe import describe

    if memory is not None and config.memory is not None:
        raise UsageError("give a memory file in the config or an open memory, not both")
    task = None if config.env_samples_task or config.chain else make_task(config)
    registry = make_registry(config.skills, config.policies)
    planner = make_planner(config)
    if memory is None and config.memory is not None:
        memory = make_memory(config)
    env: gym.Env[Any, Any] | None = None
    try:
        env = make_env(config)
        perceiver = make_perceiver(config.perception, env)
        agent = Agent(planner, registry, perceiver, describe, memory=memory, tracer=tracer)
    except BaseException:
        if env is not None:
            env.close()
        if memory is not None:
            memory.close()
        raise
    return Episode(config, env, agent, task, memory)


def make_env(config: EpisodeConfig) -> gym.Env[Any, Any]:
    """The gym env of ``config.env``; it never ends the episode on success.

    The agent decides when it is done (verified from perception), so ground truth never leaks into
    the loop; success is judged at the end.
    """
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)

    kwargs: dict[str, Any] = {"task": config.task if config.is_family else "stack"}  # else reset brings it
    if config.env_samples_task:
        kwargs.update(seed=config.seed, instruction=config.instruction)
    kwargs["max_steps"] = config.max_steps * (CHAIN_LENGTH if config.chain else 1)
    if config.modalities is not None:
        kwargs["modalities"] = config.modalities
    # max_episode_steps: Gymnasium's TimeLimit is built from the registry's default (envs/config.py)
    # unless told otherwise, and would cut an episode longer than that default.
    return gym.make(ENV_IDS[config.env], terminate_on_success=False, max_episode_steps=kwargs["max_steps"], **kwargs)


def make_memory(config: EpisodeConfig) -> Memory:
    """The memory file ``config.memory`` (raises :class:`~embodied.errors.MemoryStoreError` saying what is wrong)."""
    from embodied.memory import Memory

    return Memory(config.memory, config.embedder)


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
    """The task of a family (reworded by ``config.instruction``), or a scene fitting a free instruction."""
    if config.is_family:
        return sample_task(config.task, config.seed, config.instruction)
    if len(config.task.split()) < 2:
        raise UsageError(
            f"unknown task {config.task!r}; valid tasks are: {', '.join(sorted(FAMILIES))} "
            "(or give a whole instruction in quotes)"
        )
    return task_for_instruction(config.task, config.seed)


def make_registry(skill_modules: Sequence[str] = (), policies: Sequence[str] = ()) -> SkillRegistry:
    """The primitive skills, skills from installed entry points, and the user's ``--skills`` modules;
    ``policies`` (``SKILL=learned:PATH``) back skills with learned policies."""
    from embodied.skills.loading import discover_entry_point_skills, load_skills
    from embodied.skills.primitives import default_registry

    registry = default_registry()
    registry.extend(discover_entry_point_skills())
    registry.extend(load_skills(skill_modules))
    if policies:
        from embodied.skills.learned import back_with_policies

        try:
            back_with_policies(registry, policies)
        except PolicySpecError as e:
            raise UsageError(str(e)) from e
    return registry


def make_perceiver(kind: str, env: Any) -> Perceiver:
    if kind == "ground_truth":
        from perception.ground_truth import GroundTruthPerceiver

        return GroundTruthPerceiver(env)
    from perception.vision import VisionPerceiver

    return VisionPerceiver()


def planner_description(config: EpisodeConfig) -> str:
    """What plans and what grounds the instruction, in words (printed by ``run`` and ``eval``)."""
    spec = config.llm_spec
    if config.planner_name == "classical":
        return "classical (goal from the pattern grounder, plans with PDDL)"
    if config.planner_name == "llm":
        return f"llm ({spec} calls the skills turn by turn)"
    return f"llm+p (goal from {spec}, checked against the pattern grounder; plans with PDDL)"


def make_planner(config: EpisodeConfig) -> Planner:
    """The planner the options ask for (auto = llm+p, with the local model when no --llm is set)."""
    name, spec = config.planner_name, config.llm_spec
    if name == "classical" or spec is None:
        return ClassicalPlanner()
    from embodied.llm import make_chat_model
    from embodied.planners.language import LLMGoalPlanner, LLMPlanner

    model = make_chat_model(spec)
    if name == "llm":
        return LLMPlanner(model)
    goal_planner = LLMGoalPlanner(model)
    readings = TwoReadings(
        lambda text, scene: goal_planner.propose_goal(
            text, scene.names, check=lambda atoms: goal_consistency(text, scene, atoms)
        )
    )
    planner = ClassicalPlanner(goal_source=readings)
    planner.name = "llm+p"
    return planner
