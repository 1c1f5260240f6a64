"""Model output to :class:`~embodied.core.decision.Decision`, robustly.

Language models answer in every shape: clean JSON, JSON wrapped in prose or a fenced block,
native tool calls whose arguments are JSON strings, truncated output, calls of skills that do not
exist. :func:`parse_decision` accepts what it safely can and otherwise raises
:class:`DecisionParseError`, whose message says what was wrong in words meant to be fed back to
the model. Nothing else escapes: that is what the property tests check.

Only skills in ``allowed_tools`` can ever come back, whatever the model (or text smuggled into
its prompt) says.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence, Set
from typing import Any

from embodied.core.decision import SUBGOAL_STATUSES, Atom, Decision, Subgoal, ToolCall
from embodied.core.text import short
from embodied.errors import EmbodiedError
from embodied.llm.base import ChatResponse, RawToolCall

logger = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 20_000  # longer answers are cut before parsing
MAX_THOUGHT_CHARS = 2_000
MAX_CALLS = 8
MAX_SUBGOALS = 16
MAX_JSON_STARTS = 16  # candidate "{" positions tried before giving up
MAX_DEPTH = 32

ANSWER_FORMAT = (
    'Answer with one JSON object: {"thoughts": "...", "tool_calls": [{"name": "<skill>", '
    '"arguments": {...}}], "done": false}.'
)
DECISION_KEYS = frozenset({"thoughts", "thought", "tool_calls", "calls", "done", "subgoals", "memory_query", "name"})
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)


class DecisionParseError(EmbodiedError, ValueError):
    """A model answer that cannot be used; the message is written to be shown to the model."""


class GoalRefused(DecisionParseError):
    """The model answered the empty goal: it finds no reading of the instruction with these objects."""


class NoUsableAnswer(DecisionParseError):
    """The model keeps answering unusably; raised by a planner to end the episode.

    The message starts with "the model gives no usable answer" and names the last problem; the
    agent ends the episode with it (``planner failed: the model gives no usable answer ...``).
    """

    def __init__(self, what: str, last_problem: str) -> None:
        super().__init__(f"the model gives no usable answer: {what}; last problem: {last_problem}")
        self.last_problem = last_problem


def _balanced_objects(text: str) -> Iterator[str]:
    """Substrings of ``text`` that are balanced ``{...}`` spans (string-aware), first start first."""
    starts = 0
    for start, ch in enumerate(text):
        if ch != "{":
            continue
        starts += 1
        if starts > MAX_JSON_STARTS:
            return
        depth, in_string, escaped = 0, False, False
        for end in range(start, len(text)):
            c = text[end]
            if in_string:
                escaped, in_string = (False, True) if escaped else (c == "\\", c != '"')
            elif c == '"':
                in_string = True
            elif c in "{[":
                depth += 1
                if depth > MAX_DEPTH:
                    break
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    yield text[start : end + 1]
                    break


def extract_json_object(text: str, prefer: Set[str] = frozenset()) -> dict[str, Any]:
    """The first JSON object in ``text``: inside a fenced block if there is one, else anywhere.

    Args:
        text: The model's answer.
        prefer: Keys of the object wanted: the first object with one of them wins over an
            earlier object without (e.g. a ``{"x": 1}`` quoted in the prose before the answer).

    Raises:
        DecisionParseError: No complete JSON object could be read.
    """
    text = text[:MAX_ANSWER_CHARS]
    if not text.strip():
        raise DecisionParseError("the answer was empty")
    first: dict[str, Any] | None = None
    for source in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        for candidate in _balanced_objects(source):
            try:
                data = json.loads(candidate)
            except (ValueError, RecursionError):
                continue
            if isinstance(data, dict):
                if not prefer or any(key in data for key in prefer):
                    return data
                first = data if first is None else first
    if first is not None:
        return first
    if "{" not in text:
        raise DecisionParseError("the answer contains no JSON object")
    raise DecisionParseError("the answer's JSON is malformed or cut off (check quotes, commas and closing braces)")


def _text(value: object, field: str, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        value = json.dumps(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(value)
    if not isinstance(value, str):
        raise DecisionParseError(f'"{field}" must be a string, got {type(value).__name__}')
    return value[:limit]


def _arguments(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value[:MAX_ANSWER_CHARS])
            if isinstance(value, str):  # some models encode the arguments twice
                value = json.loads(value[:MAX_ANSWER_CHARS])
        except (ValueError, RecursionError):
            raise DecisionParseError(f"{where}: arguments are not valid JSON: {short(value)}") from None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise DecisionParseError(f"{where}: arguments must be a JSON object of named values, got {short(value)}")
    return dict(value)


def _check_name(name: object, where: str, allowed: Set[str]) -> str:
    if not isinstance(name, str) or not name:
        raise DecisionParseError(f'{where} has no skill "name"')
    if name not in allowed:
        valid = ", ".join(sorted(allowed)) or "(none: answer with no tool calls)"
        raise DecisionParseError(f"{where}: unknown skill {short(name)}; valid skills are: {valid}")
    return name


def _tool_call(item: object, index: int, allowed: Set[str]) -> ToolCall:
    where = f"tool_calls[{index}]"
    if not isinstance(item, Mapping):
        raise DecisionParseError(f'{where} must be an object like {{"name": "<skill>", "arguments": {{...}}}}')
    if isinstance(item.get("function"), Mapping):  # OpenAI shape {"id", "function": {"name", "arguments"}}
        item = {**item["function"], "id": item.get("id")}
    name = _check_name(next((item[k] for k in ("name", "tool", "skill") if k in item), None), where, allowed)
    args = _arguments(next((item[k] for k in ("arguments", "args", "parameters") if k in item), None), where)
    call_id = item.get("id")
    return ToolCall(name, args, str(call_id)[:64] if call_id else f"call_{index}")


def _tool_calls(value: object, allowed: Set[str]) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise DecisionParseError(f'"tool_calls" must be a list of calls, got {type(value).__name__}')
    if len(value) > MAX_CALLS:
        logger.warning("model asked for %d tool calls; keeping the first %d", len(value), MAX_CALLS)
    return tuple(_tool_call(item, i, allowed) for i, item in enumerate(value[:MAX_CALLS]))


def _subgoal(item: object, index: int) -> Subgoal:
    if isinstance(item, str):
        return Subgoal(item[:300])
    if not isinstance(item, Mapping):
        raise DecisionParseError(f"subgoals[{index}] must be a string or an object with a description")
    text = _text(item.get("description", item.get("subgoal", item.get("text"))), f"subgoals[{index}]", 300)
    status = item.get("status")
    return Subgoal(text, status if status in SUBGOAL_STATUSES else "pending")


def _subgoals(value: object) -> tuple[Subgoal, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DecisionParseError(f'"subgoals" must be a list, got {type(value).__name__}')
    return tuple(_subgoal(item, i) for i, item in enumerate(value[:MAX_SUBGOALS]))


def _done(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise DecisionParseError(f'"done" must be true or false, got {short(value)}')


def _atoms(value: object) -> tuple[Atom, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DecisionParseError('"goal_atoms" must be a list of [predicate, argument, argument] lists')
    atoms = []
    for i, atom in enumerate(value[:MAX_SUBGOALS]):
        if not isinstance(atom, list) or not 2 <= len(atom) <= 3 or not all(isinstance(a, str) for a in atom):
            raise DecisionParseError(f"goal_atoms[{i}] must be a list like [predicate, argument, argument]")
        atoms.append(tuple(atom))
    return tuple(atoms)


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Everything but the tool calls, checked and defaulted."""
    query = data.get("memory_query")
    if query is not None and not isinstance(query, str):
        raise DecisionParseError(f'"memory_query" must be a string or null, got {type(query).__name__}')
    return {
        "thoughts": _text(data.get("thoughts", data.get("thought")), "thoughts", MAX_THOUGHT_CHARS),
        "subgoals": _subgoals(data.get("subgoals")),
        "memory_query": query[:500] if query else None,
        "done": _done(data.get("done")),
        "goal_atoms": _atoms(data.get("goal_atoms")),
    }


