"""End-effector delta control for the Panda: workspace/speed limits and differential IK.

An action is ``(dx, dy, dz, dyaw, gripper)`` in ``[-1, 1]``. The controller keeps a target
tool pose (position, yaw; the fingers always point down), moves it by the scaled delta, clips
it to the workspace and to a maximum lead over the measured pose, and solves one damped
least-squares IK step per control step from the measured joint state (closed loop). The arm's
position actuators then track the joint targets over the physics substeps.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from envs.common import (
    ARM_JOINTS,
    FINGER_JOINTS,
    FINGER_OPEN,
    HOME_QPOS,
    ControllerConfig,
    advance_target,
    finger_target,
    tcp_yaw,
)
from envs.tabletop.robot import TCP_SITE

__all__ = ["ControllerConfig", "EndEffectorController", "tcp_yaw"]


def _down_rotation(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    # Rz(yaw) @ diag(1, -1, -1): x forward (rotated by yaw), z pointing down.
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


class EndEffectorController:
    """Turns normalised EE-delta actions into actuator targets for one model."""

    def __init__(self, model: mujoco.MjModel, config: ControllerConfig) -> None:
        self.model, self.config = model, config
        self.site_id = model.site(TCP_SITE).id
        self.arm_dofs = np.array([model.joint(j).dofadr[0] for j in ARM_JOINTS])
        self.arm_qpos = np.array([model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self.finger_qpos = np.array([model.joint(j).qposadr[0] for j in FINGER_JOINTS])
        self.arm_act = np.array([model.actuator(f"act_{j}").id for j in ARM_JOINTS])
        self.finger_act = np.array([model.actuator(f"act_{j}").id for j in FINGER_JOINTS])
        self.joint_low = model.jnt_range[[model.joint(j).id for j in ARM_JOINTS], 0]
        self.joint_high = model.jnt_range[[model.joint(j).id for j in ARM_JOINTS], 1]
        self.home = np.array(HOME_QPOS)
        self._damping_eye = (config.damping**2) * np.eye(6)
        self._eye7 = np.eye(7)
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self._quat = np.zeros(4)
        self._rotvec = np.zeros(3)
        self.target_pos = np.zeros(3)
        self.target_yaw = 0.0
        self.gripper_target = FINGER_OPEN

    def reset(self, data: mujoco.MjData) -> None:
        """Put the robot at home with the gripper open and aim the target at the current pose."""
        data.qpos[self.arm_qpos] = self.home
        data.qpos[self.finger_qpos] = FINGER_OPEN
        data.ctrl[self.arm_act] = self.home
        data.ctrl[self.finger_act] = FINGER_OPEN
        mujoco.mj_forward(self.model, data)
        self.target_pos = data.site_xpos[self.site_id].copy()
        self.target_yaw = tcp_yaw(data.site_xmat[self.site_id])
        self.gripper_target = FINGER_OPEN

    def apply(self, data: mujoco.MjData, action: np.ndarray) -> bool:
        """Set ``data.ctrl`` for ``action`` (already within [-1, 1]); return True if a limit clipped it."""
        tcp = data.site_xpos[self.site_id]
        self.target_pos, self.target_yaw, clipped = advance_target(
            self.config, self.target_pos, self.target_yaw, tcp, action
        )
        data.ctrl[self.arm_act] = self._ik(data)
        self.gripper_target = finger_target(action)
        data.ctrl[self.finger_act] = self.gripper_target
        return clipped

    def _ik(self, data: mujoco.MjData) -> np.ndarray:
        """One damped least-squares step from the measured joints toward the target pose."""
        m, cfg = self.model, self.config
        mujoco.mj_jacSite(m, data, self._jacp, self._jacr, self.site_id)
        jac = np.vstack((self._jacp[:, self.arm_dofs], self._jacr[:, self.arm_dofs]))
        err_pos = self.target_pos - data.site_xpos[self.site_id]
        r_err = _down_rotation(self.target_yaw) @ data.site_xmat[self.site_id].reshape(3, 3).T
        mujoco.mju_mat2Quat(self._quat, r_err.ravel())
        mujoco.mju_quat2Vel(self._rotvec, self._quat, 1.0)
        err = np.concatenate((err_pos, self._rotvec))
        jjt = jac @ jac.T + self._damping_eye
        jpinv = np.linalg.solve(jjt, jac).T
        q = data.qpos[self.arm_qpos]
        dq = jpinv @ err
        dq += (self._eye7 - jpinv @ jac) @ (cfg.nullspace_gain * (self.home - q))
        return np.clip(q + dq, self.joint_low, self.joint_high)
