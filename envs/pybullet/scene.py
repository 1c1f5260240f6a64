"""Build the PyBullet tabletop (table, floor, Panda, props) from a :class:`SceneSpec`.

Each prop is one multibody whose collision shape is a compound of boxes and cylinders, like the
MuJoCo scene: blocks are one box, bowls and plates a disc plus a ring of wall boxes, the bin a
fixed floor plus four walls. A prop's link frame is the centre of its bottom face (what
``world_state`` reports); its centre of mass sits ``com_offset`` above that.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pybullet as p

from envs.common import HAND_RGBA, ROBOT_RGBA, panda_urdf_path
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

TIMESTEP = 1.0 / 240.0
#: Bullet multiplies the two friction coefficients of a contact (MuJoCo takes the larger), so
#: these are chosen for the products: block-finger 1.5 (see ``robot.FINGER_FRICTION``),
#: block-container 1.0, block-table 0.6 (a pushed block slides instead of tipping over, as on
#: MuJoCo's soft contacts) and block-block 0.36 (stacks hold; a block dropped on a pile settles).
BLOCK_FRICTION, CONTAINER_FRICTION, TABLE_FRICTION = 0.6, 1.67, 1.0
#: Bounce between props (Bullet multiplies too: 0.64 prop-prop, 0 on the table and fingers). Rigid
#: Bullet blocks dropped into a bin otherwise pile up into a neat tower above the rim, where
#: MuJoCo's soft contacts let them tumble; measured with ``python -m benchmarks.backends``.
RESTITUTION = 0.8
SPINNING_FRICTION = 0.003
VISUAL_CHUNK = 9

#: One primitive of a compound shape: (kind, half extents or (radius, length), position, yaw).
Part = tuple[str, tuple[float, ...], tuple[float, float, float], float]


@dataclass(frozen=True)
class PropBody:
    """A prop built in the simulator: its body id and where its centre of mass is."""

    name: str
    uid: int
    com_offset: float  # height of the centre of mass above the bottom face (m)
    fixed: bool


def yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    """PyBullet ``(x, y, z, w)`` quaternion of a rotation ``yaw`` about +z."""
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def _block_parts(obj: ObjectSpec) -> list[Part]:
    h = obj.size / 2
    return [("box", (h, h, h), (0.0, 0.0, h), 0.0)]


def _round_parts(obj: ObjectSpec, height: float) -> list[Part]:
    r, t = obj.size, WALL_THICKNESS_M
    base_t = CONTAINER_BASE_THICKNESS
    parts: list[Part] = [("cyl", (r, base_t), (0.0, 0.0, base_t / 2), 0.0)]
    wall_h = height - base_t
    half_len = r * math.tan(math.pi / CONTAINER_WALLS) + t / 2
    for i in range(CONTAINER_WALLS):
        a = 2 * math.pi * i / CONTAINER_WALLS
        pos = ((r - t / 2) * math.cos(a), (r - t / 2) * math.sin(a), base_t + wall_h / 2)
        parts.append(("box", (t / 2, half_len, wall_h / 2), pos, a))
    return parts


def _bin_parts() -> list[Part]:
    hx, hy, hz = BIN_HALF_EXTENTS
    t = WALL_THICKNESS_M
    return [
        ("box", (hx, hy, t / 2), (0.0, 0.0, t / 2), 0.0),
        ("box", (t / 2, hy, hz), (hx - t / 2, 0.0, hz), 0.0),
        ("box", (t / 2, hy, hz), (-hx + t / 2, 0.0, hz), 0.0),
        ("box", (hx, t / 2, hz), (0.0, hy - t / 2, hz), 0.0),
        ("box", (hx, t / 2, hz), (0.0, -hy + t / 2, hz), 0.0),
    ]


def _parts(obj: ObjectSpec) -> tuple[list[Part], float, float]:
    """Compound shape, mass and centre-of-mass height of one prop."""
    container_mass = CONTAINER_BASE_MASS + CONTAINER_WALL_MASS * CONTAINER_WALLS
    if obj.kind == "block":
        return _block_parts(obj), block_mass(obj.size), obj.size / 2
    if obj.kind == "bowl":
        return _round_parts(obj, BOWL_HEIGHT), container_mass, 0.012
    if obj.kind == "plate":
        return _round_parts(obj, PLATE_HEIGHT), container_mass, 0.004
    return _bin_parts(), 0.0, 0.0


def _shape_kwargs(parts: list[Part], com: float) -> dict[str, Any]:
    """Keyword arguments shared by the collision and visual shape arrays of ``parts``."""
    return {
        "shapeTypes": [p.GEOM_BOX if kind == "box" else p.GEOM_CYLINDER for kind, *_ in parts],
        "halfExtents": [list(d) if kind == "box" else [0.0, 0.0, 0.0] for kind, d, *_ in parts],
        "radii": [d[0] if kind == "cyl" else 0.0 for kind, d, *_ in parts],
        "lengths": [d[1] if kind == "cyl" else 0.0 for kind, d, *_ in parts],
        "positions": [[x, y, z - com] for _, _, (x, y, z), _ in parts],
        "orientations": [list(yaw_quat(a)) for *_, a in parts],
    }


def _collision(client: int, parts: list[Part], com: float) -> int:
    kw = _shape_kwargs(parts, com)
    positions, orientations = kw.pop("positions"), kw.pop("orientations")
    return int(
        p.createCollisionShapeArray(
            **kw, collisionFramePositions=positions, collisionFrameOrientations=orientations, physicsClientId=client
        )
    )


def _visuals(client: int, parts: list[Part], rgba: tuple[float, ...], com: float) -> list[int]:
    """Visual shapes of ``parts`` in chunks (PyBullet crashes on visual arrays of more than 12)."""
    shapes = []
    for i in range(0, len(parts), VISUAL_CHUNK):
        chunk = parts[i : i + VISUAL_CHUNK]
        kw = _shape_kwargs(chunk, com)
        positions, orientations = kw.pop("positions"), kw.pop("orientations")
        vis = p.createVisualShapeArray(
            **kw,
            fileNames=[""] * len(chunk),
            meshScales=[[1.0, 1.0, 1.0]] * len(chunk),
            rgbaColors=[list(rgba)] * len(chunk),
            visualFramePositions=positions,
            visualFrameOrientations=orientations,
            physicsClientId=client,
        )
        shapes.append(int(vis))
    return shapes


def _visual_links(visuals: list[int]) -> dict[str, Any]:
    """Extra visual-only links (fixed, massless-ish) for the visual chunks past the first."""
    k = len(visuals)
    origin, identity = [[0.0, 0.0, 0.0]] * k, [[0.0, 0.0, 0.0, 1.0]] * k
    return {
        "linkMasses": [1e-4] * k,
        "linkCollisionShapeIndices": [-1] * k,
        "linkVisualShapeIndices": visuals,
        "linkPositions": origin,
        "linkOrientations": identity,
        "linkInertialFramePositions": origin,
        "linkInertialFrameOrientations": identity,
        "linkParentIndices": [0] * k,
        "linkJointTypes": [p.JOINT_FIXED] * k,
        "linkJointAxis": [[0.0, 0.0, 1.0]] * k,
    }


def add_prop(client: int, obj: ObjectSpec) -> PropBody:
    """Create one prop resting with its bottom face at height ``obj.z``; the bin is fixed."""
    parts, mass, com = _parts(obj)
    col = _collision(client, parts, com)
    visuals = _visuals(client, parts, COLOURS[obj.colour], com)
    uid = p.createMultiBody(
        baseMass=mass,
        baseCollisionShapeIndex=col,
        baseVisualShapeIndex=visuals[0],
        basePosition=[obj.pos[0], obj.pos[1], obj.z + com],
        baseOrientation=list(yaw_quat(obj.yaw)),
        physicsClientId=client,
        **(_visual_links(visuals[1:]) if len(visuals) > 1 else {}),
    )
    p.changeDynamics(
        uid,
        -1,
        lateralFriction=BLOCK_FRICTION if obj.kind == "block" else CONTAINER_FRICTION,
        spinningFriction=SPINNING_FRICTION,
        rollingFriction=0.0,
        restitution=RESTITUTION,
        physicsClientId=client,
    )
    return PropBody(obj.name, uid, com, fixed=mass == 0.0)


def _static_box(client: int, half: tuple[float, float, float], pos: tuple[float, float, float], rgba: Any) -> int:
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(half), physicsClientId=client)
    vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(half), rgbaColor=list(rgba), physicsClientId=client)
    return int(
        p.createMultiBody(0.0, col, vis, basePosition=list(pos), physicsClientId=client),
    )


def build_static(client: int) -> tuple[int, int]:
    """Configure the physics and add the floor and the table; returns ``(floor, table)`` ids."""
    p.setGravity(0.0, 0.0, -9.81, physicsClientId=client)
    p.setPhysicsEngineParameter(
        fixedTimeStep=TIMESTEP,
        numSolverIterations=50,
        deterministicOverlappingPairs=1,
        enableConeFriction=1,
        physicsClientId=client,
    )
    floor = _static_box(client, (3.0, 3.0, 0.05), (0.0, 0.0, -2 * TABLE_HALF[2] - 0.05), FLOOR_RGBA)
    table = _static_box(client, TABLE_HALF, (TABLE_CENTRE_X, 0.0, -TABLE_HALF[2]), TABLE_RGBA)
    p.changeDynamics(table, -1, lateralFriction=TABLE_FRICTION, spinningFriction=0.002, physicsClientId=client)
    return floor, table


def coarse_panda_urdf() -> Path:
    """A copy of the Panda URDF that draws the collision meshes instead of the visual ones.

    The visual meshes are 1-2 MB each and dominate software rendering time; MuJoCo's import
    renders the collision meshes too, so both backends show the same coarse robot.
    """
    urdf = panda_urdf_path()
    text = urdf.read_text().replace("package://meshes/visual/", "package://meshes/collision/")
    text = text.replace("package://", f"{urdf.parent}/")
    out = Path(tempfile.gettempdir()) / f"embodied_panda_coarse_{os.getuid()}.urdf"
    if not out.is_file() or out.read_text() != text:
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(out)  # atomic: parallel workers never read a half-written file
    return out


def load_panda(client: int) -> int:
    """The Panda with its base fixed at the origin (on the table top), coloured as on MuJoCo."""
    robot = int(
        p.loadURDF(
            str(coarse_panda_urdf()),
            basePosition=[0, 0, 0],
            useFixedBase=True,
            flags=p.URDF_USE_INERTIA_FROM_FILE,
            physicsClientId=client,
        )
    )
    for link in range(-1, p.getNumJoints(robot, physicsClientId=client)):
        name = "panda_link0" if link < 0 else p.getJointInfo(robot, link, physicsClientId=client)[12].decode()
        rgba = HAND_RGBA if name in ("panda_hand", "panda_leftfinger", "panda_rightfinger") else ROBOT_RGBA
        p.changeVisualShape(robot, link, rgbaColor=list(rgba), physicsClientId=client)
    return robot


def build_props(client: int, scene: SceneSpec) -> tuple[PropBody, ...]:
    """Every prop of ``scene``, in scene order."""
    return tuple(add_prop(client, obj) for obj in scene.objects)
