"""The video part of :func:`embodied.datasets.validate`: layout of episodes in each mp4, codec, size, frame count."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embodied.datasets import stats as stats_mod
from embodied.datasets import video_io
from embodied.datasets.errors import DatasetError
from embodied.datasets.format import VIDEO_CODEC, VIDEO_PATH, Feature

TIMESTAMP_TOLERANCE_S = 1e-4

EpisodeStats = dict[int, dict[str, stats_mod.Stats]]


def check_video(
    root: Path,
    info: Mapping[str, Any],
    key: str,
    feature: Feature,
    rows: list[dict[str, Any]],
    ep_stats: EpisodeStats,
    p: list[str],
    *,
    decode: bool,
) -> None:
    """Checks the video files of ``key``; with ``decode``, adds the decoded frames' stats to ``ep_stats``."""
    fps = float(info["fps"])
    by_file: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        rel = VIDEO_PATH.format(
            video_key=key,
            chunk_index=int(row.get(f"videos/{key}/chunk_index") or 0),
            file_index=int(row.get(f"videos/{key}/file_index") or 0),
        )
        by_file.setdefault(rel, []).append(row)
    for rel, file_rows in sorted(by_file.items()):
        if not (root / rel).is_file():
            p.append(f"{rel} is missing (video of episodes {[r['episode_index'] for r in file_rows]})")
            continue
        file_rows.sort(key=lambda r: float(r.get(f"videos/{key}/from_timestamp") or 0.0))
        expected_s = 0.0
        for row in file_rows:
            start, stop = (float(row.get(f"videos/{key}/{c}") or 0.0) for c in ("from_timestamp", "to_timestamp"))
            if abs(start - expected_s) > TIMESTAMP_TOLERANCE_S or abs(stop - start - row["length"] / fps) > 1e-3:
                p.append(
                    f"{rel}: episode {row['episode_index']} spans {start:.4f}..{stop:.4f} s, expected "
                    f"{expected_s:.4f}..{expected_s + row['length'] / fps:.4f} s (back to back, length / fps)"
                )
            expected_s = stop
        try:
            _check_video_file(root / rel, rel, key, feature, file_rows, fps, ep_stats, p, decode=decode)
        except DatasetError as e:
            p.append(str(e))


def _check_video_file(
    path: Path,
    rel: str,
    key: str,
    feature: Feature,
    rows: list[dict[str, Any]],
    fps: float,
    ep_stats: EpisodeStats,
    p: list[str],
    *,
    decode: bool,
) -> None:
    meta = video_io.probe(path)
    height, width, _ = feature.shape
    if meta.get("codec") != VIDEO_CODEC or tuple(meta.get("size", ())) != (width, height):
        p.append(f"{rel}: {meta.get('codec')} {meta.get('size')}, expected {VIDEO_CODEC} ({width}, {height})")
    expected = sum(int(r["length"]) for r in rows)
    if not decode:
        count = video_io.count_frames(path)
    else:
        frames = list(video_io.iter_frames(path))
        count = len(frames)
        if count == expected:
            position = 0
            for row in rows:
                clip = frames[position : position + int(row["length"])]
                ep_stats.setdefault(int(row["episode_index"]), {})[key] = stats_mod.video_stats(clip)
                position += int(row["length"])
    if count != expected:
        p.append(f"{rel}: {count} frames, but its episodes' lengths add up to {expected}")
