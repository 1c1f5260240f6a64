"""Quoting values back in messages: model output and user input can be huge or hostile."""

from __future__ import annotations

MAX_SHOWN = 60  # characters of a bad value quoted back in an error message


def short(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr`` of a value cut to ``limit`` characters; a hostile ``__repr__`` cannot break error reporting."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not break error reporting
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
