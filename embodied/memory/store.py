"""The agent's memory file: one SQLite database in WAL mode, safe for several processes at once.

It holds composite skills, episode summaries, reflections and facts, and one searchable
*document* per row of those (its text, and the embedding of that text when an embedder is
configured). Every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed in the
middle of one leaves the file as it was before it (SQLite's WAL guarantees that), and writers
from several processes queue on SQLite's lock (``busy_timeout``) instead of losing rows.
``synchronous=FULL`` makes every committed write durable before the call returns.

The store is the plumbing (connection, WAL, lock retries, migrations from
:mod:`embodied.memory.migrations`) and the rows; searching the documents is
:mod:`embodied.memory.search`'s: by cosine similarity of embeddings when an embedder is given,
else by BM25 over an FTS5 index of the same texts. Which files are ours, opening a file that
cannot be written read-only, and turning every SQLite error into
:class:`~embodied.errors.MemoryStoreError` (the store's one error boundary: each public method
is :func:`~embodied.memory.sqlite_file.guarded`) are :mod:`embodied.memory.sqlite_file`'s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied.errors import MemoryStoreError
from embodied.memory.embedding import Embedder
from embodied.memory.migrations import MIGRATIONS, SCHEMA_VERSION
from embodied.memory.search import KINDS, Hit, LexicalSearch, SearchEngine, VectorSearch, episode_texts, skill_text
from embodied.memory.sqlite_file import (
    APPLICATION_ID,
    connect,
    guarded,
    read_only_error,
    read_only_reason,
    refuse_foreign_file,
    refuse_foreign_schema,
    retry_locked,
    store_error,
)

__all__ = ["APPLICATION_ID", "KINDS", "MAX_EXAMPLES", "Hit", "MemoryStore", "StoredSkill", "skill_text"]

log = logging.getLogger(__name__)

MAX_EXAMPLES = 8  # instructions kept per skill (the oldest go first)


@dataclass(frozen=True)
class StoredSkill:
    """A composite skill as stored: its program (JSON), where it worked, and how often it worked."""

    id: int
    name: str
    program: dict[str, Any]
    examples: tuple[str, ...]
    successes: int
    failures: int
    source: str
    created: float
    updated: float

    @property
    def uses(self) -> int:
        return self.successes + self.failures


class MemoryStore:
    """One memory file (created with its folders if missing). See the module docstring.

    Every public method raises :class:`~embodied.errors.MemoryStoreError` (and nothing from SQLite)
    when the file cannot be opened, read or written.

    Args:
        path: the SQLite file.
        embedder: the model that embeds documents (None: lexical search only).
        timeout_s: how long a write waits for another process's write before failing.

    Attributes:
        read_only: why the file was opened read-only (None: it is writable). Reading and searching
            work; every write raises :class:`~embodied.errors.MemoryStoreError` saying so.
    """

    def __init__(self, path: str | Path, embedder: Embedder | None = None, timeout_s: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.embedder = embedder
        self.timeout_s = timeout_s
        self._writes = 0
        self._engine: SearchEngine = LexicalSearch(self) if embedder is None else VectorSearch(self, embedder)
        if self.path.is_dir():
            raise MemoryStoreError(
                f"memory path {self.path} is a folder; give a file path such as {self.path}/memory.sqlite"
            )
        refuse_foreign_file(self.path)
        try:
            self.read_only = read_only_reason(self.path)
            self.db = connect(self.path, timeout_s, read_only=self.read_only is not None)
        except OSError as e:
            raise MemoryStoreError(f"cannot open the memory file {self.path}: {e.strerror or e}") from e
        except sqlite3.Error as e:
            raise store_error(self.path, e, "open", timeout_s) from e
        try:
            refuse_foreign_schema(self.db, self.path)  # before anything is written to the file
            self._configure(timeout_s)
            self._migrate()
        except sqlite3.Error as e:
            self.db.close()
            raise store_error(self.path, e, "open", timeout_s) from e
        except MemoryStoreError:
            self.db.close()
            raise

    def _configure(self, timeout_s: float) -> None:
        if not self.read_only:  # the journal mode is the file's: a reader cannot change it
            mode = retry_locked(lambda: self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0], timeout_s)
            if str(mode).lower() != "wal":
                log.warning("%s: SQLite refused WAL mode (%s); concurrent use is slower", self.path, mode)
            self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        self.db.execute("PRAGMA foreign_keys=ON")

    def _migrate(self) -> None:
        version = self.schema_version
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise MemoryStoreError(
                f"{self.path} was written by a newer embodied (schema {version}; this one reads up to "
                f"{SCHEMA_VERSION}): upgrade embodied or use another --memory file"
            )
        if self.read_only:
            needs = "holds no memory yet" if version == 0 else f"needs its schema upgraded from version {version}"
            raise read_only_error(self.path, f"{self.read_only}, and it {needs}", "initialise")
        with self.transaction() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])  # another process may have migrated
            if version == 0:
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={number + 1}")
                log.info("%s: migrated the memory schema to version %d", self.path, number + 1)

    # ------------------------------------------------------------------ plumbing
    @property
    @guarded("read")
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): all of it lands, or none of it."""
        if self.read_only:
            raise read_only_error(self.path, self.read_only)
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise store_error(self.path, e, "write", self.timeout_s) from e
        try:
            yield self.db
        except BaseException:
            self._rollback()
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise store_error(self.path, e, "write", self.timeout_s) from e
        self._writes += 1

    def _rollback(self) -> None:
        """Undo the open transaction (SQLite may already have, after a damaged page or a full disk)."""
        with contextlib.suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    @guarded("check")
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` for a sound file)."""
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    @guarded("read")
    def counts(self) -> dict[str, int]:
        """Rows per kind (skills, episodes, reflections, facts)."""
        tables = {"skill": "skills", "episode": "episodes", "reflection": "reflections", "fact": "facts"}
        return {k: int(self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for k, t in tables.items()}

    @guarded("read")
    def change_token(self) -> tuple[int, int]:
        """Changes whenever this or another connection wrote to the file."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0]), self._writes

    def _vectors(self, texts: Sequence[str]) -> list[tuple[str | None, bytes | None]]:
        """Each text's (model, float32 embedding) for its document; ``(None, None)`` without an embedder."""
        if self.embedder is None:
            return [(None, None)] * len(texts)
        return [(self.embedder.name, v.astype(np.float32).tobytes()) for v in self.embedder.encode(list(texts))]

    @staticmethod
    def _document(
        db: sqlite3.Connection, kind: str, ref: int, text: str, vector: tuple[str | None, bytes | None]
    ) -> None:
        model, blob = vector
        db.execute(
            "INSERT INTO documents (kind, ref, text, model, vector) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, ref) DO UPDATE SET text=excluded.text, model=excluded.model, vector=excluded.vector",
            (kind, ref, text, model, blob),
        )

    # ------------------------------------------------------------------ skills
    @guarded("write")
    def put_skill(
        self,
        program: dict[str, Any],
        key: str,
        example: str | None = None,
        success: bool | None = True,
        source: str = "learned",
        *,
        examples: Sequence[str] = (),
        counts: tuple[int, int] | None = None,
    ) -> tuple[str, bool]:
        """Store a composite skill, or merge it into the stored one with the same ``key`` (same steps).

        A merge adds ``example`` (and ``examples``) to the skill's instructions and counts the success.
        ``counts=(successes, failures)`` is an import's: a new skill starts with them, and a merge keeps
        the larger of each stored and imported count, so importing the same export again changes nothing.
        A new skill whose name is taken by different steps gets a numbered name. Returns ``(name, created)``.
        """
        new_examples = [*examples, *([example] if example else [])]
        existing = self.db.execute("SELECT name, examples FROM skills WHERE program_key=?", (key,)).fetchone()
        steps, description = program.get("steps", []), str(program.get("description", ""))  # same steps, same key
        if existing is not None:
            name, examples = existing["name"], _merged_examples(json.loads(existing["examples"]), new_examples)
        else:
            name, examples = program["name"], _merged_examples([], new_examples)
        text = skill_text(name, steps, examples, description)
        vector = self._vectors([text])[0]
        now = time.time()
        with self.transaction() as db:
            row = db.execute("SELECT id, name, examples FROM skills WHERE program_key=?", (key,)).fetchone()
            added = counts if counts is not None else (1 if success else 0, 1 if success is False else 0)
            if row is not None:
                merged = _merged_examples(json.loads(row["examples"]), new_examples)
                combine = "max({0}, ?)" if counts is not None else "{0}+?"
                db.execute(
                    f"UPDATE skills SET examples=?, successes={combine.format('successes')}, "
                    f"failures={combine.format('failures')}, updated=? WHERE id=?",
                    (json.dumps(merged), *added, now, row["id"]),
                )
                new_text = skill_text(row["name"], steps, merged, description)
                self._document(db, "skill", row["id"], new_text, vector if new_text == text else (None, None))
                return str(row["name"]), False
            name = _free_name(db, str(program["name"]))
            stored = {**program, "name": name}
            cur = db.execute(
                "INSERT INTO skills (name, program_key, program, examples, successes, failures, source, created,"
                " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, key, json.dumps(stored), json.dumps(examples), *added, source, now, now),
            )
            new_text = skill_text(name, steps, examples, description)
            self._document(db, "skill", int(cur.lastrowid or 0), new_text, vector if new_text == text else (None, None))
            return name, True

    @guarded("write")
    def record_skill_use(self, name: str, success: bool) -> None:
        """Count one more success or failure of the skill called ``name`` (no-op if it was removed)."""
        column = "successes" if success else "failures"
        with self.transaction() as db:
            db.execute(f"UPDATE skills SET {column}={column}+1, updated=? WHERE name=?", (time.time(), name))

    @guarded("read")
    def skill_name(self, key: str) -> str | None:
        """The name of the stored skill whose steps have this ``key``, if any."""
        row = self.db.execute("SELECT name FROM skills WHERE program_key=?", (key,)).fetchone()
        return str(row[0]) if row is not None else None

    @guarded("read")
    def skill(self, name: str) -> StoredSkill | None:
        row = self.db.execute("SELECT * FROM skills WHERE name=?", (name,)).fetchone()
        return _stored_skill(row) if row is not None else None

    @guarded("read")
    def skills(self, ids: Sequence[int] | None = None) -> list[StoredSkill]:
        """All skills (by name), or those with the given row ids (in that order)."""
        if ids is None:
            return [_stored_skill(r) for r in self.db.execute("SELECT * FROM skills ORDER BY name")]
        rows = {
            r["id"]: r
            for r in self.db.execute(f"SELECT * FROM skills WHERE id IN ({','.join('?' * len(ids))})", tuple(ids))
        }
        return [_stored_skill(rows[i]) for i in ids if i in rows]

    @guarded("write")
    def remove_skill(self, name: str) -> bool:
        """Delete the skill called ``name``; False if there is none."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM skills WHERE name=?", (name,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM documents WHERE kind='skill' AND ref=?", (row["id"],))
            db.execute("DELETE FROM skills WHERE id=?", (row["id"],))
            return True

    # ------------------------------------------------------------------ episodes, reflections, facts
    @guarded("write")
    def add_episode(
        self,
        instruction: str,
        verified: bool,
        reason: str,
        calls: list[dict[str, Any]],
        metrics: dict[str, Any],
        skill: str | None = None,
        reflections: Sequence[str] = (),
        facts: Sequence[tuple[str, str, str]] = (),
    ) -> int:
        """Store an episode summary with its reflections and facts in one transaction; returns its id."""
        texts = episode_texts(instruction, verified, reason, calls, metrics, reflections, facts)
        vectors = self._vectors(texts)
        now = time.time()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO episodes (instruction, verified, reason, calls, metrics, skill, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    instruction,
                    int(verified),
                    reason,
                    json.dumps(calls, default=str),
                    json.dumps(metrics, default=str),
                    skill,
                    now,
                ),
            )
            episode = int(cur.lastrowid or 0)
            self._document(db, "episode", episode, texts[0], vectors[0])
            for i, r in enumerate(reflections, start=1):
                cur = db.execute(
                    "INSERT INTO reflections (episode_id, instruction, text, created) VALUES (?, ?, ?, ?)",
                    (episode, instruction, r, now),
                )
                self._document(db, "reflection", int(cur.lastrowid or 0), texts[i], vectors[i])
            for j, (subject, predicate, value) in enumerate(facts, start=1 + len(reflections)):
                ref = db.execute(
                    "INSERT INTO facts (subject, predicate, value, episode_id, updated) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (subject, predicate) DO UPDATE SET value=excluded.value, "
                    "episode_id=excluded.episode_id, updated=excluded.updated RETURNING id",
                    (subject, predicate, value, episode, now),
                ).fetchone()[0]
                self._document(db, "fact", int(ref), texts[j], vectors[j])
        return episode

    @guarded("read")
    def episodes(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest episode summaries, newest first."""
        rows = self.db.execute("SELECT * FROM episodes ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{**dict(r), "calls": json.loads(r["calls"]), "metrics": json.loads(r["metrics"])} for r in rows]

    # ------------------------------------------------------------------ search
    @guarded("search")
    def search(self, query: str, kinds: Sequence[str] = KINDS, k: int = 5) -> list[Hit]:
        """The ``k`` documents of ``kinds`` closest to ``query``, best first."""
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown memory kinds {unknown}; valid: {', '.join(KINDS)}")
        if not query.strip() or k <= 0:
            return []
        return self._engine.search(query, kinds, k)


def _merged_examples(examples: list[str], new: Sequence[str]) -> list[str]:
    examples = [*examples, *(e for e in dict.fromkeys(new) if e and e not in examples)]
    return examples[-MAX_EXAMPLES:]


def _free_name(db: sqlite3.Connection, name: str) -> str:
    candidate, n = name, 1
    while db.execute("SELECT 1 FROM skills WHERE name=?", (candidate,)).fetchone() is not None:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _stored_skill(row: sqlite3.Row) -> StoredSkill:
    return StoredSkill(
        id=int(row["id"]),
        name=str(row["name"]),
        program=json.loads(row["program"]),
        examples=tuple(json.loads(row["examples"])),
        successes=int(row["successes"]),
        failures=int(row["failures"]),
        source=str(row["source"]),
        created=float(row["created"]),
        updated=float(row["updated"]),
    )
