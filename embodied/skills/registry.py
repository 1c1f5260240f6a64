"""Skills as tools: ``@skill`` turns a typed, documented function into a JSON-schema tool.

A skill is a function whose first parameter is a :class:`SkillContext` and whose other
parameters are JSON-able and typed (``str``, ``int``, ``float``, ``bool``, ``list[X]``,
``Literal[...]``, ``X | None``), documented in a Google docstring::

    @skill
    def wave(ctx: SkillContext, times: int = 2) -> SkillResult:
        \"\"\"Wave the gripper left and right.

        Args:
            times: how many times to wave.
        \"\"\"

The schema is derived when the decorator runs, so a missing hint or an undocumented argument
fails at import with :class:`~embodied.errors.SkillDefinitionError`. A :class:`SkillRegistry`
lists the tools (OpenAI and MCP shapes) and runs calls: it validates the arguments first, and
anything that goes wrong — unknown skill, bad argument, an exception inside the skill —
becomes a failed :class:`SkillResult` whose message names the skill, the arguments, the
problem and what is valid. Only ``KeyboardInterrupt`` (and ``SystemExit``) propagate.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, overload

from embodied.core.text import short
from embodied.errors import SkillArgumentError, SkillDefinitionError, UnknownSkillError
from embodied.skills.schema import JsonSchema, derive_schema, describe_schema, validate_arguments
from perception.scene_graph import DetectedObject, Perceiver, SceneGraph
from policies.driver import EnvDriver, PolicyResult, StepHook
from policies.grasp import held_object
from policies.lookup import kind_of

log = logging.getLogger(__name__)

SkillFn = Callable[..., "SkillResult"]


@dataclass(frozen=True)
class SkillResult:
    """The outcome of one skill call, as the planner sees it.

    Attributes:
        success: whether the skill did what it was asked (checked from perception and proprio).
        message: one or two sentences for the planner; on failure, what went wrong and what is valid.
        steps: control steps the call used.
        frames: observations with camera images produced during the call (0 without cameras).
        skill: the skill's name (filled in by the registry).
        arguments: the arguments it was called with (filled in by the registry).
        details: optional structured extras (e.g. the grasp offset).
    """

    success: bool
    message: str
    steps: int = 0
    frames: int = 0
    skill: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_policy(cls, result: PolicyResult) -> SkillResult:
        """Wrap a low-level policy's result."""
        return cls(result.success, result.message, result.steps, details=dict(result.details))

    def to_text(self) -> str:
        """``"pick(object='red block'): ok — picked up the red block"`` (what a planner is shown)."""
        head = call_text(self.skill, self.arguments) if self.skill else "skill"
        return f"{head}: {'ok' if self.success else 'FAILED'} — {self.message}"


