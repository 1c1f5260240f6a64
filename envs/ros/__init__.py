"""The ROS bridge: ``embodied/RosTabletop-v0`` (:mod:`envs.ros.env`) and the simulator node behind it.

The node (:mod:`envs.ros.sim_node`) is what ``embodied ros serve`` runs.

The env keeps the simulators' contract, so nothing above ``envs/`` knows it talks to ROS. ROS
itself is reached through a :class:`~envs.ros.transport.Transport`; ROS 1 (``rospy``, from
Debian) is :mod:`envs.ros.ros1`, imported only when a ROS env or node is made. docs/ros.md lists
the topics, services, frames and parameters a robot's driver provides.
"""

from __future__ import annotations

from envs.ros.transport import RosBridgeConfig, RosBridgeError, RosNotInstalled

__all__ = ["RosBridgeConfig", "RosBridgeError", "RosNotInstalled"]