def decision_from_json(data: Mapping[str, Any], allowed_tools: Set[str]) -> Decision:
    """Check a decoded JSON answer and build the decision (defaults for missing fields).

    A bare call (``{"name": ..., "arguments": ...}``) is read as a decision with that one call.
    """
    if "name" in data and "tool_calls" not in data:
        return Decision(tool_calls=(_tool_call(data, 0, allowed_tools),))
    calls = data.get("tool_calls", data.get("calls"))
    return Decision(tool_calls=_tool_calls(calls, allowed_tools), **_fields(data))


def _native(response: ChatResponse, allowed_tools: Set[str]) -> Decision:
    raw: Sequence[RawToolCall] = response.tool_calls[:MAX_CALLS]
    calls = []
    for i, call in enumerate(raw):
        where = f"tool call {i} ({short(call.name, 40)})"
        name = _check_name(call.name, where, allowed_tools)
        calls.append(ToolCall(name, _arguments(call.arguments, where), str(call.id)[:64] or f"call_{i}"))
    content = response.content if isinstance(response.content, str) else ""
    fields: dict[str, Any] = {"thoughts": content.strip()[:MAX_THOUGHT_CHARS]}
    if "{" in content:  # some models add the JSON fields beside native calls; use them when valid
        with contextlib.suppress(DecisionParseError):
            fields = _fields(extract_json_object(content, DECISION_KEYS))
    return Decision(tool_calls=tuple(calls), **fields)


