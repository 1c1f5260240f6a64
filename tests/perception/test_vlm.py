"""The VLM perceiver with a tiny randomly initialised OWL-ViT saved to and loaded from disk."""

from __future__ import annotations

import math
import string
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("torch")

from perception.frames import camera_views
from perception.scene_graph import Perceiver, SceneGraph
from perception.vlm import VLMDependencyMissing, VLMModelError, VLMPerceiver, default_queries, parse_query
from perception.vlm_boxes import Detection, locate, select_detections

IMAGE_SIZE = (120, 160)
TINY_IMAGE = 64


def _save_tiny_detector(folder: Path, model_type: str = "owlvit") -> None:
    """A 1-layer OWL-ViT or OWLv2 (hidden 32, 64x64 images, patch 16) with a character-level CLIP tokenizer."""
    import torch
    import transformers
    from transformers import CLIPTokenizer

    prefix = {"owlvit": "OwlViT", "owlv2": "Owlv2"}[model_type]
    pil = __import__(f"transformers.models.{model_type}.image_processing_pil_{model_type}", fromlist=["_"])
    vocab: dict[str, int] = {}
    for token in ["!", "<|startoftext|>", "<|endoftext|>", *string.ascii_lowercase]:
        vocab[token] = len(vocab)
    for c in string.ascii_lowercase:
        vocab[c + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32, pad_token="!")
    square = {"height": TINY_IMAGE, "width": TINY_IMAGE}
    images = getattr(pil, f"{prefix}ImageProcessorPil")(size=square, crop_size=square)
    processor = getattr(transformers, f"{prefix}Processor")(images, tokenizer)
    layers = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2}
    text = {**layers, "vocab_size": len(vocab), "max_position_embeddings": 32}
    text |= {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    vision = {**layers, "image_size": TINY_IMAGE, "patch_size": 16}
    config = getattr(transformers, f"{prefix}Config")(
        text_config=text, vision_config=vision, projection_dim=32, initializer_factor=0.02
    )
    torch.manual_seed(0)
    getattr(transformers, f"{prefix}ForObjectDetection")(config).save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_owlvit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-owlvit")
    _save_tiny_detector(folder)
    return folder


@pytest.fixture(scope="module")
def frame() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(obs, info, ground-truth object positions)`` of a reset 160x120 stack scene."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make("embodied/Tabletop-v0", task="stack", seed=3, image_size=IMAGE_SIZE)
    try:
        obs, info = env.reset(seed=3)
        truth = {n: o for n, o in env.unwrapped.world_state().objects.items()}  # type: ignore[attr-defined]
    finally:
        env.close()
    return obs, info, truth


def _assert_sane(scene: SceneGraph, queries: tuple[str, ...]) -> None:
    """Unique names from ``queries``, finite geometry on or above the table (x in [-0.13, 0.97], |y| <= 0.55)."""
    assert len(set(scene.names)) == len(scene.names)
    for o in scene.objects:
        assert o.name in queries
        assert (o.colour, o.shape) == parse_query(o.name)
        assert all(math.isfinite(v) for v in (*o.position, *o.size, o.confidence))
        assert -0.3 <= o.position[0] <= 1.1 and -0.7 <= o.position[1] <= 0.7 and -0.02 <= o.position[2] <= 1.1
        assert all(s >= 0 for s in o.size) and 0.0 <= o.confidence <= 1.0
    names = set(scene.names)
    assert all(r.subject in names and r.object in names for r in scene.relations)


def test_tiny_random_owlvit_gives_a_valid_scene_graph(tiny_owlvit: Path, frame: Any) -> None:
    obs, info, _ = frame
    perceiver = VLMPerceiver(tiny_owlvit, score_threshold=0.05, num_threads=1)
    assert isinstance(perceiver, Perceiver)
    scene = perceiver.perceive(obs, info)
    assert scene.objects, "a random model with a low threshold detects something"
    _assert_sane(scene, default_queries())
    assert all(o.confidence >= 0.05 for o in scene.objects)
    assert scene.meta["source"] == "vlm" and scene.meta["cameras"] == ["top"]
    assert scene.robot is not None
    assert np.allclose(scene.robot.ee_position, obs["proprio"]["ee_pos"])


def test_user_queries_and_another_camera(tiny_owlvit: Path, frame: Any) -> None:
    obs, info, _ = frame
    queries = ("red block", "green block", "bin")
    scene = VLMPerceiver(tiny_owlvit, queries=queries, camera="front", score_threshold=0.0).perceive(obs, info)
    assert scene.objects and set(scene.names) <= set(queries)
    _assert_sane(scene, queries)


def test_tiny_random_owlv2_loads_and_detects(tmp_path: Path, frame: Any) -> None:
    obs, info, _ = frame
    _save_tiny_detector(tmp_path, "owlv2")
    scene = VLMPerceiver(tmp_path, score_threshold=0.0, num_threads=1).perceive(obs, info)
    assert scene.objects and scene.meta["model"] == "owlv2"
    _assert_sane(scene, default_queries())


def test_threshold_above_every_score_reports_no_objects(tiny_owlvit: Path, frame: Any) -> None:
    obs, info, _ = frame
    scene = VLMPerceiver(tiny_owlvit, score_threshold=1.0).perceive(obs, info)
    assert scene.objects == () and scene.robot is not None


def test_box_around_a_block_back_projects_to_it(frame: Any) -> None:
    obs, info, truth = frame
    view = next(v for v in camera_views(obs, info) if v.name == "top")
    block = truth["green block"]
    centre = np.asarray(block.pos) + [0.0, 0.0, block.spec.size / 2]
    cam = view.cam_to_world[:3, :3].T @ (centre - view.centre)
    u, v, _ = view.K @ (cam / cam[2])
    half = block.spec.size / 2 * view.K[0, 0] / cam[2]
    where = locate(view, (u + 0.5 - half, v + 0.5 - half, u + 0.5 + half, v + 0.5 + half))
    assert where is not None
    position, size = where
    assert math.dist(position[:2], centre[:2]) < 0.01, (position, centre)
    assert abs(size[0] - block.spec.size) < 0.015 and abs(size[1] - block.spec.size) < 0.015
    assert locate(view, (500.0, 500.0, 600.0, 600.0)) is None  # outside the image (OWLv2's padding)


def test_best_box_per_query_and_overlaps_suppressed() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=float)
    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.2]])
    kept = select_detections(scores, boxes, ("red block", "large red block", "bin"), threshold=0.3)
    assert kept == [Detection("red block", 0.9, (0.0, 0.0, 10.0, 10.0))]
    kept = select_detections(scores, boxes, ("red block", "large red block", "bin"), threshold=0.01)
    assert [d.query for d in kept] == ["red block", "bin"]


