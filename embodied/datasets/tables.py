"""Arrow columns for features, and the tasks table, as LeRobot (through Hugging Face ``datasets``) reads them.

A feature of shape ``(1,)`` is a plain column (``Value``); ``(n,)`` is a fixed-size list
(``Sequence(length=n)``); higher ranks nest fixed-size lists. ``meta/tasks.parquet`` is a pandas
frame indexed by the task string with one column ``task_index``; pandas is not a dependency here, so
the pandas schema metadata that restores the index is written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from embodied.datasets.errors import DatasetError
from embodied.datasets.format import DEFAULT_FEATURES, Feature

PANDAS_INDEX_COLUMN = "__index_level_0__"


def arrow_type(feature: Feature) -> pa.DataType:
    """The arrow type of one frame's value of ``feature`` (not for video features)."""
    base = pa.string() if feature.dtype == "string" else pa.from_numpy_dtype(np.dtype(feature.dtype))
    if feature.shape == (1,):
        return base
    t = base
    for dim in reversed(feature.shape):
        t = pa.list_(t, dim)
    return t


def data_schema(features: Mapping[str, Feature]) -> pa.Schema:
    """Columns of the data parquet files: the non-video features, then the default ones."""
    cols = {**{k: f for k, f in features.items() if not f.is_video}, **DEFAULT_FEATURES}
    return pa.schema([pa.field(k, arrow_type(f)) for k, f in cols.items()])


def to_column(values: np.ndarray, feature: Feature) -> pa.Array:
    """``(T, *shape)`` (or ``(T,)`` for shape ``(1,)``) values as one arrow column."""
    n = len(values)
    if feature.dtype == "string":
        return pa.array([str(v) for v in np.asarray(values, dtype=object).reshape(n)], type=pa.string())
    flat = np.ascontiguousarray(np.asarray(values, dtype=feature.dtype).reshape(-1))
    arr: pa.Array = pa.array(flat, type=pa.from_numpy_dtype(np.dtype(feature.dtype)))
    if feature.shape == (1,):
        return arr
    for dim in reversed(feature.shape):
        arr = pa.FixedSizeListArray.from_arrays(arr, dim)
    return arr


def to_numpy(column: pa.ChunkedArray | pa.Array, feature: Feature) -> np.ndarray:
    """An arrow column back to ``(T, *shape)`` numpy (``(T,)`` for shape ``(1,)``)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if feature.dtype == "string":
        return np.asarray(arr.to_pylist(), dtype=object)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        values = arr
        while not (pa.types.is_primitive(values.type) or pa.types.is_boolean(values.type)):
            values = values.flatten()
        out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=feature.dtype)
        return out.reshape(n, *feature.shape)
    out = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=feature.dtype)
    return out if feature.shape == (1,) else out.reshape(n, *feature.shape)


def _pandas_metadata() -> bytes:
    doc = {
        "index_columns": [PANDAS_INDEX_COLUMN],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": PANDAS_INDEX_COLUMN,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    return json.dumps(doc).encode()


def write_tasks(path: Path, tasks: Sequence[str]) -> None:
    """``meta/tasks.parquet``: what ``pandas.read_parquet`` loads as ``DataFrame({"task_index"}, index=tasks)``."""
    table = pa.table(
        {"task_index": pa.array(range(len(tasks)), type=pa.int64()), PANDAS_INDEX_COLUMN: pa.array(tasks, pa.string())}
    )
    table = table.replace_schema_metadata({b"pandas": _pandas_metadata()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_tasks(path: Path) -> list[str]:
    """Task strings ordered by ``task_index`` (the pandas index, or a ``task`` column)."""
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    index_col = None
    if b"pandas" in meta:
        cols = json.loads(meta[b"pandas"]).get("index_columns", [])
        index_col = next((c for c in cols if isinstance(c, str) and c in table.column_names), None)
    if index_col is None and "task" in table.column_names:
        index_col = "task"
    if index_col is None or "task_index" not in table.column_names:
        raise DatasetError(f"{path} has no task strings (pandas index or `task` column) and `task_index` column")
    pairs = sorted(
        zip(table.column("task_index").to_pylist(), table.column(index_col).to_pylist(), strict=True),
        key=lambda p: int(p[0]),
    )
    indices = [int(i) for i, _ in pairs]
    if indices != list(range(len(indices))):
        raise DatasetError(f"{path}: task_index must be 0..{len(indices) - 1}, got {indices}")
    return [str(t) for _, t in pairs]


def read_rows(path: Path) -> list[dict[str, Any]]:
    return list(pq.read_table(path).to_pylist())
