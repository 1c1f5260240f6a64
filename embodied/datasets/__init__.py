"""LeRobot v3.0 datasets: write recorded episodes, read them back for training, and validate the layout.

``lerobot`` itself cannot share our venv, so the format is written with pyarrow and our own H.264
encoder, following LeRobot's ``v3.0`` layout (``meta/info.json``, ``meta/stats.json``,
``meta/tasks.parquet``, ``meta/episodes/``, ``data/``, ``videos/``) so ``LeRobotDataset`` loads it.
"""

from __future__ import annotations

from embodied.datasets.errors import DatasetError
from embodied.datasets.format import CODEBASE_VERSION, DEFAULT_FEATURES, Feature
from embodied.datasets.reader import Dataset
from embodied.datasets.validate import validate
from embodied.datasets.writer import DatasetWriter

__all__ = ["CODEBASE_VERSION", "DEFAULT_FEATURES", "Dataset", "DatasetError", "DatasetWriter", "Feature", "validate"]
