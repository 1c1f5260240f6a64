"""``embodied run --env ros`` end to end: a real master, ``embodied ros serve`` and the CLI as processes.

Without ROS installed these tests skip on a developer machine and fail in CI (``$CI`` set).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

CLI = [sys.executable, "-m", "embodied.cli"]
RUN = [*CLI, "run", "--env", "ros", "--planner", "classical", "--perception", "vision", "--no-memory"]


def require_ros() -> None:
    if importlib.util.find_spec("rospy") is None:
        why = "ROS 1 (rospy) is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; in CI it must be: .ci/setup.sh installs the Debian ROS packages")
        pytest.skip(why)


@pytest.fixture
def ros_env(tmp_path: Path) -> dict[str, str]:
    """Environment variables of a ROS world on a free port (nothing started yet)."""
    require_ros()
    from envs.ros.processes import free_port

    port = free_port()
    return {
        **os.environ,
        "ROS_MASTER_URI": f"http://127.0.0.1:{port}",
        "ROS_HOSTNAME": "127.0.0.1",
        "ROS_LOG_DIR": str(tmp_path / "roslog"),
    }


@pytest.fixture
def sim_node(ros_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A master and ``embodied ros serve --env tabletop``, both stopped afterwards (the master first started
    by hand here, so killing the node leaves it up)."""
    from envs.ros.processes import start_master, stop, wait_for_service

    master = start_master(int(ros_env["ROS_MASTER_URI"].rsplit(":", 1)[1]))
    node = None
    try:
        log = (tmp_path / "sim.log").open("wb")
        serve = [*CLI, "ros", "serve", "--env", "tabletop", "--no-start-master"]
        node = subprocess.Popen(serve, env=ros_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_service(ros_env["ROS_MASTER_URI"], "/embodied_sim/reset", node)
        yield node
    finally:
        stop(node)
        stop(master)


def episode_folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


@pytest.mark.slow
def test_an_episode_succeeds_across_the_bridge(sim_node, ros_env, tmp_path):
    out = tmp_path / "runs"
    cmd = [*RUN, "--task", "stack", "--seed", "0", "--out", str(out)]
    done = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = episode_folder(out)
    episode = json.loads((folder / "episode.json").read_text())
    assert episode["success"] and episode["verified"], episode["reason"]
    assert episode["reason"] == "goal verified from perception"
    assert (folder / "video.mp4").stat().st_size > 0


@pytest.mark.slow
def test_an_evaluation_runs_its_episodes_across_the_bridge(sim_node, ros_env, tmp_path):
    out = tmp_path / "eval"
    cmd = [*CLI, "eval", "--env", "ros", "--suite", "standard", "--family", "pick_place", "--episodes", "2"]
    cmd += ["--planner", "classical", "--workers", "2", "--out", str(out)]
    done = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--workers 2 becomes 1" in " ".join(done.stdout.split())  # one node serves one episode at a time
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in rows) == [0, 1]
    # Ground truth (the node's world_state service) judged each one: done, and claimed done.
    assert all(r["success"] and r["claimed_done"] and not r["false_success"] for r in rows), rows


@pytest.mark.slow
def test_a_killed_sim_node_ends_the_episode_with_the_reason(sim_node, ros_env, tmp_path):
    out = tmp_path / "runs"
    subprocess.run(["rosparam", "set", "/embodied/bridge/timeout_s", "1.5"], env=ros_env, check=True, timeout=30)
    cmd = [*RUN, "--task", "tower", "--seed", "1", "--out", str(out)]
    run = subprocess.Popen(cmd, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill the node once the agent is inside its first skill
            traces = list(out.glob("*/trace.jsonl"))
            if traces and '"tool_call"' in traces[0].read_text():
                break
            assert run.poll() is None, run.communicate()[0]
            time.sleep(0.05)
        else:
            pytest.fail("the episode never called a skill")
        os.killpg(sim_node.pid, signal.SIGKILL)
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, output  # an episode that did not succeed
    folder = episode_folder(out)
    episode = json.loads((folder / "episode.json").read_text())
    assert not episode["success"]
    # Whichever notices first: the sensor streams going quiet, or the ground-truth service not answering.
    reason = episode["reason"]
    assert reason.startswith("simulation ended: lost the ROS link: "), reason
    # The silent streams are named; which of them the last messages still came in on varies from run to run.
    assert ("no fresh message within 1.5 s on: /" in reason and "did the simulator node" in reason) or (
        "/embodied_sim/world_state did not answer" in reason and "embodied ros serve" in reason
    ), reason
    for name in ("video.mp4", "trace.jsonl", "report.html"):
        assert (folder / name).stat().st_size > 0, name
    assert "lost the ROS link" in output


def test_a_master_that_is_down_names_the_command_to_run(ros_env, tmp_path):
    done = subprocess.run(
        [*RUN, "--out", str(tmp_path / "runs")], env=ros_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    text = " ".join((done.stdout + done.stderr).split())
    assert f"no ROS master at {ros_env['ROS_MASTER_URI']}" in text
    assert "embodied ros serve --env tabletop" in text and "roscore" in text
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_serve_without_a_master_and_without_starting_one_says_so(ros_env):
    serve = [*CLI, "ros", "serve", "--no-start-master"]
    done = subprocess.run(serve, env=ros_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no ROS master at" in " ".join(done.stdout.split())


@pytest.mark.slow
def test_serve_starts_a_master_when_none_runs_and_stops_it(ros_env):
    from envs.ros.processes import master_answers, stop, wait_for_service

    uri = ros_env["ROS_MASTER_URI"]
    node = subprocess.Popen([*CLI, "ros", "serve", "--env", "tabletop"], env=ros_env, start_new_session=True)
    try:
        wait_for_service(uri, "/embodied_sim/reset", node)
        assert master_answers(uri)
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=30) == 130
        assert not master_answers(uri)
    finally:
        stop(node)
