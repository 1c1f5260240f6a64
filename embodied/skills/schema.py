"""From a typed, Google-docstring'd function to a JSON schema, and validation of calls against it.

The schema subset is what tool-calling models use: ``string``, ``integer``, ``number``,
``boolean``, ``array`` (with ``items``), ``enum`` (from ``Literal[...]``), nullable types (from
``X | None``, written as a type list ``["string", "null"]``) and ``default`` for optional
arguments. :func:`validate_arguments` checks a model's call against such a schema and returns
plain-text errors, never raising on odd input (NaN, huge strings, nested garbage).
"""

from __future__ import annotations

import inspect
import math
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union, get_args, get_origin

from embodied.core.text import short
from embodied.errors import SkillDefinitionError

JsonSchema = dict[str, Any]

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Examples?|Notes?|Attributes):\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}[A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_PRIMITIVES: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
SUPPORTED_TYPES = "str, int, float, bool, list[X], Literal[...] and X | None"


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (text before the first section) and the ``Args:`` entries of a Google docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    indent: int | None = None
    current: str | None = None
    for line in lines:
        header = _SECTION.match(line.strip()) if not line.startswith(" ") else None
        if header:
            section, indent, current = header.group(1), None, None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters") or not line.strip():
            continue
        level = len(line) - len(line.lstrip())
        indent = level if indent is None else indent
        entry = _ARG_LINE.match(line.strip()) if level == indent else None
        if entry:
            current = entry.group(1).lstrip("*")
            args[current] = entry.group(2).strip()
        elif current is not None:
            args[current] = f"{args[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), args


def type_to_schema(tp: Any, where: str) -> JsonSchema:
    """JSON schema of a type hint; :class:`SkillDefinitionError` for types outside the subset."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) != 1 or len(get_args(tp)) != 2:
            raise SkillDefinitionError(
                f"{where}: unions other than `X | None` are not supported; use {SUPPORTED_TYPES}"
            )
        schema = type_to_schema(members[0], where)
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if origin is Literal:
        values = list(get_args(tp))
        kinds = {type(v) for v in values}
        if len(kinds) != 1 or next(iter(kinds)) not in _PRIMITIVES:
            raise SkillDefinitionError(f"{where}: Literal values must all be str, or all int/float/bool; got {values}")
        return {"type": _PRIMITIVES[next(iter(kinds))], "enum": values}
    if origin is list:
        (item,) = get_args(tp) or (None,)
        if item is None:
            raise SkillDefinitionError(f"{where}: write the item type, e.g. list[str]")
        return {"type": "array", "items": type_to_schema(item, where)}
    if tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    raise SkillDefinitionError(f"{where}: type {tp!r} is not supported in a skill signature; use {SUPPORTED_TYPES}")


def derive_schema(fn: Callable[..., Any], name: str, context_type: type, result_type: type) -> tuple[str, JsonSchema]:
    """``(description, parameters schema)`` of a skill function, checked for hints and documentation."""
    where = f"skill {name!r} ({getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', name)})"
    description, documented = parse_docstring(inspect.getdoc(fn))
    if not description:
        raise SkillDefinitionError(f"{where}: add a Google-style docstring; its summary becomes the tool description")
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception as e:
        raise SkillDefinitionError(
            f"{where}: cannot resolve the type hints ({e}); import the types at module level"
        ) from e
    params = list(inspect.signature(fn).parameters.values())
    if not params or not _is_subclass(hints.get(params[0].name), context_type):
        raise SkillDefinitionError(f"{where}: the first parameter must be annotated `ctx: {context_type.__name__}`")
    if not _is_subclass(hints.get("return"), result_type):
        raise SkillDefinitionError(f"{where}: annotate the return type as `-> {result_type.__name__}`")
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    for p in params[1:]:
        properties[p.name] = _parameter_schema(p, hints, documented, where)
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
    stale = sorted(set(documented) - set(properties))
    if stale:
        raise SkillDefinitionError(f"{where}: the docstring documents {stale}, which the signature does not have")
    schema: JsonSchema = {"type": "object", "properties": properties, "required": required}
    schema["additionalProperties"] = False
    return description, schema


def _parameter_schema(
    p: inspect.Parameter, hints: Mapping[str, Any], documented: Mapping[str, str], where: str
) -> JsonSchema:
    here = f"{where}, argument {p.name!r}"
    if p.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
        raise SkillDefinitionError(
            f"{here}: *args, **kwargs and positional-only arguments cannot become tool arguments"
        )
    if p.name not in hints:
        raise SkillDefinitionError(f"{here}: add a type hint ({SUPPORTED_TYPES})")
    if not documented.get(p.name):
        raise SkillDefinitionError(f"{here}: document it in the docstring's `Args:` section (`{p.name}: what it is`)")
    schema = type_to_schema(hints[p.name], here)
    schema["description"] = documented[p.name]
    if p.default is not inspect.Parameter.empty:
        errors: list[str] = []
        _check(p.default, schema, p.name, errors)
        if errors:
            raise SkillDefinitionError(f"{here}: the default {p.default!r} does not match the hint: {errors[0]}")
        schema["default"] = p.default
    return schema


def _is_subclass(tp: Any, cls: type) -> bool:
    return isinstance(tp, type) and issubclass(tp, cls)


def describe_schema(schema: JsonSchema) -> str:
    """``object (string), region (one of 'front', 'back')`` — the valid arguments, for error messages."""
    props: dict[str, JsonSchema] = schema.get("properties", {})
    parts = []
    for name, p in props.items():
        kind = f"one of {', '.join(short(v) for v in p['enum'])}" if "enum" in p else _type_text(p)
        opt = f", optional, default {short(p['default'])}" if "default" in p else ""
        parts.append(f"{name} ({kind}{opt})")
    return ", ".join(parts) if parts else "no arguments"


def _type_text(p: JsonSchema) -> str:
    t = p["type"]
    names = t if isinstance(t, list) else [t]
    if "array" in names:
        return " or ".join(f"array of {_type_text(p['items'])}" if n == "array" else n for n in names)
    return " or ".join(names)


def validate_arguments(args: Any, schema: JsonSchema) -> tuple[dict[str, Any], list[str]]:
    """Check ``args`` against an object schema: ``(arguments with defaults filled in, errors)``."""
    if not isinstance(args, Mapping):
        return {}, [f"arguments must be a JSON object (name -> value), got {type(args).__name__} {short(args)}"]
    props: dict[str, JsonSchema] = schema.get("properties", {})
    errors: list[str] = []
    bad_keys = [k for k in args if not isinstance(k, str) or k not in props]
    if bad_keys:
        errors.append(f"unexpected argument(s) {', '.join(short(k) for k in bad_keys)}")
    missing = [k for k in schema.get("required", []) if k not in args]
    if missing:
        errors.append(f"missing required argument(s) {', '.join(repr(k) for k in missing)}")
    values: dict[str, Any] = {}
    for name, p in props.items():
        if name in args:
            values[name] = _check(args[name], p, name, errors)
        elif "default" in p:
            values[name] = p["default"]
    return values, errors


def _check(value: Any, p: JsonSchema, where: str, errors: list[str]) -> Any:
    """Validate one value, appending errors; returns the value normalised (ints from 3.0, lists from tuples)."""
    types_ = p["type"] if isinstance(p["type"], list) else [p["type"]]
    if value is None:
        if "null" not in types_:
            errors.append(f"argument {where!r} must not be null; expected {_type_text(p)}")
        return None
    kind = next((t for t in types_ if t != "null"), "null")
    out = _check_type(value, kind, p, where, errors)
    if "enum" in p and out is not None and out not in p["enum"]:
        errors.append(
            f"argument {where!r} is {short(value)}; valid values are {[v for v in p['enum'] if v is not None]}"
        )
    return out


def _check_type(value: Any, kind: str, p: JsonSchema, where: str, errors: list[str]) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in ("number", "integer") and number:
        if not math.isfinite(value):
            errors.append(f"argument {where!r} must be a finite number, got {short(value)}")
            return None
        if kind == "number":
            return float(value)
        if float(value).is_integer():
            return int(value)
    if kind == "array" and isinstance(value, list | tuple):
        return [_check(v, p["items"], f"{where}[{i}]", errors) for i, v in enumerate(value)]
    expected = "an integer" if kind == "integer" else f"of type {_type_text(p)}"
    errors.append(f"argument {where!r} must be {expected}, got {type(value).__name__} {short(value)}")
    return None
