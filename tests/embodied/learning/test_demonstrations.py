"""Demonstrations end to end: record a LeRobot v3.0 dataset with the scripted experts, replay it, train a
policy on it, and let that policy back ``pick`` in an episode; and the errors a user meets on the way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embodied.cli import app
from embodied.datasets import Dataset, validate
from embodied.factory import EpisodeConfig, UsageError, build_episode, make_registry
from embodied.learning.record import RecordConfig, record
from embodied.learning.replay import replay
from tests.embodied.cli._output import says

pytest.importorskip("torch")

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pick_place and a stack episode (seed 0 each) recorded by the classical planner with vision perception."""
    out = tmp_path_factory.mktemp("demos") / "ds"
    summary = record(RecordConfig(("pick_place", "stack"), 1, out, seed=0))
    assert summary.episodes == 2 and not summary.interrupted
    return out


@pytest.mark.slow
def test_a_recorded_dataset_is_valid_and_complete(dataset: Path) -> None:
    assert validate(dataset) == []
    ds = Dataset(dataset)
    assert ds.num_episodes == 2 and ds.fps == 20
    for k in range(2):
        meta, frames = ds.episode(k), ds.episode_frames(k)
        n = len(frames["action"])
        assert meta["success"] and meta["family"] == ("pick_place", "stack")[k] and meta["seed"] == 0
        assert ds.episode_video("observation.images.front", k).shape == (n, 240, 320, 3)
        calls = [json.loads(c) for c in meta["skill_calls"]]
        assert [c["name"] for c in calls] == ["pick", "place"]
        pick = calls[0]
        # every step of the pick call is labelled with it, and its target is where the block was seen
        assert (frames["skill.call"].reshape(-1)[pick["start"] : pick["end"]] == 0).all()
        assert np.allclose(frames["skill.target"][pick["start"]], pick["target"])
        assert frames["action"][:, 4].min() == -1.0 and frames["action"][:, 4].max() == 1.0  # opened and closed
        assert frames["next.done"].reshape(-1).tolist() == [False] * (n - 1) + [True]


@pytest.mark.slow
def test_replaying_the_actions_ends_where_the_recording_ended(dataset: Path) -> None:
    result = replay(dataset, 1)
    assert result.matches, result.errors_m
    assert result.max_error_m < 1e-3
    cli = runner.invoke(app, ["replay", str(dataset), "--episode", "0", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["matches"] is True


@pytest.mark.slow
def test_replay_notices_a_dataset_whose_actions_were_changed(dataset: Path, tmp_path: Path) -> None:
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = tmp_path / "changed"
    shutil.copytree(dataset, copy)
    data = next((copy / "data").rglob("*.parquet"))
    table = pq.read_table(data)
    actions = np.array(table.column("action").to_pylist(), dtype=np.float32)
    actions[5:40, 0] = 1.0  # push the hand forward during the pick
    col = table.schema.get_field_index("action")
    field = table.schema.field(col)
    table = table.set_column(col, field, pa.array(actions.tolist(), type=field.type))
    pq.write_table(table, data)
    result = replay(copy, 0)
    assert not result.matches and result.max_error_m > 0.01


@pytest.mark.slow
def test_a_policy_trained_on_it_backs_pick_under_the_same_schema(dataset: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "pick"
    cli = runner.invoke(app, ["policy", "train", str(dataset), "--skill", "pick", "--out", str(ckpt), "--epochs", "2"])
    assert cli.exit_code == 0, cli.output
    assert (ckpt / "model.safetensors").is_file()
    training = json.loads((ckpt / "config.json").read_text())["training"]
    assert training["episodes_used"] == 2 and training["train_samples"] > 50
    spec = f"pick=learned:{ckpt}"
    assert make_registry((), (spec,)).tools() == make_registry().tools()  # the planner cannot tell
    # Two epochs on two demonstrations teach little; the episode must still run through and the
    # learned pick's outcome come back to the planner as text, like any skill's.
    config = EpisodeConfig("pick_place", 3, planner="classical", modalities=("rgb", "depth"), policies=(spec,))
    with build_episode(config) as episode:
        result = episode.run()
    assert result.skill_calls >= 1 and result.reason


def test_bad_policy_options_say_what_is_valid(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not of the form SKILL=learned:PATH"):
        EpisodeConfig("stack", policies=("pick=scripted",))
    with pytest.raises(UsageError, match=r"can back pick, place, not 'push'"):
        EpisodeConfig("stack", policies=(f"push=learned:{tmp_path}",))
    with pytest.raises(UsageError, match=r"is not a learned-policy checkpoint.*embodied policy train"):
        make_registry((), (f"pick=learned:{tmp_path}",))
    result = runner.invoke(app, ["run", "--no-memory", "--policy", f"pick=learned:{tmp_path / 'none'}"])
    assert result.exit_code == 2 and says(result.output, "is not a learned-policy checkpoint")


def test_record_and_replay_refuse_bad_input_before_running(tmp_path: Path) -> None:
    bad_task = runner.invoke(app, ["record", "--task", "juggle", "--out", str(tmp_path / "a")])
    assert bad_task.exit_code == 2 and says(bad_task.output, "task 'juggle' is not a task family; choose one of")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    full = runner.invoke(app, ["record", "--out", str(tmp_path / "full")])
    assert full.exit_code == 2 and says(full.output, "is not empty")
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    missing = runner.invoke(app, ["replay", str(tmp_path / "nothing")])
    assert missing.exit_code == 2
    train = runner.invoke(app, ["policy", "train", str(tmp_path / "full"), "--out", str(tmp_path / "p")])
    assert train.exit_code == 2 and not (tmp_path / "p").exists()
    skill = runner.invoke(app, ["policy", "train", str(tmp_path / "full"), "--skill", "push"])
    assert skill.exit_code == 2 and says(skill.output, "skill 'push' cannot be learned yet; choose one of pick")


@pytest.mark.slow
def test_ctrl_c_while_recording_keeps_the_finished_episodes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "embodied.cli",
        "record",
        "--task",
        "pick_place",
        "--episodes",
        "20",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list((out / "data").rglob("*.parquet")):
        time.sleep(0.2)  # the first episode is written when its data file appears
    time.sleep(1.5)  # well into the second episode
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert says(output, "the dataset holds the") and says(output, "episodes finished before it")
    assert validate(out) == []
    ds = Dataset(out)
    assert 1 <= ds.num_episodes < 20
    assert all(ds.episode(k)["success"] for k in range(ds.num_episodes))
