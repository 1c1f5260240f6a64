"""The chat-model interface every LLM backend implements, and the values it trades in.

A planner talks to a language model through :class:`ChatModel` only: a list of
:class:`Message` in, one :class:`ChatResponse` out. Backends (OpenAI-compatible HTTP servers,
local Hugging Face weights, a scripted model for tests) differ in how they produce the answer,
never in its shape, so the planner and the parser are the same for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from embodied.errors import EmbodiedError

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")

#: An OpenAI-shape tool schema: ``{"type": "function", "function": {"name", "description", "parameters"}}``.
ToolSchema = Mapping[str, Any]
#: A JSON schema (local models enforce it with llguidance: :mod:`embodied.llm.guided`).
JsonSchema = Mapping[str, Any]


class LLMError(EmbodiedError):
    """Base class of the errors raised by chat-model backends."""


class LLMUnavailable(LLMError, ConnectionError):
    """The model cannot be reached or keeps failing; the message names the URL/path and the cause."""


class LLMConfigError(LLMError, ValueError):
    """A backend was configured with a bad value; the message names the field and what is allowed."""


@dataclass(frozen=True)
class RawToolCall:
    """A tool call exactly as a backend returned it: ``arguments`` may still be a JSON string."""

    name: str
    arguments: str | Mapping[str, Any] = ""
    id: str = ""


@dataclass(frozen=True)
class Message:
    """One chat message; ``tool_call_id`` is set on ``tool`` messages only."""

    role: Role
    content: str
    tool_call_id: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise LLMConfigError(f"Message.role={self.role!r} is not one of {ROLES}")
        if not isinstance(self.content, str):
            raise LLMConfigError(f"Message.content must be a str, got {type(self.content).__name__}")

    def to_openai(self) -> dict[str, Any]:
        """The message as an OpenAI chat-completions dict."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.role == "tool":
            data["tool_call_id"] = self.tool_call_id
        return data


def system(content: str) -> Message:
    """A system message."""
    return Message("system", content)


def user(content: str) -> Message:
    """A user message."""
    return Message("user", content)


def assistant(content: str) -> Message:
    """An assistant message."""
    return Message("assistant", content)


@dataclass(frozen=True)
class ChatResponse:
    """A model's answer: text ``content`` and/or native ``tool_calls``, token usage and the raw reply."""

    content: str = ""
    tool_calls: tuple[RawToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw: Any = field(default=None, compare=False, repr=False)


@runtime_checkable
class ChatModel(Protocol):
    """One chat completion per call.

    ``tools`` are OpenAI-shape tool schemas the model may call; ``response_schema`` is a JSON
    schema the answer's text should follow (backends that can, enforce it; others ignore it).
    """

    name: str

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        response_schema: JsonSchema | None = None,
    ) -> ChatResponse: ...


def tool_names(tools: Sequence[ToolSchema] | None) -> tuple[str, ...]:
    """The names of OpenAI-shape tool schemas."""
    return tuple(str(t["function"]["name"]) for t in tools or ())


def describe_tools(tools: Sequence[ToolSchema]) -> str:
    """A compact text listing of tools, one line each: ``name(arg: type, ...) - description``.

    Used in prompts for models without native tool calling; far fewer tokens than the JSON
    schemas. Optional arguments are marked with ``?``.
    """
    lines = []
    for tool in tools:
        fn = tool["function"]
        params = fn.get("parameters") or {}
        required = set(params.get("required") or ())
        args = []
        for arg, spec in (params.get("properties") or {}).items():
            kind = spec.get("type", "any") if isinstance(spec, Mapping) else "any"
            if isinstance(spec, Mapping) and "enum" in spec:
                kind = "|".join(str(v) for v in spec["enum"])
            args.append(f"{arg}{'' if arg in required else '?'}: {kind}")
        summary = str(fn.get("description") or "").strip().split("\n", 1)[0]
        lines.append(f"- {fn['name']}({', '.join(args)}) - {summary}")
    return "\n".join(lines)


JSON_SKILLS_HEADER = 'Skills (call them in the "tool_calls" list of your JSON answer):'


def with_tool_listing(messages: Sequence[Message], tools: Sequence[ToolSchema]) -> list[Message]:
    """``messages`` with ``tools`` described in the system prompt, unless a system message lists them already.

    For models without native tool calling (JSON mode, local weights).
    """
    listing = describe_tools(tools)
    out = list(messages)
    if not tools or any(listing in m.content for m in out if m.role == "system"):
        return out
    extra = f"{JSON_SKILLS_HEADER}\n{listing}"
    if out and out[0].role == "system":
        return [system(f"{out[0].content}\n{extra}"), *out[1:]]
    return [system(extra), *out]
