"""The fuzz suite's own checks can fail: each one is shown a broken artifact and must reject it.

No CLI runs here (milliseconds): hand-made episode folders, memory files and outcomes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.robustness import _support
from tests.robustness._server import object_names
from tests.robustness._support import (
    Expect,
    Outcome,
    assert_clean_exit,
    check,
    load_episode,
    snapshot,
    strict_json,
)

pytestmark = pytest.mark.timeout(60)

GOOD_EVENTS = [
    {"i": 0, "t": 0.0, "frame": 0, "kind": "episode_start", "instruction": "stack", "planner": "classical"},
    {"i": 1, "t": 0.1, "frame": 0, "kind": "verification", "turn": 1, "subgoal": "on(a, b)", "holds": True},
]
GOOD_SUMMARY: dict[str, Any] = {"success": True, "verified": True, "reason": "goal verified", "stats": {}}


@pytest.fixture(autouse=True)
def _keep_the_tally() -> Iterator[None]:
    """Violations provoked here are not the product's: they always raise, and the session's count stays."""
    saved = dict(_support.TALLY)
    survey, _support.SURVEY = _support.SURVEY, None  # these violations must raise
    yield
    _support.SURVEY = survey
    _support.TALLY.clear()
    _support.TALLY.update(saved)


def episode(root: Path, summary: dict[str, Any] | None = GOOD_SUMMARY, trace: str | None = None) -> Path:
    folder = root / "runs" / "20260101-000000-stack-0"
    folder.mkdir(parents=True)
    if summary is not None:
        (folder / "episode.json").write_text(json.dumps(summary, allow_nan=True))
    if trace is None:
        trace = "".join(json.dumps(e) + "\n" for e in GOOD_EVENTS)
    (folder / "trace.jsonl").write_text(trace)
    return folder


def outcome(exit_code: int = 0, output: str = "", exception: BaseException | None = None) -> Outcome:
    return Outcome(["run"], exit_code, output, output, exception)


def test_a_complete_folder_passes(tmp_path: Path) -> None:
    folder = episode(tmp_path)
    summary, events = load_episode(folder)
    assert summary["success"] is True and len(events) == 2
    assert len(check(outcome(), Expect(outs=[tmp_path / "runs"]))) == 1


@pytest.mark.parametrize(
    ("summary", "trace", "why"),
    [
        (None, None, "no episode.json"),
        ({**GOOD_SUMMARY, "x": float("nan")}, None, "not strict JSON"),
        ({"verified": True}, None, "no boolean 'success'"),
        (GOOD_SUMMARY, "", "is empty"),
        (GOOD_SUMMARY, '{"kind": "decision", "x": NaN}\n', "not strict JSON"),
        (GOOD_SUMMARY, '{"kind": "decision", "x": -Infinity}\n', "not strict JSON"),
        (GOOD_SUMMARY, '{"kind": "episode_start"}\n{"kind": "dec', "not strict JSON"),
        (GOOD_SUMMARY, "[1, 2]\n", "not an event"),
    ],
)
def test_a_broken_folder_is_rejected(tmp_path: Path, summary: Any, trace: str | None, why: str) -> None:
    episode(tmp_path, summary, trace)
    with pytest.raises(AssertionError, match=why):
        check(outcome(), Expect(outs=[tmp_path / "runs"]))


def test_an_empty_folder_left_in_out_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "runs" / "20260101-000000-stack-0").mkdir(parents=True)
    with pytest.raises(AssertionError, match=r"no episode\.json"):
        check(outcome(), Expect(outs=[tmp_path / "runs"]))


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (outcome(3), "exit code 3"),
        (outcome(-15), "exit code -15"),
        (outcome(1, exception=ValueError("boom")), "CRASH ValueError"),
        (outcome(1, output="│ Traceback (most recent call last) │"), "TRACEBACK"),
        (Outcome(["run"], -1, "", "", None, 90.0, hung=True), "HANG"),
    ],
)
def test_a_bad_ending_is_rejected(result: Outcome, why: str) -> None:
    with pytest.raises(AssertionError, match=why):
        assert_clean_exit(result)


def test_the_documented_endings_pass() -> None:
    for code in (0, 1, 2, 130):
        assert_clean_exit(outcome(code, exception=SystemExit(code) if code else None))


def test_strict_json_refuses_non_finite_numbers() -> None:
    for text in ("NaN", "[Infinity]", '{"x": -Infinity}'):
        with pytest.raises(ValueError):
            strict_json(text)
    assert strict_json('{"x": 1e308}') == {"x": 1e308}


# ---------------------------------------------------------------------- property 4
def memory_file(path: Path, episodes: list[tuple[int, str | None]], skills: list[tuple[str, str]]) -> Path:
    """A file with the two memory tables that matter here: episodes (verified, skill) and skills (name, source)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE episodes (id INTEGER PRIMARY KEY, verified INTEGER, skill TEXT)")
    db.execute("CREATE TABLE skills (id INTEGER PRIMARY KEY, name TEXT, source TEXT)")
    db.executemany("INSERT INTO episodes (verified, skill) VALUES (?, ?)", episodes)
    db.executemany("INSERT INTO skills (name, source) VALUES (?, ?)", skills)
    db.commit()
    db.close()
    return path