class SkillContext:
    """What a skill gets: the env, the current scene graph, re-perception and a recorder hook.

    Skills read object positions only from :attr:`scene` (the perceiver's view), never from the
    simulator's ground truth; proprioception comes with the observation. Low-level policies run
    on :attr:`driver` (a :class:`policies.driver.EnvDriver`), which counts steps and calls the
    recorder on every one.

    Args:
        driver: the env driver the skill acts through.
    """

    def __init__(self, driver: EnvDriver) -> None:
        self.driver = driver

    @classmethod
    def create(
        cls,
        env: Any,
        perceiver: Perceiver,
        obs: dict[str, Any],
        info: dict[str, Any],
        recorder: StepHook | None = None,
    ) -> SkillContext:
        """A context over ``env`` whose current observation is ``(obs, info)``."""
        return cls(EnvDriver(env, perceiver, obs, info, recorder))

    @classmethod
    def reset(
        cls, env: Any, perceiver: Perceiver, recorder: StepHook | None = None, **reset_kwargs: Any
    ) -> SkillContext:
        """Reset ``env`` (``seed=``, ``options=``) and the perceiver's tracks, and wrap the first observation."""
        obs, info = env.reset(**reset_kwargs)
        reset_tracks = getattr(perceiver, "reset", None)
        if callable(reset_tracks):
            reset_tracks()
        if recorder is not None:
            recorder(obs, info)
        return cls.create(env, perceiver, obs, info, recorder)

    @property
    def env(self) -> Any:
        return self.driver.env

    @property
    def perceiver(self) -> Perceiver:
        return self.driver.perceiver

    @property
    def obs(self) -> dict[str, Any]:
        return self.driver.obs

    @property
    def info(self) -> dict[str, Any]:
        return self.driver.info

    @property
    def steps(self) -> int:
        """Control steps taken so far through this context."""
        return self.driver.steps

    @property
    def frames(self) -> int:
        return self.driver.frames

    @property
    def done(self) -> bool:
        """Whether the episode has ended (later steps do nothing)."""
        return self.driver.done

    @property
    def recorder(self) -> StepHook:
        """The hook that receives every ``(obs, info)`` step."""
        return self.driver.on_step

    @property
    def scene(self) -> SceneGraph:
        """The latest scene graph (perceived on first use)."""
        return self.driver.scene

    def refresh(self) -> SceneGraph:
        """Re-perceive the current observation; the result becomes :attr:`scene`."""
        return self.driver.perceive()

    look = refresh

    def require_object(self, name: str, shapes: tuple[str, ...] = ()) -> DetectedObject:
        """The visible object called ``name`` (re-perceived now); :class:`SkillArgumentError` lists the valid names.

        Args:
            name: the object's name as the planner wrote it.
            shapes: the shapes this skill accepts (empty: any).
        """
        scene = self.refresh()
        obj = scene.find(name)
        valid = [o.name for o in scene.objects if not shapes or o.shape in shapes]
        if obj is None:
            # A perceiver may rename a block whose size it now measures differently (partly hidden by
            # the hand): "orange block" -> "small orange block". One visible object of that colour
            # and shape, or the one in the gripper, is the same object.
            same = [o for o in scene.objects if kind_of(o.name) == kind_of(name) and o.name in valid]
            held = held_object(self.driver, scene)
            obj = held if held in same else same[0] if len(same) == 1 else None
            if obj is not None:
                log.info("no %r visible; taking the %r (same colour and shape)", name, obj.name)
        if obj is None:
            raise SkillArgumentError(f"no object {name!r} is visible; valid objects are {valid}")
        if shapes and obj.shape not in shapes:
            raise SkillArgumentError(f"the {name} is a {obj.shape}; this skill takes a {' or '.join(shapes)}: {valid}")
        return obj


