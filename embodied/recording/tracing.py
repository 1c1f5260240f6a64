"""Where the agent writes its trace: the :class:`Tracer` protocol, a tracer that records nothing,
and :class:`TracerWrapper`, the base of tracers that add something to another one."""

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


class TracerWrapper:
    """Forwards every call to ``inner``; a subclass overrides only what it adds (and calls ``super()``)."""

    def __init__(self, inner: Tracer) -> None:
        self.inner = inner

    def event(self, kind: str, **data: Any) -> None:
        self.inner.event(kind, **data)

    def set_overlay(self, **fields: str) -> None:
        self.inner.set_overlay(**fields)

    def on_step(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.inner.on_step(obs, info)
