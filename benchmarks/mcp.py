"""The robot over MCP vs in-process: tool-call overhead, and the same episodes' success both ways.

1. Overhead of one ``look`` call (re-perceive and describe; no motion) made through MCP, measured
   against the same call on the skill registry in-process, on the same scene: direct
   ``SkillRegistry.call``, the official client on an in-process server, over stdio (``embodied mcp
   serve`` as a subprocess) and over streamable HTTP on loopback, interleaved call by call (so load
   on the machine hits each way alike). Medians of ``--calls`` rounds after 5 of warm-up. Target:
   at most 5 ms over stdio. The MCP figures include what the server adds to every call: the
   limits, the hop to the robot thread, and two trace events written and flushed (video off, so
   no frames).
2. Episodes on the same seeds three ways: in-process (``build_episode(...).run()``, classical
   planner), ``reset`` + ``run_episode`` over stdio, and driven by a client that knows nothing of
   the project: it asks ``verify`` for the goal's atoms, calls ``place`` for each unmet one
   (bottom first) and ``verify`` again. Success is the env's ground truth.

Run: ``python -m benchmarks.mcp`` (writes benchmarks/results/mcp.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from embodied.factory import EpisodeConfig, build_episode
from embodied.mcp.limits import Limits
from embodied.mcp.server import RobotServer
from embodied.mcp.session import ServeConfig
from embodied.skills.registry import SkillContext

RESULTS = Path(__file__).parent / "results" / "mcp.json"
LIMITS = ["--calls-per-minute", "100000", "--calls-per-episode", "100000"]


def serve_args(task: str, seed: int, out: Path) -> list[str]:
    cmd = ["-m", "embodied.cli", "mcp", "serve", "--task", task, "--seed", str(seed), "--out", str(out)]
    return [*cmd, "--no-video", *LIMITS]


def http_server(task: str, seed: int, out: Path) -> tuple[subprocess.Popen[str], str]:
    """``embodied mcp serve --http 127.0.0.1:0`` and the URL it prints once listening."""
    cmd = [sys.executable, *serve_args(task, seed, out), "--http", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"http://\S+/mcp", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, found.group(0)
    proc.kill()
    raise RuntimeError(f"the HTTP server exited with {proc.wait()}")


def look_overhead(task: str, seed: int, calls: int, out: Path) -> dict[str, list[float]]:
    """``look`` four ways, interleaved call by call so that load on the machine hits each alike."""
    limits = Limits(calls_per_minute=10**6, calls_per_episode=10**6)
    robot = RobotServer(ServeConfig(EpisodeConfig(task, seed), out, video=False), limits)
    proc, url = http_server(task, seed, out)
    try:
        with build_episode(EpisodeConfig(task, seed)) as ep:
            obs, info = ep.env.reset(seed=seed, options=ep.reset_options)
            ctx = SkillContext.create(ep.env, ep.agent.perceiver, obs, info)

            def direct() -> None:
                result = ep.agent.skills.call("look", {}, ctx)
                assert result.success, result.message

            return asyncio.run(_interleaved(robot, url, task, seed, out, direct, calls))
    finally:
        robot.close()
        proc.terminate()
        proc.wait(30)


async def _interleaved(
    robot: RobotServer, url: str, task: str, seed: int, out: Path, direct: Callable[[], None], calls: int
) -> dict[str, list[float]]:
    params = StdioServerParameters(command=sys.executable, args=serve_args(task, seed, out), cwd=str(Path.cwd()))
    async with Client(robot.server) as inproc, Client(params) as stdio, Client(url) as http:
        clients = {"mcp_in_process": inproc, "stdio": stdio, "http": http}
        times: dict[str, list[float]] = {"direct": [], **{k: [] for k in clients}}
        for i in range(calls + 5):  # the first 5 rounds warm up
            t = time.perf_counter()
            direct()
            if i >= 5:
                times["direct"].append(time.perf_counter() - t)
            for name, client in clients.items():
                t = time.perf_counter()
                result = await client.call_tool("look", {})
                if i >= 5:
                    times[name].append(time.perf_counter() - t)
                assert not result.is_error, result.content
    return times


def in_process_episode(task: str, seed: int) -> dict[str, Any]:
    with build_episode(EpisodeConfig(task, seed, planner="classical")) as ep:
        result = ep.run()
    return {"success": result.success, "control_steps": result.stats["control_steps"]}


async def client_driven(client: Client) -> dict[str, Any]:
    """An outside agent: the goal's atoms from verify, place for each unmet one (bottom first), verify."""
    calls = 0
    for _ in range(8):
        checked = (await client.call_tool("verify", {})).structured_content
        calls += 1
        unmet = [a["atom"] for a in checked["atoms"] if not a["holds"]]
        if not unmet:
            break
        pairs = [atom[atom.index("(") + 1 : -1].split(", ", 1) for atom in unmet]
        waiting = {subject for subject, _ in pairs}
        subject, target = next(((s, t) for s, t in pairs if t not in waiting), pairs[0])
        await client.call_tool("place", {"object": subject, "target": target})
        calls += 1
    return {"calls": calls}


