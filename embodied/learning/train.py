"""``embodied policy train``: fit a visuomotor skill policy to a dataset's demonstrations of one skill.

The samples are the control steps of every *successful* call of the skill in the dataset (a call
that failed is not a demonstration of what to do). A sample is the two camera images and the
vector of proprio and the call's target at step ``t`` (:mod:`policies.learned.features`), and its
labels are the next ``chunk`` actions of the call with, for each, whether the call is over by then.
The step just after a call ends is a sample too, with every action masked and every label "over":
that is how the policy learns to stop. Episodes are split into training and validation before
anything is fitted, so the validation loss is measured on demonstrations the policy never saw.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embodied.datasets import Dataset
from embodied.factory import UsageError
from policies.learned import LEARNABLE_SKILLS
from policies.learned.features import CAMERAS, image_features, vector_features
from policies.learned.model import PolicyConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How to train; checks itself and names the bad field, its value and what is allowed."""

    skill: str = "pick"
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    chunk: int = 10
    validation_fraction: float = 0.1
    max_episodes: int | None = None
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.skill not in LEARNABLE_SKILLS:
            raise UsageError(f"skill {self.skill!r} cannot be learned yet; choose one of {', '.join(LEARNABLE_SKILLS)}")
        for name in ("epochs", "batch_size", "chunk", "threads"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} {getattr(self, name)} must be >= 1")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise UsageError(f"validation_fraction {self.validation_fraction} must be in [0, 1)")
        if not self.learning_rate > 0:
            raise UsageError(f"learning_rate {self.learning_rate} must be > 0")


@dataclass
class Samples:
    """Training samples of one skill (``len`` rows)."""

    images: np.ndarray  # (N, cameras, 3, H, W) uint8
    vectors: np.ndarray  # (N, VECTOR_DIM) float32
    actions: np.ndarray  # (N, chunk, 5) float32
    mask: np.ndarray  # (N, chunk) float32: 1 where the action belongs to the call
    done: np.ndarray  # (N, chunk) float32: 1 where the call is over
    episode: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, rows: np.ndarray) -> Samples:
        return Samples(*(getattr(self, k)[rows] for k in ("images", "vectors", "actions", "mask", "done", "episode")))


def skill_calls(meta: dict[str, Any], skill: str) -> list[dict[str, Any]]:
    """The episode's successful calls of ``skill`` that have a target."""
    calls = [json.loads(c) for c in meta.get("skill_calls", [])]
    return [c for c in calls if c["name"] == skill and c["success"] and c["target"] and c["end"] > c["start"]]


def load_samples(ds: Dataset, config: TrainConfig, on_episode: Callable[[int], None] | None = None) -> Samples:
    """Every sample of ``config.skill`` in ``ds`` (see the module docstring)."""
    parts: list[tuple[np.ndarray, ...]] = []
    episodes = range(ds.num_episodes if config.max_episodes is None else min(ds.num_episodes, config.max_episodes))
    for k in episodes:
        calls = skill_calls(ds.episode(k), config.skill)
        if not calls:
            continue
        frames = ds.episode_frames(k)
        views = [ds.episode_video(f"observation.images.{c}", k) for c in CAMERAS]
        for call in calls:
            parts.append(_call_samples(frames, views, call, config.chunk, k))
        if on_episode is not None:
            on_episode(k)
    if not parts:
        raise UsageError(f"the dataset has no successful {config.skill!r} calls to learn from")
    return Samples(*(np.concatenate([p[i] for p in parts]) for i in range(6)))


def _call_samples(
    frames: dict[str, np.ndarray], views: list[np.ndarray], call: dict[str, Any], chunk: int, episode: int
) -> tuple[np.ndarray, ...]:
    start, end = int(call["start"]), int(call["end"])
    last = min(end, len(frames["action"]) - 1)  # the step after the call, when there is one
    rows = np.arange(start, last + 1)
    target = np.asarray(call["target"], dtype=np.float32)
    images = np.stack([np.stack([image_features(v[t]) for v in views]) for t in rows])
    recorded = np.asarray(frames["action"], dtype=np.float32)
    previous = np.zeros((len(rows), 5), dtype=np.float32)  # the action sent the step before, none at the call's start
    previous[1:] = recorded[rows[1:] - 1]
    vectors = vector_features(np.asarray(frames["observation.state"])[rows], target, previous)
    steps = rows[:, None] + np.arange(chunk)  # the step each label of each sample is for
    inside = steps < end
    actions = np.zeros((len(rows), chunk, 5), dtype=np.float32)
    actions[inside] = recorded[steps[inside]]
    mask, done = inside.astype(np.float32), (~inside).astype(np.float32)
    return images, vectors, actions, mask, done, np.full(len(rows), episode, dtype=np.int64)


