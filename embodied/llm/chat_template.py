"""The prompt text a local causal LM sees for a list of chat messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from embodied.llm.base import Message


def render_chat(tokenizer: Any, messages: Sequence[Message]) -> str:
    """``messages`` through the tokenizer's chat template, or plain role tags when it has none.

    Generation (:mod:`embodied.llm.hf`) and fine-tuning (:mod:`embodied.finetune.lora`) both use it,
    so a model is trained on exactly the prompts it is later given.
    """
    if getattr(tokenizer, "chat_template", None):
        return str(
            tokenizer.apply_chat_template([m.to_openai() for m in messages], tokenize=False, add_generation_prompt=True)
        )
    return "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages) + "<|assistant|>\n"
