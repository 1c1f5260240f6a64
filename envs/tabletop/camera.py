"""Offscreen rendering of the scene cameras: rgb, metric depth and instance segmentation.

One ``mjr_render`` per camera yields both rgb and depth (``mujoco.Renderer`` renders twice for
that); segmentation needs a second pass with MuJoCo's segment/ID-colour flags, so it is only
rendered when asked for. Lights cast no shadows and MSAA is off: on a software rasteriser those
two dominate the cost (``benchmarks/sim_overhead.py`` measures the result).
"""

from __future__ import annotations

import contextlib
from typing import Any

import mujoco
import numpy as np

from envs.common import MODALITIES, pinhole_intrinsics
from envs.tabletop.gl import gl_context_class

__all__ = ["MODALITIES", "CameraRig"]


class CameraRig:
    """Renders a fixed set of named cameras of one model at one resolution.

    Args:
        model: the compiled model.
        cameras: names of cameras in the model.
        height: image height in pixels.
        width: image width in pixels.
        modalities: any of ``rgb``, ``depth``, ``segmentation``.
        geom_instance: per-geom instance id written into segmentation images (0 = background).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        cameras: tuple[str, ...],
        height: int,
        width: int,
        modalities: tuple[str, ...],
        geom_instance: np.ndarray,
    ) -> None:
        self.model = model
        self.cameras = cameras
        self.height, self.width = height, width
        self.modalities = modalities
        self._cam_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, c) for c in cameras]
        for name, cid in zip(cameras, self._cam_ids, strict=True):
            if cid < 0:
                valid = [model.camera(i).name for i in range(model.ncam)]
                raise ValueError(f"unknown camera {name!r}; the model has {valid}")
        self._geom_instance = geom_instance.astype(np.int32)
        self._gl = gl_context_class()(width, height)
        self._gl.make_current()
        self._ctx = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
        self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model, maxgeom=2000)
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._rgb_buf = np.empty((height, width, 3), dtype=np.uint8)
        self._depth_buf = np.empty((height, width), dtype=np.float32)
        near = np.float32(model.vis.map.znear * model.stat.extent)
        far = np.float32(model.vis.map.zfar * model.stat.extent)
        c = -(far + near) / (far - near)
        d = -(np.float32(2) * far * near) / (far - near)
        self._far = far
        self._c = np.float32(-0.5) * c - np.float32(0.5)
        self._d = np.float32(-0.5) * d

    def render(self, data: mujoco.MjData) -> dict[str, dict[str, np.ndarray]]:
        """Fresh arrays ``{modality: {camera: image}}`` for the requested modalities."""
        out: dict[str, dict[str, np.ndarray]] = {m: {} for m in self.modalities}
        self._gl.make_current()
        want_rgb, want_depth, want_seg = (m in self.modalities for m in MODALITIES)
        for name, cid in zip(self.cameras, self._cam_ids, strict=True):
            self._camera.fixedcamid = cid
            mujoco.mjv_updateScene(
                self.model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene
            )
            if want_rgb or want_depth:
                mujoco.mjr_render(self._rect, self._scene, self._ctx)
                mujoco.mjr_readPixels(
                    self._rgb_buf if want_rgb else None, self._depth_buf if want_depth else None, self._rect, self._ctx
                )
                if want_rgb:
                    out["rgb"][name] = np.flipud(self._rgb_buf).copy()
                if want_depth:
                    out["depth"][name] = self._metric_depth()
            if want_seg:
                out["segmentation"][name] = self._segmentation()
        return out

    def render_rgb(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """One rgb image of ``camera`` (for ``env.render()`` and videos)."""
        self._gl.make_current()
        self._camera.fixedcamid = self._cam_ids[self.cameras.index(camera)]
        mujoco.mjv_updateScene(
            self.model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL.value, self._scene
        )
        mujoco.mjr_render(self._rect, self._scene, self._ctx)
        mujoco.mjr_readPixels(self._rgb_buf, None, self._rect, self._ctx)
        return np.flipud(self._rgb_buf).copy()

    def _metric_depth(self) -> np.ndarray:
        depth = np.flipud(self._depth_buf) + self._c
        np.divide(self._d, depth, out=depth)
        return np.minimum(depth, self._far, out=depth)

    def _segmentation(self) -> np.ndarray:
        flags = self._scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = True
        flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            mujoco.mjr_render(self._rect, self._scene, self._ctx)
            mujoco.mjr_readPixels(self._rgb_buf, None, self._rect, self._ctx)
        finally:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = False
            flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = False
        rgb = np.flipud(self._rgb_buf).astype(np.int32)
        segid = rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)
        lut = np.zeros(self._scene.ngeom + 1, dtype=np.int32)
        for g in self._scene.geoms[: self._scene.ngeom]:
            if g.segid >= 0 and g.objtype == mujoco.mjtObj.mjOBJ_GEOM:
                lut[g.segid + 1] = self._geom_instance[g.objid]
        return lut[np.clip(segid, 0, self._scene.ngeom)]

    def intrinsics(self, camera: str) -> np.ndarray:
        """3x3 pinhole matrix K (pixels) for ``camera``: square pixels, centred principal point."""
        fovy = float(self.model.cam_fovy[self._cam_ids[self.cameras.index(camera)]])
        return pinhole_intrinsics(fovy, self.width, self.height)

    def cam_to_world(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """4x4 pose of ``camera`` in the world, OpenCV convention (x right, y down, z forward)."""
        cid = self._cam_ids[self.cameras.index(camera)]
        pose = np.eye(4)
        pose[:3, :3] = data.cam_xmat[cid].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = data.cam_xpos[cid]
        return pose

    def camera_info(self, data: mujoco.MjData) -> dict[str, dict[str, Any]]:
        """Per camera: ``K``, ``cam_to_world`` (OpenCV), ``width``, ``height``."""
        return {
            c: {
                "K": self.intrinsics(c),
                "cam_to_world": self.cam_to_world(data, c),
                "width": self.width,
                "height": self.height,
            }
            for c in self.cameras
        }

    def close(self) -> None:
        """Free the GL resources (do this explicitly: EGL teardown at exit is noisy)."""
        if self._ctx is not None:
            self._gl.make_current()
            self._ctx.free()
            self._ctx = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None

    def __del__(self) -> None:
        # Interpreter shutdown may have torn GL down already.
        with contextlib.suppress(Exception):
            self.close()
