"""Shared fixtures: a real OpenAI-protocol HTTP server on loopback, in a thread, replaying scripted
answers (the tiny local Llama is in ``tests/embodied/conftest.py``)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class FakeServer:
    """What the server answers (``mode``) and what it was sent (``requests``)."""

    answers: list[dict[str, Any]]
    # ok | reject_tools | reject_format | reject_json_schema | error500_json_schema | reject_all | garbage |
    # error500 | hang | trickle
    # reject_format: 400 on any response_format (a server without structured outputs);
    # reject_json_schema: 422 on the OpenAI form only, as llama-cpp-python's server validates it;
    # error500_json_schema: a 500 naming response_format for it, as llama.cpp's server did in 2024.
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def completion(self, index: int) -> dict[str, Any]:
        answer = self.answers[min(index, len(self.answers) - 1)]
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for i, c in enumerate(answer.get("tool_calls", []))
        ]
        message: dict[str, Any] = {"role": "assistant", "content": answer.get("content")}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-{index}",
            "object": "chat.completion",
            "created": 0,
            "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            server.requests.append(body)
            if server.mode == "hang":
                time.sleep(1.5)
                return
            if server.mode == "trickle":  # a whole, valid reply, one byte every 50 ms
                body_out = json.dumps(server.completion(len(server.requests) - 1)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body_out)))
                self.end_headers()
                for i in range(len(body_out)):
                    try:
                        self.wfile.write(body_out[i : i + 1])
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up
                    time.sleep(0.05)
                return
            if server.mode == "garbage":
                self._send(200, b"<html>this is not an API</html>", "text/html")
            elif server.mode == "error500":
                self._send(500, b'{"error": {"message": "model crashed"}}')
            elif server.mode == "error500_json_schema" and body.get("response_format", {}).get("type") == "json_schema":
                why = 'response_format type must be one of "text" or "json_object", but got: json_schema'
                self._send(500, json.dumps({"error": {"code": 500, "message": why, "type": "server_error"}}).encode())
            elif server.mode == "reject_json_schema" and body.get("response_format", {}).get("type") == "json_schema":
                where = ["body", "response_format", "type"]
                detail = [{"loc": where, "msg": "Input should be 'text' or 'json_object'"}]
                self._send(422, json.dumps({"detail": detail}).encode())
            elif (server.mode, True) in (
                ("reject_tools", "tools" in body),
                ("reject_format", "response_format" in body),
                ("reject_all", True),
            ):
                error = {"error": {"message": f"{server.mode[7:]} is not supported here", "type": "invalid_request"}}
                self._send(400, json.dumps(error).encode())
            else:
                index = len(server.requests) - 1
                self._send(200, json.dumps(server.completion(index)).encode())

    return Handler


@pytest.fixture
def openai_server() -> Iterator[Callable[..., FakeServer]]:
    """Factory: ``openai_server(answers, mode=...)`` starts a server and returns it (stopped after the test)."""
    started: list[ThreadingHTTPServer] = []

    def start(answers: list[dict[str, Any]] | None = None, mode: str = "ok") -> FakeServer:
        fake = FakeServer(answers or [{"content": '{"thoughts": "idle", "tool_calls": [], "done": true}'}], mode)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        return fake

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def skill_tools() -> list[dict[str, Any]]:
    """Ten OpenAI-shape skill schemas, as the skills registry would derive them."""

    def tool(name: str, doc: str, **params: str) -> dict[str, Any]:
        props = {k: {"type": v, "description": f"The {k.replace('_', ' ')}."} for k, v in params.items()}
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": doc,
                "parameters": {"type": "object", "properties": props, "required": list(params)},
            },
        }

    return [
        tool("pick", "Grasp an object and lift it.", object="string"),
        tool("place_on", "Place the held object on top of another object.", target="string"),
        tool("place_in", "Drop the held object inside a container.", container="string"),
        tool("place_in_region", "Put the held object down in a table region.", region="string"),
        tool("push", "Push an object toward a region.", object="string", region="string"),
        tool("move_to", "Move the gripper above a point (metres).", x="number", y="number"),
        tool("open_gripper", "Open the gripper."),
        tool("close_gripper", "Close the gripper."),
        tool("look", "Re-perceive the scene and describe it."),
        tool("go_home", "Move the arm to its home pose."),
    ]
