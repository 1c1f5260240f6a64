"""What the framework shows a planner (``Context``) and what a planner answers (``Decision``).

This is the agent loop (docs/architecture.md): the framework prompts the model with goals, subgoals, the
memory-query result and the tool results; the model answers with thoughts, subgoals, the next
memory query and the tools to call. Both sides are plain, frozen data so that every turn can be
written to the trace as JSON and read back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from perception.scene_graph import SceneGraph

SubgoalStatus = Literal["pending", "active", "done", "failed"]
SUBGOAL_STATUSES: tuple[str, ...] = ("pending", "active", "done", "failed")

#: A goal atom, e.g. ("on", "red block", "blue block"); see envs/tasks/predicates.py.
Atom = tuple[str, ...]


@dataclass(frozen=True)
class ToolCall:
    """One call of a registered skill: its name and JSON-like arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""


@dataclass(frozen=True)
class Subgoal:
    """A step toward the goal; ``atoms`` (when known) let the framework verify it from perception."""

    description: str
    status: SubgoalStatus = "pending"
    atoms: tuple[Atom, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in SUBGOAL_STATUSES:
            raise ValueError(f"Subgoal.status={self.status!r} is not one of {SUBGOAL_STATUSES}")


@dataclass(frozen=True)
class ToolOutcome:
    """A finished tool call as the planner sees it next turn."""

    call: ToolCall
    success: bool
    message: str


@dataclass(frozen=True)
class Context:
    """Everything a planner is shown on one turn."""

    goal: str
    observation: str
    subgoals: tuple[Subgoal, ...] = ()
    memory_hits: tuple[str, ...] = ()
    tool_results: tuple[ToolOutcome, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI-shape tool schemas of the available skills
    reflections: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()  # framework messages: parse errors, rejected calls, failed checks
    turn: int = 0
    scene: SceneGraph | None = field(default=None, compare=False, repr=False)  # structured perception
    programs: tuple[dict[str, Any], ...] = ()  # recalled composite skills as programs (embodied.memory.Program)

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(t["function"]["name"] for t in self.tools)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (the scene graph is summarised by ``observation``, not repeated)."""
        data = asdict(replace(self, scene=None))
        data.pop("scene")
        return data


@dataclass(frozen=True)
class Decision:
    """A planner's answer for one turn."""

    thoughts: str = ""
    subgoals: tuple[Subgoal, ...] = ()
    memory_query: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    done: bool = False
    goal_atoms: tuple[Atom, ...] = ()  # set by planners that ground the instruction (classical, LLM+P)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Planner(Protocol):
    """Decides the next tool calls from a context."""

    name: str

    def decide(self, context: Context) -> Decision: ...
