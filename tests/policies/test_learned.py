"""The learned-policy parts that need no simulator: features, the config's checks, checkpoints, blending."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from policies.learned.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from policies.learned.features import (  # noqa: E402
    IMAGE_SIZE,
    VECTOR_DIM,
    observation_images,
    state_vector,
    vector_features,
)
from policies.learned.model import PolicyConfig, VisuomotorPolicy  # noqa: E402
from policies.learned.rollout import TemporalEnsemble  # noqa: E402


def _obs(rng: np.random.Generator) -> dict:
    return {
        "rgb": {c: rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for c in ("front", "top")},
        "proprio": {
            "ee_pos": np.array([0.45, 0.05, 0.2]),
            "ee_yaw": np.array([0.3]),
            "gripper_width": np.array([0.08]),
            "joint_pos": np.zeros(9),
        },
    }


def test_features_put_the_target_relative_to_the_hand() -> None:
    obs = _obs(np.random.default_rng(0))
    state = state_vector(obs["proprio"])
    near = vector_features(state, np.array([0.45, 0.05, 0.2, 0.04, 0.04, 0.04]), np.zeros(5))
    far = vector_features(state, np.array([0.65, 0.05, 0.2, 0.04, 0.04, 0.04]), np.zeros(5))
    assert near.shape == far.shape == (VECTOR_DIM,)
    assert np.allclose(near[:3], 0.0)  # the target is at the hand
    assert far[0] == pytest.approx(2.0)  # 20 cm ahead, in decimetres
    images = observation_images(obs)
    assert images.shape == (2, 3, IMAGE_SIZE[1], IMAGE_SIZE[0]) and images.dtype == np.uint8


def test_missing_camera_says_which_are_needed() -> None:
    obs = _obs(np.random.default_rng(0))
    del obs["rgb"]["top"]
    with pytest.raises(ValueError, match=r"cameras \['front', 'top'\].*has \['front'\]"):
        observation_images(obs)


def test_config_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"PolicyConfig.skill='wave'.*pick"):
        PolicyConfig(skill="wave")
    with pytest.raises(ValueError, match=r"PolicyConfig.chunk=0"):
        PolicyConfig(skill="pick", chunk=0)


def test_checkpoint_round_trip_gives_the_same_actions(tmp_path) -> None:
    torch.manual_seed(0)
    model = VisuomotorPolicy(PolicyConfig(skill="pick", chunk=4, channels=8, hidden=32))
    save_checkpoint(tmp_path / "ckpt", model, {"epochs": 1})
    loaded, training = load_checkpoint(tmp_path / "ckpt")
    assert training == {"epochs": 1}
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.integers(0, 255, (3, 2, 3, IMAGE_SIZE[1], IMAGE_SIZE[0]), dtype=np.uint8))
    vector = torch.from_numpy(rng.normal(size=(3, VECTOR_DIM)).astype(np.float32))
    model.eval()
    with torch.inference_mode():
        a1, d1 = model(images, vector)
        a2, d2 = loaded(images, vector)
    assert a1.shape == (3, 4, 5) and d1.shape == (3, 4)
    assert torch.equal(a1, a2) and torch.equal(d1, d2)
    assert float(a1.abs().max()) <= 1.0  # actions stay in the env's [-1, 1]


def test_a_folder_that_is_no_checkpoint_says_how_to_make_one(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="embodied policy train"):
        load_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"policy": {"skill": "pick", "chunk": -1}}))
    with pytest.raises(CheckpointError, match="chunk=-1"):
        load_checkpoint(tmp_path)


def test_temporal_ensemble_blends_the_chunks_predicted_for_a_step() -> None:
    ens = TemporalEnsemble(decay=0.0)  # equal weights
    ens.add(0, np.array([[1.0] * 5, [0.0] * 5]), np.array([0.0, 1.0]))
    action, over = ens.blend(0)
    assert action.tolist() == [1.0] * 5 and over == 0.0
    ens.add(1, np.array([[0.5] * 5, [0.5] * 5]), np.array([0.0, 0.0]))
    action, over = ens.blend(1)  # the first chunk's second row and the second chunk's first row
    assert action.tolist() == [0.25] * 5 and over == pytest.approx(0.5)


class _Seen:
    """Stands in for the driver: what perception sees after the release."""

    def __init__(self, *objects: object) -> None:
        from perception.scene_graph import SceneGraph

        self.scene = SceneGraph(tuple(objects))  # type: ignore[arg-type]

    def perceive(self) -> object:
        return self.scene


@pytest.mark.parametrize(("offset_m", "accepted"), [(0.004, True), (0.012, True), (0.026, False)])
def test_a_learned_release_on_a_block_must_land_near_its_centre(offset_m: float, accepted: bool) -> None:
    from perception.scene_graph import DetectedObject
    from policies.learned.rollout import LearnedPolicy

    base = DetectedObject("blue block", "blue", "block", (0.65, -0.05, 0.0225), (0.045, 0.045, 0.045))
    held = DetectedObject("green block", "green", "block", (0.65, -0.05, 0.2), (0.045, 0.045, 0.045))
    landed = DetectedObject("green block", "green", "block", (0.65 - offset_m, -0.05, 0.07), (0.045, 0.045, 0.045))
    release = np.array([0.65, -0.05, 0.07])
    why = LearnedPolicy._off_centre(_Seen(base, landed), held, base, release)  # type: ignore[arg-type]
    assert (why == "") is accepted
    if not accepted:
        assert "2.6 cm off the centre of the blue block" in why
    plate = DetectedObject("blue plate", "blue", "plate", (0.65, -0.05, 0.006), (0.16, 0.16, 0.012))
    assert LearnedPolicy._off_centre(_Seen(plate, landed), held, plate, release) == ""  # wide targets: no extra test
