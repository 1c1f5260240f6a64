"""A small visuomotor policy with an action-chunking head (ACT-style), in torch.

Each camera image goes through the same small convolutional encoder ending in a spatial softmax
(the expected image coordinates of each feature map, as in Levine et al.'s visuomotor policies and
Diffusion Policy): a few dozen keypoints per camera that say *where* things are, which is what a
grasp needs. The keypoints of both cameras, a learned camera-specific projection of them and the
vector of proprio and target (:mod:`policies.learned.features`) feed an MLP that predicts the next
``chunk`` actions and, for each of them, whether the skill is over by then. Running, the chunks
are blended over time (:class:`policies.learned.rollout.TemporalEnsemble`) as ACT does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from policies.learned import LEARNABLE_SKILLS
from policies.learned.features import ACTION_NAMES, CAMERAS, IMAGE_SIZE, VECTOR_DIM


@dataclass(frozen=True)
class PolicyConfig:
    """The shape of a learned skill policy; checks itself and names the bad field.

    Attributes:
        skill: the skill it backs (``pick`` or ``place``).
        cameras: the camera views it looks at, in order.
        image_size: ``(width, height)`` of each image it sees.
        chunk: actions predicted per step (the chunk of ACT).
        channels: feature maps of the encoder's last layer (= keypoints per camera).
        hidden: width of the MLP head.
        max_steps: control steps after which a rollout stops even if it never predicted "done".
    """

    skill: str
    cameras: tuple[str, ...] = CAMERAS
    image_size: tuple[int, int] = IMAGE_SIZE
    chunk: int = 10
    channels: int = 16
    hidden: int = 256
    max_steps: int = 150

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "image_size", tuple(self.image_size))
        if self.skill not in LEARNABLE_SKILLS:
            raise ValueError(f"PolicyConfig.skill={self.skill!r}: choose one of {LEARNABLE_SKILLS}")
        if self.cameras != CAMERAS or self.image_size != IMAGE_SIZE:
            raise ValueError(
                f"PolicyConfig.cameras={self.cameras!r}, image_size={self.image_size!r}: this version reads "
                f"cameras {CAMERAS} at {IMAGE_SIZE} (policies/learned/features.py)"
            )
        for name in ("chunk", "channels", "hidden", "max_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"PolicyConfig.{name}={value!r}: must be a whole number >= 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown policy config fields {unknown}; known are {sorted(known)}")
        return cls(**data)


class SpatialSoftmax(nn.Module):
    """(B, C, H, W) feature maps -> (B, 2C) expected (x, y) image coordinates in [-1, 1]."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer("grid", torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        weights = torch.softmax(x.reshape(b, c, h * w), dim=-1)
        grid: torch.Tensor = self.grid  # type: ignore[assignment]  # a registered buffer
        return (weights @ grid).reshape(b, 2 * c)


class ImageEncoder(nn.Module):
    """A 3x48x64 image -> ``2 * channels`` keypoint coordinates (feature maps of 12x16: a quarter of the image,
    so training stays minutes on a laptop CPU; the soft-argmax still locates to a fraction of a cell)."""

    def __init__(self, channels: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, channels, 1),
        )
        width, height = image_size
        self.keypoints = SpatialSoftmax((height + 3) // 4, (width + 3) // 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.keypoints(self.conv(images))


class VisuomotorPolicy(nn.Module):
    """Images (B, cameras, 3, H, W) uint8 + vector (B, VECTOR_DIM) -> actions (B, chunk, 5), done logits (B, chunk)."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ImageEncoder(config.channels, config.image_size)
        n_cam = len(config.cameras)
        self.head = nn.Sequential(
            nn.Linear(n_cam * 2 * config.channels + VECTOR_DIM, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.chunk * (len(ACTION_NAMES) + 1)),
        )

    def forward(self, images: torch.Tensor, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n_cam = images.shape[:2]
        pixels = images.reshape(b * n_cam, *images.shape[2:]).float() / 255.0
        keypoints = self.encoder(pixels).reshape(b, -1)
        out = self.head(torch.cat([keypoints, vector], dim=1)).reshape(b, self.config.chunk, len(ACTION_NAMES) + 1)
        return torch.tanh(out[..., :-1]), out[..., -1]
