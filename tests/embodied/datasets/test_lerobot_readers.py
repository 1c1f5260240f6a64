"""Our datasets read by the libraries ``LeRobotDataset`` itself reads with.

``lerobot`` cannot share our venv (it pins an older torch), but its loader is built on public libraries:
pandas reads ``meta/tasks.parquet``, Hugging Face ``datasets`` loads the frames with features derived
from ``info.json``, timestamps are checked to step by ``1/fps`` within an episode, and frames are
decoded with PyAV by seeking to ``from_timestamp + timestamp`` and taking the frame whose time matches
within 1e-4 s. This test does each of those on a dataset our writer made.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embodied.datasets import DatasetWriter, Feature

pd = pytest.importorskip("pandas")
hf = pytest.importorskip("datasets")
av = pytest.importorskip("av")

FPS, H, W = 10, 48, 64
LENGTHS = (6, 11, 4)
TASKS = (
    "stack the red block on the blue block",
    "put the green block in the bowl",
    "stack the red block on the blue block",
)
TOLERANCE_S = 1e-4  # LeRobot's default tolerance between a frame's timestamp and the video's


def _frames(length: int, seed: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return (
        np.stack(
            [
                np.stack([x * 3 + t * 9 + seed * 40, y * 4 + t * 3, np.full_like(x, 20 * t + 50 * seed)], -1)
                for t in range(length)
            ]
        )
        % 256
    ).astype(np.uint8)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, np.ndarray]]]:
    root = tmp_path_factory.mktemp("readers") / "ds"
    features = {
        "observation.state": Feature("float32", (4,)),
        "action": Feature("float32", (5,)),
        "skill.call": Feature("int64", (1,)),
        "observation.images.front": Feature("video", (H, W, 3)),
    }
    episodes = []
    with DatasetWriter.create(root, fps=FPS, features=features) as writer:
        for k, n in enumerate(LENGTHS):
            rng = np.random.default_rng(k)
            ep = {
                "observation.state": rng.normal(size=(n, 4)).astype(np.float32),
                "action": rng.uniform(-1, 1, size=(n, 5)).astype(np.float32),
                "skill.call": np.arange(n) % 2,
                "video": _frames(n, k),
            }
            frames = {key: v for key, v in ep.items() if key != "video"}
            writer.add_episode(task=TASKS[k], frames=frames, videos={"observation.images.front": ep["video"]})
            episodes.append(ep)
    return root, episodes


def _hf_features(info: dict) -> object:
    """LeRobot's mapping of info.json features to Hugging Face features (videos are not in the parquet)."""
    out = {}
    for key, ft in info["features"].items():
        if ft["dtype"] == "video":
            continue
        value = hf.Value(ft["dtype"])
        out[key] = value if tuple(ft["shape"]) == (1,) else hf.Sequence(length=ft["shape"][0], feature=value)
    return hf.Features(out)


def test_pandas_and_hf_datasets_read_the_tables(written: tuple[Path, list[dict[str, np.ndarray]]]) -> None:
    root, episodes = written
    info = json.loads((root / "meta/info.json").read_text())
    tasks = pd.read_parquet(root / "meta/tasks.parquet")
    assert sorted(tasks.index) == sorted(set(TASKS)) and sorted(tasks["task_index"]) == [0, 1]
    data = hf.concatenate_datasets(
        [
            hf.Dataset.from_parquet(str(p), features=_hf_features(info), keep_in_memory=True)
            for p in sorted((root / "data").rglob("*.parquet"))
        ]
    ).with_format("numpy")
    assert len(data) == info["total_frames"] == sum(LENGTHS)
    assert np.allclose(np.asarray(data["action"]), np.concatenate([ep["action"] for ep in episodes]))
    assert np.asarray(data["index"]).tolist() == list(range(sum(LENGTHS)))
    meta = hf.concatenate_datasets(
        [
            hf.Dataset.from_parquet(str(p), keep_in_memory=True)
            for p in sorted((root / "meta/episodes").rglob("*.parquet"))
        ]
    )
    assert list(meta["length"]) == list(LENGTHS)
    task_index = np.asarray(data["task_index"])
    assert [tasks.index[tasks["task_index"] == t][0] for t in task_index[[0, 6, 17]]] == list(TASKS)
    ts, ep = np.asarray(data["timestamp"]), np.asarray(data["episode_index"])
    same = np.diff(ep) == 0
    assert np.all(np.abs(np.diff(ts)[same] - 1 / FPS) < TOLERANCE_S)  # LeRobot's check_timestamps_sync


@pytest.mark.parametrize("frame", [0, 5, 6, 13, 16, 20])
def test_pyav_finds_each_frame_at_its_timestamp(written: tuple[Path, list[dict[str, np.ndarray]]], frame: int) -> None:
    root, episodes = written
    info = json.loads((root / "meta/info.json").read_text())
    key = "observation.images.front"
    k = int(np.searchsorted(np.cumsum(LENGTHS), frame, side="right"))
    t = frame - sum(LENGTHS[:k])
    meta = hf.Dataset.from_parquet(str(next((root / "meta/episodes").rglob("*.parquet"))), keep_in_memory=True)[k]
    path = root / info["video_path"].format(
        video_key=key, chunk_index=meta[f"videos/{key}/chunk_index"], file_index=meta[f"videos/{key}/file_index"]
    )
    query = meta[f"videos/{key}/from_timestamp"] + t / FPS
    found = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(query / stream.time_base), stream=stream, backward=True, any_frame=False)
        for decoded in container.decode(stream):
            at = float(decoded.pts * stream.time_base)
            if abs(at - query) < TOLERANCE_S:
                found = decoded.to_ndarray(format="rgb24")
                break
            if at > query + 1.0:
                break
    assert found is not None, f"no frame at {query:.4f} s in {path.name}"
    assert np.abs(found.astype(int) - episodes[k]["video"][t].astype(int)).mean() < 6  # H.264 is lossy
