"""Checking a dataset folder against the LeRobot v3.0 layout; every problem found is reported as one line.

What is checked:

- files: ``meta/info.json``, ``meta/stats.json``, ``meta/tasks.parquet``, ``meta/episodes/``, every
  data and video file an episode points at;
- ``info.json``: ``codebase_version`` v3.0, the required fields, path templates, ``splits``, totals,
  every feature well formed, the default features present with their dtype/shape, video features'
  ``info`` (h264, yuv420p, size, fps, no audio);
- episodes: ``episode_index`` 0..E-1, ``dataset_from_index``/``dataset_to_index`` contiguous and equal to
  the lengths, tasks known, the per-episode ``stats/...`` columns present and equal to the data's;
- data: the columns are the features', each episode's rows are ``length`` long with ``index`` =
  from..to-1, ``frame_index`` 0..T-1, ``timestamp`` = frame_index / fps (within 1e-4 s), ``task_index``
  one of the episode's tasks; ``index`` is 0..N-1 over the whole dataset;
- videos: episodes lie back to back from 0 s in each file, ``to - from`` = length / fps, the file's
  codec and size match, and its frame count equals the episodes' lengths (decoded, or probed when
  ``decode_videos=False``);
- ``stats.json``: one entry per feature (string features excepted) with min/max/mean/std/count of the
  right shapes, equal to stats recomputed from the data; video stats within 0.05 of the decoded frames'.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embodied.datasets import stats as stats_mod
from embodied.datasets.errors import DatasetError
from embodied.datasets.format import (
    CODEBASE_VERSION,
    DATA_PATH,
    DEFAULT_FEATURES,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_CODEC,
    VIDEO_PATH,
    Feature,
)
from embodied.datasets.reader import episode_files
from embodied.datasets.tables import read_tasks, to_numpy
from embodied.datasets.validate_videos import EpisodeStats, check_video

MAX_PROBLEMS = 100
INFO_FIELDS = (
    "codebase_version",
    "robot_type",
    "total_episodes",
    "total_frames",
    "total_tasks",
    "chunks_size",
    "data_files_size_in_mb",
    "video_files_size_in_mb",
    "fps",
    "splits",
    "data_path",
    "video_path",
    "features",
)
EPISODE_COLUMNS = (
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
    "meta/episodes/chunk_index",
    "meta/episodes/file_index",
)
TIMESTAMP_TOLERANCE_S = 1e-4
VIDEO_STATS_TOLERANCE = 0.05


def validate(root: Path | str, *, decode_videos: bool = True) -> list[str]:
    """Every problem found in the dataset at ``root`` (an empty list: a valid v3.0 dataset)."""
    root = Path(root)
    problems: list[str] = []
    if not root.is_dir():
        return [f"{root} is not a folder"]
    parsed = _check_info(root, problems)
    for rel in (TASKS_PATH, STATS_PATH):
        if not (root / rel).is_file():
            problems.append(f"{rel} is missing")
    if not episode_files(root):
        problems.append("meta/episodes/chunk-XXX/file-XXX.parquet is missing (no episode saved, or not finalized)")
    if parsed is None or problems:
        return problems
    info, features = parsed
    try:
        tasks = read_tasks(root / TASKS_PATH)
        rows = _read_episodes(root)
    except (DatasetError, OSError, pa.ArrowException) as e:
        return [*problems, f"metadata unreadable: {e}"]
    _check_episodes(info, features, rows, tasks, problems)
    ep_stats = _check_data(root, info, features, rows, tasks, problems)
    for key in (k for k, f in features.items() if f.is_video):
        check_video(root, info, key, features[key], rows, ep_stats, problems, decode=decode_videos)
    _check_stats(root, info, features, rows, ep_stats, problems, videos_decoded=decode_videos)
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]
    return problems


def _check_info(root: Path, problems: list[str]) -> tuple[dict[str, Any], dict[str, Feature]] | None:
    path = root / INFO_PATH
    if not path.is_file():
        problems.append(f"{INFO_PATH} is missing")
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        problems.append(f"{INFO_PATH} is not valid JSON: {e}")
        return None
    problems.extend(f"{INFO_PATH} lacks the field {f!r}" for f in INFO_FIELDS if f not in info)
    if info.get("codebase_version") != CODEBASE_VERSION:
        problems.append(f"{INFO_PATH}: codebase_version is {info.get('codebase_version')!r}, not {CODEBASE_VERSION!r}")
    fps = info.get("fps")
    if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
        problems.append(f"{INFO_PATH}: fps={fps!r} must be a positive int")
        return None
    features: dict[str, Feature] = {}
    for key, spec in dict(info.get("features") or {}).items():
        try:
            features[key] = Feature.from_json(key, spec)
        except DatasetError as e:
            problems.append(str(e))
    for key, default in DEFAULT_FEATURES.items():
        ft = features.get(key)
        if ft is None or (ft.dtype, ft.shape) != (default.dtype, default.shape):
            problems.append(f"{INFO_PATH}: default feature {key!r} must be {default.dtype} {default.shape}, got {ft}")
    has_video = any(f.is_video for f in features.values())
    if info.get("data_path") != DATA_PATH:
        problems.append(f"{INFO_PATH}: data_path={info.get('data_path')!r}, expected {DATA_PATH!r}")
    if info.get("video_path") != (VIDEO_PATH if has_video else None) and (has_video or info.get("video_path")):
        problems.append(f"{INFO_PATH}: video_path={info.get('video_path')!r}, expected {VIDEO_PATH!r}")
    total = info.get("total_episodes")
    if info.get("splits") != {"train": f"0:{total}"}:
        problems.append(f"{INFO_PATH}: splits={info.get('splits')!r}, expected {{'train': '0:{total}'}}")
    for key, ft in features.items():
        if ft.is_video:
            _check_video_info(key, ft, fps, dict(info["features"][key].get("info") or {}), problems)
    return info, features


def _check_video_info(key: str, ft: Feature, fps: int, vinfo: Mapping[str, Any], problems: list[str]) -> None:
    expected = {
        "video.height": ft.shape[0],
        "video.width": ft.shape[1],
        "video.channels": 3,
        "video.codec": VIDEO_CODEC,
        "video.pix_fmt": "yuv420p",
        "video.fps": fps,
        "has_audio": False,
    }
    for field, value in expected.items():
        if vinfo.get(field) != value:
            problems.append(f"{INFO_PATH}: features[{key!r}].info[{field!r}]={vinfo.get(field)!r}, expected {value!r}")


def _read_episodes(root: Path) -> list[dict[str, Any]]:
    table = pa.concat_tables([pq.read_table(p) for p in episode_files(root)], promote_options="default")
    return sorted(table.to_pylist(), key=lambda r: int(r.get("episode_index") or 0))


def _check_episodes(
    info: Mapping[str, Any], features: Mapping[str, Feature], rows: list[dict[str, Any]], tasks: list[str], p: list[str]
) -> None:
    needed = list(EPISODE_COLUMNS)
    for key in (k for k, f in features.items() if f.is_video):
        needed += [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
    for row in rows:
        lacking = [c for c in needed if row.get(c) is None]
        if lacking:
            p.append(f"episode {row.get('episode_index')}: episodes parquet lacks {lacking}")
    indices = [row.get("episode_index") for row in rows]
    if indices != list(range(len(rows))):
        p.append(f"episode_index must be 0..{len(rows) - 1} without gaps, got {indices[:20]}")
    if info.get("total_episodes") != len(rows):
        p.append(f"info.json total_episodes={info.get('total_episodes')} but meta/episodes has {len(rows)} rows")
    if info.get("total_tasks") != len(tasks):
        p.append(f"info.json total_tasks={info.get('total_tasks')} but meta/tasks.parquet has {len(tasks)} tasks")
    expected_from = 0
    for row in rows:
        ep, length = row.get("episode_index"), int(row.get("length") or 0)
        start, stop = row.get("dataset_from_index"), row.get("dataset_to_index")
        if length <= 0:
            p.append(f"episode {ep}: length={length} must be positive")
        if start != expected_from or stop is None or stop - start != length:
            p.append(
                f"episode {ep}: dataset_from_index={start}, dataset_to_index={stop} do not continue the previous "
                f"episode (expected {expected_from}..{expected_from + length})"
            )
        expected_from += length
        unknown = [t for t in row.get("tasks") or [] if t not in tasks]
        if unknown or not row.get("tasks"):
            p.append(f"episode {ep}: tasks {row.get('tasks')} are not (all) in meta/tasks.parquet")
    if info.get("total_frames") != expected_from:
        p.append(
            f"info.json total_frames={info.get('total_frames')} but the episodes' lengths add up to {expected_from}"
        )


def _check_data(
    root: Path,
    info: Mapping[str, Any],
    features: Mapping[str, Feature],
    rows: list[dict[str, Any]],
    tasks: list[str],
    p: list[str],
) -> EpisodeStats:
    """Checks the data files and returns each episode's stats recomputed from them."""
    columns = {k: f for k, f in features.items() if not f.is_video}
    by_file: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in rows:
        by_file.setdefault((int(row.get("data/chunk_index") or 0), int(row.get("data/file_index") or 0)), []).append(
            row
        )
    all_index: list[np.ndarray] = []
    ep_stats: EpisodeStats = {}
    for (chunk, file), file_rows in sorted(by_file.items()):
        rel = DATA_PATH.format(chunk_index=chunk, file_index=file)
        if not (root / rel).is_file():
            p.append(f"{rel} is missing (data of episodes {[r['episode_index'] for r in file_rows]})")
            continue
        table = pq.read_table(root / rel)
        lacking, extra = sorted(set(columns) - set(table.column_names)), sorted(set(table.column_names) - set(columns))
        if lacking or extra:
            p.append(f"{rel}: columns lacking {lacking}, not in info.json features {extra}")
            continue
        try:
            data = {k: to_numpy(table.column(k), f) for k, f in columns.items()}
        except (ValueError, pa.ArrowException) as e:
            p.append(f"{rel}: a column does not have its feature's dtype/shape: {e}")
            continue
        known = {int(r["episode_index"]) for r in file_rows}
        strays = sorted(set(np.unique(data["episode_index"]).tolist()) - known)
        if strays:
            p.append(f"{rel} holds rows of episodes {strays} that the episodes metadata puts elsewhere or lacks")
        all_index.append(data["index"])
        for row in file_rows:
            ep_data = _check_episode_rows(rel, info, row, data, tasks, p)
            if ep_data is not None:
                ep_stats[int(row["episode_index"])] = {
                    k: stats_mod.vector_stats(v, columns[k])
                    for k, v in ep_data.items()
                    if stats_mod.has_stats(columns[k])
                }
    index = np.sort(np.concatenate(all_index)) if all_index else np.zeros(0, dtype=np.int64)
    if not np.array_equal(index, np.arange(len(index))) or len(index) != info.get("total_frames"):
        p.append(
            f"the data's index column is not 0..{info.get('total_frames', 0) - 1} exactly once ({len(index)} rows)"
        )
    return ep_stats


