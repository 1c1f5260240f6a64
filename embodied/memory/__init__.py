"""Persistent memory: composite skills learned from success, episodes, reflections and facts in one SQLite file.

``Memory(path)`` is what the agent uses (recall before a decision, learn after an episode);
``MemoryStore`` is the file itself, searched by :mod:`embodied.memory.search`; ``Program`` is a
composite skill (a restricted program of registered skill calls). See docs/memory.md.
"""

from embodied.memory.agent_memory import CallRecord, EpisodeRecord, Memory, Recall, SubgoalRecord, default_memory_path
from embodied.memory.composite import Program, Step, as_skill, generalise, validate
from embodied.memory.embedding import EMBEDDERS, Embedder, MiniLMEmbedder, make_embedder
from embodied.memory.search import KINDS, Hit
from embodied.memory.store import MemoryStore, StoredSkill

__all__ = [
    "EMBEDDERS",
    "KINDS",
    "CallRecord",
    "Embedder",
    "EpisodeRecord",
    "Hit",
    "Memory",
    "MemoryStore",
    "MiniLMEmbedder",
    "Program",
    "Recall",
    "Step",
    "StoredSkill",
    "SubgoalRecord",
    "as_skill",
    "default_memory_path",
    "generalise",
    "make_embedder",
    "validate",
]
