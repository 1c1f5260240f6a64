"""What an MCP client's call must pass before it reaches the robot.

A client of ``embodied mcp serve`` is a program we do not control (an assistant, an IDE, a
script), so every call meets these checks first, in this order, and a refusal is an ``is_error``
result that says what is allowed:

1. the tool is known, and allowed: ``--allow`` (only these) and ``--deny`` (never these) apply to
   every tool name, skills and the server's own tools alike;
2. the arguments are bounded: their JSON size, the length of any one string, the items of any one
   list and the nesting depth (:func:`check_argument_size`), before anything parses them further;
3. the call budget: calls per episode (since the last ``reset``; ``reset`` itself is not counted,
   so a client can always start over) and calls per minute (every admitted call, ``reset``
   included) (:class:`CallBudget`).

Workspace and speed are not checked here: the env enforces them whatever a skill asks (its
controller clips every target to the workspace box and every step to its largest move, see
``envs/common.py``), and ``move_to`` refuses an unreachable point before moving.

No client gives the server a file-system path, except as a resource address under the run
folder; :func:`resolve_inside` keeps those inside it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embodied.core.text import short
from embodied.errors import EmbodiedError
from envs.validation import require_positive

WINDOW_S = 60.0  # the per-minute budget's window


class CallRefused(EmbodiedError, ValueError):
    """A call the server will not run; the message says why and what is allowed."""


class LimitsError(EmbodiedError, ValueError):
    """Limits that do not fit together or name unknown tools; the message says what is valid."""


@dataclass(frozen=True)
class Limits:
    """The limits of one server; checks itself and names the bad field, its value and what is allowed.

    Attributes:
        allow: the only tools a client may call (empty: every tool not denied).
        deny: tools a client may never call (a denied skill is also kept from ``run_episode``'s planner).
        calls_per_episode: admitted calls between two ``reset`` calls.
        calls_per_minute: admitted calls in any 60 s window.
        max_argument_bytes: the JSON size of one call's arguments.
        max_string_chars: the length of any one string argument.
        max_items: the items of any one list (or keys of any one object) in the arguments.
        max_depth: how deeply lists and objects may nest in the arguments.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    calls_per_episode: int = 200
    calls_per_minute: int = 120
    max_argument_bytes: int = 16_384
    max_string_chars: int = 1_000
    max_items: int = 64
    max_depth: int = 6

    def __post_init__(self) -> None:
        require_positive(
            self,
            "calls_per_episode",
            "calls_per_minute",
            "max_argument_bytes",
            "max_string_chars",
            "max_items",
            "max_depth",
            error=LimitsError,
        )
        both = sorted(set(self.allow) & set(self.deny))
        if both:
            raise LimitsError(f"{', '.join(both)} cannot be both allowed (--allow) and denied (--deny)")

    def permits(self, name: str) -> bool:
        """Whether a client may call the tool ``name``."""
        return name not in self.deny and (not self.allow or name in self.allow)

    def check_names(self, known: Iterable[str]) -> None:
        """Raise :class:`LimitsError` when ``allow`` or ``deny`` name a tool the server does not have."""
        tools = list(known)
        for option, names in (("--allow", self.allow), ("--deny", self.deny)):
            unknown = [n for n in names if n not in tools]
            if unknown:
                raise LimitsError(
                    f"{option} names unknown tool(s) {', '.join(unknown)}; the tools are: {', '.join(tools)}"
                )
        if self.allow and not any(self.permits(n) for n in tools):
            raise LimitsError("--allow and --deny leave no tool a client may call")

    def refusal(self, name: str, tools: Sequence[str]) -> str:
        """Why ``name`` may not be called, and what may."""
        allowed = ", ".join(t for t in tools if self.permits(t)) or "(none)"
        why = "denied on this server (--deny)" if name in self.deny else "not in this server's allowlist (--allow)"
        return f"the tool {short(name)} is {why}. Allowed tools: {allowed}"


def check_argument_size(arguments: Any, limits: Limits) -> None:
    """Raise :class:`CallRefused` when ``arguments`` exceed the limits on size, strings, items or depth.

    Walks the value first (so one huge string is refused without encoding it), then measures its JSON.
    """
    _walk(arguments, limits, "arguments", 0)
    try:
        size = len(json.dumps(arguments, allow_nan=True).encode())
    except (TypeError, ValueError, RecursionError) as e:
        raise CallRefused(f"the arguments are not plain JSON ({e})") from None
    if size > limits.max_argument_bytes:
        raise CallRefused(
            f"the arguments are {size:,} bytes of JSON; this server takes at most {limits.max_argument_bytes:,}"
        )


def _walk(value: Any, limits: Limits, where: str, depth: int) -> None:
    if depth > limits.max_depth:
        raise CallRefused(f"{where} nests deeper than {limits.max_depth} levels")
    if isinstance(value, str):
        if len(value) > limits.max_string_chars:
            raise CallRefused(
                f"{where} is a string of {len(value):,} characters; this server takes at most "
                f"{limits.max_string_chars:,} per string"
            )
        return
    if isinstance(value, float) and not math.isfinite(value):
        return  # the skill's schema check names it
    if isinstance(value, Mapping | list | tuple):
        if len(value) > limits.max_items:
            raise CallRefused(f"{where} holds {len(value):,} items; this server takes at most {limits.max_items}")
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _walk(key, limits, f"{where} key", depth + 1)
            _walk(item, limits, f"{where}[{short(key, 30)}]", depth + 1)


class CallBudget:
    """Calls per episode and per minute; thread-safe.

    Args:
        limits: the two budgets.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits, self.clock = limits, clock
        self._lock = threading.Lock()
        self._episode = 0
        self._recent: deque[float] = deque()

    @property
    def episode_calls(self) -> int:
        """Calls admitted since the last :meth:`new_episode`."""
        return self._episode

    def new_episode(self) -> None:
        """Start the per-episode count again (a ``reset``)."""
        with self._lock:
            self._episode = 0

    def admit(self, counts_for_episode: bool = True) -> None:
        """Count one call, or raise :class:`CallRefused` saying which budget is spent and what to do."""
        with self._lock:
            now = self.clock()
            while self._recent and now - self._recent[0] >= WINDOW_S:
                self._recent.popleft()
            if len(self._recent) >= self.limits.calls_per_minute:
                wait = WINDOW_S - (now - self._recent[0])
                raise CallRefused(
                    f"rate limit: {len(self._recent)} calls in the last minute, this server allows "
                    f"{self.limits.calls_per_minute}; try again in {math.ceil(wait)} s"
                )
            if counts_for_episode and self._episode >= self.limits.calls_per_episode:
                raise CallRefused(
                    f"call budget spent: {self._episode} calls this episode, this server allows "
                    f"{self.limits.calls_per_episode} per episode; call reset to start a new episode"
                )
            self._recent.append(now)
            if counts_for_episode:
                self._episode += 1


def resolve_inside(root: Path, relative: str) -> Path:
    """``root / relative`` resolved (symbolic links followed); :class:`CallRefused` unless it stays inside ``root``.

    Refuses absolute paths, ``..`` segments, empty or odd names, and links that lead out.
    """
    parts = relative.split("/")
    if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
        raise CallRefused(f"{short(relative)} is not a path relative to the run folder")
    if any(p in ("", ".", "..") for p in parts):
        raise CallRefused(f"{short(relative)} leaves the run folder or has empty parts; give episode/file names only")
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise CallRefused(f"{short(relative)} resolves outside the run folder")
    return target
