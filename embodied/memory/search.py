"""Search over the memory file's documents: by meaning (embeddings) or by words (BM25).

A :class:`MemoryStore <embodied.memory.store.MemoryStore>` keeps one searchable *document* per
row (its text, and the embedding of that text when an embedder is configured) and hands searches
to one engine:

- :class:`VectorSearch`, when an embedder is given: cosine similarity of the query's embedding
  with the documents'. Documents that lack this model's vector are embedded first (a backfill,
  stored in the file; in a file opened read-only, kept in this process only); the vectors are
  cached per process and reloaded only when the file changed.
- :class:`LexicalSearch`, else: BM25 over the FTS5 index of the same texts.

Both read the file through :class:`DocumentFile` (the store's connection, its change token and
its write transaction), so they hold no connection of their own. What each document says (the
text a query is matched against) is written here too: :func:`skill_text`, :func:`episode_texts`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from embodied.memory.embedding import Embedder

KINDS = ("skill", "episode", "reflection", "fact")
_BACKFILL_BATCH = 256
_KEPT_QUERIES = 8  # query embeddings kept: one recall searches skills and notes with one query


@dataclass(frozen=True)
class Hit:
    """One search result: which row (``kind``, ``ref``), its text, and its score (higher is closer)."""

    kind: str
    ref: int
    text: str
    score: float


def skill_text(name: str, steps: Sequence[Any], examples: Sequence[str], description: str = "") -> str:
    """What retrieval matches a skill on: its name in words, the skills it calls and where it worked
    (its description's start when it has not worked anywhere yet).

    Short on purpose: instructions are what a query resembles, and a short text embeds fast.
    """
    calls = [str(s.get("skill", "?")) if isinstance(s, dict) else "?" for s in steps]
    outline = ", ".join(f"{c} x{n}" if n > 1 else c for c, n in _runs(calls))
    shown = f"worked for: {'; '.join(examples[-3:])}" if examples else description[:200]
    return f"{name.replace('_', ' ')}: " + "; ".join(p for p in (outline, shown) if p)


def episode_texts(
    instruction: str,
    verified: bool,
    reason: str,
    calls: list[dict[str, Any]],
    metrics: dict[str, Any],
    reflections: Sequence[str],
    facts: Sequence[tuple[str, str, str]],
) -> list[str]:
    """The documents of an episode: its summary, then one per reflection, then one per fact."""
    outcome = "succeeded" if verified else "failed"
    shown = ", ".join(str(c.get("name")) for c in calls[:12]) + (", ..." if len(calls) > 12 else "")
    turns = metrics.get("turns", "?")
    text = f"Episode '{instruction}' {outcome} ({reason}) in {turns} turns; calls: {shown or 'none'}"
    texts = [text] + [f"Reflection on '{instruction}': {r}" for r in reflections]
    texts += [f"{s} {p.replace('_', ' ')} {v}" for s, p, v in facts]
    return texts


def _runs(items: list[str]) -> list[tuple[str, int]]:
    """``a a b a`` -> ``[(a, 2), (b, 1), (a, 1)]``; ``pick place pick place`` -> ``[("pick, place", 2)]``."""
    if len(items) % 2 == 0 and len(items) > 2 and items == items[:2] * (len(items) // 2):
        return [(", ".join(items[:2]), len(items) // 2)]
    out: list[tuple[str, int]] = []
    for item in items:
        if out and out[-1][0] == item:
            out[-1] = (item, out[-1][1] + 1)
        else:
            out.append((item, 1))
    return out


class DocumentFile(Protocol):
    """What a search engine needs of the memory file (:class:`~embodied.memory.store.MemoryStore` is one)."""

    @property
    def db(self) -> sqlite3.Connection: ...

    def change_token(self) -> tuple[int, int]:
        """A value that changes whenever this or another connection wrote to the file."""
        ...

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it."""
        ...

    @property
    def read_only(self) -> str | None:
        """Why the file can only be read (None: it can be written)."""
        ...


class SearchEngine(Protocol):
    """Finds the ``k`` documents of ``kinds`` closest to a non-empty ``query``, best first."""

    def search(self, query: str, kinds: Sequence[str], k: int) -> list[Hit]: ...


class LexicalSearch:
    """BM25 over the FTS5 index of the documents (no embedder needed)."""

    def __init__(self, file: DocumentFile) -> None:
        self.file = file
        self._frequencies: tuple[tuple[int, int], dict[str, int]] = ((-1, -1), {})

    def search(self, query: str, kinds: Sequence[str], k: int) -> list[Hit]:
        words = self._telling_words(query)
        if not words:
            return []
        phrases = " OR ".join(f'text : "{w}"' for w in words)
        match = f"({phrases}) AND ({' OR '.join(f'kind : {t}' for t in kinds)})"
        rows = self.file.db.execute(
            "SELECT d.kind, d.ref, d.text, bm25(documents_fts, 1.0, 0.0) AS rank FROM documents_fts "
            "JOIN documents d ON d.id = documents_fts.rowid WHERE documents_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, k),
        ).fetchall()
        return [Hit(r["kind"], int(r["ref"]), r["text"], -float(r["rank"])) for r in rows]

    def _telling_words(self, query: str) -> list[str]:
        """The query's words without those in more than half of the documents.

        FTS5's BM25 gives such a word an IDF of ~0 (it cannot change a score), yet ranking every row
        that holds it dominates the cost of a search in a large memory; the rarest two always stay.
        Document counts are cached until the file changes.
        """
        db = self.file.db
        words = sorted(set(re.findall(r"\w+", query.lower())))
        token = self.file.change_token()
        if self._frequencies[0] != token:
            self._frequencies = (token, {"": int(db.execute("SELECT count(*) FROM documents").fetchone()[0])})
        frequency = self._frequencies[1]
        total = frequency[""]
        if len(words) <= 2 or total < 200:
            return words
        for w in words:
            if w not in frequency:
                sql = "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH ?"
                frequency[w] = int(db.execute(sql, (f'text : "{w}"',)).fetchone()[0])
        telling = [w for w in words if frequency[w] <= total / 2]
        return telling if len(telling) >= 2 else sorted(words, key=lambda w: frequency[w])[:2]


@dataclass
class _VectorCache:
    token: tuple[int, int] = (-1, -1)
    refs: dict[str, np.ndarray] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


class VectorSearch:
    """Cosine similarity of embeddings (the documents' vectors are L2-normalised)."""

    def __init__(self, file: DocumentFile, embedder: Embedder) -> None:
        self.file, self.embedder = file, embedder
        self._cache = _VectorCache()
        self._queries: dict[str, np.ndarray] = {}

    def search(self, query: str, kinds: Sequence[str], k: int) -> list[Hit]:
        self._load_vectors()
        q = self._query_vector(query)
        scored: list[tuple[float, str, int]] = []
        for kind in kinds:
            matrix, refs = self._cache.vectors.get(kind), self._cache.refs.get(kind)
            if matrix is None or refs is None or not len(refs):
                continue
            # einsum, not BLAS: OpenBLAS threads left spinning after a product slow the next query
            # embedding (torch's threads) about threefold on a small machine; one pass costs < 1 ms at 10k.
            scores = np.einsum("ij,j->i", matrix, q)
            top = np.argpartition(-scores, min(k, len(scores)) - 1)[:k] if len(scores) > k else np.arange(len(scores))
            scored += [(float(scores[i]), kind, int(refs[i])) for i in top]
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        best = scored[:k]
        texts = self._texts([(kind, ref) for _, kind, ref in best])
        return [Hit(kind, ref, texts.get((kind, ref), ""), score) for score, kind, ref in best]

    def _query_vector(self, query: str) -> np.ndarray:
        """The query's embedding (the last few are kept)."""
        vector = self._queries.get(query)
        if vector is None:
            vector = self._queries[query] = self.embedder.encode([query])[0]
            while len(self._queries) > _KEPT_QUERIES:
                self._queries.pop(next(iter(self._queries)))
        return vector

    def _texts(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
        out = {}
        for kind, ref in keys:
            row = self.file.db.execute("SELECT text FROM documents WHERE kind=? AND ref=?", (kind, ref)).fetchone()
            if row is not None:
                out[(kind, ref)] = str(row[0])
        return out

    def _load_vectors(self) -> None:
        """Embed documents that lack this model's vector, then (re)load the vectors if the file changed."""
        if self.file.change_token() == self._cache.token:
            return
        if not self.file.read_only:
            self._backfill()
        cache = _VectorCache(self.file.change_token())
        for kind in KINDS:
            rows = self.file.db.execute(
                "SELECT ref, vector FROM documents WHERE kind=? AND model=? ORDER BY id", (kind, self.embedder.name)
            ).fetchall()
            refs = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            blob = b"".join(r[1] for r in rows)
            vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), -1) if rows else np.zeros((0, 0))
            if self.file.read_only:  # the file cannot keep the missing vectors: this process does
                refs, vectors = self._with_unstored(kind, refs, vectors)
            if len(refs):
                cache.refs[kind], cache.vectors[kind] = refs, vectors
        self._cache = cache

    def _with_unstored(self, kind: str, refs: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``refs`` and ``vectors`` and, after them, those of the documents of ``kind`` that lack this model's."""
        rows = self.file.db.execute(
            "SELECT ref, text FROM documents WHERE kind=? AND (model IS NULL OR model != ?) ORDER BY id",
            (kind, self.embedder.name),
        ).fetchall()
        if not rows:
            return refs, vectors
        more = np.asarray(self.embedder.encode([r["text"] for r in rows]), dtype=np.float32)
        extra_refs = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return np.concatenate([refs, extra_refs]), (np.concatenate([vectors, more]) if len(refs) else more)

    def _backfill(self) -> None:
        name, last = self.embedder.name, 0
        while True:
            rows = self.file.db.execute(
                "SELECT id, text FROM documents WHERE (model IS NULL OR model != ?) AND id > ? ORDER BY id LIMIT ?",
                (name, last, _BACKFILL_BATCH),
            ).fetchall()
            if not rows:
                return
            last = int(rows[-1]["id"])
            vectors = self.embedder.encode([r["text"] for r in rows])
            with self.file.transaction() as db:
                db.executemany(
                    "UPDATE documents SET model=?, vector=? WHERE id=? AND text=?",
                    [
                        (name, v.astype(np.float32).tobytes(), r["id"], r["text"])
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                )
