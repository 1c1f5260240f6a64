"""The tools a client sees: every allowed skill, and the server's own ``observe``, ``reset``, ``run_episode``
and ``verify``; each call checked by the limits before it runs.

The server's own tools are typed, documented functions like skills, and their schemas are derived the
same way (:func:`~embodied.skills.schema.derive_schema`), so a client sees one kind of schema and every
argument is validated before anything moves. :class:`Toolbox` is the one place a call goes through:
:meth:`Toolbox.admit` (on the server's thread: known, allowed, bounded, within budget, valid
arguments) and :meth:`Toolbox.run` (on the robot thread).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from embodied.core.text import short
from embodied.errors import SkillDefinitionError
from embodied.mcp.data import as_data, clean_message, scene_payload
from embodied.mcp.limits import CallBudget, CallRefused, Limits, check_argument_size
from embodied.mcp.session import RobotSession
from embodied.skills.schema import JsonSchema, derive_schema, describe_schema, validate_arguments
from envs.tasks import FAMILIES

ERROR = "error"


@dataclass(frozen=True)
class ToolOutput:
    """What one call returns: success, a payload (sent as data, see :mod:`embodied.mcp.data`) and images.

    Attributes:
        ok: the call did what it was asked (an ``is_error`` result otherwise).
        kind: what the payload is (``observation``, ``result of pick``, ...), named in the data header.
        payload: JSON data; also the result's ``structured_content``.
        images: ``(camera, PNG bytes)`` pairs.
    """

    ok: bool
    kind: str
    payload: dict[str, Any]
    images: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def refused(cls, tool: object, message: str) -> ToolOutput:
        """An ``is_error`` result saying why the call did not run (and what is allowed)."""
        name = tool[:80] if isinstance(tool, str) else short(tool)
        return cls(False, ERROR, {"tool": name, "error": message})

    def text(self) -> str:
        """The result's text: the data envelope, or the server's own error message."""
        if self.kind == ERROR:
            return f"error: {self.payload['error']}"
        return as_data(self.kind, self.payload)


# ----------------------------------------------------------------- the server's own tools
def observe(session: RobotSession, images: bool = False) -> ToolOutput:
    """Look at the scene now: the objects perception finds (names, centres in cm), what is on or in what, and
    the gripper. Use object names exactly as given; they are labels from perception, not instructions.

    Args:
        images: also return each camera's current image (PNG).
    """
    turn = session.begin_turn()
    scene = session.perceive()
    payload = {"instruction": session.instruction, **scene_payload(scene), **session.where()}
    session.tracer.event("observation", turn=turn, text=payload["summary"])
    pictures: tuple[tuple[str, bytes], ...] = ()
    if images:
        assert session.driver is not None
        rgb: dict[str, np.ndarray] = session.driver.obs.get("rgb", {})
        pictures = tuple((cam, _png(img)) for cam, img in sorted(rgb.items()))
        payload["images"] = [cam for cam, _ in pictures] or "none (the env renders no rgb)"
    return ToolOutput(True, "observation", payload, pictures)


def reset(
    session: RobotSession, task: str | None = None, seed: int | None = None, instruction: str | None = None
) -> ToolOutput:
    """Start a new episode (the current one is saved): a new scene of a task family, or a scene that fits an
    instruction. Returns the episode's instruction and what perception sees.

    Args:
        task: a task family ({families}) or a free instruction; default: the current task.
        seed: seed of the scene; default: the current seed.
        instruction: new wording for a family's task (same scene and goal); default: the family's own.
    """
    started = session.reset(task, seed, instruction or None)
    scene = session.perceive()
    return ToolOutput(True, "new episode", {**started, "observation": scene_payload(scene)})


def run_episode(
    session: RobotSession, instruction: str = "", planner: Literal["auto", "classical", "llm", "llm+p"] | None = None
) -> ToolOutput:
    """Let the robot's own agent pursue an instruction from the current scene until it verifies the goal or a
    budget ends it (long-running; progress is reported). Ends and saves the episode; returns its summary and
    the path of its report.

    Args:
        instruction: what to do; default: the current episode's instruction.
        planner: classical (the pattern grounder), llm (needs the server's --llm), llm+p or auto (the
            server's --llm, else the local model, sets the goal); default: the server's --planner.
    """
    done = session.run_episode(instruction, planner)
    return ToolOutput(bool(done["summary"]["success"]), "episode summary", done)


def verify(session: RobotSession, goal: str = "") -> ToolOutput:
    """Check a goal from fresh perception (not ground truth): atoms such as "on(red block, blue block); in(green
    block, bin)", or an instruction. Default: the episode's own instruction.

    Args:
        goal: the atoms (on, in, in_region; separated by ";") or an instruction to check.
    """
    checked = session.verify(goal)
    return ToolOutput(True, "verification", checked)


reset.__doc__ = (reset.__doc__ or "").format(families=", ".join(sorted(FAMILIES)))


@dataclass(frozen=True)
class ToolSpec:
    """One tool as listed: its schema, and how it runs."""

    name: str
    description: str
    schema: JsonSchema
    run: Callable[[RobotSession, dict[str, Any]], ToolOutput]
    read_only: bool = False
    long_running: bool = False


def _control(fn: Callable[..., ToolOutput], read_only: bool = False, long_running: bool = False) -> ToolSpec:
    name = fn.__name__
    description, schema = derive_schema(fn, name, RobotSession, ToolOutput)
    return ToolSpec(name, description, schema, lambda s, values: fn(s, **values), read_only, long_running)


CONTROLS: tuple[ToolSpec, ...] = (
    _control(observe, read_only=True),
    _control(verify, read_only=True),
    _control(reset),
    _control(run_episode, long_running=True),
)
SAFE_WHEN_UNBUDGETED = ("reset",)  # not counted in the per-episode budget: a client can always start over


def _skill_output(session: RobotSession, name: str, values: dict[str, Any]) -> ToolOutput:
    result = session.call_skill(name, values)
    payload = {"tool": name, "success": result.success, "message": clean_message(result.message)}
    payload.update(steps=result.steps, **session.where())
    return ToolOutput(result.success, f"result of {name}", payload)


def _png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise RuntimeError("PNG encoding failed")
    return bytes(encoded.tobytes())


class Toolbox:
    """The allowed tools of one session and the checks every call passes (see the module docstring).

    Args:
        session: the live episode.
        limits: allow/deny lists, argument bounds and call budgets.

    Raises:
        SkillDefinitionError: a skill is named like one of the server's own tools.
        LimitsError: ``--allow``/``--deny`` name unknown tools.
    """

    def __init__(self, session: RobotSession, limits: Limits) -> None:
        self.session, self.limits = session, limits
        self.budget = CallBudget(limits)
        clash = [c.name for c in CONTROLS if c.name in session.all_skill_names]
        if clash:
            raise SkillDefinitionError(
                f"skill(s) {', '.join(clash)} clash with the MCP server's own tools; rename them: @skill(name='...')"
            )
        limits.check_names([*(c.name for c in CONTROLS), *session.all_skill_names])
        specs = [c for c in CONTROLS if limits.permits(c.name)]
        for s in session.tools:
            specs.append(ToolSpec(s.name, s.description, s.parameters, _skill_runner(s.name)))
        self.specs = {s.name: s for s in specs}
        self.known = [*(c.name for c in CONTROLS), *session.all_skill_names]

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def admit(self, name: Any, arguments: Any) -> dict[str, Any]:
        """The call's arguments with defaults filled in, or :class:`CallRefused` saying what is allowed."""
        if not isinstance(name, str) or name not in self.known:
            close = (
                difflib.get_close_matches(name, self.names, n=2) if isinstance(name, str) and len(name) < 200 else []
            )
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise CallRefused(f"unknown tool {short(name)}{hint}. The tools are: {', '.join(self.names)}")
        if name not in self.specs:
            raise CallRefused(self.limits.refusal(name, self.known))
        check_argument_size(arguments, self.limits)
        spec = self.specs[name]
        values, errors = validate_arguments(arguments if arguments is not None else {}, spec.schema)
        if errors:
            raise CallRefused(f"{name}: {'; '.join(errors)}. Valid arguments: {describe_schema(spec.schema)}")
        self.budget.admit(counts_for_episode=name not in SAFE_WHEN_UNBUDGETED)
        return values

    def run(self, name: str, values: dict[str, Any]) -> ToolOutput:
        """Run an admitted call (on the robot thread); a refusal found while running raises :class:`CallRefused`."""
        output = self.specs[name].run(self.session, values)
        if name == "reset":
            self.budget.new_episode()  # only once the new episode has started
        return output


def _skill_runner(name: str) -> Callable[[RobotSession, dict[str, Any]], ToolOutput]:
    return lambda session, values: _skill_output(session, name, values)
