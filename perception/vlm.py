"""Optional perceiver: an open-vocabulary detector (OWL-ViT / OWLv2) loaded with ``transformers``.

Weights are read from a local folder only (``local_files_only=True``); nothing is downloaded,
and a missing or empty folder is a :class:`VLMModelError` that says what to pass. Pipeline per
call of :meth:`VLMPerceiver.perceive`:

1. check the frames with :func:`perception.frames.camera_views` (same ``ValueError`` as the
   vision perceiver) and pick one camera;
2. score every text query (``"red block"``, ``"large blue block"``, ``"bin"``, ...) against every
   predicted box; keep the best box per query above the threshold, then suppress boxes that
   overlap a better one of another query (so a block is not both ``red block`` and
   ``large red block``);
3. back-project each box into the world (:func:`perception.vlm_boxes.locate`): the box centre
   at the median depth of the pixels inside the box that lie on or above the table; the extent
   from the box size at that depth, the height from those pixels' heights;
4. robot state, held object and relations as in :mod:`perception.vision`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from envs.scene_spec import BLOCK_SIZES, COLOURS
from perception.frames import CameraView, camera_views
from perception.relations import compute_relations
from perception.scene_graph import SHAPES, DetectedObject, RobotState, SceneGraph
from perception.vision import held_object, robot_state
from perception.vlm_boxes import Detection, locate, select_detections

log = logging.getLogger(__name__)

__all__ = [
    "Detection",
    "VLMDependencyMissing",
    "VLMModelError",
    "VLMPerceiver",
    "default_queries",
    "load_detector",
    "locate",
    "parse_query",
    "select_detections",
]

DEFAULT_SCORE_THRESHOLD = 0.1
SUPPORTED_MODEL_TYPES = ("owlvit", "owlv2")
INSTALL_HINT = "pip install 'embodied[hf]'"
_PATH_HINT = (
    "pass the path of a local folder holding an OWL-ViT or OWLv2 checkpoint saved with "
    "`save_pretrained` (config.json, weights and processor files); nothing is downloaded"
)


class VLMModelError(ValueError):
    """No usable detector at the given path; the message says what to pass."""


class VLMDependencyMissing(ImportError):
    """``torch`` or ``transformers`` is not installed; the message names the extra to install."""


def default_queries() -> tuple[str, ...]:
    """Names of every object the task suite can place: ``"red block"``, ``"small red block"``, ..., ``"bin"``."""
    colours = [c for c in COLOURS if c != "grey"]
    out = [f"{c} block" for c in colours]
    out += [f"{s} {c} block" for s in BLOCK_SIZES for c in colours]
    out += [f"{c} {kind}" for kind in ("bowl", "plate") for c in colours]
    return (*out, "bin")


def parse_query(query: str) -> tuple[str, str]:
    """``(colour, shape)`` named by a query (``"unknown"`` colour; the last word when no known shape)."""
    words = query.lower().split()
    colour = next((w for w in words if w in COLOURS), "grey" if "bin" in words else "unknown")
    shape = next((w for w in words if w in SHAPES), words[-1] if words else "object")
    return colour, shape


def _import_hf() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as e:
        raise VLMDependencyMissing(
            f"The VLM perceiver needs `{e.name or 'transformers'}`: install it with `{INSTALL_HINT}`"
        ) from e
    return torch, transformers


def check_model_folder(path: str | Path | None) -> Path:
    """The checked local model folder ``path``.

    Raises:
        VLMModelError: when ``path`` is empty, not a folder, or holds no ``config.json``.
    """
    if path is None or not str(path).strip():
        raise VLMModelError(f"VLMPerceiver needs a model path: {_PATH_HINT}")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise VLMModelError(f"VLMPerceiver model path {str(folder)!r} is not a folder: {_PATH_HINT}")
    if not (folder / "config.json").is_file():
        raise VLMModelError(f"VLMPerceiver model folder {str(folder)!r} holds no config.json: {_PATH_HINT}")
    return folder


def load_detector(path: str | Path | None, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, processor)`` of the open-vocabulary detector in the local folder ``path``.

    Raises:
        VLMModelError: when the folder holds no loadable, supported detector.
        VLMDependencyMissing: when ``torch`` or ``transformers`` is missing.
    """
    folder = check_model_folder(path)
    _, transformers = _import_hf()
    try:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise VLMModelError(
                f"{str(folder)!r} holds a {config.model_type!r} model; the VLM perceiver supports "
                f"{list(SUPPORTED_MODEL_TYPES)}: {_PATH_HINT}"
            )
        model = transformers.AutoModelForZeroShotObjectDetection.from_pretrained(folder, local_files_only=True)
        processor = transformers.AutoProcessor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        if isinstance(e, VLMModelError):
            raise
        raise VLMModelError(f"could not load a detector from {str(folder)!r} ({e}): {_PATH_HINT}") from e
    log.info("loaded %s detector from %s on %s", config.model_type, folder, device)
    return model.to(device).eval(), processor


