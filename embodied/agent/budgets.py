"""Limits that end an episode cleanly: turns, skill calls, simulated time and wall time."""

from __future__ import annotations

from dataclasses import dataclass

from envs.validation import require_positive


@dataclass(frozen=True)
class Budgets:
    """Limits that end an episode cleanly (the reason names the one that was hit)."""

    max_turns: int = 30
    max_skill_calls: int = 60
    max_sim_time_s: float = 240.0
    max_wall_time_s: float = 900.0
    max_reflections_in_prompt: int = 3

    def __post_init__(self) -> None:
        require_positive(self, "max_turns", "max_skill_calls", "max_sim_time_s", "max_wall_time_s")

    def exceeded(self, *, turns: int, skill_calls: int, sim_time_s: float, wall_time_s: float) -> str | None:
        """Why an episode that has used this much must end (the first budget exhausted), or None."""
        if turns >= self.max_turns:
            return f"turn budget exhausted ({self.max_turns} turns)"
        if skill_calls >= self.max_skill_calls:
            return f"skill-call budget exhausted ({self.max_skill_calls} calls)"
        if sim_time_s >= self.max_sim_time_s:
            return f"simulated-time budget exhausted ({sim_time_s:.0f} s of {self.max_sim_time_s:.0f} s)"
        if wall_time_s >= self.max_wall_time_s:
            return f"wall-time budget exhausted ({self.max_wall_time_s:.0f} s)"
        return None