def test_learning_from_a_verified_episode_passes(tmp_path: Path) -> None:
    summary = {**GOOD_SUMMARY, "stats": {"memory": {"skill": "stack_it", "episode_id": 1}}}
    episode(tmp_path, summary)
    memory = memory_file(tmp_path / "m.sqlite", [(1, "stack_it")], [("stack_it", "learned")])
    check(outcome(), Expect(outs=[tmp_path / "runs"], memory=memory, ground_truth=True))


@pytest.mark.parametrize(
    ("summary", "rows", "skills", "why"),
    [
        (  # the episode says unverified, yet a skill was learned from it
            {**GOOD_SUMMARY, "success": False, "verified": False, "stats": {"memory": {"skill": "s", "episode_id": 1}}},
            [(0, "s")],
            [("s", "learned")],
            "unverified episode",
        ),
        (  # issue 14 case 8: "verified" by the planner's done while ground truth says it failed
            {**GOOD_SUMMARY, "success": False, "stats": {"memory": {"skill": "s", "episode_id": 1}}},
            [(1, "s")],
            [("s", "learned")],
            "case 8",
        ),
        (  # the memory row disagrees with episode.json
            {**GOOD_SUMMARY, "verified": True, "stats": {"memory": {"episode_id": 1}}},
            [(0, None)],
            [],
            "says verified=False",
        ),
        (  # a learned skill that no verified episode taught
            {**GOOD_SUMMARY, "stats": {"memory": {"episode_id": 1}}},
            [(1, None)],
            [("ghost", "learned")],
            "no verified episode",
        ),
        (  # a subgoal skill whose subgoal never held
            {
                **GOOD_SUMMARY,
                "success": False,
                "verified": False,
                "stats": {"memory": {"subgoal_skills": [{"skill": "t", "subgoal": "on(c, d)"}]}},
            },
            [(0, None)],
            [("t", "subgoal")],
            "which no verification",
        ),
    ],
)
def test_learning_from_an_unverified_episode_is_rejected(
    tmp_path: Path, summary: dict[str, Any], rows: list[tuple[int, str | None]], skills: list[tuple[str, str]], why: str
) -> None:
    episode(tmp_path, summary)
    memory = memory_file(tmp_path / "m.sqlite", rows, skills)
    with pytest.raises(AssertionError, match=why):
        check(outcome(), Expect(outs=[tmp_path / "runs"], memory=memory, ground_truth=True))


def test_rows_that_were_there_before_are_not_blamed_on_the_command(tmp_path: Path) -> None:
    memory = memory_file(tmp_path / "m.sqlite", [(0, None)], [("old", "learned")])
    before = snapshot(memory)
    assert (before.skills, before.last_episode) == (frozenset({"old"}), 1)
    episode(tmp_path)
    check(outcome(), Expect(outs=[tmp_path / "runs"], memory=memory, before=before))


def test_the_server_reads_object_names_from_the_observation() -> None:
    text = (
        "objects (x forward, y left, z up; cm): large orange block at (39, 12, 3); small blue block at (46, -2, 2)."
        " gripper at (28, 0, 38) cm, open, holding nothing."
    )
    request = {"messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": text}]}
    assert object_names(request) == ["large orange block", "small blue block"]
