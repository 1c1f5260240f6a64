"""``embodied record``: run the scripted experts on task families and write a LeRobot v3.0 dataset.

Each episode is an ordinary agent episode (any planner; the classical one by default) whose
control steps a :class:`~embodied.learning.demos.DemoTracer` keeps: both cameras as H.264 videos,
``observation.state`` (proprio), ``observation.ee_pose``, the ``action`` the env received, the
skill call running at each step (``skill.call``, an index into the episode's ``skill_calls``) and
its ``skill.target`` as perception saw it. The episode's row in the dataset's episode table keeps
what replaying it needs (family, seed, backend) and how it went (success by ground truth, the calls
with their results, every prop's final pose).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embodied.datasets import DatasetWriter, Feature
from embodied.factory import EpisodeConfig, UsageError, build_episode
from embodied.learning.demos import EE_POSE_NAMES, DemoTracer
from envs.base import tabletop_env
from envs.tasks import FAMILIES, WorldState
from policies.learned.features import ACTION_NAMES, STATE_NAMES, TARGET_NAMES

log = logging.getLogger(__name__)

ROBOT_TYPE = "embodied-panda"
RECORD_MODALITIES = ("rgb", "depth")  # what vision perception needs; the videos keep the rgb


@dataclass(frozen=True)
class RecordConfig:
    """What to record; checks itself and names the bad field, its value and what is allowed.

    Attributes:
        tasks: the task families (one or more); each gets ``episodes`` episodes, the families taking
            turns seed by seed so an interrupted recording still holds all of them.
        episodes: how many episodes per family (seeds ``seed`` .. ``seed + episodes - 1``).
        out: the dataset folder to create (must not exist or be empty).
        seed: the first seed.
        planner: ``classical`` (default: the scripted experts without a language model) or any
            planner of ``embodied run``.
        perception: ``vision`` or ``ground_truth``.
        env: the simulator backend.
        max_steps: control steps before an episode is cut off.
        keep_failed: keep episodes whose task failed (their calls are still labelled with their results).
    """

    tasks: tuple[str, ...]
    episodes: int
    out: Path
    seed: int = 0
    planner: str = "classical"
    perception: str = "vision"
    env: str = "tabletop"
    max_steps: int = 2000
    keep_failed: bool = True
    llm: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks))
        if not self.tasks:
            raise UsageError(f"give at least one task family; choose from {', '.join(sorted(FAMILIES))}")
        for task in self.tasks:
            if task not in FAMILIES:
                raise UsageError(f"task {task!r} is not a task family; choose one of {', '.join(sorted(FAMILIES))}")
        if self.episodes < 1:
            raise UsageError(f"episodes {self.episodes} must be >= 1")
        if self.seed < 0:
            raise UsageError(f"seed {self.seed} is negative: give an integer >= 0")

    def episode_config(self, task: str, seed: int) -> EpisodeConfig:
        return EpisodeConfig(
            task,
            seed,
            planner=self.planner,
            llm=self.llm,
            perception=self.perception,
            env=self.env,
            max_steps=self.max_steps,
            modalities=RECORD_MODALITIES,
        )


def features(image_size: tuple[int, int]) -> dict[str, Feature]:
    """The dataset's features for camera images of ``(height, width)``."""
    h, w = image_size
    video = Feature("video", (h, w, 3), ("height", "width", "channels"))
    return {
        "observation.images.front": video,
        "observation.images.top": video,
        "observation.state": Feature("float32", (len(STATE_NAMES),), STATE_NAMES),
        "observation.ee_pose": Feature("float32", (len(EE_POSE_NAMES),), EE_POSE_NAMES),
        "action": Feature("float32", (len(ACTION_NAMES),), ACTION_NAMES),
        "skill.call": Feature("int64", (1,), None),
        "skill.target": Feature("float32", (len(TARGET_NAMES),), TARGET_NAMES),
        "next.done": Feature("bool", (1,), None),
    }


def poses(world: WorldState) -> dict[str, list[float]]:
    """Every prop's final pose ``[x, y, z, yaw]`` (ground truth), for replay checks."""
    return {name: [*map(float, o.pos), float(o.yaw)] for name, o in sorted(world.objects.items())}


@dataclass
class RecordSummary:
    episodes: int = 0
    frames: int = 0
    successes: int = 0
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


OnEpisode = Callable[[str, int, dict[str, Any]], None]


def record(config: RecordConfig, on_episode: OnEpisode | None = None) -> RecordSummary:
    """Run and write every episode of ``config``; a Ctrl-C keeps every episode finished before it."""
    summary = RecordSummary()
    t0 = time.perf_counter()
    writer: DatasetWriter | None = None
    try:
        for seed, task in ((s, t) for s in range(config.seed, config.seed + config.episodes) for t in config.tasks):
            row, demo_parts = _run_one(config, task, seed)
            if row.get("interrupted"):
                summary.interrupted = True
                break
            if not row["success"] and not config.keep_failed:
                summary.skipped.append(f"{task} {seed}")
                continue
            frames, videos, image_size = demo_parts
            if writer is None:
                writer = DatasetWriter.create(config.out, fps=row.pop("fps"), features=features(image_size))
            else:
                row.pop("fps")
            instruction = row.pop("instruction")
            writer.add_episode(task=instruction, frames=frames, videos=videos, meta=row)
            summary.episodes += 1
            summary.frames += len(frames["action"])
            summary.successes += bool(row["success"])
            if on_episode is not None:
                on_episode(task, seed, {**row, "instruction": instruction, "length": len(frames["action"])})
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if writer is not None:
            writer.finalize()
        summary.seconds = time.perf_counter() - t0
    return summary


def _run_one(config: RecordConfig, task: str, seed: int) -> tuple[dict[str, Any], Any]:
    with build_episode(config.episode_config(task, seed)) as episode:
        tracer = DemoTracer(episode.agent.perceiver)
        episode.agent.tracer = tracer
        result = episode.run()
        demo = tracer.finish()
        world = tabletop_env(episode.env).world_state()
        fps = round(float(episode.env.unwrapped.metadata["render_fps"]))
    if result.interrupted:
        return {"interrupted": True}, None
    videos = demo.videos()
    image_size = next(iter(videos.values())).shape[1:3]
    row = {
        "instruction": result.instruction,
        "fps": fps,
        "family": task,
        "seed": seed,
        "env": config.env,
        "planner": result.planner,
        "perception": config.perception,
        "success": bool(result.success),
        "verified": bool(result.verified),
        "reason": result.reason,
        "skill_calls": [json.dumps(c.to_json()) for c in demo.calls],
        "final_poses": json.dumps(poses(world)),
    }
    return row, (demo.frames(), videos, image_size)
