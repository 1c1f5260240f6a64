"""Planners: ``decide(context) -> Decision`` (see :mod:`embodied.decision`)."""

from __future__ import annotations

from embodied.planners.llm import LLMGoalPlanner as LLMGoalPlanner
from embodied.planners.llm import LLMPlanner as LLMPlanner
