"""The server through the official MCP client, in-process: tools, refusals, limits, resources, progress."""

from __future__ import annotations

import base64
import json
import textwrap

import anyio
import cv2
import numpy as np
import pytest
from mcp.shared.exceptions import MCPError

from embodied.factory import EpisodeConfig, build_episode
from embodied.mcp.limits import Limits
from embodied.memory import MemoryStore
from embodied.skills.primitives import PRIMITIVES
from envs.common import ControllerConfig

from .conftest import mentioned, stack_task, text, with_client


def test_tools_are_the_allowed_skills_with_their_schemas_and_the_servers_own(robot):
    server = robot(Limits(deny=("push",)))

    async def body(client):
        return {t.name: t for t in (await client.list_tools()).tools}

    tools = with_client(server.server, body)
    assert {"observe", "reset", "run_episode", "verify"} <= set(tools)
    for skill in PRIMITIVES:
        if skill.name == "push":
            assert "push" not in tools
            continue
        assert tools[skill.name].input_schema == skill.parameters
        assert tools[skill.name].description == skill.description
    assert tools["observe"].annotations.read_only_hint is True


def test_a_client_stacks_two_blocks_and_ground_truth_agrees(robot):
    server = robot(video=True)
    seen = with_client(server.server, stack_task)
    assert seen["verify"]["holds"] is True
    world = server.session.env.unwrapped.world_state()
    top, bottom = world.objects[seen["top"]], world.objects[seen["bottom"]]
    assert np.hypot(top.pos[0] - bottom.pos[0], top.pos[1] - bottom.pos[1]) < 0.02
    assert top.pos[2] > bottom.pos[2] + 0.03
    assert server.session.driver.info["success"] is True


def test_an_allowlist_leaves_only_its_tools_and_refuses_the_rest_saying_what_is_allowed(robot):
    server = robot(Limits(allow=("observe", "verify", "pick")))

    async def body(client):
        listed = [t.name for t in (await client.list_tools()).tools]
        return listed, await client.call_tool("place", {"object": "a", "target": "b"})

    listed, refused = with_client(server.server, body)
    assert listed == ["observe", "verify", "pick"]
    assert refused.is_error and text(refused) == (
        "error: the tool 'place' is not in this server's allowlist (--allow). Allowed tools: observe, verify, pick"
    )


ADVERSARIAL = [
    ("pikc", {"object": "red block"}, "unknown tool 'pikc' (did you mean 'pick'?). The tools are: observe"),
    ("pick", {"object": 7}, "argument 'object' must be of type string, got int 7. Valid arguments: object (string)"),
    ("pick", {"object": "red block", "force": 9}, "unexpected argument(s) 'force'"),
    ("pick", {}, "missing required argument(s) 'object'"),
    ("pick", {"object": "x" * 1_000_000}, "a string of 1,000,000 characters; this server takes at most 1,000"),
    ("place", {"object": ["a"] * 500, "target": "b"}, "holds 500 items; this server takes at most 64"),
    ("push", {"object": "red block", "region": "front"}, "the tool 'push' is denied on this server (--deny)"),
    ("move_to", {"x": 5.0, "y": 0.0, "z": 0.2}, "x=5.000 m is outside the reachable workspace x in [0.200, 0.800] m"),
    ("move_to", {"x": "NaN", "y": 0.0, "z": 0.2}, "argument 'x' must be of type number"),
    ("verify", {"goal": "on(unicorn, blue block)"}, "'unicorn' is not a visible object or region here; valid names"),
    ("reset", {"task": "juggle"}, "unknown task 'juggle'; valid tasks are: clear_table"),
    ("run_episode", {"planner": "llm"}, "--planner llm needs --llm"),
    ("run_episode", {"planner": "magic"}, "valid values are ['auto', 'classical', 'llm', 'llm+p']"),
]


