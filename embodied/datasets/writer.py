"""Writing a LeRobot v3.0 dataset episode by episode.

``DatasetWriter.add_episode`` checks the whole episode first (features, dtypes, shapes, lengths,
meta values) and raises :class:`DatasetError` before anything is written, so a bad episode costs
nothing already saved. Frames go into the open data parquet file (one row group per episode) and each
video feature's open mp4 (episodes back to back); a file is closed and the next one started when
its size would pass the cap. ``finalize`` closes the files and writes the metadata.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embodied.datasets import stats as stats_mod
from embodied.datasets.errors import DatasetError
from embodied.datasets.format import (
    DATA_PATH,
    DEFAULT_DATA_FILE_SIZE_IN_MB,
    DEFAULT_FEATURES,
    DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    EPISODES_PATH,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
    Feature,
    check_feature_names,
    make_info,
    next_chunk_file,
)
from embodied.datasets.inputs import check_frames, check_meta, check_videos
from embodied.datasets.tables import data_schema, to_column, write_tasks
from embodied.recording.video import VideoWriter

log = logging.getLogger(__name__)
_MB = 1024 * 1024


class _Stream:
    """One rolling sequence of files (``chunk-XXX/file-YYY``) with at most one open at a time."""

    def __init__(self, root: Path, template: str, cap_mb: float, **fmt: str) -> None:
        self.root, self.template, self.cap_bytes, self.fmt = root, template, cap_mb * _MB, fmt
        self.chunk, self.file = 0, 0
        self.units_in_file = 0  # rows or frames written to the open file
        self.started = False

    @property
    def path(self) -> Path:
        return self.root / self.template.format(chunk_index=self.chunk, file_index=self.file, **self.fmt)

    def roll_if_full(self, incoming_units: int) -> bool:
        """Move to the next file when the open one plus ``incoming_units`` would reach the cap."""
        if not self.started or self.units_in_file == 0:
            return False
        # What is on disk lags the encoder by its buffers; every row or frame takes at least one byte.
        size = max(self.path.stat().st_size if self.path.exists() else 0, self.units_in_file)
        if size + size / self.units_in_file * incoming_units < self.cap_bytes:
            return False
        self.chunk, self.file = next_chunk_file(self.chunk, self.file)
        self.units_in_file = 0
        return True


class DatasetWriter:
    """Writes episodes into a new LeRobot v3.0 dataset folder; use :meth:`create`."""

    def __init__(
        self,
        root: Path,
        *,
        fps: int,
        features: dict[str, Feature],
        robot_type: str,
        data_file_size_mb: float,
        video_file_size_mb: float,
    ) -> None:
        self.root, self.fps, self.features, self.robot_type = root, fps, dict(features), robot_type
        self._caps = (data_file_size_mb, video_file_size_mb)
        self._data = _Stream(root, DATA_PATH, data_file_size_mb)
        self._data_writer: pq.ParquetWriter | None = None
        self._schema = data_schema(self.features)
        self._videos = {
            k: _Stream(root, VIDEO_PATH, video_file_size_mb, video_key=k)
            for k, f in self.features.items()
            if f.is_video
        }
        self._video_writers: dict[str, VideoWriter] = {}
        self._tasks: list[str] = []
        self._episodes: list[dict[str, Any]] = []
        self._episode_stats: list[dict[str, stats_mod.Stats]] = []
        self._meta_kinds: dict[str, str] = {}
        self._frames = 0
        self._finalized = False

    @classmethod
    def create(
        cls,
        root: Path | str,
        *,
        fps: int,
        features: dict[str, Feature],
        robot_type: str = "embodied-tabletop",
        data_file_size_mb: float = DEFAULT_DATA_FILE_SIZE_IN_MB,
        video_file_size_mb: float = DEFAULT_VIDEO_FILE_SIZE_IN_MB,
    ) -> DatasetWriter:
        """Start a dataset in ``root``, which must not exist or be empty; writes ``meta/info.json``."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise DatasetError(
                f"{root} already exists and is not an empty folder: choose a new path or remove it first"
            )
        if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
            raise DatasetError(f"fps={fps!r} must be a positive int (LeRobot stores an integer frame rate)")
        if not features:
            raise DatasetError(
                "features is empty: give at least one Feature, e.g. {'action': Feature('float32', (5,))}"
            )
        check_feature_names(features)
        if data_file_size_mb <= 0 or video_file_size_mb <= 0:
            raise DatasetError(f"file size caps must be positive, got {data_file_size_mb}, {video_file_size_mb} MB")
        root.mkdir(parents=True, exist_ok=True)
        writer = cls(
            root,
            fps=fps,
            features=features,
            robot_type=robot_type,
            data_file_size_mb=data_file_size_mb,
            video_file_size_mb=video_file_size_mb,
        )
        writer._write_info()
        return writer

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def num_frames(self) -> int:
        return self._frames

    def add_episode(
        self,
        *,
        task: str,
        frames: Mapping[str, np.ndarray],
        videos: Mapping[str, np.ndarray | Sequence[np.ndarray]],
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """Save one episode and return its index; nothing is written unless the whole episode is valid."""
        if self._finalized:
            raise DatasetError(f"the dataset in {self.root} is finalized: create a new one to add episodes")
        if not isinstance(task, str) or not task.strip():
            raise DatasetError(f"task={task!r} must be a non-empty string (the instruction of the episode)")
        columns, length = check_frames(self.features, frames)
        clips = check_videos(self.features, videos, length)
        if length < 0:  # only video features
            length = len(next(iter(clips.values())))
        meta_row = check_meta(meta or {}, self._meta_kinds)

        ep = len(self._episodes)
        if task not in self._tasks:
            self._tasks.append(task)
        columns.update(self._default_columns(ep, length, self._tasks.index(task)))
        ep_stats = {
            k: stats_mod.vector_stats(v, self._feature(k))
            for k, v in columns.items()
            if stats_mod.has_stats(self._feature(k))
        }
        ep_stats.update({k: stats_mod.video_stats(v) for k, v in clips.items()})

        row: dict[str, Any] = {"episode_index": ep, "tasks": [task], "length": length}
        row.update(self._write_data(columns, length))
        for key, clip in clips.items():
            row.update(self._write_video(key, clip))
        row.update(meta_row)
        row.update(stats_mod.flatten(ep_stats))
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        self._episodes.append(row)
        self._episode_stats.append(ep_stats)
        self._frames += length
        return ep

    def finalize(self) -> None:
        """Close the data and video files and write ``meta/`` (idempotent)."""
        if self._finalized:
            return
        self._finalized = True
        if self._data_writer is not None:
            self._data_writer.close()
            self._data_writer = None
        for writer in self._video_writers.values():
            writer.close()
        self._video_writers.clear()
        self._write_info()
        if not self._episodes:
            log.warning("dataset %s has no episodes: only meta/info.json was written", self.root)
            return
        write_tasks(self.root / TASKS_PATH, self._tasks)
        (self.root / STATS_PATH).write_text(
            json.dumps(stats_mod.to_json(stats_mod.aggregate_all(self._episode_stats)), indent=4)
        )
        keys = list(dict.fromkeys(k for row in self._episodes for k in row))
        table = pa.table({k: [row.get(k) for row in self._episodes] for k in keys})
        path = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finalize()

    def _feature(self, key: str) -> Feature:
        return self.features.get(key) or DEFAULT_FEATURES[key]

    def _default_columns(self, ep: int, length: int, task_index: int) -> dict[str, np.ndarray]:
        frame_index = np.arange(length, dtype=np.int64)
        return {
            "timestamp": (frame_index / self.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(length, ep, dtype=np.int64),
            "index": np.arange(self._frames, self._frames + length, dtype=np.int64),
            "task_index": np.full(length, task_index, dtype=np.int64),
        }

    def _write_data(self, columns: Mapping[str, np.ndarray], length: int) -> dict[str, Any]:
        stream = self._data
        if stream.roll_if_full(length) and self._data_writer is not None:
            self._data_writer.close()
            self._data_writer = None
        if self._data_writer is None:
            stream.path.parent.mkdir(parents=True, exist_ok=True)
            self._data_writer = pq.ParquetWriter(stream.path, self._schema, compression="snappy")
            stream.started = True
        arrays = [to_column(columns[f.name], self._feature(f.name)) for f in self._schema]
        self._data_writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
        stream.units_in_file += length
        return {
            "data/chunk_index": stream.chunk,
            "data/file_index": stream.file,
            "dataset_from_index": self._frames,
            "dataset_to_index": self._frames + length,
        }

    def _write_video(self, key: str, clip: np.ndarray) -> dict[str, Any]:
        stream = self._videos[key]
        if stream.roll_if_full(len(clip)):
            self._video_writers.pop(key).close()
        writer = self._video_writers.get(key)
        if writer is None:
            writer = self._video_writers[key] = VideoWriter(stream.path, fps=self.fps)
            stream.started = True
        start = stream.units_in_file
        for frame in clip:
            writer.write(frame)
        stream.units_in_file += len(clip)
        return {
            f"videos/{key}/chunk_index": stream.chunk,
            f"videos/{key}/file_index": stream.file,
            f"videos/{key}/from_timestamp": start / self.fps,
            f"videos/{key}/to_timestamp": (start + len(clip)) / self.fps,
        }

    def _write_info(self) -> None:
        info = make_info(
            fps=self.fps,
            features=self.features,
            robot_type=self.robot_type,
            episodes=len(self._episodes),
            frames=self._frames,
            tasks=len(self._tasks),
        )
        info["data_files_size_in_mb"], info["video_files_size_in_mb"] = self._caps
        path = self.root / INFO_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=4))
