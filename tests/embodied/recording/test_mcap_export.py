"""`embodied export RUN_DIR --format mcap`: real episodes exported as ROS 2 bags and read back with the
MCAP libraries, message counts against the run, one image byte for byte against the env's frame."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from typer.testing import CliRunner

from embodied.agent.loop import Agent
from embodied.cli import app
from embodied.planners.classical import ClassicalPlanner
from embodied.recording.recorder import Recorder
from embodied.recording.sensor_log import read_steps
from embodied.recording.tracing import TracerWrapper
from embodied.skills.primitives import default_registry
from perception.describe import describe
from perception.ground_truth import GroundTruthPerceiver

runner = CliRunner()

SENSOR_TYPES = {
    "/camera/front/color/image_raw": "sensor_msgs/msg/Image",
    "/camera/top/color/image_raw": "sensor_msgs/msg/Image",
    "/camera/front/depth/image_raw": "sensor_msgs/msg/Image",
    "/camera/front/color/camera_info": "sensor_msgs/msg/CameraInfo",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/tf": "tf2_msgs/msg/TFMessage",
    "/robot/ee_pose": "geometry_msgs/msg/PoseStamped",
    "/robot/gripper_width": "std_msgs/msg/Float64",
    "/robot/action": "std_msgs/msg/Float64MultiArray",
    "/clock": "rosgraph_msgs/msg/Clock",
    "/agent/thought": "std_msgs/msg/String",
    "/agent/tool_call": "std_msgs/msg/String",
}


class KeepSteps(TracerWrapper):
    """Forwards to the recorder and keeps a copy of what the env returned at every step."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.rgb: list[dict[str, np.ndarray]] = []
        self.depth: list[np.ndarray] = []
        self.actions: list[np.ndarray | None] = []
        self.joint_pos: list[np.ndarray] = []

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        super().on_step(obs, info)
        self.rgb.append({cam: img.copy() for cam, img in obs["rgb"].items()})
        self.depth.append(obs["depth"]["front"].copy())
        action = info.get("action")
        self.actions.append(None if action is None else np.array(action))
        self.joint_pos.append(np.array(obs["proprio"]["joint_pos"]))


def _read_bag(path: Path) -> tuple[Any, list[tuple[Any, Any, Any, Any]]]:
    with path.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        messages = list(reader.iter_decoded_messages(log_time_order=False))
    return header, messages


def _events(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeepSteps, dict[str, Any]]:
    """A real MuJoCo episode (classical planner) recorded with sensors, then `embodied export`ed."""
    import gymnasium as gym

    import envs

    folder = tmp_path_factory.mktemp("run")
    env = gym.make(envs.TABLETOP_ID, task="stack", seed=3, image_size=(120, 160))
    try:
        recorder = Recorder(folder, video=True, fps=20, sensors=True, depth=True)
        keep = KeepSteps(recorder)
        agent = Agent(ClassicalPlanner(), default_registry(), GroundTruthPerceiver(env), describe, tracer=keep)
        result = agent.run(env, seed=3)
        recorder.finish(vars(result))
    finally:
        env.close()
    out = runner.invoke(app, ["export", str(folder), "--format", "mcap"])
    assert out.exit_code == 0, out.output
    assert "episode.mcap" in "".join(out.output.split())
    return folder, keep, json.loads((folder / "episode.json").read_text())


@pytest.mark.slow
def test_the_bag_has_a_message_per_step_and_per_trace_event(exported):
    folder, keep, summary = exported
    header, messages = _read_bag(folder / "episode.mcap")
    assert header.profile == "ros2"
    counts = Counter(channel.topic for _, channel, _, _ in messages)
    steps = summary["stats"]["control_steps"] + 1  # the reset's observation, then one per control step
    assert steps == len(keep.rgb) == summary["sensor_steps"] > 10
    for cam in ("front", "top"):
        for topic in (
            f"/camera/{cam}/color/image_raw",
            f"/camera/{cam}/depth/image_raw",
            f"/camera/{cam}/color/camera_info",
        ):
            assert counts[topic] == steps, topic
    for topic in ("/joint_states", "/tf", "/robot/ee_pose", "/robot/gripper_width", "/clock"):
        assert counts[topic] == steps, topic
    assert counts["/robot/action"] == steps - 1  # the reset had no action
    events = _events(folder)
    kinds = Counter(e["kind"] for e in events)
    assert counts["/agent/events"] == len(events)
    assert counts["/agent/observation"] == kinds["observation"] >= 1
    assert counts["/agent/tool_call"] == kinds["tool_call"] >= 2
    assert counts["/agent/tool_result"] == kinds["tool_result"]
    thoughts = [e for e in events if e["kind"] == "decision" and e["decision"]["thoughts"]]
    assert counts["/agent/thought"] == len(thoughts) >= 1


