"""The agent loop: perceive -> context -> decide -> act -> verify -> reflect.

Each turn the framework perceives the scene and describes it in text, builds a
:class:`~embodied.core.decision.Context` (goal, subgoals with status, memory hits, the last tool
results, framework feedback, the observation and the available skills), asks the planner for a
:class:`~embodied.core.decision.Decision`, runs its tool calls through the skill registry, and then
verifies every subgoal it just worked on from fresh perception. A subgoal that does not hold is
marked failed and a short reflection is kept for the next prompts. Budgets on turns, skill calls,
simulated time and wall time (:class:`~embodied.agent.budgets.Budgets`) end an episode cleanly with
the reason. A planner's "done" is never taken on its word: it is checked from perception against
the planner's goal atoms or, when it gave none, a goal grounded from the instruction
(:func:`~embodied.planners.grounding.parse_instruction`); when no goal can be grounded the episode
ends unverified, and memory learns no composite from an unverified episode (only from the subgoals
it verified from perception). What an episode does with the persistent memory (recall, composite
skills offered as tools, learning at the end) is
:class:`~embodied.agent.episode_memory.EpisodeMemory`'s. Every step of this is a trace event, so
what the agent saw, thought and did stays readable afterwards.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from embodied.agent.budgets import Budgets
from embodied.agent.episode_memory import EpisodeMemory
from embodied.core.decision import Atom, Context, Decision, Planner, Subgoal, ToolOutcome
from embodied.core.text import short
from embodied.core.verification import atom_holds, format_atom, unmet
from embodied.errors import EmbodiedError
from embodied.interrupts import interrupts_latched, raise_if_interrupted
from embodied.memory.agent_memory import Memory
from embodied.planners.grounding import parse_instruction
from embodied.recording.tracing import NullTracer, Tracer
from embodied.skills.registry import SkillRegistry
from perception.scene_graph import Perceiver, SceneGraph
from policies.driver import EnvDriver

__all__ = ["Agent", "Budgets", "EpisodeResult"]

log = logging.getLogger(__name__)

UNCHECKED_DONE = "the planner declared the task done, but no goal could be grounded from the instruction to check it"
VERIFIED_DONE = "goal verified from perception"
#: The start of the reason when the env itself ended the episode on the task's success.
TASK_COMPLETED = "task completed"


def claims_done(reason: str) -> bool:
    """Whether an episode that ended for ``reason`` ended on the agent's own "done" (checked from
    perception or unverifiable), rather than giving up, running out of budget or the env ending it."""
    return reason == VERIFIED_DONE or reason.startswith(UNCHECKED_DONE)


@dataclass(frozen=True)
class EpisodeResult:
    """How an episode went. ``success`` is the task's ground-truth predicate; ``verified`` is what
    the agent itself concluded from perception."""

    instruction: str
    success: bool
    verified: bool
    reason: str
    turns: int
    skill_calls: int
    sim_time_s: float
    wall_time_s: float
    planner: str
    goal_atoms: tuple[Atom, ...] = ()
    reflections: tuple[str, ...] = ()
    interrupted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)


def _positions(scene: SceneGraph | None) -> dict[str, list[float]]:
    """Where the latest perceived scene put each object (metres, rounded to mm); empty before any."""
    return {o.name: [round(float(v), 3) for v in o.position] for o in scene.objects} if scene else {}


@dataclass
class _Episode:
    instruction: str
    driver: EnvDriver
    memory: EpisodeMemory
    t0: float
    turns: int = 0
    calls: int = 0
    subgoals: tuple[Subgoal, ...] = ()
    results: tuple[ToolOutcome, ...] = ()
    reflections: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    goal: tuple[Atom, ...] = ()
    goal_from_instruction: bool = False  # the goal was grounded by the agent, not given by the planner
    verified: bool = False
    reason: str = ""
    sim0: float = 0.0


class Agent:
    """Runs episodes: ``Agent(planner, skills, perceiver).run(env) -> EpisodeResult``.

    Args:
        planner: decides each turn (classical, LLM, LLM+P).
        skills: the registry whose skills the planner may call.
        perceiver: frames -> scene graph.
        describe: scene graph -> the text observation.
        memory: the persistent memory (:class:`embodied.memory.Memory`): recalled each turn with the
            instruction (and the planner's last ``memory_query``) for composite skills and memory lines, and
            told about the episode at its end (it learns composite skills from verified successes and, in a
            failed episode, from the subgoals it verified).
        tracer: the recorder (trace events, video overlays, frames).
        budgets: limits on turns, calls and time.
    """

    def __init__(
        self,
        planner: Planner,
        skills: SkillRegistry,
        perceiver: Perceiver,
        describe: Any,
        memory: Memory | None = None,
        tracer: Tracer | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.planner, self.skills, self.perceiver = planner, skills, perceiver
        self.describe, self.memory = describe, memory
        self.tracer: Tracer = tracer or NullTracer()
        self.budgets = budgets or Budgets()

    def run(
        self, env: Any, instruction: str | None = None, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> EpisodeResult:
        """Reset ``env`` (``seed``, ``options``) and pursue ``instruction`` (default: the task's own)."""
        obs, info = env.reset(seed=seed, options=options)
        self.tracer.on_step(obs, info)
        return self.pursue(env, obs, info, instruction or str(info["instruction"]))

    def pursue(self, env: Any, obs: dict[str, Any], info: dict[str, Any], instruction: str) -> EpisodeResult:
        """Pursue ``instruction`` from the env's current state, without a reset (one link of a task chain)."""
        driver = EnvDriver(env, self.perceiver, obs, info, on_step=self._on_step)
        memory = EpisodeMemory(self.memory, self.skills, self.tracer, instruction)
        ep = _Episode(instruction, driver, memory, time.perf_counter(), sim0=float(info.get("sim_time", 0.0)))
        self.tracer.set_overlay(instruction=instruction, subgoal="", skill="", thought="")
        self.tracer.event("episode_start", instruction=instruction, planner=self.planner.name)
        interrupted = False
        try:
            with interrupts_latched():
                while not ep.reason:
                    raise_if_interrupted()
                    ep.reason = self._budget_reason(ep) or self._turn(ep)
        except KeyboardInterrupt:
            interrupted, ep.reason = True, "interrupted by the user"
        result = self._result(ep, interrupted)
        if self.memory is not None:
            result.stats["memory"] = ep.memory.learn(
                ep.driver.scene,
                verified=result.verified and not result.interrupted,
                reason=result.reason,
                reflections=result.reflections,
                metrics={k: getattr(result, k) for k in ("turns", "skill_calls", "sim_time_s", "wall_time_s")},
            )
        self.tracer.event("episode_end", **{k: v for k, v in vars(result).items() if k != "stats"})
        return result

    def _on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.tracer.on_step(obs, info)
        raise_if_interrupted()  # a Ctrl-C that a binding swallowed during the step ends the episode here

    # ------------------------------------------------------------------ turn
    def _turn(self, ep: _Episode) -> str:
        ep.turns += 1
        scene = ep.driver.perceive()
        ep.memory.recall(ep.turns, scene)
        context = self._context(ep, scene)
        self.tracer.event("observation", turn=ep.turns, text=context.observation)
        self.tracer.event("context", turn=ep.turns, context=context.to_json())
        try:
            decision = self.planner.decide(context)
        except EmbodiedError as e:
            self.tracer.event("planner_error", turn=ep.turns, error=str(e))
            return f"planner failed: {e}"
        ep.feedback.clear()
        self._record_decision(ep, decision)
        if decision.done:
            return self._check_done(ep, decision)
        if not decision.tool_calls:
            ep.feedback.append("Your answer called no skill and did not say done; call a skill or finish.")
            return ""
        self._act(ep, decision)
        if ep.driver.done:
            return self._env_end_reason(ep)
        self._verify(ep)
        return ""

    def _context(self, ep: _Episode, scene: SceneGraph) -> Context:
        recall = ep.memory.recalled
        return Context(
            goal=ep.instruction,
            observation=self.describe(scene),
            subgoals=ep.subgoals,
            memory_hits=recall.hits,
            tool_results=ep.results,
            tools=tuple(self.skills.tools() + ep.memory.tools()),
            programs=tuple(p.to_json() for p in recall.programs),
            reflections=tuple(ep.reflections[-self.budgets.max_reflections_in_prompt :]),
            feedback=tuple(ep.feedback),
            turn=ep.turns,
            scene=scene,
        )

    def _record_decision(self, ep: _Episode, decision: Decision) -> None:
        self.tracer.event("decision", turn=ep.turns, decision=decision.to_json())
        if decision.goal_atoms:
            ep.goal = decision.goal_atoms
        if decision.subgoals:
            ep.subgoals = decision.subgoals
        active = next((s for s in ep.subgoals if s.status == "active"), None)
        self.tracer.set_overlay(thought=decision.thoughts, subgoal=active.description if active else "")
        if decision.memory_query:
            ep.memory.steer(ep.turns, decision.memory_query)

    def _act(self, ep: _Episode, decision: Decision) -> None:
        outcomes = []
        for call in decision.tool_calls:
            if ep.calls >= self.budgets.max_skill_calls or ep.driver.done:
                break
            ep.calls += 1
            self.tracer.set_overlay(skill=f"{call.name}({', '.join(f'{v}' for v in call.arguments.values())})")
            self.tracer.event("tool_call", turn=ep.turns, name=call.name, arguments=call.arguments)
            result = ep.memory.registry(call.name).call(call.name, dict(call.arguments), ep.driver)
            ok, message = result.success, result.message
            ep.memory.record_call(ep.turns, call, result)
            self.tracer.event(
                "tool_result",
                turn=ep.turns,
                name=call.name,
                success=ok,
                message=message,
                steps=result.steps,
                **({"steps_run": result.details["calls"]} if "calls" in result.details else {}),
            )
            outcomes.append(ToolOutcome(call, ok, message))
            if not ok:
                break
        self.tracer.set_overlay(skill="")
        ep.results = tuple(outcomes)

    def _verify(self, ep: _Episode) -> None:
        """Check each active subgoal against fresh perception; reflect on failures."""
        if not any(s.status == "active" and s.atoms for s in ep.subgoals):
            return
        scene = ep.driver.perceive()
        updated = []
        for s in ep.subgoals:
            if s.status == "active" and s.atoms:
                ok = all(atom_holds(scene, a) for a in s.atoms)
                s = replace(s, status="done" if ok else "failed")
                self.tracer.event("verification", turn=ep.turns, subgoal=s.description, holds=ok)
                if ok:
                    ep.memory.subgoal_held(s.description, ep.turns)
                else:
                    ep.memory.subgoal_failed(ep.turns)
                    self._reflect(ep, s)
            updated.append(s)
        ep.subgoals = tuple(updated)

    def _reflect(self, ep: _Episode, failed: Subgoal) -> None:
        last = ep.results[-1] if ep.results else None
        why = f"{last.call.name} said: {last.message}" if last else "no skill ran"
        reflect = getattr(self.planner, "reflect", None)
        text = f"Subgoal '{failed.description}' did not hold after this turn ({why}); re-check the scene and retry."
        if callable(reflect):
            try:
                text = str(reflect(failed, ep.results))
            except EmbodiedError as e:
                log.warning("reflection failed: %s", e)
        ep.reflections.append(text)
        self.tracer.event("reflection", turn=ep.turns, text=text)

    def _check_done(self, ep: _Episode, decision: Decision) -> str:
        scene = ep.driver.perceive()
        unchecked = self._ground_goal(ep, scene)
        if unchecked is not None:
            return f"{UNCHECKED_DONE} ({unchecked}); the episode ends unverified"
        missing = unmet(scene, ep.goal)
        self.tracer.event(
            "verification",
            turn=ep.turns,
            subgoal="final goal (grounded from the instruction)" if ep.goal_from_instruction else "final goal",
            holds=not missing,
            missing=[format_atom(a) for a in missing],
        )
        if missing:
            ep.feedback.append(f"Not done yet: perception shows {', '.join(map(format_atom, missing))} do not hold.")
            return ""
        ep.verified = True
        return VERIFIED_DONE

    def _ground_goal(self, ep: _Episode, scene: SceneGraph) -> str | None:
        """Without the planner's goal atoms, ground a goal from the instruction in ``scene``; returns why
        none could be (None: ``ep.goal`` is set)."""
        if ep.goal:
            return None
        try:
            goal = parse_instruction(ep.instruction, scene)
        except EmbodiedError as e:
            return str(e)
        if not goal:
            return f"{short(ep.instruction)} grounds to no goal in the perceived scene"
        ep.goal, ep.goal_from_instruction = goal, True
        return None

    def _env_end_reason(self, ep: _Episode) -> str:
        info = ep.driver.info
        if info.get("physics_error"):
            return f"simulation ended: {info['physics_error']}"
        if info.get("success"):
            scene = ep.driver.perceive()
            unchecked = self._ground_goal(ep, scene)
            ep.verified = unchecked is None and not unmet(scene, ep.goal)
            return TASK_COMPLETED if unchecked is None else f"{TASK_COMPLETED} by the env's own check ({unchecked})"
        return "the env truncated the episode (max_steps)"

    def _budget_reason(self, ep: _Episode) -> str | None:
        return self.budgets.exceeded(
            turns=ep.turns,
            skill_calls=ep.calls,
            sim_time_s=self._sim_time(ep),
            wall_time_s=time.perf_counter() - ep.t0,
        )

    @staticmethod
    def _sim_time(ep: _Episode) -> float:
        return float(ep.driver.info.get("sim_time", 0.0)) - ep.sim0

    def _result(self, ep: _Episode, interrupted: bool) -> EpisodeResult:
        return EpisodeResult(
            instruction=ep.instruction,
            success=bool(ep.driver.info.get("success", False)),
            verified=ep.verified,
            reason=ep.reason,
            turns=ep.turns,
            skill_calls=ep.calls,
            sim_time_s=round(self._sim_time(ep), 3),
            wall_time_s=round(time.perf_counter() - ep.t0, 3),
            planner=self.planner.name,
            goal_atoms=ep.goal,
            reflections=tuple(ep.reflections),
            interrupted=interrupted,
            stats={"control_steps": ep.driver.steps, "last_seen": _positions(ep.driver.last_scene)},
        )
