"""Checked camera frames and their back-projection into world coordinates.

A :class:`CameraView` bundles one camera's rgb and depth images with its pinhole matrix ``K``
and its OpenCV-convention pose ``cam_to_world`` (x right, y down, z forward). The depth image
holds the distance along the optical axis in metres, so a pixel ``(u, v)`` with depth ``d`` is
the world point ``t + d * R @ K^-1 @ (u, v, 1)``. The per-pixel rays ``R @ K^-1 @ (u, v, 1)``
depend only on the camera, so they are cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: Depth at or beyond this (metres) is background (the renderer's far plane is 100 m).
MAX_DEPTH = 10.0
#: What NaN and non-positive depth pixels are replaced with: far (invalid), but finite.
INVALID_DEPTH = np.float32(1e3)

_RAY_CACHE: dict[bytes, np.ndarray] = {}
_RAY_CACHE_SIZE = 16


@dataclass(frozen=True)
class CameraView:
    """One camera's checked frames and geometry.

    Attributes:
        name: camera name (``front``, ``top``).
        rgb: ``(H, W, 3)`` uint8.
        depth: ``(H, W)`` float32 metres; invalid pixels (NaN, inf, <= 0, background) are at or
            beyond :data:`MAX_DEPTH`.
        K: 3x3 pinhole matrix.
        cam_to_world: 4x4 camera pose, OpenCV convention.
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    cam_to_world: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.depth.shape[0]), int(self.depth.shape[1])

    @property
    def centre(self) -> np.ndarray:
        """Camera position in the world (metres)."""
        return self.cam_to_world[:3, 3]

    def _key(self) -> bytes:
        return b"".join((self.K.tobytes(), self.cam_to_world.tobytes(), np.asarray(self.shape).tobytes()))

    def rays(self) -> np.ndarray:
        """``(3, H, W)`` world-frame ray per pixel, scaled so that ``point = centre + depth * ray``.

        Stored as three planes (x, y, z) so that gathers and reductions run on contiguous memory.
        """
        key = self._key()
        rays = _RAY_CACHE.get(key)
        if rays is None:
            h, w = self.shape
            u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
            pix = np.stack((u, v, np.ones_like(u)), axis=-1)
            cam = pix @ np.linalg.inv(self.K).T
            rays = np.ascontiguousarray((cam @ self.cam_to_world[:3, :3].T).transpose(2, 0, 1), dtype=np.float32)
            if len(_RAY_CACHE) >= _RAY_CACHE_SIZE:
                _RAY_CACHE.pop(next(iter(_RAY_CACHE)))
            _RAY_CACHE[key] = rays
        return rays

    def height_map(self, step: int = 1) -> np.ndarray:
        """World ``z`` of every ``step``-th pixel in each direction (``-inf`` where the depth is invalid)."""
        depth = self.depth[::step, ::step]
        z = depth * _ray_z(self._key(), self.rays(), step)
        z += np.float32(self.centre[2])
        z[depth >= MAX_DEPTH] = -np.inf
        return z

    def depth_at(self, point: tuple[float, float, float]) -> tuple[float, float] | None:
        """``(expected, observed)`` depth of a world point's pixel, ``None`` if it is out of view."""
        p = np.asarray(point, dtype=np.float64) - self.centre
        cam = self.cam_to_world[:3, :3].T @ p
        if cam[2] <= 1e-6:
            return None
        u, v, _ = self.K @ (cam / cam[2])
        h, w = self.shape
        col, row = round(u), round(v)
        if not (0 <= col < w and 0 <= row < h):
            return None
        return float(cam[2]), float(self.depth[row, col])

    def points(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """World points ``(3, N)`` float32 (x, y, z rows) of the given pixels (their depth must be valid)."""
        pts = self.rays()[:, rows, cols]
        pts *= self.depth[rows, cols]
        pts += self.centre.astype(np.float32)[:, None]
        return pts


_RAY_Z_CACHE: dict[tuple[bytes, int], np.ndarray] = {}


def _ray_z(camera_key: bytes, rays: np.ndarray, step: int) -> np.ndarray:
    """Contiguous z components of the (cached) rays, subsampled by ``step``."""
    key = (camera_key, step)
    out = _RAY_Z_CACHE.get(key)
    if out is None:
        if len(_RAY_Z_CACHE) >= 2 * _RAY_CACHE_SIZE:
            _RAY_Z_CACHE.clear()
        out = _RAY_Z_CACHE[key] = np.ascontiguousarray(rays[2, ::step, ::step])
    return out


def _camera_matrix(cam: str, info_cam: Any, key: str, shape: tuple[int, int]) -> np.ndarray:
    try:
        m = np.asarray(info_cam[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"info['cameras'][{cam!r}] needs a numeric {key!r} matrix of shape {shape}") from e
    if m.shape != shape or not np.all(np.isfinite(m)):
        raise ValueError(f"info['cameras'][{cam!r}][{key!r}] must be a finite {shape} matrix, got shape {m.shape}")
    return m


def _check_rgb(cam: str, rgb: Any) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"obs['rgb'][{cam!r}] must be a numpy array (H, W, 3) uint8, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"obs['rgb'][{cam!r}] must have shape (H, W, 3) with H, W > 0, got {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"obs['rgb'][{cam!r}] must be uint8 (H, W, 3), got dtype {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _check_depth(cam: str, depth: Any, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(depth, np.ndarray):
        raise ValueError(f"obs['depth'][{cam!r}] must be a numpy array {shape} float32, got {type(depth).__name__}")
    if depth.shape != shape:
        raise ValueError(f"obs['depth'][{cam!r}] must have shape {shape} (the rgb image's H, W), got {depth.shape}")
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"obs['depth'][{cam!r}] must be float metres of shape {shape}, got dtype {depth.dtype}")
    d = np.array(depth, dtype=np.float32)  # a copy: the caller's frame is left alone
    cv2.patchNaNs(d, float(INVALID_DEPTH))
    np.minimum(d, INVALID_DEPTH, out=d)  # +inf too: keep every value finite
    d[d <= 0] = INVALID_DEPTH
    return d


def camera_views(obs: dict[str, Any], info: dict[str, Any]) -> list[CameraView]:
    """Checked views of every camera that has rgb, depth and camera matrices.

    Raises:
        ValueError: naming the camera and the expected shape or type when an input is malformed.
    """
    if not isinstance(obs, dict) or not isinstance(obs.get("rgb"), dict) or not isinstance(obs.get("depth"), dict):
        raise ValueError("obs must be a dict with 'rgb' and 'depth' dicts of camera name -> image")
    cams_info = info.get("cameras") if isinstance(info, dict) else None
    if not isinstance(cams_info, dict):
        raise ValueError("info must hold 'cameras': camera name -> {'K': 3x3, 'cam_to_world': 4x4}")
    views = []
    for cam in sorted(obs["rgb"]):
        if cam not in obs["depth"]:
            raise ValueError(f"camera {cam!r} has an rgb image but no obs['depth'][{cam!r}]")
        if cam not in cams_info:
            raise ValueError(f"camera {cam!r} has no intrinsics/pose in info['cameras'] (has {sorted(cams_info)})")
        rgb = _check_rgb(cam, obs["rgb"][cam])
        shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        depth = _check_depth(cam, obs["depth"][cam], shape)
        K = _camera_matrix(cam, cams_info[cam], "K", (3, 3))
        pose = _camera_matrix(cam, cams_info[cam], "cam_to_world", (4, 4))
        views.append(CameraView(cam, rgb, depth, K, pose))
    if not views:
        raise ValueError("obs['rgb'] holds no camera images; the vision perceiver needs at least one camera")
    return views
