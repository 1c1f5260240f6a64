"""LLM planners: tool calling in a ReAct / Inner-Monologue loop, and LLM+P goal proposal.

:class:`LLMPlanner` turns each :class:`~embodied.core.decision.Context` into a prompt, asks the chat
model, and parses the answer; an unusable answer is fed back to the model with the reason, a
bounded number of times, after which the planner returns a decision with no tool calls and the
problem in its thoughts. After ``max_unusable_turns`` (3) such turns in a row, counting turns
whose decision neither calls a skill, says done nor asks memory, it raises
:class:`~embodied.planners.parsing.NoUsableAnswer` instead, and the agent ends the episode with
"planner failed: the model gives no usable answer ...", naming the last problem, rather than
spending its whole turn budget. Only registered skills can ever come back.
:meth:`LLMPlanner.reflect` writes a short reflection after a failure.

:class:`LLMGoalPlanner` is LLM+P: the model only translates the instruction into goal atoms over
the visible object and region names; a classical planner finds the plan. A goal that still cannot
be used after the retries raises :class:`~embodied.planners.parsing.NoUsableAnswer` too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from embodied.core.decision import Atom, Context, Decision, Subgoal, ToolOutcome
from embodied.llm.answers import GOAL_PREDICATES, REFLECTION_SCHEMA, REGION_NAMES, decision_schema, goal_schema
from embodied.llm.base import ChatModel, ChatResponse, Message, assistant, user
from embodied.planners.parsing import (
    DecisionParseError,
    GoalRefused,
    NoUsableAnswer,
    extract_json_object,
    parse_decision,
    parse_goal,
)
from embodied.planners.prompting import (
    PromptConfig,
    build_messages,
    count_prompt_tokens,
    goal_messages,
    reflection_messages,
    retry_message,
)

logger = logging.getLogger(__name__)
#: Why a parsed goal is not a reading of the instruction (empty when it may be).
GoalCheck = Callable[[tuple[Atom, ...]], list[str]]


@dataclass(frozen=True)
class LLMPlannerConfig:
    """How the LLM planner prompts, constrains and retries.

    Attributes:
        max_parse_retries: Extra attempts after an unusable answer (the error is fed back).
        native_tools: Pass the skills' tool schemas to the model (native tool calling; backends
            without it list the skills in the prompt themselves). Off: the prompt lists them.
        constrain_arguments: In the response schema, restrict string arguments to the visible
            object and region names (enforced by constraining backends such as ``hf``).
        max_calls: Most tool calls the response schema allows in one decision.
        max_unusable_turns: Consecutive turns without a usable decision (none parsed, or one that
            neither calls a skill, says done nor asks memory) after which the planner raises
            :class:`~embodied.planners.parsing.NoUsableAnswer`, ending the episode; 0 never does.
        prompt: What goes into the prompt.
    """

    max_parse_retries: int = 2
    native_tools: bool = True
    constrain_arguments: bool = True
    max_calls: int = 2
    max_unusable_turns: int = 3
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.max_parse_retries <= 10:
            raise ValueError(f"LLMPlannerConfig.max_parse_retries={self.max_parse_retries} must be in 0..10")
        if self.max_unusable_turns < 0:
            raise ValueError(f"LLMPlannerConfig.max_unusable_turns={self.max_unusable_turns} must be >= 0 (0: never)")
        if self.max_calls < 1:
            raise ValueError(f"LLMPlannerConfig.max_calls={self.max_calls} must be >= 1")


@dataclass(frozen=True)
class Exchange:
    """One round trip with the model, kept for the trace."""

    messages: tuple[Message, ...]
    response: ChatResponse
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the trace: the prompt, the answer, its token usage and any parse error."""
        r = self.response
        calls = [
            {
                "name": c.name,
                "arguments": c.arguments if isinstance(c.arguments, str) else dict(c.arguments),
                "id": c.id,
            }
            for c in r.tool_calls
        ]
        return {
            "messages": [m.to_openai() for m in self.messages],
            "response": {"content": r.content, "tool_calls": calls},
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "error": self.error,
        }


def visible_names(context: Context) -> tuple[str, ...]:
    """Object names of the context's scene graph plus the table regions (empty without a scene)."""
    if context.scene is None:
        return ()
    return (*context.scene.names, *REGION_NAMES)


