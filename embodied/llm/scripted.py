"""A scripted chat model: replays given answers, or asks a function of the messages.

It stands in for a language model in tests and demos (no weights can be fetched here); every
call is recorded in :attr:`ScriptedChatModel.calls` so a test can read the prompts it was sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embodied.core.decision import ToolCall
from embodied.llm.base import ChatResponse, JsonSchema, LLMConfigError, LLMUnavailable, Message, RawToolCall, ToolSchema

logger = logging.getLogger(__name__)

#: What a script may hold: a text answer, a full response, one tool call or a list of them.
ScriptItem = str | ChatResponse | ToolCall | RawToolCall | Sequence[ToolCall | RawToolCall]
Responder = Callable[[Sequence[Message]], "ScriptItem"]

DONE_ANSWER = '{"thoughts": "The script has no more answers.", "tool_calls": [], "done": true}'


@dataclass(frozen=True)
class ScriptedCall:
    """One recorded call: what the model was sent."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSchema, ...]
    response_schema: JsonSchema | None


def _raw(call: ToolCall | RawToolCall) -> RawToolCall:
    if isinstance(call, RawToolCall):
        return call
    return RawToolCall(call.name, dict(call.arguments), call.id)


def to_response(item: ScriptItem) -> ChatResponse:
    """Normalise a script item to a :class:`ChatResponse`."""
    if isinstance(item, ChatResponse):
        return item
    if isinstance(item, str):
        return ChatResponse(content=item)
    if isinstance(item, ToolCall | RawToolCall):
        return ChatResponse(tool_calls=(_raw(item),))
    return ChatResponse(tool_calls=tuple(_raw(c) for c in item))


class ScriptedChatModel:
    """Replays ``script`` in order, or calls ``script(messages)`` on every turn.

    Args:
        script: A list of answers, or a function from the messages to an answer.
        strict: When the list runs out, raise :class:`LLMUnavailable` instead of answering
            with a ``done`` decision (which ends an episode cleanly).
    """

    name = "scripted"

    def __init__(self, script: Sequence[ScriptItem] | Responder = (), *, strict: bool = False) -> None:
        self._responder = script if callable(script) else None
        self._items: list[ScriptItem] = [] if callable(script) else list(script)
        self.strict = strict
        self.calls: list[ScriptedCall] = []

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        response_schema: JsonSchema | None = None,
    ) -> ChatResponse:
        """Record the call and return the next scripted answer."""
        index = len(self.calls)
        self.calls.append(ScriptedCall(tuple(messages), tuple(tools or ()), response_schema))
        if self._responder is not None:
            return to_response(self._responder(messages))
        if index < len(self._items):
            return to_response(self._items[index])
        if self.strict:
            raise LLMUnavailable(f"scripted model: the script has only {len(self._items)} answers (call {index + 1})")
        logger.info("scripted model exhausted after %d answers; answering done", len(self._items))
        return ChatResponse(content=DONE_ANSWER)


def _item_from_json(data: Any, where: str) -> ScriptItem:
    if isinstance(data, str):
        return data
    if isinstance(data, Mapping) and ("content" in data or "tool_calls" in data):
        calls = tuple(
            RawToolCall(str(c["name"]), c.get("arguments", {}), str(c.get("id", "")))
            for c in data.get("tool_calls", ())
        )
        return ChatResponse(content=str(data.get("content", "")), tool_calls=calls)
    if isinstance(data, Mapping):
        return json.dumps(data)
    raise LLMConfigError(f"{where}: each answer must be a string or an object, got {type(data).__name__}")


def load_script(path: str | Path) -> ScriptedChatModel:
    """A scripted model from a JSON file holding a list of answers.

    Each answer is a string (the model's text), an object with ``content`` and/or ``tool_calls``
    (``[{"name", "arguments"}]``), or any other object (used as the JSON text of the answer).
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LLMConfigError(f"cannot read the script {file}: {e}") from e
    if not isinstance(data, list):
        raise LLMConfigError(f"{file}: a script must be a JSON list of answers")
    return ScriptedChatModel([_item_from_json(item, f"{file}[{i}]") for i, item in enumerate(data)])
