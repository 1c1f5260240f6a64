"""Build the MuJoCo tabletop (table, Panda, cameras, lights, props) from a :class:`SceneSpec`.

Scene construction is separate from the task (instruction, reset distribution, success
predicate), as in dm_control: a task produces a ``SceneSpec`` and this module turns it into a
compiled ``MjModel``. Each prop is one body named ``obj:<name>`` so ground truth and
segmentation map back to scene names.
"""

from __future__ import annotations

import math

import mujoco

from envs.common import DEFAULT_CAMERAS, CameraSpec, camera_lookat_axes
from envs.scene_spec import (
    BIN_HALF_EXTENTS,
    BOWL_HEIGHT,
    COLOURS,
    CONTAINER_BASE_MASS,
    CONTAINER_BASE_THICKNESS,
    CONTAINER_WALL_MASS,
    CONTAINER_WALLS,
    FLOOR_RGBA,
    PLATE_HEIGHT,
    TABLE_CENTRE_X,
    TABLE_HALF,
    TABLE_RGBA,
    WALL_THICKNESS_M,
    ObjectSpec,
    SceneSpec,
    block_mass,
)
from envs.tabletop.robot import load_panda_spec

__all__ = ["DEFAULT_CAMERAS", "CameraSpec", "body_name", "build_model", "build_spec"]

TIMESTEP = 0.002
OBJECT_FRICTION = (1.5, 0.02, 0.001)


def body_name(obj_name: str) -> str:
    return f"obj:{obj_name}"


def _lookat_xyaxes(cam: CameraSpec) -> list[float]:
    right, cam_up, _ = camera_lookat_axes(cam)
    return [*right.tolist(), *cam_up.tolist()]


def _yaw_quat(yaw: float) -> list[float]:
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def _add_block(body: mujoco.MjsBody, obj: ObjectSpec, rgba: list[float]) -> None:
    h = obj.size / 2
    body.add_geom(
        name=f"{obj.name}/box",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[h, h, h],
        pos=[0, 0, h],
        rgba=rgba,
        mass=block_mass(obj.size),
        friction=list(OBJECT_FRICTION),
        condim=4,
    )


def _add_round_container(body: mujoco.MjsBody, obj: ObjectSpec, rgba: list[float], height: float) -> None:
    """A bowl (walls) or plate (rim only): a flat disc plus a ring of thin wall boxes."""
    r, base_t, t = obj.size, CONTAINER_BASE_THICKNESS, WALL_THICKNESS_M
    body.add_geom(
        name=f"{obj.name}/base",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[r, base_t / 2, 0],
        pos=[0, 0, base_t / 2],
        rgba=rgba,
        mass=CONTAINER_BASE_MASS,
        friction=list(OBJECT_FRICTION),
    )
    wall_h = height - base_t
    half_len = r * math.tan(math.pi / CONTAINER_WALLS) + t / 2
    for i in range(CONTAINER_WALLS):
        a = 2 * math.pi * i / CONTAINER_WALLS
        body.add_geom(
            name=f"{obj.name}/wall{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[t / 2, half_len, wall_h / 2],
            pos=[(r - t / 2) * math.cos(a), (r - t / 2) * math.sin(a), base_t + wall_h / 2],
            quat=_yaw_quat(a),
            rgba=rgba,
            mass=CONTAINER_WALL_MASS,
            friction=list(OBJECT_FRICTION),
        )


def _add_bin(body: mujoco.MjsBody, obj: ObjectSpec, rgba: list[float]) -> None:
    hx, hy, hz = BIN_HALF_EXTENTS
    t = WALL_THICKNESS_M
    parts = {
        "floor": ([hx, hy, t / 2], [0, 0, t / 2]),
        "wall_px": ([t / 2, hy, hz], [hx - t / 2, 0, hz]),
        "wall_nx": ([t / 2, hy, hz], [-hx + t / 2, 0, hz]),
        "wall_py": ([hx, t / 2, hz], [0, hy - t / 2, hz]),
        "wall_ny": ([hx, t / 2, hz], [0, -hy + t / 2, hz]),
    }
    for part, (size, pos) in parts.items():
        body.add_geom(
            name=f"{obj.name}/{part}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=size,
            pos=pos,
            rgba=rgba,
            friction=list(OBJECT_FRICTION),
        )


def add_object(spec: mujoco.MjSpec, obj: ObjectSpec) -> None:
    """Add one prop as a body named ``obj:<name>``; the bin is fixed, the rest are free."""
    rgba = list(COLOURS[obj.colour])
    body = spec.worldbody.add_body(
        name=body_name(obj.name), pos=[obj.pos[0], obj.pos[1], obj.z], quat=_yaw_quat(obj.yaw)
    )
    if obj.kind != "bin":
        body.add_freejoint(name=f"{obj.name}/free")
    if obj.kind == "block":
        _add_block(body, obj, rgba)
    elif obj.kind == "bowl":
        _add_round_container(body, obj, rgba, BOWL_HEIGHT)
    elif obj.kind == "plate":
        _add_round_container(body, obj, rgba, PLATE_HEIGHT)
    else:
        _add_bin(body, obj, rgba)


def build_spec(
    scene: SceneSpec, cameras: tuple[CameraSpec, ...] = DEFAULT_CAMERAS, max_image: tuple[int, int] = (480, 640)
) -> mujoco.MjSpec:
    """The full scene as an (uncompiled) MjSpec."""
    spec = load_panda_spec()
    spec.modelname = "embodied_tabletop"
    spec.compiler.fusestatic = False  # keep the fixed bin as its own body (the URDF import turns fusing on)
    spec.option.timestep = TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.global_.offheight = max(max_image[0], 240)
    spec.visual.global_.offwidth = max(max_image[1], 320)
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0  # MSAA off: ~1.5x faster on a software rasteriser
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
    spec.visual.map.znear = 0.01
    spec.visual.map.zfar = 50.0  # x extent (2 m) = 100 m far plane
    spec.stat.extent = 2.0
    spec.stat.center = [0.4, 0.0, 0.2]

    wb = spec.worldbody
    wb.add_light(name="sun", pos=[0.4, 0.0, 2.0], dir=[0.0, 0.0, -1.0], castshadow=False, diffuse=[0.55, 0.55, 0.55])
    wb.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[3, 3, 0.1],
        pos=[0, 0, -2 * TABLE_HALF[2]],
        rgba=list(FLOOR_RGBA),
    )
    wb.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(TABLE_HALF),
        pos=[TABLE_CENTRE_X, 0.0, -TABLE_HALF[2]],
        rgba=list(TABLE_RGBA),
        friction=[1.0, 0.02, 0.001],
    )
    for cam in cameras:
        wb.add_camera(name=cam.name, pos=list(cam.pos), xyaxes=_lookat_xyaxes(cam), fovy=cam.fovy)
    for obj in scene.objects:
        add_object(spec, obj)
    return spec


def build_model(
    scene: SceneSpec, cameras: tuple[CameraSpec, ...] = DEFAULT_CAMERAS, max_image: tuple[int, int] = (480, 640)
) -> mujoco.MjModel:
    """Compile the scene; the result is deterministic for a given ``SceneSpec``."""
    return build_spec(scene, cameras, max_image).compile()
