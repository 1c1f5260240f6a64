"""Feature statistics as LeRobot computes them (``meta/stats.json`` and the ``stats/...`` episode columns).

Per episode and feature: ``min``, ``max``, ``mean``, ``std`` (population), ``count`` and the quantiles
``q01 q10 q50 q90 q99``, reduced over frames, so each has the feature's shape. Video features are
reduced over sampled frames and pixels per channel, scaled to [0, 1], with shape (3, 1, 1); their
``count`` is the number of sampled frames. Episodes are aggregated with count-weighted means, the
parallel-variance formula, min of mins, max of maxes, and count-weighted quantiles (an approximation,
as in LeRobot). String features have no stats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embodied.datasets.format import Feature

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)

Stats = dict[str, np.ndarray]


def has_stats(feature: Feature) -> bool:
    return feature.dtype not in ("string", "image")


def sample_indices(length: int, min_samples: int = 100, max_samples: int = 10_000, power: float = 0.75) -> list[int]:
    """Evenly spread frame indices for image statistics (all frames up to 100, then ``length**0.75``)."""
    if length <= 0:
        return []
    n = max(min(min_samples, length), min(int(length**power), max_samples))
    return [int(i) for i in np.round(np.linspace(0, length - 1, n)).astype(int)]


def _downsample(chw: np.ndarray, target: int = 150, threshold: int = 300) -> np.ndarray:
    _, h, w = chw.shape[-3:]
    if max(h, w) < threshold:
        return chw
    step = int(max(h, w) / target)
    return chw[..., ::step, ::step]


def vector_stats(values: np.ndarray, feature: Feature) -> Stats:
    """Stats of one episode's values ``(T, *shape)`` (or ``(T,)`` for shape ``(1,)``) over frames."""
    x = np.asarray(values).astype(np.float64).reshape(len(values), *feature.shape)
    out: Stats = {
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "mean": x.mean(axis=0),
        "std": x.std(axis=0),
        "count": np.array([len(x)], dtype=np.int64),
    }
    qs = np.quantile(x, QUANTILES, axis=0)
    for key, q in zip(QUANTILE_KEYS, qs, strict=True):
        out[key] = np.asarray(q)
    return out


def video_stats(frames: np.ndarray | Sequence[np.ndarray]) -> Stats:
    """Per-channel stats of sampled ``(H, W, 3)`` uint8 frames, scaled to [0, 1], shape (3, 1, 1)."""
    idx = sample_indices(len(frames))
    chw = np.stack([_downsample(np.asarray(frames[i]).transpose(2, 0, 1)) for i in idx])  # (N, 3, h, w)
    pixels = chw.transpose(1, 0, 2, 3).reshape(chw.shape[1], -1).astype(np.float64) / 255.0  # (3, N*h*w)

    def per_channel(v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.float64).reshape(-1, 1, 1)

    out: Stats = {
        "min": per_channel(pixels.min(axis=1)),
        "max": per_channel(pixels.max(axis=1)),
        "mean": per_channel(pixels.mean(axis=1)),
        "std": per_channel(pixels.std(axis=1)),
        "count": np.array([len(idx)], dtype=np.int64),
    }
    qs = np.quantile(pixels, QUANTILES, axis=1)  # (5, 3)
    for key, q in zip(QUANTILE_KEYS, qs, strict=True):
        out[key] = per_channel(q)
    return out


def aggregate(stats_list: Sequence[Stats]) -> Stats:
    """One feature's stats over several episodes."""
    means = np.stack([s["mean"] for s in stats_list])
    variances = np.stack([s["std"] ** 2 for s in stats_list])
    counts = np.array([int(s["count"][0]) for s in stats_list], dtype=np.float64)
    total = counts.sum()
    w = counts.reshape(-1, *([1] * (means.ndim - 1)))
    mean = (means * w).sum(axis=0) / total
    variance = ((variances + (means - mean) ** 2) * w).sum(axis=0) / total
    out: Stats = {
        "min": np.min(np.stack([s["min"] for s in stats_list]), axis=0),
        "max": np.max(np.stack([s["max"] for s in stats_list]), axis=0),
        "mean": mean,
        "std": np.sqrt(variance),
        "count": np.array([int(total)], dtype=np.int64),
    }
    for key in QUANTILE_KEYS:
        if all(key in s for s in stats_list):
            out[key] = (np.stack([s[key] for s in stats_list]) * w).sum(axis=0) / total
    return out


def aggregate_all(per_episode: Sequence[Mapping[str, Stats]]) -> dict[str, Stats]:
    """Dataset stats from per-episode stats (the union of features)."""
    keys = list(dict.fromkeys(k for ep in per_episode for k in ep))
    return {k: aggregate([ep[k] for ep in per_episode if k in ep]) for k in keys}


def to_json(stats: Mapping[str, Stats]) -> dict[str, dict[str, Any]]:
    return {k: {s: np.asarray(v).tolist() for s, v in ft.items()} for k, ft in stats.items()}


def from_json(doc: Mapping[str, Mapping[str, Any]]) -> dict[str, Stats]:
    return {k: {s: np.asarray(v) for s, v in ft.items()} for k, ft in doc.items()}


def flatten(stats: Mapping[str, Stats]) -> dict[str, Any]:
    """``{"stats/<feature>/<stat>": list}``: the episodes-parquet columns."""
    return {f"stats/{k}/{s}": np.asarray(v).tolist() for k, ft in stats.items() for s, v in ft.items()}


def unflatten(row: Mapping[str, Any]) -> dict[str, Stats]:
    out: dict[str, Stats] = {}
    for col, value in row.items():
        if not col.startswith("stats/") or value is None:
            continue
        feature, _, stat = col[len("stats/") :].rpartition("/")
        out.setdefault(feature, {})[stat] = np.asarray(value)
    return out
