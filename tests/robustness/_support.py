"""Running the CLI on fuzzed input and asserting the four properties of issue 14 on what it left.

1. the exit code is 0, 1, 2 or 130;
2. nothing crashed: no exception escaped (in process) and no Python traceback on stderr (subprocess);
3. every episode folder has an ``episode.json`` and a ``trace.jsonl`` that parse as strict JSON
   (``NaN`` and ``Infinity`` are not JSON), line by line for the trace;
4. no memory row from an unverified episode: a composite learned as a success names an episode the
   agent verified (in the memory file and in that episode's ``episode.json``), a composite learned from
   a subgoal of a failed episode names a subgoal whose verification held in the trace, and, with
   ground-truth perception, nothing is learned from an episode "verified" while the task failed.

Every check raises ``AssertionError`` with the command line, so hypothesis shows the input that broke it.
Invocations and violations are counted in :data:`TALLY` (reported at the end of the session).
"""

from __future__ import annotations

import _thread
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[2]
PROFILE = os.environ.get("EMBODIED_FUZZ_PROFILE", "ci")
if PROFILE not in ("ci", "fuzz"):
    raise RuntimeError(f"EMBODIED_FUZZ_PROFILE={PROFILE!r}: use ci (default) or fuzz")
EXIT_CODES = frozenset({0, 1, 2, 130})
TRACEBACK = "Traceback (most recent call last)"

_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "embodied-ci", deadline=None, derandomize=True, database=None, suppress_health_check=_HEALTH, print_blob=True
)
settings.register_profile("embodied-fuzz", deadline=None, suppress_health_check=_HEALTH, print_blob=True)

# What the session ran and found, by kind of case; reported by the conftest at the end.
TALLY: Counter[str] = Counter()


def examples(ci: int, fuzz: int) -> settings:
    """Hypothesis settings of the active profile with this many examples (not loaded globally: the
    repository's other property tests keep their own settings)."""
    return settings(settings.get_profile(f"embodied-{PROFILE}"), max_examples=ci if PROFILE == "ci" else fuzz)


def time_limit(ci: float, fuzz: float) -> pytest.MarkDecorator:
    """A pytest-timeout for a whole test (all its examples): a hang fails instead of stalling CI."""
    return pytest.mark.timeout(ci if PROFILE == "ci" else fuzz)


# ---------------------------------------------------------------------- running the CLI
@dataclass
class Outcome:
    """How one command ended."""

    argv: list[str]
    exit_code: int
    output: str  # stdout and stderr (in process: mixed as the user sees them)
    stderr: str
    exception: BaseException | None = None
    elapsed_s: float = 0.0
    hung: bool = False
    stdout: str = ""

    @property
    def command(self) -> str:
        shown = " ".join(_shown(a) for a in self.argv)
        return f"embodied {shown}"


def _shown(arg: str, limit: int = 120) -> str:
    text = repr(arg) if (not arg or any(c in arg for c in " \"'[]\\") or not arg.isprintable()) else arg
    return text if len(text) <= limit else f"{text[:limit]}...<{len(arg)} chars>"


class _Watchdog:
    """Interrupts the main thread once ``seconds`` pass (an in-process command that hangs) and says so."""

    def __init__(self, seconds: float) -> None:
        self.fired, self._done, self._lock = False, False, threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self.fired = True
                _thread.interrupt_main()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()


def invoke(argv: Sequence[str], env: Mapping[str, str] | None = None, hang_s: float = 90.0) -> Outcome:
    """``embodied ARGV`` in this process (typer's CliRunner): ~0 s of start-up instead of 3-4 s."""
    from typer.testing import CliRunner

    from embodied.cli import app

    runner = CliRunner()
    argv = list(argv)
    t0 = time.monotonic()
    watchdog = _Watchdog(hang_s)
    try:
        with watchdog:
            result = runner.invoke(app, argv, env=dict(env or {}))
    except KeyboardInterrupt:  # the watchdog's, landing outside the runner's own handling
        if not watchdog.fired:
            raise
        return _hung(argv, time.monotonic() - t0, "")
    elapsed = time.monotonic() - t0
    if watchdog.fired:
        return _hung(argv, elapsed, result.output)
    TALLY["cases"] += 1
    TALLY[f"cases: {argv[0] if argv else ''} (in process)"] += 1
    return Outcome(
        argv, result.exit_code, result.output, result.stderr, result.exception, elapsed, stdout=result.stdout
    )


