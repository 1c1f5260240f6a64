"""Pick a headless OpenGL platform for MuJoCo before anything imports ``mujoco``.

MuJoCo chooses its GL platform from ``MUJOCO_GL`` once, when ``mujoco`` is first imported.
:func:`choose_mujoco_gl` sets it (EGL when its libraries are present, else OSMesa) unless the
user already set it, and :func:`gl_context_class` returns the matching context class or raises
:class:`~envs.errors.RenderingUnavailable` naming the Debian packages to install.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from typing import Any

from envs.errors import RenderingUnavailable

EGL_PACKAGES = "libegl1 libegl-mesa0 libopengl0 libgl1-mesa-dri"
OSMESA_PACKAGES = "libosmesa6"


def _has_libs(*names: str) -> bool:
    return all(ctypes.util.find_library(n) for n in names)


def egl_available() -> bool:
    return _has_libs("EGL", "OpenGL")


def osmesa_available() -> bool:
    return _has_libs("OSMesa")


def choose_mujoco_gl() -> str:
    """Set ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM``) if unset; return the platform in use."""
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if not chosen:
        if sys.platform == "darwin":
            chosen = "cgl"
        elif egl_available():
            chosen = "egl"
        elif osmesa_available():
            chosen = "osmesa"
        else:
            chosen = "egl"  # fails later, at render time, with the install hint
        os.environ["MUJOCO_GL"] = chosen
    if chosen in ("egl", "osmesa") and "PYOPENGL_PLATFORM" not in os.environ:
        os.environ["PYOPENGL_PLATFORM"] = chosen
    return chosen


def gl_context_class() -> Any:
    """The MuJoCo GL context class for the chosen platform, or a clear error."""
    platform = choose_mujoco_gl()
    hint = (
        f"Headless MuJoCo rendering needs EGL (apt-get install {EGL_PACKAGES}) "
        f"or OSMesa (apt-get install {OSMESA_PACKAGES}); `make setup` installs them when run as root."
    )
    try:
        if platform == "egl":
            if not egl_available():
                raise RenderingUnavailable(f"MUJOCO_GL=egl but the EGL/OpenGL libraries are missing. {hint}")
            from mujoco.egl import GLContext
        elif platform == "osmesa":
            if not osmesa_available():
                raise RenderingUnavailable(f"MUJOCO_GL=osmesa but libOSMesa is missing. {hint}")
            from mujoco.osmesa import GLContext
        elif platform == "glfw":
            from mujoco.glfw import GLContext
        elif platform == "cgl":
            from mujoco.cgl import GLContext
        else:
            raise RenderingUnavailable(f"MUJOCO_GL={platform!r} is not supported here; use egl or osmesa. {hint}")
    except ImportError as e:
        raise RenderingUnavailable(f"could not load the {platform} GL backend ({e}). {hint}") from e
    return GLContext
