"""The offline default planner: instruction -> goal atoms -> PDDL -> plan -> skill calls.

Goal atoms come from :func:`embodied.planners.grounding.parse_instruction` (or from an LLM in LLM+P);
the state comes from the perceived scene graph; the plan comes from an existing planner library:
pyperplan in-process by default (with its operators in a fixed order, so plans are the same in
every process), or any Unified Planning engine (``fast-downward`` when the ``up-fast-downward``
package is installed). Each turn it replans from what perception now reports and returns the
calls up to the next placement, so a failed or undone step is simply planned again.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from embodied.core.decision import Atom, Context, Decision, Subgoal, ToolCall
from embodied.core.verification import format_atom, unmet
from embodied.errors import DependencyNotInstalled, EmbodiedError, ProgramError
from embodied.memory.composite import Program
from embodied.planners.grounding import checked_goal, parse_instruction
from embodied.planners.pddl import DOMAIN, SKILL_OF_ACTION, TABLE_TARGET, problem
from envs.scene_spec import REGIONS
from perception.scene_graph import SceneGraph
from policies.lookup import kind_of

log = logging.getLogger(__name__)

GoalSource = Callable[[str, SceneGraph], tuple[Atom, ...]]
PLACING = {"stack", "put-on", "put-in", "put-down", "push"}
EFFECT = {"stack": "on", "put-on": "on", "put-in": "in", "push": "in_region"}


class PlanningError(EmbodiedError, RuntimeError):
    """No plan reaches the goal from the perceived state."""


def solve(scene: SceneGraph, goal: tuple[Atom, ...], engine: str = "pyperplan") -> list[tuple[str, list[str]]]:
    """A plan as ``[(action, [object names...]), ...]``; raises :class:`PlanningError`.

    ``pyperplan`` (default) runs in-process with its operators in a fixed order, so the same scene
    gives the same plan in every process; any other name is a Unified Planning engine
    (``fast-downward`` with the ``up-fast-downward`` package).
    """
    text, names = problem(scene, goal)
    steps = _solve_pyperplan(text) if engine == "pyperplan" else _solve_unified_planning(text, engine)
    if steps is None:
        raise PlanningError(f"no plan reaches {[format_atom(a) for a in goal]}")
    return [(action, [names.get(a, a) for a in args]) for action, args in steps]


def _solve_pyperplan(problem_text: str) -> list[tuple[str, list[str]]] | None:
    from pyperplan import grounding
    from pyperplan.heuristics.relaxation import hMaxHeuristic
    from pyperplan.pddl.parser import Parser
    from pyperplan.search import astar_search

    with tempfile.TemporaryDirectory(prefix="embodied-pddl-") as tmp:
        domain_file, problem_file = Path(tmp) / "domain.pddl", Path(tmp) / "problem.pddl"
        domain_file.write_text(DOMAIN)
        problem_file.write_text(problem_text)
        try:
            parser = Parser(str(domain_file), str(problem_file))
            task = grounding.ground(parser.parse_problem(parser.parse_domain()))
        except Exception as e:
            raise PlanningError(f"the PDDL problem could not be parsed ({e})") from e
    task.operators.sort(key=lambda op: op.name)  # grounding iterates sets: fix the order for determinism
    plan = astar_search(task, hMaxHeuristic(task))  # admissible: shortest plans, no needless detours
    if plan is None:
        return None
    return [(parts[0], parts[1:]) for parts in (op.name.strip("()").split() for op in plan)]


def _solve_unified_planning(problem_text: str, engine: str) -> list[tuple[str, list[str]]] | None:
    try:
        from unified_planning.io import PDDLReader
        from unified_planning.shortcuts import OneshotPlanner, get_environment
    except ImportError as e:
        raise DependencyNotInstalled("unified-planning", "planners", f"the {engine!r} planning engine") from e

    get_environment().credits_stream = None
    try:
        parsed = PDDLReader().parse_problem_string(DOMAIN, problem_text)
    except Exception as e:
        raise PlanningError(f"the PDDL problem could not be parsed ({e})") from e
    with OneshotPlanner(name=engine) as planner:
        result = planner.solve(parsed)
    if result.plan is None:
        return None
    return [(a.action.name, [str(p) for p in a.actual_parameters]) for a in result.plan.actions]


def _chunks(plan: list[tuple[str, list[str]]]) -> list[list[tuple[str, list[str]]]]:
    """The plan cut after each placing action: the steps one turn executes before perception checks them."""
    chunks: list[list[tuple[str, list[str]]]] = [[]]
    for action, args in plan:
        chunks[-1].append((action, args))
        if action in PLACING:
            chunks.append([])
    return [c for c in chunks if c]


def _independent(chunks: list[list[tuple[str, list[str]]]], scene: SceneGraph) -> bool:
    """Whether the chunks may run in any order: each moves its own object, none onto or off another moved one."""
    moved = [args[0] for chunk in chunks for action, args in chunk if action in PLACING]
    targets = {args[1] for chunk in chunks for action, args in chunk if action in PLACING and len(args) > 1}
    supporting = {r.object for r in scene.relations if r.predicate in ("on", "in")}  # something rests on it
    return len(set(moved)) == len(moved) and not (targets | supporting) & set(moved)


def _effects(chunk: list[tuple[str, list[str]]]) -> list[Atom]:
    """The atoms the chunk's placing actions make true, the last one per object (later moves undo earlier ones)."""
    last: dict[str, Atom] = {}
    for action, args in chunk:
        if action in PLACING:
            last.pop(args[0], None)
            if action in EFFECT:
                last[args[0]] = (EFFECT[action], *args[:2])
    return list(last.values())