def test_adversarial_calls_each_get_a_clear_error_and_the_server_keeps_serving(robot):
    server = robot(Limits(deny=("push",)))
    env = server.session.env.unwrapped

    async def body(client):
        answers = []
        for name, arguments, _ in ADVERSARIAL:
            result = await client.call_tool(name, arguments)
            answers.append((result.is_error, text(result)))
            alive = await client.call_tool("observe", {})  # still serving, the scene intact
            assert not alive.is_error
        return answers

    before = env.world_state()
    answers = with_client(server.server, body)
    for (name, _, expected), (is_error, message) in zip(ADVERSARIAL, answers, strict=True):
        assert is_error, name
        assert expected in message, (name, message)
    assert env.world_state().objects.keys() == before.objects.keys()
    trace = (server.session.recording.recorder.folder / "trace.jsonl").read_text().splitlines()
    refused = [json.loads(line) for line in trace if '"refused: ' in line]
    assert len(refused) >= 10  # the refusals are in the episode's trace too


def test_budgets_per_episode_and_per_minute_refuse_and_say_what_to_do(robot):
    server = robot(Limits(calls_per_episode=3, calls_per_minute=6))

    async def body(client):
        results = [await client.call_tool("observe", {}) for _ in range(4)]
        reset = await client.call_tool("reset", {})
        after = [await client.call_tool("observe", {}) for _ in range(3)]
        return results, reset, after

    results, reset, after = with_client(server.server, body)
    assert [r.is_error for r in results] == [False, False, False, True]
    assert "3 calls this episode, this server allows 3 per episode; call reset" in text(results[3])
    assert not reset.is_error  # reset is not counted in the episode's budget
    assert [r.is_error for r in after] == [False, False, True]  # 3 + reset + 2 admitted in this minute
    assert "rate limit: 6 calls in the last minute, this server allows 6; try again in" in text(after[2])


USER_SKILLS = textwrap.dedent(
    '''
    from __future__ import annotations

    import json

    import numpy as np

    from embodied.skills.registry import SkillContext, SkillResult, skill


    @skill
    def lunge(ctx: SkillContext, dx: float, dy: float, dz: float, steps: int) -> SkillResult:
        """Command the env directly with any action, bypassing every skill-level check.

        Args:
            dx: forward command.
            dy: left command.
            dz: up command.
            steps: control steps.
        """
        path = []
        for _ in range(steps):
            obs, _, _, _, info = ctx.env.step(np.array([dx, dy, dz, 50.0, -1.0]))
            path.append(obs["proprio"]["ee_pos"].copy())
        moves = np.linalg.norm(np.diff(np.array(path), axis=0), axis=1)
        return SkillResult(True, json.dumps({"max_move": float(moves.max()), "end": path[-1].tolist()}))
    '''
)


def test_the_env_keeps_workspace_and_speed_limits_whatever_a_skill_asks(robot, tmp_path):
    module = tmp_path / "hostile_skills.py"
    module.write_text(USER_SKILLS)
    server = robot(skills=(str(module),))
    limits = ControllerConfig()

    async def body(client):
        return [
            await client.call_tool("lunge", {"dx": dx, "dy": dy, "dz": dz, "steps": 60})
            for dx, dy, dz in ((1e9, 1e9, 1e9), (-1e9, -1e9, -1e9))
        ]

    low, high = np.array(limits.workspace_low), np.array(limits.workspace_high)
    for result in with_client(server.server, body):
        assert not result.is_error, text(result)
        measured = json.loads(result.structured_content["message"])
        assert measured["max_move"] <= limits.max_step_pos + 0.002  # metres per control step
        assert np.all(np.array(measured["end"]) >= low - 0.01) and np.all(np.array(measured["end"]) <= high + 0.01)


