"""Errors raised by the simulated robots and task suite.

``envs`` sits below ``embodied`` in the import layers, so it cannot share
``embodied.errors``; these subclass the standard exceptions a caller would already catch
(``ValueError`` for bad input, ``RuntimeError`` for a simulator that cannot go on) and
``embodied.errors`` re-exports them.
"""

from __future__ import annotations


class EnvError(Exception):
    """Base class of every error raised by ``envs``."""


class UnknownTaskError(EnvError, ValueError):
    """A task family name that does not exist; the message lists the valid ones."""


class SceneError(EnvError, ValueError):
    """A scene spec that cannot be built (overlapping props, unknown object, ...)."""


class RenderingUnavailable(EnvError, RuntimeError):
    """No headless OpenGL platform could be loaded; the message names the packages to install."""


class AssetNotFound(EnvError, RuntimeError):
    """A robot or prop asset could not be located; the message says which package ships it."""


class PhysicsDivergence(EnvError, RuntimeError):
    """The simulation produced NaN/Inf or an unstable state (raised only when asked to)."""
