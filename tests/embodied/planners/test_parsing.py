"""parse_decision / parse_goal: what models really send, and a fuzz that only DecisionParseError escapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embodied.core.decision import Decision
from embodied.llm.answers import GOAL_PREDICATES, REGION_NAMES
from embodied.llm.base import ChatResponse, RawToolCall
from embodied.planners.parsing import MAX_CALLS, DecisionParseError, parse_decision, parse_goal

ALLOWED = {"pick", "place", "push", "look"}
GOOD = {"thoughts": "pick it", "tool_calls": [{"name": "pick", "arguments": {"object": "red block"}}], "done": False}


def text(content: str) -> ChatResponse:
    return ChatResponse(content=content)


def test_clean_json_gives_the_decision() -> None:
    d = parse_decision(text(json.dumps(GOOD)), ALLOWED)
    assert d.thoughts == "pick it" and not d.done
    assert [(c.name, c.arguments) for c in d.tool_calls] == [("pick", {"object": "red block"})]


@pytest.mark.parametrize(
    "wrapped",
    [
        "Sure! Here is my answer:\n" + json.dumps(GOOD) + "\nLet me know.",
        "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
        "I think {this} is tricky. " + json.dumps(GOOD),
        'Arguments look like {"object": "x"}. My answer: ' + json.dumps(GOOD),
        "Thinking... ```\n" + json.dumps(GOOD) + "\n``` done",
    ],
)
def test_json_inside_prose_or_fences_is_found(wrapped: str) -> None:
    d = parse_decision(text(wrapped), ALLOWED)
    assert d.tool_calls[0].name == "pick" and d.tool_calls[0].arguments == {"object": "red block"}


def test_unknown_skill_names_the_valid_ones() -> None:
    bad = {"tool_calls": [{"name": "self_destruct", "arguments": {}}]}
    with pytest.raises(
        DecisionParseError, match="unknown skill 'self_destruct'; valid skills are: look, pick, place, push"
    ):
        parse_decision(text(json.dumps(bad)), ALLOWED)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("I will pick the red block.", "no JSON object"),
        ('{"thoughts": "cut off", "tool_calls": [{"name": "pick"', "malformed or cut off"),
        ('{"done": "maybe"}', '"done" must be true or false'),
        ('{"tool_calls": "pick"}', '"tool_calls" must be a list'),
        ('{"tool_calls": [{"arguments": {}}]}', 'has no skill "name"'),
        ('{"tool_calls": [{"name": "pick", "arguments": [1, 2]}]}', "arguments must be a JSON object"),
        ('{"thoughts": {"a": 1}}', '"thoughts" must be a string'),
        ('{"subgoals": "stack"}', '"subgoals" must be a list'),
    ],
)
def test_bad_answers_raise_a_message_for_the_model(content: str, message: str) -> None:
    with pytest.raises(DecisionParseError, match=message):
        parse_decision(text(content), ALLOWED)


def test_missing_fields_get_safe_defaults() -> None:
    assert parse_decision(text("{}"), ALLOWED) == Decision()
    d = parse_decision(text('{"name": "look"}'), ALLOWED)  # a bare call
    assert d.tool_calls[0].name == "look" and d.tool_calls[0].arguments == {}
    d = parse_decision(text('{"done": "true", "subgoals": ["a", {"description": "b", "status": "weird"}]}'), ALLOWED)
    assert d.done and [s.status for s in d.subgoals] == ["pending", "pending"]


def test_native_tool_calls_with_json_string_arguments() -> None:
    response = ChatResponse(
        content="Picking the block first.",
        tool_calls=(
            RawToolCall("pick", json.dumps(json.dumps({"object": "red block"})), "call_9"),
            RawToolCall("look", ""),
        ),
    )
    d = parse_decision(response, ALLOWED)
    assert d.thoughts == "Picking the block first."
    assert [(c.name, c.arguments, c.id) for c in d.tool_calls] == [
        ("pick", {"object": "red block"}, "call_9"),
        ("look", {}, "call_1"),
    ]
    with pytest.raises(DecisionParseError, match="arguments are not valid JSON"):
        parse_decision(ChatResponse(tool_calls=(RawToolCall("pick", "{object: red"),)), ALLOWED)
    with pytest.raises(DecisionParseError, match="unknown skill"):
        parse_decision(ChatResponse(tool_calls=(RawToolCall("rm -rf", "{}"),)), ALLOWED)


def test_openai_shaped_calls_inside_json_are_read() -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "push", "arguments": '{"object": "a", "region": "front"}'},
    }
    d = parse_decision(text(json.dumps({"tool_calls": [call]})), ALLOWED)
    assert d.tool_calls[0].arguments == {"object": "a", "region": "front"} and d.tool_calls[0].id == "c1"


def test_huge_outputs_are_bounded() -> None:
    many = {"thoughts": "x" * 100_000, "tool_calls": [{"name": "look"}] * 100}
    d = parse_decision(text(json.dumps({"tool_calls": many["tool_calls"]})), ALLOWED)
    assert len(d.tool_calls) == MAX_CALLS
    with pytest.raises(DecisionParseError):  # cut at MAX_ANSWER_CHARS, so the object never closes
        parse_decision(text(json.dumps(many)), ALLOWED)
    assert parse_decision(text('{"done": true}' + "z" * 1_000_000), ALLOWED).done
    with pytest.raises(DecisionParseError):
        parse_decision(text("[" * 50_000 + "{" * 50_000), ALLOWED)


def test_parse_goal_checks_names_and_predicates() -> None:
    names = ["red block", "blue block", "green bowl"]

    def goal(content: str) -> tuple[tuple[str, ...], ...]:
        return parse_goal(text(content), names, REGION_NAMES, GOAL_PREDICATES)

    assert goal('{"goal": [["on", "Red  Block", "blue block"], ["on", "red block", "blue block"]]}') == (
        ("on", "red block", "blue block"),
    )
    assert goal('[["in_region", "green bowl", "left side"]]') == (("in_region", "green bowl", "left side"),)
    for bad, why in [
        ('{"goal": [["under", "red block", "blue block"]]}', "unknown predicate"),
        ('{"goal": [["on", "red block", "purple block"]]}', "unknown name 'purple block'"),
        ('{"goal": [["in_region", "red block", "blue block"]]}', "unknown name"),
        ('{"goal": [["on", "red block", "red block"]]}', "itself"),
        ('{"goal": []}', "non-empty"),
    ]:
        with pytest.raises(DecisionParseError, match=why):
            goal(bad)


# ---------------------------------------------------------------------------------------------
# Fuzz: 5,000 hypothesis examples that make 11,300 parse cases (several framings or cuts of each
# generated answer); only DecisionParseError may escape. Strategies are kept shallow: generating deep
# JSON costs far more than parsing it.

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
NAMES = st.sampled_from(["pick", "place", "push", "look", "self_destruct", "", "PICK", "pick ", "\u0000"])
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | NAMES
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | NAMES, inner, max_size=3),
    max_leaves=5,
)
call_items = st.fixed_dictionaries(
    {},
    optional={
        "name": scalars,
        "tool": NAMES,
        "arguments": json_values | st.text(max_size=12).map(lambda s: '{"object": "' + s),
        "id": scalars,
        "function": st.fixed_dictionaries({"name": NAMES, "arguments": st.text(max_size=12)}),
    },
)
decisions = st.fixed_dictionaries(
    {},
    optional={
        "thoughts": scalars,
        "subgoals": json_values,
        "memory_query": scalars,
        "tool_calls": st.lists(call_items, max_size=3) | call_items | scalars,
        "done": scalars,
        "goal_atoms": json_values,
        "name": NAMES,
    },
)


GOAL_WORDS = st.sampled_from(["red block", "Blue  Block", "blue block", "front", "on", "in", "in_region", "under"])


def _check(response: ChatResponse) -> None:
    try:
        decision = parse_decision(response, ALLOWED)
    except DecisionParseError as e:
        assert str(e)
        return
    assert isinstance(decision, Decision)
    assert all(c.name in ALLOWED and isinstance(c.arguments, dict) for c in decision.tool_calls)
    assert len(decision.tool_calls) <= MAX_CALLS and isinstance(decision.done, bool)


@settings(FUZZ, max_examples=1_500)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(content: str) -> None:
    _check(text(content))
    _check(text("```json\n{" + content + "\n```"))


@settings(FUZZ, max_examples=1_000)
@given(decisions)
def test_fuzz_decision_shaped_json(data: dict[str, Any]) -> None:
    for frame in ("{}", "Answer: {} thanks", "```json\n{}\n```", "{}{}", 'x{"a": {}'):
        _check(text(frame.replace("{}", json.dumps(data), 1)))


@settings(FUZZ, max_examples=800)
@given(decisions, st.integers(min_value=0, max_value=400), st.text(max_size=5))
def test_fuzz_truncated_and_corrupted_json(data: dict[str, Any], cut: int, junk: str) -> None:
    raw = json.dumps(data)
    _check(text(raw[:cut] + junk + raw[cut:]))
    _check(text(raw[:cut]))


@settings(FUZZ, max_examples=800)
@given(
    st.lists(st.tuples(scalars, json_values | st.text(max_size=30), st.text(max_size=4)), max_size=4),
    st.text(max_size=50) | st.just(json.dumps(GOOD)),
)
def test_fuzz_native_tool_calls(calls: list[tuple[Any, Any, Any]], content: str) -> None:
    raw = tuple(
        RawToolCall(name, args if isinstance(args, str | dict) else json.dumps(args), i) for name, args, i in calls
    )
    _check(ChatResponse(content=content, tool_calls=raw))


@settings(FUZZ, max_examples=900)
@given(
    st.lists(st.lists(GOAL_WORDS | scalars, max_size=4), max_size=4) | json_values,
    st.lists(GOAL_WORDS, max_size=4),
)
def test_fuzz_goal_parser(value: Any, names: list[str]) -> None:
    try:
        atoms = parse_goal(text(json.dumps({"goal": value})), names or ["red block"], REGION_NAMES, GOAL_PREDICATES)
    except DecisionParseError:
        return
    assert all(a[0] in GOAL_PREDICATES and len(a) == 3 for a in atoms)