def test_observe_returns_the_camera_images_as_png(robot):
    server = robot()
    result = with_client(server.server, lambda c: c.call_tool("observe", {"images": True}))
    images = [b for b in result.content if b.type == "image"]
    assert result.structured_content["images"] == ["front", "top"] and len(images) == 2
    for block in images:
        assert block.mime_type == "image/png"
        picture = cv2.imdecode(np.frombuffer(base64.b64decode(block.data), np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (240, 320, 3) and picture.std() > 10


def test_run_episode_reports_progress_and_returns_the_summary_and_report(robot):
    server = robot()
    progress: list[tuple[float, float | None, str | None]] = []

    async def body(client):
        async def on_progress(done, total, message):
            progress.append((done, total, message))

        async with anyio.create_task_group() as tg:
            busy: list = []

            async def meanwhile():
                await anyio.sleep(0.3)
                busy.append(await client.call_tool("observe", {}))

            tg.start_soon(meanwhile)
            result = await client.call_tool("run_episode", {"planner": "classical"}, progress_callback=on_progress)
        summary = await client.read_resource("embodied://episode/last/episode.json")
        return result, busy[0], json.loads(summary.contents[0].text)

    result, busy, summary = with_client(server.server, body)
    assert not result.is_error, text(result)
    assert result.structured_content["summary"]["success"] is True and summary["success"] is True
    assert result.structured_content["report"].endswith("report.html")
    assert len(progress) >= 2 and progress[-1][1] == 2000.0
    assert [p[0] for p in progress] == sorted(p[0] for p in progress) and progress[-1][0] > 50
    assert any("pick" in (p[2] or "") for p in progress)
    assert busy.is_error and "the robot is busy with run_episode" in text(busy)


def test_a_cancelled_run_episode_stops_the_robot_and_saves_the_episode(robot):
    server = robot(task="tower")

    async def body(client):
        with anyio.move_on_after(0.8):
            await client.call_tool("run_episode", {"planner": "classical"})
        for _ in range(50):  # the robot stops within a control step, then serves again
            result = await client.call_tool("observe", {})
            if not result.is_error:
                return result
            assert "busy with run_episode" in text(result)
            await anyio.sleep(0.05)
        raise AssertionError("the robot never stopped")

    with_client(server.server, body)
    summary = json.loads(server.session.last_paths["episode"].read_text())
    assert summary["interrupted"] is True and summary["success"] is False


def test_resources_serve_the_run_folder_and_nothing_outside_it(robot, tmp_path):
    server = robot()
    (tmp_path / "secret.txt").write_text("secret")

    async def body(client):
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        skills = json.loads((await client.read_resource("embodied://skills")).contents[0].text)
        await client.call_tool("observe", {})
        trace = (await client.read_resource("embodied://episode/trace")).contents[0].text
        await client.call_tool("reset", {"seed": 4})
        summary = json.loads((await client.read_resource("embodied://episode/last/episode.json")).contents[0].text)
        folder = server.session.last_paths["episode"].parent.name
        own = await client.read_resource(f"embodied://runs/{folder}/trace.jsonl")
        errors = []
        for uri in (
            "embodied://runs/../secret.txt",
            "embodied://runs/%2e%2e/secret.txt",
            f"embodied://runs/{folder}/..%2f..%2fsecret.txt",
            "embodied://runs/etc/passwd",
            "file:///etc/passwd",
        ):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            errors.append(str(caught.value))
        return listed, skills, trace, summary, own, errors

    listed, skills, trace, summary, own, errors = with_client(server.server, body)
    assert "embodied://skills" in listed and "embodied://episode/trace" in listed
    assert {s["name"] for s in skills} >= {"pick", "observe"}
    assert '"kind": "observation"' in trace
    assert summary["driven_by"] == "mcp" and summary["planner"] == "mcp client" and summary["turns"] == 1
    assert '"kind": "episode_end"' in own.contents[0].text
    assert "'../secret.txt' leaves the run folder" in errors[0] and "'../secret.txt' leaves the run folder" in errors[1]
    assert "give embodied://runs/EPISODE/FILE" in errors[2]
    assert "etc/passwd is not a file of the run folder" in errors[3]
    assert "unknown resource; the resources are embodied://skills" in errors[4]


@pytest.mark.slow
def test_composite_skills_learned_in_memory_are_offered_unless_they_use_a_denied_skill(robot, tmp_path):
    memory = str(tmp_path / "memory.sqlite")
    config = EpisodeConfig("stack", 3, planner="classical", memory=memory, embedder="lexical")
    with build_episode(config) as episode:
        assert episode.run().verified
    with MemoryStore(memory) as store:
        (learned,) = store.skills()
    server = robot(memory=memory, embedder="lexical")

    async def body(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        seen = (await client.call_tool("observe", {})).structured_content
        names = mentioned(seen["instruction"], [o["name"] for o in seen["objects"]])  # the block to move, its target
        arguments = dict(zip(tools[learned.name].input_schema["properties"], names, strict=True))
        return arguments, await client.call_tool(learned.name, arguments)

    arguments, result = with_client(server.server, body)
    assert not result.is_error, (arguments, text(result))
    assert result.structured_content["message"].startswith("ran 2 steps")
    denied = robot(Limits(deny=("place",)), memory=memory, embedder="lexical")
    assert learned.name not in denied.toolbox.names
