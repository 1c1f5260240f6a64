"""Memory files that are damaged, belong to another application or cannot be written.

Every SQLite error of the store becomes :class:`MemoryStoreError`, naming the file and what to
do; a file that is not ours is refused before anything is written to it; a read-only file can
still be read. All on real files: pages are damaged by writing garbage over them.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from embodied.errors import MemoryStoreError
from embodied.memory import Memory, MemoryStore
from embodied.memory.store import APPLICATION_ID
from embodied.skills.primitives import default_registry
from tests.embodied.memory.test_store import HashedWords, episode, put


def stack_program(name: str) -> dict[str, Any]:
    """A valid composite (pick, then place on a target): recalling it offers it."""
    obj, target = {"$param": "object"}, {"$param": "target"}
    return {
        "name": name,
        "description": "pick a block and place it on another " * 8,
        "parameters": {"type": "object", "properties": {"object": {"type": "string"}, "target": {"type": "string"}}},
        "steps": [
            {"skill": "pick", "arguments": {"object": obj}},
            {"skill": "place", "arguments": {"object": obj, "target": target}},
        ],
    }


def filled_memory(path: Path) -> Path:
    """A real memory file with skills, episodes, reflections and facts, closed (WAL checkpointed)."""
    with MemoryStore(path) as s:
        for i in range(30):
            s.put_skill(stack_program(f"stack_on_{i}"), f"key-{i}", f"stack the red block {i}")
        episode(s, "stack the red block on the blue block", reflections=["grasp from above"], facts=[("a", "b", "c")])
    assert not Path(f"{path}-wal").exists()
    return path


def damage(path: Path, *tables: str) -> None:
    """Write garbage over the root page of each table (never page 1: the header and schema stay intact)."""
    raw = sqlite3.connect(path)
    size = raw.execute("PRAGMA page_size").fetchone()[0]
    roots = [raw.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (t,)).fetchone()[0] for t in tables]
    raw.close()
    with path.open("r+b") as f:
        for root in roots:
            assert root > 1
            f.seek((root - 1) * size)
            f.write(bytes(range(256)) * (size // 256))


def assert_names_the_file_and_a_way_out(error: MemoryStoreError, path: Path) -> None:
    message = str(error)
    assert str(path) in message and "damaged" in message, message
    assert "move it aside" in message and "--no-memory" in message, message


# ---------------------------------------------------------------------- damaged pages
def test_every_read_of_damaged_pages_is_a_memory_store_error(tmp_path):
    path = filled_memory(tmp_path / "memory.sqlite")
    damage(path, "skills", "documents")
    with MemoryStore(path) as store:  # the header and schema are intact: opening works
        for read in (
            store.skills,
            lambda: store.skill("stack_on_1"),
            lambda: store.search("stack the red block"),
            lambda: store.put_skill({"name": "x", "steps": []}, "key-x", "x"),
            lambda: store.remove_skill("stack_on_1"),
        ):
            with pytest.raises(MemoryStoreError) as excinfo:
                read()
            assert_names_the_file_and_a_way_out(excinfo.value, path)
    with Memory(path, embedder="lexical") as memory, pytest.raises(MemoryStoreError) as excinfo:
        memory.recall("stack the red block on the blue block", default_registry())
    assert_names_the_file_and_a_way_out(excinfo.value, path)


def test_a_file_damaged_past_its_first_page_is_refused_at_open_and_left_untouched(tmp_path):
    path = filled_memory(tmp_path / "memory.sqlite")
    with path.open("r+b") as f:
        head = f.read(4096)
        f.seek(4096)
        rest = len(f.read())
        f.seek(4096)
        f.write(b"\xa5" * rest)
    before = path.read_bytes()
    assert before[:4096] == head
    with pytest.raises(MemoryStoreError) as excinfo:
        MemoryStore(path)
    assert_names_the_file_and_a_way_out(excinfo.value, path)
    assert path.read_bytes() == before


# ---------------------------------------------------------------------- another application's database
def test_another_applications_database_is_refused_and_left_byte_for_byte_untouched(tmp_path):
    path = tmp_path / "contacts.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
    raw.execute("INSERT INTO contacts VALUES ('Ada', '555-0100')")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(MemoryStoreError) as excinfo:
        MemoryStore(path)
    message = str(excinfo.value)
    assert str(path) in message and "another application" in message and "contacts" in message, message
    assert "--memory" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.sqlite"]  # no -wal, no -shm


def test_a_database_stamped_by_another_application_is_refused_even_with_our_tables(tmp_path):
    path = filled_memory(tmp_path / "memory.sqlite")
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA application_id=1234")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(MemoryStoreError, match="another application"):
        MemoryStore(path)
    assert path.read_bytes() == before


def test_new_and_empty_files_are_initialised_and_stamped_as_ours(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    for path in (empty, tmp_path / "new.sqlite"):
        with MemoryStore(path) as s:
            put(s, "stack_on", "put a block on another")
        raw = sqlite3.connect(path)
        assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        raw.close()


def test_a_file_written_before_the_marker_is_still_ours(tmp_path):
    path = filled_memory(tmp_path / "memory.sqlite")
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA application_id=0")  # as every file written before the marker
    raw.close()
    with MemoryStore(path) as s:
        assert s.counts()["skill"] == 30


# ---------------------------------------------------------------------- read-only files
def read_only_copy(tmp_path: Path) -> Path:
    source = filled_memory(tmp_path / "source.sqlite")
    path = tmp_path / "shared" / "memory.sqlite"
    path.parent.mkdir()
    shutil.copy(source, path)
    path.chmod(0o444)
    return path


def test_a_read_only_file_can_be_listed_searched_and_counted(tmp_path):
    """Tests run as root, for whom chmod stops no write: the store honours the file's mode bits itself."""
    path = read_only_copy(tmp_path)
    before = path.read_bytes()
    with MemoryStore(path) as s:
        assert s.read_only  # why: the mode bits allow no writing
        assert len(s.skills()) == 30 and s.skill("stack_on_3") is not None
        assert s.counts() == {"skill": 30, "episode": 1, "reflection": 1, "fact": 1}
        assert s.search("stack the red block", ("skill",))
        assert s.integrity_check() == "ok"
    with MemoryStore(path, HashedWords()) as s:  # vectors are computed in memory, not written
        assert s.search("grasp from above", ("reflection",))[0].text.startswith("Reflection")
    with Memory(path, embedder="lexical") as memory:
        assert memory.recall("stack the red block", default_registry()).query
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_writing_a_read_only_file_says_read_only_at_once(tmp_path):
    path = read_only_copy(tmp_path)
    before = path.read_bytes()
    with MemoryStore(path) as s:
        for write in (
            lambda: put(s, "new_skill", "something new"),
            lambda: s.remove_skill("stack_on_1"),
            lambda: s.record_skill_use("stack_on_1", True),
            lambda: episode(s, "open the drawer"),
        ):
            with pytest.raises(MemoryStoreError) as excinfo:
                write()
            message = str(excinfo.value)
            assert str(path) in message and "read-only" in message and "after" not in message, message
            assert "chmod" in message
    assert path.read_bytes() == before


