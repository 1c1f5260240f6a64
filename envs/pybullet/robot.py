"""End-effector delta control of the PyBullet Panda: workspace/lead limits and null-space IK.

Same semantics as :mod:`envs.tabletop.controller`: the controller keeps a target tool pose
(position, yaw; fingers down), moves it by the scaled action, clips it to the workspace and to
a maximum lead over the measured tool pose, and solves IK once per control step with
``p.calculateInverseKinematics`` (joint limits, rest pose = home, seeded from the measured
joints). The joints' position motors track the solution over the physics substeps; the fingers
close under a force limit, so objects are held by friction only.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet as p

from envs.common import (
    ARM_JOINTS,
    FINGER_BODIES,
    FINGER_JOINTS,
    FINGER_OPEN,
    HOME_QPOS,
    ControllerConfig,
    advance_target,
    finger_target,
    tcp_yaw,
)

TCP_LINK = "panda_grasptarget"
ARM_FORCE = 300.0  # N·m per arm joint
ARM_POSITION_GAIN = 0.3
FINGER_FORCE = 40.0  # N per finger
FINGER_FRICTION = 2.5  # x 0.6 (blocks) = 1.5, as on MuJoCo
#: Compliant finger pads (N/m, N·s/m), tuned so that grasp widths read as on MuJoCo's soft
#: contacts (4.2 cm on a 4.5 cm block face, 7.4 cm across a 5.5 cm block's corners).
FINGER_STIFFNESS, FINGER_DAMPING = 15000.0, 400.0
FINGER_GEAR_FORCE = 100.0  # N: how hard the finger coupling may pull
IK_ITERATIONS = 40


def down_quat(yaw: float) -> tuple[float, float, float, float]:
    """``(x, y, z, w)`` of ``Rz(yaw) @ diag(1, -1, -1)``: tool x along ``yaw``, z pointing down."""
    return (math.cos(yaw / 2), math.sin(yaw / 2), 0.0, 0.0)


class PandaController:
    """Turns normalised EE-delta actions into joint motor targets for one Panda body.

    Args:
        client: the physics client id.
        robot: the Panda's body id.
        config: workspace and speed limits.
    """

    def __init__(self, client: int, robot: int, config: ControllerConfig) -> None:
        self.client, self.robot, self.config = client, robot, config
        names = {
            p.getJointInfo(robot, j, physicsClientId=client)[1].decode(): j
            for j in range(p.getNumJoints(robot, physicsClientId=client))
        }
        links = {
            p.getJointInfo(robot, j, physicsClientId=client)[12].decode(): j
            for j in range(p.getNumJoints(robot, physicsClientId=client))
        }
        self.arm = [names[j] for j in ARM_JOINTS]
        self.fingers = [names[j] for j in FINGER_JOINTS]
        self.joints = self.arm + self.fingers
        self.finger_links = tuple(links[b] for b in FINGER_BODIES)
        self.tcp_link = links[TCP_LINK]
        self.link_names = {j: name for name, j in links.items()}
        info = [p.getJointInfo(robot, j, physicsClientId=client) for j in self.joints]
        self.lower = [float(i[8]) for i in info]
        self.upper = [float(i[9]) for i in info]
        self.ranges = [hi - lo for lo, hi in zip(self.lower, self.upper, strict=True)]
        self.rest = [*HOME_QPOS, FINGER_OPEN, FINGER_OPEN]
        self._home = np.array(HOME_QPOS)
        self._eye7 = np.eye(7)
        self.target_pos = np.zeros(3)
        self.target_yaw = 0.0
        self.gripper_target = FINGER_OPEN
        for link in self.finger_links:
            p.changeDynamics(
                robot,
                link,
                lateralFriction=FINGER_FRICTION,
                spinningFriction=0.003,
                contactStiffness=FINGER_STIFFNESS,
                contactDamping=FINGER_DAMPING,
                physicsClientId=client,
            )
        self._couple_fingers()

    def _couple_fingers(self) -> None:
        """The URDF's mimic joint: a gear between the two fingers keeps them symmetric.

        Two force-limited position motors pressing on an object balance each other at any
        offset, so without this the held object would slide sideways with the finger pair.
        This couples robot links only; nothing attaches an object to the hand.
        """
        left, right = self.fingers
        gear = p.createConstraint(
            self.robot,
            left,
            self.robot,
            right,
            jointType=p.JOINT_GEAR,
            jointAxis=[1.0, 0.0, 0.0],
            parentFramePosition=[0.0, 0.0, 0.0],
            childFramePosition=[0.0, 0.0, 0.0],
            physicsClientId=self.client,
        )
        p.changeConstraint(gear, gearRatio=-1.0, erp=0.1, maxForce=FINGER_GEAR_FORCE, physicsClientId=self.client)

    def reset(self) -> None:
        """Put the robot at home with the gripper open and aim the target at the current pose."""
        for j, q in zip(self.joints, self.rest, strict=True):
            p.resetJointState(self.robot, j, q, 0.0, physicsClientId=self.client)
        self._command(np.array(HOME_QPOS), FINGER_OPEN)
        pos, quat = self.tcp_pose()
        self.target_pos = pos
        self.target_yaw = tcp_yaw(np.array(p.getMatrixFromQuaternion(quat)))
        self.gripper_target = FINGER_OPEN

    def tcp_pose(self) -> tuple[np.ndarray, tuple[float, ...]]:
        """Measured tool-centre-point position and ``(x, y, z, w)`` orientation."""
        state = p.getLinkState(self.robot, self.tcp_link, computeForwardKinematics=True, physicsClientId=self.client)
        return np.array(state[4]), tuple(state[5])

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities of the 7 arm joints and the 2 fingers."""
        states = p.getJointStates(self.robot, self.joints, physicsClientId=self.client)
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    def apply(self, action: np.ndarray) -> bool:
        """Set the motor targets for ``action`` (within [-1, 1]); True if a limit clipped it."""
        tcp, _ = self.tcp_pose()
        self.target_pos, self.target_yaw, clipped = advance_target(
            self.config, self.target_pos, self.target_yaw, tcp, action
        )
        self.gripper_target = finger_target(action)
        self._command(self._ik(), self.gripper_target)
        return clipped

    def _ik(self) -> np.ndarray:
        """Arm joint targets reaching the target pose, pulled toward home in the null space.

        PyBullet's own null-space IK (``restPoses``) leaves centimetres of error, so the IK is
        solved exactly from the measured joints and the pull toward the home posture is added
        in the null space of the tool Jacobian, as the MuJoCo controller does.
        """
        q, _ = self.joint_state()
        sol = p.calculateInverseKinematics(
            self.robot,
            self.tcp_link,
            self.target_pos.tolist(),
            down_quat(self.target_yaw),
            maxNumIterations=IK_ITERATIONS,
            residualThreshold=1e-5,
            physicsClientId=self.client,
        )
        zeros = [0.0] * len(self.joints)
        jac_t, jac_r = p.calculateJacobian(
            self.robot, self.tcp_link, [0.0, 0.0, 0.0], q.tolist(), zeros, zeros, physicsClientId=self.client
        )
        jac = np.vstack((np.array(jac_t)[:, :7], np.array(jac_r)[:, :7]))
        jpinv = np.linalg.pinv(jac, rcond=1e-3)
        pull = self.config.nullspace_gain * (self._home - q[:7])
        arm = np.array(sol[:7]) + (self._eye7 - jpinv @ jac) @ pull
        return np.clip(arm, self.lower[:7], self.upper[:7])

    def _command(self, arm: np.ndarray, finger: float) -> None:
        p.setJointMotorControlArray(
            self.robot,
            self.arm,
            p.POSITION_CONTROL,
            targetPositions=arm.tolist(),
            forces=[ARM_FORCE] * 7,
            positionGains=[ARM_POSITION_GAIN] * 7,
            physicsClientId=self.client,
        )
        p.setJointMotorControlArray(
            self.robot,
            self.fingers,
            p.POSITION_CONTROL,
            targetPositions=[finger, finger],
            forces=[FINGER_FORCE, FINGER_FORCE],
            physicsClientId=self.client,
        )
