"""``embodied mcp serve``: the robot as tools for any MCP client (assistants, IDEs, agents); see docs/mcp.md.

Over stdio (the default) the client starts this command and speaks MCP on its stdin/stdout, so
nothing else is printed there: messages go to stderr.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from embodied.cli.console import fail_usage, say
from embodied.cli.options import EmbedderName, EmbedderOption, EnvName, PolicyOption
from embodied.errors import EmbodiedError

if TYPE_CHECKING:
    from embodied.factory import EpisodeConfig
    from embodied.mcp.limits import Limits

LOOPBACK = ("127.0.0.1", "localhost", "::1")

mcp_app = typer.Typer(
    help="Serve the robot to MCP clients (assistants, IDEs, agents) as tools, with limits.", no_args_is_help=True
)


def parse_http(value: str) -> tuple[str, int]:
    """``PORT``, ``:PORT``, ``HOST:PORT`` or ``[V6]:PORT`` -> ``(host, port)``; the host defaults to loopback."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter(f"{value!r} is not PORT, :PORT or HOST:PORT (e.g. 127.0.0.1:8765; port 0 picks one)")
    return host, int(port)


def _names(values: list[str] | None) -> tuple[str, ...]:
    """Repeated options and comma-separated lists alike: ``--deny push --deny move_to`` = ``--deny push,move_to``."""
    return tuple(n.strip() for v in values or () for n in v.split(",") if n.strip())


@mcp_app.command("serve")
def serve(
    task: Annotated[str, typer.Option(help="task family or free instruction of the first scene")] = "stack",
    seed: Annotated[int, typer.Option(help="seed of the first scene")] = 0,
    instruction: Annotated[str | None, typer.Option(help="new wording for the family's task")] = None,
    env: Annotated[EnvName, typer.Option(help="simulator backend")] = EnvName.tabletop,
    perception: Annotated[str, typer.Option(help="vision (default) | ground_truth (privileged baseline)")] = "vision",
    skills: Annotated[
        list[str] | None, typer.Option("--skills", help="module with @skill functions (repeatable)")
    ] = None,
    planner: Annotated[str, typer.Option(help="run_episode's default: classical | llm | llm+p | auto")] = "auto",
    llm: Annotated[
        str | None, typer.Option(help="chat model for run_episode's llm planners (openai:MODEL, ...)")
    ] = None,
    out: Annotated[Path, typer.Option(help="the run folder: one folder per episode; clients read only here")] = Path(
        "runs"
    ),
    video: Annotated[bool, typer.Option("--video/--no-video", help="record video.mp4 for each episode")] = True,
    max_steps: Annotated[int, typer.Option(min=1, help="control steps per episode before the env ends it")] = 2000,
    memory: Annotated[
        Path | None, typer.Option(help="memory file: offer its composite skills, and learn from run_episode")
    ] = None,
    embedder: EmbedderOption = EmbedderName.auto,
    http: Annotated[
        str | None,
        typer.Option(help="serve streamable HTTP at HOST:PORT (host defaults to 127.0.0.1) instead of stdio"),
    ] = None,
    allow: Annotated[list[str] | None, typer.Option(help="only these tools (repeatable or comma-separated)")] = None,
    deny: Annotated[list[str] | None, typer.Option(help="never these tools (repeatable or comma-separated)")] = None,
    calls_per_episode: Annotated[int, typer.Option(min=1, help="calls between two resets")] = 200,
    calls_per_minute: Annotated[int, typer.Option(min=1, help="calls in any 60 s")] = 120,
    max_argument_bytes: Annotated[int, typer.Option(min=1, help="JSON size of one call's arguments")] = 16_384,
    max_string_chars: Annotated[int, typer.Option(min=1, help="length of any one string argument")] = 1_000,
    verbose: Annotated[bool, typer.Option("--verbose", help="log every call to stderr")] = False,
    policy: PolicyOption = None,
) -> None:
    """Serve one live episode (env, perception, skills) to MCP clients, over stdio or streamable HTTP.

    Tools: every allowed skill, observe, reset, run_episode and verify. Every call is recorded in the
    episode's trace and video under --out.
    """
    from embodied.factory import EpisodeConfig
    from embodied.mcp.limits import Limits

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    address = parse_http(http) if http is not None else None
    try:
        limits = Limits(
            _names(allow), _names(deny), calls_per_episode, calls_per_minute, max_argument_bytes, max_string_chars
        )
        episode = EpisodeConfig(
            task,
            seed,
            instruction,
            planner,
            llm,
            perception,
            tuple(skills or ()),
            max_steps,
            env=env.value,
            memory=str(memory) if memory else None,
            embedder=embedder.value,
            policies=tuple(policy or ()),
        )
        _serve(episode, limits, out, video, address)
    except EmbodiedError as e:
        fail_usage(str(e), stderr=True)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _serve(episode: EpisodeConfig, limits: Limits, out: Path, video: bool, address: tuple[str, int] | None) -> None:
    from embodied.mcp.server import serve as run_server
    from embodied.mcp.session import ServeConfig

    config = ServeConfig(episode, out, video)
    # SIGTERM (a client or a supervisor stopping the server) ends it like Ctrl-C: the episode's files are written.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    def ready(where: str) -> None:
        say("embodied MCP server on {}; episodes under {}", where, out, soft_wrap=True, stderr=True)

    if address is None:
        run_server(config, limits, None, ready)
        return
    host, port = address
    if host not in LOOPBACK:
        say(
            "[bold yellow]warning:[/] serving on {}: anyone who can reach this port can move the robot "
            "(there is no authentication); prefer 127.0.0.1 behind your own proxy",
            host,
            soft_wrap=True,
            stderr=True,
        )
    try:
        run_server(config, limits, (host, port), ready)
    except KeyboardInterrupt:  # the way an HTTP server is stopped: not a failure
        say("embodied MCP server stopped", stderr=True)
