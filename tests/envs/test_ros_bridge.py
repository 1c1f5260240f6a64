"""The ROS bridge: ``embodied/RosTabletop-v0`` against a real master and a real simulator node.

The master (``rosmaster --core`` on a free port) and the node (``embodied ros serve``) run as
subprocesses for this module and are stopped afterwards. Without ROS installed these tests skip
on a developer machine and fail in CI (``$CI`` set), where ``.ci/setup.sh`` installs it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.ros.convert import image_array, image_fields, task_from_json, task_to_json
from envs.ros.transport import RosBridgeConfig, RosBridgeError
from envs.tasks import FAMILIES, sample_task

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # rospy's sockets

ROS_ID = "embodied/RosTabletop-v0"
SIZE = (120, 160)


def require_ros() -> None:
    """Skip (developer machine) or fail (CI) when rospy is not importable."""
    if importlib.util.find_spec("rospy") is None:
        why = "ROS 1 (rospy) is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; in CI it must be: .ci/setup.sh installs the Debian ROS packages")
        pytest.skip(why)


def start_sim(env: dict[str, str], log: Path, backend: str = "tabletop") -> subprocess.Popen[bytes]:
    """``embodied ros serve`` as a subprocess, once its reset service is up."""
    from envs.ros.processes import stop, wait_for_service

    cmd = [sys.executable, "-m", "embodied.cli", "ros", "serve", "--env", backend, "--no-start-master"]
    out = log.open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_service(env["ROS_MASTER_URI"], "/embodied_sim/reset", proc)
    except BaseException:
        stop(proc)
        raise
    return proc


@pytest.fixture(scope="module")
def ros_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A master on a free port and a MuJoCo sim node; this process's env points at them."""
    require_ros()
    from envs.ros.processes import free_port, start_master, stop

    port = free_port()
    logs = tmp_path_factory.mktemp("ros")
    env = {**os.environ, "ROS_MASTER_URI": f"http://127.0.0.1:{port}", "ROS_HOSTNAME": "127.0.0.1"}
    env["ROS_LOG_DIR"] = str(logs)
    master = start_master(port)
    sim = None
    try:
        sim = start_sim(env, logs / "sim.log")
        os.environ.update({k: env[k] for k in ("ROS_MASTER_URI", "ROS_HOSTNAME", "ROS_LOG_DIR")})
        yield env
    finally:
        stop(sim)
        stop(master)


@pytest.fixture
def ros_env(ros_world: dict[str, str]) -> Iterator[Any]:
    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("image_size", SIZE)
        env = gym.make(ROS_ID, **kwargs)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


# ------------------------------------------------------------ no ROS needed
@pytest.mark.parametrize(
    ("encoding", "array"),
    [
        ("rgb8", np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)),
        ("32FC1", np.linspace(0.1, 3.0, 20, dtype=np.float32).reshape(4, 5)),
        ("32SC1", np.arange(-3, 17, dtype=np.int32).reshape(4, 5)),
    ],
)
def test_image_round_trip_is_exact(encoding, array):
    f = image_fields(array, encoding)
    back = image_array(f["encoding"], f["height"], f["width"], f["step"], f["is_bigendian"], f["data"])
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_camera_encodings_of_real_drivers_arrive_as_the_observation_wants():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 16), dtype=np.uint8)  # rows padded to 16 bytes, as some drivers send them
    padded[:, :9] = rgb[..., ::-1].reshape(2, 9)  # bgr8
    assert np.array_equal(image_array("bgr8", 2, 3, 16, 0, padded.tobytes()), rgb)
    mm = np.array([[0, 1500]], dtype=">u2")  # 16UC1 millimetres, big-endian; 0 = no reading
    depth = image_array("16UC1", 1, 2, 4, 1, mm.tobytes())
    assert np.isnan(depth[0, 0]) and depth[0, 1] == np.float32(1.5) and depth.dtype == np.float32
    with pytest.raises(ValueError, match="not supported; use one of"):
        image_array("yuv422", 1, 1, 2, 0, b"\0\0")
    with pytest.raises(ValueError, match="do not hold its pixels"):
        image_array("rgb8", 2, 3, 9, 0, b"\0" * 10)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_task_specs_cross_the_bridge_unchanged(family):
    task = sample_task(family, 3)
    assert task_from_json(task_to_json(task)) == task


def test_bridge_settings_come_from_params_and_keywords_win():
    params = {"/embodied/bridge/timeout_s": 2.5, "/embodied/bridge/rgb_topic": "/cam/{camera}/rgb"}
    cfg = RosBridgeConfig.resolve({"timeout_s": 1.0}, params.get)
    assert cfg.timeout_s == 1.0 and cfg.topic("rgb", "front") == "/cam/front/rgb"
    with pytest.raises(TypeError, match="unknown ROS bridge argument"):
        RosBridgeConfig.resolve({"timeout": 1.0}, params.get)
    with pytest.raises(ValueError, match="timeout_s"):
        RosBridgeConfig(timeout_s=0)


# --------------------------------------------------------- across real ROS
@pytest.mark.slow
def test_check_env_passes_with_warnings_as_errors(ros_env):
    env = ros_env(task="stack", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.slow
def test_observations_and_ground_truth_equal_the_simulator_run_directly(ros_env, make_env):
    """The bridge adds nothing and loses nothing: same images, proprio, camera matrices and world state."""
    kwargs = {"task": "tower", "seed": 7, "modalities": ("rgb", "depth")}
    over_ros, direct = ros_env(**kwargs), make_env(**kwargs)
    runs = []
    for env in (over_ros, direct):
        obs, info = env.reset()
        for t in range(8):
            obs, _, terminated, truncated, info = env.step(np.array([0.6, -0.3, -0.5, 0.2, 1.0 if t > 4 else -1.0]))
            assert not (terminated or truncated)
        runs.append((obs, info, env.unwrapped.world_state()))
    (o1, i1, w1), (o2, i2, w2) = runs
    for m in ("rgb", "depth"):
        for cam in ("front", "top"):
            assert np.array_equal(o1[m][cam], o2[m][cam]), (m, cam)
    for key, value in o2["proprio"].items():
        np.testing.assert_allclose(o1["proprio"][key], value, atol=1e-12, err_msg=key)
    for cam in ("front", "top"):
        np.testing.assert_allclose(i1["cameras"][cam]["K"], i2["cameras"][cam]["K"])
        np.testing.assert_allclose(i1["cameras"][cam]["cam_to_world"], i2["cameras"][cam]["cam_to_world"], atol=1e-12)
    assert (i1["steps"], i1["sim_time"], i1["instruction"]) == (i2["steps"], i2["sim_time"], i2["instruction"])
    assert w1 == w2


@pytest.mark.slow
def test_no_simulator_node_is_a_clear_error(ros_env):
    with pytest.raises(RosBridgeError, match="embodied ros serve --env tabletop"):
        ros_env(task="stack", reset_service="/nobody/reset", connect_timeout_s=0.5)