@dataclass(frozen=True)
class Skill:
    """A tool: a name, a description and a JSON schema over a function ``fn(ctx, **arguments)``."""

    name: str
    description: str
    parameters: JsonSchema
    fn: SkillFn = field(repr=False, compare=False)

    @property
    def module(self) -> str:
        return str(getattr(self.fn, "__module__", ""))

    def tool_schema(self) -> dict[str, Any]:
        """The OpenAI tool shape: ``{"type": "function", "function": {name, description, parameters}}``."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def mcp_schema(self) -> dict[str, Any]:
        """The MCP tool shape: ``{name, description, inputSchema}``."""
        return {"name": self.name, "description": self.description, "inputSchema": self.parameters}

    def __call__(self, ctx: SkillContext, **arguments: Any) -> SkillResult:
        """Run the function directly (no validation; use :meth:`SkillRegistry.call` for model input)."""
        return self.fn(ctx, **arguments)


def _make_skill(fn: SkillFn, name: str | None) -> Skill:
    if not callable(fn):
        raise SkillDefinitionError(f"@skill decorates functions, got {type(fn).__name__}")
    skill_name = str(name or getattr(fn, "__name__", ""))
    if not skill_name.isidentifier():
        raise SkillDefinitionError(f"skill name {skill_name!r} must be a Python identifier (letters, digits, _)")
    description, parameters = derive_schema(fn, skill_name, SkillContext, SkillResult)
    return Skill(skill_name, description, parameters, fn)


@overload
def skill(fn: SkillFn, *, name: str | None = None) -> Skill: ...
@overload
def skill(fn: None = None, *, name: str | None = None) -> Callable[[SkillFn], Skill]: ...
def skill(fn: SkillFn | None = None, *, name: str | None = None) -> Skill | Callable[[SkillFn], Skill]:
    """Turn a typed, documented function into a :class:`Skill` (``@skill`` or ``@skill(name="...")``)."""
    if fn is None:
        return lambda f: _make_skill(f, name)
    return _make_skill(fn, name)


def call_text(name: str, arguments: Any) -> str:
    """``pick(object='red block')`` with long values cut short."""
    if isinstance(arguments, dict):
        inner = ", ".join(f"{k if isinstance(k, str) else short(k)}={short(v)}" for k, v in list(arguments.items())[:8])
        if len(arguments) > 8:
            inner += ", ..."
    else:
        inner = short(arguments)
    return f"{short(name) if not isinstance(name, str) or len(name) > 60 else name}({inner})"


class SkillRegistry:
    """Skills by unique name: lists their tool schemas and runs validated calls."""

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._skills: dict[str, Skill] = {}
        self.extend(skills)

    def register(self, new: Skill) -> Skill:
        """Add one skill; a second skill with the same name raises :class:`SkillDefinitionError`."""
        if not isinstance(new, Skill):
            raise SkillDefinitionError(f"register() takes a Skill (a function decorated with @skill), got {new!r}")
        old = self._skills.get(new.name)
        if old is not None:
            raise SkillDefinitionError(
                f"a skill named {new.name!r} is already registered (from {old.module}); the one from {new.module} "
                f"needs another name: @skill(name='...')"
            )
        self._skills[new.name] = new
        return new

    def back(self, name: str, fn: SkillFn) -> Skill:
        """Run skill ``name`` with ``fn`` from now on, under the same name, description and schema (a planner
        cannot tell): e.g. a learned policy instead of the scripted one."""
        new = replace(self.get(name), fn=fn)
        self._skills[name] = new
        return new

    def extend(self, skills: Iterable[Skill]) -> None:
        for s in skills:
            self.register(s)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._skills)

    def __contains__(self, name: object) -> bool:
        return name in self._skills

    def __iter__(self) -> Iterator[Skill]:
        return iter(self._skills.values())

    def __len__(self) -> int:
        return len(self._skills)

    def get(self, name: str) -> Skill:
        """The skill called ``name``; :class:`UnknownSkillError` lists the valid names."""
        try:
            return self._skills[name]
        except (KeyError, TypeError):
            raise UnknownSkillError(self._unknown(name)) from None

    def tools(self) -> list[dict[str, Any]]:
        """OpenAI-shape tool schemas of every skill."""
        return [s.tool_schema() for s in self._skills.values()]

    def mcp_tools(self) -> list[dict[str, Any]]:
        """MCP-shape tool schemas of every skill."""
        return [s.mcp_schema() for s in self._skills.values()]

    def _unknown(self, name: object) -> str:
        close = difflib.get_close_matches(name, self.names, n=2) if isinstance(name, str) and len(name) < 200 else []
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown skill {short(name)}{hint} Valid skills are: {', '.join(self.names) or '(none registered)'}"

    def call(self, name: Any, arguments: Any, ctx: SkillContext | EnvDriver) -> SkillResult:
        """Validate and run one call; every failure (bad input, exception in the skill) is a failed result.

        Args:
            name: the skill's name (anything a model sent).
            arguments: a dict, a JSON string of one, or None (anything a model sent).
            ctx: the skill context, or the bare driver to wrap in one.
        """
        if isinstance(ctx, EnvDriver):
            ctx = SkillContext(ctx)
        if isinstance(arguments, str | bytes):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return self._failed(name, arguments, "the arguments are not valid JSON")
        arguments = {} if arguments is None else arguments
        if not isinstance(name, str) or name not in self._skills:
            return self._failed(name, arguments, self._unknown(name))
        s = self._skills[name]
        values, errors = validate_arguments(arguments, s.parameters)
        if errors:
            return self._failed(
                name, arguments, f"{'; '.join(errors)}. Valid arguments: {describe_schema(s.parameters)}"
            )
        return self._run(s, values, ctx)

    def _run(self, s: Skill, values: dict[str, Any], ctx: SkillContext) -> SkillResult:
        steps0, frames0 = ctx.steps, ctx.frames
        try:
            result = s.fn(ctx, **values)
        except SkillArgumentError as e:
            result = SkillResult(False, f"invalid argument: {e}")
        except UnknownSkillError as e:
            result = SkillResult(False, str(e.args[0]) if e.args else repr(e))
        except Exception as e:
            log.exception("skill %s raised", s.name)
            result = SkillResult(False, f"the skill raised {type(e).__name__}: {short(str(e))}")
        if not isinstance(result, SkillResult):
            result = SkillResult(False, f"the skill returned {short(result)} instead of a SkillResult")
        head = call_text(s.name, values)
        message = result.message if result.success else f"{head} failed: {result.message}"
        done = replace(
            result,
            message=message,
            steps=ctx.steps - steps0,
            frames=ctx.frames - frames0,
            skill=s.name,
            arguments=dict(values),
        )
        log.info("%s", done.to_text())
        return done

    def _failed(self, name: Any, arguments: Any, why: str) -> SkillResult:
        text = call_text(name if isinstance(name, str) else short(name), arguments)
        safe_args = dict(arguments) if isinstance(arguments, dict) else {}
        return SkillResult(
            False, f"{text} failed: {why}", skill=name if isinstance(name, str) else "", arguments=safe_args
        )
