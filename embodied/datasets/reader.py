"""Reading a LeRobot v3.0 dataset folder: metadata, per-episode frames and decoded videos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from embodied.datasets import stats as stats_mod
from embodied.datasets import video_io
from embodied.datasets.errors import DatasetError
from embodied.datasets.format import CODEBASE_VERSION, EPISODES_DIR, INFO_PATH, TASKS_PATH, Feature
from embodied.datasets.tables import read_tasks, to_numpy


def episode_files(root: Path) -> list[Path]:
    return sorted((root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))


def missing_parts(root: Path) -> list[str]:
    """What a v3.0 dataset needs to be opened and ``root`` lacks (empty when it can be opened)."""
    if not root.is_dir():
        return [f"{root} is not a folder"]
    missing = [p for p in (INFO_PATH, TASKS_PATH) if not (root / p).is_file()]
    if not episode_files(root):
        missing.append(f"{EPISODES_DIR}/chunk-XXX/file-XXX.parquet")
    return missing


class Dataset:
    """A LeRobot v3.0 dataset on disk (written by :class:`DatasetWriter` or by LeRobot itself)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        missing = missing_parts(self.root)
        if missing:
            raise DatasetError(
                f"{self.root} is not a LeRobot v3.0 dataset: missing {', '.join(missing)} "
                "(write one with embodied.datasets.DatasetWriter; was it finalized?)"
            )
        try:
            self.info: dict[str, Any] = json.loads((self.root / INFO_PATH).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DatasetError(f"{self.root / INFO_PATH} cannot be read as JSON: {e}") from e
        version = self.info.get("codebase_version")
        if version != CODEBASE_VERSION:
            raise DatasetError(
                f"{self.root / INFO_PATH} has codebase_version={version!r}; only {CODEBASE_VERSION!r} is read "
                "(convert older datasets with LeRobot's convert_dataset_v21_to_v30)"
            )
        try:
            self.fps: int = int(self.info["fps"])
            self.features: dict[str, Feature] = {
                k: Feature.from_json(k, v) for k, v in dict(self.info["features"]).items()
            }
            self.data_path: str = str(self.info["data_path"])
            self.video_path: str | None = self.info.get("video_path")
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{self.root / INFO_PATH} lacks a field: {e}") from e
        self.tasks: list[str] = read_tasks(self.root / TASKS_PATH)
        table = pa.concat_tables([pq.read_table(p) for p in episode_files(self.root)], promote_options="default")
        rows = sorted(table.to_pylist(), key=lambda r: int(r["episode_index"]))
        self._episodes: dict[int, dict[str, Any]] = {int(r["episode_index"]): r for r in rows}
        self._data_cache: tuple[Path, pa.Table] | None = None

    @property
    def num_episodes(self) -> int:
        return int(self.info.get("total_episodes", len(self._episodes)))

    @property
    def num_frames(self) -> int:
        return int(self.info.get("total_frames", sum(int(r["length"]) for r in self._episodes.values())))

    @cached_property
    def video_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f.is_video]

    def _row(self, k: int) -> dict[str, Any]:
        try:
            return self._episodes[k]
        except KeyError:
            raise DatasetError(f"episode {k} is not in {self.root} (episodes: 0..{len(self._episodes) - 1})") from None

    def episode(self, k: int) -> dict[str, Any]:
        """The episodes-parquet row of episode ``k`` (indices, task list, extra meta columns), without stats."""
        return {c: v for c, v in self._row(k).items() if not c.startswith("stats/")}

    def episode_stats(self, k: int) -> dict[str, dict[str, np.ndarray]]:
        """Episode ``k``'s stats, ``{feature: {stat: array}}``."""
        return stats_mod.unflatten(self._row(k))

    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """``meta/stats.json`` as arrays."""
        return stats_mod.from_json(json.loads((self.root / "meta/stats.json").read_text()))

    def _data_table(self, row: dict[str, Any]) -> pa.Table:
        path = self.root / self.data_path.format(
            chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"])
        )
        if self._data_cache is None or self._data_cache[0] != path:
            if not path.is_file():
                raise DatasetError(f"{path} (data of episode {row['episode_index']}) is missing")
            self._data_cache = (path, pq.read_table(path))
        return self._data_cache[1]

    def episode_frames(self, k: int) -> dict[str, np.ndarray]:
        """All data columns of episode ``k`` as arrays with leading dim T, in frame order (shape-(1,)
        features, the default columns among them, come back as ``(T,)``)."""
        row = self._row(k)
        table = self._data_table(row)
        mask = pc.equal(table.column("episode_index"), pa.scalar(k, pa.int64()))
        part = table.filter(mask)
        order = np.argsort(part.column("frame_index").to_numpy(), kind="stable")
        out: dict[str, np.ndarray] = {}
        for name in part.column_names:
            feature = self.features.get(name) or Feature("float64", (1,))
            out[name] = to_numpy(part.column(name), feature)[order]
        return out

    def _video_file(self, key: str, row: dict[str, Any]) -> Path:
        if key not in self.video_keys or self.video_path is None:
            raise DatasetError(f"{key!r} is not a video feature of {self.root}; video features: {self.video_keys}")
        return self.root / self.video_path.format(
            video_key=key,
            chunk_index=int(row[f"videos/{key}/chunk_index"]),
            file_index=int(row[f"videos/{key}/file_index"]),
        )

    def episode_video(self, key: str, k: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """Decoded ``(T, h, w, 3)`` uint8 frames of episode ``k``; ``size=(width, height)`` resizes."""
        row = self._row(k)
        path = self._video_file(key, row)
        start = round(float(row[f"videos/{key}/from_timestamp"]) * self.fps)
        return video_io.read_range(path, fps=self.fps, start=start, count=int(row["length"]), size=size)

    def iter_episode_videos(self, key: str, size: tuple[int, int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(episode_index, frames)`` for every episode, decoding each video file once, in file order."""
        by_file: dict[Path, list[dict[str, Any]]] = {}
        for row in self._episodes.values():
            by_file.setdefault(self._video_file(key, row), []).append(row)
        for path, rows in by_file.items():
            rows.sort(key=lambda r: float(r[f"videos/{key}/from_timestamp"]))
            frames = video_io.iter_frames(path, size=size)
            try:
                yield from self._slice_file(key, path, frames, rows)
            finally:
                frames.close()

    def _slice_file(
        self, key: str, path: Path, frames: Iterator[np.ndarray], rows: list[dict[str, Any]]
    ) -> Iterator[tuple[int, np.ndarray]]:
        position = 0
        for row in rows:
            start, length = round(float(row[f"videos/{key}/from_timestamp"]) * self.fps), int(row["length"])
            clip: list[np.ndarray] = []
            for frame in frames:
                if position >= start:
                    clip.append(frame)
                position += 1
                if len(clip) == length:
                    break
            if len(clip) != length:
                raise DatasetError(f"{path} ends before episode {row['episode_index']}'s {length} frames")
            yield int(row["episode_index"]), np.stack(clip)
