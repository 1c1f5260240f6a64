"""Policies and perception run on any backend: importing them loads no simulator."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import perception, policies
for package in (policies, perception):
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mujoco", "pybullet")))
"""


def test_importing_policies_and_perception_loads_no_simulator():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
