"""``build_episode``: one assembly of env, task, planner, perceiver, memory and agent for every entry point."""

from __future__ import annotations

import pytest

from embodied.errors import MemoryStoreError
from embodied.factory import EpisodeConfig, UsageError, build_episode
from envs.config import DEFAULT_MAX_STEPS
from envs.tasks.chains import CHAIN_LENGTH


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"env": "gazebo"}, "env 'gazebo' is not one of tabletop, pybullet"),
        ({"embedder": "bert"}, "embedder 'bert' is not one of auto, minilm, lexical"),
        ({"max_steps": 0}, "max_steps must be > 0, got 0"),
        ({"modalities": ("rgb", "smell")}, r"modalities \['smell'\] are not among rgb, depth, segmentation"),
        ({"task": "put the red block in the bowl", "env_samples_task": True}, "needs a task family"),
        ({"task": " "}, "task ' ' is empty: give a task family"),
        ({"instruction": ""}, "instruction '' is empty: give the task's new wording, or leave --instruction out"),
        ({"instruction": " \n "}, r"instruction ' \\n ' is empty"),
        ({"seed": -1}, "seed -1 is negative: give an integer >= 0"),
    ],
)
def test_a_bad_config_names_the_field_and_what_is_allowed(fields, message):
    with pytest.raises(UsageError, match=message):
        EpisodeConfig(**fields)


def test_an_episode_is_assembled_with_its_task_and_memory_and_closes_both(tmp_path):
    config = EpisodeConfig(
        "stack", seed=2, instruction="pile it up", perception="ground_truth", memory=str(tmp_path / "m.sqlite")
    )
    with build_episode(config) as episode:
        assert episode.task is not None and episode.task.instruction == "pile it up"
        assert episode.reset_options == {"task": episode.task}
        assert episode.memory is not None and episode.memory.path == tmp_path / "m.sqlite"
        assert episode.agent.planner.name == "llm+p"  # the default: the local model sets the goal
        obs, info = episode.env.reset(seed=2, options=episode.reset_options)
        assert info["instruction"] == "pile it up" and set(obs) == {"rgb", "depth", "segmentation", "proprio"}
    with pytest.raises(MemoryStoreError, match="closed"):
        episode.memory.store.counts()


def test_a_free_instruction_is_grounded_in_a_suite_scene():
    with build_episode(EpisodeConfig("put the red block in the bowl", seed=1, perception="ground_truth")) as episode:
        assert episode.task is not None and episode.task.family == "instruction"
        names = [o.name for o in episode.task.scene.objects]
        assert "red block" in names and any("bowl" in n for n in names)


def test_a_bad_option_fails_before_an_env_or_memory_is_opened(tmp_path):
    with pytest.raises(UsageError, match="valid tasks are"):
        build_episode(EpisodeConfig("juggle", memory=str(tmp_path / "m.sqlite")))
    assert not (tmp_path / "m.sqlite").exists()


def test_suite_episodes_let_the_env_sample_the_task_and_chains_get_a_budget_per_task():
    config = EpisodeConfig(
        "stack", seed=4, instruction="pile them", env_samples_task=True, modalities=("rgb", "depth"), max_steps=50
    )
    with build_episode(config) as episode:
        assert episode.task is None and episode.reset_options is None
        obs, info = episode.env.reset(seed=4)
        assert (info["task"], info["instruction"]) == ("stack", "pile them")
        assert set(obs) == {"rgb", "depth", "proprio"}
    chain = EpisodeConfig("chain", seed=0, env_samples_task=True, chain=True, max_steps=50, perception="ground_truth")
    with build_episode(chain) as episode:
        assert episode.task is None
        assert episode.env.unwrapped.max_steps == 50 * CHAIN_LENGTH
    long = EpisodeConfig("stack", max_steps=DEFAULT_MAX_STEPS + 500, perception="ground_truth")
    with build_episode(long) as episode:  # Gymnasium's TimeLimit must not cut it at the registered default
        assert episode.env.spec is not None and episode.env.spec.max_episode_steps == DEFAULT_MAX_STEPS + 500


@pytest.mark.slow
def test_the_episode_runs_with_the_tracer_given():
    class Events:
        def __init__(self) -> None:
            self.kinds: list[str] = []

        def event(self, kind, **data):
            self.kinds.append(kind)

        def set_overlay(self, **fields):
            pass

        def on_step(self, obs, info):
            pass

    events = Events()
    config = EpisodeConfig("stack", seed=3, perception="ground_truth", max_steps=600)
    with build_episode(config, tracer=events) as episode:
        result = episode.run()
    assert result.success and result.verified
    assert events.kinds[0] == "episode_start" and events.kinds[-1] == "episode_end"