def _check_episode_rows(
    rel: str,
    info: Mapping[str, Any],
    row: Mapping[str, Any],
    data: Mapping[str, np.ndarray],
    tasks: list[str],
    p: list[str],
) -> dict[str, np.ndarray] | None:
    ep, length = int(row["episode_index"]), int(row["length"])
    mask = data["episode_index"] == ep
    n = int(mask.sum())
    if n != length:
        p.append(f"{rel}: episode {ep} has {n} frame rows, its length is {length}")
        return None
    ep_data = {k: v[mask] for k, v in data.items()}
    order = np.argsort(ep_data["frame_index"], kind="stable")
    ep_data = {k: v[order] for k, v in ep_data.items()}
    start = int(row["dataset_from_index"])
    if not np.array_equal(ep_data["frame_index"], np.arange(length)):
        p.append(f"{rel}: episode {ep}'s frame_index is not 0..{length - 1}")
    if not np.array_equal(ep_data["index"], np.arange(start, start + length)):
        p.append(f"{rel}: episode {ep}'s index is not {start}..{start + length - 1} (dataset_from/to_index)")
    err = np.abs(ep_data["timestamp"].astype(np.float64) - ep_data["frame_index"] / float(info["fps"]))
    if err.size and err.max() > TIMESTAMP_TOLERANCE_S:
        p.append(f"{rel}: episode {ep}'s timestamps differ from frame_index / fps by up to {err.max():.6f} s")
    allowed = {tasks.index(t) for t in row.get("tasks") or [] if t in tasks}
    if not set(np.unique(ep_data["task_index"]).tolist()) <= allowed:
        p.append(f"{rel}: episode {ep}'s task_index values are not those of its tasks {row.get('tasks')}")
    return ep_data


