"""Composite skills: restricted programs of registered skill calls with parameter substitution.

A program is data, never code: a name, a description, a JSON schema of its parameters, and a
list of steps ``{"skill": "pick", "arguments": {"object": {"$param": "object"}}}`` whose argument
values are literals or references to a parameter. Running it binds the parameters and calls each
step through the skill registry (which validates every call again), stopping at the first
failure. :func:`generalise` writes one from the calls of a successful episode: every object name
(and every enum value such as a region) becomes a parameter, so ``pick(red block)``,
``place(red block, on blue block)`` becomes ``stack_object_on_target(object, target)``.
:func:`validate` checks a program against the registry before it is stored and before it runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from embodied.core.decision import ToolCall
from embodied.errors import ProgramError
from embodied.skills.registry import Skill, SkillContext, SkillRegistry, SkillResult, call_text
from embodied.skills.schema import validate_arguments

PARAM = "$param"
MAX_STEPS = 24
MIN_STEPS = 2  # one call is just the skill itself
_STOP_WORDS = {"the", "a", "an", "to", "of", "and", "then", "with", "please", "it", "them", "onto", "into"}
_NAME_WORDS = 5
_MATCH_BUDGET = 5000  # chunk assignments tried at most when matching a program against a plan


@dataclass(frozen=True)
class Step:
    """One call of a registered skill; argument values are literals or ``{"$param": name}``."""

    skill: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Program:
    """A composite skill (see the module docstring)."""

    name: str
    description: str
    parameters: dict[str, Any]
    steps: tuple[Step, ...]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("properties", {}))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "steps": [{"skill": s.skill, "arguments": s.arguments} for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: Any) -> Program:
        """Read a program; :class:`ProgramError` says what is malformed."""
        if not isinstance(data, dict):
            raise ProgramError(f"a composite skill is a JSON object, got {type(data).__name__}")
        missing = [k for k in ("name", "description", "parameters", "steps") if k not in data]
        if missing:
            raise ProgramError(f"composite skill {data.get('name', '?')!r} lacks {', '.join(missing)}")
        steps = data["steps"]
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ProgramError(f"composite skill {data['name']!r}: steps must be a list of objects")
        parsed = []
        for i, s in enumerate(steps, start=1):
            if not isinstance(s.get("skill"), str) or not isinstance(s.get("arguments", {}), dict):
                raise ProgramError(
                    f"composite skill {data['name']!r}: step {i} needs a skill name and an arguments object"
                )
            parsed.append(Step(s["skill"], dict(s.get("arguments", {}))))
        if not isinstance(data["parameters"], dict) or not isinstance(data["description"], str):
            raise ProgramError(f"composite skill {data['name']!r}: parameters must be an object, description a string")
        return cls(str(data["name"]), data["description"], data["parameters"], tuple(parsed))

    def key(self) -> str:
        """The canonical form of the steps (parameters renamed by first use): equal keys, same skill."""
        order: dict[str, str] = {}
        canonical = []
        for s in self.steps:
            args = {}
            for arg, value in sorted(s.arguments.items()):
                if _is_param(value):
                    args[arg] = {PARAM: order.setdefault(value[PARAM], f"p{len(order)}")}
                else:
                    args[arg] = value
            canonical.append([s.skill, args])
        return json.dumps(canonical, sort_keys=True, separators=(",", ":"))

    def bind(self, values: dict[str, Any]) -> list[ToolCall]:
        """The steps' calls with the parameters replaced by ``values``."""
        return [
            ToolCall(s.skill, {a: values[v[PARAM]] if _is_param(v) else v for a, v in s.arguments.items()})
            for s in self.steps
        ]

    def match(self, calls: Sequence[ToolCall]) -> dict[str, Any] | None:
        """The parameter values under which the program's steps are the first calls of ``calls``, or None.

        Different parameters must take different values (the program was learned with different objects).
        """
        if len(calls) < len(self.steps):
            return None
        return _bind(self.steps, calls[: len(self.steps)], {})

    def match_chunks(
        self, chunks: Sequence[Sequence[ToolCall]], reorder: bool = False
    ) -> tuple[dict[str, Any], list[int]] | None:
        """Parameter values under which the program's steps are whole chunks of a plan, and which chunks.

        Without ``reorder`` the chunks must be the plan's first ones, in order; with it (for chunks
        that do not depend on each other, such as blocks going into a bin) any of them, in the
        program's order. Returns ``(values, chunk indices in program order)`` or None.
        """
        budget = [_MATCH_BUDGET]

        def search(pos: int, values: dict[str, Any], used: list[int]) -> tuple[dict[str, Any], list[int]] | None:
            if pos == len(self.steps):
                return values, used
            if reorder:
                candidates = [i for i in range(len(chunks)) if i not in used]
            else:
                candidates = [len(used)] if len(used) < len(chunks) else []
            for i in candidates:
                budget[0] -= 1
                if budget[0] < 0 or pos + len(chunks[i]) > len(self.steps):
                    continue
                bound = _bind(self.steps[pos : pos + len(chunks[i])], chunks[i], values)
                found = search(pos + len(chunks[i]), bound, [*used, i]) if bound is not None else None
                if found is not None:
                    return found
            return None

        return search(0, {}, [])

    def tool_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def _bind(steps: Sequence[Step], calls: Sequence[ToolCall], values: dict[str, Any]) -> dict[str, Any] | None:
    """``values`` extended so that ``steps`` are ``calls``, or None; distinct parameters take distinct values."""
    values = dict(values)
    for step, call in zip(steps, calls, strict=True):
        if step.skill != call.name or set(step.arguments) != set(call.arguments):
            return None
        for arg, value in step.arguments.items():
            actual = call.arguments[arg]
            if not _is_param(value):
                if value != actual:
                    return None
            elif value[PARAM] in values:
                if values[value[PARAM]] != actual:
                    return None
            elif any(actual == v for v in values.values()):
                return None
            else:
                values[value[PARAM]] = actual
    return values


