"""The PyBullet twin of the MuJoCo tabletop: ``embodied/PybulletTabletop-v0``.

Same robot (the Panda URDF from ``pybullet_data``), same scene specs, cameras, action and
observation contract as :mod:`envs.tabletop`; see :mod:`envs.pybullet.env`.
"""