@pytest.mark.slow
def test_the_bag_uses_ros2_schemas_cdr_and_monotonic_times(exported):
    folder, _, _ = exported
    _, messages = _read_bag(folder / "episode.mcap")
    by_topic: dict[str, list[int]] = defaultdict(list)
    for schema, channel, message, _decoded in messages:
        assert schema.encoding == "ros2msg" and channel.message_encoding == "cdr"
        if channel.topic in SENSOR_TYPES:
            assert schema.name == SENSOR_TYPES[channel.topic], channel.topic
        by_topic[channel.topic].append(message.log_time)
    all_times = [m.log_time for _, _, m, _ in messages]
    assert all_times == sorted(all_times)  # written in time order
    for topic, times in by_topic.items():
        assert times == sorted(times), topic
    # the agent's messages sit among the sensor steps of the same clock, at their trace times
    start = min(by_topic["/camera/front/color/image_raw"])
    events = _events(folder)
    first_obs = next(e for e in events if e["kind"] == "observation")
    obs_ns = by_topic["/agent/observation"][0]
    assert obs_ns > start
    assert abs((obs_ns - start) * 1e-9 - (first_obs["t"] - events[0]["t"])) < 0.5


@pytest.mark.slow
def test_images_and_state_are_the_env_s_own_byte_for_byte(exported):
    folder, keep, _ = exported
    _, messages = _read_bag(folder / "episode.mcap")
    images = {(ch.topic, m.sequence): d for _, ch, m, d in messages if ch.topic.startswith("/camera/")}
    # a step whose frame differs from both neighbours, so that an off-by-one step would show
    k = next(
        i
        for i in range(len(keep.rgb) // 2, len(keep.rgb) - 1)
        if not np.array_equal(keep.rgb[i]["front"], keep.rgb[i - 1]["front"])
        and not np.array_equal(keep.rgb[i]["front"], keep.rgb[i + 1]["front"])
    )
    rgb = images[("/camera/front/color/image_raw", k)]
    assert (rgb.encoding, rgb.height, rgb.width, rgb.step) == ("rgb8", 120, 160, 480)
    assert bytes(rgb.data) == keep.rgb[k]["front"].tobytes()
    assert bytes(images[("/camera/top/color/image_raw", k)].data) == keep.rgb[k]["top"].tobytes()
    depth = images[("/camera/front/depth/image_raw", k)]
    assert depth.encoding == "32FC1"
    assert np.array_equal(np.frombuffer(depth.data, "<f4").reshape(120, 160), keep.depth[k])
    info = images[("/camera/front/color/camera_info", k)]
    assert info.k[0] > 0 and info.k[8] == 1.0 and info.header.frame_id == rgb.header.frame_id
    steps = read_steps(folder / "sensors.mcap")
    assert steps.complete and steps.cameras == ("front", "top")
    assert np.isnan(steps.action[0]).all()
    assert np.array_equal(steps.action[1:], np.array(keep.actions[1:]))  # exact: float64 kept as is
    assert np.array_equal(steps.joint_pos, np.array(keep.joint_pos))
    assert np.all(np.diff(steps.t) > 0) and np.all(np.diff(steps.sim_time) > 0)


@pytest.mark.slow
def test_the_logged_actions_replay_the_episode(exported):
    """Reset with the episode's seed and step the logged actions: the arm goes through the same joint states."""
    import gymnasium as gym

    import envs

    folder, _, _ = exported
    steps = read_steps(folder / "sensors.mcap")
    env = gym.make(envs.TABLETOP_ID, task="stack", seed=3, modalities=())
    try:
        obs, _ = env.reset(seed=3)
        replayed = [obs["proprio"]["joint_pos"]]
        for action in steps.action[1:]:
            obs, *_ = env.step(action)
            replayed.append(obs["proprio"]["joint_pos"])
    finally:
        env.close()
    assert np.array_equal(np.array(replayed), steps.joint_pos)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_run_folder_with_sensors_exports_after_ctrl_c_or_a_kill(tmp_path, sig):
    """`embodied run --sensors` stopped mid-episode by a terminal's Ctrl-C (SIGINT to its whole
    process group) or killed outright: the sensor log is whole either way (its writer process finishes the
    file when the run's pipe closes), and the folder exports."""
    cmd = [sys.executable, "-m", "embodied.cli", "run", "--task", "clear_table", "--seed", "2"]
    cmd += [
        "--planner",
        "classical",
        "--perception",
        "ground_truth",
        "--no-memory",
        "--sensors",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # wait until the episode is under way
        traces = list(tmp_path.glob("*/trace.jsonl"))
        if traces and traces[0].read_text().count('"tool_result"') >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the episode ended before it could be stopped"
    os.killpg(proc.pid, sig)
    assert proc.wait(timeout=60) == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    (folder,) = tmp_path.iterdir()
    assert (folder / "episode.json").exists() == (sig == signal.SIGINT)  # killed: the run finished nothing
    deadline = time.time() + 60
    steps = read_steps(folder / "sensors.mcap")
    while not steps.complete and time.time() < deadline:  # after a kill the writer process finishes on its own
        time.sleep(0.2)
        steps = read_steps(folder / "sensors.mcap")
    assert steps.complete and len(steps) > 10
    if sig == signal.SIGINT:
        assert json.loads((folder / "episode.json").read_text())["sensor_steps"] == len(steps)
    out = runner.invoke(app, ["export", str(folder)])
    assert out.exit_code == 0, out.output
    _, messages = _read_bag(folder / "episode.mcap")
    counts = Counter(ch.topic for _, ch, _, _ in messages)
    assert counts["/camera/front/color/image_raw"] == counts["/camera/top/color/image_raw"] == len(steps)
    assert counts["/camera/front/depth/image_raw"] == 0  # depth is off by default
    assert counts["/agent/tool_result"] >= 2


def test_a_log_cut_short_is_read_up_to_its_last_whole_chunk(tmp_path):
    from embodied.recording.sensor_log import SensorLogWriter

    rng = np.random.default_rng(0)
    writer = SensorLogWriter(tmp_path / "sensors.mcap", start_ns=1_000_000_000, depth=False)
    for k in range(40):  # noise does not compress: 40 x 230 kB spans a few 4 MB chunks
        obs = {"rgb": {"front": rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)}}
        obs["proprio"] = {"joint_pos": np.full(9, k, float), "ee_pos": np.zeros(3), "ee_quat": np.array([1.0, 0, 0, 0])}
        obs["proprio"]["gripper_width"] = np.array([0.08])
        writer.put(0.05 * k, obs, {"sim_time": 0.05 * k, "action": None if k == 0 else np.full(5, 0.5)})
    writer.close()
    assert writer.error is None
    whole = read_steps(tmp_path / "sensors.mcap")
    assert whole.complete and len(whole) == 40 and whole.joint_pos[39, 0] == 39
    data = (tmp_path / "sensors.mcap").read_bytes()
    (tmp_path / "sensors.mcap").write_bytes(data[: len(data) * 2 // 3])
    cut = read_steps(tmp_path / "sensors.mcap")
    assert not cut.complete and 0 < len(cut) < 40
    assert np.array_equal(cut.joint_pos[:, 0], np.arange(len(cut)))


def test_a_run_without_a_sensor_log_exports_the_agent_topics(tmp_path):
    recorder = Recorder(tmp_path, video=False)
    recorder.event("episode_start", instruction="stack the red block on the blue block", planner="classical")
    recorder.event("observation", turn=1, text="a red block and a blue block")
    recorder.event("decision", turn=1, decision={"thoughts": "pick red", "subgoals": [], "tool_calls": [], "done": 0})
    recorder.finish({"success": False})
    assert not (tmp_path / "sensors.mcap").exists()
    out = runner.invoke(app, ["export", str(tmp_path), "--out", str(tmp_path / "x.mcap")])
    assert out.exit_code == 0, out.output
    assert "agent's topics only" in " ".join(out.output.split())
    _, messages = _read_bag(tmp_path / "x.mcap")
    texts = {ch.topic: d.data for _, ch, _, d in messages if ch.topic != "/agent/events"}
    assert texts == {"/agent/observation": "a red block and a blue block", "/agent/thought": "pick red"}


def test_a_folder_that_is_not_a_run_folder_is_a_usage_error(tmp_path):
    (tmp_path / "20261201-000000-stack-0").mkdir()
    (tmp_path / "20261201-000000-stack-0" / "trace.jsonl").write_text("")
    out = runner.invoke(app, ["export", str(tmp_path)])
    assert out.exit_code == 2
    text = " ".join(out.output.split())
    assert "not an episode folder" in text and "20261201-000000-stack-0" in text
    out = runner.invoke(app, ["export", str(tmp_path / "missing")])
    assert out.exit_code == 2 and "does not exist" in " ".join(out.output.split())


def test_an_unknown_format_is_a_usage_error_naming_the_valid_ones(tmp_path):
    out = runner.invoke(app, ["export", str(tmp_path), "--format", "rosbag1"])
    text = " ".join(out.output.split())
    assert out.exit_code == 2
    assert "unknown export format 'rosbag1'" in text and "valid formats: mcap" in text


def test_the_bag_uses_the_ros_bridges_topic_names():
    """A recorded bag names its camera topics as the live bridge does (envs.ros.transport defaults)."""
    from embodied.recording.sensor_worker import camera_info_topic, image_topic
    from envs.ros.transport import RosBridgeConfig

    bridge = RosBridgeConfig()
    for cam in ("front", "top"):
        assert image_topic(cam) == bridge.topic("rgb", cam)
        assert image_topic(cam, "depth") == bridge.topic("depth", cam)
        assert camera_info_topic(cam) == bridge.topic("camera_info", cam)