def _is_param(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {PARAM} and isinstance(value[PARAM], str)


# ---------------------------------------------------------------------- learning
def generalise(
    instruction: str, calls: Sequence[ToolCall], objects: Iterable[str], registry: SkillRegistry
) -> Program | None:
    """A program from the calls of a successful episode, or None if there is nothing to compose.

    Args:
        instruction: what the episode was asked (names the skill and goes in its description).
        calls: the successful calls, in order (primitive skills only).
        objects: names of the objects perceived during the episode; arguments naming one become parameters.
        registry: the registered skills the calls use (their schemas type the parameters).
    """
    if not MIN_STEPS <= len(calls) <= MAX_STEPS:
        return None
    names = set(objects)
    by_value: dict[str, str] = {}
    properties: dict[str, Any] = {}
    steps = []
    for i, call in enumerate(calls, start=1):
        schema = registry.get(call.name).parameters.get("properties", {})
        args: dict[str, Any] = {}
        for arg, value in call.arguments.items():
            arg_schema = schema.get(arg, {})
            if isinstance(value, str) and (value in names or "enum" in arg_schema):
                if value not in by_value:
                    param = arg if arg not in properties else f"{arg}_{sum(p.startswith(arg) for p in properties) + 1}"
                    by_value[value] = param
                    what = str(arg_schema.get("description", arg)).rstrip(".")
                    properties[param] = {**arg_schema, "description": f"{what} (step {i}, {call.name})"}
                args[arg] = {PARAM: by_value[value]}
            else:
                args[arg] = value
        steps.append(Step(call.name, args))
    placeholders = {value: f"<{param}>" for value, param in by_value.items()}
    outline = "; ".join(call_text(s.skill, {a: _shown(v) for a, v in s.arguments.items()}) for s in steps)
    description = (
        f"Learned composite skill: {outline}. It worked for: {_with_placeholders(instruction, placeholders)!r}"
    )
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    name = _name_from(instruction, by_value, registry)
    return Program(name, description, parameters, tuple(steps))


def _shown(value: Any) -> Any:
    return f"<{value[PARAM]}>" if _is_param(value) else value


def _with_placeholders(text: str, placeholders: dict[str, str]) -> str:
    for value in sorted(placeholders, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(value)}\b", placeholders[value], text, flags=re.IGNORECASE)
    return text


def _name_from(instruction: str, by_value: dict[str, str], registry: SkillRegistry) -> str:
    """``stack the red block on the blue block`` -> ``stack_on``: the instruction's words without its objects."""
    text = _with_placeholders(instruction.lower(), {v: " , " for v in by_value})
    words = [w for w in re.findall(r"[a-z0-9]+", text) if w not in _STOP_WORDS][:_NAME_WORDS]
    name = "_".join(words) or "composite"
    if not name[0].isalpha():
        name = f"skill_{name}"
    return f"{name}_composite" if name in registry else name


# ---------------------------------------------------------------------- checking and running
def validate(program: Program, registry: SkillRegistry) -> None:
    """Check a program against the registered skills; :class:`ProgramError` lists every problem.

    It must have a fresh identifier as name, 2-24 steps that each call a registered skill with
    arguments its schema accepts, and parameters that are declared, typed like the arguments they
    fill, and used.
    """
    problems = []
    if not program.name.isidentifier():
        problems.append(f"name {program.name!r} is not an identifier")
    elif program.name in registry:
        problems.append(f"name {program.name!r} is already a registered skill")
    if not MIN_STEPS <= len(program.steps) <= MAX_STEPS:
        problems.append(f"it has {len(program.steps)} steps; a composite has {MIN_STEPS} to {MAX_STEPS}")
    params = program.parameters
    properties = params.get("properties")
    if params.get("type") != "object" or not isinstance(properties, dict):
        problems.append('parameters must be a JSON schema {"type": "object", "properties": {...}}')
        properties = {}
    used: set[str] = set()
    for i, step in enumerate(program.steps, start=1):
        if step.skill not in registry:
            problems.append(
                f"step {i} calls {step.skill!r}, which is not registered (valid: {', '.join(registry.names)})"
            )
            continue
        schema = registry.get(step.skill).parameters
        sample = {}
        for arg, value in step.arguments.items():
            if not _is_param(value):
                sample[arg] = value
                continue
            param = value[PARAM]
            used.add(param)
            if param not in properties:
                problems.append(f"step {i} ({step.skill}) uses the undeclared parameter {param!r}")
                continue
            declared, expected = properties[param], schema.get("properties", {}).get(arg, {})
            problem = _param_problem(param, declared, expected, f"{step.skill}.{arg}")
            if problem:
                problems.append(problem)
            sample[arg] = _sample(expected)
        _, errors = validate_arguments(sample, schema)
        problems += [f"step {i} ({step.skill}): {e}" for e in errors]
    unused = sorted(set(properties) - used)
    if unused:
        problems.append(f"parameters {unused} are declared but no step uses them")
    if problems:
        raise ProgramError(f"composite skill {program.name!r} is invalid: {'; '.join(problems)}")


def _param_problem(param: str, declared: Any, expected: dict[str, Any], fills: str) -> str:
    """Why parameter ``param`` (its schema ``declared``) cannot fill the argument ``fills`` (schema ``expected``)."""
    if not isinstance(declared, dict):
        return f"parameter {param!r} must have a JSON schema object, got {declared!r}"
    if declared.get("type") != expected.get("type"):
        return f"parameter {param!r} is {declared.get('type')!r} but {fills} takes {expected.get('type')!r}"
    if "enum" in expected:
        enum = declared.get("enum")
        if not isinstance(enum, list) or not all(isinstance(v, str | int | float | bool) for v in enum):
            return f"parameter {param!r} must list its values (enum) from {expected['enum']} to fill {fills}"
        if not set(enum) <= set(expected["enum"]):
            return f"parameter {param!r} must be one of {expected['enum']} to fill {fills}"
    return ""


def _sample(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    samples: dict[str, Any] = {"string": "x", "integer": 0, "number": 0.0, "boolean": False, "array": []}
    return samples.get(str(schema.get("type")), "x")


def as_skill(program: Program, registry: SkillRegistry) -> Skill:
    """The program as a callable tool whose steps run through ``registry`` (validated first)."""
    validate(program, registry)

    def run(ctx: SkillContext, **values: Any) -> SkillResult:
        done: list[dict[str, Any]] = []
        calls = program.bind(values)
        for i, call in enumerate(calls, start=1):
            result = registry.call(call.name, dict(call.arguments), ctx)
            done.append(
                {"name": call.name, "arguments": call.arguments, "success": result.success, "message": result.message}
            )
            if not result.success:
                return SkillResult(False, f"step {i} of {len(calls)} failed: {result.message}", details={"calls": done})
        return SkillResult(
            True, f"ran {len(calls)} steps: {'; '.join(d['message'] for d in done)}", details={"calls": done}
        )

    run.__module__ = "embodied.memory"
    return Skill(program.name, program.description, program.parameters, run)
