"""End-effector delta control for the Panda: workspace/speed limits and differential IK.

An action is ``(dx, dy, dz, dyaw, gripper)`` in ``[-1, 1]``. The controller keeps a target
tool pose (position, yaw; the fingers always point down), moves it by the scaled delta, clips
it to the workspace and to a maximum lead over the measured pose, and solves one damped
least-squares IK step per control step from the measured joint state (closed loop). The arm's
position actuators then track the joint targets over the physics substeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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

__all__ = ["ControllerConfig", "EndEffectorController", "index_span", "tcp_yaw"]


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
        # Buffers of the IK step, reused every control step (it runs at the control rate, between physics).
        self._jac = np.zeros((6, model.nv))  # translational rows, then rotational: mj_jacSite fills both halves
        self._arm_cols = index_span(self.arm_dofs)  # the arm's columns: a slice (a view) where they are consecutive
        self._arm_qpos = index_span(self.arm_qpos)
        self._jjt = np.zeros((6, 6))
        self._err = np.zeros(6)  # position error, then rotation error as a rotation vector
        self._y = np.zeros(6)
        self._target_rot = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
        self._rot_err = np.zeros((3, 3))
        self._quat = np.zeros(4)
        self._null = np.zeros(7)
        self._dq = np.zeros(7)
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
        """One damped least-squares step from the measured joints toward the target pose (joint targets,
        in a buffer that the next call overwrites).

        ``dq = J⁺ e + (I - J⁺ J) n`` with ``J⁺ = Jᵀ (J Jᵀ + λ² I)⁻¹`` and the null-space pull ``n`` toward
        home, computed as ``n + Jᵀ (J Jᵀ + λ² I)⁻¹ (e - J n)``: one 6 x 6 Cholesky solve of a vector,
        in preallocated buffers.
        """
        err, jjt, y, null, dq = self._err, self._jjt, self._y, self._null, self._dq
        mujoco.mj_jacSite(self.model, data, self._jac[:3], self._jac[3:], self.site_id)
        jac = self._jac[:, self._arm_cols]  # 6 x 7
        np.subtract(self.target_pos, data.site_xpos[self.site_id], out=err[:3])
        # Rotation error: the target rotation times the measured one transposed, as a rotation vector.
        # The target is Rz(yaw) @ diag(1, -1, -1): x forward (turned by yaw), z pointing down.
        c, s, target = math.cos(self.target_yaw), math.sin(self.target_yaw), self._target_rot
        target[0, 0], target[0, 1], target[1, 0], target[1, 1] = c, s, s, -c
        mujoco.mju_mulMatMatT(self._rot_err, target, data.site_xmat[self.site_id].reshape(3, 3))
        mujoco.mju_mat2Quat(self._quat, self._rot_err.reshape(9))
        mujoco.mju_quat2Vel(err[3:], self._quat, 1.0)
        q = data.qpos[self._arm_qpos]  # a view where the arm's joints are consecutive: only read here
        np.subtract(self.home, q, out=null)
        null *= self.config.nullspace_gain
        np.matmul(jac, jac.T, out=jjt)
        jjt += self._damping_eye
        np.matmul(jac, null, out=y)
        np.subtract(err, y, out=y)
        mujoco.mju_cholFactor(jjt, 0.0)
        mujoco.mju_cholSolve(y, jjt, y)
        np.matmul(jac.T, y, out=dq)
        dq += null
        dq += q
        return np.minimum(np.maximum(dq, self.joint_low, out=dq), self.joint_high, out=dq)


def index_span(index: Sequence[int] | np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice where it is a run of consecutive numbers (indexing with it then gives a view,
    not a copy, and costs less), else as an integer array."""
    index = np.asarray(index, dtype=int)
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index
