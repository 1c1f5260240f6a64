"""The Franka Emika Panda for MuJoCo, built from the URDF that ships in ``pybullet_data``.

The same URDF and meshes serve the PyBullet backend, so both simulators drive the same robot.
MuJoCo imports the URDF's collision meshes (it discards URDF visuals by default); they are
coarse but cheap to render in software, which is what a CPU-only machine needs.
"""

from __future__ import annotations

import math

import mujoco

from envs.common import (
    ARM_JOINTS,
    FINGER_BODIES,
    FINGER_JOINTS,
    FINGER_OPEN,
    HAND_RGBA,
    HOME_QPOS,
    ROBOT_RGBA,
    TCP_OFFSET,
    panda_urdf_path,
)

__all__ = ["ARM_JOINTS", "FINGER_BODIES", "FINGER_JOINTS", "FINGER_OPEN", "HOME_QPOS", "TCP_OFFSET", "panda_urdf_path"]

HAND_BODY = "panda_link7"  # the hand is fused into link 7 by MuJoCo's URDF import
TCP_SITE = "tcp"

ARM_KP, ARM_KV, ARM_FORCE = 2000.0, 200.0, 300.0
FINGER_KP, FINGER_KV, FINGER_FORCE = 500.0, 20.0, 40.0
GRIP_FRICTION = (1.5, 0.02, 0.001)


def load_panda_spec() -> mujoco.MjSpec:
    """A MjSpec holding the Panda (base fixed at the origin) with actuators and a TCP site."""
    urdf = panda_urdf_path()
    xml = urdf.read_text().replace("package://", f"{urdf.parent}/")
    spec = mujoco.MjSpec.from_string(xml)
    for body in spec.bodies:
        if body.name.startswith("panda_"):
            body.gravcomp = 1.0
    for name in ARM_JOINTS + FINGER_JOINTS:
        joint = spec.joint(name)
        joint.armature = 0.1 if name in ARM_JOINTS else 0.01
        joint.damping = [1.0 if name in ARM_JOINTS else 0.5, 0.0, 0.0]
    for name in ARM_JOINTS:
        act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=ARM_KP, kv=ARM_KV)
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-ARM_FORCE, ARM_FORCE]
        act.ctrlrange = spec.joint(name).range
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for name in FINGER_JOINTS:
        act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=FINGER_KP, kv=FINGER_KV)
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-FINGER_FORCE, FINGER_FORCE]
        act.ctrlrange = [0.0, FINGER_OPEN]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for geom in spec.geoms:
        parent = geom.parent.name
        if parent in FINGER_BODIES:
            geom.friction = list(GRIP_FRICTION)
            geom.condim = 4
            geom.rgba = [0.15, 0.15, 0.17, 1.0]
        elif parent.startswith("panda_") or parent == "world":
            geom.rgba = list(ROBOT_RGBA) if parent != HAND_BODY else list(HAND_RGBA)
    hand = spec.body(HAND_BODY)
    # Hand frame is link 7 rotated -45 deg about z; the TCP site shares that orientation.
    half = -math.pi / 8
    hand.add_site(
        name=TCP_SITE,
        pos=[0.0, 0.0, TCP_OFFSET],
        quat=[math.cos(half), 0.0, 0.0, math.sin(half)],
        size=[0.005, 0.005, 0.005],
        group=5,
    )
    return spec
