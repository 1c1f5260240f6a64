"""Another MCP server's tools as skills: ``embodied run --skills mcp:COMMAND``.

``COMMAND`` (split like a shell would, so quote it: ``--skills "mcp:npx -y some-server"``) is
started as a subprocess speaking MCP over stdio and stays up while this process runs; it gets the
MCP SDK's default environment (``PATH``, ``HOME``, ...), not this process's API keys. Each of its
tools becomes a skill named ``<server>_<tool>`` (the server's own name from its ``initialize``
answer, e.g. ``embodied_pick``), so its names cannot collide with local skills:

* **schemas mapped**: each argument's JSON schema is mapped into the subset skills use (string,
  integer, number, boolean, arrays of those, enums, ``X | None`` written as ``anyOf``, defaults).
  An optional argument that does not fit is left out (the server's default applies); a tool whose
  required argument does not fit is skipped, with the reason in the log;
* **calls forwarded**: the registry validates the arguments against the mapped schema, then the
  call goes to the server; its text content becomes the skill's message (images are noted, not
  shown), ``is_error`` a failed call;
* **errors as text**: a server that times out, crashes or answers with a protocol error gives a
  failed :class:`~embodied.skills.registry.SkillResult` saying so; nothing is raised into the agent.

This module depends on nothing above the skills layer (``embodied.skills.loading`` imports it).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import re
import shlex
import threading
from typing import Any

from embodied.core.text import short
from embodied.errors import DependencyNotInstalled, SkillLoadError
from embodied.skills.registry import Skill, SkillContext, SkillResult
from embodied.skills.schema import JsonSchema, validate_arguments

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 600.0
MAX_MESSAGE_CHARS = 4_000
MAX_PAGES = 20
_SIMPLE = {"string": str, "integer": int, "number": float, "boolean": bool}
_OPEN: list[RemoteServer] = []  # started and not closed yet (closed at exit)


class RemoteServer:
    """An MCP server subprocess held open by a background event loop, callable from synchronous code.

    Args:
        command: the program and its arguments.
        start_timeout_s: how long starting it and listing its tools may take.

    Raises:
        SkillLoadError: the server cannot be started or does not answer.
    """

    def __init__(self, command: list[str], start_timeout_s: float = START_TIMEOUT_S) -> None:
        try:
            from mcp import Client, StdioServerParameters
        except ImportError as e:
            raise DependencyNotInstalled("mcp", "mcp", "importing MCP tools as skills (--skills mcp:...)") from e
        self.label = " ".join(command)
        self.name = "mcp"
        self.tools: list[Any] = []
        self._client: Any = None
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-client", daemon=True)
        self._thread.start()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        client = Client(StdioServerParameters(command=command[0], args=command[1:]))
        self._main = asyncio.run_coroutine_threadsafe(self._hold(client, ready), self._loop)
        _OPEN.append(self)
        try:
            ready.result(timeout=start_timeout_s)
        except BaseException as e:
            self.close()
            why = "it did not answer in time" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            raise SkillLoadError(f"cannot start the MCP server {self.label!r}: {why}") from e

    async def _hold(self, client: Any, ready: concurrent.futures.Future[None]) -> None:
        """Enter the client, list the tools, and keep the connection until :meth:`close`."""
        try:
            async with client:
                info = client.server_info
                self.name = str(getattr(info, "name", "") or "mcp")
                cursor: str | None = None
                for _ in range(MAX_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    self.tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
                self._client = client
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as e:
            if not ready.done():
                ready.set_exception(e)
            if not isinstance(e, Exception):
                raise
            log.warning("the MCP server %r ended: %s", self.label, e)
        finally:
            self._client = None

    def call(self, tool: str, arguments: dict[str, Any], timeout_s: float = CALL_TIMEOUT_S) -> Any:
        """The server's ``CallToolResult`` for one call (raises on a timeout or a dead server)."""
        client = self._client
        if client is None:
            raise ConnectionError("the connection is closed (the server exited or was stopped)")
        coroutine = client.call_tool(tool, arguments, read_timeout_seconds=timeout_s)
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s + 5.0)

    def close(self) -> None:
        """End the connection; the server sees its stdin close and exits (then is killed if it does not)."""
        if self._closed:
            return
        self._closed = True
        if self in _OPEN:
            _OPEN.remove(self)
        self._loop.call_soon_threadsafe(self._stop.set)
        try:
            self._main.result(timeout=15.0)
        except BaseException as e:  # noqa: BLE001 - closing must not raise; the reason is logged
            log.debug("closing the MCP connection to %r: %s", self.label, e)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self._loop.close()


@atexit.register
def close_all() -> None:
    """Close every server :func:`remote_skills` started (also run at exit)."""
    for server in list(_OPEN):
        server.close()


def identifier(text: str) -> str:
    """``text`` as a Python identifier (what a skill name must be)."""
    name = re.sub(r"\W+", "_", text).strip("_") or "tool"
    return f"_{name}" if name[0].isdigit() else name


