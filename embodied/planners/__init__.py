"""Planners: ``decide(context) -> Decision`` (see :mod:`embodied.decision`)."""

from __future__ import annotations