def _hung(argv: list[str], elapsed: float, output: str) -> Outcome:
    TALLY["cases"] += 1
    TALLY["hangs"] += 1
    return Outcome(argv, -1, output, "", None, elapsed, hung=True)


def run_process(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout_s: float = 120.0) -> Outcome:
    """``embodied ARGV`` as a real process (its stderr is what a user sees after a crash)."""
    argv = list(argv)
    full_env = {**os.environ, "COLUMNS": "200", "TERM": "dumb", **(env or {})}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "embodied.cli", *argv],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as e:
        TALLY["cases"] += 1
        TALLY["hangs"] += 1
        out = e.stdout if isinstance(e.stdout, str) else ""
        return Outcome(argv, -1, out, "", None, time.monotonic() - t0, hung=True)
    TALLY["cases"] += 1
    TALLY[f"cases: {argv[0] if argv else ''} (subprocess)"] += 1
    elapsed = time.monotonic() - t0
    return Outcome(argv, proc.returncode, proc.stdout + proc.stderr, proc.stderr, None, elapsed, stdout=proc.stdout)


# ---------------------------------------------------------------------- properties 1 and 2
def _violation(kind: str, message: str) -> AssertionError:
    TALLY[f"violations: {kind}"] += 1
    return AssertionError(message)


def _tail(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else f"...{text[-limit:]}"


def _where(exc: BaseException) -> str:
    """The innermost frames of the project's own code that the exception passed through."""
    import traceback

    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if f.filename.startswith(str(ROOT)) and "/.venv/" not in f.filename
    ]
    frames = [f for f in frames if "/tests/robustness/" not in f.filename] or frames
    return "".join(traceback.format_list(frames[-4:]))


def assert_clean_exit(outcome: Outcome, allowed: frozenset[int] = EXIT_CODES) -> None:
    """Properties 1 and 2: a documented exit code, no escaped exception, no traceback."""
    if outcome.hung:
        raise _violation("hang", f"HANG after {outcome.elapsed_s:.0f} s: {outcome.command}\n{_tail(outcome.output)}")
    exc = outcome.exception
    if exc is not None and not isinstance(exc, SystemExit):
        raise _violation(
            "crash", f"CRASH {type(exc).__name__}: {_tail(str(exc), 300)}\n  in: {outcome.command}\n{_where(exc)}"
        )
    if TRACEBACK in outcome.output:
        start = outcome.output.find(TRACEBACK)
        raise _violation("traceback", f"TRACEBACK printed by {outcome.command}\n{outcome.output[start : start + 2500]}")
    if outcome.exit_code not in allowed:
        raise _violation(
            "exit code",
            f"exit code {outcome.exit_code} (allowed {sorted(allowed)}) from {outcome.command}\n"
            + _tail(outcome.output),
        )


