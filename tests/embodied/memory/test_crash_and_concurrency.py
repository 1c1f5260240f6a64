"""The memory file under SIGKILL and under concurrent writer processes (real processes, real SQLite files)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from embodied.memory import MemoryStore

REPO = Path(__file__).resolve().parents[3]

# argv: path, tag, count (0: forever), same_key (0/1). Prints a line after each committed write.
WRITER = r"""
import sys
from embodied.memory import MemoryStore

path, tag, count, same_key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
print("ready", flush=True)
sys.stdin.readline()  # wait for "go", so that writers start together
store = MemoryStore(path, timeout_s=60)
i = 0
while count == 0 or i < count:
    if same_key:
        program = {"name": "stack_on", "description": "put a block on another", "parameters": {}, "steps": []}
        name, _ = store.put_skill(program, "the-same-steps", f"{tag} instruction {i % 4}")
        print(f"skill {name}", flush=True)
    else:
        program = {"name": f"{tag}_skill_{i}", "description": f"skill {i} of {tag}", "parameters": {}, "steps": []}
        name, _ = store.put_skill(program, f"{tag}-key-{i}", f"{tag} instruction {i}")
        print(f"skill {name}", flush=True)
        episode = store.add_episode(
            f"{tag} instruction {i}", i % 2 == 0, "checked", [{"name": "pick", "success": True}], {"turns": 1},
            reflections=[f"{tag} reflection {i} a", f"{tag} reflection {i} b"],
            facts=[(f"{tag} block {i}", "last_seen_at", f"({i}, 0)"), (f"{tag} table", "writes", str(i))],
        )
        print(f"episode {episode} {tag} instruction {i}", flush=True)
    i += 1
store.close()
print("done", flush=True)
"""


def start_writer(path: Path, tag: str, count: int = 0, same_key: bool = False) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), tag, str(count), "1" if same_key else "0"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != "ready\n":
        proc.kill()
        pytest.fail(f"writer did not start: {line!r} {proc.communicate()[1]}")
    return proc


def go(*procs: subprocess.Popen[str]) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream is not None:
                stream.close()


def assert_sound(store: MemoryStore) -> None:
    """The file and its full-text index are consistent, and every row has its search document."""
    assert store.integrity_check() == "ok"
    store.db.execute("INSERT INTO documents_fts(documents_fts) VALUES('integrity-check')")
    for kind, table in (("skill", "skills"), ("episode", "episodes"), ("reflection", "reflections"), ("fact", "facts")):
        orphans = store.db.execute(
            f"SELECT count(*) FROM {table} WHERE id NOT IN (SELECT ref FROM documents WHERE kind=?)", (kind,)
        ).fetchone()[0]
        assert orphans == 0, f"{orphans} {table} without a search document"
    assert store.db.execute("SELECT count(*) FROM documents").fetchone()[0] == sum(store.counts().values())


@pytest.mark.parametrize("kill_after", [1, 100, 500])
def test_sigkill_mid_write_loses_no_committed_write(tmp_path, processes, kill_after):
    path = tmp_path / "memory.sqlite"
    writer = start_writer(path, "w")
    processes.append(writer)
    go(writer)
    assert writer.stdout is not None
    reported = []
    while len(reported) < kill_after:
        line = writer.stdout.readline()
        assert line, f"the writer stopped early: {writer.communicate()[1]}"
        reported.append(line)
    os.kill(writer.pid, signal.SIGKILL)
    rest, _ = writer.communicate(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    reported += [line for line in rest.splitlines(keepends=True) if line.endswith("\n")]
    skills = [line.split()[1] for line in reported if line.startswith("skill ")]
    episodes = [int(line.split()[1]) for line in reported if line.startswith("episode ")]
    assert len(skills) >= kill_after // 2

    with MemoryStore(path) as store:
        assert_sound(store)
        assert all(store.skill(name) is not None for name in skills)
        stored_episodes = {row[0] for row in store.db.execute("SELECT id FROM episodes")}
        assert set(episodes) <= stored_episodes
        counts = store.counts()
        assert counts["skill"] >= len(skills) and counts["episode"] >= len(episodes)
        # a write is all or nothing: at most the one in flight landed without being reported
        assert counts["skill"] <= len(skills) + 1 and counts["episode"] <= len(episodes) + 1
        assert counts["reflection"] == 2 * counts["episode"]
        assert counts["fact"] == counts["episode"] + (1 if counts["episode"] else 0)
        # and the file is still writable
        store.put_skill({"name": "after", "description": "after the crash", "parameters": {}, "steps": []}, "after")
        assert store.search("after the crash", ("skill",))[0].text.startswith("after:")


def test_two_writer_processes_lose_and_duplicate_nothing(tmp_path, processes):
    path = tmp_path / "fresh" / "memory.sqlite"  # both create and migrate the file at once
    count = 200
    writers = [start_writer(path, tag, count) for tag in ("a", "b")]
    processes.extend(writers)
    go(*writers)
    outputs = [w.communicate(timeout=120) for w in writers]
    for w, (out, err) in zip(writers, outputs, strict=True):
        assert w.returncode == 0, err
        assert out.endswith("done\n")

    with MemoryStore(path) as store:
        assert_sound(store)
        names = [s.name for s in store.skills()]
        assert sorted(names) == sorted(f"{tag}_skill_{i}" for tag in ("a", "b") for i in range(count))
        instructions = collections.Counter(e["instruction"] for e in store.episodes(limit=10 * count))
        assert instructions == collections.Counter(f"{tag} instruction {i}" for tag in ("a", "b") for i in range(count))
        assert store.counts() == {
            "skill": 2 * count,
            "episode": 2 * count,
            "reflection": 4 * count,
            "fact": 2 * count + 2,
        }
        table = dict(store.db.execute("SELECT subject, value FROM facts WHERE predicate='writes'").fetchall())
        assert table == {"a table": str(count - 1), "b table": str(count - 1)}
        assert store.search("b instruction 17", ("episode",), k=1)[0].text.startswith("Episode 'b instruction 17'")


def test_two_processes_merging_the_same_skill_count_every_put(tmp_path, processes):
    path = tmp_path / "memory.sqlite"
    count = 300
    writers = [start_writer(path, tag, count, same_key=True) for tag in ("a", "b")]
    processes.extend(writers)
    go(*writers)
    outputs = [w.communicate(timeout=120) for w in writers]
    for w, (out, err) in zip(writers, outputs, strict=True):
        assert w.returncode == 0, err
        assert set(out.splitlines()[:-1]) == {"skill stack_on"}

    with MemoryStore(path) as store:
        assert_sound(store)
        [stored] = store.skills()
        assert stored.name == "stack_on"
        assert (stored.successes, stored.failures) == (2 * count, 0)
        assert sorted(stored.examples) == sorted(f"{tag} instruction {i}" for tag in ("a", "b") for i in range(4))
        assert store.db.execute("SELECT count(*) FROM documents WHERE kind='skill'").fetchone()[0] == 1