def to_call(action: str, args: list[str]) -> ToolCall:
    """The skill call that executes one PDDL action."""
    skill, params = SKILL_OF_ACTION[action]
    arguments: dict[str, Any] = {k: (args[i] if i >= 0 else TABLE_TARGET) for k, i in params.items()}
    return ToolCall(skill, arguments)


COVER_HEIGHT = 0.02  # metres: a block whose bottom is this high stands on something
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
        self._note = ""  # what the goal source said about its readings, until the next decision

    def goal_for(self, context: Context) -> tuple[Atom, ...]:
        """Ground the instruction once per episode (raises ``InstructionNotUnderstood``)."""
        if context.scene is None:
            raise PlanningError("the classical planner needs the perceived scene graph (context.scene)")
        if self._goal is None or self._instruction != context.goal:
            self._goal = checked_goal(context.goal, self.goal_source(context.goal, context.scene))
            self._instruction = context.goal
            self._note = str(getattr(self.goal_source, "note", ""))
        return self._goal

    def decide(self, context: Context) -> Decision:
        """The next step of the plan toward the goal (the grounding's note leads the first thoughts)."""
        decision = self._decide(context)
        note, self._note = self._note, ""
        return replace(decision, thoughts=f"{note} {decision.thoughts}") if note else decision

    def _decide(self, context: Context) -> Decision:
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
            {name for atom in open_atoms for name in atom[1:] if name not in context.scene.names} - REGIONS.keys()
        )
        if missing:
            if self._renamed(context.scene, missing, goal) is None:
                return self._look_for(context.scene, missing, goal, subgoals)
            return self._decide(context)  # the goal now names what perception calls those objects
        # Atoms about objects perception cannot see now but infers (hidden in a container) hold already.
        visible = set(context.scene.names) | REGIONS.keys()
        plan = solve(context.scene, tuple(a for a in goal if set(a[1:]) <= visible), self.engine)
        if not plan:  # the planner's state model says done while perception disagrees: look again
            why = f"perception shows {', '.join(map(format_atom, open_atoms))} open but the plan is empty"
            return Decision(
                thoughts=f"{why}; I step back and look again.",
                subgoals=subgoals,
                tool_calls=(ToolCall("look", {"step_back": True}),),
                goal_atoms=goal,
            )
        chunks = _chunks(plan)
        macro = self._macro(context.programs, chunks, _independent(chunks, context.scene))
        calls: tuple[ToolCall, ...]
        if macro is not None:
            name, values, chunk = macro
            calls = (ToolCall(name, values),)
            how = f"The learned skill {name} covers {len(chunk)} of these steps: I call it once."
        else:
            chunk = chunks[0]
            calls = tuple(to_call(a, args) for a, args in chunk)
            how = f"Executing the first {len(chunk)}."
        active = subgoals
        for step_atoms in _effects(chunk):
            active = tuple(Subgoal(s.description, "active", s.atoms) if s.atoms == (step_atoms,) else s for s in active)
            if all(s.atoms != (step_atoms,) for s in active):
                active += (Subgoal(f"{format_atom(step_atoms)} (clears the way)", "active", (step_atoms,)),)
        plan_text = " -> ".join(f"{a}({', '.join(args)})" for a, args in plan)
        thoughts = (
            f"Goal: {', '.join(map(format_atom, goal))}. Still open: {', '.join(map(format_atom, open_atoms))}. "
            f"Plan ({len(plan)} steps): {plan_text}. {how}"
        )
        return Decision(thoughts=thoughts, subgoals=active, tool_calls=calls, goal_atoms=goal)

    @staticmethod
    def _macro(
        programs: tuple[dict[str, Any], ...], chunks: list[list[tuple[str, list[str]]]], reorder: bool
    ) -> tuple[str, dict[str, Any], list[tuple[str, list[str]]]] | None:
        """The recalled composite skill that covers most of the plan, as whole chunks (earlier recalled wins ties).

        Chunks that do not depend on each other may be taken in the skill's order rather than the plan's.
        """
        calls = [[to_call(a, args) for a, args in chunk] for chunk in chunks]
        best: tuple[str, dict[str, Any], list[tuple[str, list[str]]]] | None = None
        for data in programs:
            try:
                program = Program.from_json(data)
            except ProgramError as e:
                log.warning("recalled skill ignored: %s", e)
                continue
            found = program.match_chunks(calls, reorder)
            if found is not None and (best is None or len(program.steps) > len(best[2])):
                values, used = found
                best = (program.name, values, [step for i in used for step in chunks[i]])
        return best

    def _renamed(self, scene: SceneGraph, missing: list[str], goal: tuple[Atom, ...]) -> tuple[Atom, ...] | None:
        """Follow perception's renaming: a missing ``large green block`` is the one unclaimed green block.

        A block's size class comes from its measured extent, which can change (tilted after a fall,
        partly hidden), so its name may change while its colour and shape do not.
        """
        claimed = {name for atom in goal for name in atom[1:]}
        mapping = {}
        for name in missing:
            same = [o.name for o in scene.objects if kind_of(o.name) == kind_of(name) and o.name not in claimed]
            if len(same) != 1:
                return None
            mapping[name] = same[0]
            claimed.add(same[0])
        log.info("perception renamed %s", mapping)
        self._goal = tuple((a[0], *(mapping.get(n, n) for n in a[1:])) for a in goal)
        return self._goal

    def _look_for(
        self, scene: SceneGraph, missing: list[str], goal: tuple[Atom, ...], subgoals: tuple[Subgoal, ...]
    ) -> Decision:
        """Goal objects perception does not report now: uncover, release or look again.

        A block resting high with nothing visible under it may hide the missing one: set it aside.
        A gripper closed on nothing perceived may hold it: open it. Otherwise step back and look.
        """
        calls = [ToolCall("look", {"step_back": True})]  # the hand may hide it: move it out of view
        thoughts = f"I cannot see {', '.join(missing)} now"
        robot = scene.robot
        supported = {r.subject for r in scene.relations if r.predicate in ("on", "in")}
        covering = [
            o for o in scene.objects if o.shape == "block" and o.bottom > COVER_HEIGHT and o.name not in supported
        ]
        if covering:
            top = covering[0].name
            calls = [ToolCall("pick", {"object": top}), ToolCall("place", {"object": top, "target": TABLE_TARGET})]
            thoughts += f"; the {top} rests on something I cannot see, so I set it aside to uncover it"
        elif robot is not None and robot.holding is None and robot.gripper_width < GRIPPER_OPEN_WIDTH:
            calls.insert(0, ToolCall("open_gripper"))
            thoughts += " and the gripper is closed on something: I open it and look again"
        else:
            thoughts += ": I look again"
        return Decision(thoughts=thoughts + ".", subgoals=subgoals, tool_calls=tuple(calls), goal_atoms=goal)
