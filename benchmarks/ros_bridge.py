"""The ROS bridge against the simulator it wraps, measured side by side in one run.

* env steps/s through ROS (``embodied/RosTabletop-v0`` talking to ``embodied ros serve --env
  tabletop``) vs ``embodied/Tabletop-v0`` directly, both cameras rgb + depth at 320x240; blocks
  of steps alternate so machine noise hits both alike. The ROS figure includes the simulator
  node's own step: both processes share this machine's cores;
* image latency: from the image's header stamp (set when the node publishes it) to the moment
  the env returns the observation (median, p95);
* success of the classical planner with vision perception over task families x seeds, across the
  bridge and directly (same seeds, same tasks).

A real master (``rosmaster --core``) on a free port and the node are started here and stopped at
the end. Run: ``python -m benchmarks.ros_bridge [--seeds 5]`` (writes benchmarks/results/ros_bridge.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the envs)
from envs.ros.processes import free_port, start_master, stop, wait_for_service
from envs.ros.transport import RosBridgeError
from envs.tasks import FAMILIES

RESULTS = Path(__file__).parent / "results" / "ros_bridge.json"
SIZE = (240, 320)
ACTIONS = [np.array([0.6, -0.4, -0.5, 0.2, -1.0]), np.array([-0.6, 0.4, 0.5, -0.2, 1.0])]


def start_node(uri: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "embodied.cli", "ros", "serve", "--env", "tabletop", "--no-start-master"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_service(uri, "/embodied_sim/reset", proc)
    except RosBridgeError:
        stop(proc)
        raise
    return proc


def _block(env: Any, n: int, latencies: list[float] | None) -> float:
    t = time.perf_counter()
    for i in range(n):
        env.step(ACTIONS[(i // 10) % 2])
        if latencies is not None:
            latencies.extend(env.unwrapped.last_image_latency_s)
    return (time.perf_counter() - t) / n


def bench_steps(rounds: int, n: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "task": "stack",
        "seed": 0,
        "image_size": SIZE,
        "modalities": ("rgb", "depth"),
        "max_steps": 10**6,
    }
    over_ros = gym.make("embodied/RosTabletop-v0", max_episode_steps=10**6, **kwargs)
    direct = gym.make("embodied/Tabletop-v0", max_episode_steps=10**6, **kwargs)
    latencies: list[float] = []
    t_ros, t_direct = [], []
    try:
        for env in (over_ros, direct):
            env.reset(seed=0)
            _block(env, 5, None)  # warm up
        for _ in range(rounds):
            t_ros.append(_block(over_ros, n, latencies))
            t_direct.append(_block(direct, n, None))
    finally:
        over_ros.close()
        direct.close()
    ros_s, direct_s = float(np.median(t_ros)), float(np.median(t_direct))
    lat_ms = np.asarray(latencies) * 1e3
    return {
        "steps_per_s_ros": 1.0 / ros_s,
        "steps_per_s_direct": 1.0 / direct_s,
        "ratio_ros_over_direct": direct_s / ros_s,
        "target_ratio": 0.5,
        "image_latency_ms_median": float(np.median(lat_ms)),
        "image_latency_ms_p95": float(np.percentile(lat_ms, 95)),
        "image_latency_samples": int(lat_ms.size),
        "step_rounds": rounds,
        "steps_per_round": n,
    }


def bench_success(seeds: int) -> dict[str, Any]:
    from embodied.factory import EpisodeConfig, build_episode

    rows: dict[str, dict[str, list[int]]] = {"ros": {}, "tabletop": {}}
    wall = {"ros": 0.0, "tabletop": 0.0}
    for family in sorted(FAMILIES):
        for seed in range(seeds):
            for backend in ("ros", "tabletop"):
                config = EpisodeConfig(
                    family, seed, planner="classical", perception="vision", env=backend, modalities=("rgb", "depth")
                )
                t = time.perf_counter()
                with build_episode(config) as episode:
                    ok = episode.run().success
                wall[backend] += time.perf_counter() - t
                rows[backend].setdefault(family, []).append(int(ok))
            print(f"{family:24s} seed {seed}: ros {rows['ros'][family][-1]}  direct {rows['tabletop'][family][-1]}")
    total = {b: sum(sum(v) for v in r.values()) for b, r in rows.items()}
    n = len(FAMILIES) * seeds
    return {
        "families": len(FAMILIES),
        "seeds_per_family": seeds,
        "episodes_per_backend": n,
        "success_ros": total["ros"],
        "success_direct": total["tabletop"],
        "success_rate_ros": total["ros"] / n,
        "success_rate_direct": total["tabletop"] / n,
        "same_outcome_episodes": sum(
            a == b for f in rows["ros"] for a, b in zip(rows["ros"][f], rows["tabletop"][f], strict=True)
        ),
        "per_family_ros": {f: sum(v) for f, v in rows["ros"].items()},
        "per_family_direct": {f: sum(v) for f, v in rows["tabletop"].items()},
        "episode_wall_s_ros": wall["ros"] / n,
        "episode_wall_s_direct": wall["tabletop"] / n,
        "planner": "classical",
        "perception": "vision",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="interleaved blocks of steps per side")
    parser.add_argument("--steps", type=int, default=40, help="steps per block")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per task family for the success figure (0: skip)")
    args = parser.parse_args()
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    os.environ.update(ROS_MASTER_URI=uri, ROS_HOSTNAME="127.0.0.1")
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "load_at_start": os.getloadavg()[0],
        "mujoco_gl": os.environ.get("MUJOCO_GL"),
        "images": "2 cameras, rgb8 + 32FC1 depth, 320x240",
    }
    master = start_master(port)
    node = None
    try:
        node = start_node(uri)
        result.update(bench_steps(args.rounds, args.steps))
        if args.seeds > 0:
            result.update(bench_success(args.seeds))
    finally:
        stop(node)
        stop(master)
    result["load_at_end"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
