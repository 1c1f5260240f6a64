"""Evaluation: suites, parallel local and Ray runners, resumability, failures as rows, reports."""

from __future__ import annotations

import itertools
import json

import pytest

from embodied.evaluation.results_report import results_markdown, summarise, wilson, write_reports
from embodied.evaluation.runner import EvalOptions, evaluate, threads_per_worker
from embodied.evaluation.suites import EpisodeSpec, build_suite
from embodied.planners.grounding import parse_instruction
from envs.tasks import FAMILIES, ObjectState, WorldState, sample_task
from perception.ground_truth import scene_from_world

GT = EvalOptions(planner="classical", perception="ground_truth", timeout_s=300)


def test_suites_are_deterministic_and_complete():
    standard = build_suite("standard", 3)
    assert len(standard) == 3 * len(FAMILIES) and standard == build_suite("standard", 3)
    assert len({s.id for s in standard}) == len(standard)
    perturb = build_suite("perturb", 2)
    assert {s.perturbation for s in perturb} == {"knock_off", "move_target"}
    with pytest.raises(ValueError, match="suites are"):
        build_suite("olympics", 1)


def test_a_suite_can_start_at_any_seed():
    far = build_suite("standard", 2, ("stack", "tower"), seed_start=10_000)
    assert [(s.family, s.seed) for s in far] == [
        ("stack", 10_000),
        ("stack", 10_001),
        ("tower", 10_000),
        ("tower", 10_001),
    ]
    assert not {s.id for s in far} & {s.id for s in build_suite("standard", 2, ("stack", "tower"))}
    assert [s.seed for s in build_suite("chains", 3, seed_start=500)] == [500, 501, 502]
    with pytest.raises(ValueError, match="seed_start must be from 0"):
        build_suite("standard", 1, seed_start=-1)


def test_paraphrases_are_new_wordings_of_the_same_goal():
    for spec in build_suite("paraphrase", 6):
        task = sample_task(spec.family, spec.seed)
        templates = [t.split("{")[0] for t in FAMILIES[spec.family].templates]
        assert spec.instruction and spec.instruction != task.instruction
        ws = WorldState({o.name: ObjectState(o, (o.pos[0], o.pos[1], 0.0), o.yaw) for o in task.scene.objects})
        assert set(parse_instruction(spec.instruction, scene_from_world(ws))) == set(task.goal), spec
        if spec.family != "spatial_reference":
            assert not any(t and spec.instruction.startswith(t) for t in templates if len(t) > 12), spec


