"""@skill: schema derivation from hints and Google docstrings, and definition errors at decoration time."""

from __future__ import annotations

from typing import Literal

import pytest

from embodied.errors import SkillDefinitionError
from embodied.skills.registry import Skill, SkillContext, SkillRegistry, SkillResult, skill
from embodied.skills.schema import parse_docstring, validate_arguments


@skill
def sample(
    ctx: SkillContext,
    name: str,
    colour: Literal["red", "blue"],
    count: int = 2,
    height: float | None = None,
    fast: bool = False,
    tags: list[str] | None = None,
    mode: Literal["a", "b"] | None = "a",
) -> SkillResult:
    """Do a sample thing.

    A second paragraph that is part of the description.

    Args:
        name: the object's name.
        colour: which colour; this description
            continues on a second line.
        count: how many times.
        height (float): metres above the table, or null for the default.
        fast: hurry.
        tags: labels.
        mode: a nullable enum.

    Returns:
        what happened.
    """
    return SkillResult(True, "ok")


def test_schema_of_every_supported_type():
    p = sample.parameters
    props = p["properties"]
    assert props["name"] == {"type": "string", "description": "the object's name."}
    assert props["colour"]["enum"] == ["red", "blue"] and props["colour"]["type"] == "string"
    assert props["colour"]["description"] == "which colour; this description continues on a second line."
    assert props["count"] == {"type": "integer", "description": "how many times.", "default": 2}
    assert props["height"]["type"] == ["number", "null"] and props["height"]["default"] is None
    assert props["fast"]["type"] == "boolean"
    assert props["tags"]["type"] == ["array", "null"] and props["tags"]["items"] == {"type": "string"}
    assert props["mode"]["enum"] == ["a", "b", None]
    assert p["required"] == ["name", "colour"]  # defaults are not required; ctx is not in the schema
    assert "ctx" not in props and p["additionalProperties"] is False
    assert sample.description == "Do a sample thing.\n\nA second paragraph that is part of the description."


def test_openai_and_mcp_shapes():
    tool = sample.tool_schema()
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "sample" and tool["function"]["parameters"] is sample.parameters
    mcp = sample.mcp_schema()
    assert set(mcp) == {"name", "description", "inputSchema"} and mcp["inputSchema"]["type"] == "object"


def test_custom_name_and_direct_call():
    @skill(name="renamed")
    def original(ctx: SkillContext) -> SkillResult:
        """Nothing."""
        return SkillResult(True, "called")

    assert isinstance(original, Skill) and original.name == "renamed"
    assert original(None).message == "called"  # type: ignore[arg-type]


def _define_missing_hint() -> None:
    @skill
    def bad(ctx: SkillContext, x) -> SkillResult:  # type: ignore[no-untyped-def]
        """Bad.

        Args:
            x: something.
        """
        return SkillResult(True, "")


def _define_undocumented() -> None:
    @skill
    def bad(ctx: SkillContext, x: int, y: int) -> SkillResult:
        """Bad.

        Args:
            x: documented.
        """
        return SkillResult(True, "")


def _define_no_docstring() -> None:
    @skill
    def bad(ctx: SkillContext) -> SkillResult:
        return SkillResult(True, "")


def _define_no_context() -> None:
    @skill
    def bad(x: int) -> SkillResult:
        """Bad.

        Args:
            x: a number.
        """
        return SkillResult(True, "")


def _define_unsupported_type() -> None:
    @skill
    def bad(ctx: SkillContext, x: dict[str, int]) -> SkillResult:
        """Bad.

        Args:
            x: a mapping.
        """
        return SkillResult(True, "")


def _define_stale_doc() -> None:
    @skill
    def bad(ctx: SkillContext) -> SkillResult:
        """Bad.

        Args:
            gone: an argument that was removed.
        """
        return SkillResult(True, "")


def _define_varargs() -> None:
    @skill
    def bad(ctx: SkillContext, *xs: int) -> SkillResult:
        """Bad.

        Args:
            xs: numbers.
        """
        return SkillResult(True, "")


def _define_bad_default() -> None:
    @skill
    def bad(ctx: SkillContext, x: int = "three") -> SkillResult:  # type: ignore[assignment]
        """Bad.

        Args:
            x: a number.
        """
        return SkillResult(True, "")


def _define_no_return_hint() -> None:
    @skill
    def bad(ctx: SkillContext):  # type: ignore[no-untyped-def]
        """Bad."""
        return SkillResult(True, "")


@pytest.mark.parametrize(
    ("define", "match"),
    [
        (_define_missing_hint, r"argument 'x': add a type hint"),
        (_define_undocumented, r"argument 'y': document it"),
        (_define_no_docstring, r"add a Google-style docstring"),
        (_define_no_context, r"first parameter must be annotated `ctx: SkillContext`"),
        (_define_unsupported_type, r"not supported .* use str, int"),
        (_define_stale_doc, r"documents \['gone'\]"),
        (_define_varargs, r"\*args"),
        (_define_bad_default, r"default 'three' does not match"),
        (_define_no_return_hint, r"-> SkillResult"),
    ],
)
def test_bad_definitions_fail_at_decoration(define, match):
    with pytest.raises(SkillDefinitionError, match=match):
        define()


def test_duplicate_names_are_rejected():
    registry = SkillRegistry([sample])
    with pytest.raises(SkillDefinitionError, match="already registered"):
        registry.register(sample)


def test_parse_docstring_sections():
    desc, args = parse_docstring(
        """Summary line.

        Args:
            a (int): first
                and more.
            b: second.

        Raises:
            ValueError: never.
        """
    )
    assert desc == "Summary line."
    assert args == {"a": "first and more.", "b": "second."}


def test_validation_fills_defaults_and_normalises():
    values, errors = validate_arguments({"name": "x", "colour": "red", "count": 3.0, "tags": ("a",)}, sample.parameters)
    assert errors == []
    assert values == {
        "name": "x",
        "colour": "red",
        "count": 3,
        "height": None,
        "fast": False,
        "tags": ["a"],
        "mode": "a",
    }
    assert isinstance(values["count"], int)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"colour": "red"}, "missing required argument(s) 'name'"),
        ({"name": "x", "colour": "green"}, "valid values are ['red', 'blue']"),
        ({"name": 1, "colour": "red"}, "'name' must be of type string, got int 1"),
        ({"name": "x", "colour": "red", "count": 2.5}, "'count' must be an integer"),
        ({"name": "x", "colour": "red", "count": True}, "'count' must be an integer"),
        ({"name": "x", "colour": "red", "height": float("inf")}, "must be a finite number"),
        ({"name": "x", "colour": "red", "extra": 1}, "unexpected argument(s) 'extra'"),
        ({"name": "x", "colour": None}, "'colour' must not be null"),
        ({"name": "x", "colour": "red", "tags": [1]}, "'tags[0]' must be of type string"),
        (["name", "x"], "arguments must be a JSON object"),
    ],
)
def test_validation_errors_say_what_is_wrong(args, needle):
    _, errors = validate_arguments(args, sample.parameters)
    assert any(needle in e for e in errors), errors
