"""Per-episode recording: ``video.mp4`` with overlays, ``trace.jsonl``, ``episode.json``, ``report.html``
and ``sensors.mcap`` (every control step's camera images, camera matrices, proprio and action).

Frames are tiled camera images with the instruction, current subgoal, running skill and a line
of the latest thought drawn on a caption bar. Frames are built and encoded on a writer thread (with
ffmpeg in its own process) so that the control loop only queues the step's camera images; what the
video costs is in docs/recording.md. Trace events are one JSON object per line,
written and flushed as they happen, each with the index of the video frame shown at that time,
so a killed process still leaves a trace readable up to its last event. The sensor log
(:mod:`embodied.recording.sensor_log`) is written on a thread of its own, on the trace's clock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from embodied.core.jsonsafe import dumps
from embodied.recording.episode_report import write_report
from embodied.recording.sensor_log import SENSOR_LOG, SensorLogWriter
from embodied.recording.video import VideoWriter, ycbcr, yuv420_planes

log = logging.getLogger(__name__)

CAPTION_HEIGHT = 64  # pixels at the scale of a 320-pixel-wide camera view
#: Each camera view in the video, ``(width, height)``: upscaled from the agent's camera images when
#: they are smaller (a second render pass at this size costs more: docs/recording.md).
DEFAULT_VIDEO_SIZE = (640, 480)
FONT = cv2.FONT_HERSHEY_SIMPLEX
_STOP = object()
WAKE_UP_S = 0.2  # the video writer rechecks its queue at least this often


@dataclass
class Overlay:
    """What the caption bar shows."""

    instruction: str = ""
    subgoal: str = ""
    skill: str = ""
    thought: str = ""


def _fit(text: str, width_px: int, scale: float) -> str:
    max_chars = max(8, int(width_px / (scale * 20)))
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def caption_bar(width: int, overlay: Overlay, scale: float = 1.0) -> np.ndarray:
    """The dark caption bar, ``width`` pixels wide, carrying the overlay's four lines, drawn ``scale`` times
    the size used for a 320-pixel-wide camera view (text stays sharp on an upscaled frame)."""
    bar = np.empty((round(CAPTION_HEIGHT * scale), width, 3), dtype=np.uint8)
    bar[:] = (24, 24, 28)
    lines = (
        (f"task: {overlay.instruction}", (255, 255, 255)),
        (f"subgoal: {overlay.subgoal}", (120, 220, 255)),
        (f"skill: {overlay.skill}", (140, 255, 140)),
        (f"thought: {overlay.thought}", (230, 200, 255)),
    )
    font, thickness = 0.36 * scale, max(1, round(scale * 0.8))
    for i, (text, colour) in enumerate(lines):
        origin = (round(6 * scale), round((13 + 15 * i) * scale))
        cv2.putText(bar, _fit(text, width, font), origin, FONT, font, colour, thickness, cv2.LINE_AA)
    return bar


def draw_caption(frame: np.ndarray, overlay: Overlay, scale: float = 1.0) -> np.ndarray:
    """``frame`` with the :func:`caption_bar` below it."""
    return np.concatenate([frame, caption_bar(frame.shape[1], overlay, scale)], axis=0)


class FrameComposer:
    """Builds the video frames in one reused buffer: the camera views side by side, scaled to ``video_size``
    each, with the caption bar below, redrawn only when its text changes (a few times an episode;
    drawing it took 2.5 ms a frame at 640x480 a view).

    When every side is even (the default sizes), frames are built straight in I420: the views are
    converted to Y'CbCr at the cameras' size, then only the luma is scaled (at 2x, the chroma plane
    is already the right size); ready for :meth:`VideoWriter.write_yuv420`. Otherwise they are RGB
    for :meth:`VideoWriter.write`.

    Args:
        video_size: ``(width, height)`` of each camera view (None: the cameras' own).
        overlays: draw the caption bar.
    """

    def __init__(self, video_size: tuple[int, int] | None, overlays: bool = True) -> None:
        self.video_size = video_size
        self.overlays = overlays
        self._buffer: np.ndarray | None = None
        self._drawn: Overlay | None = None

    def _scale(self) -> float:
        return self.video_size[0] / 320 if self.video_size is not None else 1.0

    def compose(self, views: tuple[np.ndarray, ...], overlay: Overlay) -> np.ndarray:
        """The frame for camera ``views`` under ``overlay``: I420 (2-D) or RGB (HxWx3); valid until the next call."""
        tiled = views[0] if len(views) == 1 else np.concatenate(views, axis=1)
        if tiled.ndim != 3 or tiled.shape[2] != 3 or tiled.dtype != np.uint8:
            raise ValueError(f"camera images must be HxWx3 uint8, got shape {tiled.shape} dtype {tiled.dtype}")
        if self.video_size is None:
            height, width = tiled.shape[:2]
        else:
            width, height = self.video_size[0] * len(views), self.video_size[1]
        bar = round(CAPTION_HEIGHT * self._scale()) if self.overlays else 0
        if width % 2 or height % 2 or bar % 2:
            return self._compose_rgb(tiled, (width, height), bar, overlay)
        shape = ((height + bar) * 3 // 2, width)
        if self._buffer is None or self._buffer.shape != shape:
            self._buffer, self._drawn = np.empty(shape, dtype=np.uint8), None
        y, u, v = yuv420_planes(self._buffer)
        ycc = ycbcr(tiled)
        luma, chroma = (width, height), (width // 2, height // 2)
        for plane, channel, size in ((y, 0, luma), (u, 1, chroma), (v, 2, chroma)):
            top = plane[: size[1]]
            if tiled.shape[:2] == (size[1], size[0]):  # chroma at 2x, luma at 1x: already the plane's size
                cv2.extractChannel(ycc, channel, dst=top)
            else:
                smaller = size[0] < tiled.shape[1]
                interpolation = cv2.INTER_AREA if smaller else cv2.INTER_LINEAR
                cv2.resize(cv2.extractChannel(ycc, channel), size, dst=top, interpolation=interpolation)
        if bar and overlay != self._drawn:
            caption = yuv420_planes(cv2.cvtColor(caption_bar(width, overlay, self._scale()), cv2.COLOR_RGB2YUV_I420))
            for plane, part in zip((y, u, v), caption, strict=True):
                plane[plane.shape[0] - part.shape[0] :] = part
            self._drawn = overlay
        return self._buffer

    def _compose_rgb(self, tiled: np.ndarray, size: tuple[int, int], bar: int, overlay: Overlay) -> np.ndarray:
        width, height = size
        if self._buffer is None or self._buffer.shape != (height + bar, width, 3):
            self._buffer, self._drawn = np.empty((height + bar, width, 3), dtype=np.uint8), None
        top = self._buffer[:height]
        if tiled.shape[:2] == (height, width):
            top[:] = tiled
        else:
            cv2.resize(tiled, (width, height), dst=top, interpolation=cv2.INTER_LINEAR)
        if bar and overlay != self._drawn:
            self._buffer[height:] = caption_bar(width, overlay, self._scale())
            self._drawn = overlay
        return self._buffer


class Recorder:
    """Records one episode into ``folder`` (see the module docstring).

    Args:
        folder: the episode folder (created).
        video: write ``video.mp4``.
        fps: video frame rate (the env's control rate gives real time).
        overlays: draw the caption bar.
        sensors: write ``sensors.mcap`` (the camera images ``embodied export`` puts in a bag). Off by default:
            with video on, it nearly doubled a 147-step episode's wall time on 2 cores (docs/recording.md).
        depth: put the depth images in the sensor log too (about 4x its size and 2x its writing time;
            docs/recording.md).
        video_size: ``(width, height)`` of each camera view in the video (None: the cameras' own);
            views are scaled on the writer thread and the caption is drawn at that size.
    """

    def __init__(
        self,
        folder: Path,
        video: bool = True,
        fps: float = 20.0,
        overlays: bool = True,
        sensors: bool = False,
        depth: bool = False,
        video_size: tuple[int, int] | None = DEFAULT_VIDEO_SIZE,
    ) -> None:
        if video_size is not None and (len(video_size) != 2 or min(video_size) < 16 or max(video_size) > 4096):
            raise ValueError(f"video_size={video_size!r}: give (width, height), each from 16 to 4096 pixels")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.overlay = Overlay()
        self.overlays = overlays
        self.video_size = video_size
        self.fps = fps
        self.frames = 0
        self.events = 0
        self.encode_seconds = 0.0
        self._t0 = time.perf_counter()
        self.start_time_ns = time.time_ns()  # the trace's t = 0 as a UNIX time
        self._trace: TextIO | None = (self.folder / "trace.jsonl").open("w", encoding="utf-8")
        self._composer = FrameComposer(video_size, overlays)
        self._writer = VideoWriter(self.folder / "video.mp4", fps) if video else None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=256)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if self._writer is not None:
            self._thread = threading.Thread(target=self._encode, name="video-writer", daemon=True)
            self._thread.start()
        self._sensors: SensorLogWriter | None = None
        if sensors:
            self._sensors = SensorLogWriter(self.folder / SENSOR_LOG, self.start_time_ns, depth=depth)

    def _encode(self) -> None:
        assert self._writer is not None
        while True:
            try:
                # Timed: a Ctrl-C raised in the main thread inside Queue.put can lose the wake-up of
                # an untimed get (threading.Condition.notify is not interrupt-safe); finish() would
                # then wait for this thread forever.
                item = self._queue.get(timeout=WAKE_UP_S)
            except queue.Empty:
                continue
            if item is _STOP:
                return
            t = time.perf_counter()
            try:
                views, overlay = item
                frame = self._composer.compose(views, overlay)
                if frame.ndim == 2:
                    self._writer.write_yuv420(frame)
                else:
                    self._writer.write(frame)
            except Exception as e:  # noqa: BLE001 - surfaced by finish()
                self._error = e
                return
            finally:
                self.encode_seconds += time.perf_counter() - t

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        """Queue the step's camera images as one video frame and the step for the sensor log (cheap: encoding
        is on the writer threads)."""
        if self._sensors is not None:
            self._sensors.put(time.perf_counter() - self._t0, obs, info)
        if self._writer is None or "rgb" not in obs or self._error is not None:
            return  # (after a writer error nothing drains the queue: finish() reports the error)
        views = tuple(obs["rgb"].values())  # the envs return fresh arrays: tiled on the writer thread
        if not views:
            raise ValueError("no camera images to record")
        self._queue.put((views, Overlay(**vars(self.overlay))))
        self.frames += 1

    def set_overlay(self, **fields: str) -> None:
        """Update any of ``instruction``, ``subgoal``, ``skill``, ``thought`` for the next frames."""
        for key, value in fields.items():
            if not hasattr(self.overlay, key):
                raise ValueError(f"unknown overlay field {key!r}; fields are {list(vars(self.overlay))}")
            setattr(self.overlay, key, " ".join(str(value).split()))

    def event(self, kind: str, **data: Any) -> None:
        """Append one trace event and flush it to disk."""
        if self._trace is None:
            return
        record: dict[str, Any] = {
            "i": self.events,
            "t": round(time.perf_counter() - self._t0, 4),
            "frame": max(self.frames - 1, 0),
            "kind": kind,
        }
        record.update(data)
        self._trace.write(dumps(record, ensure_ascii=False) + "\n")
        self._trace.flush()
        self.events += 1

    def finish(self, summary: dict[str, Any]) -> dict[str, Path]:
        """Finalise the video, close the trace and write ``episode.json``; returns the files written."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError as e:
                self._error = self._error or e
        if self._sensors is not None:
            self._sensors.close()
        if self._trace is not None:
            self._trace.close()
            self._trace = None
        paths = {"trace": self.folder / "trace.jsonl", "episode": self.folder / "episode.json"}
        summary = {**summary, "video_frames": self._writer.frames if self._writer else 0, "trace_events": self.events}
        if self._writer is not None:
            paths["video"] = self._writer.path
        if self._sensors is not None:
            summary["sensor_steps"] = self._sensors.steps
            paths["sensors"] = self._sensors.path
        paths["episode"].write_text(dumps(summary, indent=2) + "\n")
        paths["report"] = write_report(self.folder, summary, self.fps)
        if self._error is not None:
            raise RuntimeError(f"video encoding failed: {self._error}") from self._error
        if self._sensors is not None and self._sensors.error is not None:
            raise RuntimeError(f"sensor log failed: {self._sensors.error}") from self._sensors.error
        return paths
