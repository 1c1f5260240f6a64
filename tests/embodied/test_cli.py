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
    result = runner.invoke(app, ["run", "--task", "stack", "--seed", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["success"] is True
    reader = imageio.get_reader(folder / "video.mp4")
    meta = reader.get_meta_data()
    assert meta["codec"] == "h264"
    assert reader.count_frames() == summary["video_frames"] == summary["steps"] + 1
    frame = reader.get_data(0)
    assert frame.shape == (240, 640, 3)
    assert frame.std() > 10  # a rendered scene, not a blank image
    reader.close()
    assert "video" in result.output and "episode.json" in result.output


def test_unknown_task_is_a_usage_error_listing_valid_tasks(tmp_path):
    result = runner.invoke(app, ["run", "--task", "juggle", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "valid tasks are" in result.output and "stack" in result.output
    assert not any(tmp_path.iterdir())  # nothing written for a bad command


def test_bad_option_value_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["run", "--seed", "abc", "--out", str(tmp_path)])
    assert result.exit_code == 2


def test_no_video_writes_only_the_summary(tmp_path):
    result = runner.invoke(app, ["run", "--task", "pick_place", "--seed", "1", "--no-video", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["episode.json"]


def test_tasks_lists_every_family():
    result = runner.invoke(app, ["tasks"])
    assert result.exit_code == 0
    for name in ("pick_place", "stack", "tower", "sort_by_colour", "clear_table"):
        assert name in result.output
