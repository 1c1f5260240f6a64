"""The env's arguments: one EnvConfig for every backend, checked when the env is made."""

from __future__ import annotations

import gymnasium as gym
import pytest

from envs.base import TabletopEnvBase, tabletop_env
from envs.config import DEFAULT_MAX_STEPS, EnvConfig
from envs.errors import UnknownTaskError

BACKENDS = ("embodied/Tabletop-v0", "embodied/PybulletTabletop-v0")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "juggle"}, "valid tasks are"),
        ({"cameras": ()}, r"EnvConfig.cameras=\(\): choose one or more of \('front', 'top'\)"),
        ({"image_size": (0, 160)}, r"EnvConfig.image_size=\(0, 160\): choose \(height, width\)"),
        ({"modalities": ("thermal",)}, r"EnvConfig.modalities=\('thermal',\): choose from"),
        ({"render_mode": "human"}, r"EnvConfig.render_mode='human': choose None or one of \('rgb_array',\)"),
        ({"control_hz": 0.0}, "EnvConfig.control_hz must be > 0, got 0.0"),
        ({"max_steps": 0}, "EnvConfig.max_steps must be > 0, got 0"),
    ],
)
def test_a_bad_argument_names_the_field_the_value_and_what_is_allowed(kwargs, message):
    with pytest.raises((ValueError, UnknownTaskError), match=message):
        EnvConfig(**kwargs)


def test_lists_become_tuples():
    config = EnvConfig(cameras=["top"], image_size=[60, 80], modalities=["rgb"])
    assert (config.cameras, config.image_size, config.modalities) == (("top",), (60, 80), ("rgb",))


@pytest.mark.parametrize("env_id", BACKENDS)
def test_keywords_and_a_config_make_the_same_env(make_env, env_id):
    by_keywords = tabletop_env(make_env(env_id=env_id, task="stack", seed=2, modalities=(), max_steps=7))
    config = EnvConfig(task="stack", seed=2, image_size=(120, 160), modalities=(), max_steps=7)
    by_config = tabletop_env(make_env(env_id=env_id, config=config))
    assert by_keywords.config == by_config.config == config
    assert by_keywords.max_steps == 7 and by_keywords.task_name == "stack"


@pytest.mark.parametrize("env_id", BACKENDS)
def test_an_unknown_argument_lists_the_valid_ones(env_id):
    with pytest.raises(TypeError, match=r"unknown tabletop env argument\(s\) \['max_step'\].*'max_steps'"):
        gym.make(env_id, max_step=10)


@pytest.mark.parametrize("env_id", BACKENDS)
def test_registered_time_limit_agrees_with_the_env(make_env, env_id):
    assert gym.spec(env_id).max_episode_steps == DEFAULT_MAX_STEPS == EnvConfig().max_steps
    longer = make_env(
        env_id=env_id, modalities=(), max_steps=3 * DEFAULT_MAX_STEPS, max_episode_steps=3 * DEFAULT_MAX_STEPS
    )
    assert longer.spec is not None and longer.spec.max_episode_steps == tabletop_env(longer).max_steps


@pytest.mark.parametrize(("env_id", "control_hz", "fps"), [(BACKENDS[0], 10.0, 10.0), (BACKENDS[1], 40.0, 40.0)])
def test_render_fps_follows_the_control_rate(make_env, env_id, control_hz, fps):
    env = make_env(env_id=env_id, modalities=(), control_hz=control_hz)
    assert env.metadata["render_fps"] == pytest.approx(fps)
    assert make_env(env_id=env_id, modalities=()).metadata["render_fps"] == pytest.approx(20.0)


def test_ground_truth_needs_a_tabletop_env(make_env):
    assert isinstance(tabletop_env(make_env(modalities=())), TabletopEnvBase)
    with pytest.raises(TypeError, match="expected an embodied tabletop env, got CartPoleEnv"):
        tabletop_env(gym.make("CartPole-v1"))
