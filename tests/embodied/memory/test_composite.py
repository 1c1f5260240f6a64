"""Composite skills: learned from calls, matched against plans, validated, and run through a registry."""

from __future__ import annotations

import copy
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodied.core.decision import ToolCall
from embodied.errors import ProgramError
from embodied.memory import Program, Step, as_skill, generalise, validate
from embodied.skills.primitives import default_registry
from embodied.skills.registry import SkillContext, SkillRegistry, SkillResult, skill
from perception.scene_graph import DetectedObject, SceneGraph
from policies.driver import EnvDriver

STACK = "stack the red block on the blue block"


def stack_calls(top: str = "red block", bottom: str = "blue block") -> list[ToolCall]:
    return [ToolCall("pick", {"object": top}), ToolCall("place", {"object": top, "target": bottom})]


@pytest.fixture(scope="module")
def primitives() -> SkillRegistry:
    return default_registry()


# ---------------------------------------------------------------------- generalise
def test_generalise_turns_objects_into_parameters(primitives):
    program = generalise(STACK, stack_calls(), {"red block", "blue block"}, primitives)
    assert program is not None
    assert program.name == "stack_on"
    assert program.param_names == ("object", "target")
    assert program.parameters["required"] == ["object", "target"]
    assert program.steps == (
        Step("pick", {"object": {"$param": "object"}}),
        Step("place", {"object": {"$param": "object"}, "target": {"$param": "target"}}),
    )
    assert "red block" not in program.description and "<object>" in program.description
    validate(program, primitives)
    assert program.bind({"object": "green block", "target": "red block"}) == stack_calls("green block", "red block")


def test_same_structure_from_other_objects_has_the_same_key(primitives):
    learned = generalise(STACK, stack_calls(), {"red block", "blue block", "bin"}, primitives)
    other = generalise(
        "put the green block onto the yellow block",
        stack_calls("green block", "yellow block"),
        {"green block", "yellow block"},
        primitives,
    )
    assert learned is not None and other is not None
    assert other.name != learned.name and other.key() == learned.key()
    swapped = [
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "blue block", "target": "red block"}),
    ]
    reversed_roles = generalise("unstack", swapped, {"red block", "blue block"}, primitives)
    assert reversed_roles is not None and reversed_roles.key() != learned.key()


def test_single_call_is_not_a_composite(primitives):
    assert generalise("pick up the red block", stack_calls()[:1], {"red block"}, primitives) is None
    assert generalise("do nothing", [], set(), primitives) is None


def test_enum_values_become_parameters_and_other_literals_stay(primitives):
    calls = [
        ToolCall("push", {"object": "green block", "region": "left side"}),
        ToolCall("pick", {"object": "green block"}),
        ToolCall("place", {"object": "green block", "target": "table"}),
    ]
    program = generalise("push the green block to the left side, then set it down", calls, {"green block"}, primitives)
    assert program is not None
    assert program.param_names == ("object", "region")
    region = program.parameters["properties"]["region"]
    assert region["type"] == "string" and region["enum"] == ["left side", "right side", "front", "back"]
    # place's target is a free string, not an enum: a value that names no perceived object stays literal
    assert program.steps[2] == Step("place", {"object": {"$param": "object"}, "target": "table"})
    validate(program, primitives)
    assert program.bind({"object": "red block", "region": "back"})[0] == ToolCall(
        "push", {"object": "red block", "region": "back"}
    )


def test_same_argument_with_two_objects_gets_numbered_parameters(primitives):
    calls = [*stack_calls("red block", "blue block"), *stack_calls("green block", "red block")]
    program = generalise(
        "stack the red block on the blue block and the green block on the red block",
        calls,
        {"red block", "blue block", "green block"},
        primitives,
    )
    assert program is not None
    assert program.param_names == ("object", "target", "object_2")
    validate(program, primitives)
    assert program.bind({"object": "a", "target": "b", "object_2": "c"}) == [
        *stack_calls("a", "b"),
        *stack_calls("c", "a"),
    ]


