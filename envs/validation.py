"""Checks that configs run in ``__post_init__``, written once for every package (the lowest layer)."""

from __future__ import annotations


def require_positive(config: object, *fields: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the first of ``fields`` of ``config`` that is not > 0 (NaN included)."""
    for name in fields:
        value = getattr(config, name)
        if not value > 0:
            raise error(f"{type(config).__name__}.{name} must be > 0, got {value!r}")