def mcp_episodes(tasks: list[str], seeds: int, out: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """``run_episode`` and client-driven episodes over one stdio server; success from each episode.json."""
    found: dict[tuple[str, int], dict[str, Any]] = {}

    async def episode(client: Client, task: str, seed: int, how: Callable[[], Awaitable[Any]]) -> None:
        await client.call_tool("reset", {"task": task, "seed": seed})
        extra = await how()
        done = await client.call_tool("reset", {"task": task, "seed": seed})  # ends (saves) the episode
        assert not done.is_error, done.content
        summary = json.loads((await client.read_resource("embodied://episode/last/episode.json")).contents[0].text)
        found.setdefault((task, seed), {})[summary["planner"]] = {
            "success": summary["success"],
            "control_steps": summary["stats"]["control_steps"],
            **(extra if isinstance(extra, dict) else {}),
        }

    async def go() -> None:
        params = StdioServerParameters(command=sys.executable, args=serve_args(tasks[0], 0, out), cwd=str(Path.cwd()))
        async with Client(params) as client:
            for task in tasks:
                for seed in range(seeds):
                    await episode(client, task, seed, lambda: client.call_tool("run_episode", {"planner": "classical"}))
                    await episode(client, task, seed, lambda: client_driven(client))

    asyncio.run(go())
    return found


def median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", default=["stack", "tower"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        look = look_overhead("stack", 3, args.calls, out)
        over_mcp = mcp_episodes(args.tasks, args.seeds, out)
    rows = []
    for (task, seed), ways in sorted(over_mcp.items()):
        local = in_process_episode(task, seed)
        rows.append(
            {
                "task": task,
                "seed": seed,
                "in_process": local,
                "run_episode_over_mcp": ways.get("classical"),
                "client_driven_over_mcp": ways.get("mcp client"),
            }
        )
    direct = median_ms(look["direct"])

    def count(way: str) -> str:
        return f"{sum(bool(r[way] and r[way]['success']) for r in rows)}/{len(rows)}"

    result: dict[str, Any] = {
        "machine": platform.machine(),
        "look_calls": args.calls,
        **{f"look_{k}_ms_median": median_ms(v) for k, v in look.items()},
        "look_stdio_overhead_ms": round(median_ms(look["stdio"]) - direct, 3),
        "look_http_overhead_ms": round(median_ms(look["http"]) - direct, 3),
        "look_in_process_mcp_overhead_ms": round(median_ms(look["mcp_in_process"]) - direct, 3),
        "target_stdio_overhead_ms": 5.0,
        "episodes": len(rows),
        "success_in_process": count("in_process"),
        "success_run_episode_over_mcp": count("run_episode_over_mcp"),
        "success_client_driven_over_mcp": count("client_driven_over_mcp"),
        "same_success_per_seed": all(
            r["run_episode_over_mcp"] and r["in_process"]["success"] == r["run_episode_over_mcp"]["success"]
            for r in rows
        ),
        "same_control_steps_per_seed": all(
            r["run_episode_over_mcp"] and r["in_process"]["control_steps"] == r["run_episode_over_mcp"]["control_steps"]
            for r in rows
        ),
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        if k != "rows":
            print(f"{k:36s} {v}")


if __name__ == "__main__":
    main()
