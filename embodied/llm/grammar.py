"""Constrained decoding: a subset of JSON Schema compiled to a character automaton.

The automaton (an NFA whose state sets are interned as integers) answers one question fast:
"is this text still the prefix of a document the schema allows?". :class:`TokenConstraint`
lifts that to tokens by walking a trie of the vocabulary, so a decoder can mask every token
that would leave the schema. Because every string, number and array is bounded, every allowed
prefix has a shortest completion; the constraint only admits tokens after which that completion
still fits in the remaining token budget, so generation always ends in a complete document
(provided every character of the grammar exists as a single-character token, as in any
byte-level BPE vocabulary).

Supported schema keywords: ``type`` (string, number, integer, boolean, null, object, array, or a
list of these), ``const``, ``enum``, ``anyOf``/``oneOf``, ``properties``/``required`` (emitted in
``properties`` order; only the required ones when ``required`` is given), ``items`` with
``minItems``/``maxItems``, ``prefixItems`` (fixed tuples) and ``minLength``/``maxLength``.
Output is compact JSON with ``", "`` and ``": "`` separators; free strings use printable ASCII
without quotes or backslashes.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embodied.llm.base import JsonSchema, LLMError

_FREE_CHARS = frozenset(chr(c) for c in range(32, 127)) - {'"', "\\"}
_DIGITS = frozenset("0123456789")
_FAR = 1 << 30

Frag = tuple[int, int]


class SchemaNotSupported(LLMError, ValueError):
    """A response schema uses a JSON-Schema feature the constrained decoder does not implement."""


@dataclass(frozen=True)
class GrammarLimits:
    """Bounds that keep every document finite (and generation short)."""

    max_string_chars: int = 120
    max_array_items: int = 4
    max_int_digits: int = 4
    max_frac_digits: int = 3

    def __post_init__(self) -> None:
        for name in ("max_string_chars", "max_array_items", "max_int_digits", "max_frac_digits"):
            if getattr(self, name) < 1:
                raise SchemaNotSupported(f"GrammarLimits.{name}={getattr(self, name)} must be >= 1")


class _Builder:
    """Thompson construction of an NFA over characters."""

    def __init__(self, limits: GrammarLimits) -> None:
        self.limits = limits
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[frozenset[str], int]]] = []

    def state(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def chars(self, chars: frozenset[str]) -> Frag:
        a, b = self.state(), self.state()
        self.edges[a].append((chars, b))
        return a, b

    def literal(self, text: str) -> Frag:
        start = end = self.state()
        for ch in text:
            nxt = self.state()
            self.edges[end].append((frozenset(ch), nxt))
            end = nxt
        return start, end

    def seq(self, frags: Sequence[Frag]) -> Frag:
        if not frags:
            return self.literal("")
        for (_, end), (start, _) in itertools.pairwise(frags):
            self.eps[end].append(start)
        return frags[0][0], frags[-1][1]

    def alt(self, frags: Sequence[Frag]) -> Frag:
        a, b = self.state(), self.state()
        for start, end in frags:
            self.eps[a].append(start)
            self.eps[end].append(b)
        return a, b

    def optional(self, frag: Frag) -> Frag:
        self.eps[frag[0]].append(frag[1])
        return frag

    def repeat_chars(self, chars: frozenset[str], lo: int, hi: int) -> Frag:
        """``lo`` to ``hi`` characters of ``chars``: a counter chain, so state sets stay small."""
        chain = [self.state() for _ in range(hi + 1)]
        exit_ = self.state()
        for i, state in enumerate(chain):
            if i < hi:
                self.edges[state].append((chars, chain[i + 1]))
            if i >= lo:
                self.eps[state].append(exit_)
        return chain[0], exit_

    # -- JSON values -------------------------------------------------------------------------
    def value(self, schema: JsonSchema) -> Frag:
        if not isinstance(schema, Mapping):
            raise SchemaNotSupported(f"a schema must be an object, got {schema!r}")
        if "const" in schema:
            return self.literal(json.dumps(schema["const"]))
        if "enum" in schema:
            if not schema["enum"]:
                raise SchemaNotSupported("an empty enum allows no value")
            return self.alt([self.literal(json.dumps(v)) for v in schema["enum"]])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.alt([self.value(s) for s in schema[key]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.alt([self.value({**schema, "type": k}) for k in kind])
        handler = _HANDLERS.get(str(kind))
        if handler is None:
            raise SchemaNotSupported(f"schema type {kind!r} is not supported; use one of {sorted(_HANDLERS)}")
        return handler(self, schema)

    def string(self, schema: JsonSchema) -> Frag:
        hi = min(int(schema.get("maxLength", self.limits.max_string_chars)), self.limits.max_string_chars)
        lo = min(int(schema.get("minLength", 0)), hi)
        return self.seq([self.literal('"'), self.repeat_chars(_FREE_CHARS, lo, hi), self.literal('"')])

    def number(self, schema: JsonSchema, fraction: bool = True) -> Frag:
        nonzero = self.seq([self.chars(_DIGITS - {"0"}), self.repeat_chars(_DIGITS, 0, self.limits.max_int_digits - 1)])
        parts = [self.optional(self.literal("-")), self.alt([self.literal("0"), nonzero])]  # no leading zeros
        if fraction:
            frac = self.seq([self.literal("."), self.repeat_chars(_DIGITS, 1, self.limits.max_frac_digits)])
            parts.append(self.optional(frac))
        return self.seq(parts)

    def integer(self, schema: JsonSchema) -> Frag:
        return self.number(schema, fraction=False)

    def boolean(self, schema: JsonSchema) -> Frag:
        return self.alt([self.literal("true"), self.literal("false")])

    def null(self, schema: JsonSchema) -> Frag:
        return self.literal("null")

    def object(self, schema: JsonSchema) -> Frag:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = schema.get("required")
        keys = [k for k in props if required is None or k in required]
        parts = [self.literal("{")]
        for i, key in enumerate(keys):
            parts.append(self.literal(("" if i == 0 else ", ") + json.dumps(key) + ": "))
            parts.append(self.value(props[key]))
        parts.append(self.literal("}"))
        return self.seq(parts)

    def array(self, schema: JsonSchema) -> Frag:
        if "prefixItems" in schema:
            items = [self.value(s) for s in schema["prefixItems"]]
            seps = [self.literal(", ") for _ in items[1:]]
            fixed = [items[0]] + [f for pair in zip(seps, items[1:], strict=True) for f in pair] if items else []
            return self.seq([self.literal("["), *fixed, self.literal("]")])
        item = schema.get("items")
        if not isinstance(item, Mapping):
            raise SchemaNotSupported("an array schema needs `items` (an object) or `prefixItems`")
        hi = min(int(schema.get("maxItems", self.limits.max_array_items)), self.limits.max_array_items)
        lo = min(int(schema.get("minItems", 0)), hi)
        tail = self.literal("")  # items lo+1..hi, each optional and nested: (", " item (", " item)?)?
        for _ in range(hi - max(lo, 1)):
            tail = self.optional(self.seq([self.literal(", "), self.value(item), tail]))
        if lo == 0:
            body = self.optional(self.seq([self.value(item), tail])) if hi > 0 else self.literal("")
        else:
            head = [self.value(item)] + [self.seq([self.literal(", "), self.value(item)]) for _ in range(lo - 1)]
            body = self.seq([*head, tail])
        return self.seq([self.literal("["), body, self.literal("]")])


_HANDLERS: dict[str, Callable[[_Builder, JsonSchema], Frag]] = {
    "string": _Builder.string,
    "number": _Builder.number,
    "integer": _Builder.integer,
    "boolean": _Builder.boolean,
    "null": _Builder.null,
    "object": _Builder.object,
    "array": _Builder.array,
}


class Grammar:
    """A compiled schema: interned NFA state sets with cached transitions and completion distances.

    State sets are small integers; ``-1`` is the dead state (no document has this prefix).
    """

    def __init__(self, builder: _Builder, frag: Frag) -> None:
        self._eps, self._edges, self._accept = builder.eps, builder.edges, frag[1]
        self._dist = self._distances()
        self._sets: list[frozenset[int]] = []
        self._ids: dict[frozenset[int], int] = {}
        self._cache: dict[tuple[int, str], int] = {}
        self.start = self._intern(self._closure([frag[0]]))

    def _closure(self, states: Sequence[int]) -> frozenset[int]:
        seen, stack = set(states), list(states)
        while stack:
            for nxt in self._eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(seen)

    def _intern(self, states: frozenset[int]) -> int:
        if not states:
            return -1
        sid = self._ids.get(states)
        if sid is None:
            sid = self._ids[states] = len(self._sets)
            self._sets.append(states)
        return sid

    def _distances(self) -> list[int]:
        """Fewest characters from each NFA state to the accepting one (0-1 BFS on the reverse graph)."""
        reverse: list[list[tuple[int, int]]] = [[] for _ in self._eps]
        for src, targets in enumerate(self._eps):
            for dst in targets:
                reverse[dst].append((src, 0))
        for src, edges in enumerate(self._edges):
            for _, dst in edges:
                reverse[dst].append((src, 1))
        dist = [_FAR] * len(self._eps)
        dist[self._accept] = 0
        queue = deque([self._accept])
        while queue:  # 0-1 BFS: epsilon edges to the front, character edges to the back
            node = queue.popleft()
            for src, w in reverse[node]:
                if dist[node] + w < dist[src]:
                    dist[src] = dist[node] + w
                    if w:
                        queue.append(src)
                    else:
                        queue.appendleft(src)
        return dist

    def step(self, sid: int, char: str) -> int:
        """The state set after reading ``char`` from state set ``sid`` (``-1`` if none)."""
        if sid < 0:
            return -1
        key = (sid, char)
        nxt = self._cache.get(key)
        if nxt is None:
            targets = [dst for s in self._sets[sid] for chars, dst in self._edges[s] if char in chars]
            nxt = self._cache[key] = self._intern(self._closure(targets))
        return nxt

    def advance(self, sid: int, text: str) -> int:
        """The state set after reading ``text`` (``-1`` as soon as it leaves the grammar)."""
        for ch in text:
            sid = self.step(sid, ch)
            if sid < 0:
                break
        return sid

    def is_complete(self, sid: int) -> bool:
        """Whether the text read so far is a whole document."""
        return sid >= 0 and self._accept in self._sets[sid]

    def can_continue(self, sid: int) -> bool:
        """Whether any character may follow."""
        return sid >= 0 and any(self._edges[s] for s in self._sets[sid])

    def distance(self, sid: int) -> int:
        """Fewest characters still needed to complete a document (huge when dead)."""
        return _FAR if sid < 0 else min(self._dist[s] for s in self._sets[sid])

    def matches(self, text: str) -> bool:
        """Whether ``text`` is exactly one document of the grammar."""
        return self.is_complete(self.advance(self.start, text))


def compile_schema(schema: JsonSchema, limits: GrammarLimits | None = None) -> Grammar:
    """Compile a JSON schema (the supported subset, see the module doc) to a :class:`Grammar`."""
    builder = _Builder(limits or GrammarLimits())
    return Grammar(builder, builder.value(schema))


class _TrieNode:
    __slots__ = ("children", "ids")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode] = {}
        self.ids: list[int] = []


class TokenTrie:
    """A vocabulary as a trie of characters: built once per tokenizer, shared by every constraint.

    Args:
        token_texts: The text of each token id; ``None`` for special tokens (never allowed).
    """

    def __init__(self, token_texts: Sequence[str | None]) -> None:
        self.root = _TrieNode()
        for tid, text in enumerate(token_texts):
            if not text:
                continue
            node = self.root
            for ch in text:
                node = node.children.setdefault(ch, _TrieNode())
            node.ids.append(tid)


class TokenConstraint:
    """Which tokens keep a grammar's document valid, given each token's text.

    Args:
        grammar: The compiled schema.
        token_texts: The text of each token id (``None`` for special tokens, never allowed), or a
            :class:`TokenTrie` of them (building one for a 50k-token vocabulary takes a second or so).
        eos_id: The end-of-sequence token, allowed exactly when the document is complete.
    """

    def __init__(self, grammar: Grammar, token_texts: Sequence[str | None] | TokenTrie, eos_id: int) -> None:
        self.grammar, self.eos_id = grammar, eos_id
        trie = token_texts if isinstance(token_texts, TokenTrie) else TokenTrie(token_texts)
        self._root = trie.root

    def allowed(self, sid: int, budget: int) -> list[int]:
        """Token ids allowed in state ``sid`` when at most ``budget`` more tokens may be generated."""
        out = [self.eos_id] if self.grammar.is_complete(sid) else []
        if not self.grammar.can_continue(sid):
            return out
        stack = [(self._root, sid)]
        while stack:
            node, state = stack.pop()
            for ch, child in node.children.items():
                nxt = self.grammar.step(state, ch)
                if nxt < 0:
                    continue
                if child.ids and self.grammar.distance(nxt) <= budget - 1:
                    out.extend(child.ids)
                if child.children:
                    stack.append((child, nxt))
        return out
