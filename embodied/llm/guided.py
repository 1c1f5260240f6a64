"""Constrained decoding with ``llguidance``: a JSON schema becomes a per-token mask of the vocabulary.

`llguidance <https://github.com/guidance-ai/llguidance>`_ (MIT, a Rust wheel without Python
dependencies) compiles a JSON schema into a grammar and answers, for each step, which tokens keep
the output a prefix of a document the schema allows (tens of microseconds for a 49k vocabulary).
This module adds what the local backend needs on top:

* **Closed schemas.** The answer schemas (:mod:`embodied.llm.answers`) mean objects with exactly
  their listed keys and tuples of exactly their ``prefixItems``; JSON Schema alone allows extra
  keys and extra or missing items. :func:`strict_schema` adds ``additionalProperties: false``,
  ``items: false`` and ``minItems`` where the schema says nothing, so the decoder emits what the
  answers mean.
* **One layout.** Compact JSON with ``", "`` and ``": "`` separators, keys in ``properties``
  order, no free whitespace, so no token is spent on layout.
* **A token budget.** ``llguidance`` does not bound how long a document gets (a number may take
  any number of digits). :meth:`Guide.closing` walks the shortest-first way out of the current
  state (forced bytes, then a closing quote, bracket or brace, then the lowest allowed byte) and
  spells it in tokens; :class:`GuidedLogitsProcessor` writes that closing once the remaining budget
  is within :data:`CLOSING_MARGIN` tokens of it, so generation ends in a complete document within
  ``max_new_tokens``. That holds while no single token lengthens the closing by more than the
  margin (``benchmarks/grammar.py`` measures the largest step on the answer schemas); otherwise
  the answer is cut at the budget and the log says so.

Unsupported schema features (``not``, an unknown ``type``, an empty ``enum``, a bad ``pattern``)
raise :class:`SchemaNotSupported` with ``llguidance``'s own message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embodied.errors import DependencyNotInstalled
from embodied.llm.base import JsonSchema, LLMConfigError, LLMError

logger = logging.getLogger(__name__)

#: The closing is written once the remaining budget is within this many tokens of its length.
CLOSING_MARGIN = 24
#: The longest closing (in bytes) the walk looks for before giving up.
MAX_CLOSING_BYTES = 4096
#: Compact JSON, ``oneOf`` read as ``anyOf`` (every answer schema's alternatives are disjoint).
JSON_OPTIONS = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False, "coerce_one_of": True}
#: Bytes the closing walk tries first where nothing is forced: they end a string, an array, an object.
_CLOSERS = b'"]},0'


class SchemaNotSupported(LLMError, ValueError):
    """A response schema uses a JSON-Schema feature the constrained decoder does not implement."""


def _llguidance() -> Any:
    try:
        import llguidance
        import llguidance.hf
    except ImportError as e:
        raise DependencyNotInstalled(e.name or "llguidance", "hf", "Constrained decoding") from e
    return llguidance


def strict_schema(schema: Any) -> Any:
    """``schema`` with objects closed to their ``properties`` and tuples to exactly their ``prefixItems``.

    Only where the schema is silent: an explicit ``additionalProperties``, ``items`` or
    ``minItems`` is kept.
    """
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {k: strict_schema(v) for k, v in schema.items()}
    if "properties" in out:
        out.setdefault("additionalProperties", False)
    if "prefixItems" in out:
        out.setdefault("items", False)
        if out["items"] is False:
            out.setdefault("minItems", len(out["prefixItems"]))
    return out


class GuidedTokenizer:
    """``llguidance``'s view of a Hugging Face fast tokenizer: built once per model (about 0.7 s for 49k tokens).

    Args:
        tokenizer: A ``transformers`` fast tokenizer.
        vocab_size: Rows of the model's output (may exceed the tokenizer's length).
        eos_id: The token that ends an answer.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, eos_id: int) -> None:
        llguidance = _llguidance()
        try:
            self.ll = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=eos_id)
        except ValueError as e:  # a slow (Python) tokenizer
            raise LLMConfigError(f"constrained decoding needs a fast (Rust) tokenizer: {e}") from e
        self.vocab_size, self.eos_id = vocab_size, eos_id
        single = {b: self.ll.tokenize_bytes(bytes([b])) for b in range(256)}
        #: The token spelling each single byte, where the vocabulary has one.
        self.byte_tokens = {b: ids[0] for b, ids in single.items() if len(ids) == 1}

    def compile(self, schema: JsonSchema) -> Guide:
        """The schema as a :class:`Guide` (a few milliseconds; cache it per schema)."""
        return Guide(self, schema)

    def decode(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` (the end-of-sequence token left out)."""
        return str(self.ll.decode_str([t for t in tokens if t != self.eos_id]))


class Guide:
    """A schema compiled for one tokenizer; :meth:`matcher` starts a new answer.

    Raises:
        SchemaNotSupported: ``llguidance`` rejects the schema (its message says why), or the
            schema has no document this tokenizer can spell.
    """

    def __init__(self, tokenizer: GuidedTokenizer, schema: JsonSchema) -> None:
        llguidance = _llguidance()
        self.tokenizer = tokenizer
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                json.dumps(strict_schema(schema)), overrides=JSON_OPTIONS
            )
        except (TypeError, ValueError) as e:
            raise SchemaNotSupported(f"not a JSON schema: {e}") from e
        self._start = llguidance.LLMatcher(tokenizer.ll, grammar, log_level=0)
        if self._start.is_error():
            raise SchemaNotSupported(f"the response schema is not supported: {self._start.get_error()}")
        shortest = self.closing(self._start)
        if shortest is None:
            raise SchemaNotSupported("no document of this response schema can be spelled with this tokenizer")
        #: Tokens of the shortest answer the closing walk finds (an upper bound of the true shortest).
        self.shortest = len(shortest)

    def matcher(self) -> Any:
        """A fresh ``llguidance.LLMatcher`` at the start of an answer."""
        return self._start.deep_copy()

    def closing(self, matcher: Any) -> list[int] | None:
        """Tokens that complete the answer from ``matcher``'s state (``[]`` when it is complete).

        The walk (on a copy) takes forced bytes, else the first allowed of ``"``, ``]``, ``}``,
        ``0``, else the lowest allowed printable byte, until the document is complete; the bytes
        are then tokenized as a whole (fewer tokens), or spelt byte by byte when the grammar
        refuses that tokenization. ``None`` when no closing is found.
        """
        if matcher.is_error():
            return None
        walk, spelt, byte_tokens = matcher.deep_copy(), bytearray(), self.tokenizer.byte_tokens
        singles: list[int] = []
        while not walk.is_accepting():
            if len(spelt) >= MAX_CLOSING_BYTES:
                return None
            forced = walk.compute_ff_bytes()
            choices = forced[:1] or _CLOSERS + bytes(range(32, 127))
            for byte in choices:
                token = byte_tokens.get(byte)
                if token is not None and walk.validate_tokens([token]) == 1:
                    walk.consume_token(token)
                    spelt.append(byte)
                    singles.append(token)
                    break
            else:
                return None
        if not spelt:
            return []
        whole = list(self.tokenizer.ll.tokenize_bytes(bytes(spelt)))
        if len(whole) < len(singles) and matcher.validate_tokens(whole) == len(whole):
            return whole
        return singles


class GuidedLogitsProcessor:
    """Masks the logits of tokens that would leave the schema (batch size 1).

    It follows the tokens generated so far and, when the remaining budget gets within
    :data:`CLOSING_MARGIN` tokens of the closing, allows only the closing's next token, so the
    answer is complete within ``budget`` tokens.
    """

    def __init__(self, guide: Guide, prompt_len: int, budget: int) -> None:
        self.guide, self.prompt_len, self.budget = guide, prompt_len, budget
        self.matcher = guide.matcher()
        self.tokens: list[int] = []
        self.closing_from: int | None = None  # the generated-token count when the closing began
        self._closing: tuple[int, int] | None = None  # (generated-token count, closing length) last measured

    @property
    def text(self) -> str:
        """The generated document so far."""
        return self.guide.tokenizer.decode(self.tokens)

    @property
    def complete(self) -> bool:
        """Whether the tokens so far are a whole document."""
        return bool(self.matcher.is_accepting())

    def consume(self, sequence: Any) -> None:
        """Follow the tokens of ``sequence`` (prompt + generated ids, 1-D) not seen yet."""
        for token in sequence[self.prompt_len + len(self.tokens) :].tolist():
            self.tokens.append(token)
            if not self.matcher.is_stopped() and not self.matcher.consume_token(token):
                logger.warning("token %d left the schema: %s", token, self.matcher.get_error())

    def allowed(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        """Which token ids may come next (a boolean array over the vocabulary)."""
        remaining = self.budget - len(self.tokens)
        size = self.guide.tokenizer.vocab_size
        if not self.matcher.is_accepting() and self._closing_due(remaining):
            closing = self.guide.closing(self.matcher)
            if closing:
                self._closing = (len(self.tokens), len(closing))
                if len(closing) + CLOSING_MARGIN >= remaining:
                    if self.closing_from is None:
                        self.closing_from = len(self.tokens)
                    if len(closing) > remaining:
                        logger.warning(
                            "the answer needs %d more tokens, %d are left: it is cut", len(closing), remaining
                        )
                    allowed = np.zeros(size, dtype=bool)
                    allowed[closing[0]] = True
                    return allowed
        bias = np.frombuffer(self.matcher.compute_logit_bias(), dtype=np.uint8)[:size]
        allowed = bias > 0
        if not allowed.any():  # an error state: end the answer rather than sample anything
            allowed[self.guide.tokenizer.eos_id] = True
        return allowed

    def _closing_due(self, remaining: int) -> bool:
        """Whether the closing may have come within :data:`CLOSING_MARGIN` of the budget since it was
        last measured (it grows by at most the margin per token), so it must be measured again."""
        if self._closing is None:
            return True
        measured_at, length = self._closing
        return length + (len(self.tokens) - measured_at + 1) * CLOSING_MARGIN >= remaining

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        self.consume(input_ids[0])
        blocked = np.ones(scores.shape[-1], dtype=bool)
        allowed = self.allowed()[: scores.shape[-1]]
        blocked[: allowed.shape[0]] = ~allowed
        return scores.masked_fill(torch.from_numpy(blocked).to(scores.device), float("-inf"))