@pytest.mark.parametrize("path", [None, "", "   "])
def test_no_path_says_what_to_pass(path: Any) -> None:
    with pytest.raises(VLMModelError, match=r"local folder.*nothing is downloaded"):
        VLMPerceiver(path)


def test_a_file_or_an_empty_folder_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="is not a folder"):
        VLMPerceiver(tmp_path / "weights.bin")
    with pytest.raises(ValueError, match=r"holds no config\.json"):
        VLMPerceiver(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(VLMModelError, match="could not load a detector"):
        VLMPerceiver(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(VLMModelError, match=r"'bert' model; the VLM perceiver supports \['owlvit', 'owlv2'\]"):
        VLMPerceiver(tmp_path)


def test_bad_frames_raise_the_vision_perceivers_errors(tiny_owlvit: Path, frame: Any) -> None:
    obs, info, _ = frame
    perceiver = VLMPerceiver(tiny_owlvit)
    bad = {**obs, "rgb": {**obs["rgb"], "top": obs["rgb"]["top"].astype(np.float32)}}
    with pytest.raises(ValueError, match=r"obs\['rgb'\]\['top'\] must be uint8"):
        perceiver.perceive(bad, info)
    with pytest.raises(ValueError, match=r"camera='side'.*has \['front', 'top'\]"):
        VLMPerceiver(tiny_owlvit, camera="side").perceive(obs, info)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"num_threads": 0}, "num_threads"),
        ({"queries": []}, "non-empty"),
        ({"queries": "bin"}, "list"),
    ],
)
def test_bad_arguments_are_named(tiny_owlvit: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VLMPerceiver(tiny_owlvit, **kwargs)


def test_missing_transformers_names_the_extra(tiny_owlvit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(VLMDependencyMissing, match=r"pip install 'embodied\[hf\]'"):
        VLMPerceiver(tiny_owlvit)
