"""H.264 episode videos through the ffmpeg binary shipped in ``imageio-ffmpeg``.

OpenCV's wheels cannot encode H.264; that ffmpeg can, with yuv420p so the files play in browsers.
Frames are tiled camera images (uint8 HxWx3 RGB). They are converted to yuv420p here, with OpenCV
(about 4x cheaper than ffmpeg's own conversion, and half the bytes through the pipe), and piped
raw into one ffmpeg process per video running ``libx264 -preset ultrafast`` on one thread.
The costs are measured in docs/recording.md.

ffmpeg runs in a process group of its own, so a Ctrl-C at the terminal does not reach it: the
program closes the pipe and ffmpeg finishes a playable file (also when the program is killed).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO

import cv2
import imageio_ffmpeg
import numpy as np

#: x264's constant quantiser (0-51, lower is better): 15 keeps the caption text crisp. A constant quantiser
#: instead of a constant rate factor (``-crf 15``) took 15-25% less CPU for files 40% smaller, and as
#: close to the frames (PSNR 0.1 dB lower: the chroma subsampling limits it, not the quantiser).
QP = 15
#: ``-fps_mode passthrough``: every frame piped in is one frame of the file, with the timestamps ``-r`` gives.
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", str(QP), "-threads", "1", "-fps_mode", "passthrough"]
#: RGB -> Y'CbCr, ITU-R BT.601 limited range (as a 3x4 matrix for ``cv2.transform``): what players assume
#: for untagged yuv420p H.264, and what OpenCV's ``COLOR_RGB2YUV_I420`` and ffmpeg's default conversion compute.
BT601 = (
    np.array(
        [
            [65.481, 128.553, 24.966, 16 * 255],
            [-37.797, -74.203, 112.0, 128 * 255],
            [112.0, -93.786, -18.214, 128 * 255],
        ]
    )
    / 255
)


def tile(images: Mapping[str, np.ndarray]) -> np.ndarray:
    """Camera images side by side, in the mapping's order (all must share a height)."""
    frames = list(images.values())
    if not frames:
        raise ValueError("no camera images to tile")
    return np.concatenate(frames, axis=1)


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (HxWx3 uint8) as Y'CbCr 4:4:4 (HxWx3 uint8, :data:`BT601`)."""
    return cv2.transform(rgb, BT601)


def yuv420_planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V planes (views, full, half and half size) of an I420 ``frame``: ``(H * 3 / 2) x W`` uint8,
    the layout of OpenCV's ``COLOR_RGB2YUV_I420`` and ffmpeg's ``yuv420p``."""
    height, width = frame.shape[0] * 2 // 3, frame.shape[1]
    flat = frame.reshape(-1)
    quarter = height * width // 4
    return (
        frame[:height],
        flat[height * width : height * width + quarter].reshape(height // 2, width // 2),
        flat[height * width + quarter :].reshape(height // 2, width // 2),
    )


class VideoWriter:
    """Writes frames to an H.264 (yuv420p) mp4; use as a context manager so the file is always finalised.

    Args:
        path: the ``.mp4`` file (its folder is created).
        fps: frame rate.
        size: ``(width, height)`` of the frames, when known in advance: ffmpeg is then started at once
            (before the first frame) instead of on the first ``write``.
    """

    def __init__(self, path: Path, fps: float = 20.0, size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.fps = fps
        self.frames = 0
        self._size: tuple[int, int] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._yuv: np.ndarray | None = None
        if size is not None:
            self._start(*size)

    def _start(self, width: int, height: int) -> None:
        self._size = (width, height)
        even = (width + width % 2, height + height % 2)  # yuv420p needs even sides: odd ones are padded
        self._yuv = np.empty((even[1] * 3 // 2, even[0]), dtype=np.uint8)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fps = Fraction(self.fps).limit_denominator()
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            f"{even[0]}x{even[1]}",
            "-r",
            str(fps),
            "-i",
            "-",
            "-an",
            *_X264,
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(self.path),
        ]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open while ffmpeg runs; close() closes it
        # process_group=0: out of the terminal's Ctrl-C, and (unlike a preexec_fn) still started with
        # vfork: about 1 ms instead of 20-24 ms from a process holding a simulator (docs/recording.md).
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, process_group=0
        )

    def write(self, frame: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame (the first frame fixes the size, unless ``size`` was given)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a video frame must be HxWx3 uint8, got shape {frame.shape} dtype {frame.dtype}")
        h, w = frame.shape[:2]
        if self._size is None:
            self._start(w, h)
        elif (w, h) != self._size:
            raise ValueError(f"frame size {(w, h)} differs from the video's {self._size}")
        if self._yuv is None:
            raise ValueError(f"{self.path}: the video is closed")
        if w % 2 or h % 2:
            frame = cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420, dst=self._yuv)
        self._send(self._yuv)

    def write_yuv420(self, frame: np.ndarray) -> None:
        """Append one frame already in I420 (see :func:`yuv420_planes`; even width and height): skips the
        conversion of :meth:`write`."""
        height, width = (frame.shape[0] * 2 // 3, frame.shape[1]) if frame.ndim == 2 else (0, 0)
        if frame.dtype != np.uint8 or not height or height % 2 or width % 2 or frame.shape[0] != height * 3 // 2:
            raise ValueError(f"an I420 frame must be (H*3/2)xW uint8 with H and W even, got shape {frame.shape}")
        if self._size is None:
            self._start(width, height)
        elif (width, height) != self._size:
            raise ValueError(f"frame size {(width, height)} differs from the video's {self._size}")
        self._send(frame)

    def _send(self, frame: np.ndarray) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise ValueError(f"{self.path}: the video is closed")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except OSError as e:
            raise OSError(f"ffmpeg stopped taking frames for {self.path}: {self._ffmpeg_says()}") from e
        self.frames += 1

    def _ffmpeg_says(self) -> str:
        """The end of ffmpeg's error output."""
        if self._stderr is None:
            return "no message"
        fd = self._stderr.fileno()  # shared with ffmpeg: read without moving the offset
        end = os.fstat(fd).st_size
        text = os.pread(fd, 2000, max(0, end - 2000)).decode(errors="replace").strip()
        return text or "no message"

    def close(self) -> None:
        """Finish the file (idempotent). A video without frames is removed (ffmpeg cannot finish one)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if self.frames == 0:
                proc.kill()
                proc.wait()
                if proc.stdin is not None:
                    proc.stdin.close()
                self.path.unlink(missing_ok=True)
                return
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass  # ffmpeg already gone: its status and message say why, below
            try:
                status = proc.wait()
            except BaseException:  # Ctrl-C while ffmpeg finishes: do not leave it behind
                proc.kill()
                raise
            if status != 0:
                raise OSError(f"ffmpeg failed on {self.path} (status {status}): {self._ffmpeg_says()}")
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
