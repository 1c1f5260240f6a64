"""Run suite episodes in parallel and stream their results to ``results.jsonl``.

Episodes run on warm worker processes that each run many (:mod:`~embodied.evaluation.pool`), or
on warm Ray actors when a Ray address is given; a crash or a hang costs that episode only: it is
recorded as failed with the reason, the worker is replaced, and the evaluation goes on. Results
are appended and flushed as episodes finish; a rerun into the same folder skips the episodes
already there (resumable). The same seeds give the same results on either backend.

A local worker dies with its parent (:mod:`~embodied.evaluation.lifeline`), and the folder is
locked while a run goes on (:mod:`~embodied.evaluation.folder_lock`): a killed evaluation leaves
nothing running, and a second one into the same folder is refused instead of racing the first.
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied.errors import DependencyNotInstalled
from embodied.evaluation.folder_lock import FolderLock
from embodied.evaluation.lifeline import ParentWatch
from embodied.evaluation.pool import RayActorPool, WorkerPool
from embodied.evaluation.suites import EpisodeSpec
from embodied.factory import ENV_IDS, Episode, EpisodeConfig, build_episode
from embodied.recording.tracing import Tracer, TracerWrapper
from envs.validation import require_positive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalOptions:
    """How every episode of an evaluation runs."""

    planner: str = "auto"
    llm: str | None = None
    perception: str = "vision"
    env: str = "tabletop"
    max_steps: int = 2000
    timeout_s: float = 600.0
    record: bool = True  # trace.jsonl + report.html per episode (no video: --video adds it)
    video: bool = False
    memory: str | None = None  # a memory file shared by every worker (None: episodes learn nothing)
    embedder: str = "auto"
    policies: tuple[str, ...] = ()  # skills backed by learned policies (SKILL=learned:PATH)

    def __post_init__(self) -> None:
        if self.env not in ENV_IDS:
            raise ValueError(f"env {self.env!r} is not one of {', '.join(ENV_IDS)}")
        require_positive(self, "timeout_s")


EVAL_MODALITIES = ("rgb", "depth")  # what vision perception needs; no segmentation rendered


def episode_config(spec: EpisodeSpec, options: EvalOptions) -> EpisodeConfig:
    """The episode of ``spec`` run the ``options`` way: the env samples the task from the seed."""
    return EpisodeConfig(
        spec.family,
        spec.seed,
        spec.instruction,
        options.planner,
        options.llm,
        options.perception,
        max_steps=options.max_steps,
        env=options.env,
        modalities=EVAL_MODALITIES,
        env_samples_task=True,
        chain=spec.suite == "chains",  # a chain brings its own scene; the budget is per task
        memory=options.memory,
        embedder=options.embedder,
        policies=options.policies,
    )


def run_episode(spec: EpisodeSpec, options: EvalOptions, out_dir: str) -> dict[str, Any]:
    """Run one episode (in a worker) and return its result row."""
    from embodied.evaluation.perturb import Perturber
    from embodied.recording.recorder import Recorder

    episode = build_episode(episode_config(spec, options))
    recorder: Recorder | None = None
    perturber: Perturber | None = None
    try:
        if options.record:
            recorder = Recorder(Path(out_dir) / "episodes" / spec.id.replace("/", "-"), video=options.video)
            episode.agent.tracer = recorder
        if spec.perturbation:
            rng = np.random.default_rng([spec.seed, 99])
            perturber = Perturber(episode.agent.tracer, episode.env, spec.perturbation, rng)
            episode.agent.tracer = perturber
        row = _run_chain(episode.agent, episode.env, spec) if episode.config.chain else _run_one(episode, spec)
    finally:
        episode.close()
    row["perturbation_applied"] = perturber.applied if perturber else None
    if recorder is not None:
        row["report"] = str(recorder.finish(row)["report"])
    return row


def _run_one(episode: Episode, spec: EpisodeSpec) -> dict[str, Any]:
    from embodied.evaluation.verdict import verdict

    result = episode.run()
    row = {**asdict(spec), **{k: v for k, v in asdict(result).items() if k != "stats"}}
    row["control_steps"] = result.stats.get("control_steps", 0)
    judged = verdict(result, episode.env)  # ground truth judges once the agent is done; the agent never reads it
    row.update(judged)
    episode.agent.tracer.event("ground_truth", success=result.success, **judged)
    if episode.memory is not None:
        row["memory_skills_used"] = sorted(result.stats.get("memory", {}).get("skills_used", {}))
    return row


def _run_chain(agent: Any, env: Any, spec: EpisodeSpec) -> dict[str, Any]:
    """Pursue the chain's tasks in a row without a reset; stop at the first failed link."""
    from embodied.agent.loop import claims_done
    from embodied.evaluation.verdict import rejected_atoms, undone
    from envs.tasks.chains import sample_chain

    tasks = sample_chain(spec.seed)
    obs, info = env.reset(seed=spec.seed, options={"task": tasks[0]})
    agent.tracer.on_step(obs, info)
    last = _LastStep(agent.tracer, obs, info)
    agent.tracer = last
    links, totals = [], {"turns": 0, "skill_calls": 0, "sim_time_s": 0.0, "wall_time_s": 0.0}
    broke = ""
    for i, task in enumerate(tasks):
        if i:
            env.unwrapped.with_task(task)
        result = agent.pursue(env, last.obs, last.info, task.instruction)
        world = env.unwrapped.world_state()  # ground truth, judged here once the link is over
        ok = bool(env.unwrapped.task.success(world))
        undid = undone(tasks, i, world) if ok else []
        claimed = claims_done(result.reason)
        links.append(
            {
                "instruction": task.instruction,
                "success": ok and not undid,
                "reason": result.reason,
                "false_success": claimed and not ok,
                "undid": undid,
            }
        )
        if claimed and not ok:
            links[-1]["rejected"] = rejected_atoms(env, result.stats.get("last_seen", {}))
        for key in totals:
            totals[key] += getattr(result, key)
        if not ok or undid:
            why = f"it undid earlier work: {'; '.join(undid)}" if ok else result.reason
            broke = f"link {i + 1} of {len(tasks)} ({task.instruction!r}) broke the chain: {why}"
            break
    chain_length = sum(link["success"] for link in links)  # links stop at the first failure
    return {
        **asdict(spec),
        **totals,
        "success": chain_length == len(tasks),
        "verified": chain_length == len(tasks),
        "reason": broke or f"all {len(tasks)} tasks in a row",
        "chain_length": chain_length,
        "links": links,
        "claimed_done": claims_done(links[-1]["reason"]),
        "false_success": any(link["false_success"] for link in links),
        "missed_success": False,
        "rejected": [why for link in links for why in link.get("rejected", [])],
        "planner": agent.planner.name,
    }


