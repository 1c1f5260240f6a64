"""A pool of warm worker processes that run many episodes each, and still isolate crashes and hangs.

A spawned process pays its imports (MuJoCo, OpenCV, the planner, perhaps torch and a language
model) once, then runs episode after episode. The parent hands each worker one episode at a time
and keeps the clock: a worker that runs past the timeout is killed, one that dies (a segfault in a
native library, the OOM killer) is noticed, and either way that episode alone is recorded as failed
and a fresh worker takes the next one. Workers die with the parent (:mod:`~.lifeline`) and hold the
results folder's lock until they are gone (:mod:`~.folder_lock`).
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from embodied.evaluation.folder_lock import WorkerHold
from embodied.evaluation.lifeline import Lifeline, tie_to_parent
from embodied.evaluation.suites import EpisodeSpec

log = logging.getLogger(__name__)

Job = Callable[[EpisodeSpec], dict[str, Any]]
OnRow = Callable[[dict[str, Any]], None]
OnFailure = Callable[[EpisodeSpec, str], None]
POLL_S = 0.2  # how often the parent checks the clock and its workers
STOP_WAIT_S = 10.0  # how long an idle worker gets to exit after being told to


def serve(
    job: Job,
    inbox: Any,
    results: Any,
    setup: Callable[[], None],
    episodes: int | None,
    lifeline: Lifeline,
    _hold: WorkerHold | None,
) -> None:
    """A worker's body: run each episode of ``inbox`` until told to stop (``None``) or, when
    ``episodes`` is set, until it has run that many.

    ``job`` raising is that episode's failure, reported as ``("error", spec, message)``; the worker
    goes on with the next one. ``_hold`` keeps the results folder locked until this process is gone.
    """
    tie_to_parent(lifeline)  # before anything else: no episode may outlive the evaluation
    setup()
    ran = 0
    while (episodes is None or ran < episodes) and (spec := inbox.get()) is not None:
        ran += 1
        try:
            results.put(("row", spec, {**job(spec), "worker_pid": os.getpid()}))
        except Exception as e:  # noqa: BLE001 - any failure becomes this episode's failed row
            results.put(("error", spec, f"episode raised {type(e).__name__}: {e}"))


@dataclass
class _Slot:
    """One worker process, its own inbox and the episode it is running (None: idle)."""

    proc: Any
    inbox: Any
    spec: EpisodeSpec | None = None
    started: float = 0.0
    handed: int = 0  # episodes handed to this worker


class WorkerPool:
    """``workers`` warm processes of context ``ctx`` running ``job`` (a picklable callable).

    Args:
        setup: runs in each worker before its first episode (thread limits, environment).
        ties: the lifeline and the folder hold every worker receives.
        timeout_s: wall seconds an episode may take before its worker is killed.
        episodes_per_worker: a worker exits after this many episodes and a fresh one takes over
            (None: workers live until the pool is done; 1: a fresh process per episode).
    """

    def __init__(
        self,
        ctx: Any,
        job: Job,
        workers: int,
        setup: Callable[[], None],
        ties: tuple[Lifeline, WorkerHold | None],
        timeout_s: float,
        episodes_per_worker: int | None = None,
    ) -> None:
        if episodes_per_worker is not None and episodes_per_worker < 1:
            raise ValueError(f"episodes_per_worker={episodes_per_worker}: choose 1 or more, or None")
        self.ctx, self.job, self.workers, self.setup, self.ties = ctx, job, workers, setup, ties
        self.timeout_s = timeout_s
        self.episodes_per_worker = episodes_per_worker
        self.results: Any = ctx.Queue()
        self.started_workers = 0

    def _start(self) -> _Slot:
        inbox = self.ctx.Queue()
        args = (self.job, inbox, self.results, self.setup, self.episodes_per_worker, *self.ties)
        proc = self.ctx.Process(target=serve, args=args, daemon=True)
        proc.start()
        self.started_workers += 1
        return _Slot(proc, inbox)

    def run(self, specs: Sequence[EpisodeSpec], on_row: OnRow, on_failure: OnFailure) -> None:
        """Run every episode of ``specs``; each ends in exactly one ``on_row`` or ``on_failure`` call."""
        pending = deque(specs)
        slots = [self._start() for _ in range(min(self.workers, len(pending)))]
        try:
            while pending or any(s.spec is not None for s in slots):
                for i, slot in enumerate(slots):
                    if slot.spec is None and pending:
                        if slot.handed == self.episodes_per_worker:  # it has exited by itself
                            slot.proc.join()
                            slots[i] = slot = self._start()
                        slot.spec, slot.started = pending.popleft(), time.monotonic()
                        slot.inbox.put(slot.spec)
                        slot.handed += 1
                self._collect(slots, on_row, on_failure)
                for i, slot in enumerate(slots):
                    reason = self._lost(slot)
                    if reason and slot.spec is not None:
                        spec, slot.spec = slot.spec, None
                        on_failure(spec, reason)
                        slots[i] = self._start() if pending else slot
        finally:
            _stop(slots)

    def _collect(self, slots: list[_Slot], on_row: OnRow, on_failure: OnFailure) -> None:
        try:
            kind, spec, payload = self.results.get(timeout=POLL_S)
        except queue.Empty:
            return
        for slot in slots:
            if slot.spec is not None and slot.spec.id == spec.id:
                slot.spec = None
        if kind == "row":
            on_row(payload)
        else:
            on_failure(spec, payload)

    def _lost(self, slot: _Slot) -> str:
        """Why ``slot``'s episode is lost ('' when it is running fine); kills a worker past the timeout."""
        if slot.spec is None:
            return ""
        if time.monotonic() - slot.started > self.timeout_s:
            slot.proc.kill()
            slot.proc.join()
            return f"timed out after {self.timeout_s:.0f} s"
        if not slot.proc.is_alive() and self.results.empty():
            return f"worker crashed (exit code {slot.proc.exitcode})"
        return ""


