"""A learned policy on disk: a folder with ``model.safetensors`` (the weights) and ``config.json``.

``config.json`` holds the :class:`~policies.learned.model.PolicyConfig` under ``"policy"`` and
whatever the trainer wants to keep under ``"training"`` (dataset, episodes, time, losses), so a
checkpoint says what it is and how it was made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from policies.learned.model import PolicyConfig, VisuomotorPolicy

WEIGHTS, CONFIG = "model.safetensors", "config.json"


class CheckpointError(ValueError):
    """A checkpoint folder that cannot be loaded; the message says what is missing or wrong."""


def save_checkpoint(folder: Path | str, model: VisuomotorPolicy, training: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and the ``training`` record) into ``folder``; returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS))
    record = {"format": "embodied-learned-policy/1", "policy": model.config.to_json(), "training": training or {}}
    (out / CONFIG).write_text(json.dumps(record, indent=2) + "\n")
    return out


def read_config(folder: Path | str) -> tuple[PolicyConfig, dict[str, Any]]:
    """The policy config and the training record of the checkpoint in ``folder``."""
    path = Path(folder)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        have = sorted(p.name for p in path.iterdir()) if path.is_dir() else None
        raise CheckpointError(
            f"{path} is not a learned-policy checkpoint: it needs {WEIGHTS} and {CONFIG} "
            f"({'no such folder' if have is None else f'it has {have}'}); write one with `embodied policy train`"
        )
    try:
        record = json.loads((path / CONFIG).read_text())
        return PolicyConfig.from_json(record["policy"]), dict(record.get("training", {}))
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path / CONFIG} is not a valid policy config: {e}") from e


def load_checkpoint(folder: Path | str) -> tuple[VisuomotorPolicy, dict[str, Any]]:
    """The model (in eval mode, on the CPU) and its training record."""
    config, training = read_config(folder)
    model = VisuomotorPolicy(config)
    try:
        model.load_state_dict(load_file(str(Path(folder) / WEIGHTS), device="cpu"))
    except (RuntimeError, OSError) as e:
        raise CheckpointError(f"{Path(folder) / WEIGHTS} does not fit the config's model: {e}") from e
    model.eval()
    return model, training
