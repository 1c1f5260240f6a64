"""Recording overhead: the same episodes with and without the recorder's video, side by side.

Runs seeded episodes of about 100, 150 and 400 control steps (classical planner, ground-truth
perception so that only recording differs) ``--rounds`` times each way, alternating (off, on, then
on, off in the next round, so that a drift in the machine's load falls on both sides), and reports
for each episode the median wall times and the overhead ratio (target <= 0.10x of the episode's
time) at the default video size (640x480 per camera view). The time counted is the whole episode as
a run pays it: the recorder's creation, the episode and ``Recorder.finish`` (video finished, report
written); both sides write the trace, ``episode.json`` and ``report.html``. The ratio is the median
of each round's (on - off) / off; the ratio of the fastest run each way is beside it (the least disturbed
by other jobs on a shared machine), and the CPU seconds used each way (this process's threads and
ffmpeg), which other jobs disturb less than wall time.
Run: ``python -m benchmarks.recording`` (writes benchmarks/results/recording.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import envs
from embodied.agent.loop import Agent
from embodied.planners.classical import ClassicalPlanner
from embodied.recording.recorder import DEFAULT_VIDEO_SIZE, Recorder
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver

RESULTS = Path(__file__).parent / "results" / "recording.json"
#: (task, seed): episodes of 98, 147 and 437 control steps.
EPISODES = (("push_to_region", 1), ("tower", 3), ("clear_table", 2))


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process (all its threads) and of its finished children (ffmpeg)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def episode(video: bool, task: str, seed: int) -> tuple[float, int, float, float]:
    """Wall seconds of one recorded episode, its control steps, and the CPU seconds of this process and
    of ffmpeg during it."""
    env = gym.make(envs.TABLETOP_ID, task=task, seed=seed, modalities=("rgb",))
    with tempfile.TemporaryDirectory() as tmp:
        own, children = _cpu()
        t = time.perf_counter()
        recorder = Recorder(Path(tmp), video=video, fps=20)
        agent = Agent(ClassicalPlanner(), default_registry(), GroundTruthPerceiver(env), describe, tracer=recorder)
        result = agent.run(env, seed=seed)
        recorder.finish(vars(result))
        elapsed = time.perf_counter() - t
        own_after, children_after = _cpu()
    env.close()
    return elapsed, int(result.stats["control_steps"]), own_after - own, children_after - children


def measure(task: str, seed: int, rounds: int) -> dict[str, object]:
    """Side-by-side figures of one episode."""
    on: list[float] = []
    off: list[float] = []
    ratios: list[float] = []
    cpu: dict[bool, list[float]] = {False: [], True: []}
    ffmpeg_cpu: list[float] = []
    steps = 0
    for r in range(rounds):
        pair: dict[bool, float] = {}
        for video in (False, True) if r % 2 == 0 else (True, False):
            pair[video], steps, own, children = episode(video, task, seed)
            cpu[video].append(own + children)
            if video:
                ffmpeg_cpu.append(children)
        off.append(pair[False])
        on.append(pair[True])
        ratios.append((pair[True] - pair[False]) / pair[False])
    return {
        "task": task,
        "seed": seed,
        "control_steps": steps,
        "episode_without_video_s": float(np.median(off)),
        "episode_with_video_s": float(np.median(on)),
        "recording_overhead_ratio": float(np.median(ratios)),
        "overhead_ratio_per_round": [round(x, 3) for x in ratios],
        "runs_without_video_s": [round(x, 3) for x in off],
        "runs_with_video_s": [round(x, 3) for x in on],
        "overhead_ratio_of_fastest_runs": (min(on) - min(off)) / min(off),
        "cpu_without_video_s": float(np.median(cpu[False])),
        "cpu_with_video_s": float(np.median(cpu[True])),
        "ffmpeg_cpu_s": float(np.median(ffmpeg_cpu)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--episode", action="append", default=None, metavar="TASK:SEED", help="default: 3 episodes")
    args = parser.parse_args()
    episodes = [(t, int(s)) for t, s in (e.split(":") for e in args.episode)] if args.episode else list(EPISODES)
    episode(False, *episodes[0])  # warm-up: imports, planner engine, GL context
    episode(True, *episodes[0])  # and the ffmpeg binary in the page cache
    load = os.getloadavg()[0]
    rows = [measure(task, seed, args.rounds) for task, seed in episodes]
    result = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_at_start": load,
        "video_size_per_view": list(DEFAULT_VIDEO_SIZE),
        "rounds": args.rounds,
        "episodes": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    width, height = DEFAULT_VIDEO_SIZE
    print(f"load at start {load:.2f}, {args.rounds} rounds, video {width}x{height} a view")
    for row in rows:
        print(
            f"{row['task']:>15s} {row['control_steps']:4d} steps: off {row['episode_without_video_s']:.3f} s, "
            f"on {row['episode_with_video_s']:.3f} s, overhead {row['recording_overhead_ratio']:.3f}x "
            f"(rounds {row['overhead_ratio_per_round']}; fastest runs {row['overhead_ratio_of_fastest_runs']:.3f}x); "
            f"CPU off {row['cpu_without_video_s']:.2f} s, on {row['cpu_with_video_s']:.2f} s "
            f"(ffmpeg {row['ffmpeg_cpu_s']:.2f} s)"
        )


if __name__ == "__main__":
    main()