def map_schema(schema: Any) -> tuple[JsonSchema | None, str]:
    """A tool's input schema in the skills' subset, or ``(None, why not)``."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return None, "its input schema is not an object"
    props = schema.get("properties") or {}
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    out: dict[str, JsonSchema] = {}
    for name, p in props.items():
        mapped = map_property(p)
        if mapped is not None:
            out[name] = mapped
        elif name in required:
            return None, f"its required argument {name!r} has a schema a skill cannot take ({short(p, 120)})"
    missing = [r for r in required if r not in out]
    if missing:
        return None, f"it requires undeclared argument(s) {missing}"
    return {"type": "object", "properties": out, "required": required, "additionalProperties": False}, ""


def map_property(p: Any) -> JsonSchema | None:
    """One argument's schema in the skills' subset (None when it does not fit)."""
    if not isinstance(p, dict):
        return None
    kind, nullable = _kind(p)
    if kind is None:
        return None
    body = next((o for o in p.get("anyOf") or p.get("oneOf") or [] if o.get("type") != "null"), p)
    out: JsonSchema = {"type": kind}
    if kind == "array":
        items = map_property(body.get("items"))
        if items is None or isinstance(items["type"], list):
            return None
        out["items"] = items
    raw = body.get("enum")
    enum = [v for v in raw if v is not None] if isinstance(raw, list) else []
    if enum:
        if not all(isinstance(v, _SIMPLE.get(kind, ())) and (kind == "boolean") == isinstance(v, bool) for v in enum):
            return None
        out["enum"] = enum
    if nullable:
        out["type"] = [kind, "null"]
        if "enum" in out:
            out["enum"].append(None)
    out["description"] = str(p.get("description") or body.get("description") or p.get("title") or "")[:500]
    if "default" in p and not validate_arguments({"x": p["default"]}, {"properties": {"x": out}})[1]:
        out["default"] = p["default"]
    return out


def _kind(p: dict[str, Any]) -> tuple[str | None, bool]:
    """The one non-null JSON type of a property and whether it may be null."""
    options = p.get("anyOf") or p.get("oneOf")
    if isinstance(options, list):
        types = [o.get("type") if isinstance(o, dict) else None for o in options]
        kinds = [t for t in types if t != "null"]
        if len(kinds) != 1 or not isinstance(kinds[0], str):
            return None, False
        return (kinds[0] if kinds[0] in (*_SIMPLE, "array") else None), "null" in types
    t = p.get("type")
    if isinstance(t, list):
        kinds = [k for k in t if k != "null"]
        return (kinds[0] if len(kinds) == 1 and kinds[0] in (*_SIMPLE, "array") else None), "null" in t
    if t is None and isinstance(p.get("enum"), list) and p["enum"]:
        first = p["enum"][0]
        t = next((k for k, py in _SIMPLE.items() if type(first) is py), None)
    return (t if t in (*_SIMPLE, "array") else None), False


def result_text(result: Any) -> str:
    """A ``CallToolResult``'s text content (images and other blocks noted), cut to :data:`MAX_MESSAGE_CHARS`."""
    parts = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "?")
        parts.append(str(block.text) if kind == "text" else f"[{kind} content]")
    text = "\n".join(parts) or "(no content)"
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _forwarder(server: RemoteServer, tool: str) -> Any:
    def forward(ctx: SkillContext, **arguments: Any) -> SkillResult:
        where = f"the MCP server {server.name!r} ({tool})"
        try:
            result = server.call(tool, arguments)
        except TimeoutError:
            return SkillResult(False, f"{where} did not answer within {CALL_TIMEOUT_S:.0f} s")
        except Exception as e:  # noqa: BLE001 - a remote failure is the planner's to read, not a crash
            return SkillResult(False, f"{where} failed: {type(e).__name__}: {short(str(e), 300)}")
        details = {"structured": result.structured_content} if result.structured_content is not None else {}
        return SkillResult(not result.is_error, f"[from {where}] {result_text(result)}", details=details)

    forward.__module__ = __name__
    return forward


def remote_skills(spec: str) -> list[Skill]:
    """The tools of the MCP server that ``spec`` (a command line) starts, as skills (see the module docstring).

    Raises:
        SkillLoadError: no command, the server does not start, or none of its tools fits a skill.
    """
    command = shlex.split(spec)
    if not command:
        raise SkillLoadError("--skills mcp: needs a command after the colon, e.g. --skills 'mcp:embodied mcp serve'")
    server = RemoteServer(command)
    prefix = identifier(server.name)
    skills: list[Skill] = []
    skipped: list[str] = []
    for tool in server.tools:
        parameters, why = map_schema(tool.input_schema)
        if parameters is None:
            skipped.append(f"{tool.name}: {why}")
            continue
        name, n = f"{prefix}_{identifier(tool.name)}", 1
        while any(s.name == name for s in skills):
            n += 1
            name = f"{prefix}_{identifier(tool.name)}_{n}"
        about = (tool.description or tool.name).strip()
        description = f"{about} (tool {tool.name!r} of the MCP server {server.name!r})"
        skills.append(Skill(name, description, parameters, _forwarder(server, tool.name)))
    for reason in skipped:
        log.warning("MCP server %r: skipped tool %s", server.label, reason)
    if not skills:
        server.close()
        raise SkillLoadError(
            f"the MCP server {spec!r} offers no tool that fits a skill ({'; '.join(skipped) or 'none'})"
        )
    log.info("imported %d tools of the MCP server %r as skills", len(skills), server.name)
    return skills
