"""What the agent asks of its memory: recall before a decision, learn after an episode.

:meth:`Memory.recall` turns the planner's ``memory_query`` (or the instruction) into the few
composite skills worth offering as tools this turn and a few lines of memory (past episodes,
reflections, facts) for the prompt. Only retrieved skills are offered, so the prompt stays the
same size however large the library grows. :meth:`Memory.learn` stores the episode's summary,
its reflections and what was last seen of each object, counts how each composite skill it used
went, and, when the agent verified success, generalises the calls that worked into a composite
skill (merged with an identical one if it exists). An episode that failed still teaches what it got
right: the calls of each subgoal the agent verified become a composite named after that subgoal.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embodied.core.decision import ToolCall
from embodied.errors import EmbodiedError, ProgramError
from embodied.memory.composite import Program, generalise, validate
from embodied.memory.embedding import Embedder, make_embedder
from embodied.memory.store import MemoryStore, StoredSkill
from embodied.skills.registry import SkillRegistry
from policies.lookup import kind_of

log = logging.getLogger(__name__)

ENV_VAR = "EMBODIED_MEMORY"
_ATOM = re.compile(r"^(\w+)\(([^()]*)\)(.*)$")  # on(red block, blue block) [note]
MIN_VECTOR_SCORE = 0.25  # cosine similarity below which a retrieved item is noise (MiniLM)


def default_memory_path() -> Path:
    """``$EMBODIED_MEMORY`` if set, else ``memory.sqlite`` in the user's data folder (platformdirs)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return platformdirs.user_data_path("embodied") / "memory.sqlite"


@dataclass(frozen=True)
class Recall:
    """What memory returned for one query: composite skills to offer and text lines for the prompt."""

    query: str
    programs: tuple[Program, ...] = ()
    hits: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CallRecord:
    """One tool call of an episode; ``inner`` holds a composite skill's own calls."""

    turn: int
    name: str
    arguments: dict[str, Any]
    success: bool
    inner: tuple[ToolCall, ...] = ()
    composite: bool = False  # a recalled composite skill (each use is counted)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "turn": self.turn,
            "name": self.name,
            "arguments": self.arguments,
            "success": self.success,
        }
        if self.composite:
            data["composite"] = True
        if self.inner:
            data["steps"] = [{"name": c.name, "arguments": c.arguments} for c in self.inner]
        return data


@dataclass(frozen=True)
class SubgoalRecord:
    """A subgoal the agent verified from perception, and the turns that worked on it."""

    description: str
    first_turn: int
    last_turn: int


@dataclass(frozen=True)
class EpisodeRecord:
    """What the agent tells memory about a finished episode."""

    instruction: str
    verified: bool
    reason: str
    calls: tuple[CallRecord, ...]
    failed_turns: frozenset[int] = frozenset()  # turns whose subgoals did not hold afterwards
    objects: frozenset[str] = frozenset()  # every object name perceived during the episode
    reflections: tuple[str, ...] = ()
    facts: tuple[tuple[str, str, str], ...] = ()  # (subject, predicate, value), e.g. last seen positions
    metrics: dict[str, Any] = field(default_factory=dict)
    subgoals: tuple[SubgoalRecord, ...] = ()  # the subgoals verified done, in order

    def working_calls(self, turns: tuple[int, int] | None = None) -> list[ToolCall]:
        """The calls that did their part, composites expanded: successful ones, except those of a turn whose
        subgoals did not hold and whose work a later turn did again (a turn that only failed verification
        because perception renamed an object is kept). ``turns=(first, last)``: only those turns' calls."""
        done = [
            (c.turn, call) for c in self.calls if c.success for call in (c.inner or (ToolCall(c.name, c.arguments),))
        ]
        return [
            call
            for turn, call in done
            if (turns is None or turns[0] <= turn <= turns[1])
            and (turn not in self.failed_turns or not any(t > turn and _same_call(call, later) for t, later in done))
        ]


def subgoal_text(description: str, calls: list[ToolCall]) -> str:
    """What a skill learned from a subgoal is named and described by. A planner's atom reads as words led
    by the skills that did it: ``on(red block, blue block)`` -> ``pick and place red block on blue block``."""
    atom = _ATOM.match(description.strip())
    if atom is None:
        return description
    predicate, args = atom.group(1).replace("_", " "), [a.strip() for a in atom.group(2).split(",")]
    rest = atom.group(3)
    verbs = " and ".join(dict.fromkeys(c.name.replace("_", " ") for c in calls))
    return " ".join(w for w in (verbs, args[0], predicate, *args[1:], rest.strip()) if w)


def _same_call(a: ToolCall, b: ToolCall) -> bool:
    """The same skill on the same objects, allowing for perception's renaming (same colour and shape)."""
    if a.name != b.name or set(a.arguments) != set(b.arguments):
        return False
    return all(
        kind_of(v) == kind_of(b.arguments[k]) if isinstance(v, str) else v == b.arguments[k]
        for k, v in a.arguments.items()
    )