def test_name_that_would_shadow_a_skill_is_suffixed(primitives):
    program = generalise("pick", stack_calls(), {"red block", "blue block"}, primitives)
    assert program is not None and program.name == "pick_composite"
    validate(program, primitives)


# ---------------------------------------------------------------------- match
@pytest.fixture(scope="module")
def stack_on(primitives) -> Program:
    program = generalise(STACK, stack_calls(), {"red block", "blue block"}, primitives)
    assert program is not None
    return program


def test_match_binds_a_plan_prefix(stack_on):
    plan = [*stack_calls("green block", "red block"), ToolCall("look", {})]
    assert stack_on.match(plan) == {"object": "green block", "target": "red block"}
    assert stack_on.match(stack_calls()) == {"object": "red block", "target": "blue block"}


def test_match_rejects_a_different_structure(stack_on):
    assert stack_on.match(stack_calls()[:1]) is None  # shorter than the program
    assert stack_on.match([ToolCall("look", {}), *stack_calls()]) is None  # not a prefix
    inconsistent = [
        ToolCall("pick", {"object": "red block"}),
        ToolCall("place", {"object": "blue block", "target": "bin"}),
    ]
    assert stack_on.match(inconsistent) is None
    extra_argument = [ToolCall("pick", {"object": "red block"}), ToolCall("place", {"object": "red block"})]
    assert stack_on.match(extra_argument) is None


def test_match_rejects_two_parameters_with_one_value(stack_on):
    assert stack_on.match(stack_calls("red block", "red block")) is None


def test_match_rejects_different_literals(primitives):
    calls = [ToolCall("pick", {"object": "red block"}), ToolCall("place", {"object": "red block", "target": "table"})]
    program = generalise("put the red block down", calls, {"red block"}, primitives)
    assert program is not None
    assert program.match(
        [ToolCall("pick", {"object": "blue block"}), ToolCall("place", {"object": "blue block", "target": "table"})]
    ) == {"object": "blue block"}
    assert program.match(stack_calls("blue block", "bin")) is None


# ---------------------------------------------------------------------- validate
def stack_json() -> dict[str, Any]:
    return {
        "name": "stack_on",
        "description": "Pick a block and put it on another.",
        "parameters": {
            "type": "object",
            "properties": {"object": {"type": "string"}, "target": {"type": "string"}},
            "required": ["object", "target"],
            "additionalProperties": False,
        },
        "steps": [
            {"skill": "pick", "arguments": {"object": {"$param": "object"}}},
            {"skill": "place", "arguments": {"object": {"$param": "object"}, "target": {"$param": "target"}}},
        ],
    }


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = stack_json()
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return data


def test_the_base_program_is_valid(primitives):
    validate(Program.from_json(stack_json()), primitives)
    assert Program.from_json(Program.from_json(stack_json()).to_json()) == Program.from_json(stack_json())


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (with_change("steps.0.skill", "grasp"), "step 1 calls 'grasp', which is not registered (valid: move_to,"),
        (
            with_change("steps.1.arguments.target", {"$param": "goal"}),
            "step 2 (place) uses the undeclared parameter 'goal'",
        ),
        (
            with_change("parameters.properties.colour", {"type": "string"}),
            "parameters ['colour'] are declared but no step uses them",
        ),
        (
            with_change("parameters.properties.object", {"type": "number"}),
            "parameter 'object' is 'number' but pick.object takes 'string'",
        ),
        (with_change("name", "pick"), "name 'pick' is already a registered skill"),
        (with_change("name", "stack on"), "name 'stack on' is not an identifier"),
        (with_change("name", "2stack"), "name '2stack' is not an identifier"),
        (with_change("steps", stack_json()["steps"] * 13), "it has 26 steps; a composite has 2 to 24"),
        (with_change("steps", stack_json()["steps"][:1]), "it has 1 steps; a composite has 2 to 24"),
        (with_change("steps.0.arguments.force", 2.0), "step 1 (pick): unexpected argument(s) 'force'"),
        (with_change("steps.1.arguments", {"object": {"$param": "object"}}), "missing required argument(s) 'target'"),
        (with_change("steps.0.arguments.object", 7), "step 1 (pick): argument 'object' must be of type string"),
        (with_change("parameters", {"properties": {}}), 'parameters must be a JSON schema {"type": "object"'),
    ],
    ids=[
        "unknown-skill",
        "undeclared-parameter",
        "unused-parameter",
        "type-mismatch",
        "shadows-skill",
        "not-identifier",
        "leading-digit",
        "too-many-steps",
        "too-few-steps",
        "unexpected-argument",
        "missing-argument",
        "bad-literal",
        "parameters-not-a-schema",
    ],
)
def test_validate_names_the_problem(primitives, data, problem):
    program = Program.from_json(data)
    with pytest.raises(ProgramError) as excinfo:
        validate(program, primitives)
    message = str(excinfo.value)
    assert message.startswith(f"composite skill {data['name']!r} is invalid: ")
    assert problem in message


