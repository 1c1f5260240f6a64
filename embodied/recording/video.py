"""H.264 episode videos through the ffmpeg binary shipped in ``imageio-ffmpeg``.

OpenCV's wheels cannot encode H.264; ``imageio_ffmpeg.write_frames`` can, with yuv420p so the
files play in browsers. Frames are tiled camera images (uint8 HxWx3).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import imageio_ffmpeg
import numpy as np


def tile(images: Mapping[str, np.ndarray]) -> np.ndarray:
    """Camera images side by side, in the mapping's order (all must share a height)."""
    frames = list(images.values())
    if not frames:
        raise ValueError("no camera images to tile")
    return np.concatenate(frames, axis=1)


class VideoWriter:
    """Writes frames to an H.264 mp4; use as a context manager so the file is always finalised."""

    def __init__(self, path: Path, fps: float = 20.0) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._gen: Generator[Any, Any, None] | None = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one HxWx3 uint8 frame (the first frame fixes the size)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a video frame must be HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
        h, w = frame.shape[:2]
        if self._gen is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._size = (w, h)
            self._gen = imageio_ffmpeg.write_frames(
                str(self.path),
                (w, h),
                fps=self.fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                macro_block_size=2,
                quality=7,
                output_params=["-movflags", "+faststart", "-preset", "ultrafast", "-threads", "1"],
            )
            self._gen.send(None)
        elif (w, h) != self._size:
            raise ValueError(f"frame size {(w, h)} differs from the video's {self._size}")
        self._gen.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