def test_a_read_only_file_that_holds_no_memory_yet_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "memory.sqlite"
    path.touch()
    path.chmod(0o444)
    with pytest.raises(MemoryStoreError, match="read-only") as excinfo:
        MemoryStore(path)
    assert "after" not in str(excinfo.value)
    assert path.read_bytes() == b""


AS_ANOTHER_USER = textwrap.dedent(
    """
    import json, os, sys, time
    from embodied.errors import MemoryStoreError
    from embodied.memory import MemoryStore
    os.setgid(65534)
    os.setuid(65534)  # nobody: may read the file, not write it
    start = time.monotonic()
    with MemoryStore(sys.argv[1]) as s:
        seen = [len(s.skills()), s.counts()["episode"], len(s.search("stack the red block"))]
        try:
            s.remove_skill("stack_on_1")
            error = None
        except MemoryStoreError as e:
            error = str(e)
    print(json.dumps({"seen": seen, "error": error, "seconds": time.monotonic() - start}))
    """
)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="drops to another user: needs root")
@pytest.mark.parametrize("folder_mode", [0o755, 0o777], ids=["folder-read-only", "folder-writable"])
def test_a_file_this_user_may_not_write_is_read_at_once_and_writes_say_read_only(folder_mode):
    """The case users meet (not root, no write permission): it used to fail with "(after 30 s)" and list nothing."""
    folder = Path(tempfile.mkdtemp(prefix="embodied-read-only-"))
    try:
        folder.chmod(folder_mode)
        path = filled_memory(folder / "memory.sqlite")
        path.chmod(0o644)
        before = path.read_bytes()
        run = subprocess.run(
            [sys.executable, "-c", AS_ANOTHER_USER, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parents[3],
        )
        assert run.returncode == 0, run.stderr
        outcome = json.loads(run.stdout)
        assert outcome["seen"] == [30, 1, 5]
        assert "read-only" in outcome["error"] and "after" not in outcome["error"]
        assert outcome["seconds"] < 10
        assert path.read_bytes() == before
    finally:
        shutil.rmtree(folder)