def parse_decision(response: ChatResponse, allowed_tools: Set[str]) -> Decision:
    """Turn a model's answer into a decision whose calls only name ``allowed_tools``.

    Native tool calls are used when present (their arguments may be JSON strings); otherwise
    the first JSON object of the text is read (fenced blocks first; prose around it is ignored).

    Raises:
        DecisionParseError: The answer is empty, malformed, names an unknown skill, or has
            fields of the wrong type; the message says which, fit to show to the model.
    """
    if response.tool_calls:
        return _native(response, allowed_tools)
    content = response.content if isinstance(response.content, str) else ""
    return decision_from_json(extract_json_object(content, DECISION_KEYS), allowed_tools)


def parse_goal(
    response: ChatResponse,
    object_names: Sequence[str],
    regions: Sequence[str],
    predicates: Sequence[str],
    allow_empty: bool = False,
) -> tuple[Atom, ...]:
    """Read LLM+P goal atoms (``{"goal": [[pred, a, b], ...]}`` or a bare list) and check every name.

    Names are matched case- and space-insensitively and returned as given in ``object_names``.
    With ``allow_empty`` the empty goal (a refusal) is returned as ``()``.

    Raises:
        DecisionParseError: Malformed, empty (unless allowed), or naming an unknown predicate,
            object or region.
    """
    content = (response.content if isinstance(response.content, str) else "")[:MAX_ANSWER_CHARS]
    stripped = content.strip()
    if stripped.startswith("["):
        try:
            value: Any = json.loads(stripped)
        except (ValueError, RecursionError):
            raise DecisionParseError("the goal list is not valid JSON") from None
    else:
        data = extract_json_object(content, frozenset({"goal", "goal_atoms"}))
        value = data.get("goal", data.get("goal_atoms"))
    if isinstance(value, list) and not value and allow_empty:
        return ()
    if not isinstance(value, list) or not value:
        raise DecisionParseError('the goal must be a non-empty list like {"goal": [["on", "a", "b"]]}')
    canon = {" ".join(n.lower().split()): n for n in object_names}
    places = {" ".join(r.lower().split()): r for r in regions}
    atoms = (_goal_atom(atom, i, canon, places, predicates) for i, atom in enumerate(value[:MAX_SUBGOALS]))
    return tuple(dict.fromkeys(atoms))  # without repeats, in order


def _goal_atom(
    atom: object, index: int, objects: Mapping[str, str], regions: Mapping[str, str], predicates: Sequence[str]
) -> Atom:
    where = f"goal[{index}]"
    if not isinstance(atom, list) or len(atom) != 3 or not all(isinstance(a, str) for a in atom):
        raise DecisionParseError(f"{where} must be a list of three strings: [predicate, object, object or region]")
    pred, first, second = (" ".join(a.lower().split()) for a in atom)
    if pred not in predicates:
        raise DecisionParseError(f"{where}: unknown predicate {short(atom[0])}; use one of {', '.join(predicates)}")
    target = regions if pred == "in_region" else objects
    for name, table in ((first, objects), (second, target)):
        if name not in table:
            valid = ", ".join(table.values())
            raise DecisionParseError(f"{where}: unknown name {short(name)}; valid names are: {valid}")
    if first == second:
        raise DecisionParseError(f"{where}: an object cannot be related to itself")
    return (pred, objects[first], target[second])