class _LastStep(TracerWrapper):
    """Remembers the latest observation (the next chain link starts from it)."""

    def __init__(self, inner: Tracer, obs: dict[str, Any], info: dict[str, Any]) -> None:
        super().__init__(inner)
        self.obs, self.info = obs, info

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.obs, self.info = obs, info
        super().on_step(obs, info)


def failed_row(spec: EpisodeSpec, reason: str) -> dict[str, Any]:
    """The row of an episode whose worker crashed or hung."""
    return {
        **asdict(spec),
        "success": False,
        "verified": False,
        "reason": reason,
        "turns": 0,
        "skill_calls": 0,
        "sim_time_s": 0.0,
        "wall_time_s": 0.0,
        "worker_failure": True,
    }


def threads_per_worker(workers: int) -> int:
    """CPU threads each of ``workers`` parallel workers may use: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // workers)


def _limit_threads(threads: int) -> None:
    """Cap the OpenMP/BLAS threads of this worker before torch loads. Two workers with a thread per core
    each oversubscribe the cores, and spinning OpenMP threads then made an episode with the local
    language model take 45 s instead of 5 (measured: 2 workers on 2 cores)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class ResultsFile:
    """``results.jsonl``: one row per finished episode, appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a killed run: that episode is simply run again
        return rows

    def done_ids(self) -> set[str]:
        return {r["id"] for r in self.rows()}

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()


OnResult = Callable[[dict[str, Any]], None]


def run_local(
    specs: list[EpisodeSpec],
    options: EvalOptions,
    out_dir: Path,
    workers: int,
    on_result: OnResult,
    lock: FolderLock | None = None,
    episodes_per_worker: int | None = None,
) -> None:
    """The episodes on ``workers`` warm spawned processes (:class:`~.pool.WorkerPool`), each episode
    killed after ``timeout_s``; a crashed or killed worker is replaced.

    The workers die with this process; each holds ``lock`` (when given) until it is gone.
    """
    ctx = mp.get_context("spawn")
    with ParentWatch(ctx) as watch:
        hold = lock.for_worker() if lock is not None else None
        job = functools.partial(run_episode, options=options, out_dir=str(out_dir))
        setup = functools.partial(_limit_threads, threads_per_worker(workers))
        ties = (watch.lifeline, hold)
        pool = WorkerPool(ctx, job, workers, setup, ties, options.timeout_s, episodes_per_worker)
        pool.run(specs, on_result, lambda spec, reason: on_result(failed_row(spec, reason)))


def run_ray(specs: list[EpisodeSpec], options: EvalOptions, out_dir: Path, address: str, on_result: OnResult) -> None:
    """The episodes on warm Ray actors (:class:`~.pool.RayActorPool`), one per CPU the cluster has free;
    ``address`` ``local`` starts a local Ray instance. An episode past ``timeout_s`` or an actor that dies
    costs that episode only, as with local workers."""
    try:
        import ray
    except ImportError as e:
        raise DependencyNotInstalled("ray", "ray", "distributed evaluation (--ray)") from e
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address != "local":
            kwargs["address"] = address
        ray.init(**kwargs)
    try:
        free_cpus = int(ray.available_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        actors = max(1, min(free_cpus, len(specs)))
        job = functools.partial(run_episode, options=options, out_dir=str(out_dir))
        pool = RayActorPool(ray, job, actors, functools.partial(_limit_threads, 1), options.timeout_s)
        pool.run(specs, on_result, lambda spec, reason: on_result(failed_row(spec, reason)))
    finally:
        if started_here:
            ray.shutdown()


def evaluate(
    specs: Iterable[EpisodeSpec],
    options: EvalOptions,
    out_dir: Path,
    workers: int = 1,
    ray_address: str | None = None,
    on_result: OnResult | None = None,
    episodes_per_worker: int | None = None,
) -> list[dict[str, Any]]:
    """Run the episodes not yet in ``out_dir/results.jsonl``; returns every row (old and new).

    ``episodes_per_worker`` (local workers only): a worker exits after that many episodes and a fresh
    one takes over (1: a fresh process per episode); None keeps the workers warm to the end.

    Raises :class:`~embodied.evaluation.folder_lock.EvalFolderBusy` at once when another
    evaluation is running into ``out_dir``.
    """
    with FolderLock(out_dir) as lock:
        results = ResultsFile(out_dir / "results.jsonl")
        done = results.done_ids()
        todo = [s for s in specs if s.id not in done]

        def record(row: dict[str, Any]) -> None:
            results.append(row)
            if on_result is not None:
                on_result(row)

        if todo:
            if ray_address:
                run_ray(todo, options, out_dir, ray_address, record)
            else:
                run_local(todo, options, out_dir, max(1, workers), record, lock, episodes_per_worker)
        return results.rows()
