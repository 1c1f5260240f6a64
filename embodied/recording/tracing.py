"""Where the agent writes its trace: the :class:`Tracer` protocol and a tracer that records nothing."""

from __future__ import annotations

from typing import Any, Protocol


class Tracer(Protocol):
    """Where the agent writes its trace (the recorder, or nothing)."""

    def event(self, kind: str, **data: Any) -> None: ...

    def set_overlay(self, **fields: str) -> None: ...

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None: ...


class NullTracer:
    """Records nothing."""

    def event(self, kind: str, **data: Any) -> None:
        return None

    def set_overlay(self, **fields: str) -> None:
        return None

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        return None