def test_validate_checks_enum_parameters(primitives):
    data = {
        "name": "shove",
        "description": "push twice",
        "parameters": {
            "type": "object",
            "properties": {"object": {"type": "string"}, "region": {"type": "string", "enum": ["left side", "up"]}},
        },
        "steps": [
            {"skill": "push", "arguments": {"object": {"$param": "object"}, "region": {"$param": "region"}}},
            {"skill": "push", "arguments": {"object": {"$param": "object"}, "region": "back"}},
        ],
    }
    with pytest.raises(ProgramError, match=r"parameter 'region' must be one of \['left side', 'right side'"):
        validate(Program.from_json(data), primitives)
    data["parameters"]["properties"]["region"]["enum"] = ["left side", "front"]
    validate(Program.from_json(data), primitives)


def test_validate_lists_every_problem(primitives):
    data = with_change("name", "pick")
    data["steps"][0]["skill"] = "grasp"
    with pytest.raises(ProgramError) as excinfo:
        validate(Program.from_json(data), primitives)
    assert "already a registered skill" in str(excinfo.value) and "'grasp', which is not registered" in str(
        excinfo.value
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([stack_json()], "a composite skill is a JSON object, got list"),
        ({k: v for k, v in stack_json().items() if k != "steps"}, "composite skill 'stack_on' lacks steps"),
        ({"name": "x"}, "lacks description, parameters, steps"),
        (with_change("steps", {"skill": "pick"}), "steps must be a list of objects"),
        (with_change("steps", ["pick", "place"]), "steps must be a list of objects"),
        (with_change("steps.0", {"arguments": {}}), "step 1 needs a skill name and an arguments object"),
        (with_change("steps.1.arguments", ["red block"]), "step 2 needs a skill name and an arguments object"),
        (with_change("steps.1.arguments", None), "step 2 needs a skill name and an arguments object"),
        (with_change("parameters", ["object"]), "parameters must be an object, description a string"),
        (with_change("description", None), "parameters must be an object, description a string"),
    ],
)
def test_from_json_rejects_malformed_programs(data, problem):
    with pytest.raises(ProgramError) as excinfo:
        Program.from_json(data)
    assert problem in str(excinfo.value)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
json_like = st.recursive(
    json_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=8), kids, max_size=3)),
    max_leaves=8,
)
schema_like = st.one_of(
    json_like,
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(st.sampled_from(["string", "number", "object"]), json_like),
            "enum": st.one_of(st.lists(st.sampled_from(["left side", "front", "up"])), json_like),
        },
    ),
)


@st.composite
def mangled_programs(draw: st.DrawFn) -> Any:
    """The stack program with a few parts replaced by arbitrary JSON (what a hand-edited export file may hold)."""
    data = copy.deepcopy(stack_json())
    data["steps"].append({"skill": "push", "arguments": {"object": {"$param": "object"}, "region": "back"}})
    paths = [
        ("name",),
        ("description",),
        ("parameters",),
        ("parameters", "type"),
        ("parameters", "properties"),
        ("parameters", "properties", "object"),
        ("parameters", "properties", "target"),
        ("steps",),
        ("steps", 0),
        ("steps", 1, "skill"),
        ("steps", 1, "arguments"),
        ("steps", 1, "arguments", "target"),
        ("steps", 2, "arguments", "region"),
    ]
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        node: Any = data
        try:
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = draw(schema_like if path[-1] in ("object", "target") else json_like)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this part
    return data


