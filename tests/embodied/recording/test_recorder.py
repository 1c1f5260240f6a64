"""The recorder: video frames match the trace, overlays are drawn, the trace survives a crash."""

from __future__ import annotations

import json

import imageio
import numpy as np
import pytest

from embodied.recording.recorder import CAPTION_HEIGHT, Recorder


def _obs(value: int) -> dict:
    img = np.full((60, 80, 3), value, dtype=np.uint8)
    return {"rgb": {"front": img, "top": img}}


def test_video_has_one_frame_per_step_and_a_caption(tmp_path):
    rec = Recorder(tmp_path, fps=10, video_size=None)  # the cameras' own size
    rec.set_overlay(instruction="stack the red block on the blue block", subgoal="on(red, blue)")
    for i in range(12):
        rec.on_step(_obs(10 * i), {})
        rec.event("step", n=i, value=np.float32(i))
    paths = rec.finish({"success": True})
    summary = json.loads(paths["episode"].read_text())
    assert summary["video_frames"] == 12 and summary["trace_events"] == 12
    reader = imageio.get_reader(paths["video"])
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 12
    assert frames[0].shape == (60 + CAPTION_HEIGHT, 160, 3)
    caption = frames[5][60:, :, :].astype(int)
    assert (caption > 150).any(), "the caption text is drawn"
    assert abs(int(frames[5][:60].mean()) - 50) < 6, "the camera image is above the caption"
    events = [json.loads(line) for line in paths["trace"].read_text().splitlines()]
    assert [e["frame"] for e in events] == list(range(12))
    assert events[3]["value"] == 3.0


def test_views_are_scaled_to_the_video_size_and_the_caption_with_them(tmp_path):
    rec = Recorder(tmp_path, fps=10)  # default: 640x480 per camera view
    rec.set_overlay(instruction="stack the red block on the blue block")
    for _ in range(3):
        rec.on_step(_obs(100), {})
    paths = rec.finish({})
    reader = imageio.get_reader(paths["video"])
    frame = reader.get_data(1)
    reader.close()
    scale = 640 / 320
    assert frame.shape == (480 + round(CAPTION_HEIGHT * scale), 2 * 640, 3)
    assert abs(int(frame[:480].mean()) - 100) < 4, "both views fill the top, scaled"
    assert (frame[480:].astype(int) > 150).any(), "the caption text is drawn at full size"


def test_a_bad_video_size_is_refused_with_the_valid_range(tmp_path):
    with pytest.raises(ValueError, match="each from 16 to 4096 pixels"):
        Recorder(tmp_path, video_size=(0, 480))


def test_trace_is_readable_before_finish(tmp_path):
    rec = Recorder(tmp_path, video=False)
    rec.event("decision", thoughts="pick the red block first")
    rec.event("tool_call", name="pick", arguments={"object": "red block"})
    # No finish(): as after a SIGKILL, every event already written is on disk and parses.
    lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["decision", "tool_call"]
    rec.finish({})


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_are_written_as_strings_so_every_line_is_json(tmp_path):
    """A model or a diverged simulator sending NaN/Infinity must not make the trace unreadable."""
    rec = Recorder(tmp_path, video=False)
    rec.event("tool_call", arguments={"x": float("nan"), "y": float("inf"), "z": np.float64("-inf")})
    paths = rec.finish({"success": False, "sim_time_s": float("nan")})
    lines = paths["trace"].read_text().splitlines()
    assert [_strict_json(line)["arguments"] for line in lines] == [{"x": "NaN", "y": "Infinity", "z": "-Infinity"}]
    assert _strict_json(paths["episode"].read_text())["sim_time_s"] == "NaN"
    page = paths["report"].read_text()
    assert "NaN," not in page and "Infinity}" not in page


