"""Bad input to the vision perceiver: a clear ValueError naming the camera, or an empty scene."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from perception.scene_graph import SceneGraph
from perception.vision import VisionPerceiver

H, W = 48, 64


def _info(h: int = H, w: int = W) -> dict[str, Any]:
    K = np.array([[300.0, 0, w / 2], [0, 300.0, h / 2], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking straight down
    pose[2, 3] = 1.0
    return {"cameras": {"top": {"K": K, "cam_to_world": pose, "width": w, "height": h}}}


def _obs(rgb: Any = None, depth: Any = None) -> dict[str, Any]:
    if rgb is None:
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[17:32, 25:40] = (220, 30, 25)  # a red square, 4.5 cm across at 95.5 cm
    if depth is None:
        depth = np.ones((H, W), np.float32)
        depth[17:32, 25:40] = 0.955
    proprio = {"ee_pos": np.array([0.3, 0.0, 0.4]), "ee_yaw": np.array([0.0]), "gripper_width": np.array([0.08])}
    return {"rgb": {"top": rgb}, "depth": {"top": depth}, "proprio": proprio}


@pytest.fixture(scope="module")
def real_frame() -> tuple[dict[str, Any], dict[str, Any]]:
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make("embodied/Tabletop-v0", task="stack", seed=0, image_size=(120, 160), modalities=("rgb", "depth"))
    obs, info = env.reset()
    env.close()
    return obs, info


def test_synthetic_red_square_is_a_red_block() -> None:
    scene = VisionPerceiver().perceive(_obs(), _info())
    assert [o.name for o in scene.objects] == ["red block"]
    assert scene.objects[0].position[2] == pytest.approx(0.0225, abs=0.005)


@pytest.mark.parametrize(
    ("rgb", "match"),
    [
        (np.zeros((H, W, 3), np.float32), r"obs\['rgb'\]\['top'\] must be uint8 \(H, W, 3\)"),
        (np.zeros((H, W), np.uint8), r"obs\['rgb'\]\['top'\] must have shape \(H, W, 3\)"),
        (np.zeros((H, W, 4), np.uint8), r"'top'.*\(H, W, 3\).*\(48, 64, 4\)"),
        (np.zeros((0, 0, 3), np.uint8), r"'top'.*H, W > 0"),
        ([[1, 2, 3]], r"'top'.*numpy array"),
    ],
)
def test_bad_rgb_names_camera_and_expected_shape(rgb: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VisionPerceiver().perceive(_obs(rgb=rgb), _info())


@pytest.mark.parametrize(
    ("depth", "match"),
    [
        (np.ones((H, W + 1), np.float32), r"obs\['depth'\]\['top'\] must have shape \(48, 64\)"),
        (np.ones((H, W, 1), np.float32), r"'top'.*\(48, 64\)"),
        (np.ones((H, W), np.int32), r"'top'.*float.*\(48, 64\)"),
        (None, None),
    ],
)
def test_bad_depth_names_camera_and_expected_shape(depth: Any, match: str | None) -> None:
    if depth is None:
        obs = _obs()
        del obs["depth"]["top"]
        with pytest.raises(ValueError, match=r"camera 'top' has an rgb image but no obs\['depth'\]\['top'\]"):
            VisionPerceiver().perceive(obs, _info())
        return
    with pytest.raises(ValueError, match=match):
        VisionPerceiver().perceive(_obs(depth=depth), _info())


def test_all_nan_depth_gives_an_empty_scene() -> None:
    scene = VisionPerceiver().perceive(_obs(depth=np.full((H, W), np.nan, np.float32)), _info())
    assert scene.objects == () and scene.relations == ()
    assert scene.robot is not None


def test_partly_nan_depth_is_ignored_where_invalid(real_frame: tuple[dict[str, Any], dict[str, Any]]) -> None:
    obs, info = real_frame
    clean = VisionPerceiver().perceive(obs, info)
    noisy = copy.deepcopy(obs)
    rng = np.random.default_rng(0)
    for cam, depth in noisy["depth"].items():
        holes = rng.random(depth.shape) < 0.02
        depth[holes] = np.nan
        noisy["depth"][cam] = depth
    assert VisionPerceiver().perceive(noisy, info).names == clean.names


def test_missing_or_bad_camera_matrices() -> None:
    with pytest.raises(ValueError, match=r"camera 'top' has no intrinsics/pose in info\['cameras'\]"):
        VisionPerceiver().perceive(_obs(), {"cameras": {}})
    info = _info()
    info["cameras"]["top"]["K"] = np.eye(4)
    with pytest.raises(ValueError, match=r"info\['cameras'\]\['top'\]\['K'\] must be a finite \(3, 3\) matrix"):
        VisionPerceiver().perceive(_obs(), info)
    with pytest.raises(ValueError, match="info must hold 'cameras'"):
        VisionPerceiver().perceive(_obs(), {})


def test_observation_without_images_is_refused() -> None:
    with pytest.raises(ValueError, match="'rgb' and 'depth'"):
        VisionPerceiver().perceive({"proprio": {}}, _info())
    with pytest.raises(ValueError, match="at least one camera"):
        VisionPerceiver().perceive({"rgb": {}, "depth": {}}, _info())


def test_bad_proprio_is_refused() -> None:
    obs = _obs()
    obs["proprio"]["ee_pos"] = np.array([np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"obs\['proprio'\]\['ee_pos'\] must be 3 finite numbers"):
        VisionPerceiver().perceive(obs, _info())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rgb=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.float32, np.int16]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=12),
    ),
    depth=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.uint16]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=12),
    ),
)
def test_any_array_gives_a_scene_or_a_value_error(rgb: np.ndarray, depth: np.ndarray) -> None:
    try:
        scene = VisionPerceiver().perceive(
            _obs(rgb=rgb, depth=depth), _info(*rgb.shape[:2]) if rgb.ndim >= 2 else _info()
        )
    except ValueError as e:
        assert "'top'" in str(e)
    else:
        assert isinstance(scene, SceneGraph)


@settings(max_examples=30, deadline=None)
@given(
    rgb=hnp.arrays(np.uint8, (H, W, 3)),
    depth=hnp.arrays(
        np.float32,
        (H, W),
        elements=st.one_of(st.floats(-1.0, 200.0, width=32), st.sampled_from([np.nan, np.inf, -np.inf])),
    ),
)
def test_noise_frames_never_crash(rgb: np.ndarray, depth: np.ndarray) -> None:
    scene = VisionPerceiver().perceive(_obs(rgb=rgb, depth=depth), _info())
    assert len(set(scene.names)) == len(scene.names)
