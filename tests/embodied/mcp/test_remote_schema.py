"""Another MCP server's tool schemas mapped into the skills' subset (what fits, what is left out and why)."""

from __future__ import annotations

from embodied.mcp.remote import identifier, map_property, map_schema
from embodied.mcp.tools import CONTROLS
from embodied.skills.primitives import PRIMITIVES


def test_our_own_schemas_map_to_themselves():
    for spec in (*CONTROLS, *PRIMITIVES):
        schema = spec.schema if hasattr(spec, "schema") else spec.parameters
        mapped, why = map_schema(schema)
        assert mapped == schema, (spec.name, why)


def test_pydantic_style_schemas_map_and_unfit_optional_arguments_are_left_out():
    schema = {
        "type": "object",
        "title": "weather",
        "properties": {
            "city": {"type": "string", "title": "City"},
            "days": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "description": "how many"},
            "units": {"enum": ["metric", "imperial"], "default": "metric"},
            "filters": {"type": "object", "additionalProperties": True},
            "hours": {"type": "array", "items": {"type": "number"}},
        },
        "required": ["city"],
    }
    mapped, why = map_schema(schema)
    assert why == ""
    assert mapped == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City"},
            "days": {"type": ["integer", "null"], "description": "how many", "default": None},
            "units": {"type": "string", "enum": ["metric", "imperial"], "description": "", "default": "metric"},
            "hours": {"type": "array", "items": {"type": "number", "description": ""}, "description": ""},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_a_tool_whose_required_argument_does_not_fit_is_skipped_with_the_reason():
    mapped, why = map_schema({"type": "object", "properties": {"q": {"$ref": "#/$defs/Q"}}, "required": ["q"]})
    assert mapped is None and why.startswith("its required argument 'q' has a schema a skill cannot take")
    assert map_schema({"type": "array"}) == (None, "its input schema is not an object")
    assert map_property({"anyOf": [{"type": "string"}, {"type": "integer"}]}) is None
    assert map_property({"type": "integer", "enum": [1, True]}) is None  # a bool is not an integer here


def test_tool_names_become_identifiers():
    assert identifier("get-forecast.v2") == "get_forecast_v2"
    assert identifier("3d scan") == "_3d_scan"
    assert identifier("///") == "tool"
