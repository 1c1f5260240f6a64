"""Local Hugging Face ``transformers`` causal LMs, with output constrained to a JSON schema.

Weights are loaded from a local folder only (``local_files_only=True``): nothing is downloaded.
When a ``response_schema`` is given (the planner passes the decision schema, whose skill names
are an enum and whose string arguments are the visible object names), a logits processor masks
every token that would leave the schema (:mod:`embodied.llm.guided`, on ``llguidance``), so even a randomly
initialised model answers with a schema-valid decision. With ``tools`` but no schema, the
decision schema is derived from the tools; with neither, generation is free text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embodied.errors import DependencyNotInstalled
from embodied.llm.answers import decision_schema
from embodied.llm.base import (
    ChatResponse,
    JsonSchema,
    LLMConfigError,
    Message,
    ToolSchema,
    with_tool_listing,
)
from embodied.llm.chat_template import render_chat
from embodied.llm.guided import Guide, GuidedLogitsProcessor, GuidedTokenizer
from embodied.llm.quiet import quiet_loading

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HFConfig:
    """Which local model to load and how to generate.

    ``temperature`` 0 decodes greedily; ``seed`` makes sampling repeatable.
    """

    path: str
    max_new_tokens: int = 384
    temperature: float = 0.0
    seed: int | None = 0
    device: str = "cpu"
    num_threads: int | None = None  # torch CPU threads while generating (None: torch's setting)

    def __post_init__(self) -> None:
        if not self.path:
            raise LLMConfigError("HFConfig.path is empty; give a local model folder, e.g. 'hf:/models/qwen2.5-0.5b'")
        if self.max_new_tokens < 16:
            raise LLMConfigError(f"HFConfig.max_new_tokens={self.max_new_tokens} must be >= 16")
        if self.temperature < 0:
            raise LLMConfigError(f"HFConfig.temperature={self.temperature} must be >= 0")
        if self.num_threads is not None and self.num_threads < 1:
            raise LLMConfigError(f"HFConfig.num_threads={self.num_threads} must be >= 1 or None")


def _import_hf() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as e:
        raise DependencyNotInstalled(e.name or "transformers", "hf", "The local Hugging Face backend") from e
    return torch, transformers


def _safetensors_error() -> type[Exception]:
    """The error ``safetensors`` (a dependency of ``transformers``) raises for a damaged file."""
    try:
        from safetensors import SafetensorError
    except ImportError:
        return OSError
    return SafetensorError  # type: ignore[no-any-return]


class HFChatModel:
    """A :class:`~embodied.llm.base.ChatModel` running a local ``transformers`` causal LM."""

    def __init__(self, config: HFConfig) -> None:
        self._torch, transformers = _import_hf()
        self.config = config
        self.name = f"hf:{config.path}"
        folder = Path(config.path).expanduser()
        if not (folder / "config.json").is_file():
            raise LLMConfigError(
                f"hf: {folder} is not a local model folder (no config.json); download the model once with "
                "`hf download <repo> --local-dir <folder>` and pass that folder"
            )
        try:
            with quiet_loading():
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                self.model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, _safetensors_error()) as e:
            raise LLMConfigError(f"hf: cannot load a causal LM and tokenizer from {folder}: {e}") from e
        self.model.to(config.device).eval()
        if self.tokenizer.eos_token_id is None:
            raise LLMConfigError(f"hf: the tokenizer in {folder} has no eos_token; constrained decoding needs one")
        self._guided: GuidedTokenizer | None = None  # built on the first constrained answer
        self._guides: dict[str, Guide] = {}

    def _guide(self, schema: JsonSchema) -> Guide:
        """The compiled schema (the 8 most recent are kept)."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._guides:
            if self._guided is None:
                vocab = int(self.model.config.vocab_size)
                self._guided = GuidedTokenizer(self.tokenizer, vocab, int(self.tokenizer.eos_token_id))
            if len(self._guides) >= 8:
                self._guides.pop(next(iter(self._guides)))
            self._guides[key] = self._guided.compile(schema)
        return self._guides[key]

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text (see :func:`render_chat`)."""
        return render_chat(self.tokenizer, messages)

    def _prompt_ids(self, messages: Sequence[Message]) -> Any:
        ids = self.tokenizer(self.render(messages), return_tensors="pt").input_ids
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit and ids.shape[1] + self.config.max_new_tokens > limit:
            keep = max(1, int(limit) - self.config.max_new_tokens)
            logger.warning("prompt of %d tokens cut to its last %d to fit the model", ids.shape[1], keep)
            ids = ids[:, -keep:]
        return ids.to(self.config.device)

    def chat(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSchema] | None = None,
        response_schema: JsonSchema | None = None,
    ) -> ChatResponse:
        """Generate one answer, constrained to ``response_schema`` (or the tools' decision schema)."""
        schema = response_schema or (decision_schema(tools) if tools else None)
        ids = self._prompt_ids(with_tool_listing(messages, tools or ()))
        processor = None
        if schema is not None:
            guide = self._guide(schema)
            if guide.shortest > self.config.max_new_tokens:
                raise LLMConfigError(
                    f"HFConfig.max_new_tokens={self.config.max_new_tokens} is too small for this response schema: "
                    f"its shortest answer takes {guide.shortest} tokens; raise it to at least {guide.shortest}"
                )
            processor = GuidedLogitsProcessor(guide, ids.shape[1], self.config.max_new_tokens)
        sampling: dict[str, Any] = {"do_sample": False}
        if self.config.temperature > 0:
            sampling = {"do_sample": True, "temperature": self.config.temperature}
            if self.config.seed is not None:
                self._torch.manual_seed(self.config.seed)
        pad, threads = self.tokenizer.pad_token_id, self._torch.get_num_threads()
        if self.config.num_threads:
            self._torch.set_num_threads(self.config.num_threads)
        try:
            out = self.model.generate(
                input_ids=ids,
                attention_mask=self._torch.ones_like(ids),
                max_new_tokens=self.config.max_new_tokens,
                logits_processor=[processor] if processor else None,
                pad_token_id=self.tokenizer.eos_token_id if pad is None else pad,
                eos_token_id=self.tokenizer.eos_token_id,
                **sampling,
            )
        finally:
            self._torch.set_num_threads(threads)
        new = out[0, ids.shape[1] :]
        if processor is not None:
            processor.consume(out[0])
            if not processor.complete:
                logger.warning("the constrained answer was cut at max_new_tokens=%d", self.config.max_new_tokens)
        text = processor.text if processor else self.tokenizer.decode(new, skip_special_tokens=True)
        return ChatResponse(content=text, prompt_tokens=int(ids.shape[1]), completion_tokens=int(new.shape[0]))
