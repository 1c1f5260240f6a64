"""The offline default planner: instruction -> goal atoms -> PDDL -> plan -> skill calls.

Goal atoms come from :func:`embodied.instructions.parse_instruction` (or from an LLM in LLM+P);
the state comes from the perceived scene graph; the plan comes from an existing planner through
the Unified Planning library (``pyperplan`` in-process by default; ``fast-downward`` when the
``up-fast-downward`` package is installed). Each turn it replans from what perception now
reports and returns the calls up to the next placement, so a failed or undone step is simply
planned again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from embodied.decision import Atom, Context, Decision, Subgoal, ToolCall
from embodied.errors import EmbodiedError
from embodied.instructions import parse_instruction
from embodied.planners.pddl import DOMAIN, SKILL_OF_ACTION, TABLE_TARGET, problem
from embodied.verification import format_atom, unmet
from envs.scene_spec import REGIONS
from perception.scene_graph import SceneGraph

log = logging.getLogger(__name__)

GoalSource = Callable[[str, SceneGraph], tuple[Atom, ...]]
PLACING = {"stack", "put-on", "put-in", "put-down", "push"}
EFFECT = {"stack": "on", "put-on": "on", "put-in": "in", "push": "in_region"}


class PlanningError(EmbodiedError, RuntimeError):
    """No plan reaches the goal from the perceived state."""


def solve(scene: SceneGraph, goal: tuple[Atom, ...], engine: str = "pyperplan") -> list[tuple[str, list[str]]]:
    """A plan as ``[(action, [object names...]), ...]``; raises :class:`PlanningError`."""
    from unified_planning.io import PDDLReader
    from unified_planning.shortcuts import OneshotPlanner, get_environment

    get_environment().credits_stream = None
    text, names = problem(scene, goal)
    try:
        parsed = PDDLReader().parse_problem_string(DOMAIN, text)
    except Exception as e:
        raise PlanningError(f"the PDDL problem could not be parsed ({e}); goal {goal}") from e
    with OneshotPlanner(name=engine) as planner:
        result = planner.solve(parsed)
    if result.plan is None:
        raise PlanningError(f"no plan reaches {[format_atom(a) for a in goal]} ({result.status.name})")
    steps = []
    for action in result.plan.actions:
        args = [names.get(str(p), str(p)) for p in action.actual_parameters]
        steps.append((action.action.name, args))
    return steps


def to_call(action: str, args: list[str]) -> ToolCall:
    """The skill call that executes one PDDL action."""
    skill, params = SKILL_OF_ACTION[action]
    arguments: dict[str, Any] = {k: (args[i] if i >= 0 else TABLE_TARGET) for k, i in params.items()}
    return ToolCall(skill, arguments)


GRIPPER_OPEN_WIDTH = 0.07  # metres; narrower with nothing reported in the hand means something may be there


class ClassicalPlanner:
    """PDDL planning over the perceived scene (see the module docstring).

    Args:
        engine: Unified Planning engine name (``pyperplan`` or ``fast-downward``).
        goal_source: turns (instruction, scene) into goal atoms; the offline parser by default.
    """

    name = "classical"

    def __init__(self, engine: str = "pyperplan", goal_source: GoalSource | None = None) -> None:
        self.engine = engine
        self.goal_source: GoalSource = goal_source or parse_instruction
        self._goal: tuple[Atom, ...] | None = None
        self._instruction: str | None = None

    def goal_for(self, context: Context) -> tuple[Atom, ...]:
        """Ground the instruction once per episode (raises ``InstructionNotUnderstood``)."""
        if context.scene is None:
            raise PlanningError("the classical planner needs the perceived scene graph (context.scene)")
        if self._goal is None or self._instruction != context.goal:
            self._goal = self.goal_source(context.goal, context.scene)
            self._instruction = context.goal
        return self._goal

    def decide(self, context: Context) -> Decision:
        goal = self.goal_for(context)
        assert context.scene is not None
        open_atoms = unmet(context.scene, goal)
        subgoals = tuple(Subgoal(format_atom(a), "pending" if a in open_atoms else "done", (a,)) for a in goal)
        if not open_atoms:
            return Decision(
                thoughts=f"Perception shows every goal atom holds: {', '.join(map(format_atom, goal))}.",
                subgoals=subgoals,
                done=True,
                goal_atoms=goal,
            )
        missing = sorted(
            {name for atom in goal for name in atom[1:] if name not in context.scene.names} - REGIONS.keys()
        )
        if missing:
            return self._look_for(context.scene, missing, goal, subgoals)
        plan = solve(context.scene, goal, self.engine)
        chunk = []
        for action, args in plan:
            chunk.append((action, args))
            if action in PLACING:
                break
        calls = tuple(to_call(a, args) for a, args in chunk)
        last_action, last_args = chunk[-1]
        step_atoms = (EFFECT[last_action], *last_args[:2]) if last_action in EFFECT else None
        active = tuple(
            Subgoal(s.description, "active", s.atoms) if step_atoms is not None and s.atoms == (step_atoms,) else s
            for s in subgoals
        )
        if step_atoms is not None and all(s.atoms != (step_atoms,) for s in active):
            active += (Subgoal(f"{format_atom(step_atoms)} (clears the way)", "active", (step_atoms,)),)
        plan_text = " -> ".join(f"{a}({', '.join(args)})" for a, args in plan)
        thoughts = (
            f"Goal: {', '.join(map(format_atom, goal))}. Still open: {', '.join(map(format_atom, open_atoms))}. "
            f"Plan ({len(plan)} steps): {plan_text}. Executing the first {len(chunk)}."
        )
        return Decision(thoughts=thoughts, subgoals=active, tool_calls=calls, goal_atoms=goal)

    def _look_for(
        self, scene: SceneGraph, missing: list[str], goal: tuple[Atom, ...], subgoals: tuple[Subgoal, ...]
    ) -> Decision:
        """Goal objects perception does not report now: release what may be in the hand, then look."""
        calls = [ToolCall("look")]
        thoughts = f"I cannot see {', '.join(missing)} now"
        robot = scene.robot
        if robot is not None and robot.holding is None and robot.gripper_width < GRIPPER_OPEN_WIDTH:
            calls.insert(0, ToolCall("open_gripper"))
            thoughts += " and the gripper is closed on something: I open it and look again"
        else:
            thoughts += ": I look again"
        return Decision(thoughts=thoughts + ".", subgoals=subgoals, tool_calls=tuple(calls), goal_atoms=goal)
