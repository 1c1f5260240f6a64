"""Damaged, foreign and read-only memory files through every command that opens one.

The files start as a real memory (a real episode learned into it, see the conftest) and are then
truncated, overwritten with garbage past their first page (the header and schema stay readable),
replaced by another application's SQLite database or by a file that is not SQLite, or made
read-only. Whatever the file: exit 0/1/2/130, no crash, complete episode folders; a file that is
not ours is left byte for byte as it was; a read-only memory can still be listed.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.robustness._strategies import hostile_text
from tests.robustness._support import (
    Expect,
    Outcome,
    check,
    example_dir,
    examples,
    expect_exit,
    invoke,
    snapshot,
    surveyed,
    time_limit,
)

DAMAGE = ("truncate", "garbage", "root_pages", "foreign", "foreign_lookalike", "not_sqlite", "wal_garbage", "empty")
COMMANDS = ("skills list", "memory info", "memory search", "skills show", "skills export", "skills remove", "run")


def damage(path: Path, kind: str, draw: Callable[..., Any]) -> None:
    """Damage the real memory file at ``path`` the ``kind`` way (``draw``: hypothesis picks where and how much)."""
    size = path.stat().st_size
    page = 4096
    if kind == "truncate":
        keep = draw(st.sampled_from([0, 1, 100, page, page + 1, size // 2, size - 1]) | st.integers(0, size - 1))
        with path.open("r+b") as f:
            f.truncate(keep)
    elif kind == "garbage":  # header and schema (page 1) intact
        offset = draw(st.integers(page, size - 1), label="offset")
        junk = draw(st.binary(min_size=1, max_size=64) | st.sampled_from([b"\xa5", b"\x00", b"\xff"]))
        length = draw(st.integers(1, size - offset), label="length")
        with path.open("r+b") as f:
            f.seek(offset)
            f.write((junk * (length // len(junk) + 1))[:length])
    elif kind == "root_pages":  # the root page of some tables: every read of them hits a malformed page
        tables = draw(st.sets(st.sampled_from(["skills", "episodes", "documents", "facts", "reflections"]), min_size=1))
        raw = sqlite3.connect(path)
        roots = [raw.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (t,)).fetchone()[0] for t in tables]
        raw.close()
        with path.open("r+b") as f:
            for root in roots:
                f.seek((root - 1) * page)
                f.write(bytes(range(256)) * (page // 256))
    elif kind in ("foreign", "foreign_lookalike"):
        path.unlink()
        db = sqlite3.connect(path)
        if kind == "foreign":
            db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        else:  # another application's table that happens to be called skills
            db.execute("CREATE TABLE skills (id INTEGER PRIMARY KEY, level INTEGER)")
        db.execute(
            "INSERT INTO " + ("users (email) VALUES ('a@b.c')" if kind == "foreign" else "skills (level) VALUES (3)")
        )
        db.commit()
        db.close()
    elif kind == "not_sqlite":
        path.write_bytes(draw(st.binary(min_size=1, max_size=5000) | st.just(b"name,steps\npick,1\n")))
    elif kind == "wal_garbage":
        Path(f"{path}-wal").write_bytes(draw(st.binary(min_size=1, max_size=8192)))
    elif kind == "empty":
        path.write_bytes(b"")


def command_argv(command: str, memory: Path, folder: Path, query: str) -> list[str]:
    if command == "skills list":
        return ["skills", "list", "--memory", str(memory)]
    if command == "memory info":
        return ["memory", "info", "--memory", str(memory)]
    if command == "memory search":
        return ["memory", "search", "--memory", str(memory), "--embedder", "lexical", "--", query]
    if command == "skills show":
        return ["skills", "show", "padding_3", "--memory", str(memory)]
    if command == "skills export":
        return ["skills", "export", str(folder / "export.json"), "--memory", str(memory)]
    if command == "skills remove":
        return ["skills", "remove", "padding_3", "--memory", str(memory)]
    return [
        "run", "--task", "stack", "--seed", "1", "--planner", "classical", "--perception", "ground_truth", "--no-video",
        "--max-steps", "40",
        "--out", str(folder / "runs"), "--memory", str(memory), "--embedder", "lexical",
    ]  # fmt: skip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


@time_limit(ci=120, fuzz=3600)
@examples(ci=30, fuzz=1000)
@given(kind=st.sampled_from(DAMAGE), command=st.sampled_from(COMMANDS), query=hostile_text, data=st.data())
@example(kind="root_pages", command="skills list", query="x", data=None)
@example(kind="root_pages", command="memory search", query="stack", data=None)
@example(kind="root_pages", command="run", query="x", data=None)
@example(kind="foreign", command="skills list", query="x", data=None)
def test_damaged_and_foreign_memory_files(
    scratch: Path, learned_memory: Path, kind: str, command: str, query: str, data: st.DataObject | None
) -> None:
    with example_dir(scratch) as folder:
        memory = Path(shutil.copy2(learned_memory, folder / "memory.sqlite"))
        damage(memory, kind, data.draw if data is not None else fixed_draw(kind))
        before_digest, before = digest(memory), snapshot(memory)
        outcome = invoke(command_argv(command, memory, folder, query))
        check(outcome, Expect(outs=[folder / "runs"], memory=memory, before=before, ground_truth=True))
        if kind in ("foreign", "foreign_lookalike", "not_sqlite"):
            assert_untouched(outcome, memory, before_digest)
            if command != "run":
                expect_exit(outcome, {2}, "a file that is not an embodied memory is refused")


def fixed_draw(kind: str) -> Callable[..., Any]:
    """The explicit examples' damage: the root pages of skills and documents."""
    return lambda strategy, label=None: {"skills", "documents"} if kind == "root_pages" else b"\xa5"


def assert_untouched(outcome: Outcome, memory: Path, before: str) -> None:
    with surveyed(outcome):
        assert digest(memory) == before, f"a file that is not ours was changed by {outcome.command}"
        for suffix in ("-wal", "-shm", "-journal"):
            leftover = Path(f"{memory}{suffix}")
            assert not leftover.exists() or leftover.stat().st_size == 0, f"{leftover} left by {outcome.command}"


@time_limit(ci=60, fuzz=600)
@examples(ci=4, fuzz=40)
@given(command=st.sampled_from(["skills list", "memory info", "memory search", "skills show", "run"]))
@example(command="skills list")
def test_read_only_memory_can_be_read(scratch: Path, learned_memory: Path, command: str) -> None:
    """``chmod a-w`` on the memory file: reading commands work (exit 0), nothing is written to it."""
    with example_dir(scratch) as folder:
        memory = Path(shutil.copy2(learned_memory, folder / "memory.sqlite"))
        memory.chmod(0o444)
        before_digest, before = digest(memory), snapshot(memory)
        outcome = invoke(command_argv(command, memory, folder, "stack the block"))
        check(outcome, Expect(outs=[folder / "runs"], memory=memory, before=before, ground_truth=True))
        if command != "run":
            expect_exit(outcome, {0}, "a read-only memory can be listed, searched and shown (issue 14 case 12)")
        with surveyed(outcome):
            assert digest(memory) == before_digest, f"the read-only memory was changed by {outcome.command}"
            assert outcome.elapsed_s < 20, f"{outcome.command} took {outcome.elapsed_s:.0f} s on a read-only memory"
        memory.chmod(0o644)