def _echo(response: ChatResponse, limit: int = 1000) -> str:
    """The model's answer as text, to show it back to the model beside the error."""
    text = response.content[:limit]
    if response.tool_calls:
        calls = [{"name": c.name, "arguments": c.arguments} for c in response.tool_calls[:4]]
        text += "\ntool_calls: " + json.dumps(calls, default=str)[:limit]
    return text or "(empty answer)"


class LLMPlanner:
    """Tool-calling planner: one chat completion (plus bounded retries) per decision."""

    name = "llm"

    def __init__(self, model: ChatModel, config: LLMPlannerConfig | None = None) -> None:
        self.model = model
        self.config = config or LLMPlannerConfig()
        self.exchanges: list[Exchange] = []  # of the last decide() or reflect() call
        self.last_prompt_tokens = 0  # estimated, of the last decide() call's first prompt
        self.unusable_turns = 0  # consecutive turns of this episode without a usable decision
        self._last_context: Context | None = None

    def decide(self, context: Context) -> Decision:
        """Prompt the model with ``context`` and return its parsed decision.

        Raises:
            NoUsableAnswer: ``max_unusable_turns`` turns in a row without a usable decision.
            LLMUnavailable: The model cannot be reached (other parse errors never escape).
        """
        last = self._last_context
        restarted = last is not None and (context.turn < last.turn or 0 < context.turn == last.turn)
        if last is None or context.goal != last.goal or restarted:  # a new episode (turns count from 1)
            self.unusable_turns = 0
        decision, problem = self._decide(context)
        if problem:
            self.unusable_turns += 1
            limit = self.config.max_unusable_turns
            if limit and self.unusable_turns >= limit:
                raise NoUsableAnswer(f"{self.unusable_turns} turns in a row without a usable decision", problem)
        else:
            self.unusable_turns = 0
        return decision

    def _decide(self, context: Context) -> tuple[Decision, str]:
        """The decision of one turn and, when it is not usable, why not."""
        self._last_context, self.exchanges = context, []
        tools = context.tools if self.config.native_tools else ()
        # Tools passed to the backend are described by it (natively, or in the prompt in JSON mode).
        prompt = replace(self.config.prompt, list_tools=False) if tools else self.config.prompt
        messages = build_messages(context, prompt)
        self.last_prompt_tokens = count_prompt_tokens(messages, tools)
        values = visible_names(context) if self.config.constrain_arguments else ()
        schema = decision_schema(context.tools, values, max_calls=self.config.max_calls)
        allowed, error = set(context.tool_names), ""
        for attempt in range(self.config.max_parse_retries + 1):
            response = self.model.chat(messages, tools=tools or None, response_schema=schema)
            try:
                decision = parse_decision(response, allowed)
            except DecisionParseError as e:
                error = str(e)
                logger.info("turn %d, attempt %d: unusable answer: %s", context.turn, attempt + 1, error)
                self.exchanges.append(Exchange(tuple(messages), response, error))
                messages = [*messages, assistant(_echo(response)), retry_message(error)]
                continue
            self.exchanges.append(Exchange(tuple(messages), response))
            idle = not (decision.tool_calls or decision.done or decision.memory_query)
            return decision, "the answer called no skill and did not say done" if idle else ""
        attempts = self.config.max_parse_retries + 1
        problem = f"{error} (after {attempts} attempt(s))"
        return Decision(
            thoughts=f"No usable answer from the model after {attempts} attempt(s); last problem: {error}"
        ), problem

    def reflect(self, context: Context | Subgoal, failure: str | Sequence[ToolOutcome] = "") -> str:
        """A one- or two-sentence reflection on a failure, for the next prompts.

        Called as ``reflect(context, "why it failed")``; ``reflect(subgoal, tool_results)`` is
        also accepted and uses the context of the last decision.

        Raises:
            LLMUnavailable: The model cannot be reached.
        """
        if isinstance(context, Subgoal):
            results = [] if isinstance(failure, str) else list(failure)
            why = f"; last result: {results[-1].call.name}: {results[-1].message}" if results else ""
            failure, context = f"subgoal '{context.description}' failed{why}", self._last_context or Context("", "")
        reason = failure if isinstance(failure, str) else "; ".join(r.message for r in failure)
        messages = reflection_messages(context, reason, self.config.prompt)
        response = self.model.chat(messages, response_schema=REFLECTION_SCHEMA)
        self.exchanges = [Exchange(tuple(messages), response)]
        text = response.content
        try:
            data = extract_json_object(text, frozenset({"reflection", "thoughts"}))
            value = data.get("reflection", data.get("thoughts"))
            text = value if isinstance(value, str) else text
        except DecisionParseError:
            pass
        text = " ".join(text.split())[:300]
        return text or f"Failed: {reason[:200]}. Re-check the scene before retrying."


