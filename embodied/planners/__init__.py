"""Planners: ``decide(context) -> Decision`` (see :mod:`embodied.core.decision`)."""

from __future__ import annotations

from embodied.planners.language import LLMGoalPlanner as LLMGoalPlanner
from embodied.planners.language import LLMPlanner as LLMPlanner
