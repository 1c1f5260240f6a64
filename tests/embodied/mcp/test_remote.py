"""``--skills mcp:COMMAND``: our own server's tools imported as skills, calls forwarded, errors as text."""

from __future__ import annotations

import json
import shlex

import pytest
from typer.testing import CliRunner

from embodied.cli import app
from embodied.errors import SkillLoadError
from embodied.mcp.remote import close_all
from embodied.skills.loading import load_skills
from embodied.skills.primitives import pick
from embodied.skills.registry import SkillContext, SkillRegistry

from .conftest import EMBODIED


class _NoEnv:
    """Remote skills act on the server's robot: the local context is not used."""

    steps = frames = 0


def spec(out, *extra: str) -> str:
    cmd = [
        *EMBODIED,
        "mcp",
        "serve",
        "--task",
        "stack",
        "--seed",
        "3",
        "--planner",
        "classical",
        "--no-video",
        "--out",
        str(out),
        *extra,
    ]
    return "mcp:" + shlex.join(cmd)


@pytest.mark.slow
def test_our_servers_tools_become_skills_and_calls_are_forwarded(tmp_path):
    try:
        skills = load_skills([spec(tmp_path / "runs", "--deny", "push")])
        registry = SkillRegistry(skills)
        assert "embodied_pick" in registry and "embodied_observe" in registry and "embodied_push" not in registry
        assert registry.get("embodied_pick").parameters == pick.parameters  # the schema survives the round trip
        ctx = SkillContext(_NoEnv())  # type: ignore[arg-type]
        seen = registry.call("embodied_observe", {}, ctx)
        assert seen.success and seen.message.startswith(
            "[from the MCP server 'embodied' (observe)] [data from the robot"
        )
        names = [o["name"] for o in seen.details["structured"]["objects"]]
        missing = registry.call("embodied_pick", {"object": "purple unicorn"}, ctx)
        assert not missing.success and "no object 'purple unicorn' is visible; valid objects are" in missing.message
        wrong = registry.call("embodied_pick", {"object": 3}, ctx)  # checked here, against the mapped schema
        assert not wrong.success and "argument 'object' must be of type string" in wrong.message
        picked = registry.call("embodied_pick", {"object": names[0]}, ctx)
        assert picked.success, picked.message
    finally:
        close_all()
    gone = registry.call("embodied_observe", {}, ctx)
    assert not gone.success and "the connection is closed" in gone.message
    (folder,) = (tmp_path / "runs").iterdir()  # the server wrote its episode when it was closed
    assert json.loads((folder / "episode.json").read_text())["skill_calls"] == 2


def test_a_command_that_is_not_an_mcp_server_is_a_load_error():
    with pytest.raises(SkillLoadError, match="cannot start the MCP server"):
        load_skills(["mcp:/bin/false"])
    with pytest.raises(SkillLoadError, match="needs a command after the colon"):
        load_skills(["mcp:"])


@pytest.mark.slow
def test_embodied_run_offers_the_imported_tools_to_the_planner(tmp_path):
    args = [
        "run",
        "--task",
        "stack",
        "--seed",
        "3",
        "--planner",
        "classical",
        "--perception",
        "ground_truth",
        "--no-video",
        "--no-memory",
    ]
    try:
        result = CliRunner().invoke(
            app, [*args, "--out", str(tmp_path / "local"), "--skills", spec(tmp_path / "remote")]
        )
    finally:
        close_all()
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "local").iterdir()
    events = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    context = next(e["context"] for e in events if e["kind"] == "context")
    offered = {t["function"]["name"] for t in context["tools"]}
    assert {"pick", "embodied_pick", "embodied_run_episode"} <= offered
