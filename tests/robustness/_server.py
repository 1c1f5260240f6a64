"""A hostile OpenAI-protocol chat server on loopback: each request gets the next scripted :class:`Reply`.

One server serves a whole test module; :meth:`HostileServer.load` gives it a new script per
hypothesis example and releases the handlers still hanging or trickling from the previous one.
Replies can name objects of the scene the agent is shown: ``$OBJ0``, ``$OBJ1``, ... in a reply's
text are replaced by the object names read from the request's observation (``large red block at
(39, 12, 3)``), so fuzzed tool calls sometimes hit real objects and skills really run.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_OBJECT = re.compile(r"(?:^|[:;]\s*)([a-z][a-z ]*?) at \(-?\d")
_PLACEHOLDER = re.compile(r"\$OBJ(\d)")


@dataclass(frozen=True)
class Reply:
    """What the server does with one request.

    ``kind``: ``completion`` (a chat completion of ``content`` and ``tool_calls``), ``raw``
    (``status`` and ``body`` as given), ``trickle`` (the completion, ``delay_s`` between bytes),
    ``hang`` (read the request, answer nothing for ``delay_s``), ``drop`` (close the connection
    without answering), ``partial`` (headers promising more body than is sent, then close).
    """

    kind: str = "completion"
    content: str | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments as the JSON text the model wrote)
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_s: float = 0.0

    def describe(self) -> str:
        """Short, for failure messages."""
        if self.kind == "completion":
            return f"completion(content={_clip(self.content)}, tool_calls={_clip(self.tool_calls)})"
        if self.kind == "raw":
            return f"raw(HTTP {self.status}, {self.content_type}, {_clip(self.body)})"
        return f"{self.kind}(delay_s={self.delay_s})"


def _clip(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def completion_body(content: str | None, tool_calls: tuple[tuple[str, str], ...], index: int) -> bytes:
    calls = [
        {"id": f"call_{index}_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}
        for i, (name, arguments) in enumerate(tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return json.dumps(
        {
            "id": f"chatcmpl-{index}",
            "object": "chat.completion",
            "created": 0,
            "model": "fake",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
    ).encode()


def object_names(request: dict[str, Any]) -> list[str]:
    """Object names in the last observation the request shows the model, in order of appearance."""
    for message in reversed(request.get("messages", [])):
        content = message.get("content")
        if isinstance(content, str) and " at (" in content:
            names = [m.strip() for m in _OBJECT.findall(content)]
            names = [n for n in dict.fromkeys(names) if n and n != "gripper"]
            if names:
                return names
    return []


@dataclass
class HostileServer:
    """The server's state: the script of the current example and what it was sent."""

    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, script: list[Reply]) -> None:
        """A new example: free the handlers of the last one, then answer with ``script`` (its last reply repeats)."""
        self.release.set()
        with self.lock:
            self.release = threading.Event()
            self.script = list(script) or [Reply(content='{"thoughts": "", "tool_calls": [], "done": true}')]
            self.requests = []

    def next_reply(self, request: dict[str, Any]) -> tuple[int, Reply, threading.Event]:
        with self.lock:
            index = len(self.requests)
            self.requests.append(request)
            return index, self.script[min(index, len(self.script) - 1)], self.release


def _substitute(text: str, names: list[str]) -> str:
    def name(match: re.Match[str]) -> str:
        i = int(match.group(1))
        return names[i % len(names)] if names else "red block"

    return _PLACEHOLDER.sub(name, text)


def _handler(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do: a dropped socket is then a surprise

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _head(self, status: int, kind: str, length: int) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def do_POST(self) -> None:
            try:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = {}
                index, reply, release = server.next_reply(request)
                self._answer(reply, index, object_names(request), release)
            except OSError:  # the client gave up (deadline passed, retry on a new connection)
                self.close_connection = True

        def _answer(self, reply: Reply, index: int, names: list[str], release: threading.Event) -> None:
            if reply.kind == "completion":
                content = None if reply.content is None else _substitute(reply.content, names)
                calls = tuple((n, _substitute(a, names)) for n, a in reply.tool_calls)
                body = completion_body(content, calls, index)
                self._head(200, "application/json", len(body))
                self.wfile.write(body)
            elif reply.kind == "raw":
                self._head(reply.status, reply.content_type, len(reply.body))
                self.wfile.write(reply.body)
            elif reply.kind == "trickle":
                body = completion_body(reply.content, reply.tool_calls, index)
                self._head(200, "application/json", len(body))
                for i in range(len(body)):
                    if release.wait(reply.delay_s):
                        break
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                self.close_connection = True
            elif reply.kind == "hang":
                release.wait(reply.delay_s)
                self.close_connection = True
            elif reply.kind == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            elif reply.kind == "partial":
                body = completion_body(reply.content, reply.tool_calls, index)
                self._head(200, "application/json", len(body) + 1000)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            else:
                raise AssertionError(f"unknown reply kind {reply.kind!r}")

    return Handler


class Loopback:
    """A :class:`HostileServer` listening on 127.0.0.1 in daemon threads; :meth:`stop` it."""

    def __init__(self) -> None:
        self.state = HostileServer()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.httpd.daemon_threads = True
        self.state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hostile-openai", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        time.sleep(0)  # let released handlers notice
