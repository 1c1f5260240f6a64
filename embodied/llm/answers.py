"""JSON schemas of the answers a planner asks for: a decision, a goal, a reflection.

They serve twice: backends that can constrain decoding (:mod:`embodied.llm.hf`, and
OpenAI-compatible servers with structured outputs when enabled) enforce them, and they document
the answer format. String arguments of skills are restricted to ``allowed_values`` (the visible
object names and region names), so a constrained model cannot even spell an unknown object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from embodied.llm.base import ToolSchema

#: Predicates of goal atoms and the regions ``in_region`` accepts (see envs/tasks/predicates.py).
GOAL_PREDICATES: tuple[str, ...] = ("on", "in", "in_region")
REGION_NAMES: tuple[str, ...] = ("left side", "right side", "front", "back")

REFLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"reflection": {"type": "string", "maxLength": 200}},
    "required": ["reflection"],
}


def _argument_schema(spec: Any, allowed_values: Sequence[str]) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        return {"type": "string", "maxLength": 40}
    kind = spec.get("type")
    if "enum" in spec:
        return {"enum": list(spec["enum"])}
    if kind == "string":
        return {"enum": list(allowed_values)} if allowed_values else {"type": "string", "maxLength": 40}
    if kind in ("number", "integer", "boolean"):
        return {"type": kind}
    if kind == "array" and isinstance(spec.get("items"), Mapping):
        return {"type": "array", "maxItems": 4, "items": _argument_schema(spec["items"], allowed_values)}
    return {"type": "string", "maxLength": 40}


def call_schema(tool: ToolSchema, allowed_values: Sequence[str] = ()) -> dict[str, Any]:
    """The schema of one call of ``tool``: its name as a constant and its required arguments."""
    fn = tool["function"]
    params = fn.get("parameters") or {}
    props: Mapping[str, Any] = params.get("properties") or {}
    required = [k for k in props if k in set(params.get("required") or ())]
    arguments = {
        "type": "object",
        "properties": {k: _argument_schema(props[k], allowed_values) for k in required},
        "required": required,
    }
    return {
        "type": "object",
        "properties": {"name": {"const": fn["name"]}, "arguments": arguments},
        "required": ["name", "arguments"],
    }


def decision_schema(
    tools: Sequence[ToolSchema],
    allowed_values: Sequence[str] = (),
    *,
    max_calls: int = 2,
    max_thought_chars: int = 160,
) -> dict[str, Any]:
    """The schema of a decision: ``{"thoughts": str, "tool_calls": [call, ...], "done": bool}``.

    Args:
        tools: OpenAI-shape tool schemas; ``name`` of each call is one of theirs.
        allowed_values: The strings a string argument may take (object and region names);
            empty means free strings of at most 40 characters.
        max_calls: Most tool calls in one decision.
        max_thought_chars: Longest ``thoughts``.
    """
    calls = [call_schema(t, allowed_values) for t in tools]
    return {
        "type": "object",
        "properties": {
            "thoughts": {"type": "string", "maxLength": max_thought_chars},
            "tool_calls": {"type": "array", "maxItems": max_calls if calls else 0, "items": {"anyOf": calls}},
            "done": {"type": "boolean"},
        },
        "required": ["thoughts", "tool_calls", "done"],
    }


def goal_schema(
    object_names: Sequence[str], regions: Sequence[str] = REGION_NAMES, max_atoms: int = 6
) -> dict[str, Any]:
    """The schema of an LLM+P goal: ``{"goal": [[predicate, arg, arg], ...]}`` over the given names.

    An empty goal is the model's refusal: the instruction cannot be done with these objects.

    Atoms are enumerated (every ordered pair of distinct objects, every object with every
    region), so a constrained model cannot relate an object to itself.
    """
    atoms: list[dict[str, Any]] = []
    for pred in ("on", "in"):
        atoms += [_tuple(pred, a, b) for a in object_names for b in object_names if a != b]
    atoms += [_tuple("in_region", a, r) for a in object_names for r in regions]
    goal = {"type": "array", "minItems": 0, "maxItems": max_atoms, "items": {"anyOf": atoms}}
    return {"type": "object", "properties": {"goal": goal}, "required": ["goal"]}


def _tuple(*values: str) -> dict[str, Any]:
    return {"type": "array", "prefixItems": [{"const": v} for v in values]}
