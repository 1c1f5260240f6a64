"""Checks of one episode's inputs before anything of it is written; each error names what is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embodied.datasets.errors import DatasetError
from embodied.datasets.format import DEFAULT_FEATURES, Feature

RESERVED_EPISODE_COLUMNS = frozenset({"episode_index", "tasks", "length", "dataset_from_index", "dataset_to_index"})
RESERVED_PREFIXES = ("data/", "videos/", "meta/", "stats/")
META_KINDS = ("bool", "int", "float", "str", "list[str]")


def _key_sets(expected: set[str], given: set[str], what: str) -> None:
    missing, extra = sorted(expected - given), sorted(given - expected)
    if not (missing or extra):
        return
    parts = []
    if missing:
        parts.append(f"missing {what} {missing}")
    if extra:
        reserved = [k for k in extra if k in DEFAULT_FEATURES]
        hint = f" ({', '.join(reserved)}: the writer adds these itself)" if reserved else ""
        parts.append(f"unknown {what} {extra}{hint}")
    raise DatasetError(f"episode rejected: {'; '.join(parts)}; expected exactly {sorted(expected)}")


def _check_array(key: str, values: Any, feature: Feature) -> np.ndarray:
    if feature.dtype == "string":
        arr = np.asarray(values, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or not all(isinstance(v, str) for v in arr):
            raise DatasetError(f"frames[{key!r}] must be T strings, got {arr.shape} {arr.dtype}")
        return arr
    arr = np.asarray(values)
    target = np.dtype(feature.dtype)
    if target == np.bool_:
        ok = arr.dtype == np.bool_
    else:
        ok = arr.dtype != np.bool_ and np.can_cast(arr.dtype, target, casting="same_kind")
    if not ok:
        raise DatasetError(
            f"frames[{key!r}] has dtype {arr.dtype}; the feature is {feature.dtype} "
            f"(convert with .astype(np.{feature.dtype}))"
        )
    allowed = [feature.shape, ()] if feature.shape == (1,) else [feature.shape]
    if arr.ndim == 0 or arr.shape[1:] not in allowed:
        shapes = " or ".join(str((-1, *a)).replace("-1", "T") for a in allowed)
        raise DatasetError(
            f"frames[{key!r}] has shape {arr.shape}; expected {shapes} for feature shape {feature.shape}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr.reshape(len(arr), -1)))[0][0])
        raise DatasetError(f"frames[{key!r}] holds NaN or inf (first at frame {bad}); stats would be meaningless")
    return arr.astype(target, copy=False)


def check_frames(features: Mapping[str, Feature], frames: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
    """The per-frame columns, cast to the features' dtypes, and their common length T."""
    expected = {k for k, f in features.items() if not f.is_video}
    _key_sets(expected, set(frames), "frames")
    columns = {k: _check_array(k, frames[k], features[k]) for k in expected}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise DatasetError(f"episode rejected: frames have different lengths {lengths}; all need the same T")
    length = next(iter(lengths.values()), 0)
    if not columns:
        return columns, -1  # only videos: their length decides
    if length == 0:
        raise DatasetError("episode rejected: it has no frames (T = 0)")
    return columns, length


def check_videos(
    features: Mapping[str, Feature], videos: Mapping[str, np.ndarray | Sequence[np.ndarray]], length: int
) -> dict[str, np.ndarray]:
    """Each video feature's ``(T, H, W, 3)`` uint8 clip; T must equal the frames' length."""
    expected = {k for k, f in features.items() if f.is_video}
    _key_sets(expected, set(videos), "videos")
    clips: dict[str, np.ndarray] = {}
    for key in sorted(expected):
        try:
            clip = np.asarray(videos[key]) if isinstance(videos[key], np.ndarray) else np.stack(list(videos[key]))
        except ValueError as e:
            raise DatasetError(f"videos[{key!r}]: frames of different shapes cannot be stacked ({e})") from e
        shape = features[key].shape
        if clip.dtype != np.uint8 or clip.shape[1:] != shape:
            raise DatasetError(
                f"videos[{key!r}] is {clip.shape} {clip.dtype}; expected (T, {shape[0]}, {shape[1]}, 3) uint8"
            )
        if length >= 0 and len(clip) != length:
            raise DatasetError(f"videos[{key!r}] has {len(clip)} frames but the frames have T = {length}")
        if len(clip) == 0:
            raise DatasetError(f"videos[{key!r}] has no frames (T = 0)")
        length = len(clip)
        clips[key] = clip
    return clips


def _kind(key: str, value: Any) -> tuple[str, Any]:
    if isinstance(value, bool | np.bool_):
        return "bool", bool(value)
    if isinstance(value, int | np.integer):
        return "int", int(value)
    if isinstance(value, float | np.floating):
        return "float", float(value)
    if isinstance(value, str):
        return "str", value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "list[str]", list(value)
    raise DatasetError(
        f"meta[{key!r}]={value!r} ({type(value).__name__}) cannot be stored: use one of {', '.join(META_KINDS)} "
        "(encode structured values as a JSON string)"
    )


def check_meta(meta: Mapping[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
    """Extra episode columns, checked against the kinds earlier episodes gave them (ints may widen to floats).

    ``kinds`` is updated only when every value is valid."""
    row: dict[str, Any] = {}
    new_kinds: dict[str, str] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not key or key in RESERVED_EPISODE_COLUMNS or key.startswith(RESERVED_PREFIXES):
            raise DatasetError(
                f"meta key {key!r} is reserved or invalid: the writer fills {sorted(RESERVED_EPISODE_COLUMNS)} "
                f"and the {', '.join(RESERVED_PREFIXES)} columns"
            )
        if value is None:
            row[key] = None
            continue
        kind, clean = _kind(key, value)
        before = kinds.get(key)
        if before is not None and before != kind and {before, kind} != {"int", "float"}:
            raise DatasetError(f"meta[{key!r}] is a {kind} here but a {before} in earlier episodes; keep one type")
        if {before, kind} == {"int", "float"}:
            kind = "float"
        new_kinds[key] = kind
        row[key] = clean
    kinds.update(new_kinds)
    return row
