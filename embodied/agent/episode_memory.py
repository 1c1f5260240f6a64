"""What one episode does with the agent's memory: recall each turn, offer composites, learn at the end.

The :class:`~embodied.agent.loop.Agent` makes one :class:`EpisodeMemory` per episode and calls it at
fixed points of its turn: before building the context (:meth:`EpisodeMemory.recall`), when the
planner asks memory something (:meth:`EpisodeMemory.steer`), around each tool call
(:meth:`EpisodeMemory.registry`, :meth:`EpisodeMemory.record_call`), after verifying a subgoal
(:meth:`EpisodeMemory.subgoal_held`, :meth:`EpisodeMemory.subgoal_failed`) and once the episode
ends (:meth:`EpisodeMemory.learn`). It writes the ``memory_query``, ``memory_recall``,
``memory_error`` and ``memory_update`` trace events. Without a memory it recalls nothing
(the episode runs with the registry's skills alone) and the agent does not call ``learn``.

It is the episode's error boundary around memory: the memory raises only
:class:`~embodied.errors.EmbodiedError` (:class:`~embodied.errors.MemoryStoreError` for the file),
and the first one, whether met at the first recall or when learning at the end, turns memory off
for the rest of the episode: one warning in the log, one ``memory_error`` trace event, and the
episode goes on with the registry's skills to its normal end and result.
"""

from __future__ import annotations

import logging
from typing import Any

from embodied.core.decision import ToolCall
from embodied.errors import EmbodiedError
from embodied.memory.agent_memory import CallRecord, EpisodeRecord, Memory, Recall, SubgoalRecord
from embodied.memory.composite import as_skill
from embodied.recording.tracing import Tracer
from embodied.skills.registry import SkillRegistry, SkillResult
from perception.scene_graph import SceneGraph

log = logging.getLogger(__name__)

SUPPORT = ("on", "in")  # the relations kept in memory's "last seen" facts


