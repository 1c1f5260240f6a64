"""SkillRegistry.call: validation, errors as text, exceptions contained, and a fuzz test that it never raises."""

from __future__ import annotations

import math
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embodied.errors import SkillArgumentError
from embodied.skills.primitives import default_registry
from embodied.skills.registry import SkillContext, SkillRegistry, SkillResult, skill
from perception.scene_graph import DetectedObject, SceneGraph
from policies.driver import EnvDriver


class StubPerceiver:
    def perceive(self, obs: dict[str, Any], info: dict[str, Any]) -> SceneGraph:
        return SceneGraph(
            (
                DetectedObject("red block", "red", "block", (0.5, 0.0, 0.02), (0.045, 0.045, 0.045)),
                DetectedObject("blue bowl", "blue", "bowl", (0.5, 0.2, 0.02), (0.15, 0.15, 0.045)),
            )
        )


@skill
def touch(ctx: SkillContext, object: str, force: float = 1.0) -> SkillResult:
    """Touch an object (a stub that never steps a simulator).

    Args:
        object: a visible object.
        force: how hard, newtons.
    """
    ctx.require_object(object)
    return SkillResult(True, f"touched the {object} with {force} N")


@skill
def choose(
    ctx: SkillContext, side: Literal["left", "right"], count: int | None = None, tags: list[int] | None = None
) -> SkillResult:
    """Choose a side.

    Args:
        side: which side.
        count: how many, or null.
        tags: numbers.
    """
    return SkillResult(True, f"chose {side}")


@skill
def explode(ctx: SkillContext, kind: str = "value") -> SkillResult:
    """Raise an exception of the given kind.

    Args:
        kind: "value", "interrupt" or "wrong-return".
    """
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind == "wrong-return":
        return "not a result"  # type: ignore[return-value]
    raise ValueError("boom " * 1000)


@pytest.fixture
def stub_ctx() -> SkillContext:
    obs = {"proprio": {"ee_pos": [0.3, 0.0, 0.3], "ee_yaw": [0.0], "gripper_width": [0.08]}}
    return SkillContext(EnvDriver(None, StubPerceiver(), obs, {}))


@pytest.fixture
def registry() -> SkillRegistry:
    return SkillRegistry([touch, choose, explode])


def test_good_call_fills_result_fields(registry, stub_ctx):
    r = registry.call("touch", {"object": "red block"}, stub_ctx)
    assert r.success and r.skill == "touch" and r.arguments == {"object": "red block", "force": 1.0}
    assert r.steps == 0 and r.frames == 0
    assert registry.call("touch", '{"object": "red block", "force": 2}', stub_ctx).message.endswith("2.0 N")


def test_unknown_skill_lists_valid_names(registry, stub_ctx):
    r = registry.call("tuch", {}, stub_ctx)
    assert not r.success
    assert "unknown skill 'tuch'" in r.message and "did you mean 'touch'" in r.message
    assert "Valid skills are: touch, choose, explode" in r.message


def test_unknown_object_lists_visible_names(registry, stub_ctx):
    r = registry.call("touch", {"object": "green block"}, stub_ctx)
    assert not r.success
    assert r.message.startswith("touch(object='green block', force=1.0) failed:")
    assert "valid objects are ['red block', 'blue bowl']" in r.message


def test_bad_arguments_name_skill_arguments_and_schema(registry, stub_ctx):
    r = registry.call("choose", {"side": "up", "colour": 1}, stub_ctx)
    assert not r.success
    assert "choose(side='up', colour=1) failed" in r.message
    assert "unexpected argument(s) 'colour'" in r.message and "valid values are ['left', 'right']" in r.message
    assert "Valid arguments: side (one of 'left', 'right'), count (integer or null" in r.message


def test_exceptions_become_failed_results(registry, stub_ctx):
    r = registry.call("explode", {}, stub_ctx)
    assert not r.success and "raised ValueError: " in r.message and len(r.message) < 300
    r = registry.call("explode", {"kind": "wrong-return"}, stub_ctx)
    assert not r.success and "instead of a SkillResult" in r.message


def test_keyboard_interrupt_propagates(registry, stub_ctx):
    with pytest.raises(KeyboardInterrupt):
        registry.call("explode", {"kind": "interrupt"}, stub_ctx)


def test_require_object_shape_check(stub_ctx):
    with pytest.raises(SkillArgumentError, match=r"blue bowl is a bowl; this skill takes a block: \['red block'\]"):
        stub_ctx.require_object("blue bowl", ("block",))


def test_bad_json_string_is_a_failed_result(registry, stub_ctx):
    r = registry.call("touch", "{object: red", stub_ctx)
    assert not r.success and "not valid JSON" in r.message


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["red block", "blue bowl", "left", "right", "x" * 100_000, "\x00", "💥"]),
)
json_like = st.recursive(
    json_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=12,
)
names = st.one_of(
    st.sampled_from(["touch", "choose", "explode", "pick", "place", "push", "move_to", "look"]), json_leaf
)
arguments = st.one_of(
    st.dictionaries(st.sampled_from(["object", "side", "count", "tags", "kind", "force", "x", "y", "z"]), json_like),
    json_like,
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, args=arguments)
def test_fuzz_stub_registry_never_raises(registry, stub_ctx, name, args):
    r = registry.call(name, args, stub_ctx)
    assert isinstance(r, SkillResult) and isinstance(r.message, str)
    assert len(r.message) < 2000
    if not r.success:
        assert "failed" in r.message


@pytest.fixture(scope="module")
def real_ctx():
    import gymnasium as gym

    from perception.ground_truth import GroundTruthPerceiver

    env = gym.make("embodied/Tabletop-v0", task="put_in_container", modalities=(), terminate_on_success=False)
    ctx = SkillContext.reset(env, GroundTruthPerceiver(env), seed=0)
    yield ctx
    env.close()


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["pick", "place", "push", "move_to", "open_gripper", "look", "fly"]),
    args=st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "object": st.one_of(st.sampled_from(["green bowl", "nothing", "bin", ""]), json_leaf),
                "target": st.one_of(st.sampled_from(["front", "middle", "red block"]), json_leaf),
                "region": st.one_of(st.sampled_from(["up", "left side"]), json_leaf),
                "x": st.one_of(st.floats(), st.just(5.0)),
                "y": st.floats(allow_nan=True),
                "z": st.one_of(st.floats(-10, -0.01), json_leaf),
            },
        ),
        json_like,
    ),
)
def test_fuzz_real_primitives_never_raise(real_ctx, name, args):
    r = default_registry().call(name, args, real_ctx)
    assert isinstance(r, SkillResult)
    if name in ("look",) and (args in ({}, None)):
        assert r.success
    if isinstance(args, dict) and any(isinstance(v, float) and not math.isfinite(v) for v in args.values()):
        assert not r.success
