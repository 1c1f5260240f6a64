"""Options several commands share (backend, memory file, retrieval) and opening the memory they name."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from embodied.cli.console import fail_usage
from embodied.errors import EmbodiedError

if TYPE_CHECKING:
    from embodied.memory import Memory, MemoryStore


class EnvName(StrEnum):
    tabletop = "tabletop"
    pybullet = "pybullet"


class EmbedderName(StrEnum):
    auto = "auto"
    minilm = "minilm"
    lexical = "lexical"


MemoryOption = Annotated[
    Path | None, typer.Option("--memory", help="memory file (default: $EMBODIED_MEMORY or the user data folder)")
]
EmbedderOption = Annotated[
    EmbedderName, typer.Option(help="retrieval: auto (MiniLM if installed), minilm, or lexical (SQLite FTS5)")
]


def open_memory(path: Path | None, embedder: EmbedderName) -> Memory:
    """The memory file (raises EmbodiedError with what is wrong)."""
    from embodied.memory import Memory

    return Memory(path, embedder.value)


def open_store(path: Path | None) -> MemoryStore:
    """The memory store for the skills commands (no embedder needed); exits 2 with the reason on failure."""
    from embodied.memory import MemoryStore, default_memory_path

    try:
        return MemoryStore(path or default_memory_path())
    except EmbodiedError as e:
        fail_usage(str(e))
