"""Simulation overhead of embodied/Tabletop-v0 against raw MuJoCo, measured side by side.

* step: ``env.step`` (no images) vs ``mujoco.mj_step(model, data, nstep=substeps)`` on the same
  compiled model, same substeps, stepping the same states: the raw side replays, from the same
  start, the actuator commands the env's controller set, so both run identical physics and the
  difference is what the env adds (checked: both end in the same state, bit for bit). The ratio
  against stepping a copy whose arm stays still (``step_ratio_vs_still_arm``, what this benchmark
  measured until issue 19) also counts the extra contacts and solver work of an arm that moves;
* render: the env's camera rig vs a raw ``mujoco.Renderer`` producing the same images
  (rgb + metric depth, both cameras, 320x240), and rgb alone;
* full env steps/s at 20 Hz with two 320x240 rgb+depth cameras.

Blocks of each measurement alternate so that machine noise hits both sides alike.
Run: ``python -m benchmarks.sim_overhead`` (writes benchmarks/results/sim_overhead.json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (picks the headless GL platform before mujoco is imported)

mujoco = importlib.import_module("mujoco")

RESULTS = Path(__file__).parent / "results" / "sim_overhead.json"


def _timed(fn: Any, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def _alternate(fns: list[Any], n: int, rounds: int) -> list[float]:
    """Median per-call time of each of ``fns`` over interleaved rounds."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, t in zip(fns, times, strict=True):
            t.append(_timed(fn, n))
    return [float(np.median(t)) for t in times]


def bench_step(rounds: int, n: int = 10) -> dict[str, float]:
    """``rounds`` x 50 steps of one episode, timed in blocks of ``n`` steps that alternate with the raw sides
    (short blocks: a burst of load on a shared machine lands on both sides alike)."""
    env = gym.make("embodied/Tabletop-v0", task="stack", seed=0, modalities=(), terminate_on_success=False)
    u: Any = env.unwrapped  # the MuJoCo env: its model, data and substeps
    blocks = rounds * 50 // n
    steps = blocks * n
    if steps > u.max_steps:
        raise ValueError(f"{steps} steps outrun one episode ({u.max_steps} steps): ask for fewer rounds")
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, size=(steps, 5))

    # The physics the env will run: its start state and the commands its controller sets each step.
    u.reset(seed=0)
    start = mujoco.MjData(u.model)
    mujoco.mj_copyData(start, u.model, u.data)
    ctrls = []
    for a in actions:
        u.step(a)
        ctrls.append(u.data.ctrl.copy())
    u.reset(seed=0)  # same seed: the timed steps retrace the recorded ones

    k = [0, 0]

    def env_step() -> None:
        u.step(actions[k[0]])
        k[0] += 1

    replay = mujoco.MjData(u.model)
    mujoco.mj_copyData(replay, u.model, start)

    def raw_step() -> None:
        replay.ctrl[:] = ctrls[k[1]]
        mujoco.mj_step(u.model, replay, nstep=u.substeps)
        k[1] += 1

    still = mujoco.MjData(u.model)
    mujoco.mj_copyData(still, u.model, start)

    def raw_still() -> None:
        mujoco.mj_step(u.model, still, nstep=u.substeps)

    t_env, t_raw, t_still = _alternate([env_step, raw_step, raw_still], n, blocks)
    same = bool(np.array_equal(replay.qpos, u.data.qpos) and np.array_equal(replay.qvel, u.data.qvel))
    env.close()
    if not same:
        raise RuntimeError("the replay of the env's commands left the env's trajectory: the ratio would mislead")
    return {
        "env_step_ms": t_env * 1e3,
        "raw_mj_step_ms": t_raw * 1e3,
        "step_ratio": t_env / t_raw,
        "raw_mj_step_still_arm_ms": t_still * 1e3,
        "step_ratio_vs_still_arm": t_env / t_still,
        "substeps": u.substeps,
    }


def bench_render(rounds: int) -> dict[str, float]:
    env = gym.make("embodied/Tabletop-v0", task="stack", seed=0, image_size=(240, 320), modalities=("rgb", "depth"))
    env.reset()
    u = env.unwrapped
    rig = u.rig
    renderer = mujoco.Renderer(u.model, 240, 320)

    def raw_rgb_depth() -> None:
        for cam in u.cameras:
            renderer.update_scene(u.data, cam)
            renderer.disable_depth_rendering()
            renderer.render()
            renderer.enable_depth_rendering()
            renderer.render()

    def raw_rgb() -> None:
        renderer.disable_depth_rendering()
        for cam in u.cameras:
            renderer.update_scene(u.data, cam)
            renderer.render()

    def env_rgb_depth() -> None:
        rig.render(u.data)

    def env_rgb() -> None:
        for cam in u.cameras:
            rig.render_rgb(u.data, cam)

    t_env, t_raw = _alternate([env_rgb_depth, raw_rgb_depth], 10, rounds)
    t_env_rgb, t_raw_rgb = _alternate([env_rgb, raw_rgb], 10, rounds)
    renderer.close()
    env.close()
    return {
        "env_rgb_depth_2cams_ms": t_env * 1e3,
        "raw_renderer_rgb_depth_2cams_ms": t_raw * 1e3,
        "render_ratio_rgb_depth": t_env / t_raw,
        "env_rgb_2cams_ms": t_env_rgb * 1e3,
        "raw_renderer_rgb_2cams_ms": t_raw_rgb * 1e3,
        "render_ratio_rgb": t_env_rgb / t_raw_rgb,
    }


def bench_full(n: int) -> dict[str, float]:
    env = gym.make(
        "embodied/Tabletop-v0",
        task="stack",
        seed=0,
        image_size=(240, 320),
        modalities=("rgb", "depth"),
        terminate_on_success=False,
    )
    env.reset()
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    for _ in range(n):
        _, _, term, trunc, _ = env.step(rng.uniform(-0.3, 0.3, 5))
        if term or trunc:
            env.reset()
    dt = time.perf_counter() - t
    env.close()
    return {"full_env_steps_per_s_2cams_rgb_depth_320x240": n / dt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved measurement rounds")
    parser.add_argument("--full-steps", type=int, default=400)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip()}
    result["mujoco_gl"] = os.environ.get("MUJOCO_GL")
    result["load_average_at_start"] = os.getloadavg()[0]  # ratios drift upward on a busy machine
    result.update(bench_step(args.rounds))
    result.update(bench_render(args.rounds))
    result.update(bench_full(args.full_steps))
    result["robosuite_lift_reference_steps_per_s"] = 11.4
    result["speedup_vs_robosuite_reference"] = result["full_env_steps_per_s_2cams_rgb_depth_320x240"] / 11.4
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:45s} {value:.3f}" if isinstance(value, float) else f"{key:45s} {value}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
