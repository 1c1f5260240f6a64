"""Any OpenAI-compatible chat server (OpenAI, Ollama, vLLM, llama.cpp server) through ``openai``.

Tool calling is native when the server supports it. In JSON mode the skills are described in
the system prompt instead and the answer is read from the text; ``tool_mode="auto"`` switches to
JSON mode by itself the first time a server rejects ``tools``.

Structured outputs: when the planner gives a response schema (the decision or the goal schema,
with the visible object names enumerated), it is sent as ``response_format``. With
``response_format="auto"`` the OpenAI form ``{"type": "json_schema", "json_schema": {...}}``
(OpenAI, vLLM, Ollama, recent llama.cpp ``llama-server``) is tried first; a server that rejects
it is asked next with the llama.cpp form ``{"type": "json_object", "schema": {...}}``
(llama-cpp-python's server); one that rejects both gets the prompt's prose JSON instructions
only. A rejection is an HTTP 400 or 422, or a 500 whose message names ``response_format`` (as
older llama.cpp servers answer). Each fallback is remembered for the model's lifetime and logged
once.

Every request has a total deadline of ``timeout_s``: a reply that has not fully arrived by then
is abandoned, however steadily its bytes trickle in (an HTTP read timeout alone restarts with
every byte). Connection errors, timeouts, rate limits, 5xx answers and replies that are not chat
completions are retried a bounded number of times with exponential backoff, then raise
:class:`~embodied.llm.base.LLMUnavailable` naming the URL and the last cause. Nothing hangs: a
chat call gives up after at most ``timeout_s × (max_retries + 1)`` plus the backoff pauses.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from embodied.errors import DependencyNotInstalled
from embodied.llm.base import (
    ChatResponse,
    JsonSchema,
    LLMConfigError,
    LLMUnavailable,
    Message,
    RawToolCall,
    ToolSchema,
    with_tool_listing,
)
from envs.validation import require_positive

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TOOL_MODES: tuple[str, ...] = ("auto", "native", "json")
#: ``response_format`` settings and the request forms each one tries, in order.
RESPONSE_FORMATS: dict[str, tuple[str, ...]] = {
    "auto": ("json_schema", "json_object"),
    "json_schema": ("json_schema",),
    "json_object": ("json_object",),
    "off": (),
}


@dataclass(frozen=True)
class OpenAIConfig:
    """Where the server is and how patiently to talk to it.

    ``base_url`` and ``api_key`` default to ``$OPENAI_BASE_URL`` (else the OpenAI API) and
    ``$OPENAI_API_KEY`` (else a placeholder: local servers need none).
    """

    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    tool_mode: Literal["auto", "native", "json"] = "auto"
    response_format: Literal["auto", "json_schema", "json_object", "off"] = "auto"  # see the module doc
    temperature: float = 0.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.model:
            raise LLMConfigError("OpenAIConfig.model is empty; name the served model, e.g. 'openai:gpt-4o-mini'")
        if self.tool_mode not in TOOL_MODES:
            raise LLMConfigError(f"OpenAIConfig.tool_mode={self.tool_mode!r} is not one of {TOOL_MODES}")
        if self.response_format not in RESPONSE_FORMATS:
            allowed = tuple(RESPONSE_FORMATS)
            raise LLMConfigError(f"OpenAIConfig.response_format={self.response_format!r} is not one of {allowed}")
        require_positive(self, "timeout_s", "max_tokens", error=LLMConfigError)
        for name in ("max_retries", "backoff_s", "max_backoff_s", "temperature"):
            if getattr(self, name) < 0:
                raise LLMConfigError(f"OpenAIConfig.{name}={getattr(self, name)} must be >= 0")

    @property
    def url(self) -> str:
        """The base URL in use."""
        return (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")

    @property
    def key(self) -> str:
        """The API key in use (a placeholder when none is set)."""
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as e:
        raise DependencyNotInstalled("openai", "llm", "The OpenAI-compatible chat backend") from e
    return openai


class _DeadlinePassed(Exception):
    """The reply had not fully arrived when the request's deadline passed."""


def _within(deadline_s: float, call: Callable[[], Any]) -> Any:
    """``call()`` on a daemon thread, abandoned with :class:`_DeadlinePassed` after ``deadline_s``.

    The caller's thread only waits on an event, so Ctrl-C still reaches it at once.
    """
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread as is
            outcome["error"] = e
        finally:
            finished.set()

    threading.Thread(target=target, name="llm-request", daemon=True).start()
    if not finished.wait(deadline_s):
        raise _DeadlinePassed
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _to_response(completion: Any) -> ChatResponse:
    """A chat completion as a :class:`ChatResponse`; ``ValueError`` when it is not one."""
    try:
        message = completion.choices[0].message
        calls = tuple(
            RawToolCall(str(c.function.name), c.function.arguments or "", str(c.id or ""))
            for c in message.tool_calls or ()
        )
        usage = getattr(completion, "usage", None)
        return ChatResponse(
            content=message.content or "",
            tool_calls=calls,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            raw=completion,
        )
    except (AttributeError, IndexError, TypeError, ValueError) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from e