class EpisodeMemory:
    """One episode's dealings with :class:`~embodied.memory.Memory` (or with none).

    Args:
        memory: the persistent memory, or None (recall nothing, learn nothing).
        skills: the registry the recalled composites are built on and checked against.
        tracer: where the memory trace events go.
        instruction: the episode's instruction (every recall's query ends with it).
    """

    def __init__(self, memory: Memory | None, skills: SkillRegistry, tracer: Tracer, instruction: str) -> None:
        self.memory, self.skills, self.tracer, self.instruction = memory, skills, tracer, instruction
        self.query: str | None = None  # the planner's last memory_query
        self._recall: Recall | None = None
        self.composites = SkillRegistry()  # the recalled composite skills, offered as tools
        self.calls: list[CallRecord] = []
        self.failed_turns: set[int] = set()
        self.objects: set[str] = set()
        self.subgoals: list[SubgoalRecord] = []
        self.error: str | None = None  # why memory was turned off for the rest of the episode
        self._turn = 0

    @property
    def recalled(self) -> Recall:
        """What the last recall returned (nothing before the first, or without a memory)."""
        return self._recall or Recall(self.instruction)

    # ------------------------------------------------------------------ each turn
    def recall(self, turn: int, scene: SceneGraph) -> None:
        """Note the objects in view; query memory with the planner's last ``memory_query`` and the
        instruction (unless that query was already asked), and offer the composites it returns."""
        self.objects.update(scene.names)
        self._turn = turn
        query = f"{self.query} | {self.instruction}" if self.query else self.instruction
        if self.memory is None or (self._recall is not None and self._recall.query == query):
            return
        try:
            recall = self.memory.recall(query, self.skills)
            composites = SkillRegistry(as_skill(p, self.skills) for p in recall.programs)
        except EmbodiedError as e:
            self._turn_off(e)
            return
        self._recall, self.composites = recall, composites
        self.tracer.event(
            "memory_recall",
            turn=turn,
            query=query,
            skills=[p.name for p in self._recall.programs],
            hits=list(self._recall.hits),
            scores=self._recall.scores,
        )

    def steer(self, turn: int, query: str) -> None:
        """The planner's ``memory_query``: the next recall asks it along with the instruction."""
        self.query = query
        if self.memory is not None:
            self.tracer.event("memory_query", turn=turn, query=query)

    def tools(self) -> list[dict[str, Any]]:
        """The recalled composites' tool schemas (offered after the registry's)."""
        return self.composites.tools()

    def registry(self, name: str) -> SkillRegistry:
        """Where the skill called ``name`` lives: the recalled composites, else the agent's registry."""
        return self.composites if name in self.composites else self.skills

    def record_call(self, turn: int, call: ToolCall, result: SkillResult) -> None:
        """Keep one tool call (a composite's own calls when it worked) for learning at the end."""
        ok = result.success
        inner = tuple(ToolCall(c["name"], c["arguments"]) for c in result.details.get("calls", ()) if ok)
        composite = call.name in self.composites
        self.calls.append(CallRecord(turn, call.name, dict(call.arguments), ok, inner, composite))

    def subgoal_held(self, description: str, turn: int) -> None:
        """A subgoal verified after ``turn``: it was worked on since the turn after the last subgoal verified
        at an earlier turn (subgoals verified after the same turn share their turns)."""
        earlier = next((r.last_turn for r in reversed(self.subgoals) if r.last_turn < turn), 0)
        self.subgoals.append(SubgoalRecord(description, earlier + 1, turn))

    def subgoal_failed(self, turn: int) -> None:
        """A subgoal did not hold after ``turn``: that turn's calls are suspect if a later turn redid them."""
        self.failed_turns.add(turn)

    # ------------------------------------------------------------------ the end
    def learn(
        self,
        scene: SceneGraph,
        *,
        verified: bool,
        reason: str,
        reflections: tuple[str, ...],
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        """Tell memory how the episode went (``scene``: the last perceived); returns what changed (for the
        trace). Only for an agent with a memory. A memory failure is reported, never fatal; after one
        earlier in the episode nothing is stored, and what is returned says why."""
        if self.memory is None:
            return {"skills_used": {}, "error": f"memory was off for this episode: {self.error or 'none given'}"}
        record = EpisodeRecord(
            instruction=self.instruction,
            verified=verified,
            reason=reason,
            calls=tuple(self.calls),
            failed_turns=frozenset(self.failed_turns),
            subgoals=tuple(self.subgoals),
            objects=frozenset(self.objects),
            reflections=reflections,
            facts=_last_seen(scene),
            metrics=metrics,
        )
        try:
            learned = self.memory.learn(record, self.skills)
        except EmbodiedError as e:
            self._turn_off(e, "the episode was not stored in memory")
            learned = {"skills_used": {}, "error": str(e)}
        except KeyboardInterrupt:  # the episode's own result and recording still finish; SQLite rolls back
            learned = {"skills_used": {}, "error": "interrupted while storing the episode in memory"}
        self.tracer.event("memory_update", **learned)
        return learned

    def _turn_off(self, error: EmbodiedError, what: str = "memory is off for the rest of this episode") -> None:
        """The memory failed: log it once, trace it, and ask nothing more of it this episode (what it
        returned before stays: composites already offered are programs held here, not in the file)."""
        self.error, self.memory = str(error), None
        log.warning("%s: %s", what, error)
        self.tracer.event("memory_error", turn=self._turn, error=self.error)


def _last_seen(scene: SceneGraph) -> tuple[tuple[str, str, str], ...]:
    """Where each object was last seen, and what it stood on or in: ``(name, "last_seen", text)``."""
    return tuple(
        (
            o.name,
            "last_seen",
            f"at ({o.position[0]:.2f}, {o.position[1]:.2f}, {o.position[2]:.2f}) m"
            + "".join(
                f", {r.predicate} the {r.object}"
                for r in scene.relations
                if r.subject == o.name and r.predicate in SUPPORT
            ),
        )
        for o in scene.objects
    )
