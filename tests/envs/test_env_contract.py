"""The Gymnasium contract every tabletop backend keeps, checked the same way on each."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.errors import UnknownTaskError

BACKENDS = {
    "embodied/Tabletop-v0": "envs.tabletop.env:TabletopEnv",
    "embodied/PybulletTabletop-v0": "envs.pybullet.env:PybulletTabletopEnv",
}


@pytest.fixture(params=sorted(BACKENDS))
def env_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_check_env_passes_with_warnings_as_errors(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=False)


def test_registered_with_string_entry_point(env_id):
    assert gym.spec(env_id).entry_point == BACKENDS[env_id]


def test_same_seed_same_episode(make_env, env_id):
    runs = []
    for _ in range(2):
        env = make_env(env_id=env_id, task="tower", seed=7)
        obs, info = env.reset()
        frames = [obs["rgb"]["front"]]
        for t in range(6):
            obs, *_ = env.step(np.array([0.5, -0.3, -0.4, 0.2, 1.0 if t > 3 else -1.0]))
            frames.append(obs["rgb"]["top"])
        runs.append((info["instruction"], obs["proprio"]["joint_pos"], frames, obs["depth"]["front"]))
    (i1, q1, f1, d1), (i2, q2, f2, d2) = runs
    assert i1 == i2
    np.testing.assert_array_equal(q1, q2)
    np.testing.assert_array_equal(d1, d2)
    for a, b in zip(f1, f2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unknown_task_lists_valid_ones(env_id):
    with pytest.raises(UnknownTaskError, match=r"valid tasks are: .*stack"):
        gym.make(env_id, task="juggle")


def test_actions_are_validated_and_clipped(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=())
    env.reset()
    with pytest.raises(ValueError, match="5 numbers"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0, 0, 0, 0]))
    *_, info = env.step(np.array([3.0, 0, 0, 0, 0]))
    assert info["action_clipped"]


def test_workspace_limit_clips_and_reports(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=())
    obs, _ = env.reset()
    clipped = []
    for _ in range(40):
        obs, _, _, _, info = env.step(np.array([0, 0, 1.0, 0, -1.0]))
        clipped.append(info["clipped"])
    assert any(clipped)
    assert obs["proprio"]["ee_pos"][2] <= 0.50 + 0.01


def test_truncates_at_max_steps(make_env, env_id):
    env = make_env(env_id=env_id, task="stack", seed=0, modalities=(), max_steps=3)
    env.reset()
    flags = [env.step(np.zeros(5))[3] for _ in range(3)]
    assert flags == [False, False, True]


@pytest.mark.parametrize("kwargs", [{"cameras": ("side",)}, {"modalities": ("thermal",)}, {"control_hz": 1e4}])
def test_bad_constructor_arguments_say_what_is_valid(env_id, kwargs):
    with pytest.raises(ValueError, match=r"choose|faster"):
        gym.make(env_id, **kwargs)


def test_pybullet_rejects_an_unknown_renderer():
    with pytest.raises(ValueError, match="choose"):
        gym.make("embodied/PybulletTabletop-v0", renderer="vulkan")
