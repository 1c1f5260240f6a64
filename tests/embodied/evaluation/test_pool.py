"""The warm worker pool: many episodes per process, and a crash or a hang still costs one episode only."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import textwrap

import pytest

from embodied.evaluation.lifeline import ParentWatch
from embodied.evaluation.pool import RayActorPool, WorkerPool
from embodied.evaluation.suites import EpisodeSpec

JOBS = """
import os, time

def job(spec):
    if spec.family == "crash":
        os._exit(7)
    if spec.family == "hang":
        time.sleep(60)
    if spec.family == "raise":
        raise ValueError("no such family")
    return {"id": spec.id, "pid": os.getpid()}

def setup():
    pass
"""


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    """A module of test jobs the spawned workers can import (they inherit ``sys.path``; Ray's workers, which
    a local Ray starts, inherit ``PYTHONPATH``)."""
    (tmp_path / "pool_test_jobs.py").write_text(textwrap.dedent(JOBS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    import pool_test_jobs

    yield pool_test_jobs
    sys.modules.pop("pool_test_jobs", None)


def _spec(family: str, seed: int) -> EpisodeSpec:
    return EpisodeSpec(f"t/{family}/{seed}", "t", family, seed)


def _run(jobs, specs, workers, timeout_s=30.0, episodes_per_worker=None):
    ctx = mp.get_context("spawn")
    rows, failures = [], []
    with ParentWatch(ctx) as watch:
        ties = (watch.lifeline, None)
        pool = WorkerPool(ctx, jobs.job, workers, jobs.setup, ties, timeout_s, episodes_per_worker)
        pool.run(specs, rows.append, lambda spec, why: failures.append((spec.id, why)))
    return pool, rows, failures


def test_workers_stay_warm_across_episodes(jobs):
    specs = [_spec("ok", i) for i in range(8)]
    pool, rows, failures = _run(jobs, specs, workers=2)
    assert failures == []
    assert sorted(r["id"] for r in rows) == sorted(s.id for s in specs)
    assert len({r["pid"] for r in rows}) <= 2 and pool.started_workers == 2  # 8 episodes, 2 processes
    assert all(r["worker_pid"] == r["pid"] for r in rows)


def test_a_crashed_or_hung_worker_costs_its_episode_only_and_is_replaced(jobs):
    specs = [_spec("ok", 0), _spec("crash", 1), _spec("ok", 2), _spec("hang", 3), _spec("ok", 4), _spec("ok", 5)]
    pool, rows, failures = _run(jobs, specs, workers=2, timeout_s=3.0)
    assert dict(failures) == {"t/crash/1": "worker crashed (exit code 7)", "t/hang/3": "timed out after 3 s"}
    assert sorted(r["id"] for r in rows) == ["t/ok/0", "t/ok/2", "t/ok/4", "t/ok/5"]
    # The crashed worker was replaced while episodes were pending; the hung one too if any still were.
    assert 3 <= pool.started_workers <= 4


def test_a_worker_can_be_limited_to_a_number_of_episodes(jobs):
    specs = [_spec("ok", i) for i in range(5)]
    pool, rows, failures = _run(jobs, specs, workers=1, episodes_per_worker=2)
    assert failures == [] and len(rows) == 5
    assert len({r["pid"] for r in rows}) == 3 and pool.started_workers == 3  # 2 + 2 + 1 episodes


@pytest.fixture
def local_ray(jobs):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_actors_stay_warm_and_a_crash_a_hang_or_an_error_costs_one_episode(jobs, local_ray):
    ok = [_spec("ok", i) for i in range(6)]
    specs = [ok[0], _spec("crash", 1), ok[1], _spec("raise", 2), ok[2], _spec("hang", 3), *ok[3:]]
    rows, failures = [], []
    pool = RayActorPool(local_ray, jobs.job, 2, jobs.setup, timeout_s=5.0)
    pool.run(specs, rows.append, lambda spec, why: failures.append((spec.id, why)))
    failed = dict(failures)
    assert sorted(failed) == ["t/crash/1", "t/hang/3", "t/raise/2"], failures
    assert failed["t/crash/1"].startswith("worker crashed (Ray actor died")
    assert failed["t/raise/2"] == "episode raised ValueError: no such family"
    assert failed["t/hang/3"] == "timed out after 5 s"
    assert sorted(r["id"] for r in rows) == sorted(s.id for s in ok)
    assert all(r["worker_pid"] == r["pid"] for r in rows)
    # 2 actors, the crashed one replaced (the hung one too if episodes were still pending): warm actors
    # ran several episodes each, the one whose episode raised went on, and no episode ran twice.
    assert 3 <= pool.started_workers <= 4
    assert len({r["pid"] for r in rows}) < len(rows)
