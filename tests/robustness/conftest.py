"""Fixtures of the fuzz suite, and the count of cases it ran (printed at the end, kept in pytest's cache).

Profiles (``EMBODIED_FUZZ_PROFILE``): ``ci`` (default: few examples, derandomised, about 2 minutes
for the whole folder on 2 cores) and ``fuzz`` (many more examples, random, for ``make fuzz``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.robustness._server import Loopback
from tests.robustness._support import PROFILE, TALLY, Expect, check, invoke

LLM_TIMEOUT_S = 1.5  # per request, in process: a hostile server costs seconds, not minutes
LLM_RETRIES = 1


# ---------------------------------------------------------------------- the count of cases
def pytest_report_header(config: pytest.Config) -> str:
    return f"embodied fuzz profile: {PROFILE} (EMBODIED_FUZZ_PROFILE=ci|fuzz)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "Timeout >" in str(report.longrepr):
        TALLY["hangs"] += 1  # pytest-timeout stopped the test


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["embodied_robustness"] = json.dumps(dict(TALLY))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    raw = getattr(node, "workeroutput", {}).get("embodied_robustness")
    if raw:
        TALLY.update(json.loads(raw))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not TALLY.get("cases"):
        return
    violations = sum(n for k, n in TALLY.items() if k.startswith("violations: "))
    crashes = TALLY.get("violations: crash", 0) + TALLY.get("violations: traceback", 0)
    line = (
        f"{TALLY['cases']} fuzz cases ({PROFILE} profile), {TALLY.get('episode folders checked', 0)} episode folders "
        f"checked, {crashes} crashes, {TALLY.get('hangs', 0)} hangs, {violations} property violations "
        "(hypothesis replays a failing example while shrinking it: one defect counts several times)"
    )
    terminalreporter.write_sep("-", "embodied robustness")
    terminalreporter.write_line(line)
    for key in sorted(TALLY):
        if key.startswith(("cases: ", "violations: ")):
            terminalreporter.write_line(f"  {key}: {TALLY[key]}")
    record = {"profile": PROFILE, "summary": line, **dict(TALLY)}
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache.set("embodied/robustness", record)
    target = os.environ.get("EMBODIED_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def hostile() -> Iterator[Loopback]:
    """A hostile OpenAI-protocol server on loopback for the module (``hostile.state.load(script)``)."""
    server = Loopback()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fast_llm() -> Iterator[None]:
    """In-process ``openai:`` models give up after ``LLM_TIMEOUT_S`` × 2 attempts (a real user waits
    60 s × 3); the code path is the same, only the patience is shorter."""
    import embodied.llm as llm

    original = llm.make_chat_model

    def patient_for_seconds(spec: str, **options: Any) -> Any:
        if spec.strip().lower().startswith(("openai:", "ollama:")):
            options = {
                "timeout_s": LLM_TIMEOUT_S,
                "max_retries": LLM_RETRIES,
                "backoff_s": 0.05,
                "max_backoff_s": 0.1,
                **options,
            }
        return original(spec, **options)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(llm, "make_chat_model", patient_for_seconds)
        yield


@pytest.fixture(scope="session")
def learned_memory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real memory file: a real episode learned a composite skill into it, then 30 more skills were
    stored so the file spans many pages (read-only template: copy it)."""
    from embodied.memory import MemoryStore

    folder = tmp_path_factory.mktemp("learned")
    path, out = folder / "memory.sqlite", folder / "runs"
    argv = [
        "run", "--task", "stack", "--seed", "1", "--perception", "ground_truth", "--no-video",
        "--max-steps", "300", "--out", str(out), "--memory", str(path), "--embedder", "lexical",
    ]  # fmt: skip
    outcome = invoke(argv)
    check(outcome, Expect(outs=[out], memory=path, ground_truth=True))
    assert outcome.exit_code == 0, outcome.output
    with MemoryStore(path) as store:
        assert store.skills(), "the seed episode learned nothing"
        for i in range(30):
            steps = [{"skill": "pick", "arguments": {"object": f"block {i}"}}]
            program = {"name": f"padding_{i}", "description": "pick a block and hold it " * 12, "steps": steps}
            store.put_skill(program, f"padding-key-{i}", example=f"pick block {i} " * 5, source="imported")
    return path


@pytest.fixture(scope="session")
def skills_export(learned_memory: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A valid ``embodied skills export`` of the learned skill (JSON, read-only template)."""
    file = tmp_path_factory.mktemp("export") / "skills.json"
    names = [n for n in _skill_names(learned_memory) if not n.startswith("padding_")]
    outcome = invoke(["skills", "export", str(file), "--memory", str(learned_memory), *(f"--name={n}" for n in names)])
    check(outcome)
    assert outcome.exit_code == 0, outcome.output
    document: dict[str, Any] = json.loads(file.read_text())
    assert document["skills"], document
    return document


def _skill_names(path: Path) -> list[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return [str(r[0]) for r in db.execute("SELECT name FROM skills ORDER BY id")]
    finally:
        db.close()


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where examples make their folders (see ``_support.example_dir``)."""
    return tmp_path_factory.mktemp("fuzz")
