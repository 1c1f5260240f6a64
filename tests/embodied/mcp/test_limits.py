"""The checks a client's call meets before it reaches the robot: names, sizes, budgets, paths."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodied.mcp.limits import CallBudget, CallRefused, Limits, LimitsError, check_argument_size, resolve_inside

TOOLS = ["observe", "reset", "pick", "place", "push"]


def test_limits_name_the_bad_field_and_value():
    with pytest.raises(LimitsError, match=r"Limits.calls_per_minute must be > 0, got 0"):
        Limits(calls_per_minute=0)
    with pytest.raises(LimitsError, match="push cannot be both allowed"):
        Limits(allow=("push",), deny=("push",))


def test_unknown_names_in_allow_or_deny_list_the_tools():
    with pytest.raises(LimitsError, match=r"--deny names unknown tool\(s\) pusj; the tools are: observe, reset, pick"):
        Limits(deny=("pusj",)).check_names(TOOLS)
    Limits(allow=("observe", "pick")).check_names(TOOLS)  # fine


def test_a_refusal_says_why_and_what_is_allowed():
    denied = Limits(deny=("push",))
    assert not denied.permits("push") and denied.permits("pick")
    assert denied.refusal("push", TOOLS) == (
        "the tool 'push' is denied on this server (--deny). Allowed tools: observe, reset, pick, place"
    )
    only = Limits(allow=("observe", "pick"))
    assert only.refusal("place", TOOLS).endswith(
        "not in this server's allowlist (--allow). Allowed tools: observe, pick"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"object": "x" * 1001},
            r"arguments\['object'\] is a string of 1,001 characters; this server takes at most 1,000",
        ),
        ({"xs": list(range(65))}, r"arguments\['xs'\] holds 65 items; this server takes at most 64"),
        ({"a": [[[[[[["deep"]]]]]]]}, r"nests deeper than 6 levels"),
        (
            {f"k{i}": "v" * 900 for i in range(20)},
            r"the arguments are 18,\d+ bytes of JSON; this server takes at most 16,384",
        ),
        ({"x" * 2000: 1}, r"arguments key is a string of 2,000 characters"),
    ],
)
def test_oversized_arguments_are_refused_with_the_bound(arguments, message):
    with pytest.raises(CallRefused, match=message):
        check_argument_size(arguments, Limits())


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=10), inner, max_size=8),
    max_leaves=60,
)


@settings(max_examples=100, deadline=None)
@given(arguments=json_values)
def test_any_json_is_either_admitted_or_refused_with_a_message(arguments):
    limits = Limits(max_argument_bytes=400, max_string_chars=30, max_items=5, max_depth=3)
    try:
        check_argument_size(arguments, limits)
    except CallRefused as e:
        assert str(e)
    else:
        assert len(json.dumps(arguments).encode()) <= 400


def test_the_episode_budget_refuses_until_a_reset_and_the_minute_budget_until_it_passes():
    now = [0.0]
    budget = CallBudget(Limits(calls_per_episode=2, calls_per_minute=4), clock=lambda: now[0])
    budget.admit()
    budget.admit()
    with pytest.raises(CallRefused, match="2 calls this episode, this server allows 2 per episode; call reset"):
        budget.admit()
    budget.admit(counts_for_episode=False)  # reset itself is not counted in the episode's budget
    budget.new_episode()
    budget.admit()
    with pytest.raises(
        CallRefused, match=r"rate limit: 4 calls in the last minute, this server allows 4; try again in 60 s"
    ):
        budget.admit(counts_for_episode=False)
    now[0] = 59.5
    with pytest.raises(CallRefused, match="try again in 1 s"):
        budget.admit()
    now[0] = 60.0
    budget.admit()


def test_paths_stay_inside_the_run_folder(tmp_path):
    run = tmp_path / "runs"
    (run / "ep").mkdir(parents=True)
    (run / "ep" / "trace.jsonl").write_text("{}\n")
    (tmp_path / "secret.txt").write_text("no")
    os.symlink(tmp_path / "secret.txt", run / "ep" / "link.txt")
    assert resolve_inside(run, "ep/trace.jsonl") == (run / "ep" / "trace.jsonl").resolve()
    for bad, why in [
        ("../secret.txt", "leaves the run folder"),
        ("ep/../../secret.txt", "leaves the run folder"),
        ("/etc/passwd", "not a path relative to the run folder"),
        ("ep\\..\\x", "not a path relative"),
        ("ep//trace.jsonl", "empty parts"),
        ("ep/link.txt", "resolves outside the run folder"),
    ]:
        with pytest.raises(CallRefused, match=why):
            resolve_inside(run, bad)