def _stop(slots: list[_Slot]) -> None:
    for slot in slots:
        if slot.proc.is_alive():
            slot.inbox.put(None)
    deadline = time.monotonic() + STOP_WAIT_S
    for slot in slots:
        slot.proc.join(timeout=max(0.0, deadline - time.monotonic()))
        if slot.proc.is_alive():
            slot.proc.kill()
            slot.proc.join()


class EpisodeActor:
    """The body of one Ray actor (see :class:`RayActorPool`): ``setup`` once, then episode after episode."""

    def __init__(self, job: Job, setup: Callable[[], None]) -> None:
        setup()
        self.job = job

    def run(self, spec: EpisodeSpec) -> dict[str, Any]:
        """One episode's row."""
        return {**self.job(spec), "worker_pid": os.getpid()}


@dataclass
class _Running:
    """An episode handed to an actor."""

    actor: Any
    spec: EpisodeSpec
    started: float


class RayActorPool:
    """:class:`WorkerPool` on a Ray cluster: ``actors`` Ray actors (a CPU each) that keep their imports,
    renderer and planner warm and run one episode at a time each.

    An episode that raises is that episode's failure and the actor goes on; an actor that dies (a
    segfault, the OOM killer, a lost node) or runs an episode past ``timeout_s`` is killed and a fresh
    one takes the next episode. Actors are never restarted or retried by Ray itself, so no episode
    runs twice.

    Args:
        ray: the imported ``ray`` module (initialised).
        job: a picklable callable, ``spec -> row``.
        actors: how many actors run at once.
        setup: runs in each actor before its first episode.
        timeout_s: wall seconds an episode may take before its actor is killed.
    """

    def __init__(self, ray: Any, job: Job, actors: int, setup: Callable[[], None], timeout_s: float) -> None:
        if actors < 1:
            raise ValueError(f"actors={actors}: choose 1 or more")
        self.ray, self.job, self.actors, self.setup, self.timeout_s = ray, job, actors, setup, timeout_s
        self._actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(EpisodeActor)
        self.started_workers = 0

    def _start(self) -> Any:
        self.started_workers += 1
        return self._actor_class.remote(self.job, self.setup)

    def run(self, specs: Sequence[EpisodeSpec], on_row: OnRow, on_failure: OnFailure) -> None:
        """Run every episode of ``specs``; each ends in exactly one ``on_row`` or ``on_failure`` call."""
        pending = deque(specs)
        idle = [self._start() for _ in range(min(self.actors, len(pending)))]
        running: dict[Any, _Running] = {}
        try:
            while pending or running:
                while idle and pending:
                    actor, spec = idle.pop(), pending.popleft()
                    running[actor.run.remote(spec)] = _Running(actor, spec, time.monotonic())
                ready, _ = self.ray.wait(list(running), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    job = running.pop(ref)
                    row, reason, actor_lost = self._outcome(ref)
                    if not actor_lost:
                        idle.append(job.actor)
                    else:
                        self.ray.kill(job.actor)
                        idle.extend([self._start()] if pending else [])
                    if reason:
                        on_failure(job.spec, reason)
                    else:
                        on_row(row)
                for ref, job in list(running.items()):
                    if time.monotonic() - job.started > self.timeout_s:
                        del running[ref]
                        self.ray.kill(job.actor)
                        idle.extend([self._start()] if pending else [])
                        on_failure(job.spec, f"timed out after {self.timeout_s:.0f} s")
        finally:
            for actor in [*idle, *(job.actor for job in running.values())]:
                self.ray.kill(actor)

    def _outcome(self, ref: Any) -> tuple[dict[str, Any], str, bool]:
        """``(row, why it failed or '', whether the actor is lost)`` of a finished call."""
        from ray.exceptions import RayActorError, RayTaskError

        try:
            return self.ray.get(ref), "", False
        except RayActorError as e:
            first_line = next(iter(str(e).splitlines()), "no message")
            return {}, f"worker crashed (Ray actor died: {first_line})", True
        except RayTaskError as e:
            cause = e.cause
            return {}, f"episode raised {type(cause).__name__}: {cause}", False
        except Exception as e:  # noqa: BLE001 - any other failure of the call is this episode's failure
            return {}, f"ray call failed: {type(e).__name__}: {e}", True
