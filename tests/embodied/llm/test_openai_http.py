"""The OpenAI-compatible backend against a real HTTP server on loopback."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from embodied.core.decision import Context
from embodied.errors import DependencyNotInstalled
from embodied.llm import LLMUnavailable, make_chat_model, user
from embodied.llm.base import JSON_SKILLS_HEADER, LLMConfigError, RawToolCall
from embodied.llm.openai_http import OpenAIChatModel, OpenAIConfig
from embodied.planners.language import LLMGoalPlanner, LLMPlanner

pytest.importorskip("openai", reason="the OpenAI backend needs the `openai` package (extra `llm`)")

Server = Callable[..., Any]


def model(url: str, **options: Any) -> OpenAIChatModel:
    options.setdefault("backoff_s", 0.01)
    options.setdefault("timeout_s", 5.0)
    return OpenAIChatModel(OpenAIConfig(model="fake-model", base_url=url, **options))


def test_native_tool_calls_round_trip(openai_server: Server, skill_tools: list[dict[str, Any]]) -> None:
    server = openai_server(
        [{"content": "Pick it.", "tool_calls": [{"name": "pick", "arguments": '{"object": "red block"}'}]}]
    )
    response = model(server.url).chat([user("stack the blocks")], tools=skill_tools)
    assert response.tool_calls == (RawToolCall("pick", '{"object": "red block"}', "call_0"),)
    assert response.content == "Pick it." and (response.prompt_tokens, response.completion_tokens) == (11, 7)
    sent = server.requests[0]
    assert sent["model"] == "fake-model" and [t["function"]["name"] for t in sent["tools"]][:2] == ["pick", "place_on"]
    assert sent["messages"] == [{"role": "user", "content": "stack the blocks"}]


def test_server_rejecting_tools_switches_to_json_mode(openai_server: Server, skill_tools: list[dict[str, Any]]) -> None:
    answer = {
        "thoughts": "first pick",
        "tool_calls": [{"name": "pick", "arguments": {"object": "red block"}}],
        "done": False,
    }
    server = openai_server([{"content": json.dumps(answer)}], mode="reject_tools")
    llm = model(server.url)
    planner = LLMPlanner(llm)
    decision = planner.decide(Context(goal="stack", observation="a red block", tools=tuple(skill_tools)))
    assert [(c.name, c.arguments) for c in decision.tool_calls] == [("pick", {"object": "red block"})]
    assert "tools" in server.requests[0] and "tools" not in server.requests[1]
    assert JSON_SKILLS_HEADER not in server.requests[0]["messages"][0]["content"]  # native: schemas only
    assert "- pick(object: string)" in server.requests[1]["messages"][0]["content"]  # JSON mode: listed
    assert llm.tools_rejected and llm.structured_output == "json_schema"  # the format was not blamed
    planner.decide(Context(goal="stack", observation="a red block", tools=tuple(skill_tools)))
    assert len(server.requests) == 3 and "tools" not in server.requests[2]  # no second rejection


def test_a_bad_request_is_reported_without_changing_modes(
    openai_server: Server, skill_tools: list[dict[str, Any]]
) -> None:
    server = openai_server(mode="reject_all")
    llm = model(server.url)
    with pytest.raises(LLMUnavailable, match=r"rejected the request: .*is not supported here"):
        llm.chat([user("hi")], tools=skill_tools, response_schema={"type": "object"})
    # as asked; with the llama.cpp response_format; without response_format; without tools too
    forms = [r.get("response_format", {}).get("type") for r in server.requests]
    assert forms == ["json_schema", "json_object", None, None] and "tools" not in server.requests[-1]
    assert not llm.tools_rejected and llm.structured_output == "json_schema"  # the guesses were undone
    server.mode = "ok"
    llm.chat([user("hi")], tools=skill_tools, response_schema={"type": "object"})
    assert "tools" in server.requests[-1] and server.requests[-1]["response_format"]["type"] == "json_schema"


def test_json_mode_describes_the_skills_in_the_prompt(openai_server: Server, skill_tools: list[dict[str, Any]]) -> None:
    server = openai_server()
    model(server.url, tool_mode="json").chat([user("go")], tools=skill_tools)
    sent = server.requests[0]
    assert "tools" not in sent
    assert sent["messages"][0]["role"] == "system" and JSON_SKILLS_HEADER in sent["messages"][0]["content"]
    assert "- pick(object: string) - Grasp an object and lift it." in sent["messages"][0]["content"]


def test_garbage_replies_are_retried_then_unavailable(openai_server: Server) -> None:
    server = openai_server(mode="garbage")
    with pytest.raises(LLMUnavailable, match=r"failed 3 time\(s\).*not a chat completion") as err:
        model(server.url, max_retries=2).chat([user("hi")])
    assert server.url in str(err.value) and len(server.requests) == 3


def test_server_errors_are_retried_with_backoff(openai_server: Server) -> None:
    server = openai_server(mode="error500")
    start = time.monotonic()
    with pytest.raises(LLMUnavailable, match="InternalServerError"):
        model(server.url, max_retries=3, backoff_s=0.05).chat([user("hi")])
    assert len(server.requests) == 4 and time.monotonic() - start >= 0.05 + 0.1 + 0.2


def test_server_down_fails_fast_with_the_url(closed_port_url: str) -> None:
    start = time.monotonic()
    with pytest.raises(LLMUnavailable) as err:
        model(closed_port_url, max_retries=2).chat([user("hi")])
    assert time.monotonic() - start < 5
    assert closed_port_url in str(err.value) and "failed 3 time(s)" in str(err.value)
    assert "APIConnectionError" in str(err.value)


def test_a_server_that_never_answers_times_out(openai_server: Server) -> None:
    server = openai_server(mode="hang")
    start = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"failed 2 time\(s\); last error: APITimeoutError"):
        model(server.url, timeout_s=0.3, max_retries=1).chat([user("hi")])
    assert time.monotonic() - start < 1.5


def test_a_reply_trickling_one_byte_at_a_time_gives_up_at_the_total_deadline(openai_server: Server) -> None:
    """The read timeout restarts with every byte; the deadline is for the whole reply (about 15 s here)."""
    server = openai_server(mode="trickle")
    start = time.monotonic()
    with pytest.raises(LLMUnavailable, match=r"failed 2 time\(s\); last error: APITimeoutError: no complete reply"):
        model(server.url, timeout_s=0.5, max_retries=1, backoff_s=0.0).chat([user("hi")])
    assert time.monotonic() - start < 2.5  # 2 attempts x 0.5 s, never the 15 s the reply takes


def test_factory_builds_openai_from_env(openai_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = make_chat_model("openai:fake-model", timeout_s=5.0)
    assert llm.name == "openai:fake-model"
    assert "done" in llm.chat([user("hi")]).content
    with pytest.raises(LLMConfigError, match="tool_mode"):
        make_chat_model("openai:x", tool_mode="xml")
    with pytest.raises(LLMConfigError, match="bad option"):
        make_chat_model("openai:x", colour="red")


SCHEMA = {"type": "object", "properties": {"reflection": {"type": "string"}}, "required": ["reflection"]}


def formats(server: Any) -> list[str | None]:
    return [r.get("response_format", {}).get("type") for r in server.requests]


def test_structured_output_is_the_openai_form_by_default(openai_server: Server) -> None:
    server = openai_server([{"content": '{"reflection": "grasp lower"}'}])
    llm = model(server.url)
    assert json.loads(llm.chat([user("hi")], response_schema=SCHEMA).content) == {"reflection": "grasp lower"}
    llm.chat([user("no schema")])
    assert formats(server) == ["json_schema", None] and llm.structured_output == "json_schema"
    assert server.requests[0]["response_format"]["json_schema"] == {"name": "answer", "schema": SCHEMA}


@pytest.mark.parametrize("mode", ["reject_json_schema", "error500_json_schema"])
def test_a_server_taking_only_the_llama_cpp_form_gets_it_from_then_on(
    openai_server: Server, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    server = openai_server(mode=mode)
    llm = model(server.url)
    with caplog.at_level("WARNING", logger="embodied.llm.openai_http"):
        assert "done" in llm.chat([user("hi")], response_schema=SCHEMA).content
        llm.chat([user("again")], response_schema=SCHEMA)
    assert formats(server) == ["json_schema", "json_object", "json_object"]  # rejected (422) once, not again
    assert server.requests[1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert llm.structured_output == "json_object"
    assert [r.message for r in caplog.records if "json_schema" in r.message] != []  # said once, in the log
    assert sum("from now on" in r.message for r in caplog.records) == 1


def test_a_server_without_structured_outputs_gets_prose_json(openai_server: Server) -> None:
    server = openai_server(mode="reject_format")
    llm = model(server.url)
    assert "done" in llm.chat([user("hi")], response_schema=SCHEMA).content
    llm.chat([user("again")], response_schema=SCHEMA)
    assert formats(server) == ["json_schema", "json_object", None, None] and llm.structured_output == "off"


@pytest.mark.parametrize(
    ("setting", "mode", "sent"),
    [
        ("off", "ok", [None]),
        ("json_object", "ok", ["json_object"]),
        ("json_schema", "reject_json_schema", ["json_schema", None]),  # no llama.cpp guess when pinned
    ],
)
def test_the_response_format_setting_pins_the_form(
    openai_server: Server, setting: str, mode: str, sent: list[str | None]
) -> None:
    server = openai_server(mode=mode)
    model(server.url, response_format=setting).chat([user("hi")], response_schema=SCHEMA)
    assert formats(server) == sent
    with pytest.raises(LLMConfigError, match=r"response_format='xml' is not one of \('auto', 'json_schema'"):
        OpenAIConfig(model="m", response_format="xml")  # type: ignore[arg-type]


def test_goal_schema_goes_out_with_the_visible_names_enumerated(openai_server: Server) -> None:
    goal = {"goal": [["in", "red block", "green bowl"]]}
    server = openai_server([{"content": json.dumps(goal)}], mode="reject_json_schema")
    names = ["red block", "green bowl"]
    assert LLMGoalPlanner(model(server.url)).propose_goal("red into the bowl", names) == (("in", *names),)
    schema = server.requests[-1]["response_format"]["schema"]
    atoms = schema["properties"]["goal"]["items"]["anyOf"]
    spelled = {tuple(p["const"] for p in a["prefixItems"]) for a in atoms}
    assert ("in", "red block", "green bowl") in spelled and ("on", "green bowl", "red block") in spelled
    assert {name for atom in spelled for name in atom[1:]} == {*names, "left side", "right side", "front", "back"}


def test_planner_over_http_survives_a_babbling_model(openai_server: Server, skill_tools: list[dict[str, Any]]) -> None:
    server = openai_server([{"content": "As an AI I cannot move blocks."}])
    decision = LLMPlanner(model(server.url)).decide(Context(goal="stack", observation="", tools=tuple(skill_tools)))
    assert decision.tool_calls == () and "no JSON object" in decision.thoughts
    assert len(server.requests) == 3  # one try and two retries, each with the error fed back
    assert "Your answer could not be used" in server.requests[2]["messages"][-1]["content"]


def test_missing_openai_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(DependencyNotInstalled, match=r"pip install 'embodied\[llm\]'"):
        make_chat_model("openai:gpt-4o-mini")