# ---------------------------------------------------------------------- property 3
def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity``."""
    return json.loads(text, parse_constant=_refuse_constant)


EPISODE_FILES = ("trace.jsonl", "episode.json", "video.mp4", "report.html")


def episode_folders(root: Path, direct: bool = True) -> list[Path]:
    """The episode folders under ``root``: every folder holding an episode file, and (``direct``, the
    ``--out`` of ``embodied run``) every folder created directly in it, even an empty one."""
    if not root.is_dir():
        return []
    found = {p.parent for name in EPISODE_FILES for p in root.rglob(name)}
    found = {f for f in found if not (f / "results.jsonl").exists()}  # an eval's own folder, not an episode's
    if direct:
        found |= {p for p in root.iterdir() if p.is_dir()}
    return sorted(found)


def load_episode(folder: Path, command: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Property 3 for one folder: its ``episode.json`` and its trace's events, both strict JSON."""
    where = f"{folder} (from {command})" if command else str(folder)
    episode_file, trace_file = folder / "episode.json", folder / "trace.jsonl"
    present = sorted(p.name for p in folder.iterdir())
    if not episode_file.is_file():
        raise _violation("episode folder", f"no episode.json in {where}; the folder holds {present}")
    try:
        summary = strict_json(episode_file.read_text(encoding="utf-8"))
    except ValueError as e:
        raise _violation("episode folder", f"episode.json of {where} is not strict JSON: {e}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("success"), bool):
        raise _violation("episode folder", f"episode.json of {where} has no boolean 'success': {_tail(str(summary))}")
    if not isinstance(summary.get("verified"), bool):
        raise _violation("episode folder", f"episode.json of {where} has no boolean 'verified'")
    if not trace_file.is_file():
        raise _violation("episode folder", f"no trace.jsonl in {where}; the folder holds {present}")
    events = []
    lines = trace_file.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise _violation("episode folder", f"trace.jsonl of {where} is empty")
    for number, line in enumerate(lines, start=1):
        try:
            event = strict_json(line)
        except ValueError as e:
            raise _violation(
                "episode folder", f"line {number} of {len(lines)} of {where}/trace.jsonl is not strict JSON: {e}"
            ) from None
        if not isinstance(event, dict) or "kind" not in event:
            raise _violation("episode folder", f"line {number} of {where}/trace.jsonl is not an event: {line[:200]}")
        events.append(event)
    return summary, events


# ---------------------------------------------------------------------- property 4
@dataclass(frozen=True)
class MemorySnapshot:
    """What a memory file held before a command: its skill names and its last episode id."""

    skills: frozenset[str] = frozenset()
    last_episode: int = 0
    readable: bool = True
    digest: str = ""  # of the file and its -wal: a command that left both as they were wrote nothing


def file_digest(path: Path) -> str:
    """A hash of the memory file and its write-ahead log ("" when there is no file)."""
    import hashlib

    h = hashlib.sha256()
    for part in (path, Path(f"{path}-wal")):
        h.update(part.read_bytes() if part.is_file() else b"-")
    return h.hexdigest() if path.is_file() else ""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    db.row_factory = sqlite3.Row
    return db


def _tables(db: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def snapshot(path: Path | None) -> MemorySnapshot:
    """The state of a memory file before a command (an absent, foreign or unreadable file: nothing)."""
    if path is None or not path.is_file():
        return MemorySnapshot()
    digest = file_digest(path)
    try:
        db = _connect(path)
        try:
            if not {"skills", "episodes"} <= _tables(db):
                return MemorySnapshot(digest=digest)
            names = frozenset(str(r[0]) for r in db.execute("SELECT name FROM skills"))
            last = int(db.execute("SELECT coalesce(max(id), 0) FROM episodes").fetchone()[0])
            return MemorySnapshot(names, last, digest=digest)
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return MemorySnapshot(readable=False, digest=digest)


def assert_learned_only_verified(
    path: Path | None,
    folders: Sequence[tuple[Path, dict[str, Any], list[dict[str, Any]]]],
    before: MemorySnapshot,
    command: str,
    ground_truth: bool,
) -> None:
    """Property 4 (see the module docstring) for the episode ``folders`` of one command."""
    for folder, summary, events in folders:
        learned = summary.get("stats", {}).get("memory", {}) if isinstance(summary.get("stats"), dict) else {}
        learned = learned if isinstance(learned, dict) else {}
        where = f"{folder} (from {command})"
        if learned.get("skill") and summary["verified"] is not True:
            raise _violation(
                "memory",
                f"memory learned {learned['skill']!r} from an unverified episode {where}: {_verdict(summary)}",
            )
        if learned.get("skill") and ground_truth and summary["success"] is not True:
            raise _violation(
                "memory",
                f"memory learned {learned['skill']!r} from an episode 'verified' while ground truth says it failed "
                f"(issue 14 case 8): {where}: {_verdict(summary)}",
            )
        held = {e.get("subgoal") for e in events if e.get("kind") == "verification" and e.get("holds") is True}
        for sub in learned.get("subgoal_skills", ()) or ():
            if sub.get("subgoal") not in held:
                raise _violation(
                    "memory",
                    f"memory learned {sub.get('skill')!r} from subgoal {sub.get('subgoal')!r}, which no verification "
                    f"in the trace held: {where}",
                )
    if path is None or not before.readable or not path.is_file():
        return
    if before.digest and file_digest(path) == before.digest:
        return  # nothing was written (a damaged file reads differently from one read to the next)
    try:
        db = _connect(path)
    except sqlite3.DatabaseError:
        return
    try:
        if not {"skills", "episodes"} <= _tables(db):
            return
        episodes = db.execute("SELECT id, verified, skill FROM episodes WHERE id > ?", (before.last_episode,))
        new_episodes = {int(r["id"]): (bool(r["verified"]), r["skill"]) for r in episodes}
        skills = {str(r["name"]): str(r["source"]) for r in db.execute("SELECT name, source FROM skills")}
    except sqlite3.DatabaseError:
        return  # a file the test damaged on purpose
    finally:
        db.close()
    for episode_id, (verified, skill) in new_episodes.items():
        if skill is not None and not verified:
            raise _violation("memory", f"memory episode {episode_id} is unverified but taught {skill!r} ({command})")
    for folder, summary, _ in folders:
        learned = summary.get("stats", {}).get("memory", {}) if isinstance(summary.get("stats"), dict) else {}
        episode_id = learned.get("episode_id") if isinstance(learned, dict) else None
        stored = new_episodes.get(episode_id) if isinstance(episode_id, int) else None
        if stored is not None and stored[0] != summary["verified"]:
            raise _violation(
                "memory",
                f"memory episode {episode_id} says verified={stored[0]}, its episode.json "
                f"says {summary['verified']} ({folder}, from {command})",
            )
    taught = {skill for verified, skill in new_episodes.values() if verified and skill}
    for name, source in skills.items():
        if name in before.skills or source != "learned":
            continue
        if name not in taught:
            raise _violation(
                "memory",
                f"memory holds a new learned skill {name!r} that no verified episode of this command taught "
                f"({command}); new episodes: {new_episodes}",
            )


def _verdict(summary: dict[str, Any]) -> str:
    keys = ("success", "verified", "reason", "instruction", "goal_atoms")
    return json.dumps({k: summary.get(k) for k in keys}, default=str)[:600]


# ---------------------------------------------------------------------- all four at once
@dataclass
class Expect:
    """What one command may leave behind, for :func:`check`."""

    outs: Sequence[Path] = ()  # --out folders of `run` (each folder directly inside is an episode)
    eval_outs: Sequence[Path] = ()  # --out folders of `eval`
    memory: Path | None = None
    before: MemorySnapshot = field(default_factory=MemorySnapshot)
    ground_truth: bool = False


def check(outcome: Outcome, expect: Expect | None = None) -> list[tuple[Path, dict[str, Any], list[dict[str, Any]]]]:
    """The four properties for one command; returns its episode folders with their summaries and events."""
    expect = expect or Expect()
    with surveyed(outcome):
        assert_clean_exit(outcome)
        folders = []
        for root, direct in [*((o, True) for o in expect.outs), *((o, False) for o in expect.eval_outs)]:
            for folder in episode_folders(root, direct):
                summary, events = load_episode(folder, outcome.command)
                folders.append((folder, summary, events))
        TALLY["episode folders checked"] += len(folders)
        assert_learned_only_verified(expect.memory, folders, expect.before, outcome.command, expect.ground_truth)
        return folders
    return []


def expect_exit(outcome: Outcome, codes: set[int], why: str) -> None:
    """A stricter exit code than property 1 for this input (e.g. 2 for a bad command line)."""
    with surveyed(outcome):
        if outcome.exit_code not in codes:
            raise _violation(
                "exit code",
                f"exit {outcome.exit_code}, expected {sorted(codes)} ({why}): {outcome.command}\n"
                + _tail(outcome.output, 600),
            )


SURVEY = os.environ.get("EMBODIED_FUZZ_SURVEY")  # a JSONL file: record violations there instead of failing


@contextmanager
def surveyed(outcome: Outcome) -> Iterator[None]:
    """Raise a violation (the default), or with ``EMBODIED_FUZZ_SURVEY=FILE`` append it to FILE and go on,
    so one run lists every distinct defect instead of stopping at the first."""
    try:
        yield
    except AssertionError as e:
        if not SURVEY:
            raise
        record = {"command": outcome.command[:2000], "message": str(e)[:6000], "exit_code": outcome.exit_code}
        with open(SURVEY, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------- read-only paths (also for root)
@contextmanager
def read_only(path: Path) -> Iterator[bool]:
    """Make ``path`` read-only for the duration; yields False when that cannot be done here.

    Files: ``chmod a-w`` (embodied honours the mode bits even for root). Folders: ``chmod a-w``, and
    as root, whom the kernel lets write anyway, the immutable attribute (``chattr +i``) as well.
    """
    mode = path.stat().st_mode
    immutable = False
    path.chmod(mode & ~0o222)
    try:
        if path.is_dir() and os.geteuid() == 0:
            immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
            if not immutable:
                yield False
                return
        yield True
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        path.chmod(mode)


@contextmanager
def example_dir(scratch: Path) -> Iterator[Path]:
    """A fresh folder for one hypothesis example; removed when the example passes, kept when it fails."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=scratch))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
