"""`embodied run` end to end: exit codes, the episode folder, and a video that decodes back."""

from __future__ import annotations

import json

import imageio
import pytest
from typer.testing import CliRunner

from embodied.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_run_writes_a_playable_video_and_summary(tmp_path):
    args = ["run", "--task", "stack", "--seed", "3", "--perception", "ground_truth", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "planner llm+p (goal from local, checked against the pattern grounder" in result.output  # the default
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["success"] is True and summary["verified"] is True
    reader = imageio.get_reader(folder / "video.mp4")
    meta = reader.get_meta_data()
    assert meta["codec"] == "h264"
    frames = reader.count_frames()
    assert frames == summary["video_frames"] == summary["stats"]["control_steps"] + 1
    frame = reader.get_data(0)
    # Two 320x240 cameras side by side, each upscaled to 640x480 (--video-size), the caption below.
    assert frame.shape[1] == 1280 and frame.shape[0] > 480
    assert frame[:480].std() > 10  # a rendered scene, not a blank image
    reader.close()
    events = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    assert max(e["frame"] for e in events) == frames - 1
    assert "video" in result.output and "episode.json" in result.output


@pytest.mark.slow
def test_free_instruction_gets_a_scene_where_it_makes_sense(tmp_path):
    args = ["run", "--task", "put the red block in the bowl", "--perception", "ground_truth", "--no-video"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["goal_atoms"][0][0] == "in" and "red block" in summary["goal_atoms"][0][1]


def test_unknown_task_is_a_usage_error_listing_valid_tasks(tmp_path):
    result = runner.invoke(app, ["run", "--task", "juggle", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "valid tasks are" in result.output and "stack" in result.output
    assert not any(tmp_path.iterdir())  # nothing written for a bad command


def test_bad_option_value_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["run", "--seed", "abc", "--out", str(tmp_path)])
    assert result.exit_code == 2


def test_no_video_writes_no_video(tmp_path):
    args = ["run", "--task", "pick_place", "--seed", "1", "--perception", "ground_truth", "--no-video"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["episode.json", "report.html", "trace.jsonl"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--planner", "genius"], "not one of classical, llm, llm+p, auto"),
        (["--planner", "llm"], "needs --llm"),
        (["--perception", "telepathy"], "not one of vision, ground_truth"),
        (["--llm", "skynet:9000"], "unknown chat model spec"),
        (["--video-size", "huge"], "'huge' is not valid; give WIDTHxHEIGHT"),
        (["--video-size", "10x10"], "'10x10' is not valid"),
    ],
)
def test_bad_options_name_the_valid_choices(tmp_path, args, message):
    result = runner.invoke(app, ["run", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_tasks_lists_every_family():
    result = runner.invoke(app, ["tasks"])
    assert result.exit_code == 0
    for name in ("pick_place", "stack", "tower", "sort_by_colour", "clear_table"):
        assert name in result.output


def test_an_error_during_the_episode_still_finishes_its_folder(tmp_path, monkeypatch):
    """The folder is finished (episode.json with the error, report.html) before the error is raised again."""
    from embodied.factory import Episode

    def broken(self: Episode) -> None:
        raise RuntimeError("the simulator fell over")

    monkeypatch.setattr(Episode, "run", broken)
    args = ["run", "--task", "stack", "--perception", "ground_truth", "--no-video", "--no-memory"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["reason"] == "stopped by an error: RuntimeError: the simulator fell over"
    assert summary["interrupted"] is False and summary["success"] is False
    assert (folder / "report.html").is_file()
    events = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    assert events[-1]["kind"] == "episode_end"
