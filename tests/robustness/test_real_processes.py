"""The same hostile inputs through real `embodied` processes: what a user sees on stderr after a crash.

In process, an escaped exception is caught by the test runner; here it would print a Python
traceback, which must never happen. A few processes only (each costs 2-4 s of imports), plus
Ctrl-C and SIGTERM at fuzzed moments of a run (issue 14 case 11: the folder must still be complete).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.robustness._server import Loopback, Reply
from tests.robustness._strategies import TASKS, arg_safe, hostile_text
from tests.robustness._support import (
    ROOT,
    TALLY,
    Expect,
    Outcome,
    check,
    example_dir,
    examples,
    expect_exit,
    run_process,
    snapshot,
    surveyed,
    time_limit,
)

FAST = ["--perception", "ground_truth", "--no-video", "--max-steps", "40", "--embedder", "lexical"]


def damaged_memory(learned: Path, folder: Path) -> Path:
    """A copy of the real memory with the root pages of its skills and documents overwritten."""
    path = folder / "damaged.sqlite"
    path.write_bytes(learned.read_bytes())
    raw = sqlite3.connect(path)
    roots = [raw.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (t,)).fetchone()[0] for t in ("skills",)]
    raw.close()
    with path.open("r+b") as f:
        for root in roots:
            f.seek((root - 1) * 4096)
            f.write(bytes(range(256)) * 16)
    return path


CASES = {
    # name: (argv with {out} {memory} {file} {damaged} placeholders, issue-14 case)
    "markup task": (["run", "--task", "[/]", *FAST, "--out", "{out}", "--no-memory"], 3),
    "empty instruction, negative seed": (
        ["run", "--task", "stack", "--instruction", " ", "--seed", "-1", *FAST, "--out", "{out}", "--no-memory"],
        1,
    ),
    "out is a file": (["run", "--task", "stack", *FAST, "--out", "{file}", "--no-memory"], 2),
    "damaged memory, skills list": (["skills", "list", "--memory", "{damaged}"], 6),
    "deeply nested import": (["skills", "import", "{deep}", "--memory", "{memory}"], 7),
    "eval markup family": (["eval", "--family", "[/x]", "--out", "{out}"], 3),
}


@pytest.mark.slow
@time_limit(ci=150, fuzz=300)
@pytest.mark.parametrize("name", list(CASES))
def test_no_traceback_on_stderr(scratch: Path, learned_memory: Path, name: str) -> None:
    argv, _case = CASES[name]
    with example_dir(scratch) as folder:
        (folder / "a_file").write_text("not a folder\n")
        (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        paths = {
            "out": folder / "runs",
            "file": folder / "a_file",
            "memory": folder / "memory.sqlite",
            "damaged": damaged_memory(learned_memory, folder),
            "deep": folder / "deep.json",
        }
        argv = [a.format(**{k: str(v) for k, v in paths.items()}) if "{" in a else a for a in argv]
        memory = paths["damaged"] if "{damaged}" in CASES[name][0] else paths["memory"]
        before = snapshot(memory)
        outcome = run_process(argv)
        check(outcome, Expect(outs=[paths["out"]], eval_outs=[], memory=memory, before=before, ground_truth=True))


@pytest.fixture(scope="module")
def server() -> Iterator[Loopback]:
    loopback = Loopback()
    yield loopback
    loopback.stop()


LLM_SCRIPTS = {
    "401 with markup": [Reply(kind="raw", status=401, body=b'{"error": {"message": "Incorrect API key [/] [bold"}}')],
    "garbage, then dropped": [
        Reply(content="<html>[/]</html>"),
        Reply(kind="raw", status=200, body=b"not json [/]", content_type="text/plain"),
        Reply(kind="drop"),
    ],
}


@pytest.mark.slow
@time_limit(ci=200, fuzz=400)
@pytest.mark.parametrize("name", list(LLM_SCRIPTS))
def test_no_traceback_with_a_hostile_server(scratch: Path, server: Loopback, name: str) -> None:
    """A real process with the default patience (60 s × 3) against replies that end the episode fast."""
    server.state.load(LLM_SCRIPTS[name])
    with example_dir(scratch) as folder:
        out, memory = folder / "runs", folder / "memory.sqlite"
        argv = ["run", "--task", "stack", "--llm", "openai:fake", "--planner", "llm", *FAST, "--out", str(out)]
        outcome = run_process([*argv, "--memory", str(memory)], env={"OPENAI_BASE_URL": server.state.url})
        check(outcome, Expect(outs=[out], memory=memory, ground_truth=True))


@time_limit(ci=120, fuzz=1800)
@examples(ci=1, fuzz=60)
@given(task=st.sampled_from(TASKS) | hostile_text.map(arg_safe), instruction=st.none() | hostile_text.map(arg_safe))
@example(task="[bold", instruction=None)
def test_hostile_text_in_a_real_process(scratch: Path, task: str, instruction: str | None) -> None:
    with example_dir(scratch) as folder:
        argv = ["run", "--task", task, *(["--instruction", instruction] if instruction is not None else [])]
        outcome = run_process([*argv, *FAST, "--out", str(folder / "runs"), "--no-memory"])
        check(outcome, Expect(outs=[folder / "runs"], ground_truth=True))


# ---------------------------------------------------------------------- signals at awkward moments
def interrupted_run(folder: Path, sig: int, delay_s: float) -> Outcome:
    """`embodied run`, sent ``sig`` ``delay_s`` after its episode folder appears (or after 20 s without one)."""
    out = folder / "runs"
    argv = ["run", "--task", "stack", "--seed", "2", *FAST[:3], "--max-steps", "400", "--out", str(out)]
    argv += ["--memory", str(folder / "memory.sqlite"), "--embedder", "lexical"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "embodied.cli", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20 and proc.poll() is None and not (out.is_dir() and any(out.iterdir())):
        time.sleep(0.005)
    time.sleep(delay_s)
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        stdout, stderr = proc.communicate(timeout=60)
        hung = False
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        hung = True
    TALLY["cases"] += 1
    TALLY["cases: run (subprocess, signalled)"] += 1
    if hung:
        TALLY["hangs"] += 1
    outcome = Outcome(argv, proc.returncode, stdout + stderr, stderr, None, time.monotonic() - t0, hung, stdout)
    return outcome


@pytest.mark.slow
@time_limit(ci=120, fuzz=3600)
@examples(ci=1, fuzz=60)
@given(sig=st.sampled_from([signal.SIGINT, signal.SIGTERM]), delay_s=st.sampled_from([0.0, 0.05]) | st.floats(0, 1.5))
@example(sig=signal.SIGINT, delay_s=0.05)
def test_signal_at_an_awkward_moment(scratch: Path, sig: int, delay_s: float) -> None:
    """Issue 14 case 11: a signal right after the folder appears must still leave episode.json and a trace."""
    with example_dir(scratch) as folder:
        outcome = interrupted_run(folder, sig, delay_s)
        folders = check(outcome, Expect(outs=[folder / "runs"], memory=folder / "memory.sqlite", ground_truth=True))
        expect_exit(outcome, {0, 1, 130}, f"a run sent {signal.Signals(sig).name} ends like Ctrl-C")
        with surveyed(outcome):
            for folder_path, summary, _events in folders:
                if outcome.exit_code == 130:
                    assert summary.get("interrupted") is True, f"{folder_path}: {json.dumps(summary)[:400]}"
