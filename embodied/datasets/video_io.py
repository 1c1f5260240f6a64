"""Decoding the dataset's mp4 files with the ffmpeg binary of ``imageio-ffmpeg``.

Episodes lie back to back in one file: episode frames ``[start, start + length)`` are the ones with
timestamps ``from_timestamp + i / fps``. Reading one episode seeks with ``-ss`` half a frame before
its first timestamp (ffmpeg decodes from the previous key frame and drops what lies before), so the
first frame returned is exactly the episode's first; reading a whole file decodes it once.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np

from embodied.datasets.errors import DatasetError


def probe(path: Path) -> dict[str, Any]:
    """ffmpeg's view of the file: ``codec``, ``size`` (width, height), ``fps``, ``duration``, ``pix_fmt``."""
    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        meta: dict[str, Any] = next(gen)
    except (OSError, RuntimeError, StopIteration) as e:
        raise DatasetError(f"{path} cannot be read as a video: {e}") from e
    finally:
        gen.close()
    return meta


def count_frames(path: Path) -> int:
    """Frames in the file, counted by ffmpeg without decoding."""
    try:
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError) as e:
        raise DatasetError(f"{path} cannot be read as a video: {e}") from e
    return int(frames)


def _resize(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    out: np.ndarray = cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)
    return out


def iter_frames(
    path: Path, *, start_s: float | None = None, size: tuple[int, int] | None = None
) -> Generator[np.ndarray, None, None]:
    """Decoded ``(h, w, 3)`` uint8 frames from the file's start (or from ``start_s`` seconds), resized to
    ``size=(width, height)`` with area interpolation when given."""
    input_params = ["-ss", f"{start_s:.6f}"] if start_s else None
    gen = imageio_ffmpeg.read_frames(str(path), input_params=input_params, output_params=["-fps_mode", "passthrough"])
    try:
        try:
            meta = next(gen)
        except (OSError, RuntimeError, StopIteration) as e:
            raise DatasetError(f"{path} cannot be read as a video: {e}") from e
        width, height = meta["size"]
        for buf in gen:
            yield _resize(np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3), size)
    finally:
        gen.close()


def read_range(path: Path, *, fps: float, start: int, count: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames ``[start, start + count)`` of the file as ``(count, h, w, 3)`` uint8."""
    start_s = (start - 0.5) / fps if start > 0 else None
    frames: list[np.ndarray] = []
    for frame in iter_frames(path, start_s=start_s, size=size):
        frames.append(frame)
        if len(frames) == count:
            break
    if len(frames) != count:
        raise DatasetError(f"{path} holds {len(frames)} frames from frame {start}, the episode needs {count}")
    return np.stack(frames)
