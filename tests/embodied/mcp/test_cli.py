"""``embodied mcp serve``: its options, and usage errors that say what is valid."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from embodied.cli import app
from embodied.cli.mcp import parse_http

runner = CliRunner()


def flat(result) -> str:
    """The output with its line wrapping undone."""
    return " ".join(result.output.split())


def test_http_address_defaults_to_loopback():
    assert parse_http("8765") == ("127.0.0.1", 8765)
    assert parse_http(":0") == ("127.0.0.1", 0)
    assert parse_http("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_http("[::1]:9000") == ("::1", 9000)
    with pytest.raises(typer.BadParameter, match="is not PORT, :PORT or HOST:PORT"):
        parse_http("localhost:http")


def test_unknown_tool_names_in_deny_are_a_usage_error_listing_the_tools(tmp_path):
    result = runner.invoke(app, ["mcp", "serve", "--deny", "pusj", "--no-video", "--out", str(tmp_path)])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "--deny names unknown tool(s) pusj; the tools are: observe, verify, reset, run_episode" in output
    assert "embodied MCP server on" not in output  # it never started


def test_conflicting_limits_and_bad_addresses_fail_before_any_env_is_made(tmp_path):
    result = runner.invoke(app, ["mcp", "serve", "--allow", "pick,push", "--deny", "push", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "push cannot be both allowed (--allow) and denied (--deny)" in flat(result)
    result = runner.invoke(app, ["mcp", "serve", "--http", "nowhere", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "is not PORT, :PORT or HOST:PORT" in flat(result)
    assert not any(tmp_path.iterdir())
