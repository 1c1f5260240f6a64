"""LeRobot v3.0 datasets written to real files, read back, decoded and validated."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embodied.datasets import CODEBASE_VERSION, Dataset, DatasetError, DatasetWriter, Feature, validate
from embodied.datasets.format import DATA_PATH, VIDEO_PATH
from embodied.recording.video import VideoWriter

FPS = 10
H, W = 48, 64
LENGTHS = (7, 12, 5)
TASKS = (
    "stack the red block on the blue block",
    "put the green block in the bowl",
    "stack the red block on the blue block",
)
FEATURES = {
    "observation.state": Feature("float32", (8,)),
    "action": Feature("float32", (5,), names=("dx", "dy", "dz", "dyaw", "gripper")),
    "observation.grasped": Feature("int64", (1,)),
    "observation.contact": Feature("bool", (1,)),
    "observation.images.front": Feature("video", (H, W, 3)),
    "observation.images.wrist": Feature("video", (H, W, 3)),
}
VIDEO_KEYS = ("observation.images.front", "observation.images.wrist")


def clip(length: int, seed: int) -> np.ndarray:
    """Smooth moving gradients: compressible, and different per frame and per episode."""
    y, x = np.mgrid[0:H, 0:W]
    frames = [
        np.stack([(x * 3 + t * 6 + seed * 40), (y * 4 + t * 2 + seed * 17), np.full_like(x, t * 15 + seed * 60)], -1)
        for t in range(length)
    ]
    return (np.stack(frames) % 256).astype(np.uint8)


def episode(k: int, length: int) -> dict[str, Any]:
    rng = np.random.default_rng(k)
    return {
        "task": TASKS[k],
        "frames": {
            "observation.state": rng.normal(size=(length, 8)).astype(np.float32),
            "action": rng.uniform(-1, 1, size=(length, 5)).astype(np.float32),
            "observation.grasped": rng.integers(-1, 3, size=length),
            "observation.contact": rng.random((length, 1)) > 0.5,
        },
        "videos": {"observation.images.front": clip(length, k), "observation.images.wrist": list(clip(length, k + 5))},
        "meta": {
            "seed": 100 + k,
            "family": "stack" if k != 1 else "container",
            "success": k != 1,
            "skill_calls": ["pick(red block)", "place(blue block)"][: k + 1],
            "final_poses": json.dumps({"red block": [0.1 * k, 0.2, 0.03]}),
            "duration_s": length / FPS,
        },
    }


EPISODES = [episode(k, n) for k, n in enumerate(LENGTHS)]


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lerobot") / "demo"
    with DatasetWriter.create(root, fps=FPS, features=FEATURES) as writer:
        for k, ep in enumerate(EPISODES):
            assert writer.add_episode(**ep) == k
    return root


def test_written_dataset_is_valid(dataset_root: Path) -> None:
    assert validate(dataset_root) == []
    assert validate(dataset_root, decode_videos=False) == []


def test_layout_and_info(dataset_root: Path) -> None:
    info = json.loads((dataset_root / "meta/info.json").read_text())
    assert info["codebase_version"] == CODEBASE_VERSION == "v3.0"
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, sum(LENGTHS), 2)
    assert info["splits"] == {"train": "0:3"}
    assert info["fps"] == FPS and info["chunks_size"] == 1000
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert set(info["features"]) == {*FEATURES, "timestamp", "frame_index", "episode_index", "index", "task_index"}
    assert info["features"]["action"] == {
        "dtype": "float32",
        "shape": [5],
        "names": ["dx", "dy", "dz", "dyaw", "gripper"],
    }
    front = info["features"]["observation.images.front"]
    assert front["shape"] == [H, W, 3] and front["names"] == ["height", "width", "channels"]
    assert front["info"]["video.codec"] == "h264" and front["info"]["video.pix_fmt"] == "yuv420p"
    assert front["info"]["has_audio"] is False and front["info"]["video.fps"] == FPS
    # All episodes share one data file and one mp4 per camera.
    files = sorted(str(p.relative_to(dataset_root)) for p in dataset_root.rglob("*") if p.is_file())
    assert files == [
        "data/chunk-000/file-000.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        "videos/observation.images.front/chunk-000/file-000.mp4",
        "videos/observation.images.wrist/chunk-000/file-000.mp4",
    ]
    schema = pq.read_schema(dataset_root / "data/chunk-000/file-000.parquet")
    assert schema.field("action").type == pa.list_(pa.float32(), 5)
    assert schema.field("timestamp").type == pa.float32() and schema.field("index").type == pa.int64()


def test_tasks_parquet_maps_tasks(dataset_root: Path) -> None:
    table = pq.read_table(dataset_root / "meta/tasks.parquet")
    pandas_meta = json.loads(table.schema.metadata[b"pandas"])
    index_col = pandas_meta["index_columns"][0]
    mapping = dict(zip(table.column(index_col).to_pylist(), table.column("task_index").to_pylist(), strict=True))
    assert mapping == {TASKS[0]: 0, TASKS[1]: 1}
    ds = Dataset(dataset_root)
    assert ds.tasks == [TASKS[0], TASKS[1]]
    assert [int(ds.episode_frames(k)["task_index"][0]) for k in range(3)] == [0, 1, 0]


def test_frames_round_trip_with_contiguous_indices(dataset_root: Path) -> None:
    ds = Dataset(dataset_root)
    assert (ds.num_episodes, ds.num_frames, ds.fps) == (3, sum(LENGTHS), FPS)
    assert ds.features["action"] == FEATURES["action"]
    start = 0
    for k, (ep, length) in enumerate(zip(EPISODES, LENGTHS, strict=True)):
        frames = ds.episode_frames(k)
        np.testing.assert_array_equal(frames["observation.state"], ep["frames"]["observation.state"])
        np.testing.assert_array_equal(frames["action"], ep["frames"]["action"])
        np.testing.assert_array_equal(frames["observation.grasped"], ep["frames"]["observation.grasped"])
        np.testing.assert_array_equal(frames["observation.contact"], ep["frames"]["observation.contact"][:, 0])
        np.testing.assert_array_equal(frames["frame_index"], np.arange(length))
        np.testing.assert_array_equal(frames["index"], np.arange(start, start + length))
        np.testing.assert_array_equal(frames["episode_index"], np.full(length, k))
        np.testing.assert_allclose(frames["timestamp"], np.arange(length) / FPS, atol=1e-6)
        row = ds.episode(k)
        assert (row["dataset_from_index"], row["dataset_to_index"], row["length"]) == (start, start + length, length)
        start += length


def test_episode_meta_round_trips(dataset_root: Path) -> None:
    ds = Dataset(dataset_root)
    for k, ep in enumerate(EPISODES):
        row = ds.episode(k)
        assert row["tasks"] == [ep["task"]]
        for key, value in ep["meta"].items():
            assert row[key] == value, key
        assert not any(c.startswith("stats/") for c in row)
    assert json.loads(ds.episode(2)["final_poses"]) == {"red block": [0.2, 0.2, 0.03]}


def test_stats_match_numpy(dataset_root: Path) -> None:
    stats = json.loads((dataset_root / "meta/stats.json").read_text())
    action = np.concatenate([ep["frames"]["action"] for ep in EPISODES]).astype(np.float64)
    np.testing.assert_allclose(stats["action"]["mean"], action.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["action"]["std"], action.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["action"]["min"], action.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["action"]["max"], action.max(axis=0), rtol=1e-6)
    assert stats["action"]["count"] == [sum(LENGTHS)]
    assert set(stats["action"]) >= {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    assert set(stats) == {*FEATURES, "timestamp", "frame_index", "episode_index", "index", "task_index"}
    assert stats["index"]["max"] == [sum(LENGTHS) - 1]
    front = stats["observation.images.front"]
    assert np.asarray(front["mean"]).shape == (3, 1, 1)
    raw = np.concatenate([ep["videos"]["observation.images.front"] for ep in EPISODES]) / 255.0
    np.testing.assert_allclose(np.asarray(front["mean"]).reshape(3), raw.mean(axis=(0, 1, 2)), atol=1e-6)
    ds = Dataset(dataset_root)
    np.testing.assert_allclose(
        ds.episode_stats(1)["action"]["mean"], EPISODES[1]["frames"]["action"].astype(np.float64).mean(axis=0)
    )


def test_videos_decode_to_the_written_frames(dataset_root: Path) -> None:
    ds = Dataset(dataset_root)
    for key in VIDEO_KEYS:
        for k, length in enumerate(LENGTHS):
            decoded = ds.episode_video(key, k)
            assert decoded.shape == (length, H, W, 3) and decoded.dtype == np.uint8
            written = np.asarray(EPISODES[k]["videos"][key])
            assert np.abs(decoded.astype(np.int16) - written).mean() < 6.0  # H.264 is lossy
            # Frame i is closest to written frame i, not to its neighbours: the slice is aligned.
            shifted = min(
                np.abs(decoded[1:].astype(np.int16) - written[:-1]).mean(),
                np.abs(decoded[:-1].astype(np.int16) - written[1:]).mean(),
            )
            assert shifted > 2 * np.abs(decoded.astype(np.int16) - written).mean()
        whole = dict(ds.iter_episode_videos(key))
        assert sorted(whole) == [0, 1, 2]
        for k, length in enumerate(LENGTHS):
            np.testing.assert_array_equal(whole[k], ds.episode_video(key, k))
            assert len(whole[k]) == length
    small = ds.episode_video(VIDEO_KEYS[0], 1, size=(32, 24))
    assert small.shape == (LENGTHS[1], 24, 32, 3)
    first = next(iter(ds.iter_episode_videos(VIDEO_KEYS[1], size=(32, 24))))
    assert first[1].shape == (LENGTHS[0], 24, 32, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e["frames"].update(action=np.zeros((len(e["frames"]["action"]), 4), np.float32)), "shape"),
        (lambda e: e["frames"].pop("observation.state"), "missing frames ['observation.state']"),
        (lambda e: e["frames"].update(action=e["frames"]["action"][:-1]), "different lengths"),
        (lambda e: e["videos"].update({VIDEO_KEYS[0]: clip(3, 0)}), "has 3 frames"),
        (lambda e: e["videos"].update({VIDEO_KEYS[0]: clip(7, 0)[:, :, :32]}), "expected (T, 48, 64, 3) uint8"),
        (lambda e: e["frames"].update(timestamp=np.zeros(7)), "the writer adds these itself"),
        (lambda e: e["frames"].update({"observation.grasped": np.zeros(7, np.float32)}), "dtype float32"),
        (lambda e: e["frames"]["action"].__setitem__((2, 1), np.nan), "NaN"),
        (lambda e: e["meta"].update(seed="one"), "meta['seed'] is a str here but a int"),
        (lambda e: e["meta"].update(poses={"a": 1}), "JSON string"),
        (lambda e: e["meta"].update(length=3), "reserved"),
        (lambda e: e.update(task=""), "task"),
    ],
)
def test_bad_episode_is_rejected_and_loses_nothing(tmp_path: Path, change: Any, message: str) -> None:
    root = tmp_path / "ds"
    with DatasetWriter.create(root, fps=FPS, features=FEATURES) as writer:
        writer.add_episode(**episode(0, LENGTHS[0]))
        bad = episode(1, 7)
        change(bad)
        with pytest.raises(DatasetError, match=re.escape(message)):
            writer.add_episode(**bad)
        assert writer.add_episode(**episode(2, LENGTHS[2])) == 1
    assert validate(root) == []
    ds = Dataset(root)
    assert ds.num_episodes == 2 and ds.num_frames == LENGTHS[0] + LENGTHS[2]
    assert len(ds.episode_video(VIDEO_KEYS[0], 1)) == LENGTHS[2]


def test_exception_inside_the_writer_block_keeps_earlier_episodes(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with (
        pytest.raises(RuntimeError, match="robot fell over"),
        DatasetWriter.create(root, fps=FPS, features=FEATURES) as w,
    ):
        w.add_episode(**EPISODES[0])
        w.add_episode(**EPISODES[1])
        raise RuntimeError("robot fell over")
    assert validate(root) == []
    assert Dataset(root).num_episodes == 2


def test_files_roll_over_at_the_size_cap(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter.create(
        root, fps=FPS, features=FEATURES, data_file_size_mb=1e-6, video_file_size_mb=1e-6
    ) as writer:
        for ep in EPISODES:
            writer.add_episode(**ep)
    assert validate(root) == []
    for k in range(3):
        assert (root / DATA_PATH.format(chunk_index=0, file_index=k)).is_file()
        assert (root / VIDEO_PATH.format(video_key=VIDEO_KEYS[0], chunk_index=0, file_index=k)).is_file()
    ds = Dataset(root)
    assert [ds.episode(k)["videos/observation.images.front/from_timestamp"] for k in range(3)] == [0.0, 0.0, 0.0]
    assert [len(f) for _, f in ds.iter_episode_videos(VIDEO_KEYS[1])] == list(LENGTHS)
    np.testing.assert_array_equal(ds.episode_frames(2)["index"], np.arange(19, 24))


def test_create_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="already exists and is not an empty folder"):
        DatasetWriter.create(tmp_path, fps=FPS, features=FEATURES)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    DatasetWriter.create(tmp_path / "empty-is-fine", fps=FPS, features=FEATURES).finalize()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dtype": "float16", "shape": (3,)}, "Feature.dtype='float16'"),
        ({"dtype": "float32", "shape": (0,)}, "Feature.shape=(0,)"),
        ({"dtype": "float32", "shape": ()}, "Feature.shape=()"),
        ({"dtype": "video", "shape": (48, 64)}, "(height, width, 3)"),
        ({"dtype": "video", "shape": (47, 64, 3)}, "even height and width"),
    ],
)
def test_feature_checks_itself(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DatasetError, match=re.escape(message)):
        Feature(**kwargs)


def test_reserved_feature_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="reserved"):
        DatasetWriter.create(tmp_path / "a", fps=FPS, features={"index": Feature("int64", (1,))})
    with pytest.raises(DatasetError, match="without '/'"):
        DatasetWriter.create(tmp_path / "b", fps=FPS, features={"obs/state": Feature("float32", (2,))})


def test_reader_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing meta/info.json, meta/tasks.parquet, meta/episodes"):
        Dataset(tmp_path)
    assert any("meta/info.json is missing" in p for p in validate(tmp_path))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_validator_reports_a_deleted_frame_row(dataset_root: Path, tmp_path: Path) -> None:
    root = _copy(dataset_root, tmp_path / "ds")
    path = root / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table.slice(0, 9), table.slice(10)]), path)  # drops episode 1's frame 2
    problems = validate(root)
    assert any("episode 1 has 11 frame rows, its length is 12" in p for p in problems), problems
    assert any("index column is not 0..23" in p for p in problems), problems


def test_validator_reports_wrong_totals_and_stats(dataset_root: Path, tmp_path: Path) -> None:
    root = _copy(dataset_root, tmp_path / "ds")
    info = json.loads((root / "meta/info.json").read_text())
    info["total_frames"] += 1
    (root / "meta/info.json").write_text(json.dumps(info))
    stats = json.loads((root / "meta/stats.json").read_text())
    stats["action"]["mean"][0] += 0.5
    (root / "meta/stats.json").write_text(json.dumps(stats))
    problems = validate(root)
    assert any("total_frames=25" in p for p in problems), problems
    assert any("meta/stats.json: 'action' mean" in p for p in problems), problems


def test_validator_reports_a_short_video(dataset_root: Path, tmp_path: Path) -> None:
    root = _copy(dataset_root, tmp_path / "ds")
    path = root / VIDEO_PATH.format(video_key=VIDEO_KEYS[0], chunk_index=0, file_index=0)
    with VideoWriter(path, fps=FPS) as writer:
        for frame in clip(sum(LENGTHS) - 2, 0):
            writer.write(frame)
    for decode in (True, False):
        problems = validate(root, decode_videos=decode)
        assert any("22 frames, but its episodes' lengths add up to 24" in p for p in problems), problems


def test_lerobot_loads_the_dataset(dataset_root: Path) -> None:
    """Where ``lerobot`` is installed (not in our venv: see FACTS.md), its own loader reads our files."""
    lerobot_dataset = pytest.importorskip("lerobot.datasets.lerobot_dataset")
    ds = lerobot_dataset.LeRobotDataset(repo_id="local/demo", root=dataset_root, video_backend="pyav")
    assert ds.num_episodes == 3 and len(ds) == sum(LENGTHS)
    item = ds[LENGTHS[0] + 2]
    assert int(item["episode_index"]) == 1 and int(item["frame_index"]) == 2
    assert item["task"] == TASKS[1]
    assert tuple(item["observation.images.front"].shape) == (3, H, W)
    np.testing.assert_allclose(item["action"].numpy(), EPISODES[1]["frames"]["action"][2], rtol=1e-6)
    expected = EPISODES[1]["videos"]["observation.images.front"][2].transpose(2, 0, 1) / 255.0
    assert np.abs(item["observation.images.front"].numpy() - expected).mean() < 0.03
