"""Ctrl-C / SIGTERM mid-episode: a playable partial video and an episode marked interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import imageio
import pytest


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_finalises_a_playable_video(tmp_path, sig):
    cmd = [
        sys.executable,
        "-m",
        "embodied.cli",
        "run",
        "--task",
        "clear_table",
        "--seed",
        "2",
        "--perception",
        "ground_truth",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the episode is under way (frames being written)
        traces = list(tmp_path.glob("*/trace.jsonl"))
        if traces and "tool_call" in traces[0].read_text():
            break
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["interrupted"] is True and summary["reason"] == "interrupted by the user"
    reader = imageio.get_reader(folder / "video.mp4")
    frames = reader.count_frames()
    reader.close()
    assert 0 < frames == summary["video_frames"]
    assert (folder / "report.html").is_file()


def _start(out, *extra):
    cmd = [sys.executable, "-m", "embodied.cli", "run", "--task", "stack", "--seed", "1", "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "delay"),
    [(sig, delay) for sig in (signal.SIGINT, signal.SIGTERM) for delay in (0.0, 0.03, 0.1)],
)
def test_a_signal_during_start_up_still_leaves_a_finished_folder(tmp_path, sig, delay):
    """Signalled just after its folder appears (env reset, first render, memory, progress line
    starting up): the folder holds an interrupted episode.json, a report and a strict JSON trace."""
    proc = _start(tmp_path, "--no-memory")
    deadline = time.time() + 120
    while not any(tmp_path.iterdir()) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out, out
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "episode.json").read_text())
    assert summary["interrupted"] is True and summary["reason"] == "interrupted by the user"
    assert summary["success"] is False and summary["verified"] is False
    assert (folder / "report.html").is_file()
    events = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    assert events and events[-1]["kind"] == "episode_end" and events[-1]["interrupted"] is True
    if summary["video_frames"]:
        reader = imageio.get_reader(folder / "video.mp4")
        assert reader.count_frames() == summary["video_frames"]
        reader.close()
