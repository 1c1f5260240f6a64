"""Shared helpers of the MCP tests: servers that are always closed, and a client that knows nothing of us."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp", reason="the MCP tests need the mcp extra: pip install 'embodied[mcp]'")

from mcp import Client

from embodied.factory import EpisodeConfig
from embodied.mcp.limits import Limits
from embodied.mcp.server import RobotServer
from embodied.mcp.session import ServeConfig

#: ``embodied`` as a subprocess, whatever PATH holds
EMBODIED = [sys.executable, "-m", "embodied.cli"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def robot(tmp_path: Path) -> Iterator[Callable[..., RobotServer]]:
    """Factory of in-process servers (stack, seed 3, no video unless asked), closed after the test."""
    made: list[RobotServer] = []

    def factory(limits: Limits | None = None, video: bool = False, **episode: Any) -> RobotServer:
        episode.setdefault("task", "stack")
        episode.setdefault("seed", 3)
        config = ServeConfig(EpisodeConfig(**episode), tmp_path / "runs", video=video)
        server = RobotServer(config, limits or Limits())
        made.append(server)
        return server

    yield factory
    for server in made:
        server.close()


def with_client(target: Any, body: Callable[[Client], Awaitable[Any]]) -> Any:
    """Connect the official client to ``target`` (a server, stdio parameters or a URL) and run ``body``."""

    async def go() -> Any:
        async with Client(target) as client:
            return await body(client)

    return anyio.run(go)


def text(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def mentioned(instruction: str, names: list[str]) -> list[str]:
    """The object names an instruction mentions, in the order it mentions them (longest names first)."""
    found: list[tuple[int, str]] = []
    rest = instruction.lower()
    for name in sorted(names, key=len, reverse=True):
        at = rest.find(name.lower())
        if at >= 0:
            found.append((at, name))
            rest = rest[:at] + "#" * len(name) + rest[at + len(name) :]
    return [name for _, name in sorted(found)]


async def stack_task(client: Client) -> dict[str, Any]:
    """What an outside agent does with the tools alone: observe, pick, place, verify. Returns what it saw."""
    tools = {t.name for t in (await client.list_tools()).tools}
    assert {"observe", "pick", "place", "verify"} <= tools
    seen = (await client.call_tool("observe", {})).structured_content
    names = [o["name"] for o in seen["objects"]]
    top, bottom = mentioned(seen["instruction"], names)[:2]
    picked = await client.call_tool("pick", {"object": top})
    assert not picked.is_error, text(picked)
    placed = await client.call_tool("place", {"object": top, "target": bottom})
    assert not placed.is_error, text(placed)
    checked = await client.call_tool("verify", {})
    return {"top": top, "bottom": bottom, "verify": checked.structured_content, "episode": seen["episode"]}


def start_http_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``embodied mcp serve --http 127.0.0.1:0 ARGS`` and the URL it prints once it listens (stop it!)."""
    cmd = [*EMBODIED, "mcp", "serve", "--http", "127.0.0.1:0", *args]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        match = re.search(r"http://\S+/mcp", line)
        if match:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain it: a full pipe would block
            return proc, match.group(0)
    proc.kill()
    raise AssertionError(f"the server exited ({proc.wait()}) without printing its URL")