@settings(max_examples=300, deadline=None)
@given(data=mangled_programs())
def test_reading_and_validating_any_program_fails_only_with_program_error(primitives, data):
    try:
        validate(Program.from_json(data), primitives)
    except ProgramError as e:
        assert str(e).startswith(("composite skill", "a composite skill"))


@pytest.mark.parametrize("schema", ["string", None, ["string"]])
def test_parameter_schema_that_is_not_an_object_is_a_program_error(primitives, schema):
    data = with_change("parameters.properties.object", schema)
    with pytest.raises(ProgramError, match="'object'"):
        validate(Program.from_json(data), primitives)


@pytest.mark.parametrize("enum", [5, None, [["left side"]]])
def test_parameter_enum_that_is_not_a_list_of_values_is_a_program_error(primitives, enum):
    data = {
        "name": "shove",
        "description": "push, then pick up",
        "parameters": {
            "type": "object",
            "properties": {"object": {"type": "string"}, "region": {"type": "string", "enum": enum}},
        },
        "steps": [
            {"skill": "push", "arguments": {"object": {"$param": "object"}, "region": {"$param": "region"}}},
            {"skill": "pick", "arguments": {"object": {"$param": "object"}}},
        ],
    }
    with pytest.raises(ProgramError, match="'region'"):
        validate(Program.from_json(data), primitives)


# ---------------------------------------------------------------------- running through a registry
RAN: list[tuple[str, dict[str, Any]]] = []


@skill
def grab(ctx: SkillContext, object: str) -> SkillResult:
    """Grab a visible object (a stub that never steps a simulator).

    Args:
        object: a visible object.
    """
    ctx.require_object(object)
    RAN.append(("grab", {"object": object}))
    return SkillResult(True, f"grabbed the {object}")


@skill
def put(ctx: SkillContext, object: str, target: str) -> SkillResult:
    """Put the held object on another one (a stub).

    Args:
        object: the held object.
        target: a visible object to put it on.
    """
    ctx.require_object(target)
    RAN.append(("put", {"object": object, "target": target}))
    return SkillResult(True, f"put the {object} on the {target}")


@skill
def slide(ctx: SkillContext, object: str, side: Literal["left", "right"], times: int = 1) -> SkillResult:
    """Slide an object to one side (a stub).

    Args:
        object: a visible object.
        side: where to.
        times: how many strokes.
    """
    ctx.require_object(object)
    RAN.append(("slide", {"object": object, "side": side, "times": times}))
    return SkillResult(True, f"slid the {object} {side} {times} times")


class StubPerceiver:
    def perceive(self, obs: dict[str, Any], info: dict[str, Any]) -> SceneGraph:
        return SceneGraph(
            (
                DetectedObject("red block", "red", "block", (0.5, 0.0, 0.02), (0.045, 0.045, 0.045)),
                DetectedObject("blue block", "blue", "block", (0.5, 0.2, 0.02), (0.045, 0.045, 0.045)),
                DetectedObject("green block", "green", "block", (0.4, -0.1, 0.02), (0.045, 0.045, 0.045)),
            )
        )


@pytest.fixture
def ctx() -> SkillContext:
    RAN.clear()
    obs = {"proprio": {"ee_pos": [0.3, 0.0, 0.3], "ee_yaw": [0.0], "gripper_width": [0.08]}}
    return SkillContext(EnvDriver(None, StubPerceiver(), obs, {}))


@pytest.fixture
def stubs() -> SkillRegistry:
    registry = SkillRegistry([grab, put, slide])
    learned = generalise(
        "stack the red block on the blue block, then slide it right",
        [
            ToolCall("grab", {"object": "red block"}),
            ToolCall("put", {"object": "red block", "target": "blue block"}),
            ToolCall("slide", {"object": "blue block", "side": "right", "times": 2}),
        ],
        {"red block", "blue block", "green block"},
        registry,
    )
    assert learned is not None and learned.name == "stack_on_slide"
    assert learned.param_names == ("object", "target", "side")
    registry.register(as_skill(learned, registry))
    return registry


