"""Local Hugging Face ``transformers`` causal LMs, with output constrained to a JSON schema.

Weights are loaded from a local folder only (``local_files_only=True``): nothing is downloaded.
When a ``response_schema`` is given (the planner passes the decision schema, whose skill names
are an enum and whose string arguments are the visible object names), a logits processor masks
every token that would leave the schema (:mod:`embodied.llm.grammar`), so even a randomly
initialised model answers with a schema-valid decision. With ``tools`` but no schema, the
decision schema is derived from the tools; with neither, generation is free text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from embodied.llm.grammar import Grammar, GrammarLimits, TokenConstraint, TokenTrie, compile_schema

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
    limits: GrammarLimits = field(default_factory=GrammarLimits)

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


def token_texts(tokenizer: Any, vocab_size: int) -> list[str | None]:
    """The text each token id adds when decoded mid-sequence (``None`` for special or partial tokens).

    Each id is decoded after an anchor token and the anchor's text removed, so tokenizers that
    drop a leading space when a token is decoded alone (SentencePiece) still give exact texts.
    """
    anchor = tokenizer.encode("a", add_special_tokens=False)[:1]
    base = tokenizer.decode(anchor, clean_up_tokenization_spaces=False)
    special = set(tokenizer.all_special_ids)
    ids = list(range(min(vocab_size, len(tokenizer))))
    decoded = tokenizer.batch_decode([[*anchor, i] for i in ids], clean_up_tokenization_spaces=False)
    texts: list[str | None] = [None] * vocab_size
    for i, text in zip(ids, decoded, strict=True):
        if i in special or not text.startswith(base) or "\ufffd" in text:
            continue
        texts[i] = text[len(base) :] or None
    return texts


class GrammarLogitsProcessor:
    """Masks the logits of tokens that would leave the grammar (batch size 1).

    It follows the tokens generated so far, keeps their text in :attr:`text`, and allows only
    tokens after which the document can still be completed within the remaining budget.
    """

    def __init__(self, constraint: TokenConstraint, texts: Sequence[str | None], prompt_len: int, budget: int) -> None:
        self.constraint, self.texts = constraint, texts
        self.prompt_len, self.budget = prompt_len, budget
        self.state = constraint.grammar.start
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        """The generated document so far."""
        return "".join(self.parts)

    def consume(self, sequence: Any) -> None:
        """Follow the tokens of ``sequence`` (prompt + generated ids, 1-D) not seen yet."""
        for tid in sequence[self.prompt_len + len(self.parts) :].tolist():
            piece = self.texts[tid] if 0 <= tid < len(self.texts) else None
            self.parts.append(piece or "")
            if piece:
                self.state = self.constraint.grammar.advance(self.state, piece)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.consume(input_ids[0])
        allowed = self.constraint.allowed(self.state, self.budget - len(self.parts)) or [self.constraint.eos_id]
        mask = scores.new_full(scores.shape, float("-inf"))
        mask[:, allowed] = 0.0
        return scores + mask


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
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, _safetensors_error()) as e:
            raise LLMConfigError(f"hf: cannot load a causal LM and tokenizer from {folder}: {e}") from e
        self.model.to(config.device).eval()
        if self.tokenizer.eos_token_id is None:
            raise LLMConfigError(f"hf: the tokenizer in {folder} has no eos_token; constrained decoding needs one")
        self._texts: list[str | None] | None = None
        self._trie: TokenTrie | None = None  # of _texts, shared by the constraints of every schema
        self._grammars: dict[str, TokenConstraint] = {}

    def _constraint(self, schema: JsonSchema) -> TokenConstraint:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            if self._texts is None or self._trie is None:
                self._texts = token_texts(self.tokenizer, int(self.model.config.vocab_size))
                self._trie = TokenTrie(self._texts)
            grammar: Grammar = compile_schema(schema, self.config.limits)
            if len(self._grammars) >= 8:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[key] = TokenConstraint(grammar, self._trie, int(self.tokenizer.eos_token_id))
        return self._grammars[key]

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text: the tokenizer's chat template, or plain role tags when it has none."""
        if getattr(self.tokenizer, "chat_template", None):
            return str(
                self.tokenizer.apply_chat_template(
                    [m.to_openai() for m in messages], tokenize=False, add_generation_prompt=True
                )
            )
        return "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages) + "<|assistant|>\n"

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
            constraint = self._constraint(schema)
            shortest = constraint.grammar.distance(constraint.grammar.start)
            if shortest >= self.config.max_new_tokens:
                raise LLMConfigError(
                    f"HFConfig.max_new_tokens={self.config.max_new_tokens} is too small for this response schema: "
                    f"its shortest answer has {shortest} characters; raise it above {shortest}"
                )
            processor = GrammarLogitsProcessor(constraint, self._texts or [], ids.shape[1], self.config.max_new_tokens)
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
        text = processor.text if processor else self.tokenizer.decode(new, skip_special_tokens=True)
        return ChatResponse(content=text, prompt_tokens=int(ids.shape[1]), completion_tokens=int(new.shape[0]))
