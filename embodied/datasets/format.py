"""The LeRobot v3.0 layout: path templates, size caps, features and ``meta/info.json``.

A dataset is a folder::

    meta/info.json                                   fps, features, totals, path templates
    meta/stats.json                                  per-feature min/max/mean/std/count/quantiles
    meta/tasks.parquet                               task string (pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet         one row per episode
    data/chunk-000/file-000.parquet                  one row per frame, many episodes per file
    videos/{video_key}/chunk-000/file-000.mp4        many episodes per file, back to back

Files roll over to the next ``file-NNN`` at a size cap and to the next ``chunk-NNN`` after
``chunks_size`` files, as LeRobot's own writer does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from embodied.datasets.errors import DatasetError

CODEBASE_VERSION = "v3.0"
DEFAULT_CHUNK_SIZE = 1000  # files per chunk folder
DEFAULT_DATA_FILE_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILE_SIZE_IN_MB = 200

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEO_DIR = "videos"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_PATH = DATA_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = VIDEO_DIR + "/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"

VIDEO_CODEC = "h264"
VIDEO_PIX_FMT = "yuv420p"

NUMERIC_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")
DTYPES = (*NUMERIC_DTYPES, "string", "video", "image")
# Image features (one PNG per frame) exist in LeRobot datasets; we read their info but write videos only.
WRITABLE_DTYPES = (*NUMERIC_DTYPES, "string", "video")


@dataclass(frozen=True)
class Feature:
    """One column of the dataset: its dtype, the shape of one frame's value and optional axis names.

    A shape of ``(1,)`` is a scalar per frame (stored as a plain parquet column, as LeRobot does).
    Video features are ``(height, width, 3)`` uint8 frames with even height and width (yuv420p).
    """

    dtype: str
    shape: tuple[int, ...]
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise DatasetError(f"Feature.dtype={self.dtype!r} is not supported; use one of {', '.join(DTYPES)}")
        shape = tuple(self.shape) if isinstance(self.shape, list | tuple) else self.shape
        if (
            not isinstance(shape, tuple)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise DatasetError(f"Feature.shape={self.shape!r} must be a non-empty tuple of positive ints, e.g. (7,)")
        object.__setattr__(self, "shape", shape)
        if self.names is not None:
            names = tuple(self.names)
            if not all(isinstance(n, str) for n in names):
                raise DatasetError(f"Feature.names={self.names!r} must be strings (or None)")
            object.__setattr__(self, "names", names)
        if self.dtype in ("video", "image"):
            if len(shape) != 3 or shape[2] != 3:
                raise DatasetError(
                    f"Feature.shape={shape} of a {self.dtype} feature must be (height, width, 3), e.g. (96, 128, 3)"
                )
            if self.dtype == "video" and (shape[0] % 2 or shape[1] % 2):
                raise DatasetError(
                    f"Feature.shape={shape}: yuv420p video needs an even height and width, e.g. "
                    f"({shape[0] + shape[0] % 2}, {shape[1] + shape[1] % 2}, 3)"
                )
        if self.dtype == "string" and shape != (1,):
            raise DatasetError(f"Feature.shape={shape} of a string feature must be (1,)")

    @property
    def is_video(self) -> bool:
        return self.dtype == "video"

    def to_json(self) -> dict[str, Any]:
        names: list[str] | None = list(self.names) if self.names is not None else None
        if self.is_video and names is None:
            names = ["height", "width", "channels"]
        return {"dtype": self.dtype, "shape": list(self.shape), "names": names}

    @classmethod
    def from_json(cls, key: str, spec: Mapping[str, Any]) -> Feature:
        """A feature from its ``info.json`` entry (LeRobot's ``names`` may also be a dict of lists)."""
        try:
            names = spec.get("names")
            if isinstance(names, Mapping):
                names = [str(n) for group in names.values() for n in (group if isinstance(group, list) else [group])]
            return cls(str(spec["dtype"]), tuple(spec["shape"]), tuple(names) if names is not None else None)
        except (KeyError, TypeError, DatasetError) as e:
            raise DatasetError(f"info.json feature {key!r} is malformed ({spec!r}): {e}") from e


DEFAULT_FEATURES: dict[str, Feature] = {
    "timestamp": Feature("float32", (1,)),
    "frame_index": Feature("int64", (1,)),
    "episode_index": Feature("int64", (1,)),
    "index": Feature("int64", (1,)),
    "task_index": Feature("int64", (1,)),
}


def check_feature_names(features: Mapping[str, Feature]) -> None:
    """Feature names must be non-empty, contain no ``/`` (LeRobot flattens stats with it) and not shadow defaults."""
    for key, ft in features.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise DatasetError(f"feature name {key!r} is not allowed: use a non-empty name without '/'")
        if key in DEFAULT_FEATURES or key == "task":
            raise DatasetError(
                f"feature name {key!r} is reserved: the writer adds {', '.join(DEFAULT_FEATURES)} itself"
            )
        if not isinstance(ft, Feature):
            raise DatasetError(f"feature {key!r} must be a Feature, got {type(ft).__name__}")
        if ft.dtype not in WRITABLE_DTYPES:
            raise DatasetError(f"feature {key!r}: dtype {ft.dtype!r} cannot be written; use one of {WRITABLE_DTYPES}")


def video_info(feature: Feature, fps: int) -> dict[str, Any]:
    """The ``info`` block LeRobot stores with each video feature (what PyAV reports for the file)."""
    height, width, channels = feature.shape
    return {
        "video.height": height,
        "video.width": width,
        "video.codec": VIDEO_CODEC,
        "video.pix_fmt": VIDEO_PIX_FMT,
        "video.is_depth_map": False,
        "video.fps": fps,
        "video.channels": channels,
        "has_audio": False,
    }


def make_info(
    *, fps: int, features: Mapping[str, Feature], robot_type: str, episodes: int = 0, frames: int = 0, tasks: int = 0
) -> dict[str, Any]:
    """The ``meta/info.json`` document (user features first, then the default ones)."""
    all_features = {**features, **DEFAULT_FEATURES}
    feature_json: dict[str, Any] = {}
    for key, ft in all_features.items():
        feature_json[key] = ft.to_json()
        if ft.is_video:
            feature_json[key]["info"] = video_info(ft, fps)
    has_video = any(ft.is_video for ft in features.values())
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": episodes,
        "total_frames": frames,
        "total_tasks": tasks,
        "chunks_size": DEFAULT_CHUNK_SIZE,
        "data_files_size_in_mb": DEFAULT_DATA_FILE_SIZE_IN_MB,
        "video_files_size_in_mb": DEFAULT_VIDEO_FILE_SIZE_IN_MB,
        "fps": fps,
        "splits": {"train": f"0:{episodes}"} if episodes else {},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if has_video else None,
        "features": feature_json,
    }


def next_chunk_file(chunk_index: int, file_index: int, chunks_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, int]:
    """The (chunk, file) after this one: ``chunks_size`` files per chunk."""
    if file_index >= chunks_size - 1:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1