def test_composite_runs_its_steps_in_order_with_bound_arguments(stubs, ctx):
    r = stubs.call("stack_on_slide", {"object": "green block", "target": "red block", "side": "left"}, ctx)
    assert r.success, r.message
    assert RAN == [
        ("grab", {"object": "green block"}),
        ("put", {"object": "green block", "target": "red block"}),
        ("slide", {"object": "red block", "side": "left", "times": 2}),
    ]
    assert (
        r.message
        == "ran 3 steps: grabbed the green block; put the green block on the red block; slid the red block left 2 times"
    )
    assert r.skill == "stack_on_slide" and [c["name"] for c in r.details["calls"]] == ["grab", "put", "slide"]


def test_first_failing_step_stops_the_composite_and_is_named(stubs, ctx):
    r = stubs.call("stack_on_slide", {"object": "red block", "target": "purple block", "side": "left"}, ctx)
    assert not r.success
    assert RAN == [("grab", {"object": "red block"})]
    assert "step 2 of 3 failed: put(object='red block', target='purple block') failed" in r.message
    assert "valid objects are ['red block', 'blue block', 'green block']" in r.message
    assert [c["success"] for c in r.details["calls"]] == [True, False]


def test_bad_arguments_to_a_composite_are_a_failed_result(stubs, ctx):
    r = stubs.call("stack_on_slide", {"object": "red block", "side": "left"}, ctx)
    assert not r.success and "missing required argument(s) 'target'" in r.message
    r = stubs.call("stack_on_slide", {"object": "red block", "target": 3, "side": "left"}, ctx)
    assert not r.success and "argument 'target' must be of type string" in r.message
    r = stubs.call("stack_on_slide", {"object": "red block", "target": "blue block", "side": "up"}, ctx)
    assert not r.success and "valid values are ['left', 'right']" in r.message
    r = stubs.call("stack_on_slide", '{"object": "red block", "target": "blue block", "side": "left", "speed": 9}', ctx)
    assert not r.success and "unexpected argument(s) 'speed'" in r.message
    assert RAN == []


def test_as_skill_refuses_an_invalid_program(stubs):
    program = Program(
        "broken", "calls a skill that is not there", {"type": "object", "properties": {}},
        (Step("grab", {"object": "red block"}), Step("fly", {})),
    )  # fmt: skip
    with pytest.raises(ProgramError, match="step 2 calls 'fly', which is not registered"):
        as_skill(program, stubs)


def test_match_chunks_takes_independent_chunks_in_the_programs_order(primitives):
    learned_from = [*stack_calls("a", "red bowl"), *stack_calls("b", "red bowl"), *stack_calls("c", "blue bowl")]
    sort = generalise(
        "sort the blocks into their bowls", learned_from, {"a", "b", "c", "red bowl", "blue bowl"}, primitives
    )
    assert sort is not None
    plan = [stack_calls("x", "blue bowl"), stack_calls("y", "red bowl"), stack_calls("z", "red bowl")]
    assert sort.match_chunks(plan) is None  # in the plan's order the first block goes to the other bowl
    values, used = sort.match_chunks(plan, reorder=True)
    assert used == [1, 2, 0]
    assert values == {"object": "y", "target": "red bowl", "object_2": "z", "object_3": "x", "target_2": "blue bowl"}
    assert sort.match_chunks(plan[:2], reorder=True) is None  # the plan is shorter than the skill


def test_match_chunks_in_order_covers_a_prefix_of_whole_chunks(primitives, stack_on):
    plan = [stack_calls("green block", "red block"), stack_calls("blue block", "green block")]
    values, used = stack_on.match_chunks(plan)
    assert used == [0] and values == {"object": "green block", "target": "red block"}
    half = [
        [ToolCall("pick", {"object": "green block"})],
        [ToolCall("place", {"object": "green block", "target": "x"})],
    ]
    assert stack_on.match_chunks(half) is not None  # chunks of one call each still line up