def test_finish_does_not_hang_when_ctrl_c_cut_a_queue_wake_up_in_half(tmp_path):
    """Ctrl-C raised inside ``Queue.put``'s ``notify`` (after a waiter's lock is released, before it
    is removed from the waiter list) leaves a stale waiter that eats the next wake-up. Seen as
    ``embodied run`` hanging forever in ``finish()`` after SIGTERM; simulated here exactly."""
    import threading
    import time

    rec = Recorder(tmp_path, fps=10)
    rec.on_step(_obs(10), {})
    cond = rec._queue.not_empty
    deadline = time.monotonic() + 5
    while not cond._waiters and time.monotonic() < deadline:  # the writer is idle in get()
        time.sleep(0.01)
    with cond:
        cond._waiters[0].release()  # the first half of notify(); the interrupt lands before the second
    time.sleep(0.1)  # the writer wakes, finds nothing and waits again behind the stale waiter
    finisher = threading.Thread(target=rec.finish, args=({"success": False},), daemon=True)
    finisher.start()
    finisher.join(timeout=10)
    assert not finisher.is_alive(), "Recorder.finish() hung: the video writer never saw the stop"


def _solid(rgb: tuple[int, int, int], shape=(240, 320)) -> np.ndarray:
    img = np.empty((*shape, 3), dtype=np.uint8)
    img[:] = rgb
    return img


def _decode(path) -> list[np.ndarray]:
    reader = imageio.get_reader(path)
    frames = [f for f in reader]
    reader.close()
    return frames


def test_colours_survive_the_yuv_conversion_and_the_caption_follows_the_overlay(tmp_path):
    """The default path builds frames straight in yuv420p: colours must come out as they went in, and the
    cached caption bar must change when (and only when) the overlay does."""
    rec = Recorder(tmp_path, fps=10)
    colours = {"front": (200, 40, 30), "top": (30, 60, 210)}
    rec.set_overlay(subgoal="on(red, blue)")
    for i in range(6):
        if i == 3:
            rec.set_overlay(skill="pick(red block)")
        rec.on_step({"rgb": {name: _solid(c) for name, c in colours.items()}}, {})
    paths = rec.finish({})
    frames = _decode(paths["video"])
    assert len(frames) == 6 and frames[0].shape == (480 + 2 * CAPTION_HEIGHT, 1280, 3)
    for frame in frames:
        for i, colour in enumerate(colours.values()):
            view = frame[40:440, 640 * i + 40 : 640 * i + 600].reshape(-1, 3).mean(axis=0)
            assert np.abs(view - colour).max() < 6, (view, colour)
    captions = [f[480:].astype(int) for f in frames]

    def changed(a: int, b: int) -> int:  # caption pixels that differ by more than compression noise
        return int((np.abs(captions[a] - captions[b]).max(axis=2) > 80).sum())

    assert changed(1, 2) < 50 and changed(4, 5) < 50
    assert changed(2, 3) > 300, "the new skill is on the caption from frame 3"


def test_odd_sizes_are_padded_to_even_and_every_frame_is_kept(tmp_path):
    rec = Recorder(tmp_path, fps=10, video_size=(101, 75))  # caption 20 px: 95 rows, an odd height
    for i in range(4):
        rec.on_step({"rgb": {"front": _solid((10 * i, 100, 50), (60, 80))}}, {})
    paths = rec.finish({})
    frames = _decode(paths["video"])
    assert len(frames) == 4 == json.loads(paths["episode"].read_text())["video_frames"]
    assert frames[0].shape == (96, 102, 3)
    assert np.abs(frames[2][10:60, 10:90].reshape(-1, 3).mean(axis=0) - (20, 100, 50)).max() < 6


def test_video_writer_keeps_its_api_and_leaves_no_file_without_frames(tmp_path):
    from embodied.recording.video import VideoWriter

    with VideoWriter(tmp_path / "a.mp4", fps=5) as video:
        for i in range(3):
            video.write(_solid((50 * i, 80, 120), (48, 64)))
        assert video.frames == 3
    assert len(_decode(tmp_path / "a.mp4")) == 3
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        VideoWriter(tmp_path / "b.mp4").write(np.zeros((4, 4), dtype=np.uint8))
    started = VideoWriter(tmp_path / "c.mp4", size=(64, 48))  # ffmpeg started before any frame
    started.close()
    assert not (tmp_path / "c.mp4").exists()