class Memory:
    """The agent's persistent memory over one SQLite file (see the module docstring).

    Args:
        path: the memory file (default: :func:`default_memory_path`).
        embedder: ``auto`` (MiniLM if installed, else lexical), ``minilm``, ``lexical``, or an embedder.
        skills_k: composite skills offered per turn at most.
        hits_k: memory lines (episodes, reflections, facts) per turn at most.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        embedder: str | Embedder | None = "auto",
        skills_k: int = 3,
        hits_k: int = 3,
        timeout_s: float = 30.0,
    ) -> None:
        resolved = embedder if embedder is None or not isinstance(embedder, str) else make_embedder(embedder)
        self.store = MemoryStore(path or default_memory_path(), resolved, timeout_s)
        self.skills_k, self.hits_k = skills_k, hits_k

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def retrieval(self) -> str:
        """``embedding (MODEL)`` or ``lexical (FTS5)``."""
        e = self.store.embedder
        return f"embedding ({e.name})" if e is not None else "lexical (FTS5 BM25)"

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _relevant(self, score: float) -> bool:
        return self.store.embedder is None or score >= MIN_VECTOR_SCORE

    def recall(self, query: str, registry: SkillRegistry) -> Recall:
        """The composite skills and memory lines for ``query``; skills that no longer fit ``registry``
        or that failed more often than they worked are left out."""
        skill_hits = [h for h in self.store.search(query, ("skill",), self.skills_k * 3) if self._relevant(h.score)]
        by_id = {s.id: s for s in self.store.skills([h.ref for h in skill_hits])}
        programs: list[Program] = []
        scores: dict[str, float] = {}
        for hit in skill_hits:
            stored = by_id.get(hit.ref)
            if stored is None or stored.failures > stored.successes or len(programs) >= self.skills_k:
                continue
            program = self._program(stored, registry)
            if program is not None:
                programs.append(program)
                scores[program.name] = round(hit.score, 4)
        lines = [
            h
            for h in self.store.search(query, ("episode", "reflection", "fact"), self.hits_k)
            if self._relevant(h.score)
        ]
        scores.update({h.text[:80]: round(h.score, 4) for h in lines})
        return Recall(query, tuple(programs), tuple(h.text for h in lines), scores)

    @staticmethod
    def _program(stored: StoredSkill, registry: SkillRegistry) -> Program | None:
        try:
            program = Program.from_json(stored.program)
            validate(program, registry)
        except ProgramError as e:
            log.warning("memory skill %s is not offered: %s", stored.name, e)
            return None
        rate = f"worked {stored.successes} of {stored.uses} times" if stored.uses else "not used yet"
        return Program(program.name, f"{program.description} ({rate})", program.parameters, program.steps)

    def learn(self, record: EpisodeRecord, registry: SkillRegistry) -> dict[str, Any]:
        """Store the episode and what it taught; returns what changed (for the trace)."""
        used: dict[str, bool] = {}
        for c in record.calls:
            if c.composite:
                self.store.record_skill_use(c.name, c.success)
                used[c.name] = used.get(c.name, True) and c.success
        learned: dict[str, Any] = {"skills_used": used}
        skill_name = None
        if record.verified:
            program = self._generalise(record.instruction, record.working_calls(), record, registry)
            if program is not None:
                skill_name, created = self._store(program, record.instruction, used)
                learned.update(skill=skill_name, created=created, steps=len(program.steps))
        else:  # what the failed episode did get right: each verified subgoal, from the calls of its turns
            from_subgoals = []
            for sub in record.subgoals:
                calls = record.working_calls((sub.first_turn, sub.last_turn))
                text = subgoal_text(sub.description, calls)
                program = self._generalise(text, calls, record, registry)
                if program is not None:
                    name, created = self._store(program, text, used, source="subgoal")
                    from_subgoals.append({"skill": name, "created": created, "subgoal": sub.description})
            if from_subgoals:
                learned["subgoal_skills"] = from_subgoals
        learned["episode_id"] = self.store.add_episode(
            record.instruction,
            record.verified,
            record.reason,
            [c.to_json() for c in record.calls],
            record.metrics,
            skill_name,
            record.reflections,
            record.facts,
        )
        return learned

    def _store(
        self, program: Program, example: str, used: dict[str, bool], source: str = "learned"
    ) -> tuple[str, bool]:
        counted = self.store.skill_name(program.key()) in used  # its use was just counted
        return self.store.put_skill(program.to_json(), program.key(), example, None if counted else True, source)

    @staticmethod
    def _generalise(
        instruction: str, calls: list[ToolCall], record: EpisodeRecord, registry: SkillRegistry
    ) -> Program | None:
        if any(c.name not in registry for c in calls):
            return None
        try:
            program = generalise(instruction, calls, record.objects, registry)
            if program is not None:
                validate(program, registry)
        except (ProgramError, EmbodiedError) as e:
            log.warning("no composite skill learned from %r: %s", instruction, e)
            return None
        return program