def _blames_tools(error: Exception) -> bool:
    """Whether a rejection's text names tools and not the structured output."""
    text = str(error).lower()
    return "tool" in text and not any(word in text for word in ("response_format", "json_schema", "schema"))


class OpenAIChatModel:
    """A :class:`~embodied.llm.base.ChatModel` speaking the OpenAI chat-completions protocol."""

    def __init__(self, config: OpenAIConfig) -> None:
        self._openai = _import_openai()
        self.config = config
        self.name = f"openai:{config.model}"
        self._client = self._new_client()
        self.tools_rejected = config.tool_mode == "json"  # JSON mode from now on
        self._formats = RESPONSE_FORMATS[config.response_format]
        self._format_index = 0  # into _formats; past its end: prose JSON only

    @property
    def structured_output(self) -> str:
        """The ``response_format`` form sent with a response schema now: ``json_schema``, ``json_object`` or ``off``."""
        return self._formats[self._format_index] if self._format_index < len(self._formats) else "off"

    def _new_client(self) -> Any:
        return self._openai.OpenAI(
            base_url=self.config.url, api_key=self.config.key, timeout=self.config.timeout_s, max_retries=0
        )

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        response_schema: JsonSchema | None = None,
    ) -> ChatResponse:
        """One chat completion; see the module doc for the fallbacks and the retries."""
        tools = list(tools or ())
        guesses: list[tuple[str, Any, str, Exception]] = []  # attribute, value before, what changed, why
        while True:
            native = bool(tools) and not self.tools_rejected
            request = self._request(messages, tools, native, response_schema)
            try:
                response = self._send(request)
            except (
                self._openai.BadRequestError,
                self._openai.UnprocessableEntityError,
                self._openai.InternalServerError,
            ) as e:
                can_drop_tools = native and self.config.tool_mode == "auto"
                if can_drop_tools and _blames_tools(e):  # the server says it cannot do tools
                    guesses.append(("tools_rejected", False, "JSON mode instead of native tools", e))
                    self.tools_rejected = True
                elif "response_format" in request:  # else first guess: it cannot do this structured output
                    before = self.structured_output
                    guesses.append(("_format_index", self._format_index, f"no {before} response_format", e))
                    self._format_index += 1
                elif can_drop_tools:  # then: it cannot do tools
                    guesses.append(("tools_rejected", False, "JSON mode instead of native tools", e))
                    self.tools_rejected = True
                else:
                    for attribute, value, _, _ in reversed(guesses):  # the request itself is bad: undo the guesses
                        setattr(self, attribute, value)
                    raise LLMUnavailable(f"{self.config.url} rejected the request: {e}") from e
                continue
            for _, _, change, error in guesses:
                logger.warning("%s rejected a request (%s); %s from now on", self.config.url, error, change)
            return response

    def _request(
        self, messages: Sequence[Message], tools: list[ToolSchema], native: bool, schema: JsonSchema | None
    ) -> dict[str, Any]:
        sent = messages if native else with_tool_listing(messages, tools)
        request: dict[str, Any] = {
            "model": self.config.model,
            "messages": [m.to_openai() for m in sent],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if native:
            request["tools"] = [dict(t) for t in tools]
        form = self.structured_output
        if schema is not None and form == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(schema)},
            }
        elif schema is not None and form == "json_object":
            request["response_format"] = {"type": "json_object", "schema": dict(schema)}
        return request

    def _send(self, request: dict[str, Any]) -> ChatResponse:
        """POST with bounded retries; 400/422 answers (and 500s blaming response_format) go back to :meth:`chat`."""
        oa, attempts = self._openai, self.config.max_retries + 1
        reason = ""
        for attempt in range(attempts):
            create = functools.partial(self._client.chat.completions.create, **request)
            try:
                return _to_response(_within(self.config.timeout_s, create))
            except _DeadlinePassed:
                reason = f"APITimeoutError: no complete reply within {self.config.timeout_s:g} s"
                self._client = self._new_client()  # the abandoned request keeps the old connection
            except (oa.BadRequestError, oa.UnprocessableEntityError):
                raise
            except oa.InternalServerError as e:
                if "response_format" in request and "response_format" in str(e):
                    raise  # older llama.cpp servers answer an unknown response_format type with a 500
                reason = f"{type(e).__name__}: {e}"
            except (oa.APIConnectionError, oa.RateLimitError) as e:
                reason = f"{type(e).__name__}: {e}"
            except oa.APIStatusError as e:  # 401, 403, 404, ...: retrying will not help
                raise LLMUnavailable(f"{self.config.url} answered HTTP {e.status_code}: {e}") from e
            except (oa.APIResponseValidationError, ValueError) as e:
                reason = f"the reply is not a chat completion ({e})"
            if attempt + 1 < attempts:
                delay = min(self.config.max_backoff_s, self.config.backoff_s * 2**attempt)
                logger.warning(
                    "%s failed (%s); retry %d/%d in %.2fs", self.config.url, reason, attempt + 1, attempts - 1, delay
                )
                time.sleep(delay)
        raise LLMUnavailable(
            f"the chat server at {self.config.url} (model {self.config.model!r}) failed {attempts} time(s); "
            f"last error: {reason}. Is the server running and is the base URL right?"
        )