def split(samples: Samples, fraction: float, seed: int) -> tuple[Samples, Samples]:
    """Training and validation samples, split by whole episodes."""
    episodes = np.unique(samples.episode)
    rng = np.random.default_rng(seed)
    n_val = round(len(episodes) * fraction) if len(episodes) > 1 else 0
    held = set(rng.choice(episodes, size=n_val, replace=False).tolist()) if n_val else set()
    is_val = np.array([e in held for e in samples.episode])
    return samples.take(np.flatnonzero(~is_val)), samples.take(np.flatnonzero(is_val))


def train(
    root: Path | str, out: Path | str, config: TrainConfig, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Train on the dataset at ``root`` and write the checkpoint to ``out``; returns the training record."""
    import torch

    from policies.learned.checkpoint import save_checkpoint
    from policies.learned.model import VisuomotorPolicy

    say = progress or (lambda text: log.info("%s", text))
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    t0 = time.perf_counter()
    ds = Dataset(root)
    samples = load_samples(ds, config)
    train_set, val_set = split(samples, config.validation_fraction, config.seed)
    load_s = time.perf_counter() - t0
    say(f"{len(train_set)} training and {len(val_set)} validation samples in {load_s:.0f} s")
    policy_config = PolicyConfig(skill=config.skill, chunk=config.chunk)
    model = VisuomotorPolicy(policy_config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    steps_per_epoch = max(1, math.ceil(len(train_set) / config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.epochs * steps_per_epoch
    )
    rng = np.random.default_rng(config.seed)
    history: list[dict[str, float]] = []
    t1 = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(train_set))
        total = 0.0
        for b in range(steps_per_epoch):
            rows = order[b * config.batch_size : (b + 1) * config.batch_size]
            loss = _loss(model, train_set.take(rows), rng, augment=True)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        record = {"epoch": epoch + 1, "train_loss": total / len(train_set)}
        if len(val_set):
            record["val_loss"] = evaluate_loss(model, val_set)
        history.append(record)
        say(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
    training = {
        "dataset": str(Path(root).resolve()),
        "dataset_episodes": ds.num_episodes,
        "dataset_bytes": sum(f.stat().st_size for f in Path(root).rglob("*") if f.is_file()),
        "episodes_used": len(np.unique(samples.episode)),
        "train_samples": len(train_set),
        "val_samples": len(val_set),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "load_seconds": round(load_s, 1),
        "train_seconds": round(time.perf_counter() - t1, 1),
        "device": "cpu",
        "threads": config.threads,
        "history": history,
    }
    save_checkpoint(out, model, training)
    return training


def _loss(model: Any, batch: Samples, rng: np.random.Generator, augment: bool) -> Any:
    import torch
    import torch.nn.functional as F

    images = torch.from_numpy(_shifted(batch.images, rng) if augment else batch.images)
    actions, done_logits = model(images, torch.from_numpy(batch.vectors))
    mask = torch.from_numpy(batch.mask)
    l1 = (F.l1_loss(actions, torch.from_numpy(batch.actions), reduction="none").mean(-1) * mask).sum()
    l1 = l1 / mask.sum().clamp(min=1.0)
    over = F.binary_cross_entropy_with_logits(done_logits, torch.from_numpy(batch.done))
    return l1 + 0.5 * over


def evaluate_loss(model: Any, samples: Samples, batch_size: int = 256) -> float:
    """The mean loss over ``samples`` without augmentation."""
    import torch

    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            rows = np.arange(start, min(start + batch_size, len(samples)))
            total += float(_loss(model, samples.take(rows), np.random.default_rng(0), augment=False)) * len(rows)
    return total / max(1, len(samples))


def _shifted(images: np.ndarray, rng: np.random.Generator, pad: int = 2) -> np.ndarray:
    """Each image moved by up to ``pad`` pixels (edges repeated): DrQ's random shift, against overfitting."""
    n, h, w = images.shape[0], images.shape[3], images.shape[4]
    padded = np.pad(images, ((0, 0), (0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    out = np.empty_like(images)
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    for i in range(n):
        out[i] = padded[i, :, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    return out
