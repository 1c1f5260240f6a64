"""Options several commands share (backend, memory file, retrieval) and opening the memory they name."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from embodied.cli.console import fail_usage
from embodied.errors import EmbodiedError, MemoryStoreError

if TYPE_CHECKING:
    from embodied.memory import Memory, MemoryStore


class EnvName(StrEnum):
    tabletop = "tabletop"
    pybullet = "pybullet"
    ros = "ros"  # embodied/RosTabletop-v0: a simulator node (`embodied ros serve`) or a robot over ROS


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
PolicyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--policy",
        help="back a skill with a learned policy: SKILL=learned:PATH, e.g. pick=learned:checkpoints/pick (repeatable)",
    ),
]


def usable_out(path: Path) -> Path:
    """Callback of an ``--out`` option: refuse (exit 2) a path where no folder can be made or written.

    Checked before anything runs. ``os.access`` sees read-only folders and file systems (and, for
    root, immutable folders); whatever it cannot foresee fails where the folder is made, and the
    commands turn that error into a usage error too.
    """
    problem = out_problem(path)
    if problem is not None:
        raise typer.BadParameter(f"{path}: {problem}; give a folder that can be written (it is made if missing)")
    return path


def out_problem(path: Path) -> str | None:
    """What makes ``path`` unusable as an output folder, or ``None``."""
    try:
        return _out_problem(path)
    except OSError as e:  # a folder on the way that cannot be searched, a name too long
        return f"it cannot be used ({e.strerror or e})"


def _out_problem(path: Path) -> str | None:
    if "\0" in str(path):
        return "a path cannot hold a NUL character"
    if path.exists() and not path.is_dir():
        return "it is a file, not a folder"
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} is a file, so no folder can be made in it"
    if not os.access(existing, os.W_OK | os.X_OK):
        return (
            "the folder is read-only"
            if existing == path
            else f"{existing} is read-only, so no folder can be made in it"
        )
    return None


def out_error(path: Path, error: OSError) -> str:
    """The usage-error message for an ``--out`` folder that could not be made or written."""
    why = error.strerror or str(error)
    return f"--out {path}: cannot write there ({why}: {error.filename or path}); give a folder that can be written"


def in_range(low: int, high: int | None = None) -> Callable[[float | None], float | None]:
    """Callback of a number option: refuse (exit 2) a value below ``low``, above ``high`` or not finite,
    with a message that names the value as well as the valid range (Click's own check omits the value)."""

    def check(value: float | None) -> float | None:
        finite = not isinstance(value, float) or math.isfinite(value)  # an int can be too large for a float
        if value is not None and not (finite and low <= value and (high is None or value <= high)):
            kind = "an integer" if isinstance(value, int) else "a number"
            valid = f"{kind} from {low} to {high}" if high is not None else f"{kind} >= {low}"
            raise typer.BadParameter(f"{value} is not valid; give {valid}")
        return value

    return check


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


@contextmanager
def memory_errors_are_usage_errors() -> Iterator[None]:
    """A :class:`MemoryStoreError` in the block (a damaged, read-only or foreign file) exits 2 with its message."""
    try:
        yield
    except MemoryStoreError as e:
        fail_usage(str(e))


def check_video_size(text: str) -> str:
    """Callback of ``--video-size``: ``WIDTHxHEIGHT`` (each 16 to 4096 pixels) or ``camera``; exits 2 otherwise."""
    parse_video_size(text)
    return text


def parse_video_size(text: str) -> tuple[int, int] | None:
    """``"640x480"`` -> ``(640, 480)``; ``"camera"`` -> None (the cameras' own size)."""
    if text.strip().lower() == "camera":
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        width = height = 0
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise typer.BadParameter(
            f"{text!r} is not valid; give WIDTHxHEIGHT, each from 16 to 4096 pixels (e.g. 640x480), "
            "or 'camera' for the cameras' own size"
        )
    return width, height
