"""Headless rendering of the scene cameras in PyBullet: rgb, metric depth and instance ids.

``p.getCameraImage`` renders rgb, the OpenGL depth buffer and a per-pixel body-id mask in one
call, with TinyRenderer (PyBullet's CPU rasteriser) or the EGL plugin (OpenGL: a GPU, or Mesa's
llvmpipe on a machine without one), which the env loads into its physics client. Depth is
converted from the non-linear buffer to metres; the body-id mask is mapped through a lookup
table to the instance ids of :mod:`envs.common` (0 background, 1 table, 2 robot, 3+ props).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pybullet as p

from envs.common import BACKGROUND_ID, FAR_DEPTH, MODALITIES, CameraSpec, camera_lookat_axes, pinhole_intrinsics
from envs.errors import RenderingUnavailable

log = logging.getLogger(__name__)

RENDERERS = ("tiny", "egl")
NEAR = 0.01
FAR = FAR_DEPTH


_EGL_PLUGINS: dict[int, int] = {}


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send what C code prints to stdout to /dev/null for the block (Python's own stdout is untouched)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)  # physics client -> its loaded EGL plugin


def load_egl(client: int) -> int:
    """Load the EGL renderer plugin into ``client`` (once); raise if it cannot be loaded.

    The plugin renders only the bodies created after it was loaded: load it before building the scene.
    """
    import importlib.util

    if client in _EGL_PLUGINS:
        return _EGL_PLUGINS[client]
    spec = importlib.util.find_spec("eglRenderer")
    path = spec.origin if spec is not None else None
    with quiet_stdout():  # the plugin prints its OpenGL vendor and version strings
        plugin = p.loadPlugin(path, "_eglRendererPlugin", physicsClientId=client) if path else -1
    if plugin < 0:
        raise RenderingUnavailable(
            "the PyBullet EGL renderer plugin could not be loaded; use renderer='tiny' "
            "or install the EGL libraries (apt install libegl1 libopengl0)"
        )
    _EGL_PLUGINS[client] = int(plugin)
    return int(plugin)


def forget_egl(client: int) -> bool:
    """Forget ``client``'s plugin (call before disconnecting it: PyBullet reuses client ids); whether it had one."""
    return _EGL_PLUGINS.pop(client, None) is not None


class PybulletCameraRig:
    """Renders a fixed set of cameras of one physics client at one resolution.

    Args:
        client: the physics client id.
        cameras: the camera specs to render, in order.
        height: image height in pixels.
        width: image width in pixels.
        modalities: any of ``rgb``, ``depth``, ``segmentation``.
        renderer: ``"tiny"`` (software, deterministic) or ``"egl"`` (hardware plugin).
    """

    def __init__(
        self,
        client: int,
        cameras: tuple[CameraSpec, ...],
        height: int,
        width: int,
        modalities: tuple[str, ...],
        renderer: str = "tiny",
    ) -> None:
        if renderer not in RENDERERS:
            raise ValueError(f"renderer={renderer!r}: choose one of {RENDERERS}")
        self.client, self.cameras = client, cameras
        self.height, self.width, self.modalities = height, width, modalities
        self._engine = p.ER_TINY_RENDERER
        if renderer == "egl":
            load_egl(client)
            self._engine = p.ER_BULLET_HARDWARE_OPENGL
        self._view = {c.name: p.computeViewMatrix(c.pos, c.target, c.up) for c in cameras}
        self._proj = {c.name: p.computeProjectionMatrixFOV(c.fovy, width / height, NEAR, FAR) for c in cameras}
        self._lut = np.zeros(1, dtype=np.int32)

    def set_instances(self, body_instance: dict[int, int]) -> None:
        """Which instance id each body id is drawn with (unlisted bodies are background)."""
        lut = np.full(max(body_instance, default=0) + 2, BACKGROUND_ID, dtype=np.int32)
        for uid, instance in body_instance.items():
            lut[uid + 1] = instance
        self._lut = lut

    def _shoot(self, cam: str, seg: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flags = 0 if seg else p.ER_NO_SEGMENTATION_MASK
        _, _, rgba, depth, mask = p.getCameraImage(
            self.width,
            self.height,
            self._view[cam],
            self._proj[cam],
            shadow=0,
            lightDirection=[0.4, 0.0, 2.0],
            renderer=self._engine,
            flags=flags,
            physicsClientId=self.client,
        )
        return (
            np.asarray(rgba, dtype=np.uint8).reshape(self.height, self.width, 4),
            np.asarray(depth, dtype=np.float32).reshape(self.height, self.width),
            np.asarray(mask, dtype=np.int64).reshape(self.height, self.width),
        )

    def render(self) -> dict[str, dict[str, np.ndarray]]:
        """Fresh arrays ``{modality: {camera: image}}`` for the requested modalities."""
        out: dict[str, dict[str, np.ndarray]] = {m: {} for m in self.modalities}
        want_rgb, want_depth, want_seg = (m in self.modalities for m in MODALITIES)
        for cam in self.cameras:
            rgba, depth, mask = self._shoot(cam.name, want_seg)
            if want_rgb:
                out["rgb"][cam.name] = np.ascontiguousarray(rgba[..., :3])
            if want_depth:
                out["depth"][cam.name] = self._metric_depth(depth)
            if want_seg:
                out["segmentation"][cam.name] = self._segmentation(mask)
        return out

    def render_rgb(self, camera: str) -> np.ndarray:
        """One rgb image of ``camera`` (for ``env.render()`` and videos)."""
        rgba, _, _ = self._shoot(camera, seg=False)
        return np.ascontiguousarray(rgba[..., :3])

    @staticmethod
    def _metric_depth(buf: np.ndarray) -> np.ndarray:
        depth = np.float32(FAR) - np.float32(FAR - NEAR) * buf
        np.divide(np.float32(FAR * NEAR), depth, out=depth)
        return np.minimum(depth, np.float32(FAR), out=depth)

    def _segmentation(self, mask: np.ndarray) -> np.ndarray:
        uid = np.where(mask < 0, -1, mask & ((1 << 24) - 1))
        return self._lut[np.clip(uid + 1, 0, len(self._lut) - 1)]

    def intrinsics(self, camera: str) -> np.ndarray:
        """3x3 pinhole matrix K (pixels): square pixels, centred principal point."""
        return pinhole_intrinsics(next(c.fovy for c in self.cameras if c.name == camera), self.width, self.height)

    def camera_info(self) -> dict[str, dict[str, Any]]:
        """Per camera: ``K``, ``cam_to_world`` (OpenCV: x right, y down, z forward), ``width``, ``height``."""
        info = {}
        for cam in self.cameras:
            right, up, forward = camera_lookat_axes(cam)
            pose = np.eye(4)
            pose[:3, :3] = np.column_stack((right, -up, forward))
            pose[:3, 3] = cam.pos
            info[cam.name] = {
                "K": self.intrinsics(cam.name),
                "cam_to_world": pose,
                "width": self.width,
                "height": self.height,
            }
        return info
