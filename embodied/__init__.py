"""embodied: the agent — skills as tools, planners, LLM backends, memory, recorder, CLI."""

from __future__ import annotations

__version__ = "0.1.0"
