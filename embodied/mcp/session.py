"""One live episode for outside agents: the env, the perceiver, the skills and the recording.

:class:`RobotSession` is what ``embodied mcp serve`` serves, with no MCP in it: every method is a
plain call that runs on one thread (the server's robot thread; MuJoCo's GL context and the
perceiver's tracks belong to it). It is assembled by :func:`~embodied.factory.build_episode` from
the same options as ``embodied run``, so user skills (``--skills``), entry-point skills and the
perceiver are the ones an in-process episode gets.

Every call a client makes goes into the episode's trace and video as a planner's call would: a
``tool_call`` and a ``tool_result`` event (the caption bar shows the running skill), an
``observation`` for ``observe``, a ``verification`` for ``verify``. An episode is one folder under
``out`` (``<time>-mcp-<task>-<seed>``, as ``embodied run`` writes them): it starts at a ``reset``
(the server starts with one) and ends at the next ``reset``, at the end of ``run_episode``, or
when the server stops; ending writes ``episode.json`` and ``report.html``. After ``run_episode``
the scene stays as the agent left it, and the next call records into a new folder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from embodied.agent.loop import Agent
from embodied.core.decision import Atom
from embodied.core.verification import format_atom, unmet
from embodied.errors import EmbodiedError
from embodied.factory import EpisodeConfig, build_episode, make_planner, make_task
from embodied.mcp.goals import parse_goal
from embodied.mcp.limits import CallRefused
from embodied.memory.composite import Program, as_skill
from embodied.recording.recorder import Recorder
from embodied.recording.tracing import NullTracer, TracerWrapper
from embodied.skills.registry import SkillContext, SkillRegistry, SkillResult, call_text
from perception.describe import describe
from perception.scene_graph import Perceiver, SceneGraph
from policies.driver import GRIPPER_CLOSE_CMD, EnvDriver

log = logging.getLogger(__name__)

CLIENT = "mcp client"  # the "planner" of an episode an outside agent drives
CLOSED_BELOW = 0.06  # metres: fingers narrower after an episode were left closed (open: 7.2-8 cm; blocks: <= 4.5 cm)


@dataclass(frozen=True)
class ServeConfig:
    """What ``embodied mcp serve`` holds: the episode options of ``embodied run`` plus where to record.

    Attributes:
        episode: the env, task, seed, perception, skills, memory and LLM options (checked by
            :class:`~embodied.factory.EpisodeConfig`); ``planner`` is ``run_episode``'s default.
        out: the run folder; each episode is a folder in it, and it is the only place a client may
            read files from (as resources).
        video: record ``video.mp4`` for each episode.
    """

    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    out: Path = Path("runs")
    video: bool = True


@dataclass
class Progress:
    """How far the running call has got (read by the server's thread for progress notifications)."""

    steps: int = 0
    total: int = 0
    message: str = ""


class SessionTracer(TracerWrapper):
    """Forwards to the current episode's recorder under a lock, keeps the last step and the progress,
    and stops the running skill within one control step once :attr:`cancelled` is set."""

    def __init__(self) -> None:
        super().__init__(NullTracer())
        self.lock = threading.RLock()
        self.last: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.progress = Progress()
        self.cancelled = threading.Event()

    def event(self, kind: str, **data: Any) -> None:
        with self.lock:
            super().event(kind, **data)

    def set_overlay(self, **fields: str) -> None:
        with self.lock:
            super().set_overlay(**fields)
        label = " | ".join(v for k in ("subgoal", "skill") if (v := fields.get(k)))
        if label:
            self.progress.message = label

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.last = (obs, info)
        self.progress.steps += 1
        with self.lock:
            super().on_step(obs, info)
        if self.cancelled.is_set():
            raise KeyboardInterrupt  # the agent and the client's skill call both end on it, cleanly


@dataclass
class _Recording:
    """The episode being recorded: its folder, what it was reset to, and what the client did."""

    recorder: Recorder
    task: str
    seed: int
    instruction: str
    t0: float = field(default_factory=time.perf_counter)
    sim0: float = 0.0
    steps0: int = 0
    turns: int = 0
    skill_calls: int = 0
    refused: int = 0
    verified: bool = False
    goal: tuple[Atom, ...] = ()


class RobotSession:
    """The live episode (see the module docstring); call it from one thread only, except :meth:`record_refusal`
    and :meth:`cancel`.

    Args:
        config: what to serve.
        permits: which skill names clients (and ``run_episode``'s planner) may use; default: all.
    """

    def __init__(self, config: ServeConfig, permits: Callable[[str], bool] | None = None) -> None:
        self.config = config
        self.episode = build_episode(config.episode)
        self.tracer = SessionTracer()
        full = self.episode.agent.skills
        allowed = [s for s in full if permits is None or permits(s.name)]
        self.skills = SkillRegistry(allowed)  # what run_episode's planner may call
        self.tools = SkillRegistry(allowed)  # what clients may call: the skills and memory's composites
        self.all_skill_names = [*full.names, *self._add_composites(permits)]
        self.current = config.episode  # the options of the last reset
        self.instruction = ""
        self.driver: EnvDriver | None = None
        self.recording: _Recording | None = None
        self.last_paths: dict[str, Path] = {}
        try:
            self.reset(config.episode.task, config.episode.seed, config.episode.instruction)
        except BaseException:
            self.episode.close()
            raise

    def _add_composites(self, permits: Callable[[str], bool] | None) -> list[str]:
        """Offer the memory's composite skills that run on the allowed skills; returns every composite's name."""
        memory = self.episode.memory
        if memory is None:
            return []
        names = []
        for stored in memory.store.skills():
            names.append(stored.name)
            if stored.name in self.tools or (permits is not None and not permits(stored.name)):
                continue
            try:
                self.tools.register(as_skill(Program.from_json(stored.program), self.skills))
            except EmbodiedError as e:
                log.warning("memory skill %s is not offered: %s", stored.name, e)
        return names

    # ------------------------------------------------------------------ episodes
    @property
    def env(self) -> Any:
        return self.episode.env

    @property
    def perceiver(self) -> Perceiver:
        return self.episode.agent.perceiver

    def reset(self, task: str | None = None, seed: int | None = None, instruction: str | None = None) -> dict[str, Any]:
        """End the current episode and start a new one: a new scene of ``task`` (a family or an instruction)."""
        seed = self.current.seed if seed is None else seed
        config = replace(self.current, task=task or self.current.task, seed=seed, instruction=instruction)
        instance = make_task(config)  # UsageError (what is valid) before anything is ended
        self.end_episode("the client called reset")
        obs, info = self.env.reset(seed=seed, options={"task": instance})
        reset_tracks = getattr(self.perceiver, "reset", None)
        if callable(reset_tracks):
            reset_tracks()
        self.current, self.instruction = config, instance.instruction
        self.driver = EnvDriver(self.env, self.perceiver, obs, info, on_step=self.tracer.on_step)
        self.tracer.last = (obs, info)
        self._start_recording()
        return {"task": config.task, "seed": seed, "instruction": instance.instruction, **self.where()}

    def where(self) -> dict[str, str]:
        """The current episode's folder (relative to the run folder), if one is being recorded."""
        return {"episode": self.recording.recorder.folder.name} if self.recording else {}

    def _start_recording(self) -> _Recording:
        assert self.driver is not None
        label = self.current.task if self.current.is_family else "instruction"
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-mcp-{label}-{self.current.seed}"
        folder, n = self.config.out / stem, 1
        while folder.exists():
            n += 1
            folder = self.config.out / f"{stem}-{n}"
        recorder = Recorder(folder, video=self.config.video, fps=self.env.metadata["render_fps"])
        info = self.driver.info
        rec = _Recording(recorder, label, self.current.seed, self.instruction, sim0=float(info.get("sim_time", 0.0)))
        rec.steps0 = self.driver.steps
        with self.tracer.lock:
            self.tracer.inner, self.recording = recorder, rec
            recorder.on_step(self.driver.obs, info)
        self.tracer.event("episode_start", instruction=self.instruction, planner=CLIENT)
        self.tracer.set_overlay(instruction=self.instruction, subgoal="", skill="", thought="driven over MCP")
        return rec

    def _recording(self) -> _Recording:
        return self.recording or self._start_recording()

    def end_episode(self, reason: str, summary: dict[str, Any] | None = None) -> dict[str, Path]:
        """Finish the current recording (``episode.json``, ``report.html``); returns its files (none if none)."""
        rec = self.recording
        if rec is None:
            return {}
        if summary is None:
            summary = self._client_summary(rec, reason)
            self.tracer.event("episode_end", **{k: v for k, v in summary.items() if k not in ("stats", "task", "seed")})
        with self.tracer.lock:
            self.tracer.inner, self.recording = NullTracer(), None
        summary = {"task": rec.task, "seed": rec.seed, "perception": self.config.episode.perception, **summary}
        self.last_paths = rec.recorder.finish({**summary, "driven_by": "mcp"})
        return self.last_paths

    def _client_summary(self, rec: _Recording, reason: str) -> dict[str, Any]:
        assert self.driver is not None
        info = self.driver.info
        return {
            "instruction": rec.instruction,
            "success": bool(info.get("success", False)),
            "verified": rec.verified,
            "reason": reason,
            "turns": rec.turns,
            "skill_calls": rec.skill_calls,
            "sim_time_s": round(float(info.get("sim_time", 0.0)) - rec.sim0, 3),
            "wall_time_s": round(time.perf_counter() - rec.t0, 3),
            "planner": CLIENT,
            "goal_atoms": rec.goal,
            "reflections": (),
            "interrupted": False,
            "stats": {"control_steps": self.driver.steps - rec.steps0, "refused_calls": rec.refused},
        }

    def close(self) -> None:
        """End the episode (its files are written) and release the env and the memory."""
        try:
            self.end_episode("the server stopped")
        finally:
            self.episode.close()

    def cancel(self) -> None:
        """Stop the running skill or episode within one control step (from any thread)."""
        self.tracer.cancelled.set()

    # ------------------------------------------------------------------ calls
    def _live_driver(self) -> EnvDriver:
        assert self.driver is not None
        if self.driver.done:
            why = self.driver.info.get("physics_error") or "its step budget (max_steps) is used up"
            raise CallRefused(f"the env's episode has ended ({why}); call reset to start a new one")
        return self.driver

    def perceive(self) -> SceneGraph:
        """Re-perceive the current observation (recorded as the turn's observation by the caller)."""
        assert self.driver is not None
        return self.driver.perceive()

    def begin_turn(self) -> int:
        """Count one client call as a turn of the current episode; returns its number."""
        with self.tracer.lock:  # record_refusal counts turns from the server's thread
            rec = self._recording()
            rec.turns += 1
            return rec.turns

    def call_skill(self, name: str, arguments: dict[str, Any]) -> SkillResult:
        """Run one skill as a planner's call would run, recorded in the trace and the video."""
        driver = self._live_driver()
        turn = self.begin_turn()
        rec = self._recording()
        self.tracer.set_overlay(skill=call_text(name, arguments))
        self.tracer.event("tool_call", turn=turn, name=name, arguments=arguments)
        self.tracer.progress = Progress(0, 0, call_text(name, arguments))
        try:
            result = self.tools.call(name, arguments, SkillContext(driver))
        except KeyboardInterrupt:
            result = SkillResult(
                False, f"{call_text(name, arguments)} was stopped (the call was cancelled)", skill=name
            )
        rec.skill_calls += 1
        self.tracer.event(
            "tool_result", turn=turn, name=name, success=result.success, message=result.message, steps=result.steps
        )
        self.tracer.set_overlay(skill="")
        return result

    def verify(self, goal: str) -> dict[str, Any]:
        """Check goal atoms (or an instruction grounded in the scene) from fresh perception, not ground truth."""
        scene = self.perceive()
        text = goal.strip() or self.instruction
        atoms = parse_goal(text, scene)  # CallRefused (recorded as a refused call) before the turn is counted
        turn = self.begin_turn()
        rec = self._recording()
        missing = unmet(scene, atoms)
        holds = not missing
        self.tracer.event(
            "verification", turn=turn, subgoal=text, holds=holds, missing=[format_atom(a) for a in missing]
        )
        if not goal.strip():
            rec.verified, rec.goal = holds, atoms
        return {
            "goal": text,
            "holds": holds,
            "atoms": [{"atom": format_atom(a), "holds": a not in missing} for a in atoms],
            "checked_from": "perception",
        }

    def record_refusal(self, name: str, arguments: Any, message: str) -> None:
        """Trace a call the limits refused (from any thread); nothing is recorded between episodes."""
        with self.tracer.lock:
            rec = self.recording
            if rec is None:
                return
            rec.turns += 1
            rec.refused += 1
            shown = (
                arguments if isinstance(arguments, dict) and len(str(arguments)) <= 2_000 else {"omitted": "too large"}
            )
            self.tracer.event("tool_call", turn=rec.turns, name=str(name)[:80], arguments=shown)
            self.tracer.event(
                "tool_result",
                turn=rec.turns,
                name=str(name)[:80],
                success=False,
                message=f"refused: {message}",
                steps=0,
            )

    def run_episode(self, instruction: str, planner: str | None = None) -> dict[str, Any]:
        """Let the agent pursue ``instruction`` from the current state with ``planner``; ends the episode."""
        driver = self._live_driver()
        config = replace(self.current, planner=planner or self.config.episode.planner)  # UsageError: llm, no --llm
        agent = Agent(make_planner(config), self.skills, self.perceiver, describe, self.episode.memory, self.tracer)
        rec = self._recording()
        self.tracer.progress = Progress(0, config.max_steps, "starting")
        result = agent.pursue(self.env, driver.obs, driver.info, instruction.strip() or rec.instruction)
        summary = {**asdict(result), "stats": {**result.stats, "client_calls_before": rec.turns}}
        paths = self.end_episode(result.reason, summary)
        self._continue_driver()
        folder = paths["report"].parent.name if "report" in paths else ""
        return {
            "summary": {k: v for k, v in summary.items() if k not in ("stats",)},
            "report": str(paths.get("report", "")),
            "report_resource": f"embodied://runs/{folder}/report.html" if folder else "",
            "episode": folder,
        }

    def _continue_driver(self) -> None:
        """A driver for the next calls, from where the agent left the scene (the gripper as it left it)."""
        assert self.driver is not None and self.tracer.last is not None
        obs, info = self.tracer.last
        driver = EnvDriver(self.env, self.perceiver, obs, info, on_step=self.tracer.on_step)
        driver.steps = self.driver.steps
        driver.done = bool(info.get("physics_error")) or int(info.get("steps", 0)) >= self.current.max_steps
        width = float(obs["proprio"]["gripper_width"][0])
        if width < CLOSED_BELOW:
            driver.gripper_cmd = GRIPPER_CLOSE_CMD
        self.driver = driver
