"""The one JSON encoder for everything we write (traces, episode summaries, reports, results).

JSON has no NaN or Infinity: Python's ``json`` writes them as bare ``NaN``/``Infinity``, which
browsers and ``jq`` refuse, so one such number from a model or a diverged simulator would make a
whole trace unreadable. Here they are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``, numpy values become plain numbers and lists, and any other object its ``str``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: finite numbers, strings, lists, dicts with string keys."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`jsonable` (``value``); never emits ``NaN`` or ``Infinity``."""
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)