@dataclass(frozen=True)
class LLMGoalPlannerConfig:
    """LLM+P settings: retries, the most atoms in a goal, the region names."""

    max_retries: int = 2
    max_atoms: int = 6
    regions: tuple[str, ...] = REGION_NAMES

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= 10:
            raise ValueError(f"LLMGoalPlannerConfig.max_retries={self.max_retries} must be in 0..10")
        if self.max_atoms < 1:
            raise ValueError(f"LLMGoalPlannerConfig.max_atoms={self.max_atoms} must be >= 1")


class LLMGoalPlanner:
    """LLM+P: the model writes the goal atoms, a classical planner finds the plan."""

    name = "llm+p"

    def __init__(self, model: ChatModel, config: LLMGoalPlannerConfig | None = None) -> None:
        self.model = model
        self.config = config or LLMGoalPlannerConfig()
        self.exchanges: list[Exchange] = []

    def propose_goal(
        self, instruction: str, object_names: Sequence[str], check: GoalCheck | None = None
    ) -> tuple[Atom, ...]:
        """Goal atoms for ``instruction`` over ``object_names`` and the regions, checked.

        ``check`` returns why a parsed goal is not a reading of the instruction (empty when it may
        be); its problems go back to the model like a parse error, within the same retries.

        Raises:
            GoalRefused: The model answered the empty goal (not retried: it is an answer).
            NoUsableAnswer: No valid goal after the retries (the message names the last problem).
            DecisionParseError: No object is visible.
            LLMUnavailable: The model cannot be reached.
        """
        if not object_names:
            raise DecisionParseError("no visible objects: a goal needs at least one object name")
        regions = self.config.regions
        messages = goal_messages(instruction, object_names, regions)
        schema = goal_schema(object_names, regions, self.config.max_atoms)
        self.exchanges, error = [], ""
        for _ in range(self.config.max_retries + 1):
            response = self.model.chat(messages, response_schema=schema)
            try:
                atoms = parse_goal(response, object_names, regions, GOAL_PREDICATES, allow_empty=True)
                atoms = atoms[: self.config.max_atoms]
                if not atoms:
                    self.exchanges.append(Exchange(tuple(messages), response))
                    raise GoalRefused(
                        f"the model finds no reading of {instruction[:200]!r} with the visible objects "
                        f"({', '.join(object_names)})"
                    )
                problems = check(atoms) if check is not None else []
                if problems:
                    raise DecisionParseError(f"the goal {[list(a) for a in atoms]} is wrong: {'; '.join(problems)}")
            except GoalRefused:
                raise
            except DecisionParseError as e:
                error = str(e)
                self.exchanges.append(Exchange(tuple(messages), response, error))
                fix = f'Your goal could not be used: {error}. Answer with JSON only: {{"goal": [[...], ...]}}'
                messages = [*messages, assistant(_echo(response)), user(fix)]
                continue
            self.exchanges.append(Exchange(tuple(messages), response))
            return atoms
        raise NoUsableAnswer(f"no valid goal after {self.config.max_retries + 1} attempt(s)", error)

    def decide(self, context: Context) -> Decision:
        """A decision carrying only ``goal_atoms`` (no tool calls) for the classical planner.

        Raises:
            NoUsableAnswer: The model gave no valid goal after the retries (ends the episode).
        """
        names = context.scene.names if context.scene is not None else ()
        try:
            atoms = self.propose_goal(context.goal, names)
        except NoUsableAnswer:
            raise
        except DecisionParseError as e:
            return Decision(thoughts=f"Could not ground the instruction: {e}")
        return Decision(thoughts=f"Goal: {json.dumps([list(a) for a in atoms])}", goal_atoms=atoms)