def _rounded(values: tuple[float, float, float]) -> tuple[float, float, float]:
    return (round(values[0], 4), round(values[1], 4), round(values[2], 4))


def _check_queries(queries: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if queries is None:
        return default_queries()
    if isinstance(queries, str):
        raise ValueError(f"VLMPerceiver queries must be a list of names, got the string {queries!r}")
    out = tuple(queries)
    bad = [q for q in out if not isinstance(q, str) or not q.strip()]
    if not out or bad:
        raise ValueError(f"VLMPerceiver queries must be non-empty strings such as 'red block', got {list(out)!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"VLMPerceiver queries must be unique, got {list(out)!r}")
    return out


class VLMPerceiver:
    """Scene graphs from one camera through a local open-vocabulary detector (OWL-ViT / OWLv2).

    Objects are named by the query they answer, so names are stable when the detector is; the
    object's confidence is the detector's score. Needs the ``hf`` extra (``torch``, ``transformers``).

    Args:
        path: local folder of a checkpoint saved with ``save_pretrained`` (model and processor).
        score_threshold: lowest detector score reported, in ``[0, 1]``.
        queries: object names to look for; default :func:`default_queries` (every colour, size and shape).
        camera: name of the camera in ``obs`` to detect in.
        device: torch device of the model.
        num_threads: torch CPU threads while detecting (``None``: torch's setting); 1 is often
            fastest for small models on a busy machine.

    Raises:
        VLMModelError: no usable detector at ``path`` (nothing is ever downloaded).
        VLMDependencyMissing: ``torch`` or ``transformers`` is not installed.
        ValueError: a bad threshold or query list.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        queries: tuple[str, ...] | list[str] | None = None,
        camera: str = "top",
        device: str = "cpu",
        num_threads: int | None = None,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"VLMPerceiver score_threshold={score_threshold!r} must be in [0, 1]")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"VLMPerceiver num_threads={num_threads!r} must be >= 1 or None")
        self.num_threads = num_threads
        self.queries = _check_queries(queries)
        self.score_threshold = float(score_threshold)
        self.camera = camera
        self.device = device
        self.model, self.processor = load_detector(path, device)
        self._torch, _ = _import_hf()
        self._text = self.processor(text=[list(self.queries)], truncation=True, return_tensors="pt").to(device)
        self._square = self.model.config.model_type == "owlv2"  # OWLv2 pads the image to a square

    def _view(self, obs: dict[str, Any], info: dict[str, Any]) -> CameraView:
        views = {v.name: v for v in camera_views(obs, info)}
        if self.camera not in views:
            raise ValueError(f"VLMPerceiver(camera={self.camera!r}) has no such camera in obs; has {sorted(views)}")
        return views[self.camera]

    def detect(self, view: CameraView) -> list[Detection]:
        """The kept detections in one camera view (see :func:`select_detections`)."""
        torch = self._torch
        pixels = self.processor.image_processor(images=view.rgb, return_tensors="pt")["pixel_values"]
        threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            with torch.inference_mode():
                out = self.model(pixel_values=pixels.to(self.device), **self._text)
        finally:
            torch.set_num_threads(threads)
        scores = torch.sigmoid(out.logits[0]).float().cpu().numpy()
        cx, cy, bw, bh = out.pred_boxes[0].float().cpu().numpy().T
        h, w = view.shape
        sx, sy = (max(h, w), max(h, w)) if self._square else (w, h)
        boxes = np.stack(((cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx, (cy + bh / 2) * sy), axis=1)
        return select_detections(scores, boxes, self.queries, self.score_threshold)

    def perceive(self, obs: dict[str, Any], info: dict[str, Any]) -> SceneGraph:
        """The scene graph of one observation.

        Raises:
            ValueError: when a frame or camera matrix is malformed or the camera is missing (the
                message names the camera and the expected shape).
        """
        view = self._view(obs, info)
        found = []
        for det in self.detect(view):
            where = locate(view, det.box)
            if where is None:
                continue
            colour, shape = parse_query(det.query)
            found.append(
                DetectedObject(det.query, colour, shape, _rounded(where[0]), _rounded(where[1]), round(det.score, 3))
            )
        objects = tuple(sorted(found, key=lambda o: o.name))
        robot = robot_state(obs.get("proprio"))
        holding = held_object(objects, robot) if robot is not None else None
        if robot is not None and holding is not None:
            robot = RobotState(robot.ee_position, robot.ee_yaw, robot.gripper_width, holding)
        meta = {"source": "vlm", "cameras": [view.name], "model": self.model.config.model_type}
        return SceneGraph(objects, compute_relations(objects, holding), robot, meta)
