"""The scripted model and the ``make_chat_model`` factory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied.core.decision import ToolCall
from embodied.llm import ChatResponse, LLMConfigError, LLMUnavailable, ScriptedChatModel, make_chat_model, user
from embodied.llm.base import Message, RawToolCall


def test_replays_the_script_in_order_and_records_calls() -> None:
    llm = ScriptedChatModel(["first", ToolCall("pick", {"object": "a"}, "c1"), ChatResponse(content="third")])
    assert llm.chat([user("1")]).content == "first"
    assert llm.chat([user("2")]).tool_calls == (RawToolCall("pick", {"object": "a"}, "c1"),)
    assert llm.chat([user("3")], response_schema={"type": "object"}).content == "third"
    assert '"done": true' in llm.chat([user("4")]).content  # exhausted: a clean "done"
    assert [c.messages[0].content for c in llm.calls] == ["1", "2", "3", "4"]
    assert llm.calls[2].response_schema == {"type": "object"}
    with pytest.raises(LLMUnavailable, match="only 0 answers"):
        ScriptedChatModel(strict=True).chat([user("x")])


def test_callable_script_sees_the_messages() -> None:
    def echo(messages: object) -> str:
        assert isinstance(messages, list) and isinstance(messages[-1], Message)
        return messages[-1].content.upper()

    assert ScriptedChatModel(echo).chat([user("hello")]).content == "HELLO"


def test_factory_forms(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["plain", {"tool_calls": [{"name": "look"}]}, {"thoughts": "x", "done": True}]))
    llm = make_chat_model(f"scripted:{script}")
    assert [llm.chat([user("")]).content for _ in range(1)] == ["plain"]
    assert llm.chat([user("")]).tool_calls[0].name == "look"
    assert json.loads(llm.chat([user("")]).content) == {"thoughts": "x", "done": True}
    assert make_chat_model("scripted").name == "scripted"
    for bad in ("gpt-4", "openai:", "hf:", "claude:opus", ""):
        with pytest.raises(
            LLMConfigError,
            match="use one of: openai:MODEL, ollama:MODEL, local, local:base, local:FOLDER, hf:PATH, scripted",
        ):
            make_chat_model(bad)
    with pytest.raises(LLMConfigError, match="local: other holds no LoRA adapter"):
        make_chat_model("local:other")
    with pytest.raises(LLMConfigError, match="cannot read the script"):
        make_chat_model(f"scripted:{tmp_path / 'missing.json'}")