def _stat_problems(
    where: str, key: str, stored: Mapping[str, Any], expected: stats_mod.Stats, shape: tuple[int, ...], *, video: bool
) -> list[str]:
    out: list[str] = []
    for name in ("min", "max", "mean", "std", "count"):
        if name not in stored:
            out.append(f"{where}: {key!r} lacks {name!r}")
            continue
        value = np.asarray(stored[name], dtype=np.float64)
        want_shape = (1,) if name == "count" else shape
        if value.shape != want_shape:
            out.append(f"{where}: {key!r} {name} has shape {value.shape}, expected {want_shape}")
            continue
        if not expected or name not in expected:
            continue
        if video and name in ("min", "max"):
            ok = bool(((value >= 0) & (value <= 1)).all())
        elif video and name != "count":
            ok = bool(np.allclose(value, expected[name], atol=VIDEO_STATS_TOLERANCE))
        else:
            ok = bool(np.allclose(value, expected[name], rtol=1e-5, atol=1e-6))
        if not ok:
            out.append(f"{where}: {key!r} {name}={value.tolist()} differs from the data's {expected[name].tolist()}")
    return out


def _check_stats(
    root: Path,
    info: Mapping[str, Any],
    features: Mapping[str, Feature],
    rows: list[dict[str, Any]],
    ep_stats: EpisodeStats,
    p: list[str],
    *,
    videos_decoded: bool,
) -> None:
    try:
        stored = json.loads((root / STATS_PATH).read_text())
    except (OSError, json.JSONDecodeError) as e:
        p.append(f"{STATS_PATH} is not valid JSON: {e}")
        return
    with_stats = {k: f for k, f in features.items() if stats_mod.has_stats(f)}
    missing, extra = sorted(set(with_stats) - set(stored)), sorted(set(stored) - set(with_stats))
    if missing or extra:
        p.append(f"{STATS_PATH}: features without stats {missing}, stats of unknown features {extra}")
    complete = len(ep_stats) == len(rows) and all(
        set(s) >= {k for k, f in with_stats.items() if videos_decoded or not f.is_video} for s in ep_stats.values()
    )
    for key, ft in with_stats.items():
        shape = (3, 1, 1) if ft.is_video else ft.shape
        recomputed: stats_mod.Stats = {}
        if complete and (videos_decoded or not ft.is_video):
            recomputed = stats_mod.aggregate([ep_stats[int(r["episode_index"])][key] for r in rows])
        if key in stored:
            p.extend(_stat_problems(STATS_PATH, key, stored[key], recomputed, shape, video=ft.is_video))
        for row in rows:
            ep = int(row["episode_index"])
            expected = ep_stats.get(ep, {}).get(key, {}) if (videos_decoded or not ft.is_video) else {}
            ep_stored = stats_mod.unflatten(row).get(key, {})
            p.extend(_stat_problems(f"episode {ep} stats", key, ep_stored, expected, shape, video=ft.is_video))