def test_parallel_workers_share_the_cores_out(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [threads_per_worker(n) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]


def test_wilson_interval():
    lo, hi = wilson(49, 50)
    assert 0.89 < lo < 0.9 and hi > 0.99
    assert wilson(0, 0) == (0.0, 0.0)
    for n in range(1, 400):  # the interval holds the rate at 0% and 100% too (rounding put it outside)
        assert wilson(n, n)[1] == 1.0 and wilson(0, n)[0] == 0.0


def test_a_suite_where_every_episode_succeeds_gets_its_report(tmp_path):
    rows = [
        {
            "id": f"s/{f}/{i}",
            "family": f,
            "success": True,
            "turns": 2,
            "skill_calls": 2,
            "sim_time_s": 4.0,
            "wall_time_s": 1.0,
        }
        for f in ("stack", "pick_place")
        for i in range(100)
    ]
    md, report = write_reports(tmp_path, rows, "standard")
    assert "| **all** | 200 | 100.0%" in md.read_text()
    assert "data:image/png;base64," in report.read_text()


@pytest.mark.slow
def test_local_run_streams_results_and_resumes(tmp_path):
    specs = build_suite("standard", 1, ("stack", "push_to_region"))
    seen: list[str] = []
    rows = evaluate(specs, GT, tmp_path, workers=2, on_result=lambda r: seen.append(r["id"]))
    assert sorted(seen) == sorted(s.id for s in specs)
    assert all(r["success"] for r in rows), rows
    assert not any(r["false_success"] or r["missed_success"] for r in rows), rows
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 2
    trace = (tmp_path / "episodes" / "standard-stack-0" / "trace.jsonl").read_text().splitlines()
    verdict = json.loads(trace[-1])  # ground truth's verdict comes after the agent's own ending
    assert verdict["kind"] == "ground_truth" and verdict["success"] and not verdict["false_success"], verdict
    again: list[str] = []
    rows = evaluate(specs, GT, tmp_path, workers=2, on_result=lambda r: again.append(r["id"]))
    assert again == [] and len(rows) == 2  # nothing re-run
    md, report = write_reports(tmp_path, rows, "test")
    assert "| **all** | 2 | 100.0%" in md.read_text()
    assert "data:image/png;base64," in report.read_text()


@pytest.mark.slow
def test_crashing_and_hanging_episodes_become_failed_rows(tmp_path):
    broken = EpisodeSpec("standard/juggling/0", "standard", "juggling", 0)
    slow = build_suite("standard", 1, ("clear_table",))[0]
    options = EvalOptions(planner="classical", perception="ground_truth", timeout_s=3)
    rows = {r["id"]: r for r in evaluate([broken, slow], options, tmp_path, workers=2)}
    assert rows[broken.id]["success"] is False and "episode raised" in rows[broken.id]["reason"]
    assert rows[slow.id]["success"] is False and "timed out after 3 s" in rows[slow.id]["reason"]
    assert "juggling" in results_markdown(list(rows.values()), "t")


@pytest.mark.slow
def test_ray_local_gives_the_same_results_and_runs_every_suite(tmp_path):
    ray = pytest.importorskip("ray")
    specs = build_suite("standard", 1, ("stack",))
    local = evaluate(specs, GT, tmp_path / "local", workers=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = evaluate(specs, GT, tmp_path / "ray", ray_address="local")
        keys = ("id", "success", "turns", "skill_calls", "goal_atoms", "control_steps")
        assert [{k: r[k] for k in keys} for r in local] == [{k: r[k] for k in keys} for r in remote]
        for suite in ("paraphrase", "perturb", "chains"):
            families = None if suite == "chains" else ("stack",)
            (row,) = evaluate(build_suite(suite, 1, families), GT, tmp_path / suite, ray_address="local")
            assert row["suite"] == suite and "worker_failure" not in row, row
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_a_disturbed_episode_is_recovered_by_replanning(tmp_path):
    spec = EpisodeSpec("perturb/stack/0", "perturb", "stack", 3, None, "knock_off")
    (row,) = evaluate([spec], GT, tmp_path, workers=1)
    assert row["perturbation_applied"]["type"] == "knock_off"
    assert row["success"], row
    assert row["turns"] >= 2  # it had to notice and do the stack again
    trace = (tmp_path / "episodes" / "perturb-stack-0" / "trace.jsonl").read_text().splitlines()
    kinds = [json.loads(line)["kind"] for line in trace]
    assert "perturbation" in kinds and kinds.count("verification") >= 1


def test_summary_counts():
    rows = [
        {
            "id": "a",
            "family": "stack",
            "success": True,
            "turns": 1,
            "skill_calls": 2,
            "sim_time_s": 3,
            "wall_time_s": 1,
        },
        {
            "id": "b",
            "family": "stack",
            "success": False,
            "turns": 3,
            "skill_calls": 6,
            "sim_time_s": 9,
            "wall_time_s": 2,
            "reason": "x",
        },
    ]
    table = summarise(rows)
    assert table["stack"]["success_rate"] == 0.5 and table["all"]["mean_turns"] == 2.0
    assert table["all"]["false_successes"] == table["all"]["missed_successes"] == 0


def test_false_and_missed_successes_are_counted_and_listed(tmp_path):
    base = {"turns": 2, "skill_calls": 2, "sim_time_s": 5, "wall_time_s": 1}
    rows = [
        {
            "id": "standard/stack/3",
            "family": "stack",
            "success": True,
            "reason": "goal verified from perception",
            **base,
        },
        {
            "id": "standard/stack/4",
            "family": "stack",
            "success": False,
            "reason": "goal verified from perception",
            "false_success": True,
            "rejected": ["on(red block, blue block) does not hold (red block: ground truth base (0.5, 0.1, 0.0), ...)"],
            **base,
        },
        {
            "id": "standard/tower/1",
            "family": "tower",
            "success": True,
            "reason": "turn budget exhausted (30 turns)",
            "missed_success": True,
            **base,
        },
    ]
    table = summarise(rows)
    assert (table["stack"]["false_successes"], table["tower"]["missed_successes"]) == (1, 1)
    md = results_markdown(rows, "t")
    assert "| stack | 2 | 50.0% | 9-91% | 1 | 0 |" in md and "| tower | 1 | 100.0% | 21-100% | 0 | 1 |" in md
    false_part = md.split("## False successes")[1].split("##")[0]
    assert "`standard/stack/4`" in false_part and "on(red block, blue block) does not hold" in false_part
    assert "standard/stack/3" not in false_part
    assert "`standard/tower/1`" in md.split("## Missed successes")[1]
    _, report = write_reports(tmp_path, rows, "t")
    page = report.read_text()
    assert "<b>(false success)</b>" in page and "on(red block, blue block) does not hold" in page


def test_chains_are_feasible_sequences_on_one_scene():
    from envs.tasks.chains import sample_chain

    for seed in range(20):
        chain = sample_chain(seed)
        assert len(chain) == 5 and len({t.scene for t in chain}) == 1
        goals = [t.goal[0] for t in chain]
        assert all(a != b for a, b in itertools.pairwise(goals))  # no link is already done


@pytest.mark.slow
def test_a_chain_runs_five_tasks_without_reset(tmp_path):
    (row,) = evaluate(build_suite("chains", 1), GT, tmp_path, workers=1)
    assert row["chain_length"] == len([link for link in row["links"] if link["success"]])
    assert row["success"] == (row["chain_length"] == 5)
    assert row["chain_length"] >= 1, row
    assert "in a row" in results_markdown([row], "chains")
    if not row["success"]:  # the reason names the link that broke the chain
        assert row["reason"].startswith(f"link {row['chain_length'] + 1} of 5 ("), row["reason"]
    assert all("false_success" in link and "undid" in link for link in row["links"])


@pytest.mark.slow
def test_parallel_workers_share_one_memory_file(tmp_path):
    from dataclasses import replace

    from embodied.memory import MemoryStore

    path = tmp_path / "memory.sqlite"
    specs = build_suite("standard", 2, ("tower",))
    rows = evaluate(specs, replace(GT, memory=str(path), embedder="lexical"), tmp_path / "eval", workers=2)
    assert all(r["success"] for r in rows), rows
    with MemoryStore(path) as store:
        assert store.integrity_check() == "ok"
        assert sorted(e["instruction"] for e in store.episodes()) == sorted(r["instruction"] for r in rows)
        (skill,) = store.skills()  # both towers have the same steps: one skill, both successes counted
    assert skill.successes == 2 and len(skill.examples) == 2
